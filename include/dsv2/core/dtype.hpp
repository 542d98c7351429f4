// Element types of checkpoints and their conversions to and from fp32.
// bf16 and f16 are stored as raw 16-bit patterns; conversions are exact (to fp32) or round to
// nearest even (from fp32), NaN kept NaN.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace dsv2 {

enum class dtype : std::uint8_t { f32, f16, bf16, f64, i64, i32, i16, i8, u8, boolean };

constexpr std::size_t size_of(dtype t) noexcept {
    switch (t) {
        case dtype::f64: case dtype::i64: return 8;
        case dtype::f32: case dtype::i32: return 4;
        case dtype::f16: case dtype::bf16: case dtype::i16: return 2;
        case dtype::i8: case dtype::u8: case dtype::boolean: return 1;
    }
    return 0;
}

/// The safetensors spelling ("F32", "BF16", ...).
constexpr std::string_view safetensors_name(dtype t) noexcept {
    switch (t) {
        case dtype::f32: return "F32";
        case dtype::f16: return "F16";
        case dtype::bf16: return "BF16";
        case dtype::f64: return "F64";
        case dtype::i64: return "I64";
        case dtype::i32: return "I32";
        case dtype::i16: return "I16";
        case dtype::i8: return "I8";
        case dtype::u8: return "U8";
        case dtype::boolean: return "BOOL";
    }
    return "?";
}

constexpr std::optional<dtype> parse_safetensors_dtype(std::string_view s) noexcept {
    for (dtype t : {dtype::f32, dtype::f16, dtype::bf16, dtype::f64, dtype::i64, dtype::i32, dtype::i16,
                    dtype::i8, dtype::u8, dtype::boolean})
        if (safetensors_name(t) == s) return t;
    return std::nullopt;
}

constexpr bool is_floating(dtype t) noexcept {
    return t == dtype::f32 || t == dtype::f16 || t == dtype::bf16 || t == dtype::f64;
}

// --- bf16 -----------------------------------------------------------------------------------------
inline float bf16_to_float(std::uint16_t bits) noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

inline std::uint16_t float_to_bf16(float f) noexcept {
    std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
    return static_cast<std::uint16_t>(u >> 16);
}

// --- f16 (IEEE binary16) -------------------------------------------------------------------------
inline float f16_to_float(std::uint16_t h) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t man = h & 0x3ffu;
    std::uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);  // inf / NaN
    } else if (exp == 0) {
        if (man == 0) {
            bits = sign;  // +-0
        } else {          // subnormal: normalise
            exp = 127 - 15 + 1;
            while ((man & 0x400u) == 0) { man <<= 1; --exp; }
            man &= 0x3ffu;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    return std::bit_cast<float>(bits);
}

inline std::uint16_t float_to_f16(float f) noexcept {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
    const std::uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);  // NaN
    if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // overflow -> inf
    if (abs < 0x38800000u) {  // below the smallest normal: subnormal or zero, round to nearest even
        const float a = std::bit_cast<float>(abs);
        const float scaled = a * 16777216.0f;  // 2^24: units of the smallest subnormal
        std::uint32_t q = static_cast<std::uint32_t>(scaled);
        const float rem = scaled - static_cast<float>(q);
        if (rem > 0.5f || (rem == 0.5f && (q & 1u))) ++q;
        return static_cast<std::uint16_t>(sign | q);
    }
    std::uint32_t v = abs - ((127u - 15u) << 23);
    v += 0xfffu + ((v >> 13) & 1u);  // round to nearest even
    return static_cast<std::uint16_t>(sign | (v >> 13));
}

}  // namespace dsv2
