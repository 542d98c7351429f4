// fp32 rows to GGML blocks with ggml's *reference* quantisers (quantize_row_*_ref of
// ggml-quants.c: the deterministic ones llama.cpp's converters and llama-quantize use when no
// importance matrix is given), reproduced operation for operation so that the bytes match:
//   q8_0  d = amax/127, q = roundf(x/d)                    (round half away from zero)
//   q4_0  d = max/−8 (max: the value of largest |x|), q = min(15, trunc(x/d + 8.5))
//   q5_0  d = max/−16,                                q = min(31, trunc(x/d + 16.5))
//   q4_K  per 32: make_qkx2_quants (scale and min searched over 21 candidate grids, weighted
//         by |x| + rms), then the 8 scales/mins quantised to 6 bits and the quants redone
//   q6_K  per 16: make_qx_quants (rmse_type 1: 19 candidate scales, weights x²), the 16 scales
//         quantised to int8 against the largest, the quants redone
//   f16 / bf16: round to nearest even; f32: copied.
// Checked byte for byte against gguf-py (q8_0, q4_0, q5_0, f16, bf16) and against ggml's own C
// compiled from source (q4_K, q6_K; tools/quant_crosscheck/), see docs/quantization.md.
//
// Non-finite input: ggml asserts (or writes garbage); dsv2 throws input_error naming the index of
// the first NaN/Inf, before writing anything.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <vector>
#include <string>

#include "dsv2/quant/dequantize.hpp"

