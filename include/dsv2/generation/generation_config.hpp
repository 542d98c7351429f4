// How generate() picks tokens and when it stops, named as transformers' GenerationConfig.
// Defaults can come from a model's generation_config.json (dsv2/io/generation_config_json.hpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dsv2/core/error.hpp"

namespace dsv2 {

struct generation_config {
    std::int64_t max_new_tokens = 20;
    bool do_sample = false;          // false: greedy (argmax)
    float temperature = 1.0f;        // sampling only; 0 means greedy
    std::int64_t top_k = 0;          // 0: off
    float top_p = 1.0f;              // 1: off; in (0, 1]
    float min_p = 0.0f;              // 0: off; in [0, 1]
    float repetition_penalty = 1.0f; // 1: off; > 0
    std::uint64_t seed = 0;
    std::optional<std::vector<std::int64_t>> eos_token_id{};  // absent: the config's; empty: never stop
    std::optional<std::int64_t> pad_token_id{};               // absent: the config's, else the first eos, else 0
    /// eos ids get −inf logits while a row has produced fewer than this many tokens
    /// (transformers' MinNewTokensLengthLogitsProcessor). 0: off.
    std::int64_t min_new_tokens = 0;
    /// A row finishes when its generated text reaches one of these (see dsv2/generation/stop_strings.hpp);
    /// generate() then needs a text decoder.
    std::vector<std::string> stop_strings{};
    /// generate() does not use it: prompts come tokenized. Callers that tokenize (the CLI) prepend it
    /// with prepend_bos(); absent: the model config's.
    std::optional<std::int64_t> bos_token_id{};

    bool greedy() const noexcept { return !do_sample || temperature == 0.0f; }

    /// input_error naming the field for any out-of-range value.
    void validate() const {
        if (max_new_tokens <= 0)
            throw input_error("max_new_tokens", "must be > 0, got " + std::to_string(max_new_tokens));
        if (min_new_tokens < 0)
            throw input_error("min_new_tokens", "must be ≥ 0 (0 disables it), got " + std::to_string(min_new_tokens));
        if (!(temperature >= 0.0f) || !std::isfinite(temperature))
            throw input_error("temperature", "must be a finite value ≥ 0, got " + std::to_string(temperature));
        if (top_k < 0) throw input_error("top_k", "must be ≥ 0 (0 disables it), got " + std::to_string(top_k));
        if (!(top_p > 0.0f && top_p <= 1.0f))
            throw input_error("top_p", "must be in (0, 1], got " + std::to_string(top_p));
        if (!(min_p >= 0.0f && min_p <= 1.0f))
            throw input_error("min_p", "must be in [0, 1], got " + std::to_string(min_p));
        if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty))
            throw input_error("repetition_penalty", "must be a finite value > 0, got " + std::to_string(repetition_penalty));
        for (std::size_t i = 0; i < stop_strings.size(); ++i)
            if (stop_strings[i].empty())
                throw input_error("stop_strings", "[" + std::to_string(i) + "] is empty (it would stop at once)");
    }
};

/// `ids` with `bos` in front, unless it is absent or `ids` already starts with it.
inline std::vector<std::int64_t> prepend_bos(std::vector<std::int64_t> ids, std::optional<std::int64_t> bos) {
    if (bos && (ids.empty() || ids.front() != *bos)) ids.insert(ids.begin(), *bos);
    return ids;
}

}  // namespace dsv2
