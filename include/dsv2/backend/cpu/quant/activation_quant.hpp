// Rows of fp32 activations quantised to q8 blocks for the integer dot products, as llama.cpp does
// on the CPU: the activations of a matmul with a q8_0/q4_0/q5_0 weight become q8_0 blocks (32
// values, one scale), those of a q4_K/q6_K weight become q8_K blocks (256 values, an fp32 scale and
// the sums of each 16 quants). The rounding is ggml's reference one (quantize_row_q8_0_ref: round
// half away from zero; quantize_row_q8_K_ref: scale −127/max, round to nearest even), so the
// quantised activations are ggml's bit for bit; ggml's own AVX2 activation quantiser rounds
// q8_0 ties to even instead, a difference of one level on exact ties only.
//
// The activation error this adds: |x − x̂| ≤ d/2 per value with d = amax/127 of its block (q8_0
// also rounds d to f16: ≤ 2^-11·amax/127 more per level, folded in by the tests' bound).
// Non-finite activations: a block holding a NaN/Inf gets the scale NaN (and zero quants), so the
// outputs that use it are NaN as in an fp32 matmul — no undefined float→int conversion.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "dsv2/core/dtype.hpp"
#include "dsv2/quant/blocks.hpp"
#include "dsv2/quant/quantize.hpp"

namespace dsv2::quant {

/// T rows of K activations as q8_0 blocks, with each block's scale also kept as fp32 (`scales`),
/// so that the dot products do not convert an f16 per block, token and weight row.
struct q8_0_activations {
    std::int64_t rows = 0, blocks_per_row = 0;
    std::vector<block_q8_0> blocks;  // [rows, blocks_per_row]
    std::vector<float> scales;       // [rows, blocks_per_row], f16_to_float(blocks[i].d)
};

/// T rows of K activations as q8_K blocks.
struct q8_k_activations {
    std::int64_t rows = 0, blocks_per_row = 0;
    std::vector<block_q8_k> blocks;  // [rows, blocks_per_row]
};

namespace detail {
inline bool all_finite(const float* x, int n) noexcept {
    bool finite = true;
    for (int i = 0; i < n; ++i) finite &= std::fabs(x[i]) <= std::numeric_limits<float>::max();
    return finite;
}
}  // namespace detail

/// One block of 32 activations to q8_0 (ggml's quantize_row_q8_0_ref).
DSV2_QUANT_EXACT_FP inline void quantize_activation_block(const float* x, block_q8_0& out, float& scale) noexcept {
    DSV2_QUANT_EXACT_FP_BODY
    if (!detail::all_finite(x, qk32)) {
        out = block_q8_0{};
        out.d = 0x7e00;  // f16 NaN
        scale = std::numeric_limits<float>::quiet_NaN();
        return;
    }
    float amax = 0.0f;
    for (int j = 0; j < qk32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out.d = float_to_f16(d);
    for (int j = 0; j < qk32; ++j) out.qs[j] = static_cast<std::int8_t>(std::round(x[j] * id));
    scale = f16_to_float(out.d);
}

/// One block of 256 activations to q8_K (ggml's quantize_row_q8_K_ref).
DSV2_QUANT_EXACT_FP inline void quantize_activation_block(const float* x, block_q8_k& out) noexcept {
    DSV2_QUANT_EXACT_FP_BODY
    out = block_q8_k{};
    if (!detail::all_finite(x, qk_k)) {
        out.d = std::numeric_limits<float>::quiet_NaN();
        return;
    }
    const float max = detail::signed_absmax(x, qk_k);
    if (max == 0.0f) return;  // all zero: d = 0, zero quants
    const float iscale = -127.f / max;
    for (int j = 0; j < qk_k; ++j) out.qs[j] = static_cast<std::int8_t>(std::min(127, detail::nearest_int(iscale * x[j])));
    for (int j = 0; j < qk_k / 16; ++j) {
        int sum = 0;
        for (int i = 0; i < 16; ++i) sum += out.qs[16 * j + i];
        out.bsums[j] = static_cast<std::int16_t>(sum);
    }
    out.d = 1 / iscale;
}

/// x [T, K] (row-major, K a multiple of 32) → q8_0 blocks; `out`'s storage is reused.
inline void quantize_activations(const float* x, std::int64_t T, std::int64_t K, q8_0_activations& out) {
    out.rows = T;
    out.blocks_per_row = K / qk32;
    const std::int64_t total = T * out.blocks_per_row;
    out.blocks.resize(static_cast<std::size_t>(total));
    out.scales.resize(static_cast<std::size_t>(total));
    for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t b = 0; b < out.blocks_per_row; ++b) {
            const std::int64_t i = t * out.blocks_per_row + b;
            quantize_activation_block(x + t * K + b * qk32, out.blocks[static_cast<std::size_t>(i)],
                                      out.scales[static_cast<std::size_t>(i)]);
        }
}

/// x [T, K] (row-major, K a multiple of 256) → q8_K blocks; `out`'s storage is reused.
inline void quantize_activations(const float* x, std::int64_t T, std::int64_t K, q8_k_activations& out) {
    out.rows = T;
    out.blocks_per_row = K / qk_k;
    out.blocks.resize(static_cast<std::size_t>(T * out.blocks_per_row));
    for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t b = 0; b < out.blocks_per_row; ++b)
            quantize_activation_block(x + t * K + b * qk_k, out.blocks[static_cast<std::size_t>(t * out.blocks_per_row + b)]);
}

}  // namespace dsv2::quant
