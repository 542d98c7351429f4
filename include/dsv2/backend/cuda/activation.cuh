#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/activation.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// The gated-MLP activation on the device: gate <- act(gate) ⊙ up, with the formulas of
// dsv2::apply (core/activation.hpp): silu z/(1+e^−z), gelu (erf), gelu_tanh, relu; fp32, the
// device's IEEE-accurate expf/erff/tanhf (≤ 2 ulp; no fast math).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "dsv2/backend/cuda/cuda.cuh"
#include "dsv2/backend/cuda/error.cuh"
#include "dsv2/core/activation.hpp"

namespace dsv2 {

namespace detail::cuda_kernels {

template <activation A>
__device__ __forceinline__ float activate(float z) {
    if constexpr (A == activation::silu) {
        return z / (1.0f + expf(-z));
    } else if constexpr (A == activation::gelu) {
        return 0.5f * z * (1.0f + erff(z * 0.70710678118654752f));
    } else if constexpr (A == activation::gelu_tanh) {
        const float inner = 0.79788456080286536f * (z + 0.044715f * z * z * z);
        return 0.5f * z * (1.0f + tanhf(inner));
    } else {
        return z > 0.0f ? z : 0.0f;
    }
}

template <activation A>
__global__ void gate_activation_kernel(float* gate, const float* up, std::int64_t n) {
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        gate[i] = activate<A>(gate[i]) * up[i];
}

}  // namespace detail::cuda_kernels

/// gate [n] <- act(gate) ⊙ up [n] (device arrays; the [T, I] gate and up projections).
inline void gate_activation(cuda, cudaStream_t s, activation a, float* gate, const float* up, std::int64_t n) {
    if (n <= 0) return;
    using namespace detail::cuda_kernels;
    const unsigned blocks = detail::cuda_launch::grid_for(n, 256);
    switch (a) {
        case activation::silu: gate_activation_kernel<activation::silu><<<blocks, 256, 0, s>>>(gate, up, n); break;
        case activation::gelu: gate_activation_kernel<activation::gelu><<<blocks, 256, 0, s>>>(gate, up, n); break;
        case activation::gelu_tanh:
            gate_activation_kernel<activation::gelu_tanh><<<blocks, 256, 0, s>>>(gate, up, n);
            break;
        case activation::relu: gate_activation_kernel<activation::relu><<<blocks, 256, 0, s>>>(gate, up, n); break;
    }
    DSV2_CUDA_CHECK_LAUNCH();
}

}  // namespace dsv2
