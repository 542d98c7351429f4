#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/elementwise.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// Kernels in headers are templates (even where one type is used): a template __global__ function
// may be defined in many translation units; a plain one would be defined twice at link time.
//
// Element-wise kernels of the CUDA backend: fp32 <-> bf16 conversion, residual add, bias add, and
// strided row copies. All fp32 arithmetic, all stream-ordered, none synchronises.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "dsv2/backend/cuda/cuda.cuh"
#include "dsv2/backend/cuda/error.cuh"
#include "dsv2/backend/cuda/reduce.cuh"

namespace dsv2 {

namespace detail::cuda_kernels {

template <class From, class To>
__global__ void convert_kernel(const From* src, To* dst, std::int64_t n) {
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        dst[i] = from_float<To>(to_float(src[i]));
}

template <class T>
__global__ void add_inplace_kernel(T* y, const T* x, std::int64_t n) {
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        y[i] += x[i];
}

template <class T>
__global__ void add_bias_rows_kernel(T* y, const T* bias, std::int64_t rows, std::int64_t cols, std::int64_t ldy) {
    const std::int64_t n = rows * cols;
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
        const std::int64_t r = i / cols, c = i % cols;
        y[r * ldy + c] += bias[c];
    }
}

template <class T>
__global__ void copy_rows_kernel(const T* src, std::int64_t src_stride, T* dst, std::int64_t dst_stride,
                                 std::int64_t rows, std::int64_t cols) {
    const std::int64_t n = rows * cols;
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
        const std::int64_t r = i / cols, c = i % cols;
        dst[r * dst_stride + c] = src[r * src_stride + c];
    }
}

}  // namespace detail::cuda_kernels

/// dst[i] = bf16(src[i]), round to nearest even (as dsv2::float_to_bf16).
inline void convert(cuda, cudaStream_t s, const float* src, __nv_bfloat16* dst, std::int64_t n) {
    if (n <= 0) return;
    detail::cuda_kernels::convert_kernel<<<detail::cuda_launch::grid_for(n, 256), 256, 0, s>>>(src, dst, n);
    DSV2_CUDA_CHECK_LAUNCH();
}

/// dst[i] = float(src[i]) (exact).
inline void convert(cuda, cudaStream_t s, const __nv_bfloat16* src, float* dst, std::int64_t n) {
    if (n <= 0) return;
    detail::cuda_kernels::convert_kernel<<<detail::cuda_launch::grid_for(n, 256), 256, 0, s>>>(src, dst, n);
    DSV2_CUDA_CHECK_LAUNCH();
}

/// y[i] += x[i] over n elements (the residual connection).
inline void add_inplace(cuda, cudaStream_t s, float* y, const float* x, std::int64_t n) {
    if (n <= 0) return;
    detail::cuda_kernels::add_inplace_kernel<<<detail::cuda_launch::grid_for(n, 256), 256, 0, s>>>(y, x, n);
    DSV2_CUDA_CHECK_LAUNCH();
}

/// y [rows, cols] (row stride ldy, default cols) += bias [cols] on every row.
inline void add_bias_rows(cuda, cudaStream_t s, float* y, const float* bias, std::int64_t rows, std::int64_t cols,
                          std::int64_t ldy = 0) {
    if (rows <= 0 || cols <= 0) return;
    detail::cuda_kernels::add_bias_rows_kernel<<<detail::cuda_launch::grid_for(rows * cols, 256), 256, 0, s>>>(
        y, bias, rows, cols, ldy ? ldy : cols);
    DSV2_CUDA_CHECK_LAUNCH();
}

/// dst[r, 0:cols] = src[r, 0:cols] for r < rows, each side with its own row stride (elements).
template <class T>
void copy_rows(cuda, cudaStream_t s, const T* src, std::int64_t src_stride, T* dst, std::int64_t dst_stride,
               std::int64_t rows, std::int64_t cols) {
    if (rows <= 0 || cols <= 0) return;
    detail::cuda_kernels::copy_rows_kernel<<<detail::cuda_launch::grid_for(rows * cols, 256), 256, 0, s>>>(
        src, src_stride, dst, dst_stride, rows, cols);
    DSV2_CUDA_CHECK_LAUNCH();
}

}  // namespace dsv2
