// matmul_nt (y = x·Wᵀ) against a double-precision reference, for fp32 and bf16 weights, over the
// shapes that reach each code path: the AVX-512 bf16 tiles (row and token tails, K not a multiple
// of 32, several token chunks, threaded), the streaming kernel (few rows of fp32 weights, or any
// weights without AVX-512), and the panel GEMM (many rows).
//
// Tolerance: a dot product of K fp32 products summed in fp32, in any order, is within
// γ_K · Σ_k |w_k x_k| of the exact value, γ_K = K·u / (1 − K·u), u = 2⁻²⁴ (Higham, Accuracy and
// Stability of Numerical Algorithms, §3.1). bf16 weights are widened exactly, so the same bound
// holds against the widened weights. A misplaced index or a dropped tail is O(Σ|w x|), far above it.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "dsv2/backend/cpu/matmul.hpp"

namespace {

struct case_shape {
    std::int64_t T, N, K;
};

dsv2::cpu_weight random_weight(std::int64_t N, std::int64_t K, dsv2::dtype type, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    if (type == dsv2::dtype::bf16) {
        std::vector<std::uint16_t> bits(static_cast<std::size_t>(N * K));
        for (auto& b : bits) b = dsv2::float_to_bf16(normal(rng));
        return dsv2::cpu_weight::bf16_owned(N, K, std::move(bits));
    }
    dsv2::cpu_weight w = dsv2::cpu_weight::zeros(N, K);
    for (std::int64_t i = 0; i < N * K; ++i) w.mutable_f32()[i] = normal(rng);
    return w;
}

void check_against_reference(const case_shape& s, dsv2::dtype type) {
    std::mt19937 rng(static_cast<unsigned>(s.T * 1000003 + s.N * 1009 + s.K));
    const dsv2::cpu_weight w = random_weight(s.N, s.K, type, rng);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    dsv2::cpu::matrix x(s.T, s.K);
    for (std::int64_t i = 0; i < x.size(); ++i) x.data()[i] = normal(rng);

    dsv2::cpu::matrix y;
    dsv2::matmul_nt(dsv2::cpu{}, x, w, y);
    REQUIRE(y.rows() == s.T);
    REQUIRE(y.cols() == s.N);

    const double u = std::ldexp(1.0, -24);
    const double gamma = static_cast<double>(s.K) * u / (1.0 - static_cast<double>(s.K) * u);
    std::int64_t bad = 0;
    double worst = 0.0;
    for (std::int64_t t = 0; t < s.T; ++t)
        for (std::int64_t n = 0; n < s.N; ++n) {
            double exact = 0.0, magnitude = 0.0;
            for (std::int64_t k = 0; k < s.K; ++k) {
                const double p = static_cast<double>(w.at(n, k)) * static_cast<double>(x(t, k));
                exact += p;
                magnitude += std::abs(p);
            }
            const double err = std::abs(static_cast<double>(y(t, n)) - exact);
            const double bound = gamma * magnitude + 1e-30;
            worst = std::max(worst, err / bound);
            if (err > bound) ++bad;
        }
    INFO("T=" << s.T << " N=" << s.N << " K=" << s.K << " " << (type == dsv2::dtype::bf16 ? "bf16" : "f32")
              << ": worst error / bound = " << worst);
    CHECK(bad == 0);
}

}  // namespace

TEST_CASE("matmul_nt equals the exact product within the fp32 summation bound", "[matmul]") {
    const dsv2::dtype type = GENERATE(dsv2::dtype::bf16, dsv2::dtype::f32);
    // rows: decode (1), streaming passes (≤ 32), every token-tile remainder, several tiles;
    // N: whole and partial row blocks (tile_rows = 5); K: below, at and past 32-column blocks
    for (std::int64_t T : {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 24, 33})
        for (std::int64_t N : {1, 3, 4, 5, 9})
            for (std::int64_t K : {1, 7, 31, 32, 33, 70}) check_against_reference({T, N, K}, type);
}

TEST_CASE("matmul_nt on large shapes: threaded row blocks, several token chunks, panel GEMM", "[matmul]") {
    const dsv2::dtype type = GENERATE(dsv2::dtype::bf16, dsv2::dtype::f32);
    // 96 rows × K 3000 (the most rows the bf16 tiles take): packed x of 96 rows exceeds one 1 MiB
    // chunk (85 rows), and the work (T·N·K = 16M) is above parallel_min_work, so threads split the
    // row blocks. 130 rows: widened panels + Eigen's GEMM (bf16) / Eigen's GEMM (fp32).
    check_against_reference({96, 57, 3000}, type);
    check_against_reference({130, 57, 2100}, type);
    check_against_reference({40, 130, 256}, type);
    check_against_reference({1, 1003, 515}, type);
}

TEST_CASE("matmul_nt with no rows or no outputs gives an empty result", "[matmul]") {
    std::mt19937 rng(7);
    const auto w = random_weight(5, 40, dsv2::dtype::bf16, rng);
    dsv2::cpu::matrix x(0, 40), y;
    dsv2::matmul_nt(dsv2::cpu{}, x, w, y);
    CHECK(y.rows() == 0);
    CHECK(y.cols() == 5);
}
