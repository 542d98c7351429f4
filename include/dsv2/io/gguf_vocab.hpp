// The vocabulary a GGUF file carries (tokenizer.ggml.*, tokenizer.chat_template), as llama.cpp's
// convert_hf_to_gguf.py writes it for a byte-level BPE tokenizer ("gpt2"), both ways:
//
//   gguf_vocab_from_hf(dir, vocab_size)   what the converter writes for a Hugging Face directory
//                                         (tokenizer.json, tokenizer_config.json, config.json)
//   read_gguf_vocab(file)                 the keys of a GGUF file, validated (typed gguf_error
//                                         naming the key and the index)
//   gguf_vocab::write(writer)             the keys, in the converter's order
//   tokenizer_json_of(vocab)              the tokenizer.json that the keys stand for, which
//                                         dsv2::tokenizer builds from (text/gguf_tokenizer.hpp)
//
// GGUF does not store the pre-tokenizer, only llama.cpp's name for it (tokenizer.ggml.pre). dsv2
// knows the names below, each standing for the exact "pre_tokenizer" of the tokenizer.json it
// came from (the strings are copied from the committed fixtures):
//   "deepseek-llm"  DeepSeek-V2 / V2.5 (tests/fixtures/tokenizers/deepseek-v2/tokenizer.json)
//   "deepseek-v3"   DeepSeek-V3        (tests/fixtures/tokenizers/deepseek-v3/tokenizer.json)
//   "gpt-2"         ByteLevel with the GPT-2 regex, no prefix space
// llama.cpp's converter picks the name by hashing the ids of a test string; dsv2 picks it by
// comparing the pre_tokenizer object itself, so it needs no tokenizer to write one.
//
// Only JSON: this header is part of dsv2::dsv2 (no Oniguruma).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dsv2/core/error.hpp"
#include "dsv2/io/gguf.hpp"
#include "dsv2/io/gguf_writer.hpp"
#include "dsv2/io/json_file.hpp"
#include "dsv2/text/byte_level.hpp"
#include "dsv2/text/utf8.hpp"

