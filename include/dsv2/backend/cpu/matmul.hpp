// y [T, N] = x [T, K] · Wᵀ for a weight W [N, K] stored in fp32 or bf16, accumulated in fp32.
//
// Few rows (decode: T ≤ gemv_max_rows) are memory-bound: a hand-vectorised kernel streams W once,
// converting bf16 to fp32 in registers, four weight rows at a time, threads splitting the rows of W.
// Many rows (prefill) are compute-bound: W is converted panel by panel to fp32 and multiplied with
// Eigen's GEMM, threads splitting the panels.
#pragma once

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "dsv2/backend/cpu/threading.hpp"
#include "dsv2/backend/cpu/weight.hpp"

namespace dsv2 {

/// Rows of x up to which the streaming kernel is used. Above it, panel GEMM wins: with 8 rows the
/// kernel already reuses each converted weight vector 8 times (bench/bench_kernels.cpp,
/// "matmul_rows" sweep, see docs/performance.md).
inline constexpr std::int64_t gemv_max_rows = 8;

/// Weight rows converted to fp32 per GEMM panel: 64 rows × K 2048 × 4 B = 512 KiB stays in L2.
inline constexpr std::int64_t gemm_panel_rows = 64;

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
inline float to_f32(std::uint16_t v) noexcept { return bf16_to_float(v); }

/// y[t, n0..n0+R) for R ≤ 4 weight rows starting at w (row stride K) and T ≤ 8 rows of x.
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

/// The streaming kernel: T ≤ gemv_max_rows rows of x against every row of W.
template <class W>
inline void gemv_rows(const W* w, std::int64_t N, std::int64_t K, const float* x, std::int64_t T, float* y) {
    const std::int64_t blocks = (N + 3) / 4;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (N * K * T >= parallel_min_work)
#endif
    for (std::int64_t bi = 0; bi < blocks; ++bi) {
        const std::int64_t n = bi * 4;
        const std::int64_t rows = std::min<std::int64_t>(4, N - n);
        switch (rows) {
            case 4: dot_block<4>(w + n * K, K, x, T, y + n, N); break;
            case 3: dot_block<3>(w + n * K, K, x, T, y + n, N); break;
            case 2: dot_block<2>(w + n * K, K, x, T, y + n, N); break;
            default: dot_block<1>(w + n * K, K, x, T, y + n, N); break;
        }
    }
}

/// Panel GEMM for bf16 weights: each panel of W is widened to fp32 once, then multiplied by Eigen.
inline void gemm_bf16_panels(const std::uint16_t* w, std::int64_t N, std::int64_t K, const cpu::matrix& x, cpu::matrix& y) {
    const std::int64_t panels = (N + gemm_panel_rows - 1) / gemm_panel_rows;
#if defined(_OPENMP)
#pragma omp parallel if (N * K * x.rows() >= parallel_min_work)
#endif
    {
        cpu::matrix panel;  // [≤ gemm_panel_rows, K] fp32, one per thread
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
        for (std::int64_t p = 0; p < panels; ++p) {
            const std::int64_t n0 = p * gemm_panel_rows, rows = std::min(gemm_panel_rows, N - n0);
            panel.resize(rows, K);
            const std::uint16_t* src = w + n0 * K;
            float* dst = panel.data();
            for (std::int64_t i = 0; i < rows * K; ++i) dst[i] = bf16_to_float(src[i]);
            y.middleCols(n0, rows).noalias() = x * panel.transpose();
        }
    }
}

}  // namespace detail

/// y [T, N] = x [T, K] · Wᵀ.
inline void matmul_nt(cpu, const cpu::matrix& x, const cpu_weight& w, cpu::matrix& y) {
    const std::int64_t T = x.rows(), N = w.rows(), K = w.cols();
    y.resize(T, N);
    if (T == 0 || N == 0) return;
    if (T <= gemv_max_rows) {
        if (w.type() == dtype::bf16)
            detail::gemv_rows(w.bf16(), N, K, x.data(), T, y.data());
        else
            detail::gemv_rows(w.f32().data(), N, K, x.data(), T, y.data());
        return;
    }
    if (w.type() == dtype::bf16)
        detail::gemm_bf16_panels(w.bf16(), N, K, x, y);
    else
        y.noalias() = x * w.f32().transpose();
}

}  // namespace dsv2
