// Dot products of 32-wide weight blocks (q8_0, q4_0, q5_0) with q8_0 activation blocks, for up to
// 8 activation rows ("tokens") at once, so that a weight block is loaded and unpacked once for
// all of them. Per block b: Σ_i w_i·x_i = d_w·d_x · Σ_i q_w,i·q_x,i, the inner sum exact in int32.
//
// Scalar reference (ggml's vec_dot_*_q8_0 generic: int sum per block, then sum += isum·(d_w·d_x))
// next to the AVX2 path; both compute the same integers, their fp32 sums differ only in order.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "dsv2/core/dtype.hpp"
#include "dsv2/quant/blocks.hpp"

namespace dsv2::quant {

/// Most activation rows one call handles (accumulators stay in registers).
inline constexpr int max_dot_tokens = 8;

// ---- scalar reference -------------------------------------------------------------------------

/// The signed quant of element i of a weight block.
inline int weight_quant(const block_q8_0& b, int i) noexcept { return b.qs[i]; }
inline int weight_quant(const block_q4_0& b, int i) noexcept {
    const int nibble = i < 16 ? (b.qs[i] & 0xF) : (b.qs[i - 16] >> 4);
    return nibble - 8;
}
inline int weight_quant(const block_q5_0& b, int i) noexcept {
    std::uint32_t qh;
    std::memcpy(&qh, b.qh, sizeof qh);
    const int nibble = i < 16 ? (b.qs[i] & 0xF) : (b.qs[i - 16] >> 4);
    return (nibble | static_cast<int>(((qh >> i) & 1u) << 4)) - 16;
}

/// out[t] = Σ_b w[b] · x[t·x_stride + b] for t < tokens; xd holds the activation scales as fp32.
template <class WeightBlock>
inline void dot_rows_ref(const WeightBlock* w, const block_q8_0* x, const float* xd, std::int64_t x_stride,
                         std::int64_t blocks, int tokens, float* out) noexcept {
    for (int t = 0; t < tokens; ++t) {
        float sum = 0.0f;
        for (std::int64_t b = 0; b < blocks; ++b) {
            const block_q8_0& xb = x[t * x_stride + b];
            int isum = 0;
            for (int i = 0; i < qk32; ++i) isum += weight_quant(w[b], i) * xb.qs[i];
            sum += static_cast<float>(isum) * (f16_to_float(w[b].d) * xd[t * x_stride + b]);
        }
        out[t] = sum;
    }
}

// ---- AVX2 --------------------------------------------------------------------------------------
#if defined(__AVX2__) && defined(__FMA__)
namespace detail {

inline float half_to_float(std::uint16_t h) noexcept {
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    return f16_to_float(h);
#endif
}

/// The 32 signed quants of a weight block, in element order, one per byte.
inline __m256i signed_quants(const block_q8_0& b) noexcept {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
}
/// Low nibbles (elements 0..15) in the low lane, high nibbles (16..31) in the high lane.
inline __m256i nibbles(const std::uint8_t* qs) noexcept {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m128i low4 = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(packed, 4), low4), _mm_and_si128(packed, low4));
}
inline __m256i signed_quants(const block_q4_0& b) noexcept {
    return _mm256_sub_epi8(nibbles(b.qs), _mm256_set1_epi8(8));
}
/// Bit i of the 32-bit word → byte i = 0x10 where set: each byte picks its source byte of qh
/// (shuffle), keeps only its own bit (OR with all other bits, compare with all ones).
inline __m256i high_bits_0x10(const std::uint8_t* qh_bytes) noexcept {
    std::uint32_t qh;
    std::memcpy(&qh, qh_bytes, sizeof qh);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)),
                                               _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                                                  0x0202020202020202, 0x0303030303030303));
    const __m256i other_bits = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
    const __m256i is_set = _mm256_cmpeq_epi8(_mm256_or_si256(spread, other_bits), _mm256_set1_epi8(-1));
    return _mm256_and_si256(is_set, _mm256_set1_epi8(0x10));
}
inline __m256i signed_quants(const block_q5_0& b) noexcept {
    return _mm256_sub_epi8(_mm256_or_si256(nibbles(b.qs), high_bits_0x10(b.qh)), _mm256_set1_epi8(16));
}

/// Σ over pairs of w·x as 8 int32 lanes: maddubs needs an unsigned operand, so |w| times x with
/// w's sign moved onto x (|w| ≤ 128, |x| ≤ 127: the pair sums ≤ 32512 never saturate int16).
inline __m256i dot_i8_pairs(__m256i w_abs, __m256i w, __m256i x) noexcept {
    const __m256i products = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(products, _mm256_set1_epi16(1));
}

inline float hsum(__m256 v) noexcept {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

template <int Tokens, class WeightBlock>
inline void dot_rows_avx2(const WeightBlock* w, const block_q8_0* x, const float* xd, std::int64_t x_stride,
                          std::int64_t blocks, float* out) noexcept {
    __m256 acc[Tokens];
    for (int t = 0; t < Tokens; ++t) acc[t] = _mm256_setzero_ps();
    for (std::int64_t b = 0; b < blocks; ++b) {
        const __m256i q = signed_quants(w[b]);
        const __m256i q_abs = _mm256_sign_epi8(q, q);
        const float dw = half_to_float(w[b].d);
        for (int t = 0; t < Tokens; ++t) {
            const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[t * x_stride + b].qs));
            const __m256 isum = _mm256_cvtepi32_ps(dot_i8_pairs(q_abs, q, xq));
            acc[t] = _mm256_fmadd_ps(isum, _mm256_set1_ps(dw * xd[t * x_stride + b]), acc[t]);
        }
    }
    for (int t = 0; t < Tokens; ++t) out[t] = hsum(acc[t]);
}

}  // namespace detail

/// AVX2 path of dot_rows (same contract as dot_rows_ref).
template <class WeightBlock>
inline void dot_rows_avx2(const WeightBlock* w, const block_q8_0* x, const float* xd, std::int64_t x_stride,
                          std::int64_t blocks, int tokens, float* out) noexcept {
    switch (tokens) {
        case 1: return detail::dot_rows_avx2<1>(w, x, xd, x_stride, blocks, out);
        case 2: return detail::dot_rows_avx2<2>(w, x, xd, x_stride, blocks, out);
        case 3: return detail::dot_rows_avx2<3>(w, x, xd, x_stride, blocks, out);
        case 4: return detail::dot_rows_avx2<4>(w, x, xd, x_stride, blocks, out);
        case 5: return detail::dot_rows_avx2<5>(w, x, xd, x_stride, blocks, out);
        case 6: return detail::dot_rows_avx2<6>(w, x, xd, x_stride, blocks, out);
        case 7: return detail::dot_rows_avx2<7>(w, x, xd, x_stride, blocks, out);
        default: return detail::dot_rows_avx2<8>(w, x, xd, x_stride, blocks, out);
    }
}
#endif

/// out[t] = Σ_b w[b] · x[t·x_stride + b] for t < tokens ≤ max_dot_tokens: the fastest path built.
template <class WeightBlock>
inline void dot_rows(const WeightBlock* w, const block_q8_0* x, const float* xd, std::int64_t x_stride,
                     std::int64_t blocks, int tokens, float* out) noexcept {
#if defined(__AVX2__) && defined(__FMA__)
    dot_rows_avx2(w, x, xd, x_stride, blocks, tokens, out);
#else
    dot_rows_ref(w, x, xd, x_stride, blocks, tokens, out);
#endif
}

}  // namespace dsv2::quant
