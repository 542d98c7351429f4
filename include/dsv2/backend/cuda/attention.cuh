#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/attention.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// Attention on the device: softmax(scale·Q·Kᵀ + mask)·V per (batch row, head, query), fp32.
//
// Mask rule (dsv2::attention_batch::visible): query i of row b sits in key slot P + i and sees key
// slot j iff j ≤ P + i and key_mask[b, j] != 0. A query that sees no key (a left-pad query) gives
// zeros, and zero probabilities: finite, as on the CPU (attention/masked_softmax.hpp).
//
// One kernel serves any head layout through strides (e.g. both MLA forms, attention/mla/cuda.cuh:
// per-head K/V of the expanded form; one shared latent row as K and V, head stride 0, for the
// absorbed form).
//
// Algorithm: a block of 4 warps per (query, head, batch row [, key split]). The warps take keys
// in turn; a warp computes one score with a lane-strided dot product and a shuffle sum, and keeps
// an online softmax state (running max m, sum l, unnormalised output acc[d_v] in shared memory,
// each lane owning the same d's). The states are merged at the end: M = max m, L = Σ l·e^(m−M),
// out = Σ acc·e^(m−M) / L. Few long rows (decode) split the keys over several blocks
// ("flash-decoding"): each writes its warps' states to a scratch buffer and a second kernel merges
// them. With `probs`, raw scores are stored first and normalised by the merging step as
// e^(s−M)/L, so the probabilities returned are the ones the output used.
//
// Cost: K and V rows are read once per query (no tiling across queries): right for decode and
// short prefill; long prefill would gain from a tiled (flash-attention) kernel.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "dsv2/backend/cuda/cuda.cuh"
#include "dsv2/backend/cuda/error.cuh"
#include "dsv2/backend/cuda/gemm.cuh"
#include "dsv2/backend/cuda/memory.cuh"
#include "dsv2/backend/cuda/reduce.cuh"

namespace dsv2 {

/// The batch an attention call works on, with its mask on the device (the CUDA twin of
/// dsv2::attention_batch): B rows of S new tokens after P cached ones.
struct cuda_attention_batch {
    std::int64_t batch = 0;                  // B
    std::int64_t new_tokens = 0;             // S
    std::int64_t past = 0;                   // P
    const std::int64_t* key_mask = nullptr;  // device [B, P + S], 1 = a real token; nullptr = all real

