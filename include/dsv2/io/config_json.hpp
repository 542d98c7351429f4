// Reading and writing config.json for DeepseekV2Config.
//
// Reading (config_from_json, load_config) accepts both spellings found in real files:
//   - the original hub files: "rope_theta" + "rope_scaling": {"type": "yarn", "factor": ..., ...} (or null),
//     "torch_dtype";
//   - transformers v5: "rope_parameters": {"rope_type": "yarn", "rope_theta": ..., ...}, "dtype".
// Known keys are type-checked (a config_error names the key and the JSON type found); unknown keys are
// ignored; an absent key keeps the default of DeepseekV2Config (transformers' defaults). Integers must be
// JSON integers (2048.0 is refused); doubles accept integers. `null` means "unset" for the optional fields
// and for n_routed_experts (0: dense), eos_token_id (none) and the rope dictionaries.
//
// Rules for keys that overlap:
//   - "rope_parameters" wins over "rope_scaling"; when both are non-null they must describe the same
//     rotary settings. The rope dictionaries take "rope_type" or "type" (both: they must agree; neither:
//     an error). "rope_theta" inside the dictionary wins over the top-level "rope_theta"; when both are
//     given they must agree.
//   - "dtype" (v5) wins over "torch_dtype" when both are non-null.
//   - classification labels follow transformers: "id2label" (keys are strings of integers) sets
//     num_labels to its size; a "num_labels" key that disagrees is an error; "label2id" must agree with
//     id2label, and alone it is inverted into id2label.
//   - "model_type", when present, must be "deepseek_v2".
//
// Writing (to_json, save_config) spells every field of DeepseekV2Config plus "model_type": "deepseek_v2";
// transformers_v5 writes "rope_parameters" and "dtype" (loadable by transformers 5.x), hub writes
// "rope_theta" + "rope_scaling" (with "type"; null for plain default rope) and "torch_dtype".
// "architectures" is left to the caller. Reading what was written gives back an equal config
// (operator==), in either spelling.
#pragma once

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <nlohmann/json.hpp>

#include "dsv2/io/json_file.hpp"

#include "dsv2/config.hpp"
#include "dsv2/core/error.hpp"

namespace dsv2 {

/// Which spelling to_json writes.
enum class config_spelling {
    transformers_v5,  ///< "rope_parameters" {"rope_type", "rope_theta", ...}, "dtype"
    hub,              ///< "rope_theta" + "rope_scaling" {"type", ...}, "torch_dtype" (the original hub files)
};

namespace detail::config_json {

using json = nlohmann::json;

inline std::string type_found(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned: return "an integer";
        case json::value_t::number_float: return "a floating-point number";
        case json::value_t::string: return "a string";
        case json::value_t::array: return "an array";
        case json::value_t::object: return "an object";
        case json::value_t::binary: return "binary data";
        case json::value_t::discarded: break;
    }
    return "an invalid value";
}

[[noreturn]] inline void wrong_type(const std::string& key, std::string_view expected, const json& v) {
    throw config_error(key, "expected " + std::string(expected) + ", found " + type_found(v));
}

inline std::int64_t to_int(const std::string& key, const json& v) {
    if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            throw config_error(key, "integer " + std::to_string(u) + " does not fit in 64 bits");
        return static_cast<std::int64_t>(u);
    }
    if (v.is_number_integer()) return v.get<std::int64_t>();
    wrong_type(key, "an integer", v);
}

inline double to_double(const std::string& key, const json& v) {
    if (v.is_number()) return v.get<double>();
    wrong_type(key, "a number", v);
}

inline bool to_bool(const std::string& key, const json& v) {
    if (v.is_boolean()) return v.get<bool>();
    wrong_type(key, "a boolean", v);
}

inline std::string to_string(const std::string& key, const json& v) {
    if (v.is_string()) return v.get<std::string>();
    wrong_type(key, "a string", v);
}

inline void convert(const std::string& key, const json& v, std::int64_t& out) { out = to_int(key, v); }
inline void convert(const std::string& key, const json& v, double& out) { out = to_double(key, v); }
inline void convert(const std::string& key, const json& v, bool& out) { out = to_bool(key, v); }
inline void convert(const std::string& key, const json& v, std::string& out) { out = to_string(key, v); }