namespace dsv2::io {

/// llama.cpp's token types (tokenizer.ggml.token_type; gguf-py's TokenType).
enum class gguf_token_type : std::int32_t { undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

namespace detail::gguf_vocab {

struct pre_entry {
    const char* name;
    const char* json;
};

// The "pre_tokenizer" objects of the tokenizer.json files the names stand for (facts, copied from
// the fixtures' tokenizer.json files with Python's json.dumps(ensure_ascii=True)).
inline const std::vector<pre_entry>& pre_table() {
    static const std::vector<pre_entry> table = {
        {"deepseek-llm", R"json({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"[\r\n]"},"behavior":"Isolated","invert":false},{"type":"Split","pattern":{"Regex":"\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\ud801\udc00-\ud801\udc4f\ud801\udcb0-\ud801\udcd3\ud801\udcd8-\ud801\udcfb\ud803\udc80-\ud803\udcb2\ud803\udcc0-\ud803\udcf2\ud806\udca0-\ud806\udcdf\ud83a\udd00-\ud83a\udd43]+"},"behavior":"Isolated","invert":false},{"type":"Split","pattern":{"Regex":"\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+"},"behavior":"Isolated","invert":false},{"type":"Split","pattern":{"Regex":"\\s+$"},"behavior":"Isolated","invert":false},{"type":"Split","pattern":{"Regex":"[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"},"behavior":"Isolated","invert":false},{"type":"Digits","individual_digits":true},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]})json"},
        {"deepseek-v3", R"json({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\p{N}{1,3}"},"behavior":"Isolated","invert":false},{"type":"Split","pattern":{"Regex":"[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"},"behavior":"Isolated","invert":false},{"type":"Split","pattern":{"Regex":"[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]})json"},
        {"gpt-2", R"json({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true})json"},
    };
    return table;
}

// The tokenizer.ggml.* keys of the special token types, in gguf-py's SpecialVocab order.
inline constexpr std::pair<std::string_view, std::string_view> special_keys[] = {
    {"bos", "tokenizer.ggml.bos_token_id"},     {"eos", "tokenizer.ggml.eos_token_id"},
    {"unk", "tokenizer.ggml.unknown_token_id"}, {"sep", "tokenizer.ggml.seperator_token_id"},
    {"pad", "tokenizer.ggml.padding_token_id"}, {"cls", "tokenizer.ggml.cls_token_id"},
    {"mask", "tokenizer.ggml.mask_token_id"},
};
inline constexpr std::pair<std::string_view, std::string_view> add_keys[] = {
    {"bos", "tokenizer.ggml.add_bos_token"}, {"eos", "tokenizer.ggml.add_eos_token"}, {"sep", "tokenizer.ggml.add_sep_token"},
};

inline std::string_view special_key(std::string_view typ) {
    for (const auto& [t, k] : special_keys)
        if (t == typ) return k;
    return {};
}
inline std::string_view add_key(std::string_view typ) {
    for (const auto& [t, k] : add_keys)
        if (t == typ) return k;
    return {};
}

/// convert_hf_to_gguf.py's does_token_look_special.
inline bool looks_special(std::string_view t) {
    if (t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]") return true;
    if (t.starts_with("<|") && t.ends_with("|>")) return true;
    if (t.starts_with("<\xEF\xBD\x9C") && t.ends_with("\xEF\xBD\x9C>")) return true;  // <｜ ... ｜>
    return t.starts_with("<unused") && t.ends_with(">");
}

/// tokenizers' ByteLevel decoder on one token: its bytes when every character is in the byte-level
/// alphabet, else the token unchanged (what decode(encode(token)) gives for an added token).
inline std::string byte_level_decode(const std::string& token) {
    const auto& alphabet = text::byte_level_alphabet::get();
    std::string out;
    for (std::size_t i = 0; i < token.size();) {
        const int len = text::utf8_sequence(token, i);
        if (len < 0) return token;
        const int b = alphabet.byte_of(text::utf8_decode_at(token, i));
        if (b < 0) return token;
        out += static_cast<char>(b);
        i += static_cast<std::size_t>(len);
    }
    return out;
}

inline std::string replace_all(std::string s, std::string_view from, std::string_view to) {
    for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
    return s;
}

}  // namespace detail::gguf_vocab

/// The tokenizer.json "pre_tokenizer" that llama.cpp's tokenizer.ggml.pre name `pre` stands for,
/// or nullopt for a name dsv2 does not know.
inline std::optional<nlohmann::json> gguf_pre_tokenizer(std::string_view pre) {
    for (const auto& e : detail::gguf_vocab::pre_table())
        if (pre == e.name) return nlohmann::json::parse(e.json);
    return std::nullopt;
}

/// The tokenizer.ggml.pre name of a tokenizer.json "pre_tokenizer" object, or nullopt.
inline std::optional<std::string> gguf_pre_name(const nlohmann::json& pre_tokenizer) {
    for (const auto& e : detail::gguf_vocab::pre_table())
        if (pre_tokenizer == nlohmann::json::parse(e.json)) return std::string(e.name);
    return std::nullopt;
}

/// The names gguf_pre_tokenizer knows, for messages: "deepseek-llm, deepseek-v3, gpt-2".
inline std::string gguf_pre_names() {
    std::string out;
    for (const auto& e : detail::gguf_vocab::pre_table()) out += (out.empty() ? "" : ", ") + std::string(e.name);
    return out;
}

/// The tokenizer keys of a GGUF file.
struct gguf_vocab {
    std::string model = "gpt2";                 ///< tokenizer.ggml.model
    std::string pre;                            ///< tokenizer.ggml.pre
    std::vector<std::string> tokens;            ///< tokenizer.ggml.tokens (id = index)
    std::vector<std::int32_t> token_types;      ///< tokenizer.ggml.token_type (gguf_token_type)
    std::vector<std::string> merges;            ///< tokenizer.ggml.merges, "a b" in rank order
    /// ("bos", id), ("eos", id), ... in the order written; keys from special_keys.
    std::vector<std::pair<std::string, std::uint32_t>> special_ids;
    /// ("bos", false), ... : tokenizer.ggml.add_{bos,eos,sep}_token.
    std::vector<std::pair<std::string, bool>> add_special;
    std::optional<std::string> chat_template;   ///< tokenizer.chat_template

