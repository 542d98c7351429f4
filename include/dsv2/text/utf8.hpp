// UTF-8 helpers of the tokenizer: validation (encode rejects invalid input), the lossy conversion
// that Hugging Face decoders apply (each maximal invalid subpart becomes one U+FFFD, as Rust's
// String::from_utf8_lossy does), and the length of the complete prefix (streaming decode).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dsv2::text {

/// "\xEF\xBF\xBD", U+FFFD REPLACEMENT CHARACTER.
inline constexpr std::string_view utf8_replacement = "\xEF\xBF\xBD";

/// Length of the valid UTF-8 sequence starting at s[i], or the length of its maximal invalid
/// subpart as a negative number (-1 .. -3). s[i] must exist.
inline int utf8_sequence(std::string_view s, std::size_t i) noexcept {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char b = byte(i);
    if (b < 0x80) return 1;
    int width = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (b >= 0xC2 && b <= 0xDF) {
        width = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        width = 3;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        width = 4;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        return -1;
    }
    for (int k = 1; k < width; ++k) {
        if (i + static_cast<std::size_t>(k) >= s.size()) return -k;
        const unsigned char c = byte(i + static_cast<std::size_t>(k));
        const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (c < l || c > h) return -k;
    }
    return width;
}

/// Byte offset of the first invalid UTF-8 byte of `s`, or nullopt when `s` is valid.
inline std::optional<std::size_t> utf8_first_invalid(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        const int n = utf8_sequence(s, i);
        if (n < 0) return i;
        i += static_cast<std::size_t>(n);
    }
    return std::nullopt;
}

/// `s` with every maximal invalid subpart replaced by U+FFFD (String::from_utf8_lossy).
inline std::string utf8_lossy(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        const int n = utf8_sequence(s, i);
        if (n > 0) {
            out.append(s.substr(i, static_cast<std::size_t>(n)));
            i += static_cast<std::size_t>(n);
        } else {
            out.append(utf8_replacement);
            i += static_cast<std::size_t>(-n);
        }
    }
    return out;
}

/// Length in bytes of the UTF-8 character starting at s[i] (1 for an invalid byte).
inline std::size_t utf8_char_length(std::string_view s, std::size_t i) noexcept {
    const int n = utf8_sequence(s, i);
    return n > 0 ? static_cast<std::size_t>(n) : 1;
}

/// Appends code point `cp` (< 0x110000, not a surrogate) as UTF-8.
inline void utf8_append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

/// Decodes the valid UTF-8 character at s[i] (callers have validated `s`).
inline char32_t utf8_decode_at(std::string_view s, std::size_t i) noexcept {
    const auto b = [&](std::size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[i + k])); };
    const char32_t c = b(0);
    if (c < 0x80) return c;
    if (c < 0xE0) return ((c & 0x1F) << 6) | (b(1) & 0x3F);
    if (c < 0xF0) return ((c & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    return ((c & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
}

}  // namespace dsv2::text
