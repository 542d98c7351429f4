// Rows of GGML-typed values to fp32: the scalar reference every kernel is checked against.
// Formulas are ggml's (dequantize_row_* of ggml-quants.c); the results are bit-identical to
// ggml's portable C and to gguf-py's gguf.quants.dequantize (tests/quant/test_dequantize.cpp),
// which is why the arithmetic is kept unfused (DSV2_QUANT_EXACT_FP).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "dsv2/core/dtype.hpp"
#include "dsv2/core/error.hpp"
#include "dsv2/quant/blocks.hpp"
#include "dsv2/quant/ggml_type.hpp"

namespace dsv2 {

/// The types dequantize_row and quantize_row implement.
constexpr bool is_dequantizable(ggml_type type) noexcept {
    switch (type) {
        case ggml_type::f32: case ggml_type::f16: case ggml_type::bf16:
        case ggml_type::q8_0: case ggml_type::q4_0: case ggml_type::q5_0:
        case ggml_type::q4_k: case ggml_type::q6_k:
            return true;
        default:
            return false;
    }
}

}  // namespace dsv2

namespace dsv2::quant::detail {

/// Throws unless `n` values of `type` are a whole number of blocks of a type we implement.
inline void check_row(ggml_type type, std::int64_t n, const char* what) {
    if (!is_dequantizable(type))
        throw unsupported_error(std::string(what) + ": ggml type " + std::string(name_of(type)) + " (id " +
                                std::to_string(static_cast<std::uint32_t>(type)) + ") is not supported");
    const std::int64_t block = traits_of(type).block_elements;
    if (n < 0 || n % block != 0)
        throw input_error(std::string(what) + ": n", std::to_string(n) + " values are not a whole number of " +
                                                         std::string(name_of(type)) + " blocks of " +
                                                         std::to_string(block));
}

DSV2_QUANT_EXACT_FP inline void dequantize_q8_0(const block_q8_0* x, float* y, std::int64_t blocks) noexcept {
    DSV2_QUANT_EXACT_FP_BODY
    for (std::int64_t i = 0; i < blocks; ++i) {
        const float d = f16_to_float(x[i].d);
        for (int j = 0; j < qk32; ++j) y[i * qk32 + j] = static_cast<float>(x[i].qs[j]) * d;
    }
}

DSV2_QUANT_EXACT_FP inline void dequantize_q4_0(const block_q4_0* x, float* y, std::int64_t blocks) noexcept {
    DSV2_QUANT_EXACT_FP_BODY
    for (std::int64_t i = 0; i < blocks; ++i) {
        const float d = f16_to_float(x[i].d);
        for (int j = 0; j < qk32 / 2; ++j) {
            y[i * qk32 + j] = static_cast<float>((x[i].qs[j] & 0x0F) - 8) * d;
            y[i * qk32 + j + qk32 / 2] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

DSV2_QUANT_EXACT_FP inline void dequantize_q5_0(const block_q5_0* x, float* y, std::int64_t blocks) noexcept {
    DSV2_QUANT_EXACT_FP_BODY
    for (std::int64_t i = 0; i < blocks; ++i) {
        const float d = f16_to_float(x[i].d);
        std::uint32_t qh;
        std::memcpy(&qh, x[i].qh, sizeof qh);
        for (int j = 0; j < qk32 / 2; ++j) {
            const int high0 = static_cast<int>((qh >> j) & 1u) << 4;
            const int high1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
            y[i * qk32 + j] = static_cast<float>(((x[i].qs[j] & 0x0F) | high0) - 16) * d;
            y[i * qk32 + j + qk32 / 2] = static_cast<float>(((x[i].qs[j] >> 4) | high1) - 16) * d;
        }
    }
}

DSV2_QUANT_EXACT_FP inline void dequantize_q4_k(const block_q4_k* x, float* y, std::int64_t blocks) noexcept {
    DSV2_QUANT_EXACT_FP_BODY
    for (std::int64_t i = 0; i < blocks; ++i) {
        const float d = f16_to_float(x[i].d), dmin = f16_to_float(x[i].dmin);
        const std::uint8_t* q = x[i].qs;
        for (int chunk = 0; chunk < 4; ++chunk, q += 32) {
            std::uint8_t sc, m;
            q4_k_scale_min(2 * chunk, x[i].scales, sc, m);
            const float d_low = d * sc, m_low = dmin * m;
            q4_k_scale_min(2 * chunk + 1, x[i].scales, sc, m);
            const float d_high = d * sc, m_high = dmin * m;
            for (int l = 0; l < 32; ++l) *y++ = d_low * static_cast<float>(q[l] & 0xF) - m_low;
            for (int l = 0; l < 32; ++l) *y++ = d_high * static_cast<float>(q[l] >> 4) - m_high;
        }
    }
}

DSV2_QUANT_EXACT_FP inline void dequantize_q6_k(const block_q6_k* x, float* y, std::int64_t blocks) noexcept {
    DSV2_QUANT_EXACT_FP_BODY
    for (std::int64_t i = 0; i < blocks; ++i) {
        const float d = f16_to_float(x[i].d);
        const std::uint8_t* ql = x[i].ql;
        const std::uint8_t* qh = x[i].qh;
        const std::int8_t* sc = x[i].scales;
        for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
                y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
                y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
                y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
            }
        }
    }
}

}  // namespace dsv2::quant::detail

namespace dsv2 {

/// dst[0, n) = the n values stored at src as `type` (a row, or any run of whole blocks).
/// Throws unsupported_error for a type not implemented here (naming it), input_error when n is
/// negative or not a whole number of blocks.
inline void dequantize_row(ggml_type type, const void* src, float* dst, std::int64_t n) {
    quant::detail::check_row(type, n, "dequantize_row");
    const std::int64_t blocks = n / traits_of(type).block_elements;
    switch (type) {
        case ggml_type::f32:
            if (n > 0) std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
            return;
        case ggml_type::f16:
        case ggml_type::bf16: {
            const auto* bytes = static_cast<const unsigned char*>(src);  // any alignment
            for (std::int64_t i = 0; i < n; ++i) {
                std::uint16_t bits;
                std::memcpy(&bits, bytes + 2 * i, 2);
                dst[i] = type == ggml_type::f16 ? f16_to_float(bits) : bf16_to_float(bits);
            }
            return;
        }
        case ggml_type::q8_0: return quant::detail::dequantize_q8_0(static_cast<const quant::block_q8_0*>(src), dst, blocks);
        case ggml_type::q4_0: return quant::detail::dequantize_q4_0(static_cast<const quant::block_q4_0*>(src), dst, blocks);
        case ggml_type::q5_0: return quant::detail::dequantize_q5_0(static_cast<const quant::block_q5_0*>(src), dst, blocks);
        case ggml_type::q4_k: return quant::detail::dequantize_q4_k(static_cast<const quant::block_q4_k*>(src), dst, blocks);
        case ggml_type::q6_k: return quant::detail::dequantize_q6_k(static_cast<const quant::block_q6_k*>(src), dst, blocks);
        default: return;  // excluded by check_row
    }
}

}  // namespace dsv2
