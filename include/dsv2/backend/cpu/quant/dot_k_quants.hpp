// Dot products of the 256-wide "K" weight super-blocks (q4_K, q6_K) with q8_K activation blocks,
// for up to 8 activation rows at once (each weight chunk is unpacked once for all of them).
//   q4_K: w = d·sc_j·q − dmin·m_j  ⇒  Σ w·x = d_x·(d·Σ_j sc_j·Σ q·x_q − dmin·Σ_j m_j·Σ x_q)
//   q6_K: w = d·sc_j·(q − 32)      ⇒  Σ w·x = d_x·d·Σ_j sc_j·(Σ q·x_q − 32·Σ x_q)
// The sums Σ x_q of each 16 activation quants are q8_K's bsums, so the min/offset terms cost one
// multiply per sub-block. Every integer sum is exact in int32 (q4_K: ≤ 63·15·127·256 ≈ 3.1e7;
// q6_K: ≤ 128·63·127·256 ≈ 2.6e8); only the per-super-block fp32 sum is rounded.
// Scalar reference (ggml's vec_dot_q4_K_q8_K / q6_K generic) next to the AVX2 path.
#pragma once

#include <cstdint>

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
            for (int j = 0; j < 16; ++j) {
                int sub = 0;
                for (int i = 16 * j; i < 16 * j + 16; ++i) sub += weight_quant(w[b], i) * xb.qs[i];
                isum += w[b].scales[j] * sub;
            }
            sum += f16_to_float(w[b].d) * xb.d * static_cast<float>(isum);
        }
        out[t] = sum;
    }
}

// ---- AVX2 --------------------------------------------------------------------------------------
#if defined(__AVX2__) && defined(__FMA__)
namespace detail {

inline int hsum_i32(__m256i v) noexcept {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

inline __m256i load32(const std::int8_t* p) noexcept { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline __m256i load32(const std::uint8_t* p) noexcept { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

template <int Tokens>
inline void dot_rows_avx2(const block_q4_k* w, const block_q8_k* x, std::int64_t x_stride, std::int64_t blocks,
                          float* out) noexcept {
    float sum[Tokens] = {};
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (std::int64_t b = 0; b < blocks; ++b) {
        std::uint8_t sc[8], m[8];
        for (int j = 0; j < 8; ++j) q4_k_scale_min(j, w[b].scales, sc[j], m[j]);
        __m256i isum[Tokens];
        for (int t = 0; t < Tokens; ++t) isum[t] = _mm256_setzero_si256();
        for (int chunk = 0; chunk < 4; ++chunk) {  // 64 elements: sub-blocks 2·chunk (low), 2·chunk + 1 (high)
            const __m256i packed = load32(w[b].qs + 32 * chunk);
            const __m256i q_low = _mm256_and_si256(packed, low4);
            const __m256i q_high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4);
            const __m256i sc_low = _mm256_set1_epi16(sc[2 * chunk]), sc_high = _mm256_set1_epi16(sc[2 * chunk + 1]);
            for (int t = 0; t < Tokens; ++t) {
                const std::int8_t* xq = x[t * x_stride + b].qs + 64 * chunk;
                // q ≤ 15 unsigned, |x| ≤ 127: pair sums ≤ 3810, scaled by sc ≤ 63 in madd (int32)
                const __m256i p_low = _mm256_madd_epi16(_mm256_maddubs_epi16(q_low, load32(xq)), sc_low);
                const __m256i p_high = _mm256_madd_epi16(_mm256_maddubs_epi16(q_high, load32(xq + 32)), sc_high);
                isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(p_low, p_high));
            }
        }
        const float d = half_to_float(w[b].d), dmin = half_to_float(w[b].dmin);
        for (int t = 0; t < Tokens; ++t) {
            const block_q8_k& xb = x[t * x_stride + b];
            int min_sum = 0;
            for (int j = 0; j < 8; ++j) min_sum += m[j] * (xb.bsums[2 * j] + xb.bsums[2 * j + 1]);
            sum[t] += d * xb.d * static_cast<float>(hsum_i32(isum[t])) - dmin * xb.d * static_cast<float>(min_sum);
        }
    }
    for (int t = 0; t < Tokens; ++t) out[t] = sum[t];
}

template <int Tokens>
inline void dot_rows_avx2(const block_q6_k* w, const block_q8_k* x, std::int64_t x_stride, std::int64_t blocks,
                          float* out) noexcept {
    float sum[Tokens] = {};
    const __m256i low4 = _mm256_set1_epi8(0x0F), low2 = _mm256_set1_epi8(0x03);
    for (std::int64_t b = 0; b < blocks; ++b) {
        const std::int8_t* scales = w[b].scales;
        __m256i isum[Tokens];
        for (int t = 0; t < Tokens; ++t) isum[t] = _mm256_setzero_si256();
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
            for (int g = 0; g < 4; ++g) {
                // group g covers sub-blocks 8·half + 2g (low lane) and 8·half + 2g + 1 (high lane)
                const int j = 8 * half + 2 * g;
                const __m256i sc = _mm256_set_m128i(_mm_set1_epi16(scales[j + 1]), _mm_set1_epi16(scales[j]));
                for (int t = 0; t < Tokens; ++t) {
                    const std::int8_t* xq = x[t * x_stride + b].qs + 128 * half + 32 * g;
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(q[g], load32(xq)), sc));
                }
            }
        }
        const float d = half_to_float(w[b].d);
        for (int t = 0; t < Tokens; ++t) {
            const block_q8_k& xb = x[t * x_stride + b];
            int offset = 0;  // the −32 of every quant: Σ_j sc_j · 32 · Σ x_q
            for (int j = 0; j < 16; ++j) offset += scales[j] * xb.bsums[j];
            sum[t] += d * xb.d * static_cast<float>(hsum_i32(isum[t]) - 32 * offset);
        }
    }
    for (int t = 0; t < Tokens; ++t) out[t] = sum[t];
}

}  // namespace detail

/// AVX2 path of dot_rows (same contract as dot_rows_ref).
template <class WeightBlock>
inline void dot_rows_avx2(const WeightBlock* w, const block_q8_k* x, std::int64_t x_stride, std::int64_t blocks,
                          int tokens, float* out) noexcept {
    switch (tokens) {
        case 1: return detail::dot_rows_avx2<1>(w, x, x_stride, blocks, out);
        case 2: return detail::dot_rows_avx2<2>(w, x, x_stride, blocks, out);
        case 3: return detail::dot_rows_avx2<3>(w, x, x_stride, blocks, out);
        case 4: return detail::dot_rows_avx2<4>(w, x, x_stride, blocks, out);
        case 5: return detail::dot_rows_avx2<5>(w, x, x_stride, blocks, out);
        case 6: return detail::dot_rows_avx2<6>(w, x, x_stride, blocks, out);
        case 7: return detail::dot_rows_avx2<7>(w, x, x_stride, blocks, out);
        default: return detail::dot_rows_avx2<8>(w, x, x_stride, blocks, out);
    }
}
#endif

/// out[t] = Σ_b w[b] · x[t·x_stride + b] for t < tokens ≤ max_dot_tokens: the fastest path built.
template <class WeightBlock>
inline void dot_rows(const WeightBlock* w, const block_q8_k* x, std::int64_t x_stride, std::int64_t blocks,
                     int tokens, float* out) noexcept {
#if defined(__AVX2__) && defined(__FMA__)
    dot_rows_avx2(w, x, x_stride, blocks, tokens, out);
#else
    dot_rows_ref(w, x, x_stride, blocks, tokens, out);
#endif
}

}  // namespace dsv2::quant