/// Reads the keys of one JSON object; `prefix` ("", "rope_scaling.") makes the names in errors.
class object_reader {
public:
    object_reader(const json& object, std::string prefix) : object_(object), prefix_(std::move(prefix)) {}

    const json* find(std::string_view key) const {
        const auto it = object_.find(key);
        return it == object_.end() ? nullptr : &*it;
    }
    /// The value of `key`, or nullptr when it is absent or null.
    const json* find_non_null(std::string_view key) const {
        const json* v = find(key);
        return v && !v->is_null() ? v : nullptr;
    }
    std::string name(std::string_view key) const { return prefix_ + std::string(key); }

    /// A required-type field: absent keeps `out`; null is a type error.
    template <class T>
    void read(std::string_view key, T& out) const {
        if (const json* v = find(key)) convert(name(key), *v, out);
    }
    /// An optional field: absent keeps `out`; null resets it.
    template <class T>
    void read(std::string_view key, std::optional<T>& out) const {
        const json* v = find(key);
        if (!v) return;
        if (v->is_null()) {
            out.reset();
            return;
        }
        T value{};
        convert(name(key), *v, value);
        out = std::move(value);
    }

private:
    const json& object_;
    std::string prefix_;
};

/// One rope dictionary ("rope_parameters" or "rope_scaling"); `theta` is its "rope_theta" if it has one.
struct parsed_rope {
    RopeParameters params;
    std::optional<double> theta;
};

inline parsed_rope parse_rope(const json& dict, const std::string& key) {
    if (!dict.is_object()) wrong_type(key, "an object or null", dict);
    const object_reader r(dict, key + ".");
    parsed_rope out;
    std::optional<std::string> rope_type, type;
    r.read("rope_type", rope_type);
    r.read("type", type);
    if (rope_type && type && *rope_type != *type)
        throw config_error(key + ".rope_type", "'" + *rope_type + "' disagrees with type '" + *type + "'");
    if (!rope_type && !type)
        throw config_error(key + ".rope_type", "missing: give \"rope_type\" (or \"type\"): default or yarn");
    out.params.rope_type = rope_type ? *rope_type : *type;
    r.read("rope_theta", out.theta);
    r.read("factor", out.params.factor);
    r.read("original_max_position_embeddings", out.params.original_max_position_embeddings);
    r.read("beta_fast", out.params.beta_fast);
    r.read("beta_slow", out.params.beta_slow);
    r.read("mscale", out.params.mscale);
    r.read("mscale_all_dim", out.params.mscale_all_dim);
    r.read("attention_factor", out.params.attention_factor);
    r.read("truncate", out.params.truncate);
    return out;
}

inline RopeParameters read_rope(const object_reader& top) {
    std::optional<double> top_theta;
    top.read("rope_theta", top_theta);

    std::optional<parsed_rope> from_parameters, from_scaling;
    if (const json* v = top.find_non_null("rope_parameters")) from_parameters = parse_rope(*v, "rope_parameters");
    if (const json* v = top.find_non_null("rope_scaling")) from_scaling = parse_rope(*v, "rope_scaling");

    auto resolve_theta = [&](parsed_rope& p, const std::string& key) {
        if (p.theta && top_theta && *p.theta != *top_theta)
            throw config_error("rope_theta", "disagrees with " + key + ".rope_theta");
        if (p.theta) p.params.rope_theta = *p.theta;
        else if (top_theta) p.params.rope_theta = *top_theta;
    };
    if (from_parameters) resolve_theta(*from_parameters, "rope_parameters");
    if (from_scaling) resolve_theta(*from_scaling, "rope_scaling");
    if (from_parameters && from_scaling && !(from_parameters->params == from_scaling->params))
        throw config_error("rope_scaling", "disagrees with rope_parameters (give one of them)");

    if (from_parameters) return from_parameters->params;
    if (from_scaling) return from_scaling->params;
    RopeParameters plain;
    if (top_theta) plain.rope_theta = *top_theta;
    return plain;
}

inline std::int64_t parse_label_id(const std::string& key, const std::string& text) {
    std::int64_t id = 0;
    const char* end = text.data() + text.size();
    const auto res = std::from_chars(text.data(), end, id);
    if (text.empty() || res.ec != std::errc() || res.ptr != end)
        throw config_error(key, "key '" + text + "' is not an integer label id");
    return id;
}

