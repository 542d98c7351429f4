// Test support: the transformers-made fixtures (tests/fixtures/manifest.json) and the comparisons
// the parity tests use.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include <dsv2/core/tensor.hpp>
#include <dsv2/io/safetensors.hpp>

namespace dsv2_test {

inline std::filesystem::path fixture_dir() { return DSV2_FIXTURE_DIR; }

inline nlohmann::json manifest() {
    std::ifstream f(fixture_dir() / "manifest.json");
    REQUIRE(f.good());
    return nlohmann::json::parse(f);
}

/// fp32 parity bounds of the issue: relative Frobenius error ≤ 1e-5 (≈ 84 fp32 ulps of a unit
/// value, room for reassociated sums) and max-abs error ≤ 1e-4.
inline constexpr double fp32_eps = std::numeric_limits<float>::epsilon();
inline constexpr double parity_rel_frobenius = 84 * fp32_eps;  // 1.0e-5
inline constexpr double parity_max_abs = 1e-4;
inline constexpr double loss_rel = 84 * fp32_eps;

/// A case file's tensors.
struct case_file {
    dsv2::io::safetensors_file file;

    bool has(const std::string& name) const { return file.contains(name); }
    dsv2::tensor<float> f32(const std::string& name) const {
        const auto v = file.view(name);
        return dsv2::tensor<float>(v.shape, dsv2::io::to_float(v));
    }
    dsv2::tensor<std::int64_t> i64(const std::string& name) const {
        const auto v = file.view(name);
        return dsv2::tensor<std::int64_t>(v.shape, dsv2::io::to_int64(v));
    }
};

struct errors {
    double rel_frobenius = 0, max_abs = 0;
    std::int64_t compared = 0;
};

/// Errors of `got` against `want` over the rows [B, S, ...] whose mask is 1 (all rows without a mask).
inline errors compare_masked(const dsv2::tensor<float>& got, const dsv2::tensor<float>& want,
                             const dsv2::tensor<std::int64_t>* mask) {
    REQUIRE(got.shape() == want.shape());
    errors e;
    double diff2 = 0, ref2 = 0;
    const std::int64_t rows = mask ? mask->numel() : 1;
    const std::int64_t width = want.numel() / rows;
    for (std::int64_t r = 0; r < rows; ++r) {
        if (mask && mask->data()[r] == 0) continue;
        for (std::int64_t i = 0; i < width; ++i) {
            const double a = got.data()[r * width + i], b = want.data()[r * width + i];
            diff2 += (a - b) * (a - b);
            ref2 += b * b;
            e.max_abs = std::max(e.max_abs, std::abs(a - b));
            ++e.compared;
        }
    }
    e.rel_frobenius = std::sqrt(diff2 / std::max(ref2, 1e-300));
    return e;
}

inline void require_parity(const std::string& what, const errors& e) {
    INFO(what << ": rel Frobenius " << e.rel_frobenius << ", max abs " << e.max_abs << " over " << e.compared << " values");
    CHECK(e.compared > 0);
    CHECK(e.rel_frobenius <= parity_rel_frobenius);
    CHECK(e.max_abs <= parity_max_abs);
}

}  // namespace dsv2_test
