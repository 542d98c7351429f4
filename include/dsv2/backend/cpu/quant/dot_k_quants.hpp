// Dot products of the 256-wide "K" weight super-blocks (q4_K, q6_K) with q8_K activation blocks,
// for up to 8 activation rows at once (each weight chunk is unpacked once for all of them).
//   q4_K: w = d·sc_j·q − dmin·m_j  ⇒  Σ w·x = d_x·(d·Σ_j sc_j·Σ q·x_q − dmin·Σ_j m_j·Σ x_q)
//   q6_K: w = d·sc_j·(q − 32)      ⇒  Σ w·x = d_x·d·Σ_j sc_j·(Σ q·x_q − 32·Σ x_q)
// The sums Σ x_q of each 16 activation quants are q8_K's bsums, so the min/offset terms cost one
// multiply per sub-block. Every integer sum is exact in int32 (q4_K: ≤ 63·15·127·256 ≈ 3.1e7;
// q6_K: ≤ 128·63·127·256 ≈ 2.6e8); only the per-super-block fp32 sum is rounded.
// Scalar reference (ggml's vec_dot_q4_K_q8_K / q6_K generic) next to the AVX2 and VNNI paths
// (which one dot_rows uses: dot_q8_0.hpp).
#pragma once

#include <cstdint>
#include <cstring>

#include "dsv2/backend/cpu/quant/dot_q8_0.hpp"
#include "dsv2/core/dtype.hpp"
#include "dsv2/quant/blocks.hpp"

