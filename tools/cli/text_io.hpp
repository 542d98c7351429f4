// Text in and out of the CLI: which tokenizer a model directory uses, behind one function, and the
// BOS rule of generate and chat.
//
// load_text_codec(model, cfg) is the only place that decides:
//   * a GGUF file whose tokenizer.ggml.model is "gpt2": dsv2::tokenizer built from its
//     tokenizer.ggml.* keys (text/gguf_tokenizer.hpp; the dsv2::text component);
//   * MODEL_DIR/tokenizer.json exists: dsv2::tokenizer (HF-exact BPE, the dsv2::text component; a
//     CLI built without it says so, naming the component, instead of guessing);
//   * else a byte-level model (ids 0..255 are bytes, bos/eos/pad follow: the demo model);
//   * else nullptr: the CLI takes and prints ids only.
// load_tokenizer_config(model) reads what generate and chat need besides: tokenizer_config.json's
// add_bos_token, bos/eos tokens and chat template, or for a GGUF file tokenizer.ggml.add_bos_token,
// the tokens of tokenizer.ggml.bos/eos_token_id and tokenizer.chat_template.
// Everything else in the CLI (tokenize, detokenize, --prompt, --stop, chat, streamed text) only uses
// text_codec.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <dsv2/config.hpp>
#include <dsv2/core/error.hpp>
#include <dsv2/generation/byte_tokenizer.hpp>
#include <dsv2/generation/generation_config.hpp>
#include <dsv2/generation/text_decoder.hpp>
#include <dsv2/io/generation_config_json.hpp>
#include <dsv2/io/gguf.hpp>
#include <dsv2/io/json_file.hpp>
#include <dsv2/models/gguf_model.hpp>

#ifdef DSV2_CLI_WITH_TEXT
#include <dsv2/text/gguf_tokenizer.hpp>
#include <dsv2/text/tokenizer.hpp>
#endif

