// The GPT-2 byte-level alphabet: every byte maps to one printable code point (printable Latin-1
// bytes to themselves, the other 68 bytes to U+0100.. in byte order), so that any byte string
// becomes a string of vocabulary characters and back.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dsv2/text/utf8.hpp"

namespace dsv2::text {

class byte_level_alphabet {
public:
    static const byte_level_alphabet& get() {
        static const byte_level_alphabet instance;
        return instance;
    }
    /// UTF-8 of the character that stands for byte `b`.
    const std::string& char_of(unsigned char b) const noexcept { return chars_[b]; }
    /// Appends the byte-level form of `bytes` to `out`.
    void encode(std::string_view bytes, std::string& out) const {
        for (char c : bytes) out += chars_[static_cast<unsigned char>(c)];
    }
    /// The byte a character stands for, or -1 when it is not in the alphabet.
    int byte_of(char32_t cp) const noexcept { return cp < 324 ? bytes_[cp] : -1; }

private:
    byte_level_alphabet() {
        bytes_.fill(-1);
        auto printable = [](int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255); };
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const char32_t cp = printable(b) ? static_cast<char32_t>(b) : next++;
            utf8_append(chars_[static_cast<std::size_t>(b)], cp);
            bytes_[cp] = static_cast<std::int16_t>(b);
        }
    }
    std::array<std::string, 256> chars_;
    std::array<std::int16_t, 324> bytes_{};
};

}  // namespace dsv2::text