    std::optional<std::int64_t> special_id(std::string_view typ) const {
        for (const auto& [t, id] : special_ids)
            if (t == typ) return id;
        return std::nullopt;
    }
    std::optional<bool> add_token(std::string_view typ) const {
        for (const auto& [t, v] : add_special)
            if (t == typ) return v;
        return std::nullopt;
    }

    /// Writes the keys, in the order llama.cpp's converter writes them.
    void write(gguf_writer& out) const {
        out.set_string("tokenizer.ggml.model", model);
        out.set_string("tokenizer.ggml.pre", pre);
        out.set_array("tokenizer.ggml.tokens", std::span<const std::string>(tokens));
        out.set_array("tokenizer.ggml.token_type", std::span<const std::int32_t>(token_types));
        if (!merges.empty()) out.set_array("tokenizer.ggml.merges", std::span<const std::string>(merges));
        for (const auto& [typ, id] : special_ids) out.set_u32(detail::gguf_vocab::special_key(typ), id);
        for (const auto& [typ, v] : add_special) out.set_bool(detail::gguf_vocab::add_key(typ), v);
        if (chat_template) out.set_string("tokenizer.chat_template", *chat_template);
    }
};

/// What gguf_vocab_from_hf found: the keys, or why none are written.
struct gguf_vocab_source {
    std::optional<gguf_vocab> vocab;
    /// Empty when `vocab` is set or the directory has no tokenizer.json; else why the tokenizer
    /// cannot be written (a byte-level BPE tokenizer with a known pre-tokenizer is needed).
    std::string not_written;
};

namespace detail::gguf_vocab {

inline const nlohmann::json* field(const nlohmann::json& j, const char* key) {
    if (!j.is_object()) return nullptr;
    const auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
}

/// A tokenizer_config.json "*_token" entry: a string, or an AddedToken object's "content".
inline std::optional<std::string> token_content(const nlohmann::json* e) {
    if (!e) return std::nullopt;
    if (e->is_string()) return e->get<std::string>();
    if (e->is_object()) {
        const auto* c = field(*e, "content");
        if (c && c->is_string()) return c->get<std::string>();
    }
    return std::nullopt;
}

/// Why tokenizer.json `j` is not a tokenizer dsv2 writes to GGUF, or "" when it is one.
inline std::string unsupported_reason(const nlohmann::json& j) {
    const auto* model = field(j, "model");
    if (!model || !model->is_object()) return "it has no \"model\" object";
    const auto* type = field(*model, "type");
    if (type && *type != "BPE") return "its model is " + type->dump() + ", not BPE";
    if (!field(*model, "vocab") || !(*model)["vocab"].is_object()) return "model.vocab is not an object";
    for (const char* key : {"byte_fallback", "ignore_merges"})
        if (const auto* v = field(*model, key); v && *v != false) return std::string("model.") + key + " is set";
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix", "unk_token"})
        if (field(*model, key)) return std::string("model.") + key + " is set";
    if (const auto* n = field(j, "normalizer")) {
        const auto* list = field(*n, "normalizers");
        if (!(n->is_object() && n->value("type", nlohmann::json()) == "Sequence" && list && list->is_array() && list->empty()))
            return "it has a normalizer (" + n->dump().substr(0, 60) + ")";
    }
    const auto* pre = field(j, "pre_tokenizer");
    if (!pre) return "it has no pre_tokenizer";
    if (!gguf_pre_name(*pre))
        return "its pre_tokenizer is none that dsv2 names in GGUF (" + gguf_pre_names() + ")";
    const auto* dec = field(j, "decoder");
    if (!dec || !dec->is_object() || dec->value("type", nlohmann::json()) != "ByteLevel") return "its decoder is not ByteLevel";
    if (const auto* post = field(j, "post_processor")) {
        const auto* list = field(*post, "processors");
        const nlohmann::json procs = list ? *list : nlohmann::json::array({*post});
        for (const auto& p : procs)
            if (!p.is_object() || p.value("type", nlohmann::json()) != "ByteLevel")
                return "its post_processor is not ByteLevel (" + post->dump().substr(0, 60) + ")";
    }
    return {};
}

}  // namespace detail::gguf_vocab

/// The tokenizer keys llama.cpp's convert_hf_to_gguf.py writes (_set_vocab_gpt2: get_vocab_base
/// and gguf-py's SpecialVocab) for the Hugging Face tokenizer in `dir`, padded to `vocab_size`
/// tokens ("[PAD<i>]", type unused) as the converter pads. No tokenizer.json: nothing (and no
/// reason). A tokenizer.json dsv2 cannot name in GGUF (not byte-level BPE, or a pre-tokenizer not
/// in the table above): nothing, and `not_written` says why. Malformed files, an id ≥ vocab_size
/// or a negative special id: io_error naming the file.
inline gguf_vocab_source gguf_vocab_from_hf(const std::filesystem::path& dir, std::int64_t vocab_size) {
    using namespace detail::gguf_vocab;
    gguf_vocab_source result;
    const auto tokenizer_json = dir / "tokenizer.json";
    if (!json_file_exists(tokenizer_json)) return result;
    const std::string tp = tokenizer_json.string();
    const nlohmann::json j = read_json_file(tokenizer_json, "a tokenizer.json file");
    if (!j.is_object()) throw io_error(tp, "the top level is not a JSON object");
    result.not_written = unsupported_reason(j);
    if (!result.not_written.empty()) {
        result.not_written = tp + ": " + result.not_written;
        return result;
    }
    const auto fail = [&](const std::string& what) -> void { throw io_error(tp, what); };
    gguf_vocab v;
    v.pre = *gguf_pre_name(j["pre_tokenizer"]);

    // transformers' tokenizer.vocab: the model's vocabulary with the added tokens
    std::map<std::int64_t, std::string> by_id;
    std::unordered_map<std::string, std::int64_t> added_vocab;  // get_added_vocab()
    struct added_info {
        bool special = false, normalized = true;
    };
    std::map<std::int64_t, added_info> added_by_id;             // added_tokens_decoder
    auto as_id = [&](const nlohmann::json& id, const std::string& where) {
        if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > 0x7fffffff)
            fail(where + ": expected an id in [0, 2^31), got " + id.dump());
        return id.get<std::int64_t>();
    };
    for (const auto& [token, id] : j["model"]["vocab"].items()) by_id[as_id(id, "model.vocab." + token)] = token;
    const nlohmann::json* added = field(j, "added_tokens");
    if (added && !added->is_array()) fail("added_tokens: expected an array");
    const nlohmann::json empty = nlohmann::json::array();
    if (!added) added = &empty;
    for (std::size_t i = 0; i < added->size(); ++i) {
        const auto& a = (*added)[i];
        const std::string w = "added_tokens[" + std::to_string(i) + "]";
        if (!a.is_object() || !field(a, "content") || !a["content"].is_string()) fail(w + ": expected an object with a string content");
        const std::int64_t id = as_id(a.value("id", nlohmann::json()), w + ".id");
        const std::string content = a["content"].get<std::string>();
        added_info info;
        if (const auto* s = field(a, "special")) info.special = s->is_boolean() && s->get<bool>();
        if (const auto* n = field(a, "normalized")) info.normalized = n->is_boolean() ? n->get<bool>() : !info.special;
        else info.normalized = !info.special;
        by_id[id] = content;
        added_vocab[content] = id;
        added_by_id[id] = info;
    }
    if (!by_id.empty() && by_id.rbegin()->first >= vocab_size)
        fail("has id " + std::to_string(by_id.rbegin()->first) + ", not below the model's vocab_size " +
             std::to_string(vocab_size) + ": not this model's tokenizer");

