// dsv2::tokenizer: loads a Hugging Face tokenizer.json whose model is BPE (byte-level, like the
// DeepSeek-V2/V2.5/V3 files) and encodes/decodes exactly as `tokenizers` 0.23.3 does:
//
//   added tokens (raw text) -> normalizer -> added tokens (normalized text) -> pre-tokenizer
//   -> BPE per pre-token -> post-processor;     decode: ids -> tokens -> decoder -> text.
//
// encode() follows `tokenizers`: a BOS id is added only when the post-processor adds one
// (TemplateProcessing). The DeepSeek files use the ByteLevel post-processor, so encode() adds no
// BOS although their tokenizer_config.json says add_bos_token: true — chat templates and
// generation add it where the config or the template asks (see docs/text.md).
//
// Invalid UTF-8: `tokenizers` only ever sees valid UTF-8 (Python str). encode() throws
// input_error("text", ...) naming the byte offset of the first invalid byte; it never guesses a
// replacement. decode() always returns valid UTF-8: bytes that do not form whole characters
// become U+FFFD, one per maximal invalid subpart, as in `tokenizers`.
//
// Thread safety: every const member may be called concurrently on one tokenizer (the BPE word
// cache is behind a mutex). Copies share the loaded tables.
//
// A regex that exceeds Oniguruma's backtracking limit while encoding throws unsupported_error
// naming the pattern (the DeepSeek patterns never do).
//
// Needs Oniguruma: link the dsv2::text CMake target.
#pragma once

#include <nlohmann/json.hpp>

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

#include "dsv2/core/error.hpp"
#include "dsv2/text/added_tokens.hpp"
#include "dsv2/text/bpe.hpp"
#include "dsv2/text/decoders.hpp"
#include "dsv2/text/json_access.hpp"
#include "dsv2/text/normalizers.hpp"
#include "dsv2/io/json_file.hpp"
#include "dsv2/text/post_processors.hpp"
#include "dsv2/text/pre_tokenizers.hpp"
#include "dsv2/text/utf8.hpp"

namespace dsv2 {

class tokenizer {
public:
    /// Reads and parses `tokenizer_json`. A missing/unreadable file or malformed JSON throws
    /// io_error naming the path; an unsupported component throws unsupported_error naming it.
    static tokenizer from_file(const std::filesystem::path& tokenizer_json) {
        const nlohmann::json j = io::read_json_file(tokenizer_json, "a tokenizer.json file");
        return from_json(j, tokenizer_json.string());
    }

    /// Reads `dir`/tokenizer.json (and nothing else).
    static tokenizer from_directory(const std::filesystem::path& dir) { return from_file(dir / "tokenizer.json"); }

    /// Builds a tokenizer from a parsed tokenizer.json; `source` names it in error messages.
    static tokenizer from_json(const nlohmann::json& j, std::string source = "tokenizer.json") {
        tokenizer t;
        try {
            t.impl_ = std::make_shared<const impl>(j, std::move(source));
        } catch (const nlohmann::json::exception& e) {  // backstop: every field is checked first
            throw io_error(source, std::string("bad tokenizer.json: ") + e.what());
        }
        return t;
    }

    /// Token ids of `text` (valid UTF-8, else input_error naming the byte offset). With
    /// `add_special_tokens`, the post-processor's special tokens are added (none for ByteLevel).
    std::vector<std::int64_t> encode(std::string_view text, bool add_special_tokens = true) const {
        if (const auto bad = text::utf8_first_invalid(text)) {
            throw input_error("text", "invalid UTF-8 at byte " + std::to_string(*bad) + " (of " +
                                          std::to_string(text.size()) + ")");
        }
        const impl& m = *impl_;
        std::vector<std::int64_t> ids;
        ids.reserve(text.size() / 3 + 4);
        std::vector<std::string> words;
        for (auto& piece : m.added.split(text, m.normalizer.get())) {
            if (piece.id >= 0) {
                ids.push_back(piece.id);
                continue;
            }
            words.clear();
            words.push_back(std::move(piece.text));
            if (m.pre_tokenizer) m.pre_tokenizer->pre_tokenize(words);
            for (const auto& w : words) m.model->tokenize(w, ids);
        }
        if (m.post_processor) m.post_processor->process(ids, add_special_tokens);
        return ids;
    }

    /// Text of `ids`. An id outside the vocabulary throws input_error("ids", ...) naming the id and
    /// its index. With `skip_special_tokens`, special tokens are left out.
    std::string decode(std::span<const std::int64_t> ids, bool skip_special_tokens = false) const {
        const impl& m = *impl_;
        std::vector<std::string> tokens;
        tokens.reserve(ids.size());
        for (std::size_t i = 0; i < ids.size(); ++i) {
            const std::string& t = m.token_of(ids[i], i);
            if (skip_special_tokens && m.added.is_special_content(t)) continue;
            tokens.push_back(t);
        }
        if (!m.decoder) {
            std::string out;
            for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
            return out;
        }
        m.decoder->decode_chain(tokens);
        std::string out;
        for (const auto& t : tokens) out += t;
        return out;
    }

    /// Number of ids, added tokens included: max id + 1.
    std::int64_t vocab_size() const noexcept {
        return std::max(impl_->model->size(), impl_->added.max_id() + 1);
    }

    /// Id of `token` (added tokens first, then the model's vocabulary), or nullopt.
    std::optional<std::int64_t> token_to_id(std::string_view token) const {
        if (auto id = impl_->added.by_content(token)) return id;
        return impl_->model->token_to_id(token);
    }

