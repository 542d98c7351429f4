// Dot products of 32-wide weight blocks (q8_0, q4_0, q5_0) with q8_0 activation blocks, for up to
// 8 activation rows ("tokens") at once, so that a weight block is loaded and unpacked once for
// all of them. Per block b: Σ_i w_i·x_i = d_w·d_x · Σ_i q_w,i·q_x,i, the inner sum exact in int32.
//
// Scalar reference (ggml's vec_dot_*_q8_0 generic: int sum per block, then sum += isum·(d_w·d_x))
// next to the SIMD paths; all compute the same integers, their fp32 sums differ only in order: the
// SIMD paths keep 8 lanes per token (and 4 or 2 interleaved accumulators per lane for 1 or 2–3
// tokens), each term rounded at most ⌈nb/chains⌉ + 6 times, within the tests' (nb + 8)·u bound.
//
// SIMD paths, chosen at compile time (the fastest the target flags allow; `quant_kernel_isa` names it):
//  * VNNI (DSV2_QUANT_VNNI): AVX-512 VNNI with VL and BW, or AVX-VNNI, on 256-bit vectors. Each
//    block's 4-product sums come from one vpdpbusd (unsigned × signed bytes, so the sign trick:
//    |w| times x with w's sign) instead of AVX2's maddubs + madd. Lane i of either is the exact
//    Σ_{k<4} w_{4i+k}·x_{4i+k}, and the fp32 steps after it are the same instructions in the same
//    order, so the VNNI and AVX2 results are bit-identical.
//  * AVX2 + FMA: maddubs/madd. Also built where VNNI exists if DSV2_QUANT_NO_VNNI is defined (the
//    switch bench_quant_avx2 and the AVX2 test executable use to compare both on one machine).
// 256-bit rather than 512-bit vectors: one q8_0 block is 32 bytes, and Zen 4 runs a 512-bit op as
// two 256-bit halves, so wider vectors would only reorder the fp32 sums.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#if defined(__AVX2__) && defined(__FMA__) && !defined(DSV2_QUANT_NO_VNNI)
#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__)
#define DSV2_QUANT_VNNI 1
#define DSV2_QUANT_VNNI_AVX512 1
#elif defined(__AVXVNNI__)
#define DSV2_QUANT_VNNI 1
#endif
#endif

#include "dsv2/core/dtype.hpp"
#include "dsv2/quant/blocks.hpp"

namespace dsv2::quant {

/// Most activation rows one call handles (accumulators stay in registers).
inline constexpr int max_dot_tokens = 8;

/// The SIMD path dot_rows uses in this translation unit: "avx512-vnni", "avx-vnni", "avx2" or "scalar".
inline constexpr const char* quant_kernel_isa =
#if defined(DSV2_QUANT_VNNI_AVX512)
    "avx512-vnni";
#elif defined(DSV2_QUANT_VNNI)
    "avx-vnni";
#elif defined(__AVX2__) && defined(__FMA__)
    "avx2";
#else
    "scalar";
#endif

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
            // The quants staged as int8 first: g++ 12 with -mavx512vnni auto-vectorises the direct
            // Σ ((nibble − 8)·x) of q4_0 with a vpdpbusd (unsigned × signed bytes) although the
            // quants are signed: wrong sums at -O2 -march=native on Zen 4, right with -mno-avx512vnni.
            std::int8_t wq[qk32];
            for (int i = 0; i < qk32; ++i) wq[i] = static_cast<std::int8_t>(weight_quant(w[b], i));
            int isum = 0;
            for (int i = 0; i < qk32; ++i) isum += wq[i] * xb.qs[i];
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

#if defined(DSV2_QUANT_VNNI_AVX512)
/// acc + Σ of each 4 products u·s (unsigned × signed bytes) per int32 lane, no saturation.
inline __m256i dpbusd(__m256i acc, __m256i u, __m256i s) noexcept { return _mm256_dpbusd_epi32(acc, u, s); }
/// acc + Σ of each 2 products a·b (int16 × int16) per int32 lane, no saturation.
inline __m256i dpwssd(__m256i acc, __m256i a, __m256i b) noexcept { return _mm256_dpwssd_epi32(acc, a, b); }
#elif defined(DSV2_QUANT_VNNI)
inline __m256i dpbusd(__m256i acc, __m256i u, __m256i s) noexcept { return _mm256_dpbusd_avx_epi32(acc, u, s); }
inline __m256i dpwssd(__m256i acc, __m256i a, __m256i b) noexcept { return _mm256_dpwssd_avx_epi32(acc, a, b); }
#endif

/// Σ of each 4 products w·x as 8 int32 lanes (lane i: bytes 4i..4i+3). Both instructions need an
/// unsigned operand, so |w| times x with w's sign moved onto x (|w| ≤ 128, |x| ≤ 127: AVX2's pair
/// sums ≤ 32512 never saturate int16; vpdpbusd does not saturate at all).
template <bool Vnni>
inline __m256i dot_i8_quads(__m256i w_abs, __m256i w, __m256i x) noexcept {
#if defined(DSV2_QUANT_VNNI)
    if constexpr (Vnni) return dpbusd(_mm256_setzero_si256(), w_abs, _mm256_sign_epi8(x, w));
#endif
    const __m256i products = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(products, _mm256_set1_epi16(1));
}

inline float hsum(__m256 v) noexcept {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

/// Independent fp32 accumulators per token: an FMA chain has 4 cycles of latency, so one or two
/// tokens alone would wait on it; block b goes to accumulator b mod Chains.
template <int Tokens>
inline constexpr int accumulator_chains = Tokens == 1 ? 4 : Tokens <= 3 ? 2 : 1;

template <int Tokens, bool Vnni, class WeightBlock>
inline void dot_rows_simd(const WeightBlock* w, const block_q8_0* x, const float* xd, std::int64_t x_stride,
                          std::int64_t blocks, float* out) noexcept {
    constexpr int chains = accumulator_chains<Tokens>;
    __m256 acc[chains][Tokens];
    for (int c = 0; c < chains; ++c)
        for (int t = 0; t < Tokens; ++t) acc[c][t] = _mm256_setzero_ps();
    auto step = [&](std::int64_t b, __m256* a) {
        const __m256i q = signed_quants(w[b]);
        const __m256i q_abs = _mm256_sign_epi8(q, q);
        const float dw = half_to_float(w[b].d);
        for (int t = 0; t < Tokens; ++t) {
            const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[t * x_stride + b].qs));
            const __m256 isum = _mm256_cvtepi32_ps(dot_i8_quads<Vnni>(q_abs, q, xq));
            a[t] = _mm256_fmadd_ps(isum, _mm256_set1_ps(dw * xd[t * x_stride + b]), a[t]);
        }
    };
    std::int64_t b = 0;
    for (; b + chains <= blocks; b += chains)
        for (int c = 0; c < chains; ++c) step(b + c, acc[c]);
    for (int c = 0; b < blocks; ++b, ++c) step(b, acc[c]);
    for (int t = 0; t < Tokens; ++t) {
        if constexpr (chains == 4) {
            acc[0][t] = _mm256_add_ps(_mm256_add_ps(acc[0][t], acc[1][t]), _mm256_add_ps(acc[2][t], acc[3][t]));
        } else if constexpr (chains == 2) {
            acc[0][t] = _mm256_add_ps(acc[0][t], acc[1][t]);
        }
        out[t] = hsum(acc[0][t]);
    }
}