namespace dsv2::quant {

// ---- scalar reference -------------------------------------------------------------------------

/// Σ_j m_j · (Σ of the 32 activation quants of sub-block j), from q8_K's 16-value sums.
inline int q4_k_min_sum(const block_q4_k& w, const block_q8_k& x) noexcept {
    int sum = 0;
    for (int j = 0; j < 8; ++j) {
        std::uint8_t sc, m;
        q4_k_scale_min(j, w.scales, sc, m);
        sum += m * (x.bsums[2 * j] + x.bsums[2 * j + 1]);
    }
    return sum;
}

/// The signed 6-bit quant (q − 32) of element i of a q6_K block (layout: quant/blocks.hpp).
inline int weight_quant(const block_q6_k& b, int i) noexcept {
    const int half = i / 128, r = i % 128, l = r % 32, group = r / 32;  // group: which of the 4 ql/qh slots
    const std::uint8_t* ql = b.ql + 64 * half;
    const std::uint8_t* qh = b.qh + 32 * half;
    const int low = group == 0 ? (ql[l] & 0xF) : group == 1 ? (ql[l + 32] & 0xF) : group == 2 ? (ql[l] >> 4) : (ql[l + 32] >> 4);
    const int high = (qh[l] >> (2 * group)) & 3;
    return (low | (high << 4)) - 32;
}

/// The 4-bit quant of element i of a q4_K block.
inline int weight_quant(const block_q4_k& b, int i) noexcept {
    const int chunk = i / 64, r = i % 64;
    return r < 32 ? (b.qs[32 * chunk + r] & 0xF) : (b.qs[32 * chunk + r - 32] >> 4);
}

/// out[t] = Σ_b w[b] · x[t·x_stride + b] for t < tokens.
inline void dot_rows_ref(const block_q4_k* w, const block_q8_k* x, std::int64_t x_stride, std::int64_t blocks,
                         int tokens, float* out) noexcept {
    for (int t = 0; t < tokens; ++t) {
        float sum = 0.0f;
        for (std::int64_t b = 0; b < blocks; ++b) {
            const block_q8_k& xb = x[t * x_stride + b];
            int isum = 0;
            for (int j = 0; j < 8; ++j) {
                std::uint8_t sc, m;
                q4_k_scale_min(j, w[b].scales, sc, m);
                int sub = 0;
                for (int i = 32 * j; i < 32 * j + 32; ++i) sub += weight_quant(w[b], i) * xb.qs[i];
                isum += sc * sub;
            }
            sum += f16_to_float(w[b].d) * xb.d * static_cast<float>(isum) -
                   f16_to_float(w[b].dmin) * xb.d * static_cast<float>(q4_k_min_sum(w[b], xb));
        }
        out[t] = sum;
    }
}

inline void dot_rows_ref(const block_q6_k* w, const block_q8_k* x, std::int64_t x_stride, std::int64_t blocks,
                         int tokens, float* out) noexcept {
    for (int t = 0; t < tokens; ++t) {
        float sum = 0.0f;
        for (std::int64_t b = 0; b < blocks; ++b) {
            const block_q8_k& xb = x[t * x_stride + b];
            int isum = 0;
            std::int8_t wq[qk_k];  // staged as int8: see dot_rows_ref in dot_q8_0.hpp
            for (int i = 0; i < qk_k; ++i) wq[i] = static_cast<std::int8_t>(weight_quant(w[b], i));
            for (int j = 0; j < 16; ++j) {
                int sub = 0;
                for (int i = 16 * j; i < 16 * j + 16; ++i) sub += wq[i] * xb.qs[i];
                isum += w[b].scales[j] * sub;
            }
            sum += f16_to_float(w[b].d) * xb.d * static_cast<float>(isum);
        }
        out[t] = sum;
    }
}

// ---- AVX2 and VNNI ----------------------------------------------------------------------------
// Per super-block (as llama.cpp): the scales (and q4_K's mins) are unpacked once into int16 vectors
// and shared by all tokens; per token the 32-element products q·x_q come from maddubs (q unsigned
// ≤ 63, |x_q| ≤ 127: pair sums ≤ 16002, never saturating int16), are scaled and summed into int32
// lanes by madd + add (AVX2) or one vpdpwssd (VNNI), and the min/offset term is a madd of the
// scales with q8_K's precomputed bsums. Every integer is exact, and lane for lane the same on both
// paths; the fp32 code after the integers is shared, so the AVX2 and VNNI results are bit-identical.
// fp32 order, against the scalar reference's one sum per super-block:
//  * q4_K: per token 8 lanes of d·d_x·isum and 8 of dmin·d_x·min-sum, accumulated by FMA over the
//    super-blocks (both integer vectors exact in fp32), subtracted, then the lanes summed: each
//    term rounded at most nb + 5 times (d·d_x, nb FMAs, the subtraction, 3 sums).
//  * q6_K: per token 8 lanes of d·d_x·(isum − 32·offset), the lanes' integers rounded to fp32
//    (a lane may pass 2^24), accumulated by FMA, then summed: at most nb + 5 roundings per term.
#if defined(__AVX2__) && defined(__FMA__)
namespace detail {

inline __m256i load32(const std::int8_t* p) noexcept { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline __m256i load32(const std::uint8_t* p) noexcept { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

/// acc + Σ of each two int16 products p·s per int32 lane.
template <bool Vnni>
inline __m256i madd_acc(__m256i acc, __m256i p, __m256i s) noexcept {
#if defined(DSV2_QUANT_VNNI)
    if constexpr (Vnni) return dpwssd(acc, p, s);
#endif
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
}

/// The 8 sub-block scales of a q4_K block as int16 (`scales`), and its 8 mins each twice
/// (`min_pairs`: m_0, m_0, m_1, m_1, …, lined up with q8_K's 16 bsums): ggml's 32-bit-word
/// unpacking of the 12 packed bytes, the same values as q4_k_scale_min.
inline void q4_k_scales_mins(const std::uint8_t* packed, __m128i& scales, __m256i& min_pairs) noexcept {
    constexpr std::uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
    std::uint32_t u[3];
    std::memcpy(u, packed, sizeof u);
    const std::uint32_t mins_high = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
    const std::uint32_t mins_low = u[1] & kmask1;
    const std::uint32_t scales_high = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
    const std::uint32_t scales_low = u[0] & kmask1;
    const __m128i bytes = _mm_set_epi32(static_cast<int>(mins_high), static_cast<int>(mins_low),
                                        static_cast<int>(scales_high), static_cast<int>(scales_low));
    scales = _mm_cvtepu8_epi16(bytes);
    min_pairs = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(bytes, bytes));
}

/// A shuffle_epi8 control that puts int16 element `lo` of each 128-bit lane in every int16 of the
/// low lane and element `hi` in every int16 of the high lane.
inline __m256i pick_i16(int lo, int hi) noexcept {
    return _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(((2 * hi + 1) << 8) | (2 * hi))),
                            _mm_set1_epi16(static_cast<short>(((2 * lo + 1) << 8) | (2 * lo))));
}

template <int Tokens, bool Vnni>
inline void dot_rows_simd(const block_q4_k* w, const block_q8_k* x, std::int64_t x_stride, std::int64_t blocks,
                          float* out) noexcept {
    // fp32 accumulators per token, 8 lanes each: the scale term and the min term apart
    __m256 acc_scale[Tokens], acc_min[Tokens];
    for (int t = 0; t < Tokens; ++t) acc_scale[t] = acc_min[t] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (std::int64_t b = 0; b < blocks; ++b) {
        __m128i scales;
        __m256i min_pairs;
        q4_k_scales_mins(w[b].scales, scales, min_pairs);
        const __m256i scales2 = _mm256_set_m128i(scales, scales);  // both lanes: sc_0..sc_7
        __m256i acc_low[Tokens], acc_high[Tokens];
        for (int t = 0; t < Tokens; ++t) acc_low[t] = acc_high[t] = _mm256_setzero_si256();
        for (int chunk = 0; chunk < 4; ++chunk) {  // 64 elements: sub-blocks 2·chunk (low), 2·chunk + 1 (high)
            const __m256i packed = load32(w[b].qs + 32 * chunk);
            const __m256i q_low = _mm256_and_si256(packed, low4);
            const __m256i q_high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4);
            const __m256i sc_low = _mm256_shuffle_epi8(scales2, pick_i16(2 * chunk, 2 * chunk));
            const __m256i sc_high = _mm256_shuffle_epi8(scales2, pick_i16(2 * chunk + 1, 2 * chunk + 1));
            for (int t = 0; t < Tokens; ++t) {
                const std::int8_t* xq = x[t * x_stride + b].qs + 64 * chunk;
                // q ≤ 15 unsigned, |x| ≤ 127: pair sums ≤ 3810, scaled by sc ≤ 63 into int32
                acc_low[t] = madd_acc<Vnni>(acc_low[t], _mm256_maddubs_epi16(q_low, load32(xq)), sc_low);
                acc_high[t] = madd_acc<Vnni>(acc_high[t], _mm256_maddubs_epi16(q_high, load32(xq + 32)), sc_high);
            }
        }
        const float d = half_to_float(w[b].d), dmin = half_to_float(w[b].dmin);
        for (int t = 0; t < Tokens; ++t) {
            const block_q8_k& xb = x[t * x_stride + b];
            // lane j of the min term: m_j·(bsums[2j] + bsums[2j+1]). Both integer vectors are exact
            // in fp32 (lanes ≤ 32·15·127·63 < 2^24 and ≤ 63·32·127).
            const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.bsums));
            const __m256i min_sum = _mm256_madd_epi16(min_pairs, bsums);
            const __m256i isum = _mm256_add_epi32(acc_low[t], acc_high[t]);
            acc_scale[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb.d), _mm256_cvtepi32_ps(isum), acc_scale[t]);
            acc_min[t] = _mm256_fmadd_ps(_mm256_set1_ps(dmin * xb.d), _mm256_cvtepi32_ps(min_sum), acc_min[t]);
        }
    }
    for (int t = 0; t < Tokens; ++t) out[t] = hsum(_mm256_sub_ps(acc_scale[t], acc_min[t]));
}

