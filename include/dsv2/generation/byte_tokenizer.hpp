// A byte-level tokenizer: each UTF-8 byte b is token b (0..255); bos, eos and pad follow (256, 257,
// 258 by default). It serves the demo model and any model trained on raw bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dsv2/core/error.hpp"
#include "dsv2/generation/text_decoder.hpp"

namespace dsv2 {

class byte_tokenizer {
public:
    std::int64_t bos_id = 256, eos_id = 257, pad_id = 258;

    /// Bytes of `text` as ids, with bos first when asked.
    std::vector<std::int64_t> encode(std::string_view text, bool add_bos = true) const {
        std::vector<std::int64_t> ids;
        ids.reserve(text.size() + 1);
        if (add_bos) ids.push_back(bos_id);
        for (unsigned char c : text) ids.push_back(c);
        return ids;
    }

    /// Ids back to bytes; bos/eos/pad are dropped, any other id ≥ 256 is an input_error.
    std::string decode(const std::vector<std::int64_t>& ids) const {
        std::string out;
        for (std::size_t i = 0; i < ids.size(); ++i) {
            const std::int64_t id = ids[i];
            if (id >= 0 && id < 256) {
                out.push_back(static_cast<char>(static_cast<unsigned char>(id)));
            } else if (id != bos_id && id != eos_id && id != pad_id) {
                throw input_error("ids", "id " + std::to_string(id) + " at [" + std::to_string(i) + "] is not a byte or a special token");
            }
        }
        return out;
    }

    /// One id as text ("" for special tokens) — for streaming. Bytes of a multi-byte UTF-8
    /// character arrive one by one; a terminal puts them back together.
    std::string decode_one(std::int64_t id) const {
        return id >= 0 && id < 256 ? std::string(1, static_cast<char>(static_cast<unsigned char>(id))) : std::string();
    }

    /// A fresh incremental decoder per call (for generate()'s stop strings and streaming).
    text_decoder_factory text_decoders() const;
};

/// The incremental decoder of a byte_tokenizer: bytes are held back until they complete a UTF-8
/// character, so push() never returns half a character. Special ids give ""; a byte that cannot
/// be part of valid UTF-8 (or a sequence broken by one) is passed through as it is.
class byte_text_decoder {
public:
    std::string push(std::int64_t id) {
        if (id < 0 || id > 255) return {};
        const auto b = static_cast<unsigned char>(id);
        if (!pending_.empty() && (b & 0xC0) != 0x80) {  // a broken sequence: pass its bytes through
            std::string head = flush();
            return head + push(id);
        }
        pending_.push_back(static_cast<char>(b));
        const auto lead = static_cast<unsigned char>(pending_.front());
        const std::size_t need = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
        return pending_.size() >= need ? flush() : std::string();
    }

private:
    std::string flush() { return std::exchange(pending_, std::string()); }
    std::string pending_;
};

inline text_decoder_factory byte_tokenizer::text_decoders() const {
    return dsv2::text_decoders([] { return byte_text_decoder{}; });
}

}  // namespace dsv2
