// Arguments and outputs of the models' forward passes, named as in transformers.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "dsv2/core/forward_batch.hpp"
#include "dsv2/core/tensor.hpp"

namespace dsv2 {

/// Labels: integer class ids / token ids (I64) or float targets (regression, multi-label).
using labels_t = std::variant<tensor<std::int64_t>, tensor<float>>;

/// Which positions the LM head runs on: 0 = all, n > 0 = the last n, or a list of positions.
using logits_to_keep_t = std::variant<std::int64_t, std::vector<std::int64_t>>;

/// What a forward reads. Exactly one of input_ids and inputs_embeds. Pointers: nothing is copied.
///     model.forward({.input_ids = &ids, .attention_mask = &mask, .output_hidden_states = true});
struct forward_args {
    const tensor<std::int64_t>* input_ids = nullptr;      // [B, S]
    const tensor<float>* inputs_embeds = nullptr;         // [B, S, H]
    const tensor<std::int64_t>* attention_mask = nullptr;  // [B, P + S] of 0/1 (P cached tokens); absent: all ones
    const tensor<std::int64_t>* position_ids = nullptr;    // [B, S]; absent: P .. P+S-1 for every row
    bool output_hidden_states = false;
    bool output_attentions = false;
    const labels_t* labels = nullptr;  // heads only: [B, S] token ids, or [B] / [B, num_labels]
    logits_to_keep_t logits_to_keep = std::int64_t{0};  // causal LM only
};

struct model_output {
    tensor<float> last_hidden_state;           // [B, S, H] after the final norm
    std::vector<tensor<float>> hidden_states;  // L+1 × [B, S, H]: embeddings, each layer, the last normed
    std::vector<tensor<float>> attentions;     // L × [B, n_h, S, P + S] (P cached tokens)
};

struct causal_lm_output {
    std::optional<float> loss;                 // mean cross-entropy over non-ignored shifted targets
    tensor<float> logits;                      // [B, kept, vocab], fp32
    std::vector<tensor<float>> hidden_states;
    std::vector<tensor<float>> attentions;
};

struct sequence_classifier_output {
    std::optional<float> loss;
    tensor<float> logits;  // [B, num_labels]
    std::vector<tensor<float>> hidden_states;
    std::vector<tensor<float>> attentions;
};

/// The batch of a forward from its checked arguments: positions given, or P .. P+S-1 for every row
/// (transformers' default); the mask given, or all ones.
inline forward_batch make_forward_batch(const forward_args& args, std::int64_t B, std::int64_t S, std::int64_t P) {
    forward_batch fb{B, S, P, tensor<std::int64_t>({B, S}), {}};
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t s = 0; s < S; ++s) fb.positions(b, s) = args.position_ids ? (*args.position_ids)(b, s) : P + s;
    fb.key_mask = args.attention_mask ? *args.attention_mask : tensor<std::int64_t>({B, P + S}, 1);
    return fb;
}

}  // namespace dsv2
