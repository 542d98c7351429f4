// y [T, N] = x [T, K] · Wᵀ for a weight W [N, K] stored in a GGML type, row-major: row n is
// row_bytes(type, K) bytes of blocks (as a GGUF tensor of ne = {K, N} holds it).
//
// Quantised weights (q8_0, q4_0, q5_0, q4_K, q6_K), two paths:
//  * T ≤ quant_int8_max_rows (decode, the few tokens of one expert): x is quantised once to q8
//    blocks (activation_quant.hpp, as llama.cpp does), then W is streamed once: threads take
//    blocks of weight rows dynamically, and each row is dotted with every token, 8 at a time, in
//    integer arithmetic (dot_q8_0.hpp, dot_k_quants.hpp) while it sits in L1.
//  * more rows (prefill): panels of W are dequantised to fp32 and multiplied by Eigen's GEMM —
//    exact w.r.t. the dequantised weights, and faster here than the int8 dots once the panel's
//    conversion is shared by enough rows (threshold measured, docs/quantization.md).
// f32 / f16 / bf16 weights always take the fp32 panel path (the model uses matmul_nt for those).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "dsv2/backend/cpu/quant/activation_quant.hpp"
#include "dsv2/backend/cpu/quant/dot_k_quants.hpp"
#include "dsv2/backend/cpu/quant/dot_q8_0.hpp"
#include "dsv2/backend/cpu/threading.hpp"
#include "dsv2/core/error.hpp"
#include "dsv2/quant/dequantize.hpp"
#include "dsv2/quant/quantize.hpp"

namespace dsv2 {

/// Rows of x up to which quantised weights use the int8 dot products; above, dequantised panels
/// and Eigen's GEMM. Measured (bench_quant, 1 thread, W [1408, 2048]): int8 is 1.5–3× faster up to 64
/// rows, even at 128, 0.67–0.83× at 256 (docs/quantization.md "Prefill").
inline constexpr std::int64_t quant_int8_max_rows = 96;

/// fp32 elements of W dequantised per GEMM panel (16 MiB, as matmul.hpp's bf16 panels).
inline constexpr std::int64_t quant_panel_elements = std::int64_t{1} << 22;

/// Weight rows per dynamically scheduled task of the int8 path: enough work per task (≥ 16 rows ·
/// K) that scheduling costs nothing, few enough rows that a descheduled thread on a shared machine
/// delays the others by one task only.
inline constexpr std::int64_t quant_rows_per_task = 16;

namespace quant::detail {

/// Rows [n0, n1) of y for T tokens: each weight row against every token, max_dot_tokens at a time.
template <class WeightBlock, class Activations>
inline void int8_rows(const WeightBlock* w, std::int64_t blocks_per_row, const Activations& xq, std::int64_t T,
                      std::int64_t N, std::int64_t n0, std::int64_t n1, float* y) noexcept {
    float out[max_dot_tokens];
    for (std::int64_t n = n0; n < n1; ++n) {
        const WeightBlock* row = w + n * blocks_per_row;
        for (std::int64_t t0 = 0; t0 < T; t0 += max_dot_tokens) {
            const int tokens = static_cast<int>(std::min<std::int64_t>(max_dot_tokens, T - t0));
            const auto* x = xq.blocks.data() + t0 * xq.blocks_per_row;
            if constexpr (std::is_same_v<Activations, q8_0_activations>)
                dot_rows(row, x, xq.scales.data() + t0 * xq.blocks_per_row, xq.blocks_per_row, blocks_per_row, tokens, out);
            else
                dot_rows(row, x, xq.blocks_per_row, blocks_per_row, tokens, out);
            for (int t = 0; t < tokens; ++t) y[(t0 + t) * N + n] = out[t];
        }
    }
}

template <class WeightBlock, class Activations>
inline void int8_matmul(const float* x, std::int64_t T, std::int64_t K, const void* w, std::int64_t N, float* y) {
    thread_local Activations xq;  // reused across calls: no allocation once warm
    quantize_activations(x, T, K, xq);
    const auto* wb = static_cast<const WeightBlock*>(w);
    const std::int64_t blocks_per_row = K / (std::is_same_v<Activations, q8_0_activations> ? qk32 : qk_k);
    const std::int64_t tasks = (N + quant_rows_per_task - 1) / quant_rows_per_task;
    const Activations& shared = xq;  // thread_local: the workers must read the caller's copy
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 1) if (N * K * T >= parallel_min_work)
#endif
    for (std::int64_t task = 0; task < tasks; ++task) {
        const std::int64_t n0 = task * quant_rows_per_task;
        int8_rows(wb, blocks_per_row, shared, T, N, n0, std::min(N, n0 + quant_rows_per_task), y);
    }
}

/// Panels of W dequantised to fp32 (threads splitting the rows), times x by Eigen's GEMM.
inline void dequantized_gemm(const float* x, std::int64_t T, std::int64_t K, ggml_type type, const void* w,
                             std::int64_t N, float* y) {
    using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Eigen::Map<const matrix> xm(x, T, K);
    Eigen::Map<matrix> ym(y, T, N);
    if (type == ggml_type::f32) {
        ym.noalias() = xm * Eigen::Map<const matrix>(static_cast<const float*>(w), N, K).transpose();
        return;
    }
    const std::int64_t row_size = static_cast<std::int64_t>(row_bytes(type, static_cast<std::uint64_t>(K)).value());
    const std::int64_t panel_rows = std::clamp<std::int64_t>(quant_panel_elements / std::max<std::int64_t>(K, 1), 64, N);
    thread_local matrix panel;
    const auto* bytes = static_cast<const unsigned char*>(w);
    for (std::int64_t n0 = 0; n0 < N; n0 += panel_rows) {
        const std::int64_t rows = std::min(panel_rows, N - n0);
        if (panel.rows() != rows || panel.cols() != K) panel.resize(rows, K);
        float* dst = panel.data();
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (rows * K >= parallel_min_work)
#endif
        for (std::int64_t r = 0; r < rows; ++r) dequantize_row(type, bytes + (n0 + r) * row_size, dst + r * K, K);
        ym.middleCols(n0, rows).noalias() = xm * panel.transpose();
    }
}

}  // namespace quant::detail

