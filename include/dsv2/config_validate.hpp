// DeepseekV2Config::validate(): every rule the math needs, each violation a config_error that names
// the field. Included by config.hpp; not meant to be included on its own.
//
// The rules, by group (the field named in the error is given first):
//
// sizes        vocab_size, hidden_size, num_hidden_layers, num_attention_heads, qk_nope_head_dim,
//              qk_rope_head_dim (also even), v_head_dim, kv_lora_rank, max_position_embeddings,
//              q_lora_rank (when set), intermediate_size (when a layer is dense),
//              moe_intermediate_size (when a layer is MoE): each > 0 and < 2^31, so that products of
//              two sizes never overflow 64 bits. num_key_value_heads, when set, == num_attention_heads
//              (MLA has no grouped heads). n_routed_experts and n_shared_experts (when set) in [0, 2^31).
// layout       first_k_dense_replace >= 0, moe_layer_freq >= 1, ep_size >= 1, pretraining_tp >= 1.
// MoE          (only when some layer is MoE, see is_moe_layer)
//              num_experts_per_tok set, 1 <= k <= n_routed_experts. How experts are scored and
//              picked (topk_method, scoring_func, n_group, topk_group) is the router policy's to
//              check: Router::check(cfg), called by the models (moe/routers/*/policy.hpp).
// activation   hidden_act in {silu, swish, gelu, gelu_pytorch_tanh, gelu_new, relu}.
// rope         rope_type "default" or "yarn"; rope_theta > 0. yarn: factor >= 1, or, when factor is
//              unset, derivable as max_position_embeddings / original_max_position_embeddings (>= 1);
//              original_max_position_embeddings > 0 when set; beta_fast > 0, beta_slow > 0 and
//              beta_fast > beta_slow (an unset one takes its default, 32 and 1); mscale,
//              mscale_all_dim >= 0 with (0.1·mscale·ln factor + 1)² finite; attention_factor > 0.
// numbers      every double finite; rms_norm_eps > 0; routed_scaling_factor > 0;
//              initializer_range >= 0; aux_loss_alpha >= 0; attention_dropout in [0, 1].
// tokens       pad_token_id, bos_token_id (when set) and every eos_token_id in [0, vocab_size).
// classifier   num_labels in [1, 2^31); id2label empty (LABEL_0..) or exactly the ids 0..num_labels-1;
//              problem_type unset or regression / single_label_classification /
//              multi_label_classification.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "dsv2/config.hpp"