    v.tokens.reserve(static_cast<std::size_t>(vocab_size));
    v.token_types.reserve(static_cast<std::size_t>(vocab_size));
    for (std::int64_t i = 0; i < vocab_size; ++i) {
        const auto it = by_id.find(i);
        if (it == by_id.end()) {
            v.tokens.push_back("[PAD" + std::to_string(i) + "]");
            v.token_types.push_back(static_cast<std::int32_t>(gguf_token_type::unused));
            continue;
        }
        std::string token = it->second;
        auto type = gguf_token_type::normal;
        if (added_vocab.count(token)) {
            const auto info_it = added_by_id.find(i);
            const added_info info = info_it == added_by_id.end() ? added_info{} : info_it->second;
            if (!info.normalized) token = byte_level_decode(token);
            if (info.special || looks_special(token)) {
                type = gguf_token_type::control;
            } else {
                token = replace_all(token, "\xE2\x96\x81", " ");  // user-defined "▁" pre-normalized to spaces
                type = gguf_token_type::user_defined;
            }
        }
        v.tokens.push_back(std::move(token));
        v.token_types.push_back(static_cast<std::int32_t>(type));
    }

    // merges: "a b" strings, or [a, b] pairs joined with their spaces written as U+0120
    if (const auto* merges = field(j["model"], "merges")) {
        if (!merges->is_array()) fail("model.merges: expected an array");
        v.merges.reserve(merges->size());
        for (std::size_t i = 0; i < merges->size(); ++i) {
            const auto& m = (*merges)[i];
            if (m.is_string()) {
                v.merges.push_back(m.get<std::string>());
            } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
                v.merges.push_back(replace_all(m[0].get<std::string>(), " ", "\xC4\xA0") + " " +
                                   replace_all(m[1].get<std::string>(), " ", "\xC4\xA0"));
            } else {
                fail("model.merges[" + std::to_string(i) + "]: expected \"a b\" or [\"a\", \"b\"]");
            }
        }
    }