template <bool Vnni, class WeightBlock>
inline void dot_rows_simd(const WeightBlock* w, const block_q8_0* x, const float* xd, std::int64_t x_stride,
                          std::int64_t blocks, int tokens, float* out) noexcept {
    switch (tokens) {
        case 1: return dot_rows_simd<1, Vnni>(w, x, xd, x_stride, blocks, out);
        case 2: return dot_rows_simd<2, Vnni>(w, x, xd, x_stride, blocks, out);
        case 3: return dot_rows_simd<3, Vnni>(w, x, xd, x_stride, blocks, out);
        case 4: return dot_rows_simd<4, Vnni>(w, x, xd, x_stride, blocks, out);
        case 5: return dot_rows_simd<5, Vnni>(w, x, xd, x_stride, blocks, out);
        case 6: return dot_rows_simd<6, Vnni>(w, x, xd, x_stride, blocks, out);
        case 7: return dot_rows_simd<7, Vnni>(w, x, xd, x_stride, blocks, out);
        default: return dot_rows_simd<8, Vnni>(w, x, xd, x_stride, blocks, out);
    }
}

}  // namespace detail

/// AVX2 path of dot_rows (same contract as dot_rows_ref).
template <class WeightBlock>
inline void dot_rows_avx2(const WeightBlock* w, const block_q8_0* x, const float* xd, std::int64_t x_stride,
                          std::int64_t blocks, int tokens, float* out) noexcept {
    detail::dot_rows_simd<false>(w, x, xd, x_stride, blocks, tokens, out);
}
#endif

#if defined(DSV2_QUANT_VNNI)
/// VNNI path of dot_rows (same contract; bit-identical to dot_rows_avx2).
template <class WeightBlock>
inline void dot_rows_vnni(const WeightBlock* w, const block_q8_0* x, const float* xd, std::int64_t x_stride,
                          std::int64_t blocks, int tokens, float* out) noexcept {
    detail::dot_rows_simd<true>(w, x, xd, x_stride, blocks, tokens, out);
}
#endif

/// out[t] = Σ_b w[b] · x[t·x_stride + b] for t < tokens ≤ max_dot_tokens: the fastest path built.
template <class WeightBlock>
inline void dot_rows(const WeightBlock* w, const block_q8_0* x, const float* xd, std::int64_t x_stride,
                     std::int64_t blocks, int tokens, float* out) noexcept {
#if defined(DSV2_QUANT_VNNI)
    dot_rows_vnni(w, x, xd, x_stride, blocks, tokens, out);
#elif defined(__AVX2__) && defined(__FMA__)
    dot_rows_avx2(w, x, xd, x_stride, blocks, tokens, out);
#else
    dot_rows_ref(w, x, xd, x_stride, blocks, tokens, out);
#endif
}

}  // namespace dsv2::quant