inline void read_labels(const object_reader& top, DeepseekV2Config& cfg) {
    std::optional<std::int64_t> num_labels;
    top.read("num_labels", num_labels);

    std::optional<std::map<std::int64_t, std::string>> id2label;
    if (const json* v = top.find_non_null("id2label")) {
        if (!v->is_object()) wrong_type("id2label", "an object or null", *v);
        id2label.emplace();
        for (const auto& [id_text, label] : v->items()) {
            const std::int64_t id = parse_label_id("id2label", id_text);
            if (!id2label->emplace(id, to_string("id2label." + id_text, label)).second)
                throw config_error("id2label", "label id " + std::to_string(id) + " appears twice");
        }
    }
    std::optional<std::map<std::string, std::int64_t>> label2id;
    if (const json* v = top.find_non_null("label2id")) {
        if (!v->is_object()) wrong_type("label2id", "an object or null", *v);
        label2id.emplace();
        for (const auto& [label, id] : v->items()) label2id->emplace(label, to_int("label2id." + label, id));
    }

    if (id2label && label2id) {
        for (const auto& [label, id] : *label2id) {
            const auto it = id2label->find(id);
            if (it == id2label->end() || it->second != label)
                throw config_error("label2id", "entry '" + label + "': " + std::to_string(id) + " disagrees with id2label");
        }
        for (const auto& [id, label] : *id2label)
            if (!label2id->contains(label))
                throw config_error("label2id", "lacks label '" + label + "' of id2label");
    } else if (label2id) {
        id2label.emplace();
        for (const auto& [label, id] : *label2id)
            if (!id2label->emplace(id, label).second)
                throw config_error("label2id", "label id " + std::to_string(id) + " appears twice");
    }

    if (id2label) {
        const auto size = static_cast<std::int64_t>(id2label->size());
        if (num_labels && *num_labels != size)
            throw config_error("num_labels", std::to_string(*num_labels) + " disagrees with id2label (" +
                                                 std::to_string(size) + " entries)");
        cfg.id2label = std::move(*id2label);
        cfg.num_labels = size;
    } else if (num_labels) {
        cfg.num_labels = *num_labels;
    }
}

inline json optional_to_json(const auto& opt) { return opt ? json(*opt) : json(nullptr); }

inline json rope_to_json(const RopeParameters& r, config_spelling spelling) {
    json j = json::object();
    if (spelling == config_spelling::transformers_v5) {
        j["rope_type"] = r.rope_type;
        j["rope_theta"] = r.rope_theta;
    } else {
        j["type"] = r.rope_type;
    }
    if (r.factor) j["factor"] = *r.factor;
    if (r.original_max_position_embeddings) j["original_max_position_embeddings"] = *r.original_max_position_embeddings;
    if (r.beta_fast) j["beta_fast"] = *r.beta_fast;
    if (r.beta_slow) j["beta_slow"] = *r.beta_slow;
    if (r.mscale) j["mscale"] = *r.mscale;
    if (r.mscale_all_dim) j["mscale_all_dim"] = *r.mscale_all_dim;
    if (r.attention_factor) j["attention_factor"] = *r.attention_factor;
    if (r.truncate) j["truncate"] = *r.truncate;
    return j;
}

}  // namespace detail::config_json

