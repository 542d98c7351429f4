#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/linear.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// One linear layer on the device: y [T, out] = x [T, in] · Wᵀ (+ bias), fp32 accumulation, for any
// layer with a `.weight` (a cuda_matrix of float or bf16, [out, in]) and a `.bias` (fp32 [out], size
// 0 when absent) — dsv2::linear<cuda_storage<W>, P> (weights/linear.hpp) and the like.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "dsv2/backend/cuda/cuda.cuh"
#include "dsv2/backend/cuda/elementwise.cuh"
#include "dsv2/backend/cuda/gemm.cuh"

namespace dsv2 {

/// x: fp32 activations (bf16 weights round them to bf16 first, see gemm.cuh), or activations
/// already rounded to bf16 for bf16 weights (one rounding shared by several layers on the same x).
template <class X, class Layer>
void linear_forward(cuda tag, cublas_handle& blas, cudaStream_t s, const X* x, const Layer& layer, float* y,
                    std::int64_t T) {
    const std::int64_t in = layer.weight.cols(), out = layer.weight.rows();
    gemm_nt(tag, blas, s, x, layer.weight.data(), y, T, in, out);
    if (layer.bias.size() != 0) add_bias_rows(tag, s, y, layer.bias.data(), T, out);
}

}  // namespace dsv2