namespace dsv2::quant::detail {

/// Round to nearest, ties to even, for |v| < 2^22: ggml's nearest_int (adds 1.5·2^23 and reads the
/// mantissa). Defined for every float (no float→int conversion), garbage but no UB outside the range.
inline int nearest_int(float v) noexcept {
    const float shifted = v + 12582912.f;
    return static_cast<int>(std::bit_cast<std::uint32_t>(shifted) & 0x007fffffu) - 0x00400000;
}

/// Blocks are written through a local copy: dst needs no alignment.
template <class Block>
inline void store_block(void* dst, std::int64_t i, const Block& b) noexcept {
    std::memcpy(static_cast<unsigned char*>(dst) + i * static_cast<std::int64_t>(sizeof(Block)), &b, sizeof(Block));
}

DSV2_QUANT_EXACT_FP inline void quantize_q8_0(const float* x, void* dst, std::int64_t blocks) noexcept {
    DSV2_QUANT_EXACT_FP_BODY
    for (std::int64_t i = 0; i < blocks; ++i, x += qk32) {
        float amax = 0.0f;
        for (int j = 0; j < qk32; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        block_q8_0 b{};
        b.d = float_to_f16(d);
        for (int j = 0; j < qk32; ++j) b.qs[j] = static_cast<std::int8_t>(std::round(x[j] * id));
        store_block(dst, i, b);
    }
}

/// The value of largest magnitude (the first one on ties), sign kept: q4_0/q5_0 map it to −8/−16.
inline float signed_absmax(const float* x, int n) noexcept {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; ++j)
        if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    return max;
}

DSV2_QUANT_EXACT_FP inline void quantize_q4_0(const float* x, void* dst, std::int64_t blocks) noexcept {
    DSV2_QUANT_EXACT_FP_BODY
    for (std::int64_t i = 0; i < blocks; ++i, x += qk32) {
        const float d = signed_absmax(x, qk32) / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        block_q4_0 b{};
        b.d = float_to_f16(d);
        for (int j = 0; j < qk32 / 2; ++j) {
            // x·id ∈ [−8, 8], so the shifted value is in [0.5, 16.5]: truncation is a floor.
            const int low = std::min(15, static_cast<int>(x[j] * id + 8.5f));
            const int high = std::min(15, static_cast<int>(x[j + qk32 / 2] * id + 8.5f));
            b.qs[j] = static_cast<std::uint8_t>(low | (high << 4));
        }
        store_block(dst, i, b);
    }
}

DSV2_QUANT_EXACT_FP inline void quantize_q5_0(const float* x, void* dst, std::int64_t blocks) noexcept {
    DSV2_QUANT_EXACT_FP_BODY
    for (std::int64_t i = 0; i < blocks; ++i, x += qk32) {
        const float d = signed_absmax(x, qk32) / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        block_q5_0 b{};
        b.d = float_to_f16(d);
        std::uint32_t qh = 0;
        for (int j = 0; j < qk32 / 2; ++j) {
            const int low = std::min(31, static_cast<int>(x[j] * id + 16.5f));
            const int high = std::min(31, static_cast<int>(x[j + qk32 / 2] * id + 16.5f));
            b.qs[j] = static_cast<std::uint8_t>((low & 0x0F) | ((high & 0x0F) << 4));
            qh |= static_cast<std::uint32_t>((low >> 4) & 1) << j;
            qh |= static_cast<std::uint32_t>((high >> 4) & 1) << (j + qk32 / 2);
        }
        std::memcpy(b.qh, &qh, sizeof qh);  // little-endian, as ggml
        store_block(dst, i, b);
    }
}

/// ggml's make_qkx2_quants: levels L[i] ∈ [0, nmax] and (scale, min ≥ 0) with
/// x ≈ scale·L − min, minimising Σ w·(scale·L − min − x)² over nstep+1 candidate grids.
DSV2_QUANT_EXACT_FP inline float make_qkx2_quants(int n, int nmax, const float* x, const float* weights,
                                                  std::uint8_t* L, float* the_min, std::uint8_t* Laux,
                                                  float rmin, float rdelta, int nstep) noexcept {
    DSV2_QUANT_EXACT_FP_BODY
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = static_cast<float>(nmax) / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = static_cast<std::uint8_t>(std::max(0, std::min(nmax, l)));
        float diff = scale * L[i] + min - x[i];
        diff = diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * (x[i] - min));
            l = std::max(0, std::min(nmax, l));
            Laux[i] = static_cast<std::uint8_t>(l);
            const float w = weights[i];
            sum_l += w * static_cast<float>(l);
            sum_l2 += w * static_cast<float>(l) * static_cast<float>(l);
            sum_xl += w * static_cast<float>(l) * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

DSV2_QUANT_EXACT_FP inline void quantize_q4_k(const float* x, void* dst, std::int64_t blocks) noexcept {
    DSV2_QUANT_EXACT_FP_BODY
    std::uint8_t L[qk_k];
    std::uint8_t Laux[32];
    float weights[32];
    float mins[qk_k / 32];
    float scales[qk_k / 32];
    for (std::int64_t i = 0; i < blocks; ++i, x += qk_k) {
        float max_scale = 0, max_min = 0;  // scales and mins are ≥ 0: the min is subtracted
        for (int j = 0; j < qk_k / 32; ++j) {
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
            const float av_x = std::sqrt(sum_x2 / 32);
            for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
            scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20);
            max_scale = std::max(max_scale, scales[j]);
            max_min = std::max(max_min, mins[j]);
        }
        block_q4_k b{};
        const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < qk_k / 32; ++j) {
            // ggml stores nearest_int into a uint8_t (wrapping), then clamps to 63
            const auto ls = std::min<std::uint8_t>(63, static_cast<std::uint8_t>(nearest_int(inv_scale * scales[j])));
            const auto lm = std::min<std::uint8_t>(63, static_cast<std::uint8_t>(nearest_int(inv_min * mins[j])));
            if (j < 4) {
                b.scales[j] = ls;
                b.scales[j + 4] = lm;
            } else {
                b.scales[j + 4] = static_cast<std::uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
                b.scales[j - 4] |= static_cast<std::uint8_t>((ls >> 4) << 6);
                b.scales[j] |= static_cast<std::uint8_t>((lm >> 4) << 6);
            }
        }
        b.d = float_to_f16(max_scale / 63.f);
        b.dmin = float_to_f16(max_min / 63.f);
        for (int j = 0; j < qk_k / 32; ++j) {  // the quants again, against the 6-bit scales
            std::uint8_t sc, m;
            q4_k_scale_min(j, b.scales, sc, m);
            const float d = f16_to_float(b.d) * sc;
            if (d == 0.0f) continue;  // keeps make_qkx2_quants' levels, as ggml
            const float dm = f16_to_float(b.dmin) * m;
            for (int ii = 0; ii < 32; ++ii) {
                const int l = nearest_int((x[32 * j + ii] + dm) / d);
                L[32 * j + ii] = static_cast<std::uint8_t>(std::max(0, std::min(15, l)));
            }
        }
        for (int chunk = 0; chunk < 4; ++chunk)
            for (int l = 0; l < 32; ++l)
                b.qs[32 * chunk + l] = static_cast<std::uint8_t>(L[64 * chunk + l] | (L[64 * chunk + l + 32] << 4));
        store_block(dst, i, b);
    }
}

