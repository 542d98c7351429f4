// GGML's block structs, bit for bit: the bytes a GGUF tensor of these types holds, and the q8
// activation blocks the CPU kernels multiply them with. Fields, order and sizes are ggml's
// (ggml-common.h); the static_asserts tie them to the table of quant/ggml_type.hpp. Every struct
// is made of bytes and 16-bit halves only (q8_K: a float), so it has no padding and its alignment
// (2, q8_K 4) is met by any tensor of a GGUF file (data aligned to 32, rows whole blocks).
//
// Scales are IEEE half floats stored as raw bits (`std::uint16_t`, decoded by f16_to_float).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "dsv2/quant/ggml_type.hpp"

namespace dsv2::quant {

/// Elements of the 32-wide blocks (q8_0, q4_0, q5_0) and of the 256-wide "K" super-blocks.
inline constexpr int qk32 = 32;
inline constexpr int qk_k = 256;

/// q8_0: x[i] = d · qs[i], 32 values, 8.5 bits each.
struct block_q8_0 {
    std::uint16_t d;       ///< f16 scale
    std::int8_t qs[qk32];  ///< quants, element i at qs[i]
};

/// q4_0: x[i] = d · (q[i] − 8), q in [0, 15].
/// Nibble order: element i (0 ≤ i < 16) is the LOW nibble of qs[i], element i + 16 the HIGH
/// nibble of qs[i] — the two halves of the block share bytes, not neighbouring elements.
struct block_q4_0 {
    std::uint16_t d;           ///< f16 scale
    std::uint8_t qs[qk32 / 2];  ///< low nibbles: elements 0..15, high nibbles: 16..31
};

/// q5_0: x[i] = d · (q[i] − 16), q in [0, 31]: the low 4 bits as q4_0's nibbles, the 5th bit of
/// element i in bit i of the little-endian 32-bit word qh (bytes, so the struct stays 2-aligned).
struct block_q5_0 {
    std::uint16_t d;           ///< f16 scale
    std::uint8_t qh[4];        ///< bit i (of the LE word) = bit 4 of element i
    std::uint8_t qs[qk32 / 2];  ///< low 4 bits, nibble order as block_q4_0
};

/// q4_K: 256 values in 8 sub-blocks of 32; x = d·sc[j]·q − dmin·m[j], q in [0, 15], 4.5 bits each.
/// scales[12] packs eight 6-bit scales sc[j] and eight 6-bit mins m[j]:
///   j < 4:  sc[j] = scales[j] & 63,            m[j] = scales[j + 4] & 63
///   j ≥ 4:  sc[j] = (scales[j + 4] & 15) | (scales[j − 4] >> 6) << 4,
///           m[j]  = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4
/// qs: 4 chunks of 32 bytes; in chunk c, byte l holds element 64c + l (sub-block 2c) in its LOW
/// nibble and element 64c + 32 + l (sub-block 2c + 1) in its HIGH nibble.
struct block_q4_k {
    std::uint16_t d;            ///< f16 super-scale of the sub-block scales
    std::uint16_t dmin;         ///< f16 super-scale of the sub-block mins
    std::uint8_t scales[12];    ///< 6-bit scales and mins, packed as above
    std::uint8_t qs[qk_k / 2];  ///< 4-bit quants
};

/// q6_K: 256 values in 16 sub-blocks of 16; x = d · scales[j] · (q − 32), q in [0, 63], 6.5625 bits.
/// Two halves of 128 elements; in half h (ql += 64h, qh += 32h), for l in [0, 32):
///   element 128h + l      : low 4 bits = ql[l] & 15,      high 2 bits = qh[l] bits 0–1
///   element 128h + l + 32 : low 4 bits = ql[l + 32] & 15, high 2 bits = qh[l] bits 2–3
///   element 128h + l + 64 : low 4 bits = ql[l] >> 4,      high 2 bits = qh[l] bits 4–5
///   element 128h + l + 96 : low 4 bits = ql[l + 32] >> 4, high 2 bits = qh[l] bits 6–7
/// Sub-block j covers elements 16j .. 16j + 15.
struct block_q6_k {
    std::uint8_t ql[qk_k / 2];     ///< low 4 bits
    std::uint8_t qh[qk_k / 4];     ///< high 2 bits
    std::int8_t scales[qk_k / 16];  ///< signed 8-bit sub-block scales
    std::uint16_t d;               ///< f16 super-scale
};

/// q8_K (activations only, never stored in files): x[i] = d · qs[i] with an fp32 scale, plus the
/// sum of each 16 quants so that the min terms of q4_K (and the −32 offset of q6_K) cost one
/// multiply per sub-block instead of one per element.
struct block_q8_k {
    float d;                         ///< fp32 scale
    std::int8_t qs[qk_k];            ///< quants
    std::int16_t bsums[qk_k / 16];  ///< bsums[j] = Σ qs[16j .. 16j + 15]
};

namespace detail {
template <class Block>
constexpr bool matches(ggml_type type) {
    return std::is_standard_layout_v<Block> && std::is_trivially_copyable_v<Block> &&
           sizeof(Block) == traits_of(type).block_bytes;
}
}  // namespace detail

static_assert(detail::matches<block_q8_0>(ggml_type::q8_0) && traits_of(ggml_type::q8_0).block_elements == qk32);
static_assert(detail::matches<block_q4_0>(ggml_type::q4_0) && traits_of(ggml_type::q4_0).block_elements == qk32);
static_assert(detail::matches<block_q5_0>(ggml_type::q5_0) && traits_of(ggml_type::q5_0).block_elements == qk32);
static_assert(detail::matches<block_q4_k>(ggml_type::q4_k) && traits_of(ggml_type::q4_k).block_elements == qk_k);
static_assert(detail::matches<block_q6_k>(ggml_type::q6_k) && traits_of(ggml_type::q6_k).block_elements == qk_k);
static_assert(detail::matches<block_q8_k>(ggml_type::q8_k) && traits_of(ggml_type::q8_k).block_elements == qk_k);
static_assert(alignof(block_q8_0) == 2 && alignof(block_q4_k) == 2 && alignof(block_q6_k) == 2);

/// The 6-bit scale and min of sub-block j (0..7) of a q4_K super-block (layout above).
constexpr void q4_k_scale_min(int j, const std::uint8_t* scales, std::uint8_t& sc, std::uint8_t& m) noexcept {
    if (j < 4) {
        sc = scales[j] & 63;
        m = scales[j + 4] & 63;
    } else {
        sc = static_cast<std::uint8_t>((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
        m = static_cast<std::uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
    }
}

}  // namespace dsv2::quant

// Exact fp32 arithmetic in the reference (de)quantisers: a·b + c must round twice, as in ggml's
// portable C and in numpy, never be fused into one FMA (g++ contracts by default under -march
// with FMA). GCC: a per-function option; Clang: a pragma at the top of the function body.
#if defined(__clang__)
#define DSV2_QUANT_EXACT_FP
#define DSV2_QUANT_EXACT_FP_BODY _Pragma("clang fp contract(off)")
#elif defined(__GNUC__)
#define DSV2_QUANT_EXACT_FP __attribute__((optimize("fp-contract=off")))
#define DSV2_QUANT_EXACT_FP_BODY
#else
#define DSV2_QUANT_EXACT_FP
#define DSV2_QUANT_EXACT_FP_BODY
#endif