    // SpecialVocab: add flags from the post-processor (ByteLevel: false), then tokenizer_config.json
    std::map<std::string, bool> add_set;
    auto set_add = [&](const std::string& typ, bool value, bool overwrite) {
        if (add_set.count(typ) && !overwrite) return;
        if (!add_set.count(typ)) v.add_special.emplace_back(typ, value);
        add_set[typ] = value;
    };
    if (field(j, "post_processor")) {
        set_add("bos", false, false);
        set_add("eos", false, false);
    }
    auto set_special = [&](const std::string& typ, const nlohmann::json* id, const std::string& where) {
        if (!id || !id->is_number_integer()) return;
        if (id->get<std::int64_t>() < 0) throw io_error(where, "invalid value for special token type " + typ + ": " + id->dump());
        if (v.special_id(typ)) return;
        v.special_ids.emplace_back(typ, static_cast<std::uint32_t>(id->get<std::int64_t>()));
    };
    const auto config_path = dir / "tokenizer_config.json";
    nlohmann::json tc = nlohmann::json::object();
    if (json_file_exists(config_path)) tc = read_json_file(config_path, "a tokenizer_config.json file");
    if (!tc.is_object()) throw io_error(config_path.string(), "the top level is not a JSON object");
    if (!tc.empty()) {
        if (!token_content(field(tc, "bos_token")) && token_content(field(tc, "cls_token"))) tc["bos_token"] = tc["cls_token"];
        if (!token_content(field(tc, "eos_token")) && token_content(field(tc, "sep_token"))) tc["eos_token"] = tc["sep_token"];
        if (const auto* t = field(tc, "chat_template"); t && t->is_string()) {
            v.chat_template = t->get<std::string>();
        } else if (!t) {
            const auto jinja = dir / "chat_template.jinja";
            if (std::filesystem::is_regular_file(jinja)) {
                std::ifstream in(jinja, std::ios::binary);
                v.chat_template = std::string(std::istreambuf_iterator<char>(in), {});
            }
        }
        for (const auto& [typ, key] : special_keys) {
            (void)key;
            const std::string t(typ);
            if (const auto* a = field(tc, ("add_" + t + "_token").c_str()); a && a->is_boolean() && !add_key(t).empty())
                set_add(t, a->get<bool>(), false);
            const auto content = token_content(field(tc, (t + "_token").c_str()));
            if (!content) continue;
            for (const auto& a : *added) {
                if (a["content"] == *content) {
                    set_special(t, field(a, "id"), config_path.string());
                    break;
                }
            }
        }
    }
    const auto config_json = dir / "config.json";
    if (json_file_exists(config_json)) {
        const nlohmann::json c = read_json_file(config_json, "a config.json file");
        for (const auto& [typ, key] : special_keys) {
            (void)key;
            const std::string k = std::string(typ) + "_token_id";
            const nlohmann::json* id = field(c, k.c_str());
            if (!id && field(c, "text_config")) id = field(c["text_config"], k.c_str());
            set_special(std::string(typ), id, config_json.string());
        }
    }
    result.vocab = std::move(v);
    return result;
}