/// ggml's make_qx_quants with rmse_type 1 and no importance weights (weights x²): levels
/// L[i] − nmax ∈ [−nmax, nmax − 1] and the scale minimising Σ x²·(scale·l − x)² over 19 grids.
DSV2_QUANT_EXACT_FP inline float make_qx_quants_rmse1(int n, int nmax, const float* x, std::int8_t* L) noexcept {
    DSV2_QUANT_EXACT_FP_BODY
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < 1e-15f) {  // GROUP_MAX_EPS: all zero
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = static_cast<float>(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = std::max(-nmax, std::min(nmax - 1, l));
        L[i] = static_cast<std::int8_t>(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * static_cast<float>(l);
        suml2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * x[i]);
            l = std::max(-nmax, std::min(nmax - 1, l));
            const float w = x[i] * x[i];
            sumlx += w * x[i] * static_cast<float>(l);
            suml2 += w * static_cast<float>(l) * static_cast<float>(l);
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                const int l = nearest_int(iscale * x[i]);
                L[i] = static_cast<std::int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

DSV2_QUANT_EXACT_FP inline void quantize_q6_k(const float* x, void* dst, std::int64_t blocks) noexcept {
    DSV2_QUANT_EXACT_FP_BODY
    std::int8_t L[qk_k];
    float scales[qk_k / 16];
    for (std::int64_t i = 0; i < blocks; ++i, x += qk_k) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < qk_k / 16; ++ib) {
            const float scale = make_qx_quants_rmse1(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            if (std::fabs(scale) > max_abs_scale) {
                max_abs_scale = std::fabs(scale);
                max_scale = scale;
            }
        }
        block_q6_k b{};
        if (max_abs_scale < 1e-15f) {  // all zero: d = 0 and zero bytes
            store_block(dst, i, b);
            continue;
        }
        const float iscale = -128.f / max_scale;
        b.d = float_to_f16(1 / iscale);
        for (int ib = 0; ib < qk_k / 16; ++ib)
            b.scales[ib] = static_cast<std::int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
        for (int j = 0; j < qk_k / 16; ++j) {  // the quants again, against the int8 scales
            const float d = f16_to_float(b.d) * static_cast<float>(b.scales[j]);
            if (d == 0.0f) continue;
            for (int ii = 0; ii < 16; ++ii) {
                const int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = static_cast<std::int8_t>(std::max(-32, std::min(31, l)) + 32);
            }
        }
        std::uint8_t* ql = b.ql;
        std::uint8_t* qh = b.qh;
        for (int j = 0; j < qk_k; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; ++l) {
                const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
                ql[l] = static_cast<std::uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = static_cast<std::uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] = static_cast<std::uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
        store_block(dst, i, b);
    }
}

}  // namespace dsv2::quant::detail

namespace dsv2 {

/// The weight types dsv2's CPU kernels compute with (matmul_nt_quant, backend/cpu/quant/):
/// f32, f16, bf16, q8_0, q4_0, q5_0, q4_K, q6_K. Any other type of a GGUF file is refused by name.
constexpr bool is_supported_weight_type(ggml_type type) noexcept { return is_dequantizable(type); }

/// dst = the n values of src as `type` (row_bytes(type, n) bytes; dst needs no alignment).
/// Throws unsupported_error for a type not implemented here, input_error when n is negative or
/// not a whole number of blocks, or when src holds a NaN/Inf (naming its index; nothing written).
inline void quantize_row(ggml_type type, const float* src, void* dst, std::int64_t n) {
    quant::detail::check_row(type, n, "quantize_row");
    for (std::int64_t i = 0; i < n; ++i)
        if (!std::isfinite(src[i]))
            throw input_error("quantize_row: src[" + std::to_string(i) + "]",
                              "is not finite; ggml types hold finite values only");
    const std::int64_t blocks = n / traits_of(type).block_elements;
    auto* bytes = static_cast<unsigned char*>(dst);
    switch (type) {
        case ggml_type::f32:
            if (n > 0) std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
            return;
        case ggml_type::f16:
        case ggml_type::bf16:
            for (std::int64_t i = 0; i < n; ++i) {
                const std::uint16_t bits = type == ggml_type::f16 ? float_to_f16(src[i]) : float_to_bf16(src[i]);
                std::memcpy(bytes + 2 * i, &bits, 2);
            }
            return;
        case ggml_type::q8_0: return quant::detail::quantize_q8_0(src, dst, blocks);
        case ggml_type::q4_0: return quant::detail::quantize_q4_0(src, dst, blocks);
        case ggml_type::q5_0: return quant::detail::quantize_q5_0(src, dst, blocks);
        case ggml_type::q4_k: return quant::detail::quantize_q4_k(src, dst, blocks);
        case ggml_type::q6_k: return quant::detail::quantize_q6_k(src, dst, blocks);
        default: return;  // excluded by check_row
    }
}

/// `rows` rows of `cols` values as `type` into dst (rows · row_bytes(type, cols) bytes): row r's
/// fp32 values come from row_of(r, float* out). Rows are quantised in parallel (OpenMP threads
/// take blocks of rows; row_of must be safe to call concurrently); an exception from any row is
/// rethrown here, after the parallel region (it must not leave one).
template <class RowOf>
void quantize_rows(ggml_type type, std::int64_t rows, std::int64_t cols, RowOf&& row_of, std::byte* dst) {
    quant::detail::check_row(type, cols, "quantize_rows");
    const std::size_t rb = static_cast<std::size_t>(row_bytes(type, static_cast<std::uint64_t>(cols)).value_or(0));
    std::exception_ptr error;
#if defined(_OPENMP)
#pragma omp parallel if (rows * cols >= (std::int64_t{1} << 16))
#endif
    {
        std::vector<float> row(static_cast<std::size_t>(cols));
#if defined(_OPENMP)
#pragma omp for schedule(dynamic, 64)
#endif
        for (std::int64_t r = 0; r < rows; ++r) {
            try {
                row_of(r, row.data());
                quantize_row(type, row.data(), dst + static_cast<std::size_t>(r) * rb, cols);
            } catch (...) {
#if defined(_OPENMP)
#pragma omp critical(dsv2_quantize_rows_error)
#endif
                if (!error) error = std::current_exception();
            }
        }
    }
    if (error) std::rethrow_exception(error);
}

}  // namespace dsv2
