#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/rope.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// Rotary position embedding on the device, adjacent pairs, for given frequencies inv_freq[pairs] and
// an attention factor (the attention side takes them from its rope_table, attention/rope.hpp).
// Angles are computed exactly as rope_table::cos_sin computes them: θ = float(position) · inv_freq[i] in fp32 (one rounding, the
// same bits as on the CPU), then cos θ and sin θ in double rounded to fp32, times the factor in
// fp32. The rotation itself uses unfused fp32 products (no FMA contraction), as written:
//   out[2i] = x[2i]·cos − x[2i+1]·sin,   out[2i+1] = x[2i]·sin + x[2i+1]·cos.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "dsv2/backend/cuda/cuda.cuh"
#include "dsv2/backend/cuda/error.cuh"
#include "dsv2/backend/cuda/memory.cuh"

namespace dsv2 {

/// Rotary frequencies on the device (and the host values they were made from).
struct cuda_rope_table {
    device_buffer<float> inv_freq;  // [pairs]
    float attention_factor = 1.0f;
    std::int64_t pairs = 0;
    std::vector<float> host_inv_freq;  // what inv_freq holds

    static cuda_rope_table upload(cudaStream_t s, std::span<const float> inv_freq, float attention_factor) {
        cuda_rope_table d;
        d.inv_freq = dsv2::upload(s, inv_freq);
        d.attention_factor = attention_factor;
        d.pairs = static_cast<std::int64_t>(inv_freq.size());
        d.host_inv_freq.assign(inv_freq.begin(), inv_freq.end());
        return d;
    }

    /// Whether this table holds exactly these frequencies and factor.
    bool holds(std::span<const float> freq, float factor) const noexcept {
        return factor == attention_factor && freq.size() == host_inv_freq.size() &&
               std::equal(freq.begin(), freq.end(), host_inv_freq.begin());
    }
};

namespace detail::cuda_kernels {

/// One thread per (row, pair): the angle once, applied to every head of the row.
template <class P>
__global__ void rope_kernel(float* x, std::int64_t rows, std::int64_t row_stride, std::int64_t heads,
                            std::int64_t head_stride, std::int64_t offset, const P* positions, const float* inv_freq,
                            std::int64_t pairs, float factor) {
    const std::int64_t n = rows * pairs;
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t idx = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < n; idx += stride) {
        const std::int64_t r = idx / pairs, i = idx % pairs;
        const float angle = __fmul_rn(static_cast<float>(positions[r]), inv_freq[i]);
        double sd, cd;
        sincos(static_cast<double>(angle), &sd, &cd);
        const float c = __fmul_rn(static_cast<float>(cd), factor);
        const float s = __fmul_rn(static_cast<float>(sd), factor);
        float* e = x + r * row_stride + offset + 2 * i;
        for (std::int64_t h = 0; h < heads; ++h, e += head_stride) {
            const float a = e[0], b = e[1];
            e[0] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
            e[1] = __fadd_rn(__fmul_rn(a, s), __fmul_rn(b, c));
        }
    }
}

}  // namespace detail::cuda_kernels

/// Rotates, in place, the 2·pairs values at x + r·row_stride + h·head_stride + offset for every
/// row r < rows and head h < heads, by the angles of positions[r] (a device array).
///   q [T, n_h·d_qk]:        row_stride n_h·d_qk, heads n_h, head_stride d_qk, offset d_nope
///   ckv [T, d_c + d_rope]:  row_stride d_c + d_rope, heads 1, offset d_c (k_pe)
inline void rope(cuda, cudaStream_t s, const cuda_rope_table& t, float* x, std::int64_t rows, std::int64_t row_stride,
                 std::int64_t heads, std::int64_t head_stride, std::int64_t offset, const std::int64_t* positions) {
    if (rows <= 0 || heads <= 0 || t.pairs <= 0) return;
    detail::cuda_kernels::rope_kernel<<<detail::cuda_launch::grid_for(rows * t.pairs, 128), 128, 0, s>>>(
        x, rows, row_stride, heads, head_stride, offset, positions, t.inv_freq.data(), t.pairs, t.attention_factor);
    DSV2_CUDA_CHECK_LAUNCH();
}

}  // namespace dsv2