    std::int64_t total() const noexcept { return past + new_tokens; }
};

/// Where queries, keys, values and outputs live (device pointers, strides in elements).
///   query (b, i, h):  q + (b·S + i)·q_token_stride + h·q_head_stride          [dk]
///   key (b, j, h):    k + b·k_batch_stride + j·k_row_stride + h·k_head_stride [dk]
///   value (b, j, h):  v + b·v_batch_stride + j·v_row_stride + h·v_head_stride [dv]
///   output (b, i, h): out + (b·S + i)·out_token_stride + h·out_head_stride    [dv]
///   probs (optional): [B, heads, S, P + S], the softmax rows (masked entries 0)
struct attention_args {
    const float* q = nullptr;
    std::int64_t q_token_stride = 0, q_head_stride = 0;
    const float* k = nullptr;
    std::int64_t k_batch_stride = 0, k_row_stride = 0, k_head_stride = 0;
    const float* v = nullptr;
    std::int64_t v_batch_stride = 0, v_row_stride = 0, v_head_stride = 0;
    float* out = nullptr;
    std::int64_t out_token_stride = 0, out_head_stride = 0;
    float* probs = nullptr;
    std::int64_t heads = 0;
    int dk = 0, dv = 0;
    float scale = 1.0f;
};

namespace detail::cuda_kernels {

constexpr int attention_warps = 4;
constexpr int attention_threads = attention_warps * warp_size;

struct attention_launch {
    attention_args a;
    const std::int64_t* key_mask;
    std::int64_t batch, S, P;
    int splits;
    float* partial;  // [B, heads, S, splits·warps, dv + 2] when splits > 1
};

__device__ __forceinline__ bool key_visible(const std::int64_t* mask_row, std::int64_t j, std::int64_t last) {
    return j <= last && (mask_row == nullptr || mask_row[j] != 0);
}

/// Merges `parts` online-softmax states (m at m[p·ml_stride], l at l[p·ml_stride], acc at
/// acc[p·acc_stride + d]) into out[d] = Σ acc·e^(m−M) / Σ l·e^(m−M); normalises the probability
/// row when given. `factors`: shared memory for `parts` floats. Called by the whole block.
__device__ inline void attention_merge(int parts, const float* m, const float* l, std::int64_t ml_stride,
                                       const float* acc, std::int64_t acc_stride, float* factors, float* out, int dv,
                                       float* prow, const std::int64_t* mask_row, std::int64_t total,
                                       std::int64_t last_visible) {
    float M = -INFINITY;
    for (int p = 0; p < parts; ++p) M = fmaxf(M, m[p * ml_stride]);
    for (int p = static_cast<int>(threadIdx.x); p < parts; p += static_cast<int>(blockDim.x)) {
        const float mp = m[p * ml_stride];
        factors[p] = (M == -INFINITY || mp == -INFINITY) ? 0.0f : expf(mp - M);
    }
    __syncthreads();
    float L = 0.0f;
    for (int p = 0; p < parts; ++p) L += l[p * ml_stride] * factors[p];  // one order in every thread
    const float inv = M == -INFINITY ? 0.0f : 1.0f / L;               // L ≥ 1 when any key is visible
    for (int d = static_cast<int>(threadIdx.x); d < dv; d += static_cast<int>(blockDim.x)) {
        float o = 0.0f;
        for (int p = 0; p < parts; ++p) o = fmaf(acc[p * acc_stride + d], factors[p], o);
        out[d] = o * inv;
    }
    if (prow) {
        for (std::int64_t j = threadIdx.x; j < total; j += blockDim.x)
            prow[j] = (M != -INFINITY && key_visible(mask_row, j, last_visible)) ? expf(prow[j] - M) * inv : 0.0f;
    }
}

/// Grid (S·splits, heads, B), attention_threads per block. Dynamic shared memory:
/// (dk + warps·dv + 3·warps) floats.
template <int Warps>
__global__ void __launch_bounds__(Warps * warp_size) attention_kernel(attention_launch L) {
    extern __shared__ float smem[];
    const attention_args& a = L.a;
    float* q_s = smem;                     // [dk]
    float* acc_s = q_s + a.dk;             // [Warps][dv]
    float* m_s = acc_s + Warps * a.dv;     // [Warps]
    float* l_s = m_s + Warps;              // [Warps]
    float* factors = l_s + Warps;          // [Warps]

    const int splits = L.splits;
    const std::int64_t i = blockIdx.x / splits;
    const int split = static_cast<int>(blockIdx.x % splits);
    const std::int64_t h = blockIdx.y, b = blockIdx.z;
    const std::int64_t total = L.P + L.S, token = b * L.S + i, last = L.P + i;
    const int lane = static_cast<int>(threadIdx.x) % warp_size, warp = static_cast<int>(threadIdx.x) / warp_size;

    const float* q = a.q + token * a.q_token_stride + h * a.q_head_stride;
    for (int d = static_cast<int>(threadIdx.x); d < a.dk; d += static_cast<int>(blockDim.x)) q_s[d] = q[d];
    for (int d = static_cast<int>(threadIdx.x); d < Warps * a.dv; d += static_cast<int>(blockDim.x)) acc_s[d] = 0.0f;
    __syncthreads();

    const std::int64_t* mask_row = L.key_mask ? L.key_mask + b * total : nullptr;
    const std::int64_t chunk = (total + splits - 1) / splits;
    const std::int64_t j0 = split * chunk;
    const std::int64_t visible_end = total < last + 1 ? total : last + 1;  // keys after P + i are never visible
    const std::int64_t j1 = visible_end < j0 + chunk ? visible_end : j0 + chunk;
    const float* kb = a.k + b * a.k_batch_stride + h * a.k_head_stride;
    const float* vb = a.v + b * a.v_batch_stride + h * a.v_head_stride;
    float* prow = a.probs ? a.probs + ((b * a.heads + h) * L.S + i) * total : nullptr;
    float* acc = acc_s + warp * a.dv;

    float m = -INFINITY, l = 0.0f;
    for (std::int64_t j = j0 + warp; j < j1; j += Warps) {
        if (mask_row && mask_row[j] == 0) continue;  // the same j in every lane: warp-uniform
        const float* kr = kb + j * a.k_row_stride;
        float dot = 0.0f;
        for (int d = lane; d < a.dk; d += warp_size) dot = fmaf(q_s[d], kr[d], dot);
        const float s = warp_sum(dot) * a.scale;
        if (prow && lane == 0) prow[j] = s;  // raw score, normalised by attention_merge
        const float m_new = fmaxf(m, s);
        const float corr = expf(m - m_new);  // 0 for the first key (m = −inf)
        const float p = expf(s - m_new);
        l = l * corr + p;
        const float* vr = vb + j * a.v_row_stride;
        for (int d = lane; d < a.dv; d += warp_size) acc[d] = fmaf(acc[d], corr, p * vr[d]);
        m = m_new;
    }

    if (splits == 1) {
        if (lane == 0) {
            m_s[warp] = m;
            l_s[warp] = l;
        }
        __syncthreads();  // also makes the raw scores in prow visible to the whole block
        float* out = a.out + token * a.out_token_stride + h * a.out_head_stride;
        attention_merge(Warps, m_s, l_s, 1, acc_s, a.dv, factors, out, a.dv, prow, mask_row, total, last);
        return;
    }
    // several splits: this warp's state goes to the scratch buffer, attention_merge_kernel merges
    const std::int64_t part = ((b * a.heads + h) * L.S + i) * (static_cast<std::int64_t>(splits) * Warps) +
                              static_cast<std::int64_t>(split) * Warps + warp;
    float* dst = L.partial + part * (a.dv + 2);
    if (lane == 0) {
        dst[0] = m;
        dst[1] = l;
    }
    for (int d = lane; d < a.dv; d += warp_size) dst[2 + d] = acc[d];
}

/// Grid (S, heads, B): merges the splits·Warps states of each query. Shared memory: parts floats.
template <int Warps>
__global__ void attention_merge_kernel(attention_launch L) {
    extern __shared__ float factors[];
    const attention_args& a = L.a;
    const std::int64_t i = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const std::int64_t total = L.P + L.S, token = b * L.S + i;
    const int parts = L.splits * Warps;
    const float* base = L.partial + ((b * a.heads + h) * L.S + i) * parts * (a.dv + 2);
    float* out = a.out + token * a.out_token_stride + h * a.out_head_stride;
    float* prow = a.probs ? a.probs + ((b * a.heads + h) * L.S + i) * total : nullptr;
    const std::int64_t* mask_row = L.key_mask ? L.key_mask + b * total : nullptr;
    attention_merge(parts, base, base + 1, a.dv + 2, base + 2, a.dv + 2, factors, out, a.dv, prow, mask_row, total,
                    L.P + i);
}

}  // namespace detail::cuda_kernels

/// Key splits for `rows` = B·S·heads query rows over `total` keys: one split when the rows alone
/// fill the device (4 blocks per multiprocessor), otherwise enough splits to do so, each with at
/// least 64 keys, at most 64 splits.
inline int attention_splits(std::int64_t rows, std::int64_t total) {
    int device = 0, sms = 0;
    DSV2_CUDA_CHECK(cudaGetDevice(&device));
    DSV2_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    const std::int64_t target = 4 * static_cast<std::int64_t>(sms);
    if (rows >= target) return 1;
    const std::int64_t want = (target + rows - 1) / rows;
    const std::int64_t by_keys = std::max<std::int64_t>(1, total / 64);
    return static_cast<int>(std::clamp<std::int64_t>(std::min(want, by_keys), 1, 64));
}

/// Runs attention (see attention_args) for the batch `ab`. `splits` ≤ 0 picks the key split with
/// attention_splits(); a positive value forces it (tests use this to cover both paths).
inline void attention(cuda, cudaStream_t s, const attention_args& a, const cuda_attention_batch& ab, int splits = 0) {
    using namespace detail::cuda_kernels;
    const std::int64_t S = ab.new_tokens, total = ab.total();
    if (ab.batch <= 0 || S <= 0 || a.heads <= 0) return;
    if (a.dk <= 0 || a.dv <= 0) throw input_error("attention", "dk and dv must be positive");
    if (a.heads > 65535 || ab.batch > 65535)
        throw unsupported_error("cuda attention: heads (" + std::to_string(a.heads) + ") and batch (" +
                                std::to_string(ab.batch) + ") must each be at most 65535");
    if (splits <= 0) splits = attention_splits(ab.batch * S * a.heads, total);
    if (S * splits > 0x7fffffffLL) splits = 1;
    if (S > 0x7fffffffLL) throw unsupported_error("cuda attention: too many new tokens");

    attention_launch L{a, ab.key_mask, ab.batch, S, ab.past, splits, nullptr};
    device_buffer<float> partial;
    if (splits > 1) {
        partial = device_buffer<float>(static_cast<std::size_t>(ab.batch * a.heads * S * splits * attention_warps *
                                                                (a.dv + 2)),
                                       s);
        L.partial = partial.data();
    }
    const std::size_t smem =
        sizeof(float) * (static_cast<std::size_t>(a.dk) + static_cast<std::size_t>(attention_warps) * a.dv + 3 * attention_warps);
    if (smem > 48 * 1024)
        DSV2_CUDA_CHECK(cudaFuncSetAttribute(attention_kernel<attention_warps>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    const dim3 grid(static_cast<unsigned>(S * splits), static_cast<unsigned>(a.heads), static_cast<unsigned>(ab.batch));
    attention_kernel<attention_warps><<<grid, attention_threads, smem, s>>>(L);
    DSV2_CUDA_CHECK_LAUNCH();
    if (splits > 1) {
        const std::size_t merge_smem = sizeof(float) * static_cast<std::size_t>(splits) * attention_warps;
        const dim3 mgrid(static_cast<unsigned>(S), static_cast<unsigned>(a.heads), static_cast<unsigned>(ab.batch));
        attention_merge_kernel<attention_warps><<<mgrid, attention_threads, merge_smem, s>>>(L);
        DSV2_CUDA_CHECK_LAUNCH();
    }
}

}  // namespace dsv2
