// generate(): batched autoregressive decoding with a KV cache.
//
// Prompts of different lengths come left-padded with an attention mask; position ids come from the
// mask (cumsum − 1, pads at 1) as transformers computes them. The prompt is one forward (prefill),
// then one token per step (decode). A row finishes when it produces an eos id (after min_new_tokens:
// until then eos logits are −inf) or when its decoded text reaches a stop string
// (stop_strings.hpp); finished rows keep receiving pad_token_id. Decoding stops when every row has
// finished, when max_new_tokens were produced, or when the step callback returns
// generation_control::stop. The tokens that finished a row (eos, the stop string's) stay in the output.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dsv2/generation/generation_config.hpp"
#include "dsv2/generation/logits_processing.hpp"
#include "dsv2/generation/stop_strings.hpp"
#include "dsv2/generation/text_decoder.hpp"
#include "dsv2/models/causal_lm.hpp"

namespace dsv2 {

/// Why a row finished.
enum class finish_reason {
    length,       ///< max_new_tokens reached (or the row was still running when generation ended)
    eos,          ///< it produced an eos id
    stop_string,  ///< its text reached one of gc.stop_strings
    callback,     ///< the step callback stopped generation while the row was running
};

inline const char* to_string(finish_reason r) noexcept {
    switch (r) {
        case finish_reason::length: return "length";
        case finish_reason::eos: return "eos";
        case finish_reason::stop_string: return "stop string";
        case finish_reason::callback: return "callback";
    }
    return "?";
}

/// What the streaming callback sees after each step.
struct generation_step {
    std::int64_t step = 0;                     // 0 for the token produced by the prefill
    std::span<const std::int64_t> tokens;      // [B] the new token of each row (pad for finished rows)
    std::span<const bool> finished;            // [B] finished after this step
    std::span<const std::string> text;         // [B] the text each new token completed (with a text decoder; else empty)
};

/// What the step callback tells generate().
enum class generation_control { proceed, stop };

/// The step callback: any callable taking `const generation_step&` and returning void (never stops)
/// or generation_control (stop ends generation after this step; its tokens are kept).
class step_callback {
public:
    step_callback() = default;
    template <class F>
        requires(!std::same_as<std::remove_cvref_t<F>, step_callback> && std::invocable<F&, const generation_step&>)
    step_callback(F f) {  // NOLINT: implicit, so that lambdas and std::function<void(...)> convert
        using R = std::invoke_result_t<F&, const generation_step&>;
        static_assert(std::is_void_v<R> || std::same_as<R, generation_control>,
                      "a step callback returns void or dsv2::generation_control");
        if constexpr (std::is_constructible_v<bool, const F&>)
            if (!static_cast<bool>(f)) return;  // an empty std::function: no callback
        if constexpr (std::is_void_v<R>)
            fn_ = [f = std::move(f)](const generation_step& s) mutable {
                f(s);
                return generation_control::proceed;
            };
        else
            fn_ = std::move(f);
    }
    explicit operator bool() const noexcept { return static_cast<bool>(fn_); }
    generation_control operator()(const generation_step& s) const { return fn_ ? fn_(s) : generation_control::proceed; }

private:
    std::function<generation_control(const generation_step&)> fn_;
};

struct generation_output {
    tensor<std::int64_t> sequences;  // [B, S + produced]: the prompt and what followed
    std::int64_t new_tokens = 0;     // steps taken
    std::vector<finish_reason> finish_reasons;  // [B]
    double prefill_seconds = 0, decode_seconds = 0;
    std::int64_t prompt_tokens = 0;  // real (unpadded) prompt tokens over the batch
    std::size_t cache_bytes = 0;
};

template <model_spec Spec>
generation_output generate(const DeepseekV2ForCausalLM<Spec>& lm, const tensor<std::int64_t>& input_ids,
                           const tensor<std::int64_t>* attention_mask, const generation_config& gc,
                           const step_callback& on_step = {}, const text_decoder_factory& decoders = {}) {
    using clock = std::chrono::steady_clock;
    gc.validate();
    if (!gc.stop_strings.empty() && !decoders)
        throw input_error("stop_strings", "need a text decoder (generate's `decoders` argument) to match text");
    const auto& cfg = lm.config();
    if (input_ids.rank() != 2 || input_ids.dim(1) == 0)
        throw input_error("input_ids", "must be a non-empty [batch, seq] prompt, got " + to_string(input_ids.shape()));
    const std::int64_t B = input_ids.dim(0), S = input_ids.dim(1), V = cfg.vocab_size;
    if (S + gc.max_new_tokens > cfg.max_position_embeddings)
        throw input_error("max_new_tokens", std::to_string(S) + " prompt + " + std::to_string(gc.max_new_tokens) +
                                                " new tokens exceed max_position_embeddings " +
                                                std::to_string(cfg.max_position_embeddings));
    const std::vector<std::int64_t> eos = gc.eos_token_id.value_or(cfg.eos_token_id);
    const std::int64_t pad = gc.pad_token_id ? *gc.pad_token_id
                                             : cfg.pad_token_id ? *cfg.pad_token_id : (eos.empty() ? 0 : eos.front());

    const std::int64_t total = S + gc.max_new_tokens;
    tensor<std::int64_t> mask({B, total}, 1);  // grows by one column per step; prompt part from the caller
    if (attention_mask) {
        if (attention_mask->shape() != input_ids.shape())
            throw input_error("attention_mask", "shape " + to_string(attention_mask->shape()) +
                                                    " differs from input_ids' " + to_string(input_ids.shape()));
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t s = 0; s < S; ++s) mask(b, s) = (*attention_mask)(b, s);
    }
    // position ids from the mask: cumsum − 1, pads at 1
    tensor<std::int64_t> positions({B, S});
    std::vector<std::int64_t> next_position(static_cast<std::size_t>(B));
    generation_output out;
    for (std::int64_t b = 0; b < B; ++b) {
        std::int64_t seen = 0;
        for (std::int64_t s = 0; s < S; ++s) {
            seen += mask(b, s);
            positions(b, s) = mask(b, s) ? seen - 1 : 1;
        }
        next_position[static_cast<std::size_t>(b)] = seen;
        out.prompt_tokens += seen;
    }

