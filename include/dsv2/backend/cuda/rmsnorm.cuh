#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/rmsnorm.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// RMSNorm on the device: y = (x · 1/sqrt(mean(x²) + eps)) ⊙ w, statistics in fp32, the same
// operations in the same order as the CPU's rmsnorm_inplace (layers/rmsnorm.hpp); only the order
// of the sum of squares differs (a block tree instead of Eigen's vector lanes).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "dsv2/backend/cuda/cuda.cuh"
#include "dsv2/backend/cuda/error.cuh"
#include "dsv2/backend/cuda/reduce.cuh"

namespace dsv2 {

namespace detail::cuda_kernels {

/// One block per row; x and y may be the same array (in place).
template <class W>
__global__ void rmsnorm_kernel(const float* x, std::int64_t ldx, const W* weight, float* y, std::int64_t ldy,
                               std::int64_t rows, std::int64_t dim, float eps) {
    __shared__ float scratch[32];
    for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* xr = x + r * ldx;
        float ss = 0.0f;
        for (std::int64_t c = threadIdx.x; c < dim; c += blockDim.x) ss = fmaf(xr[c], xr[c], ss);
        ss = block_sum(ss, scratch);
        const float mean_sq = ss / static_cast<float>(dim);
        const float inv_rms = 1.0f / sqrtf(mean_sq + eps);  // IEEE sqrt and division (no fast math)
        float* yr = y + r * ldy;
        for (std::int64_t c = threadIdx.x; c < dim; c += blockDim.x) yr[c] = (xr[c] * inv_rms) * to_float(weight[c]);
    }
}

}  // namespace detail::cuda_kernels

/// y [rows, dim] = rmsnorm(x [rows, dim]) ⊙ weight [dim] (fp32 or bf16 weight). y may equal x.
/// ldx / ldy: row strides in elements (0: dim), so a column slice such as the latent part of
/// [c | k_pe] can be normed where it lies.
template <class W>
void rmsnorm(cuda, cudaStream_t s, const float* x, const W* weight, float* y, std::int64_t rows, std::int64_t dim,
             double eps, std::int64_t ldx = 0, std::int64_t ldy = 0) {
    if (rows <= 0 || dim <= 0) return;
    const int threads = dim >= 1024 ? 256 : dim >= 256 ? 128 : 64;
    const unsigned blocks = static_cast<unsigned>(rows < (1 << 20) ? rows : (1 << 20));
    detail::cuda_kernels::rmsnorm_kernel<<<blocks, threads, 0, s>>>(x, ldx ? ldx : dim, weight, y, ldy ? ldy : dim, rows,
                                                                    dim, static_cast<float>(eps));
    DSV2_CUDA_CHECK_LAUNCH();
}

}  // namespace dsv2