namespace dsv2::cli {

/// Text to ids and back for one model.
class text_codec {
public:
    virtual ~text_codec() = default;
    /// `text` as ids. `add_special_tokens` as in HF tokenizers (what the post-processor adds; the
    /// DeepSeek files and byte-level models add nothing). No BOS rule here: see prompt_bos().
    virtual std::vector<std::int64_t> encode(std::string_view text, bool add_special_tokens) const = 0;
    /// ids back to text; an id outside the vocabulary is an input_error naming it and its index.
    virtual std::string decode(std::span<const std::int64_t> ids, bool skip_special_tokens) const = 0;
    /// Per-row incremental decoders, for generate()'s stop strings and the streamed text.
    virtual text_decoder_factory text_decoders(bool skip_special_tokens) const = 0;
    /// The id of a token's text (tokenizer_config.json's bos/eos tokens), or nullopt.
    virtual std::optional<std::int64_t> token_to_id(std::string_view token) const = 0;
    /// Ids the codec knows (max id + 1).
    virtual std::int64_t vocab_size() const = 0;
    /// True for a tokenizer.json codec.
    virtual bool has_tokenizer_json() const = 0;
    /// For messages: "byte-level", ".../tokenizer.json".
    virtual std::string name() const = 0;
};

/// A model trained on raw bytes: ids 0..255 are bytes, bos/eos follow (the demo model's vocabulary).
inline bool is_byte_level(const DeepseekV2Config& cfg) {
    return cfg.vocab_size >= 258 && cfg.vocab_size <= 264 && cfg.bos_token_id == 256;
}

class byte_codec final : public text_codec {
public:
    explicit byte_codec(const DeepseekV2Config& cfg) : vocab_(cfg.vocab_size) {
        tok_.bos_id = cfg.bos_token_id.value_or(256);
        tok_.eos_id = cfg.eos_token_id.empty() ? 257 : cfg.eos_token_id.front();
        tok_.pad_id = cfg.pad_token_id.value_or(258);
    }
    std::vector<std::int64_t> encode(std::string_view text, bool) const override { return tok_.encode(text, false); }
    std::string decode(std::span<const std::int64_t> ids, bool) const override {
        // bos/eos/pad have no text; byte_tokenizer names any other id ≥ 256 and its index
        return tok_.decode(std::vector<std::int64_t>(ids.begin(), ids.end()));
    }
    text_decoder_factory text_decoders(bool) const override { return tok_.text_decoders(); }
    std::optional<std::int64_t> token_to_id(std::string_view) const override { return std::nullopt; }
    std::int64_t vocab_size() const override { return vocab_; }
    bool has_tokenizer_json() const override { return false; }
    std::string name() const override { return "byte-level"; }

private:
    byte_tokenizer tok_;
    std::int64_t vocab_;
};

#ifdef DSV2_CLI_WITH_TEXT
/// A Hugging Face tokenizer.json (dsv2::tokenizer).
class hf_codec final : public text_codec {
public:
    explicit hf_codec(const std::filesystem::path& tokenizer_json) : tok_(tokenizer::from_file(tokenizer_json)) {}
    explicit hf_codec(tokenizer tok) : tok_(std::move(tok)) {}
    std::vector<std::int64_t> encode(std::string_view text, bool add_special_tokens) const override {
        return tok_.encode(text, add_special_tokens);
    }
    std::string decode(std::span<const std::int64_t> ids, bool skip_special_tokens) const override {
        return tok_.decode(ids, skip_special_tokens);
    }
    text_decoder_factory text_decoders(bool skip_special_tokens) const override {
        // the decoders point at tok_: the codec outlives every generate()/chat turn that uses them
        return dsv2::text_decoders([this, skip_special_tokens] { return incremental_decoder{tok_, skip_special_tokens}; });
    }
    std::optional<std::int64_t> token_to_id(std::string_view token) const override { return tok_.token_to_id(token); }
    std::int64_t vocab_size() const override { return tok_.vocab_size(); }
    bool has_tokenizer_json() const override { return true; }
    std::string name() const override { return tok_.source(); }

private:
    tokenizer tok_;
};
#endif

/// The codec of a tokenizer.json file; a CLI built without dsv2::text throws naming the component.
inline std::unique_ptr<text_codec> load_tokenizer_json(const std::filesystem::path& tokenizer_json) {
#ifdef DSV2_CLI_WITH_TEXT
    return std::make_unique<hf_codec>(tokenizer_json);
#else
    throw unsupported_error(tokenizer_json.string() +
                            ": reading tokenizer.json needs the dsv2::text component, and this dsv2 was built "
                            "without it (install Oniguruma, e.g. apt-get install libonig-dev, and reconfigure "
                            "with -DDSV2_WITH_TEXT=ON)");
#endif
}

/// Whether GGUF file `f` carries a tokenizer (tokenizer.ggml.model present and not "none").
inline bool gguf_has_tokenizer(const io::gguf_file& f) {
    const auto model = f.get_string_opt("tokenizer.ggml.model");
    return model && *model != "none";
}

/// The codec of the tokenizer of GGUF file `path`, or nullptr with `why_none` set when it carries
/// none or one dsv2 does not read (a byte-level model `cfg` then gets the byte codec). A malformed
/// tokenizer is a gguf_error naming the key. Without `cfg` (the tokenizer alone), no model checks.
inline std::unique_ptr<text_codec> load_gguf_text_codec(const std::filesystem::path& path, const DeepseekV2Config* cfg,
                                                        std::string* why_none) {
    const auto file = io::gguf_file::open(path);
    std::string why;
    if (!gguf_has_tokenizer(file)) {
        why = path.string() + " carries no tokenizer (tokenizer.ggml.model is absent or \"none\")";
    } else {
#ifdef DSV2_CLI_WITH_TEXT
        try {
            auto codec = std::make_unique<hf_codec>(tokenizer_from_gguf(file));
            if (cfg && codec->vocab_size() > cfg->vocab_size)
                throw io_error(path.string(), "its tokenizer has " + std::to_string(codec->vocab_size()) +
                                                  " ids, more than the model's vocab_size " + std::to_string(cfg->vocab_size));
            return codec;
        } catch (const unsupported_error& e) {
            why = e.what();
        }
#else
        throw unsupported_error(path.string() + ": reading a GGUF file's tokenizer needs the dsv2::text component, and "
                                "this dsv2 was built without it (install Oniguruma, e.g. apt-get install libonig-dev, "
                                "and reconfigure with -DDSV2_WITH_TEXT=ON)");
#endif
    }
    if (cfg && is_byte_level(*cfg)) return std::make_unique<byte_codec>(*cfg);
    if (why_none) *why_none = why;
    return nullptr;
}

/// The codec of `model_dir` (or GGUF file), or nullptr when dsv2 cannot turn its ids into text
/// (then the CLI takes and prints ids only; `why_none`, when given, says why).
inline std::unique_ptr<text_codec> load_text_codec(const std::filesystem::path& model_dir, const DeepseekV2Config& cfg,
                                                   std::string* why_none = nullptr) {
    if (is_gguf_path(model_dir)) return load_gguf_text_codec(model_dir, &cfg, why_none);
    const auto tokenizer_json = model_dir / "tokenizer.json";
    if (std::filesystem::is_regular_file(tokenizer_json)) {
        auto codec = load_tokenizer_json(tokenizer_json);
        if (codec->vocab_size() > cfg.vocab_size)
            throw io_error(tokenizer_json.string(), "has " + std::to_string(codec->vocab_size()) +
                                                        " ids, more than the model's vocab_size " +
                                                        std::to_string(cfg.vocab_size) + ": not this model's tokenizer");
        return codec;
    }
    if (is_byte_level(cfg)) return std::make_unique<byte_codec>(cfg);
    if (why_none)
        *why_none = "this model has no text codec (no " + tokenizer_json.string() + ", and it is not byte-level: vocab_size " +
                    std::to_string(cfg.vocab_size) + ")";
    return nullptr;
}

/// What the CLI reads from MODEL_DIR/tokenizer_config.json (absent file: all empty), or from a GGUF
/// file's tokenizer keys.
struct tokenizer_config_info {
    std::filesystem::path path;
    bool exists = false;
    bool gguf = false;  ///< read from a GGUF file (`path`)
    std::optional<bool> add_bos_token;
    std::optional<std::string> bos_token, eos_token;  // strings, or AddedToken objects' "content"
    std::optional<std::string> chat_template;         // GGUF only: tokenizer.chat_template
};

/// tokenizer_config_info of GGUF file `path`: exists when it carries a tokenizer.
inline tokenizer_config_info load_gguf_tokenizer_config(const std::filesystem::path& path) {
    tokenizer_config_info info;
    info.path = path;
    info.gguf = true;
    const auto file = io::gguf_file::open(path);
    if (!gguf_has_tokenizer(file)) return info;
    info.exists = true;
    info.add_bos_token = file.get_bool_opt("tokenizer.ggml.add_bos_token");
    const auto* tokens = file.get_array_opt("tokenizer.ggml.tokens");
    auto token_of = [&](const char* key) -> std::optional<std::string> {
        const auto id = file.get_uint_opt(key);
        if (!id || !tokens) return std::nullopt;
        if (*id >= tokens->size())
            throw gguf_error(path.string(), gguf_error::subject::key, key,
                             "token id " + std::to_string(*id) + " is out of range (" + std::to_string(tokens->size()) + " tokens)");
        return std::string(tokens->string_at(static_cast<std::size_t>(*id)));
    };
    info.bos_token = token_of("tokenizer.ggml.bos_token_id");
    info.eos_token = token_of("tokenizer.ggml.eos_token_id");
    if (const auto t = file.get_string_opt("tokenizer.chat_template")) info.chat_template = std::string(*t);
    return info;
}

inline tokenizer_config_info load_tokenizer_config(const std::filesystem::path& model_dir) {
    if (is_gguf_path(model_dir)) return load_gguf_tokenizer_config(model_dir);
    tokenizer_config_info info;
    info.path = model_dir / "tokenizer_config.json";
    if (!std::filesystem::is_regular_file(info.path)) return info;
    info.exists = true;
    const std::string p = info.path.string();
    const nlohmann::json j = io::read_json_file(info.path, "a tokenizer_config.json file");
    if (!j.is_object()) throw io_error(p, "the top level is not a JSON object");
    if (auto it = j.find("add_bos_token"); it != j.end() && !it->is_null()) {
        if (!it->is_boolean()) throw io_error(p, "add_bos_token: expected true or false");
        info.add_bos_token = it->get<bool>();
    }
    for (const char* key : {"bos_token", "eos_token"}) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) continue;
        std::optional<std::string> s;
        if (it->is_string()) s = it->get<std::string>();
        else if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
            s = (*it)["content"].get<std::string>();
        else throw io_error(p, std::string(key) + ": expected a string or an object with a string 'content'");
        (std::string_view(key) == "bos_token" ? info.bos_token : info.eos_token) = s;
    }
    return info;
}