/// A DeepseekV2Config from a parsed config.json (either spelling). Type-checks, does not validate():
/// call validate() (load_config does) before using the config for a model.
inline DeepseekV2Config config_from_json(const nlohmann::json& j) {
    using detail::config_json::object_reader;
    namespace cj = detail::config_json;
    if (!j.is_object()) cj::wrong_type("config", "a JSON object", j);
    const object_reader r(j, "");
    DeepseekV2Config c;

    if (const nlohmann::json* v = r.find("model_type")) {
        const std::string model_type = cj::to_string("model_type", *v);
        if (model_type != "deepseek_v2")
            throw config_error("model_type", "'" + model_type + "' is not a DeepSeek-V2 config (deepseek_v2)");
    }

    r.read("vocab_size", c.vocab_size);
    r.read("hidden_size", c.hidden_size);
    r.read("intermediate_size", c.intermediate_size);
    r.read("num_hidden_layers", c.num_hidden_layers);
    r.read("num_attention_heads", c.num_attention_heads);
    r.read("num_key_value_heads", c.num_key_value_heads);
    r.read("hidden_act", c.hidden_act);
    r.read("max_position_embeddings", c.max_position_embeddings);
    r.read("initializer_range", c.initializer_range);
    r.read("rms_norm_eps", c.rms_norm_eps);
    r.read("use_cache", c.use_cache);
    r.read("pad_token_id", c.pad_token_id);
    r.read("bos_token_id", c.bos_token_id);
    if (const nlohmann::json* v = r.find("eos_token_id")) {
        c.eos_token_id.clear();
        if (v->is_array()) {
            for (std::size_t i = 0; i < v->size(); ++i)
                c.eos_token_id.push_back(cj::to_int("eos_token_id[" + std::to_string(i) + "]", (*v)[i]));
        } else if (!v->is_null()) {
            if (!v->is_number_integer()) cj::wrong_type("eos_token_id", "an integer, a list of integers or null", *v);
            c.eos_token_id.push_back(cj::to_int("eos_token_id", *v));
        }
    }
    r.read("tie_word_embeddings", c.tie_word_embeddings);
    c.rope_parameters = cj::read_rope(r);
    r.read("attention_bias", c.attention_bias);
    r.read("attention_dropout", c.attention_dropout);
    r.read("mlp_bias", c.mlp_bias);
    r.read("first_k_dense_replace", c.first_k_dense_replace);
    r.read("kv_lora_rank", c.kv_lora_rank);
    r.read("q_lora_rank", c.q_lora_rank);
    r.read("n_group", c.n_group);
    if (const nlohmann::json* v = r.find("n_routed_experts"))
        c.n_routed_experts = v->is_null() ? 0 : cj::to_int("n_routed_experts", *v);
    r.read("n_shared_experts", c.n_shared_experts);
    r.read("qk_nope_head_dim", c.qk_nope_head_dim);
    r.read("qk_rope_head_dim", c.qk_rope_head_dim);
    r.read("routed_scaling_factor", c.routed_scaling_factor);
    r.read("topk_group", c.topk_group);
    r.read("topk_method", c.topk_method);
    r.read("norm_topk_prob", c.norm_topk_prob);
    r.read("v_head_dim", c.v_head_dim);
    r.read("num_experts_per_tok", c.num_experts_per_tok);
    r.read("moe_intermediate_size", c.moe_intermediate_size);

    r.read("scoring_func", c.scoring_func);
    r.read("moe_layer_freq", c.moe_layer_freq);
    r.read("aux_loss_alpha", c.aux_loss_alpha);
    r.read("seq_aux", c.seq_aux);
    r.read("ep_size", c.ep_size);
    r.read("pretraining_tp", c.pretraining_tp);
    std::optional<std::string> torch_dtype, dtype;
    r.read("torch_dtype", torch_dtype);
    r.read("dtype", dtype);
    c.torch_dtype = dtype ? dtype : torch_dtype;

    cj::read_labels(r, c);
    r.read("problem_type", c.problem_type);
    return c;
}

