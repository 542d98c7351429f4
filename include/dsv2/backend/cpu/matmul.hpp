// y [T, N] = x [T, K] · Wᵀ for a weight W [N, K] stored in fp32 or bf16, accumulated in fp32;
// weights in GGML's block formats go to backend/cpu/quant/matmul_quant.hpp.
//
// bf16 weights on AVX-512, up to gemm_bf16_tiles_max_rows rows (decode, the tokens of one expert):
// a register-tiled kernel that converts W in registers and never copies it (gemm_bf16.hpp).
// Otherwise: few rows (T ≤ gemv_max_rows · stream_max_passes) use a hand-vectorised streaming
// kernel (bf16 converted in registers, threads splitting the rows of W); many rows use Eigen's
// GEMM, bf16 W being widened to fp32 panel by panel first.
#pragma once

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "dsv2/backend/cpu/gemm_bf16.hpp"
#include "dsv2/backend/cpu/quant/matmul_quant.hpp"
#include "dsv2/backend/cpu/threading.hpp"
#include "dsv2/backend/cpu/weight.hpp"

namespace dsv2 {

/// Rows of x up to which the streaming kernel is used. Above it, panel GEMM wins: with 8 rows the
/// kernel already reuses each converted weight vector 8 times (bench/bench_kernels.cpp,
/// "matmul_rows" sweep, see docs/performance.md).
inline constexpr std::int64_t gemv_max_rows = 8;

/// Passes of the streaming kernel (8 rows each) before the panel GEMM takes over: up to 32 rows,
/// re-streaming W (from cache) beats widening it to fp32 (bench_kernels, matmul/bf16/{9..64}).
inline constexpr std::int64_t stream_max_passes = 4;

/// Rows of x up to which bf16 weights use the register tiles of gemm_bf16.hpp (AVX-512); above,
/// widening W to fp32 panels for Eigen's GEMM wins, its packing paid back by the rows. Measured
/// (bench_kernels, one thread, W [1408, 2048]): 64 rows 98 GFLOP/s tiles vs 77 widened, 128 rows
/// 93–97 vs 102–103, 256 rows 92–98 vs 114–118 (docs/performance.md "Kernels").
inline constexpr std::int64_t gemm_bf16_tiles_max_rows = 96;

/// fp32 elements of W converted per GEMM panel: 4 Mi floats (16 MiB, within L3), so that x is
/// packed by Eigen once per panel and not once per few rows.
inline constexpr std::int64_t gemm_panel_elements = std::int64_t{1} << 22;

namespace detail {

// ---- one element group of W as fp32 ------------------------------------------------------------
#if defined(__AVX512F__)
inline __m512 load16(const float* p) noexcept { return _mm512_loadu_ps(p); }
inline __m512 load16(const std::uint16_t* p) noexcept {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
}
#endif
#if defined(__AVX2__) && defined(__FMA__)
inline __m256 load8(const float* p) noexcept { return _mm256_loadu_ps(p); }
inline __m256 load8(const std::uint16_t* p) noexcept {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
}
inline float hsum8(__m256 v) noexcept {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}
#endif
inline float to_f32(float v) noexcept { return v; }

/// n bf16 values to fp32 (vectorised: a zero-extend and a shift per 16 values).
inline void widen_bf16(const std::uint16_t* src, float* dst, std::int64_t n) noexcept {
    std::int64_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, load16(src + i));
#elif defined(__AVX2__) && defined(__FMA__)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8(src + i));
#endif
    for (; i < n; ++i) dst[i] = bf16_to_float(src[i]);
}
inline float to_f32(std::uint16_t v) noexcept { return bf16_to_float(v); }

/// y[t, n0..n0+R) for R weight rows starting at w (row stride K) and T ≤ 8 rows of x.
template <int R, class W>
inline void dot_block(const W* w, std::int64_t K, const float* x, std::int64_t T, float* y, std::int64_t N) noexcept {
    std::int64_t k = 0;
    float acc[R][gemv_max_rows] = {};
#if defined(__AVX512F__)
    __m512 va[R][gemv_max_rows];
    for (int r = 0; r < R; ++r)
        for (std::int64_t t = 0; t < T; ++t) va[r][t] = _mm512_setzero_ps();
    for (; k + 16 <= K; k += 16) {
        __m512 wv[R];
        for (int r = 0; r < R; ++r) wv[r] = load16(w + r * K + k);
        for (std::int64_t t = 0; t < T; ++t) {
            const __m512 xv = _mm512_loadu_ps(x + t * K + k);
            for (int r = 0; r < R; ++r) va[r][t] = _mm512_fmadd_ps(wv[r], xv, va[r][t]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (std::int64_t t = 0; t < T; ++t) acc[r][t] = _mm512_reduce_add_ps(va[r][t]);
#elif defined(__AVX2__) && defined(__FMA__)
    __m256 va[R][gemv_max_rows];
    for (int r = 0; r < R; ++r)
        for (std::int64_t t = 0; t < T; ++t) va[r][t] = _mm256_setzero_ps();
    for (; k + 8 <= K; k += 8) {
        __m256 wv[R];
        for (int r = 0; r < R; ++r) wv[r] = load8(w + r * K + k);
        for (std::int64_t t = 0; t < T; ++t) {
            const __m256 xv = _mm256_loadu_ps(x + t * K + k);
            for (int r = 0; r < R; ++r) va[r][t] = _mm256_fmadd_ps(wv[r], xv, va[r][t]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (std::int64_t t = 0; t < T; ++t) acc[r][t] = hsum8(va[r][t]);
#endif
    for (; k < K; ++k)
        for (int r = 0; r < R; ++r)
            for (std::int64_t t = 0; t < T; ++t) acc[r][t] += to_f32(w[r * K + k]) * x[t * K + k];
    for (int r = 0; r < R; ++r)
        for (std::int64_t t = 0; t < T; ++t) y[t * N + r] = acc[r][t];
}

/// The streaming kernel: T ≤ gemv_max_rows rows of x against every row of W, R rows of W at a
/// time. Blocks of rows are handed out dynamically: on a shared machine a descheduled thread then
/// delays the others by one block, not by its whole static share.
template <int R, class W>
inline void gemv_blocks(const W* w, std::int64_t N, std::int64_t K, const float* x, std::int64_t T, float* y) {
    const std::int64_t blocks = (N + R - 1) / R;
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 16) if (N * K * T >= parallel_min_work)
#endif
    for (std::int64_t bi = 0; bi < blocks; ++bi) {
        const std::int64_t n = bi * R;
        if (n + R <= N) {
            dot_block<R>(w + n * K, K, x, T, y + n, N);
        } else {
            for (std::int64_t r = n; r < N; ++r) dot_block<1>(w + r * K, K, x, T, y + r, N);
        }
    }
}

/// R weight rows at a time with R·T ≤ 16 accumulators, so that they stay in registers.
template <class W>
inline void gemv_rows(const W* w, std::int64_t N, std::int64_t K, const float* x, std::int64_t T, float* y) {
    if (T <= 4)
        gemv_blocks<4>(w, N, K, x, T, y);
    else
        gemv_blocks<2>(w, N, K, x, T, y);
}

/// Panel GEMM for bf16 weights: a panel of W is widened to fp32 (threads splitting its rows), then
/// multiplied by Eigen's GEMM (threaded by Eigen itself).
inline void gemm_bf16_panels(const std::uint16_t* w, std::int64_t N, std::int64_t K, const cpu::matrix& x, cpu::matrix& y) {
    const std::int64_t panel_rows = std::clamp<std::int64_t>(gemm_panel_elements / std::max<std::int64_t>(K, 1), 64, N);
    thread_local cpu::matrix panel;  // reused across calls: no allocation once warm
    for (std::int64_t n0 = 0; n0 < N; n0 += panel_rows) {
        const std::int64_t rows = std::min(panel_rows, N - n0);
        if (panel.rows() != rows || panel.cols() != K) panel.resize(rows, K);
        const std::uint16_t* src = w + n0 * K;
        float* dst = panel.data();
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (rows * K >= parallel_min_work)
#endif
        for (std::int64_t r = 0; r < rows; ++r) widen_bf16(src + r * K, dst + r * K, K);
        y.middleCols(n0, rows).noalias() = x * panel.transpose();
    }
}

}  // namespace detail

/// y [T, N] = x [T, K] · Wᵀ.
inline void matmul_nt(cpu, const cpu::matrix& x, const cpu_weight& w, cpu::matrix& y) {
    const std::int64_t T = x.rows(), N = w.rows(), K = w.cols();
    y.resize(T, N);
    if (T == 0 || N == 0) return;
    if (w.format() != ggml_type::f32 && w.format() != ggml_type::bf16) {  // GGML blocks (backend/cpu/quant/)
        matmul_nt_quant(x.data(), T, K, w.format(), w.data(), N, y.data());
        return;
    }
#if defined(DSV2_HAVE_GEMM_BF16_AVX512)
    if (w.format() == ggml_type::bf16 && T <= gemm_bf16_tiles_max_rows) {
        gemm_bf16_nt(x.data(), T, K, w.bf16(), N, y.data());
        return;
    }
#endif
    if (T <= gemv_max_rows * stream_max_passes) {  // decode, and the few tokens of one expert
        for (std::int64_t t0 = 0; t0 < T; t0 += gemv_max_rows) {
            const std::int64_t rows = std::min(gemv_max_rows, T - t0);
            float* out = y.data() + t0 * N;
            if (w.format() == ggml_type::bf16)
                detail::gemv_rows(w.bf16(), N, K, x.data() + t0 * K, rows, out);
            else
                detail::gemv_rows(w.f32().data(), N, K, x.data() + t0 * K, rows, out);
        }
        return;
    }
    if (w.format() == ggml_type::bf16)
        detail::gemm_bf16_panels(w.bf16(), N, K, x, y);
    else
        y.noalias() = x * w.f32().transpose();
}

}  // namespace dsv2
