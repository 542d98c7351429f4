// Text in and out of the CLI: which tokenizer a model directory uses, behind one function.
//
// load_text_codec(model_dir, cfg) is the only place that decides. Today it knows byte-level models
// (ids 0..255 are bytes, bos/eos/pad follow: the demo model). THE TOKENIZER PLUGS IN HERE: when
// MODEL_DIR holds tokenizer.json, return a text_codec built on dsv2::tokenizer (encode(text, true),
// decode(ids, true), and text_decoders() from its incremental_decoder via dsv2::text_decoders).
// Everything else in the CLI (--prompt, --stop, streamed text) only uses text_codec.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <dsv2/config.hpp>
#include <dsv2/generation/byte_tokenizer.hpp>
#include <dsv2/generation/generation_config.hpp>
#include <dsv2/generation/text_decoder.hpp>

namespace dsv2::cli {

/// Text to ids and back for one model.
class text_codec {
public:
    virtual ~text_codec() = default;
    /// `text` as a prompt's ids, `bos` first when given (and not already there).
    virtual std::vector<std::int64_t> encode(std::string_view text, std::optional<std::int64_t> bos) const = 0;
    /// ids back to text, special tokens dropped.
    virtual std::string decode(std::span<const std::int64_t> ids) const = 0;
    /// Per-row incremental decoders, for generate()'s stop strings and the streamed text.
    virtual text_decoder_factory text_decoders() const = 0;
    /// For messages: "byte-level", "tokenizer.json".
    virtual std::string name() const = 0;
};

/// A model trained on raw bytes: ids 0..255 are bytes, bos/eos follow (the demo model's vocabulary).
inline bool is_byte_level(const DeepseekV2Config& cfg) {
    return cfg.vocab_size >= 258 && cfg.vocab_size <= 264 && cfg.bos_token_id == 256;
}

class byte_codec final : public text_codec {
public:
    explicit byte_codec(const DeepseekV2Config& cfg) {
        tok_.bos_id = cfg.bos_token_id.value_or(256);
        tok_.eos_id = cfg.eos_token_id.empty() ? 257 : cfg.eos_token_id.front();
        tok_.pad_id = cfg.pad_token_id.value_or(258);
    }
    std::vector<std::int64_t> encode(std::string_view text, std::optional<std::int64_t> bos) const override {
        return prepend_bos(tok_.encode(text, false), bos);
    }
    std::string decode(std::span<const std::int64_t> ids) const override {
        return tok_.decode(std::vector<std::int64_t>(ids.begin(), ids.end()));
    }
    text_decoder_factory text_decoders() const override { return tok_.text_decoders(); }
    std::string name() const override { return "byte-level"; }

private:
    byte_tokenizer tok_;
};

/// The codec of `model_dir`, or nullptr when dsv2 cannot turn its ids into text (then the CLI
/// takes and prints ids only).
inline std::unique_ptr<text_codec> load_text_codec(const std::filesystem::path& model_dir, const DeepseekV2Config& cfg) {
    // TODO(tokenizer): if (exists(model_dir / "tokenizer.json")) return a dsv2::tokenizer codec here.
    (void)model_dir;
    if (is_byte_level(cfg)) return std::make_unique<byte_codec>(cfg);
    return nullptr;
}

}  // namespace dsv2::cli
