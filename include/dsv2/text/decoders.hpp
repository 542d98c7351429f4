// Decoders of a tokenizer.json: ByteLevel, Sequence, Replace, Strip, Fuse and ByteFallback. Like
// `tokenizers`, each decoder maps the list of token strings to a new list (decode_chain) and the
// final text is their concatenation. Invalid UTF-8 produced by a decoder (byte-level tokens cut
// inside a character) becomes U+FFFD per maximal invalid subpart.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "dsv2/core/error.hpp"
#include "dsv2/text/byte_level.hpp"
#include "dsv2/text/json_access.hpp"
#include "dsv2/text/normalizers.hpp"
#include "dsv2/text/regex.hpp"
#include "dsv2/text/utf8.hpp"

namespace dsv2::text {

class decoder {
public:
    virtual ~decoder() = default;
    virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

/// ByteLevel: every token's characters back to bytes (a token with a character outside the
/// alphabet is kept as its UTF-8 bytes); all tokens become one lossily converted string.
class byte_level_decoder final : public decoder {
public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        const auto& alphabet = byte_level_alphabet::get();
        std::string bytes;
        for (const auto& t : tokens) {
            const std::size_t mark = bytes.size();
            bool ok = true;
            for (std::size_t i = 0; i < t.size();) {
                const int n = utf8_sequence(t, i);
                if (n < 0) { ok = false; break; }
                const int b = alphabet.byte_of(utf8_decode_at(t, i));
                if (b < 0) { ok = false; break; }
                bytes.push_back(static_cast<char>(b));
                i += static_cast<std::size_t>(n);
            }
            if (!ok) {
                bytes.resize(mark);
                bytes += t;
            }
        }
        tokens.assign(1, utf8_lossy(bytes));
    }
};

class sequence_decoder final : public decoder {
public:
    explicit sequence_decoder(std::vector<std::unique_ptr<decoder>> steps) : steps_(std::move(steps)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (const auto& d : steps_) d->decode_chain(tokens);
    }

private:
    std::vector<std::unique_ptr<decoder>> steps_;
};

/// Replace: every match of the pattern in each token becomes `content`.
class replace_decoder final : public decoder {
public:
    replace_decoder(regex pattern, std::string content) : replace_(std::move(pattern), std::move(content)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (auto& t : tokens) replace_.normalize(t);
    }

private:
    replace_normalizer replace_;
};

/// Strip: removes up to `start` leading and `stop` trailing occurrences of a character per token.
class strip_decoder final : public decoder {
public:
    strip_decoder(std::string content, std::size_t start, std::size_t stop)
        : content_(std::move(content)), start_(start), stop_(stop) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (auto& t : tokens) {
            std::size_t b = 0, e = t.size();
            for (std::size_t k = 0; k < start_ && e - b >= content_.size() && t.compare(b, content_.size(), content_) == 0; ++k) b += content_.size();
            for (std::size_t k = 0; k < stop_ && e - b >= content_.size() && t.compare(e - content_.size(), content_.size(), content_) == 0; ++k) e -= content_.size();
            t = t.substr(b, e - b);
        }
    }

private:
    std::string content_;
    std::size_t start_, stop_;
};

/// Fuse: all tokens into one.
class fuse_decoder final : public decoder {
public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::string all;
        for (const auto& t : tokens) all += t;
        tokens.assign(1, std::move(all));
    }
};

/// ByteFallback: runs of <0xXX> tokens become the bytes they name (lossily converted; each
/// invalid byte of a run becomes one U+FFFD); other tokens are kept.
class byte_fallback_decoder final : public decoder {
public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::vector<std::string> out;
        std::string pending;
        std::size_t pending_count = 0;
        auto flush = [&] {
            if (pending_count == 0) return;
            if (utf8_first_invalid(pending)) {
                for (std::size_t k = 0; k < pending_count; ++k) out.emplace_back(utf8_replacement);
            } else {
                out.push_back(pending);
            }
            pending.clear();
            pending_count = 0;
        };
        for (auto& t : tokens) {
            const int b = parse_byte(t);
            if (b >= 0) {
                pending.push_back(static_cast<char>(b));
                ++pending_count;
            } else {
                flush();
                out.push_back(std::move(t));
            }
        }
        flush();
        tokens = std::move(out);
    }

private:
    static int hex(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    }
    static int parse_byte(const std::string& t) {
        if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
        const int h = hex(t[3]), l = hex(t[4]);
        return h < 0 || l < 0 ? -1 : h * 16 + l;
    }
};

/// Builds the decoder described by `j` (nullptr for JSON null).
inline std::unique_ptr<decoder> make_decoder(const nlohmann::json& j, const detail::json_where& w) {
    using namespace detail;
    if (j.is_null()) return nullptr;
    const std::string type = type_of(j, w);
    if (type == "ByteLevel") return std::make_unique<byte_level_decoder>();
    if (type == "Sequence") {
        const auto& list = require(j, "decoders", w);
        if (!list.is_array()) w.at("decoders").fail("expected an array");
        std::vector<std::unique_ptr<decoder>> steps;
        for (std::size_t i = 0; i < list.size(); ++i) {
            auto d = make_decoder(list[i], w.at("decoders").at(i));
            if (d) steps.push_back(std::move(d));
        }
        return std::make_unique<sequence_decoder>(std::move(steps));
    }
    if (type == "Replace") {
        return std::make_unique<replace_decoder>(make_pattern(require(j, "pattern", w), w.at("pattern")),
                                                 string_field(j, "content", w));
    }
    if (type == "Strip") {
        auto count = [&](const char* key) {
            const auto& v = require(j, key, w);
            if (!v.is_number_unsigned()) w.at(key).fail("expected a non-negative integer");
            return v.get<std::size_t>();
        };
        return std::make_unique<strip_decoder>(string_field(j, "content", w), count("start"), count("stop"));
    }
    if (type == "Fuse") return std::make_unique<fuse_decoder>();
    if (type == "ByteFallback") return std::make_unique<byte_fallback_decoder>();
    throw unsupported_error(w.source + ": " + (w.path.empty() ? std::string("decoder") : w.path) +
                            ": decoder type '" + type +
                            "' is not supported (supported: ByteLevel, Sequence, Replace, Strip, Fuse, ByteFallback)");
}

}  // namespace dsv2::text
