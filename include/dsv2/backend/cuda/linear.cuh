#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/linear.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// Linear layers and gated MLPs on the device, and the upload of their CPU weights.
//
//   cuda_linear<W>      weight [out, in] in W = float or __nv_bfloat16, optional fp32 bias [out]
//   cuda_gated_mlp<W>   gate, up [I, H], down [H, I] (dense MLP, shared experts)
//   to_device<W>(s, cpu_linear / cpu_gated_mlp)   uploads, converting fp32 <-> bf16 as asked
//                       (fp32 -> bf16 rounds to nearest even, as dsv2::float_to_bf16)
//   linear(cuda{}, ...), gated_mlp_forward(cuda{}, ...)   the CUDA twins of the CPU blocks
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "dsv2/backend/cpu/linear.hpp"
#include "dsv2/backend/cuda/activation.cuh"
#include "dsv2/backend/cuda/elementwise.cuh"
#include "dsv2/backend/cuda/gemm.cuh"
#include "dsv2/backend/cuda/memory.cuh"
#include "dsv2/core/dtype.hpp"
#include "dsv2/layers/gated_mlp.hpp"

namespace dsv2 {

template <class W>
concept cuda_weight_type = std::is_same_v<W, float> || std::is_same_v<W, __nv_bfloat16>;

template <cuda_weight_type W>
struct cuda_linear {
    device_buffer<W> weight;    // [out, in]
    device_buffer<float> bias;  // [out] or empty
    std::int64_t out = 0, in = 0;

    bool has_bias() const noexcept { return !bias.empty(); }
};

template <cuda_weight_type W>
struct cuda_gated_mlp {
    cuda_linear<W> gate_proj;  // [I, H]
    cuda_linear<W> up_proj;    // [I, H]
    cuda_linear<W> down_proj;  // [H, I]

    std::int64_t intermediate_size() const noexcept { return gate_proj.out; }
};

namespace detail {

/// A CPU weight's values as W on the host (a copy, converted when the types differ).
template <cuda_weight_type W>
std::vector<W> host_values_as(const cpu_weight& w) {
    const auto n = static_cast<std::size_t>(w.rows() * w.cols());
    std::vector<W> out(n);
    if (n == 0) return out;
    if constexpr (std::is_same_v<W, float>) {
        if (w.type() == dtype::f32) {
            std::memcpy(out.data(), w.f32().data(), n * sizeof(float));
        } else {
            const std::uint16_t* b = w.bf16();
            for (std::size_t i = 0; i < n; ++i) out[i] = bf16_to_float(b[i]);
        }
    } else {
        std::vector<std::uint16_t> bits(n);
        if (w.type() == dtype::bf16) {
            std::memcpy(bits.data(), w.bf16(), n * sizeof(std::uint16_t));
        } else {
            const float* f = w.f32().data();
            for (std::size_t i = 0; i < n; ++i) bits[i] = float_to_bf16(f[i]);
        }
        std::memcpy(static_cast<void*>(out.data()), bits.data(), n * sizeof(std::uint16_t));
    }
    return out;
}

}  // namespace detail

/// A CPU weight [rows, cols] on the device as W, at `dst` (rows·cols elements).
template <cuda_weight_type W>
void upload_weight(cudaStream_t s, const cpu_weight& w, W* dst) {
    const std::vector<W> v = detail::host_values_as<W>(w);
    upload(s, std::span<const W>(v), dst);
}

/// The default way to_device fills a device matrix: upload the CPU weight's values (as W).
struct upload_values {
    cudaStream_t stream;
    template <cuda_weight_type W>
    void operator()(const cpu_weight& w, W* dst) const { upload_weight<W>(stream, w, dst); }
};

/// A CPU linear layer on the device as W: fill(weight, dst) writes each matrix (upload_values, or
/// e.g. a random initialiser that only uses the shape); the bias is uploaded.
template <cuda_weight_type W, class Fill>
cuda_linear<W> to_device(cudaStream_t s, const cpu_linear& l, const Fill& fill) {
    cuda_linear<W> d;
    d.out = l.out_features();
    d.in = l.in_features();
    d.weight = device_buffer<W>(static_cast<std::size_t>(d.out * d.in), s);
    fill(l.weight, d.weight.data());
    if (l.has_bias()) {
        if (l.bias.size() != d.out)
            throw checkpoint_error("bias", "has " + std::to_string(l.bias.size()) + " values for " + std::to_string(d.out) +
                                               " outputs");
        d.bias = upload(s, std::span<const float>(l.bias.data(), static_cast<std::size_t>(l.bias.size())));
    }
    return d;
}

template <cuda_weight_type W, class Fill>
cuda_gated_mlp<W> to_device(cudaStream_t s, const cpu_gated_mlp& m, const Fill& fill) {
    return {to_device<W>(s, m.gate_proj, fill), to_device<W>(s, m.up_proj, fill), to_device<W>(s, m.down_proj, fill)};
}

template <cuda_weight_type W>
cuda_linear<W> to_device(cudaStream_t s, const cpu_linear& l) {
    return to_device<W>(s, l, upload_values{s});
}

template <cuda_weight_type W>
cuda_gated_mlp<W> to_device(cudaStream_t s, const cpu_gated_mlp& m) {
    return to_device<W>(s, m, upload_values{s});
}

/// y [T, out] = x [T, in] · Wᵀ (+ bias), fp32 accumulation (see gemm.cuh for bf16 weights).
template <cuda_weight_type W>
void linear(cuda tag, cublas_handle& blas, cudaStream_t s, const float* x, const cuda_linear<W>& w, float* y,
            std::int64_t T) {
    gemm_nt(tag, blas, s, x, static_cast<const W*>(w.weight.data()), y, T, w.in, w.out);
    if (w.has_bias()) add_bias_rows(tag, s, y, w.bias.data(), T, w.out);
}

/// y [T, H] = down( act(x·gateᵀ) ⊙ x·upᵀ ) (the CUDA twin of gated_mlp_forward in layers/gated_mlp.hpp).
template <cuda_weight_type W>
void gated_mlp_forward(cuda tag, cublas_handle& blas, cudaStream_t s, const cuda_gated_mlp<W>& w, activation act,
                       const float* x, std::int64_t T, float* y) {
    if (T <= 0) return;
    const std::int64_t I = w.intermediate_size();
    device_buffer<float> g(static_cast<std::size_t>(T * I), s), u(static_cast<std::size_t>(T * I), s);
    linear_forward(tag, blas, s, x, w.gate_proj, g.data(), T);
    linear_forward(tag, blas, s, x, w.up_proj, u.data(), T);
    gate_activation(tag, s, act, g.data(), u.data(), T * I);
    linear_forward(tag, blas, s, g.data(), w.down_proj, y, T);
}

}  // namespace dsv2