/// config.json text for `c` in the chosen spelling (see the top of this file).
inline nlohmann::json to_json(const DeepseekV2Config& c, config_spelling spelling = config_spelling::transformers_v5) {
    using nlohmann::json;
    using detail::config_json::optional_to_json;
    const bool v5 = spelling == config_spelling::transformers_v5;
    json j = json::object();
    j["model_type"] = "deepseek_v2";
    j["vocab_size"] = c.vocab_size;
    j["hidden_size"] = c.hidden_size;
    j["intermediate_size"] = c.intermediate_size;
    j["num_hidden_layers"] = c.num_hidden_layers;
    j["num_attention_heads"] = c.num_attention_heads;
    j["num_key_value_heads"] = optional_to_json(c.num_key_value_heads);
    j["hidden_act"] = c.hidden_act;
    j["max_position_embeddings"] = c.max_position_embeddings;
    j["initializer_range"] = c.initializer_range;
    j["rms_norm_eps"] = c.rms_norm_eps;
    j["use_cache"] = c.use_cache;
    j["pad_token_id"] = optional_to_json(c.pad_token_id);
    j["bos_token_id"] = optional_to_json(c.bos_token_id);
    if (c.eos_token_id.empty()) j["eos_token_id"] = nullptr;
    else if (c.eos_token_id.size() == 1) j["eos_token_id"] = c.eos_token_id.front();
    else j["eos_token_id"] = c.eos_token_id;
    j["tie_word_embeddings"] = c.tie_word_embeddings;

    const RopeParameters& rope = c.rope_parameters;
    if (v5) {
        j["rope_parameters"] = detail::config_json::rope_to_json(rope, spelling);
    } else {
        j["rope_theta"] = rope.rope_theta;
        RopeParameters plain;
        plain.rope_theta = rope.rope_theta;
        j["rope_scaling"] = rope == plain ? json(nullptr) : detail::config_json::rope_to_json(rope, spelling);
    }

    j["attention_bias"] = c.attention_bias;
    j["attention_dropout"] = c.attention_dropout;
    j["mlp_bias"] = c.mlp_bias;
    j["first_k_dense_replace"] = c.first_k_dense_replace;
    j["kv_lora_rank"] = c.kv_lora_rank;
    j["q_lora_rank"] = optional_to_json(c.q_lora_rank);
    j["n_group"] = optional_to_json(c.n_group);
    // null, as the original code spells a dense model (0 experts would build an empty MoE there)
    j["n_routed_experts"] = c.n_routed_experts == 0 ? json(nullptr) : json(c.n_routed_experts);
    j["n_shared_experts"] = optional_to_json(c.n_shared_experts);
    j["qk_nope_head_dim"] = c.qk_nope_head_dim;
    j["qk_rope_head_dim"] = c.qk_rope_head_dim;
    j["routed_scaling_factor"] = c.routed_scaling_factor;
    j["topk_group"] = optional_to_json(c.topk_group);
    j["topk_method"] = c.topk_method;
    j["norm_topk_prob"] = c.norm_topk_prob;
    j["v_head_dim"] = c.v_head_dim;
    j["num_experts_per_tok"] = optional_to_json(c.num_experts_per_tok);
    j["moe_intermediate_size"] = c.moe_intermediate_size;

    j["scoring_func"] = c.scoring_func;
    j["moe_layer_freq"] = c.moe_layer_freq;
    j["aux_loss_alpha"] = c.aux_loss_alpha;
    j["seq_aux"] = c.seq_aux;
    j["ep_size"] = c.ep_size;
    j["pretraining_tp"] = c.pretraining_tp;
    j[v5 ? "dtype" : "torch_dtype"] = optional_to_json(c.torch_dtype);

    j["num_labels"] = c.num_labels;
    if (!c.id2label.empty()) {
        json id2label = json::object(), label2id = json::object();
        for (const auto& [id, label] : c.id2label) {
            id2label[std::to_string(id)] = label;
            label2id[label] = id;
        }
        j["id2label"] = std::move(id2label);
        j["label2id"] = std::move(label2id);
    }
    j["problem_type"] = optional_to_json(c.problem_type);
    return j;
}

namespace detail::config_json {
/// A directory means the config.json inside it.
inline std::filesystem::path config_file(const std::filesystem::path& file_or_dir) {
    std::error_code ec;
    return std::filesystem::is_directory(file_or_dir, ec) ? file_or_dir / "config.json" : file_or_dir;
}
}  // namespace detail::config_json

/// Reads `file_or_dir` (a config.json, or a directory holding one), then validate()s it.
/// io_error (naming the file) when it is missing, unreadable or not JSON (with the parse position);
/// config_error for a mistyped key or a broken rule.
inline DeepseekV2Config load_config(const std::filesystem::path& file_or_dir) {
    const std::filesystem::path file = detail::config_json::config_file(file_or_dir);
    const nlohmann::json j = io::read_json_file(file, "a config.json file");
    DeepseekV2Config c = config_from_json(j);
    c.validate();
    return c;
}

/// Writes `c` as config.json (into `file_or_dir`/config.json when it is an existing directory),
/// two-space indented, keys sorted. io_error naming the file when it cannot be written.
inline void save_config(const std::filesystem::path& file_or_dir, const DeepseekV2Config& c,
                        config_spelling spelling = config_spelling::transformers_v5) {
    const std::filesystem::path file = detail::config_json::config_file(file_or_dir);
    // invalid UTF-8 in a string field is replaced (U+FFFD) rather than thrown as a json error
    const std::string text =
        to_json(c, spelling).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    if (!out) throw io_error(file.string(), "cannot open for writing");
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.close();
    if (!out) throw io_error(file.string(), "write failed");
}

}  // namespace dsv2