/// The BOS id that generate --prompt and chat put in front of the prompt's ids, or nullopt
/// (docs/text.md, "BOS"). Whether: tokenizer_config.json's add_bos_token (a GGUF file's
/// tokenizer.ggml.add_bos_token) when it says; else yes
/// when generation_config.json names a bos_token_id; else yes for byte-level models (the demo was
/// trained with bos first), no for tokenizer.json models (HF tokenizers add none). Which id:
/// tokenizer_config.json's bos_token, else generation_config.json's bos_token_id, else
/// config.json's. prepend_bos() then skips it when the ids (the rendered chat template) already
/// start with it.
inline std::optional<std::int64_t> prompt_bos(const text_codec& codec, const tokenizer_config_info& tc,
                                              const std::optional<generation_config_file>& gen, const DeepseekV2Config& cfg) {
    const bool add = tc.add_bos_token ? *tc.add_bos_token : (gen && gen->bos_token_id) ? true : !codec.has_tokenizer_json();
    if (!add) return std::nullopt;
    if (tc.bos_token)
        if (auto id = codec.token_to_id(*tc.bos_token)) return id;
    if (gen && gen->bos_token_id) return gen->bos_token_id;
    return cfg.bos_token_id;
}

/// Reads a whole file (for --file).
inline std::string read_text_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw io_error(file.string(), std::filesystem::exists(file) ? "cannot open the file" : "no such file");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    if (in.bad()) throw io_error(file.string(), "read failed");
    return buffer.str();
}

}  // namespace dsv2::cli