    /// The token string of `id` (input_error when no token has that id). For an added token with
    /// normalized=true that is its normalized content, as in `tokenizers`.
    std::string id_to_token(std::int64_t id) const {
        if (const auto* a = impl_->added.by_id(id)) return a->text;
        if (const auto* t = impl_->model->id_to_token(id)) return *t;
        throw input_error("id", "id " + std::to_string(id) + " is not in the vocabulary of " + impl_->source +
                                    " (size " + std::to_string(vocab_size()) + ")");
    }

    /// True when `id` is an added token marked special.
    bool is_special(std::int64_t id) const {
        const auto* a = impl_->added.by_id(id);
        return a && a->special;
    }

    /// The added tokens, as listed in the file (later duplicates replace earlier ones).
    const std::vector<text::added_token>& added_tokens() const noexcept { return impl_->added.tokens(); }

    /// The file (or source name) the tokenizer came from.
    const std::string& source() const noexcept { return impl_->source; }

private:
    struct impl {
        std::string source;
        std::unique_ptr<text::normalizer> normalizer;
        std::unique_ptr<text::pre_tokenizer> pre_tokenizer;
        std::unique_ptr<text::bpe_model> model;
        std::unique_ptr<text::post_processor> post_processor;
        std::unique_ptr<text::decoder> decoder;
        text::added_vocabulary added;

        impl(const nlohmann::json& j, std::string src) : source(std::move(src)) {
            using namespace text::detail;
            const json_where root{source, ""};
            if (!j.is_object()) root.fail("expected a JSON object, got " + std::string(j.type_name()));
            for (const char* key : {"truncation", "padding"}) {
                if (optional_field(j, key)) {
                    throw unsupported_error(source + ": " + key + ": only null is supported (encode() neither truncates nor pads)");
                }
            }
            const auto& model_json = require(j, "model", root);
            const auto wm = root.at("model");
            if (!model_json.is_object()) wm.fail("expected an object");
            std::string type = "BPE";
            if (const auto* t = optional_field(model_json, "type")) type = as_string(*t, wm.at("type"));
            else if (!model_json.contains("merges")) wm.fail("no \"type\" and no \"merges\": not a BPE model");
            if (type != "BPE") {
                throw unsupported_error(source + ": model: model type '" + type + "' is not supported (only BPE)");
            }
            if (const auto* n = optional_field(j, "normalizer")) normalizer = text::make_normalizer(*n, root.at("normalizer"));
            if (const auto* p = optional_field(j, "pre_tokenizer")) pre_tokenizer = text::make_pre_tokenizer(*p, root.at("pre_tokenizer"));
            model = std::make_unique<text::bpe_model>(model_json, wm);
            if (const auto* p = optional_field(j, "post_processor")) post_processor = text::make_post_processor(*p, root.at("post_processor"));
            if (const auto* d = optional_field(j, "decoder")) decoder = text::make_decoder(*d, root.at("decoder"));
            if (const auto* a = optional_field(j, "added_tokens")) added.load(*a, root.at("added_tokens"), normalizer.get(), *model);
        }

        const std::string& token_of(std::int64_t id, std::size_t index) const {
            if (const auto* a = added.by_id(id)) return a->text;
            if (const auto* t = model->id_to_token(id)) return *t;
            throw input_error("ids", "id " + std::to_string(id) + " at [" + std::to_string(index) +
                                         "] is not in the vocabulary of " + source + " (size " +
                                         std::to_string(std::max(model->size(), added.max_id() + 1)) + ")");
        }
    };

    tokenizer() = default;
    std::shared_ptr<const impl> impl_;
};

/// Streaming decode: push ids one at a time and get the text they add. The text returned never
/// ends inside a UTF-8 character (nor with a U+FFFD that more ids could still complete); the
/// concatenation of every push() and the final flush() equals decode(all ids). It keeps a pointer
/// to the tokenizer, which must outlive it; one stream per object (not for concurrent use).
class incremental_decoder {
public:
    explicit incremental_decoder(const tokenizer& tok, bool skip_special_tokens = false)
        : tok_(&tok), skip_(skip_special_tokens) {}

    /// Adds `id` (input_error if it is not in the vocabulary); returns the new complete text.
    std::string push(std::int64_t id) {
        window_.push_back(id);
        std::string text;
        try {
            text = tok_->decode(window_, skip_);
        } catch (...) {
            window_.pop_back();
            throw;
        }
        if (text.size() <= prefix_.size() || text.ends_with(text::utf8_replacement) ||
            text.compare(0, prefix_.size(), prefix_) != 0) {
            return {};
        }
        std::string fresh = text.substr(prefix_.size());
        // keep the ids that produced the last emission as context for the next one
        window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(context_));
        context_ = window_.size();
        prefix_ = tok_->decode(window_, skip_);
        return fresh;
    }

    /// Text still held back (an incomplete character at the end becomes U+FFFD); resets the stream.
    std::string flush() {
        std::string text = tok_->decode(window_, skip_);
        std::string rest = text.compare(0, prefix_.size(), prefix_) == 0 ? text.substr(prefix_.size()) : text;
        window_.clear();
        prefix_.clear();
        context_ = 0;
        return rest;
    }

private:
    const tokenizer* tok_;
    bool skip_;
    std::vector<std::int64_t> window_;
    std::size_t context_ = 0;  // leading ids of window_ that are context only (already emitted)
    std::string prefix_;       // decode of window_ as of the last emission
};

}  // namespace dsv2
