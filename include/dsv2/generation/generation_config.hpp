// How generate() picks tokens, named as transformers' GenerationConfig.
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

    bool greedy() const noexcept { return !do_sample || temperature == 0.0f; }

    /// input_error naming the field for any out-of-range value.
    void validate() const {
        if (max_new_tokens <= 0)
            throw input_error("max_new_tokens", "must be > 0, got " + std::to_string(max_new_tokens));
        if (!(temperature >= 0.0f) || !std::isfinite(temperature))
            throw input_error("temperature", "must be a finite value ≥ 0, got " + std::to_string(temperature));
        if (top_k < 0) throw input_error("top_k", "must be ≥ 0 (0 disables it), got " + std::to_string(top_k));
        if (!(top_p > 0.0f && top_p <= 1.0f))
            throw input_error("top_p", "must be in (0, 1], got " + std::to_string(top_p));
        if (!(min_p >= 0.0f && min_p <= 1.0f))
            throw input_error("min_p", "must be in [0, 1], got " + std::to_string(min_p));
        if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty))
            throw input_error("repetition_penalty", "must be a finite value > 0, got " + std::to_string(repetition_penalty));
    }
};

}  // namespace dsv2
