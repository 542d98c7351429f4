// Shared helpers of dsv2's CUDA tests: random data, host weights and their device copies
// (weights/ trees over host_storage and cuda_storage<W>), and the tolerance checks.
//
// Tolerances are derived from the dtype, never tuned to what a run happened to give:
//   u = 2^-24 (fp32 unit roundoff, FLT_EPSILON / 2),  γ_n = n·u / (1 − n·u).
//   - A dot product of length K, computed in any order in fp32, is within γ_K·Σ|x_k·y_k| of the
//     exact value; two implementations (GPU and CPU) are therefore within 2γ_K·Σ|x_k·y_k| of each
//     other. That is a rigorous element-wise bound, checked wherever it can be computed.
//   - Rounding errors of random sign grow like √K, not K: relative Frobenius differences are
//     checked against 32·FLT_EPSILON·√K (≈ 90× what recursive summation gives on random data,
//     and well below what TF32 inputs or a bf16 accumulator would give: 2^-11 and 2^-8).
//   - bf16 (unit roundoff 2^-8) replaces u wherever an fp32 value is rounded to bf16.
// Each test file says how its bound follows from these.
#pragma once

#include <catch2/catch.hpp>

#include <dsv2/backend/cuda/all.cuh>
#include <dsv2/model.hpp>
#include <dsv2/models/cuda/model.cuh>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace dsv2_cuda_test {

inline constexpr double u32 = FLT_EPSILON / 2.0;  // 2^-24
inline constexpr double u_bf16 = 1.0 / 256.0;     // 2^-8

inline double gamma_n(double n) { return n * u32 / (1.0 - n * u32); }

/// A device context (stream, cuBLAS) and a forward pass on it for the policies' CUDA hooks; the
/// context's stream outlives every buffer a test makes on it.
struct device_context {
    dsv2::cuda_device_context context;
    dsv2::cublas_handle& blas = context.blas;
    dsv2::cuda_forward_pass pass = dsv2::cuda_forward_pass::on(context);
    cudaStream_t s() const { return context.get(); }
};

inline std::vector<float> random_values(std::size_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
}

inline dsv2::cpu::matrix random_matrix(std::int64_t rows, std::int64_t cols, std::mt19937& rng, float scale = 1.0f) {
    dsv2::cpu::matrix m(rows, cols);
    std::uniform_real_distribution<float> d(-scale, scale);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = d(rng);
    return m;
}

/// A CPU weight [rows, cols] of uniform values in [-scale, scale], stored fp32 or bf16.
inline dsv2::cpu_weight random_weight(std::int64_t rows, std::int64_t cols, std::mt19937& rng, float scale, bool bf16) {
    const std::vector<float> v = random_values(static_cast<std::size_t>(rows * cols), rng, -scale, scale);
    if (bf16) {
        std::vector<std::uint16_t> bits(v.size());
        for (std::size_t i = 0; i < v.size(); ++i) bits[i] = dsv2::float_to_bf16(v[i]);
        return dsv2::cpu_weight::bf16_owned(rows, cols, std::move(bits));
    }
    dsv2::cpu_weight w = dsv2::cpu_weight::zeros(rows, cols);
    std::copy(v.begin(), v.end(), w.mutable_f32());
    return w;
}

using host_linear = dsv2::linear<dsv2::host_storage>;
using host_gated_mlp = dsv2::gated_mlp<dsv2::host_storage>;

inline host_linear random_linear(std::int64_t out, std::int64_t in, std::mt19937& rng, bool bf16, bool bias = false) {
    host_linear l;
    l.weight = random_weight(out, in, rng, 1.0f / std::sqrt(static_cast<float>(in)), bf16);
    if (bias) {
        l.bias.resize(out);
        const std::vector<float> b = random_values(static_cast<std::size_t>(out), rng, -0.1f, 0.1f);
        std::copy(b.begin(), b.end(), l.bias.data());
    }
    return l;
}

inline host_gated_mlp random_mlp(std::int64_t H, std::int64_t I, std::mt19937& rng, bool bf16, bool bias) {
    return {random_linear(I, H, rng, bf16, bias), random_linear(I, H, rng, bf16, bias), random_linear(H, I, rng, bf16, bias)};
}