template <int Tokens, bool Vnni>
inline void dot_rows_simd(const block_q6_k* w, const block_q8_k* x, std::int64_t x_stride, std::int64_t blocks,
                          float* out) noexcept {
    __m256 acc_f[Tokens];  // fp32 lanes per token
    for (int t = 0; t < Tokens; ++t) acc_f[t] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0F), low2 = _mm256_set1_epi8(0x03);
    for (std::int64_t b = 0; b < blocks; ++b) {
        const std::int8_t* scales = w[b].scales;
        __m256i acc_even[Tokens], acc_odd[Tokens];
        for (int t = 0; t < Tokens; ++t) acc_even[t] = acc_odd[t] = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
            const __m256i ql0 = load32(w[b].ql + 64 * half), ql1 = load32(w[b].ql + 64 * half + 32);
            const __m256i qh = load32(w[b].qh + 32 * half);
            // the four groups of 32 elements of this half, as unsigned q ∈ [0, 63]
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_slli_epi16(_mm256_and_si256(qh, low2), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(ql1, low4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), low2), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), low2), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), low2), 4));
            // sub-block scales 8·half .. 8·half + 7 as int16, in both lanes
            const __m128i sc8 = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales + 8 * half)));
            const __m256i sc_half = _mm256_set_m128i(sc8, sc8);
            for (int g = 0; g < 4; g += 2) {
                // group g covers sub-blocks 8·half + 2g (low lane) and 8·half + 2g + 1 (high lane)
                const __m256i sc_even = _mm256_shuffle_epi8(sc_half, pick_i16(2 * g, 2 * g + 1));
                const __m256i sc_odd = _mm256_shuffle_epi8(sc_half, pick_i16(2 * g + 2, 2 * g + 3));
                for (int t = 0; t < Tokens; ++t) {
                    const std::int8_t* xq = x[t * x_stride + b].qs + 128 * half + 32 * g;
                    acc_even[t] = madd_acc<Vnni>(acc_even[t], _mm256_maddubs_epi16(q[g], load32(xq)), sc_even);
                    acc_odd[t] = madd_acc<Vnni>(acc_odd[t], _mm256_maddubs_epi16(q[g + 1], load32(xq + 32)), sc_odd);
                }
            }
        }
        const float d = half_to_float(w[b].d);
        const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales)));
        for (int t = 0; t < Tokens; ++t) {
            const block_q8_k& xb = x[t * x_stride + b];
            // the −32 of every quant: 32·Σ_j sc_j·bsums[j], subtracted lane-wise (all exact in int32)
            const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.bsums));
            const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(scales16, bsums), 5);
            const __m256i total = _mm256_sub_epi32(_mm256_add_epi32(acc_even[t], acc_odd[t]), offset);
            acc_f[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb.d), _mm256_cvtepi32_ps(total), acc_f[t]);
        }
    }
    for (int t = 0; t < Tokens; ++t) out[t] = hsum(acc_f[t]);
}

