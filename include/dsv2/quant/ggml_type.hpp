// GGML's tensor types: the ids a GGUF file stores, and the block layout of each (elements per
// block, bytes per block). The numbering and sizes are ggml's (ggml.h, `enum ggml_type`; the block
// structs of ggml-common.h) — a file format fact, checked against gguf-py's GGML_QUANT_SIZES by
// tests/quant/test_ggml_type.cpp (q2_0, newer than gguf-py 0.19.0, against ggml.h). Ids that ggml
// retired (4, 5, 31–33, 36–38) are not types.
//
// Which of these dsv2 can compute with is a separate question (is_supported_weight_type, quant/quantize.hpp); the table is
// complete so that a reader can size every tensor of a file and name the type it refuses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dsv2 {

enum class ggml_type : std::uint32_t {
    f32 = 0,
    f16 = 1,
    q4_0 = 2,
    q4_1 = 3,
    q5_0 = 6,
    q5_1 = 7,
    q8_0 = 8,
    q8_1 = 9,
    q2_k = 10,
    q3_k = 11,
    q4_k = 12,
    q5_k = 13,
    q6_k = 14,
    q8_k = 15,
    iq2_xxs = 16,
    iq2_xs = 17,
    iq3_xxs = 18,
    iq1_s = 19,
    iq4_nl = 20,
    iq3_s = 21,
    iq2_s = 22,
    iq4_xs = 23,
    i8 = 24,
    i16 = 25,
    i32 = 26,
    i64 = 27,
    f64 = 28,
    iq1_m = 29,
    bf16 = 30,
    tq1_0 = 34,
    tq2_0 = 35,
    mxfp4 = 39,
    nvfp4 = 40,
    q1_0 = 41,
    q2_0 = 42,
};

/// Layout of one type: `block_elements` consecutive values of a row are stored in `block_bytes`.
struct ggml_type_traits {
    ggml_type type;
    std::string_view name;  ///< ggml's spelling: "f32", "q8_0", "q4_K", ...
    std::uint32_t block_elements;
    std::uint32_t block_bytes;
};

/// Every type ggml defines today, in id order.
inline constexpr ggml_type_traits ggml_types[] = {
    {ggml_type::f32, "f32", 1, 4},          {ggml_type::f16, "f16", 1, 2},
    {ggml_type::q4_0, "q4_0", 32, 18},      {ggml_type::q4_1, "q4_1", 32, 20},
    {ggml_type::q5_0, "q5_0", 32, 22},      {ggml_type::q5_1, "q5_1", 32, 24},
    {ggml_type::q8_0, "q8_0", 32, 34},      {ggml_type::q8_1, "q8_1", 32, 36},
    {ggml_type::q2_k, "q2_K", 256, 84},     {ggml_type::q3_k, "q3_K", 256, 110},
    {ggml_type::q4_k, "q4_K", 256, 144},    {ggml_type::q5_k, "q5_K", 256, 176},
    {ggml_type::q6_k, "q6_K", 256, 210},    {ggml_type::q8_k, "q8_K", 256, 292},
    {ggml_type::iq2_xxs, "iq2_xxs", 256, 66}, {ggml_type::iq2_xs, "iq2_xs", 256, 74},
    {ggml_type::iq3_xxs, "iq3_xxs", 256, 98}, {ggml_type::iq1_s, "iq1_s", 256, 50},
    {ggml_type::iq4_nl, "iq4_nl", 32, 18},  {ggml_type::iq3_s, "iq3_s", 256, 110},
    {ggml_type::iq2_s, "iq2_s", 256, 82},   {ggml_type::iq4_xs, "iq4_xs", 256, 136},
    {ggml_type::i8, "i8", 1, 1},            {ggml_type::i16, "i16", 1, 2},
    {ggml_type::i32, "i32", 1, 4},          {ggml_type::i64, "i64", 1, 8},
    {ggml_type::f64, "f64", 1, 8},          {ggml_type::iq1_m, "iq1_m", 256, 56},
    {ggml_type::bf16, "bf16", 1, 2},        {ggml_type::tq1_0, "tq1_0", 256, 54},
    {ggml_type::tq2_0, "tq2_0", 256, 66},   {ggml_type::mxfp4, "mxfp4", 32, 17},
    {ggml_type::nvfp4, "nvfp4", 64, 36},    {ggml_type::q1_0, "q1_0", 128, 18},
    {ggml_type::q2_0, "q2_0", 64, 18},
};

/// The traits of a raw id read from a file; nullopt for an id ggml does not define.
constexpr std::optional<ggml_type_traits> ggml_type_from_id(std::uint32_t id) noexcept {
    for (const auto& t : ggml_types)
        if (static_cast<std::uint32_t>(t.type) == id) return t;
    return std::nullopt;
}

/// The traits of a (valid) type.
constexpr ggml_type_traits traits_of(ggml_type type) noexcept {
    for (const auto& t : ggml_types)
        if (t.type == type) return t;
    return {type, "?", 0, 0};
}

constexpr std::string_view name_of(ggml_type type) noexcept { return traits_of(type).name; }

/// A type by ggml's name, case-insensitively ("Q4_K", "q4_k", "BF16").
constexpr std::optional<ggml_type> ggml_type_from_name(std::string_view name) noexcept {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    for (const auto& t : ggml_types) {
        if (t.name.size() != name.size()) continue;
        bool same = true;
        for (std::size_t i = 0; i < name.size() && same; ++i) same = lower(t.name[i]) == lower(name[i]);
        if (same) return t.type;
    }
    return std::nullopt;
}

/// Bytes of a row of `elements` values; nullopt when `elements` is not a whole number of blocks
/// or the size does not fit in 64 bits.
constexpr std::optional<std::uint64_t> row_bytes(ggml_type type, std::uint64_t elements) noexcept {
    const ggml_type_traits t = traits_of(type);
    if (t.block_elements == 0 || elements % t.block_elements != 0) return std::nullopt;
    const std::uint64_t blocks = elements / t.block_elements;
    if (blocks > UINT64_MAX / t.block_bytes) return std::nullopt;
    return blocks * t.block_bytes;
}

constexpr bool is_block_quantized(ggml_type type) noexcept { return traits_of(type).block_elements > 1; }

}  // namespace dsv2