/// y [T, N] = x [T, K] · Wᵀ, W [N, K] row-major in `wtype` (row n at w + n·row_bytes(wtype, K)).
/// x and y are row-major fp32. Throws unsupported_error for a weight type dsv2 cannot compute
/// with (naming it), input_error for negative sizes or K not a whole number of the type's blocks.
inline void matmul_nt_quant(const float* x, std::int64_t T, std::int64_t K, ggml_type wtype, const void* w,
                            std::int64_t N, float* y) {
    if (!is_supported_weight_type(wtype))
        throw unsupported_error("matmul_nt_quant: weight type " + std::string(name_of(wtype)) + " (id " +
                                std::to_string(static_cast<std::uint32_t>(wtype)) + ") is not supported");
    if (T < 0 || K < 0 || N < 0)
        throw input_error("matmul_nt_quant", "negative size: T " + std::to_string(T) + ", K " + std::to_string(K) +
                                                 ", N " + std::to_string(N));
    const std::int64_t block = traits_of(wtype).block_elements;
    if (K % block != 0)
        throw input_error("matmul_nt_quant: K", std::to_string(K) + " is not a whole number of " +
                                                   std::string(name_of(wtype)) + " blocks of " + std::to_string(block));
    if (T == 0 || N == 0) return;
    if (K == 0) {
        std::fill(y, y + T * N, 0.0f);
        return;
    }
    if (T <= quant_int8_max_rows) {
        switch (wtype) {
            case ggml_type::q8_0: return quant::detail::int8_matmul<quant::block_q8_0, quant::q8_0_activations>(x, T, K, w, N, y);
            case ggml_type::q4_0: return quant::detail::int8_matmul<quant::block_q4_0, quant::q8_0_activations>(x, T, K, w, N, y);
            case ggml_type::q5_0: return quant::detail::int8_matmul<quant::block_q5_0, quant::q8_0_activations>(x, T, K, w, N, y);
            case ggml_type::q4_k: return quant::detail::int8_matmul<quant::block_q4_k, quant::q8_k_activations>(x, T, K, w, N, y);
            case ggml_type::q6_k: return quant::detail::int8_matmul<quant::block_q6_k, quant::q8_k_activations>(x, T, K, w, N, y);
            default: break;  // f32 / f16 / bf16
        }
    }
    quant::detail::dequantized_gemm(x, T, K, wtype, w, N, y);
}

}  // namespace dsv2