namespace dsv2 {

namespace detail::config_check {

/// The largest size a config may hold: dimensions fit in 32 bits, products of two in 64.
inline constexpr std::int64_t max_config_size = std::numeric_limits<std::int32_t>::max();

/// The shortest text that reads back as v ("0.707", "1e-06", "inf").
inline std::string config_number(double v) {
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, res.ptr);
}

inline void require_size(std::string_view field, std::int64_t v) {
    if (v <= 0) throw config_error(std::string(field), "must be > 0, got " + std::to_string(v));
    if (v > max_config_size)
        throw config_error(std::string(field), "must be < 2^31, got " + std::to_string(v));
}

inline void require_count(std::string_view field, std::int64_t v) {  // 0 allowed
    if (v < 0) throw config_error(std::string(field), "must be >= 0, got " + std::to_string(v));
    if (v > max_config_size)
        throw config_error(std::string(field), "must be < 2^31, got " + std::to_string(v));
}

inline void require_finite(std::string_view field, double v) {
    if (!std::isfinite(v)) throw config_error(std::string(field), "must be a finite number");
}

inline void require_positive(std::string_view field, double v) {
    require_finite(field, v);
    if (!(v > 0.0)) throw config_error(std::string(field), "must be > 0, got " + config_number(v));
}

inline void require_non_negative(std::string_view field, double v) {
    require_finite(field, v);
    if (v < 0.0) throw config_error(std::string(field), "must be >= 0, got " + config_number(v));
}

inline void require_token_id(std::string_view field, std::int64_t id, std::int64_t vocab) {
    if (id < 0 || id >= vocab)
        throw config_error(std::string(field), "token id " + std::to_string(id) + " is outside [0, vocab_size = " +
                                                   std::to_string(vocab) + ")");
}

inline bool is_supported_activation(std::string_view a) {
    return a == "silu" || a == "swish" || a == "gelu" || a == "gelu_pytorch_tanh" || a == "gelu_new" ||
           a == "relu";
}

inline void validate_rope(const DeepseekV2Config& c) {
    const RopeParameters& r = c.rope_parameters;
    if (r.rope_type != "default" && r.rope_type != "yarn")
        throw config_error("rope_parameters.rope_type", "'" + r.rope_type + "' is not supported (default, yarn)");
    require_positive("rope_parameters.rope_theta", r.rope_theta);

    // Every number that is set must be finite, whatever the rope type.
    const std::pair<const char*, const std::optional<double>*> doubles[] = {
        {"rope_parameters.factor", &r.factor},
        {"rope_parameters.beta_fast", &r.beta_fast},
        {"rope_parameters.beta_slow", &r.beta_slow},
        {"rope_parameters.mscale", &r.mscale},
        {"rope_parameters.mscale_all_dim", &r.mscale_all_dim},
        {"rope_parameters.attention_factor", &r.attention_factor},
    };
    for (const auto& [field, value] : doubles)
        if (value->has_value()) require_finite(field, **value);
    if (r.original_max_position_embeddings)
        require_size("rope_parameters.original_max_position_embeddings", *r.original_max_position_embeddings);

    if (r.rope_type != "yarn") return;
    if (r.factor) {
        if (*r.factor < 1.0)
            throw config_error("rope_parameters.factor", "yarn needs factor >= 1, got " + config_number(*r.factor));
    } else {
        if (!r.original_max_position_embeddings)
            throw config_error("rope_parameters.factor",
                               "yarn needs factor, or original_max_position_embeddings to derive it from");
        if (c.yarn_factor() < 1.0)
            throw config_error("rope_parameters.factor",
                               "the derived yarn factor max_position_embeddings / original_max_position_embeddings = " +
                                   config_number(c.yarn_factor()) + " is < 1");
    }
    const double beta_fast = r.beta_fast.value_or(32.0), beta_slow = r.beta_slow.value_or(1.0);
    require_positive("rope_parameters.beta_fast", beta_fast);
    require_positive("rope_parameters.beta_slow", beta_slow);
    if (!(beta_fast > beta_slow))
        throw config_error("rope_parameters.beta_fast", "must be > beta_slow (" + config_number(beta_fast) +
                                                            " vs " + config_number(beta_slow) + ")");
    // m = 0.1 · mscale · ln(factor) + 1 enters the attention factor, and m² the softmax scale
    const std::pair<const char*, const std::optional<double>*> mscales[] = {
        {"rope_parameters.mscale", &r.mscale}, {"rope_parameters.mscale_all_dim", &r.mscale_all_dim}};
    for (const auto& [field, value] : mscales) {
        if (!value->has_value()) continue;
        require_non_negative(field, **value);
        const double m = 0.1 * **value * std::log(c.yarn_factor()) + 1.0;
        if (!std::isfinite(m * m))
            throw config_error(field, "too large: m² = (0.1 · mscale · ln factor + 1)² overflows");
    }
    if (r.attention_factor) require_positive("rope_parameters.attention_factor", *r.attention_factor);
}

inline void validate_moe(const DeepseekV2Config& c) {
    require_size("moe_intermediate_size", c.moe_intermediate_size);
    const std::int64_t E = c.n_routed_experts;
    if (!c.num_experts_per_tok)
        throw config_error("num_experts_per_tok", "must be set when a layer is MoE (n_routed_experts = " +
                                                      std::to_string(E) + ")");
    const std::int64_t k = *c.num_experts_per_tok;
    if (k < 1 || k > E)
        throw config_error("num_experts_per_tok", "must be in [1, n_routed_experts = " + std::to_string(E) +
                                                      "], got " + std::to_string(k));
}

}  // namespace detail::config_check

