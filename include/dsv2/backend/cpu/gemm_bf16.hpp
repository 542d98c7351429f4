// y [T, N] = x [T, K] · Wᵀ for a bf16 weight W [N, K] (a Linear [out, in], as mapped from the
// checkpoint), fp32 x, fp32 products and sums: an AVX-512 register-tiled kernel that reads W in
// place — no widened copy, no repacking of W.
//
// Conversion. A 64-byte load of a W row holds 32 bf16 values as 16 32-bit words; word i has
// element 2i in its low half and 2i+1 in its high half. Shifting the words left by 16 gives the
// even elements as fp32, clearing the low halves gives the odd ones: two instructions per 32 values
// and no lane shuffles. x is repacked once per call into the same order (per 32 columns: the 16
// even ones, then the 16 odd ones, zero-padded to a multiple of 32), so lane j of both operands
// always holds the same column k. Products and sums are fp32 FMAs: the result equals the fp32
// product with W widened exactly, up to the order of the additions.
//
// Tiling. A tile is R rows of W × TT tokens: R·TT accumulators of 16 partial sums stay in
// registers for the whole of K and are summed across lanes once at the end. Threads take blocks of
// R rows dynamically; within a block the R rows (R·K·2 bytes) stay in L1/L2 while every token tile
// passes over them, so W is read from memory once per chunk of tokens. Tokens are processed in
// chunks whose packed x fits in L2 (x_chunk_bytes).
//
// Tuned on the project machine (2 cores, AVX-512): bench_kernels "matmul/bf16" sweep, see
// docs/performance.md "Kernels".
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#define DSV2_HAVE_GEMM_BF16_AVX512 1
#endif

#include "dsv2/backend/cpu/threading.hpp"

// Full unrolling of the loops over the accumulator tile (without it g++ keeps the tile in memory).
// g++ spells it `GCC unroll`, clang `unroll`. In a .cu file neither works (nvcc's front end rejects
// the first, the host g++ the second): there the CPU kernels compile without the hint (slower).
#if defined(__CUDACC__)
#define DSV2_UNROLL(n)
#elif defined(__clang__)
#define DSV2_UNROLL(n) _Pragma("unroll")
#elif defined(__GNUC__)
#define DSV2_UNROLL_PRAGMA(text) _Pragma(#text)
#define DSV2_UNROLL(n) DSV2_UNROLL_PRAGMA(GCC unroll n)
#else
#define DSV2_UNROLL(n)
#endif