// --- device copies of host subtrees: the same tree over cuda_storage<W>, shapes from the host ----
template <class W>
using device_storage = dsv2::cuda_storage<W>;

template <class W, class P>
dsv2::linear<device_storage<W>, P> device_shapes(const dsv2::linear<dsv2::host_storage, P>& h) {
    return dsv2::linear<device_storage<W>, P>::allocate(h.out_features(), h.in_features(), h.has_bias());
}
template <class W>
dsv2::gated_mlp<device_storage<W>> device_shapes(const dsv2::gated_mlp<dsv2::host_storage>& h) {
    return {device_shapes<W>(h.gate_proj), device_shapes<W>(h.up_proj), device_shapes<W>(h.down_proj)};
}
template <class W>
dsv2::router_gate<device_storage<W>> device_shapes(const dsv2::router_gate<dsv2::host_storage>& h) {
    return {device_storage<W>::template shape_only<dsv2::fp32_kept>(h.weight.rows(), h.weight.cols())};
}
template <class W, class R, class E>
dsv2::moe_weights<device_storage<W>, R, E> device_shapes(const dsv2::moe_weights<dsv2::host_storage, R, E>& h) {
    dsv2::moe_weights<device_storage<W>, R, E> d{device_shapes<W>(h.gate), {}, {}};
    for (const auto& e : h.experts) d.experts.push_back(device_shapes<W>(e));
    if (h.shared_experts) d.shared_experts = device_shapes<W>(*h.shared_experts);
    return d;
}

/// The device copy of a host subtree (linear, gated MLP, router gate, MoE layer) as W, uploaded
/// with dsv2::cuda_upload (fp32 <-> bf16 converted as the model's upload does).
template <class W, class HostTree>
auto to_device(cudaStream_t s, const HostTree& host) {
    auto d = device_shapes<W>(host);
    dsv2::cuda_upload(s, host, d);
    return d;
}

inline std::span<const float> values_of(const dsv2::cpu::matrix& m) {
    return {m.data(), static_cast<std::size_t>(m.size())};
}

inline dsv2::device_buffer<float> to_device(cudaStream_t s, const dsv2::cpu::matrix& m) {
    return dsv2::upload(s, values_of(m));
}

/// The device result next to its CPU reference, element by element, against a bound per element.
struct comparison {
    std::size_t count = 0, violations = 0, worst = 0;
    double worst_ratio = 0.0;  // max |got − ref| / bound
    double max_abs = 0.0;
    double rel_frobenius = 0.0;  // ‖got − ref‖ / ‖ref‖
    std::string report() const {
        return "elements " + std::to_string(count) + ", over bound " + std::to_string(violations) + ", worst |diff|/bound " +
               std::to_string(worst_ratio) + " at " + std::to_string(worst) + ", max |diff| " + std::to_string(max_abs) +
               ", relative Frobenius " + std::to_string(rel_frobenius);
    }
};

/// bound(i) gives the allowed |got[i] − ref[i]|; a NaN or infinite result is always a violation.
template <class Bound>
comparison compare(std::span<const float> got, std::span<const float> ref, Bound&& bound) {
    REQUIRE(got.size() == ref.size());
    comparison c;
    c.count = got.size();
    double num = 0.0, den = 0.0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double g = got[i], r = ref[i], d = std::abs(g - r), b = bound(i);
        num += d * d;
        den += r * r;
        const bool bad = !std::isfinite(g) || d > b;
        if (bad) ++c.violations;
        const double ratio = !std::isfinite(g) ? INFINITY : (b > 0 ? d / b : (d > 0 ? INFINITY : 0.0));
        if (ratio > c.worst_ratio) {
            c.worst_ratio = ratio;
            c.worst = i;
        }
        c.max_abs = std::max(c.max_abs, d);
    }
    c.rel_frobenius = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
    return c;
}

inline comparison compare_to_bounds(const std::vector<float>& got, const std::vector<float>& ref,
                                    const std::vector<double>& bound) {
    REQUIRE(bound.size() == ref.size());
    return compare(std::span<const float>(got), std::span<const float>(ref), [&](std::size_t i) { return bound[i]; });
}

/// Bound for fp32 reductions of random-sign terms (see the top of this file).
inline double frobenius_bound(double K) { return 32.0 * FLT_EPSILON * std::sqrt(K); }

}  // namespace dsv2_cuda_test
