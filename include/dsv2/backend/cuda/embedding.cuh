#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/embedding.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// Embedding gather: out [N, H] (fp32) = table [vocab, H] (fp32 or bf16) at rows ids [N].
//
// Token ids are checked on the host before they reach the device (models/input_checks.hpp); an
// id outside [0, vocab) that slips through gives a row of NaN here rather than a stray read.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "dsv2/backend/cuda/cuda.cuh"
#include "dsv2/backend/cuda/error.cuh"
#include "dsv2/backend/cuda/reduce.cuh"

namespace dsv2 {

namespace detail::cuda_kernels {

template <class W>
__global__ void embedding_kernel(const W* table, const std::int64_t* ids, float* out, std::int64_t n,
                                 std::int64_t vocab, std::int64_t hidden) {
    for (std::int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        const std::int64_t id = ids[r];
        const bool ok = id >= 0 && id < vocab;
        const W* src = table + (ok ? id : 0) * hidden;
        float* dst = out + r * hidden;
        for (std::int64_t c = threadIdx.x; c < hidden; c += blockDim.x)
            dst[c] = ok ? to_float(src[c]) : __int_as_float(0x7fc00000);  // quiet NaN
    }
}

}  // namespace detail::cuda_kernels

/// out [n, hidden] = table [vocab, hidden] rows ids [n] (device arrays), as fp32.
template <class W>
void embedding(cuda, cudaStream_t s, const W* table, std::int64_t vocab, std::int64_t hidden, const std::int64_t* ids,
               std::int64_t n, float* out) {
    if (n <= 0 || hidden <= 0) return;
    const unsigned blocks = static_cast<unsigned>(n < (1 << 20) ? n : (1 << 20));
    detail::cuda_kernels::embedding_kernel<<<blocks, 128, 0, s>>>(table, ids, out, n, vocab, hidden);
    DSV2_CUDA_CHECK_LAUNCH();
}

}  // namespace dsv2