namespace dsv2 {

#if defined(DSV2_HAVE_GEMM_BF16_AVX512)
namespace gemm_bf16 {

#ifndef DSV2_GEMM_BF16_TILE_ROWS
#define DSV2_GEMM_BF16_TILE_ROWS 5
#endif
#ifndef DSV2_GEMM_BF16_TILE_TOKENS
#define DSV2_GEMM_BF16_TILE_TOKENS 5
#endif
/// Weight rows per tile: 5 rows × 5 tokens = 25 accumulators, + 5 converted weight vectors + one
/// x vector + one constant = all 32 zmm registers. Chosen among 4×5, 4×6, 6×4, 5×5 and 7×3 by the
/// expert and dense shapes of DeepSeek-V2-Lite (docs/performance.md "Kernels"); the macros exist to
/// repeat that comparison.
inline constexpr int tile_rows = DSV2_GEMM_BF16_TILE_ROWS;
/// Tokens per tile (see tile_rows).
inline constexpr int tile_tokens = DSV2_GEMM_BF16_TILE_TOKENS;
/// Packed x per token chunk: at most 1 MiB, so that a chunk stays in L2 while W streams past it
/// (128 KiB to 1 MiB measured alike within the noise; the largest keeps chunks of many tokens).
inline constexpr std::int64_t x_chunk_bytes = std::int64_t{1} << 20;
/// Row blocks handed to a thread at a time (dynamic schedule). Not tuned: 20 rows of W per grab is
/// fine-grained enough to balance two threads on a [1408, K] expert matrix (70 grabs).
inline constexpr int blocks_per_grab = 4;

/// Columns of packed x: K rounded up to whole 32-column blocks.
inline std::int64_t packed_cols(std::int64_t K) noexcept { return (K + 31) / 32 * 32; }

/// x [T, K] → xp [T, K32]: per 32-column block, its 16 even columns then its 16 odd ones; zeros
/// past K.
inline void pack_x(const float* x, std::int64_t T, std::int64_t K, float* xp) noexcept {
    const std::int64_t K32 = packed_cols(K), full = K / 32;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (std::int64_t t = 0; t < T; ++t) {
        const float* src = x + t * K;
        float* dst = xp + t * K32;
        for (std::int64_t b = 0; b < full; ++b) {
            const __m512 lo = _mm512_loadu_ps(src + 32 * b), hi = _mm512_loadu_ps(src + 32 * b + 16);
            _mm512_storeu_ps(dst + 32 * b, _mm512_permutex2var_ps(lo, even, hi));
            _mm512_storeu_ps(dst + 32 * b + 16, _mm512_permutex2var_ps(lo, odd, hi));
        }
        if (full * 32 < K) {
            float* blk = dst + 32 * full;
            std::fill(blk, blk + 32, 0.0f);
            for (std::int64_t k = 32 * full; k < K; ++k) {
                const std::int64_t j = k - 32 * full;
                blk[(j % 2) * 16 + j / 2] = src[k];
            }
        }
    }
}

/// One 32-column step of a tile: R rows of w (stride K) at column k against TT packed x rows
/// (stride K32). Register budget: R·TT accumulators + R converted rows + one x vector + the mask
/// constant ≤ 32 zmm (tile_rows, tile_tokens).
template <int R, int TT>
inline void tile_step(__m512 (&acc)[R][TT], const std::uint16_t* w, std::int64_t K, const float* xp, std::int64_t K32,
                      std::int64_t k, __mmask32 valid, __m512i high_halves) noexcept {
    __m512 wv[R];
DSV2_UNROLL(8)
    for (int r = 0; r < R; ++r)  // even columns
        wv[r] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_maskz_loadu_epi16(valid, w + r * K + k), 16));
DSV2_UNROLL(16)
    for (int t = 0; t < TT; ++t) {
        const __m512 xv = _mm512_loadu_ps(xp + t * K32 + k);
DSV2_UNROLL(8)
        for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
    // The odd columns load the same 64 bytes again (from L1): keeping them in registers instead
    // would cost R registers. The empty asm hides that the address is the same, so that the
    // compiler does not merge the two loads.
    const std::uint16_t* again = w;
    __asm__("" : "+r"(again));
DSV2_UNROLL(8)
    for (int r = 0; r < R; ++r)  // odd columns
        wv[r] = _mm512_castsi512_ps(_mm512_and_si512(_mm512_maskz_loadu_epi16(valid, again + r * K + k), high_halves));
DSV2_UNROLL(16)
    for (int t = 0; t < TT; ++t) {
        const __m512 xv = _mm512_loadu_ps(xp + t * K32 + k + 16);
DSV2_UNROLL(8)
        for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
}

/// y[t, r] (row stride N) = Σ_k W[r, k] · x[t, k] for R rows of W and TT tokens.
template <int R, int TT>
inline void tile(const std::uint16_t* w, std::int64_t K, const float* xp, std::int64_t K32, float* y,
                 std::int64_t N, const std::uint16_t* prefetch) noexcept {
    const __m512i high_halves = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
    __m512 acc[R][TT];
DSV2_UNROLL(8)
    for (int r = 0; r < R; ++r)
DSV2_UNROLL(16)
        for (int t = 0; t < TT; ++t) acc[r][t] = _mm512_setzero_ps();
    const std::int64_t full = K / 32 * 32;
    for (std::int64_t k = 0; k < full; k += 32) {
        if (prefetch)  // the next row block, one cache line per row per step: hides its memory latency
DSV2_UNROLL(8)
            for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(prefetch + r * K + k), _MM_HINT_T0);
        tile_step<R, TT>(acc, w, K, xp, K32, k, ~__mmask32{0}, high_halves);
    }
    if (full < K)
        tile_step<R, TT>(acc, w, K, xp, K32, full, static_cast<__mmask32>((1u << (K - full)) - 1u), high_halves);
    // fully unrolled, like every loop over acc: a run-time index would keep acc in memory
DSV2_UNROLL(16)
    for (int t = 0; t < TT; ++t)
DSV2_UNROLL(8)
        for (int r = 0; r < R; ++r) y[t * N + r] = _mm512_reduce_add_ps(acc[r][t]);
}

/// tile<R, tokens> for a run-time token count 1..tile_tokens (the tail tile of a chunk).
template <int R, int... Ts>
inline void tile_for_tokens(std::integer_sequence<int, Ts...>, int tokens, const std::uint16_t* w, std::int64_t K,
                            const float* xp, std::int64_t K32, float* y, std::int64_t N,
                            const std::uint16_t* prefetch) noexcept {
    (void)((tokens == Ts + 1 ? (tile<R, Ts + 1>(w, K, xp, K32, y, N, prefetch), true) : false) || ...);
}

/// R rows of W against the `tokens` tokens of the packed chunk, tile_tokens at a time: the R rows
/// (R·K·2 bytes) stay in L1 while the token tiles pass over them. The first tile prefetches the R
/// rows at next_rows (the next block, or nullptr).
template <int R>
inline void row_block(const std::uint16_t* w, std::int64_t N, std::int64_t K, const float* xp, std::int64_t K32,
                      std::int64_t tokens, float* y, const std::uint16_t* next_rows) noexcept {
    for (std::int64_t t = 0; t < tokens; t += tile_tokens) {
        const int tt = static_cast<int>(std::min<std::int64_t>(tile_tokens, tokens - t));
        tile_for_tokens<R>(std::make_integer_sequence<int, tile_tokens>{}, tt, w, K, xp + t * K32, K32, y + t * N, N,
                           t == 0 ? next_rows : nullptr);
    }
}

template <int... Rs>
inline void row_block_for_rows(std::integer_sequence<int, Rs...>, int rows, const std::uint16_t* w, std::int64_t N,
                               std::int64_t K, const float* xp, std::int64_t K32, std::int64_t tokens, float* y,
                               const std::uint16_t* next_rows) noexcept {
    (void)((rows == Rs + 1 ? (row_block<Rs + 1>(w, N, K, xp, K32, tokens, y, next_rows), true) : false) || ...);
}

}  // namespace gemm_bf16