inline void DeepseekV2Config::validate() const {
    namespace cc = detail::config_check;
    // --- sizes -------------------------------------------------------------------------------
    cc::require_size("vocab_size", vocab_size);
    cc::require_size("hidden_size", hidden_size);
    cc::require_size("num_hidden_layers", num_hidden_layers);
    cc::require_size("num_attention_heads", num_attention_heads);
    if (num_key_value_heads && *num_key_value_heads != num_attention_heads)
        throw config_error("num_key_value_heads",
                           "must equal num_attention_heads for MLA (" + std::to_string(*num_key_value_heads) +
                               " != " + std::to_string(num_attention_heads) + ")");
    cc::require_size("qk_nope_head_dim", qk_nope_head_dim);
    cc::require_size("qk_rope_head_dim", qk_rope_head_dim);
    if (qk_rope_head_dim % 2 != 0)
        throw config_error("qk_rope_head_dim", "must be even (rotary pairs), got " + std::to_string(qk_rope_head_dim));
    cc::require_size("v_head_dim", v_head_dim);
    cc::require_size("kv_lora_rank", kv_lora_rank);
    if (q_lora_rank) cc::require_size("q_lora_rank", *q_lora_rank);
    cc::require_size("max_position_embeddings", max_position_embeddings);
    cc::require_count("n_routed_experts", n_routed_experts);
    if (n_shared_experts) cc::require_count("n_shared_experts", *n_shared_experts);

    // --- layer layout ------------------------------------------------------------------------
    if (first_k_dense_replace < 0)
        throw config_error("first_k_dense_replace", "must be >= 0, got " + std::to_string(first_k_dense_replace));
    if (moe_layer_freq < 1)
        throw config_error("moe_layer_freq", "must be >= 1, got " + std::to_string(moe_layer_freq));
    if (ep_size < 1) throw config_error("ep_size", "must be >= 1, got " + std::to_string(ep_size));
    if (pretraining_tp < 1) throw config_error("pretraining_tp", "must be >= 1, got " + std::to_string(pretraining_tp));

    const std::int64_t moe_layers = num_moe_layers();
    if (moe_layers < num_hidden_layers) cc::require_size("intermediate_size", intermediate_size);
    if (moe_layers > 0) cc::validate_moe(*this);

    // --- activation, numbers -------------------------------------------------------------------
    if (!cc::is_supported_activation(hidden_act))
        throw config_error("hidden_act",
                           "'" + hidden_act + "' is not supported (silu, swish, gelu, gelu_pytorch_tanh, gelu_new, relu)");
    cc::require_positive("rms_norm_eps", rms_norm_eps);
    cc::require_positive("routed_scaling_factor", routed_scaling_factor);
    cc::require_non_negative("initializer_range", initializer_range);
    cc::require_non_negative("aux_loss_alpha", aux_loss_alpha);
    cc::require_non_negative("attention_dropout", attention_dropout);
    if (attention_dropout > 1.0)
        throw config_error("attention_dropout", "must be in [0, 1], got " + cc::config_number(attention_dropout));

    cc::validate_rope(*this);

    // --- token ids -----------------------------------------------------------------------------
    if (pad_token_id) cc::require_token_id("pad_token_id", *pad_token_id, vocab_size);
    if (bos_token_id) cc::require_token_id("bos_token_id", *bos_token_id, vocab_size);
    for (std::int64_t id : eos_token_id) cc::require_token_id("eos_token_id", id, vocab_size);

    // --- sequence classification ---------------------------------------------------------------
    cc::require_size("num_labels", num_labels);
    if (!id2label.empty()) {
        if (static_cast<std::int64_t>(id2label.size()) != num_labels)
            throw config_error("id2label", "has " + std::to_string(id2label.size()) + " entries but num_labels is " +
                                               std::to_string(num_labels));
        for (const auto& entry : id2label)
            if (entry.first < 0 || entry.first >= num_labels)
                throw config_error("id2label", "label id " + std::to_string(entry.first) + " is outside [0, num_labels = " +
                                                   std::to_string(num_labels) + ")");
    }
    if (problem_type && *problem_type != "regression" && *problem_type != "single_label_classification" &&
        *problem_type != "multi_label_classification")
        throw config_error("problem_type", "'" + *problem_type +
                                               "' is not one of regression, single_label_classification, "
                                               "multi_label_classification");
}

}  // namespace dsv2