/// The tokenizer keys of GGUF file `f`, validated: tokenizer.ggml.model "gpt2", a known
/// tokenizer.ggml.pre, tokens (valid UTF-8; the used ones distinct), token_type (as many, each a
/// llama.cpp type), merges ("a b" over used tokens), special ids below the token count. Each
/// failure is a gguf_error naming the file, the key and the index; a model or pre dsv2 does not
/// read is an unsupported_error naming the key and its value.
inline gguf_vocab read_gguf_vocab(const gguf_file& f) {
    const std::string& path = f.path();
    auto fail = [&](std::string_view key, const std::string& what) -> void {
        throw gguf_error(path, gguf_error::subject::key, std::string(key), what);
    };
    gguf_vocab v;
    const auto* model = f.find("tokenizer.ggml.model");
    if (!model) fail("tokenizer.ggml.model", "missing: the file carries no tokenizer");
    v.model = std::string(model->as_string());
    if (v.model != "gpt2")
        throw unsupported_error(path + ": key 'tokenizer.ggml.model': '" + detail::gguf::display(v.model) +
                                "' is not supported (dsv2 reads 'gpt2', byte-level BPE" +
                                (v.model == "none" ? "; 'none' means the file carries no tokenizer)" : ")"));
    const auto* pre = f.find("tokenizer.ggml.pre");
    if (!pre) fail("tokenizer.ggml.pre", "missing (dsv2 knows " + gguf_pre_names() + ")");
    v.pre = std::string(pre->as_string());
    if (!gguf_pre_tokenizer(v.pre))
        throw unsupported_error(path + ": key 'tokenizer.ggml.pre': pre-tokenizer '" + detail::gguf::display(v.pre) +
                                "' is not supported (dsv2 knows " + gguf_pre_names() + ")");

    const auto strings = f.get_array("tokenizer.ggml.tokens").strings();
    if (strings.empty()) fail("tokenizer.ggml.tokens", "is empty");
    if (strings.size() > 0x7fffffff) fail("tokenizer.ggml.tokens", "has more than 2^31 - 1 tokens");
    v.tokens.assign(strings.begin(), strings.end());
    if (const auto* types = f.get_array_opt("tokenizer.ggml.token_type")) {
        if (types->size() != v.tokens.size())
            fail("tokenizer.ggml.token_type", "has " + std::to_string(types->size()) + " entries, but tokenizer.ggml.tokens has " +
                                                  std::to_string(v.tokens.size()));
        const auto t = types->to_i64_vector();
        v.token_types.resize(t.size());
        for (std::size_t i = 0; i < t.size(); ++i) {
            if (t[i] < 0 || t[i] > 6) fail("tokenizer.ggml.token_type", "element " + std::to_string(i) + ": type " + std::to_string(t[i]) + " is none of llama.cpp's 0..6");
            v.token_types[i] = static_cast<std::int32_t>(t[i]);
        }
    } else {
        v.token_types.assign(v.tokens.size(), static_cast<std::int32_t>(gguf_token_type::normal));
    }
    std::unordered_map<std::string_view, std::size_t> seen;
    seen.reserve(v.tokens.size());
    for (std::size_t i = 0; i < v.tokens.size(); ++i) {
        if (const auto bad = text::utf8_first_invalid(v.tokens[i]))
            fail("tokenizer.ggml.tokens", "element " + std::to_string(i) + ": invalid UTF-8 at byte " + std::to_string(*bad));
        if (v.tokens[i].empty() && v.token_types[i] != static_cast<std::int32_t>(gguf_token_type::unused))
            fail("tokenizer.ggml.tokens", "element " + std::to_string(i) + " is empty");
        if (v.token_types[i] == static_cast<std::int32_t>(gguf_token_type::unused)) continue;
        const auto [it, fresh] = seen.emplace(v.tokens[i], i);
        if (!fresh)
            fail("tokenizer.ggml.tokens", "element " + std::to_string(i) + " '" + detail::gguf::display(v.tokens[i]) +
                                              "' repeats element " + std::to_string(it->second));
    }
    if (const auto* merges = f.get_array_opt("tokenizer.ggml.merges")) {
        const auto m = merges->strings();
        v.merges.reserve(m.size());
        for (std::size_t i = 0; i < m.size(); ++i) {
            const std::string_view s = m[i];
            const auto space = s.find(' ');
            const std::string where = "element " + std::to_string(i) + " '" + detail::gguf::display(s) + "': ";
            if (space == std::string_view::npos || space == 0 || space + 1 == s.size() || s.find(' ', space + 1) != std::string_view::npos)
                fail("tokenizer.ggml.merges", where + "is not two tokens separated by one space");
            const std::string a(s.substr(0, space)), b(s.substr(space + 1));
            for (const std::string& t : {a, b, a + b})
                if (!seen.count(t)) fail("tokenizer.ggml.merges", where + "token '" + detail::gguf::display(t) + "' is not in tokenizer.ggml.tokens");
            v.merges.emplace_back(s);
        }
    }
    for (const auto& [typ, key] : detail::gguf_vocab::special_keys) {
        if (const auto* id = f.find(key)) {
            const std::uint64_t n = id->as_u64();
            if (n >= v.tokens.size())
                fail(key, "token id " + std::to_string(n) + " is out of range (" + std::to_string(v.tokens.size()) + " tokens)");
            v.special_ids.emplace_back(std::string(typ), static_cast<std::uint32_t>(n));
        }
    }
    for (const auto& [typ, key] : detail::gguf_vocab::add_keys)
        if (const auto* b = f.find(key)) v.add_special.emplace_back(std::string(typ), b->as_bool());
    if (const auto t = f.get_string_opt("tokenizer.chat_template")) v.chat_template = std::string(*t);
    return v;
}