/// y [T, N] = x [T, K] · Wᵀ, W bf16 [N, K] row-major, x and y fp32 row-major (y preallocated).
inline void gemm_bf16_nt(const float* x, std::int64_t T, std::int64_t K, const std::uint16_t* w, std::int64_t N,
                         float* y) {
    using namespace gemm_bf16;
    if (T == 0 || N == 0) return;
    const std::int64_t K32 = packed_cols(K);
    const std::int64_t chunk = std::max<std::int64_t>(
        tile_tokens, x_chunk_bytes / (K32 * std::int64_t{sizeof(float)}) / tile_tokens * tile_tokens);
    thread_local std::vector<float> packed;  // reused across calls: no allocation once warm
    const std::int64_t blocks = (N + tile_rows - 1) / tile_rows;
    for (std::int64_t t0 = 0; t0 < T; t0 += chunk) {
        const std::int64_t tokens = std::min(chunk, T - t0);
        if (packed.size() < static_cast<std::size_t>(tokens * K32)) packed.resize(static_cast<std::size_t>(tokens * K32));
        pack_x(x + t0 * K, tokens, K, packed.data());
        const float* xp = packed.data();
        float* yc = y + t0 * N;
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, blocks_per_grab) if (N * K * tokens >= parallel_min_work)
#endif
        for (std::int64_t b = 0; b < blocks; ++b) {
            const std::int64_t n = b * tile_rows;
            const int rows = static_cast<int>(std::min<std::int64_t>(tile_rows, N - n));
            const std::uint16_t* next = n + 2 * tile_rows <= N ? w + (n + tile_rows) * K : nullptr;
            row_block_for_rows(std::make_integer_sequence<int, tile_rows>{}, rows, w + n * K, N, K, xp, K32, tokens, yc + n,
                               next);
        }
    }
}
#endif  // DSV2_HAVE_GEMM_BF16_AVX512

}  // namespace dsv2
