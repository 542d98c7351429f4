// Reading a Hugging Face generation_config.json: the defaults a model ships for generate().
//
// The file is optional: load_generation_config() gives std::nullopt when it does not exist. Keys read
// (anything else — "_from_model_config", "transformers_version", beam settings … — is ignored):
//   eos_token_id (an integer or a list of integers), bos_token_id, pad_token_id, do_sample,
//   temperature, top_p, top_k, min_p, repetition_penalty, max_new_tokens, max_length, min_new_tokens.
// `null` counts as absent. Integers must be JSON integers; floating-point fields accept integers.
// A mistyped or out-of-range value is an io_error naming the file and the key; invalid JSON an
// io_error with the parse position.
//
// Merging — explicit arguments win, in three layers:
//   generation_config gc;                     // 1. dsv2's defaults
//   if (file) file->apply_to(gc, prompt_len); // 2. what the file sets
//   gc.top_k = 40;                            // 3. what the caller (a CLI flag) sets explicitly
// max_length is transformers' total length (prompt + new tokens). It is used only when the file has
// no max_new_tokens: max_new_tokens = max_length − prompt length (an io_error naming max_length when
// the prompt already fills it). max_new_tokens wins when both are present, as in transformers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsv2/io/json_file.hpp"

#include "dsv2/core/error.hpp"
#include "dsv2/generation/generation_config.hpp"
#include "dsv2/io/config_json.hpp"

namespace dsv2 {

/// What one generation_config.json sets (absent keys stay std::nullopt).
struct generation_config_file {
    std::string path;  ///< for errors
    std::optional<std::vector<std::int64_t>> eos_token_id;
    std::optional<std::int64_t> bos_token_id, pad_token_id;
    std::optional<bool> do_sample;
    std::optional<double> temperature, top_p, min_p, repetition_penalty;
    std::optional<std::int64_t> top_k, max_new_tokens, max_length, min_new_tokens;

    /// Overwrites the fields of `gc` that the file sets; `prompt_length` resolves max_length.
    void apply_to(generation_config& gc, std::int64_t prompt_length) const {
        if (eos_token_id) gc.eos_token_id = *eos_token_id;
        if (bos_token_id) gc.bos_token_id = *bos_token_id;
        if (pad_token_id) gc.pad_token_id = *pad_token_id;
        if (do_sample) gc.do_sample = *do_sample;
        if (temperature) gc.temperature = static_cast<float>(*temperature);
        if (top_p) gc.top_p = static_cast<float>(*top_p);
        if (min_p) gc.min_p = static_cast<float>(*min_p);
        if (repetition_penalty) gc.repetition_penalty = static_cast<float>(*repetition_penalty);
        if (top_k) gc.top_k = *top_k;
        if (min_new_tokens) gc.min_new_tokens = *min_new_tokens;
        if (max_new_tokens) {
            gc.max_new_tokens = *max_new_tokens;
        } else if (max_length) {
            if (*max_length <= prompt_length)
                throw io_error(path, "max_length: " + std::to_string(*max_length) + " leaves no room after the " +
                                         std::to_string(prompt_length) + "-token prompt");
            gc.max_new_tokens = *max_length - prompt_length;
        }
    }
};

namespace detail::generation_config_json {
using json = nlohmann::json;

inline std::vector<std::int64_t> read_ids(const std::string& key, const json& v) {
    namespace cj = detail::config_json;
    if (v.is_array()) {
        std::vector<std::int64_t> ids;
        for (std::size_t i = 0; i < v.size(); ++i) ids.push_back(cj::to_int(key + "[" + std::to_string(i) + "]", v[i]));
        return ids;
    }
    if (v.is_number_integer() || v.is_number_unsigned()) return {cj::to_int(key, v)};
    cj::wrong_type(key, "an integer or a list of integers", v);
}
}  // namespace detail::generation_config_json

/// The settings of a parsed generation_config.json; `path` names the file in errors.
inline generation_config_file generation_config_from_json(const nlohmann::json& j, const std::string& path) {
    namespace cj = detail::config_json;
    generation_config_file f;
    f.path = path;
    try {
        if (!j.is_object()) cj::wrong_type("generation config", "a JSON object", j);
        const cj::object_reader r(j, "");
        if (const auto* v = r.find_non_null("eos_token_id"))
            f.eos_token_id = detail::generation_config_json::read_ids("eos_token_id", *v);
        r.read("bos_token_id", f.bos_token_id);
        r.read("pad_token_id", f.pad_token_id);
        r.read("do_sample", f.do_sample);
        r.read("temperature", f.temperature);
        r.read("top_p", f.top_p);
        r.read("top_k", f.top_k);
        r.read("min_p", f.min_p);
        r.read("repetition_penalty", f.repetition_penalty);
        r.read("max_new_tokens", f.max_new_tokens);
        r.read("max_length", f.max_length);
        r.read("min_new_tokens", f.min_new_tokens);
        // the ranges generate() accepts, checked on the values the file sets
        if (f.max_length && *f.max_length <= 0)
            throw input_error("max_length", "must be > 0, got " + std::to_string(*f.max_length));
        generation_config probe;
        f.apply_to(probe, 0);
        probe.validate();
    } catch (const config_error& e) {
        std::string what = e.what();
        if (what.starts_with("config: ")) what.erase(0, 8);
        throw io_error(path, what);
    } catch (const input_error& e) {
        throw io_error(path, e.what());
    }
    return f;
}

/// Reads `file_or_dir` (a generation_config.json, or a model directory that may hold one).
/// std::nullopt when the file does not exist; io_error (naming the file, and the key when one is
/// wrong) when it cannot be read, is not JSON or holds a mistyped or out-of-range value.
inline std::optional<generation_config_file> load_generation_config(const std::filesystem::path& file_or_dir) {
    std::error_code ec;
    const std::filesystem::path file = std::filesystem::is_directory(file_or_dir, ec)
                                           ? file_or_dir / "generation_config.json"
                                           : file_or_dir;
    if (!io::json_file_exists(file)) return std::nullopt;
    const nlohmann::json j = io::read_json_file(file, "a generation_config.json file");
    return generation_config_from_json(j, file.string());
}

}  // namespace dsv2