    // every token of each row so far (for the repetition penalty: real tokens only)
    std::vector<std::vector<std::int64_t>> history(static_cast<std::size_t>(B));
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t s = 0; s < S; ++s)
            if (mask(b, s)) history[static_cast<std::size_t>(b)].push_back(input_ids(b, s));

    auto cache = lm.make_cache(B);
    cache.reserve(total - 1);  // sized from the request, not from max_position_embeddings
    std::mt19937_64 rng(gc.seed);
    std::vector<std::int64_t> produced;  // [steps, B]
    std::unique_ptr<bool[]> finished(new bool[static_cast<std::size_t>(B)]());
    std::vector<std::int64_t> step_tokens(static_cast<std::size_t>(B));
    std::vector<std::string> step_text(decoders ? static_cast<std::size_t>(B) : 0);
    out.finish_reasons.assign(static_cast<std::size_t>(B), finish_reason::length);
    std::vector<std::unique_ptr<incremental_text_decoder>> row_decoders;
    std::vector<stop_string_matcher> matchers;
    if (decoders)
        for (std::int64_t b = 0; b < B; ++b) {
            row_decoders.push_back(decoders());
            if (!row_decoders.back()) throw input_error("decoders", "the factory returned no decoder");
            matchers.emplace_back(gc.stop_strings);
        }

    tensor<std::int64_t> step_ids = input_ids;
    tensor<std::int64_t> step_positions = positions;
    auto t0 = clock::now();
    for (std::int64_t step = 0; step < gc.max_new_tokens; ++step) {
        const std::int64_t past = cache.length(), n = step_ids.dim(1);
        tensor<std::int64_t> step_mask({B, past + n});
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t s = 0; s < past + n; ++s) step_mask(b, s) = mask(b, s);
        const auto logits = lm.forward({.input_ids = &step_ids, .attention_mask = &step_mask,
                                        .position_ids = &step_positions, .logits_to_keep = std::int64_t{1}},
                                       &cache)
                                .logits;  // [B, 1, V]
        std::vector<float> row(static_cast<std::size_t>(V));
        for (std::int64_t b = 0; b < B; ++b) {
            const auto bi = static_cast<std::size_t>(b);
            std::copy_n(logits.data() + b * V, V, row.begin());
            if (step < gc.min_new_tokens)  // MinNewTokensLengthLogitsProcessor
                for (std::int64_t id : eos)
                    if (id >= 0 && id < V) row[static_cast<std::size_t>(id)] = -std::numeric_limits<float>::infinity();
            std::int64_t token = next_token(row, history[bi], gc, rng);
            if (finished[bi]) token = pad;
            step_tokens[bi] = token;
            if (decoders) step_text[bi].clear();
            if (finished[bi]) continue;
            history[bi].push_back(token);
            if (std::find(eos.begin(), eos.end(), token) != eos.end()) {
                finished[bi] = true;  // an eos adds no text
                out.finish_reasons[bi] = finish_reason::eos;
            } else if (decoders) {
                step_text[bi] = row_decoders[bi]->push(token);
                if (matchers[bi].push(step_text[bi])) {
                    finished[bi] = true;
                    out.finish_reasons[bi] = finish_reason::stop_string;
                }
            }
        }
        produced.insert(produced.end(), step_tokens.begin(), step_tokens.end());
        const auto now = clock::now();
        (step == 0 ? out.prefill_seconds : out.decode_seconds) += std::chrono::duration<double>(now - t0).count();
        ++out.new_tokens;
        const bool stop = on_step && on_step({step, step_tokens, std::span<const bool>(finished.get(), static_cast<std::size_t>(B)),
                                              step_text}) == generation_control::stop;
        t0 = clock::now();
        if (stop) {
            for (std::int64_t b = 0; b < B; ++b)
                if (!finished[static_cast<std::size_t>(b)]) out.finish_reasons[static_cast<std::size_t>(b)] = finish_reason::callback;
            break;
        }
        if (std::all_of(finished.get(), finished.get() + B, [](bool f) { return f; })) break;

        // the next step feeds the new tokens at the next positions
        step_ids = tensor<std::int64_t>({B, 1});
        step_positions = tensor<std::int64_t>({B, 1});
        for (std::int64_t b = 0; b < B; ++b) {
            step_ids(b, 0) = step_tokens[static_cast<std::size_t>(b)];
            step_positions(b, 0) = next_position[static_cast<std::size_t>(b)]++;
        }
    }

    out.cache_bytes = cache.bytes();
    out.sequences = tensor<std::int64_t>({B, S + out.new_tokens});
    for (std::int64_t b = 0; b < B; ++b) {
        for (std::int64_t s = 0; s < S; ++s) out.sequences(b, s) = input_ids(b, s);
        for (std::int64_t k = 0; k < out.new_tokens; ++k) out.sequences(b, S + k) = produced[static_cast<std::size_t>(k * B + b)];
    }
    return out;
}

}  // namespace dsv2