template <bool Vnni, class WeightBlock>
inline void dot_rows_simd(const WeightBlock* w, const block_q8_k* x, std::int64_t x_stride, std::int64_t blocks,
                          int tokens, float* out) noexcept {
    switch (tokens) {
        case 1: return dot_rows_simd<1, Vnni>(w, x, x_stride, blocks, out);
        case 2: return dot_rows_simd<2, Vnni>(w, x, x_stride, blocks, out);
        case 3: return dot_rows_simd<3, Vnni>(w, x, x_stride, blocks, out);
        case 4: return dot_rows_simd<4, Vnni>(w, x, x_stride, blocks, out);
        case 5: return dot_rows_simd<5, Vnni>(w, x, x_stride, blocks, out);
        case 6: return dot_rows_simd<6, Vnni>(w, x, x_stride, blocks, out);
        case 7: return dot_rows_simd<7, Vnni>(w, x, x_stride, blocks, out);
        default: return dot_rows_simd<8, Vnni>(w, x, x_stride, blocks, out);
    }
}

}  // namespace detail

/// AVX2 path of dot_rows (same contract as dot_rows_ref).
template <class WeightBlock>
inline void dot_rows_avx2(const WeightBlock* w, const block_q8_k* x, std::int64_t x_stride, std::int64_t blocks,
                          int tokens, float* out) noexcept {
    detail::dot_rows_simd<false>(w, x, x_stride, blocks, tokens, out);
}
#endif

#if defined(DSV2_QUANT_VNNI)
/// VNNI path of dot_rows (same contract; bit-identical to dot_rows_avx2).
template <class WeightBlock>
inline void dot_rows_vnni(const WeightBlock* w, const block_q8_k* x, std::int64_t x_stride, std::int64_t blocks,
                          int tokens, float* out) noexcept {
    detail::dot_rows_simd<true>(w, x, x_stride, blocks, tokens, out);
}
#endif

/// out[t] = Σ_b w[b] · x[t·x_stride + b] for t < tokens ≤ max_dot_tokens: the fastest path built.
template <class WeightBlock>
inline void dot_rows(const WeightBlock* w, const block_q8_k* x, std::int64_t x_stride, std::int64_t blocks,
                     int tokens, float* out) noexcept {
#if defined(DSV2_QUANT_VNNI)
    dot_rows_vnni(w, x, x_stride, blocks, tokens, out);
#elif defined(__AVX2__) && defined(__FMA__)
    dot_rows_avx2(w, x, x_stride, blocks, tokens, out);
#else
    dot_rows_ref(w, x, x_stride, blocks, tokens, out);
#endif
}

}  // namespace dsv2::quant