/// The tokenizer.json that the keys of `v` stand for (model.vocab holds every used token, the
/// control / user-defined / unknown tokens are added tokens as well — special, except the
/// user-defined ones — so that their ids stay those of the file; unused tokens are left out).
inline nlohmann::json tokenizer_json_of(const gguf_vocab& v) {
    using json = nlohmann::json;
    json vocab = json::object();
    json added = json::array();
    for (std::size_t i = 0; i < v.tokens.size(); ++i) {
        const auto type = static_cast<gguf_token_type>(v.token_types[i]);
        if (type == gguf_token_type::unused) continue;
        vocab[v.tokens[i]] = i;
        if (type == gguf_token_type::control || type == gguf_token_type::user_defined || type == gguf_token_type::unknown) {
            const bool special = type != gguf_token_type::user_defined;
            added.push_back({{"id", i}, {"content", v.tokens[i]}, {"single_word", false}, {"lstrip", false},
                             {"rstrip", false}, {"normalized", !special}, {"special", special}});
        }
    }
    json merges = json::array();
    for (const auto& m : v.merges) merges.push_back(m);
    const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
    json post = byte_level;
    post["trim_offsets"] = false;
    return {{"version", "1.0"},
            {"truncation", nullptr},
            {"padding", nullptr},
            {"added_tokens", std::move(added)},
            {"normalizer", nullptr},
            {"pre_tokenizer", *gguf_pre_tokenizer(v.pre)},
            {"post_processor", std::move(post)},
            {"decoder", byte_level},
            {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                       {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
                       {"ignore_merges", false}, {"vocab", std::move(vocab)}, {"merges", std::move(merges)}}}};
}

}  // namespace dsv2::io
