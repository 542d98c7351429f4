// Parameter counts and KV-cache sizes of a DeepseekV2Config, from the shapes alone (no weights).
//
// total: every tensor of the checkpoint (the list in the reference's "Checkpoints" section):
//   embed_tokens V·H, the head (causal LM: lm_head V·H unless tied; sequence classification: score
//   num_labels·H, no bias), final norm H, and per layer
//     norms          2H
//     attention      q_proj n_h·d_qk·H                       (q_lora_rank unset)
//                    or q_a_proj d_cq·H + q_a_layernorm d_cq + q_b_proj n_h·d_qk·d_cq
//                    kv_a_proj_with_mqa (d_c + d_rope)·H + kv_a_layernorm d_c
//                    kv_b_proj n_h·(d_nope + d_v)·d_c + o_proj H·n_h·d_v
//                    biases with attention_bias: q_a_proj d_cq, kv_a_proj_with_mqa d_c + d_rope, o_proj H
//     dense MLP      3·I_dense·H (+ 2·I_dense + H with mlp_bias)
//     MoE            gate E·H + E routed experts 3·I·H each (never biased)
//                    + shared expert 3·(n_shared·I)·H (+ 2·n_shared·I + H with mlp_bias)
//
// active_per_token: the weights one token's forward pass multiplies with. It leaves out
//   - the E − k routed experts a MoE layer does not choose, and
//   - the input embedding table, which is a row lookup, not compute (with tie_word_embeddings the
//     table is the lm_head and counts once, as the lm_head).
//   The router (gate) and the head (lm_head or score) count in full. This is the convention of
//   DeepSeek's own figures:
//   V2-Lite 2,451,435,008 ("2.4B activated"), V2 20,851,512,320 ("21B activated"); counting the
//   embedding table too would give 2.66B and 21.4B.
//
// KV cache per token, all layers: latent (the paper's) caches the normed latent and the rotated rope
// key, (d_c + d_rope)·layers elements; expanded (per-head K and V) caches n_h·(d_qk + d_v)·layers.
// V2-Lite in bf16: 31,104 vs 276,480 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "dsv2/config.hpp"
#include "dsv2/models/model_head.hpp"

namespace dsv2 {


struct parameter_count {
    std::int64_t total = 0;             ///< every parameter of the checkpoint
    std::int64_t active_per_token = 0;  ///< what one token multiplies with (see the top of this file)

    bool operator==(const parameter_count&) const = default;
};

namespace detail {

/// Overflow-checked int64 arithmetic for size products (inputs are validated non-negative).
struct checked_int {
    std::int64_t v = 0;

    static void overflow() {
        throw config_error("sizes", "the parameter or byte count does not fit in 64-bit integers");
    }
    friend checked_int operator+(checked_int a, checked_int b) {
        if (a.v > std::numeric_limits<std::int64_t>::max() - b.v) overflow();
        return {a.v + b.v};
    }
    friend checked_int operator-(checked_int a, checked_int b) { return {a.v - b.v}; }  // b <= a by construction
    friend checked_int operator*(checked_int a, checked_int b) {
        if (a.v != 0 && b.v > std::numeric_limits<std::int64_t>::max() / a.v) overflow();
        return {a.v * b.v};
    }
};

inline checked_int ci(std::int64_t v) { return {v}; }
inline checked_int ci(std::size_t v) {
    if (v > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())) checked_int::overflow();
    return {static_cast<std::int64_t>(v)};
}

}  // namespace detail

/// Total and active-per-token parameter counts of `cfg` with the given head (validated first;
/// config_error if invalid or if a count overflows 64 bits).
inline parameter_count count_parameters(const DeepseekV2Config& cfg, model_head head_kind = model_head::causal_lm) {
    using detail::checked_int;
    using detail::ci;
    cfg.validate();

    const checked_int H = ci(cfg.hidden_size), V = ci(cfg.vocab_size), n_h = ci(cfg.num_attention_heads);
    const checked_int d_qk = ci(cfg.qk_head_dim()), d_nope = ci(cfg.qk_nope_head_dim);
    const checked_int d_rope = ci(cfg.qk_rope_head_dim), d_v = ci(cfg.v_head_dim), d_c = ci(cfg.kv_lora_rank);
    const bool attn_bias = cfg.attention_bias, mlp_bias = cfg.mlp_bias;

    // --- attention (every layer) ---------------------------------------------------------------
    checked_int attention{};
    if (cfg.q_lora_rank) {
        const checked_int d_cq = ci(*cfg.q_lora_rank);
        attention = d_cq * H + d_cq + n_h * d_qk * d_cq;  // q_a_proj, q_a_layernorm, q_b_proj
        if (attn_bias) attention = attention + d_cq;
    } else {
        attention = n_h * d_qk * H;  // q_proj
    }
    attention = attention + (d_c + d_rope) * H + d_c;  // kv_a_proj_with_mqa, kv_a_layernorm
    attention = attention + n_h * (d_nope + d_v) * d_c + H * n_h * d_v;  // kv_b_proj, o_proj
    if (attn_bias) attention = attention + d_c + d_rope + H;
    const checked_int norms = ci(std::int64_t{2}) * H;

    // --- feed-forward ----------------------------------------------------------------------------
    auto gated_mlp = [&](checked_int width) {
        checked_int p = ci(std::int64_t{3}) * width * H;
        if (mlp_bias) p = p + ci(std::int64_t{2}) * width + H;
        return p;
    };
    const checked_int layers = ci(cfg.num_hidden_layers);
    const checked_int moe_layers = ci(cfg.num_moe_layers());
    const checked_int dense_layers = layers - moe_layers;

    checked_int dense_total{};
    if (dense_layers.v > 0) dense_total = dense_layers * gated_mlp(ci(cfg.intermediate_size));

    checked_int moe_total{}, moe_active{};
    if (moe_layers.v > 0) {
        const checked_int E = ci(cfg.n_routed_experts), k = ci(*cfg.num_experts_per_tok);
        const checked_int expert = ci(std::int64_t{3}) * ci(cfg.moe_intermediate_size) * H;
        const checked_int shared_width = ci(cfg.shared_intermediate_size());
        const checked_int shared = shared_width.v > 0 ? gated_mlp(shared_width) : checked_int{};
        const checked_int gate = E * H;
        moe_total = moe_layers * (gate + E * expert + shared);
        moe_active = moe_layers * (gate + k * expert + shared);
    }

    const checked_int embed = V * H;
    const checked_int backbone = layers * (norms + attention) + dense_total + H;  // + final norm

    parameter_count out;
    if (head_kind == model_head::sequence_classification) {
        const checked_int score = ci(cfg.num_labels) * H;
        out.total = (embed + score + backbone + moe_total).v;
        out.active_per_token = (score + backbone + moe_active).v;
    } else if (head_kind == model_head::none) {
        out.total = (embed + backbone + moe_total).v;
        out.active_per_token = (backbone + moe_active).v;
    } else {
        const checked_int lm_head = cfg.tie_word_embeddings ? checked_int{} : V * H;
        out.total = (embed + lm_head + backbone + moe_total).v;
        // the lookup table is not compute; tied, it is the lm_head and counts as such
        out.active_per_token = ((cfg.tie_word_embeddings ? embed : lm_head) + backbone + moe_active).v;
    }
    return out;
}

/// Bytes one token occupies in the latent cache (normed latent + rotated rope key), all layers.
inline std::int64_t kv_cache_bytes_per_token_latent(const DeepseekV2Config& cfg, std::size_t elem_bytes) {
    using detail::ci;
    cfg.validate();
    return ((ci(cfg.kv_lora_rank) + ci(cfg.qk_rope_head_dim)) * ci(cfg.num_hidden_layers) * ci(elem_bytes)).v;
}

/// Bytes one token occupies in the expanded cache (per-head K of d_qk and V of d_v), all layers.
inline std::int64_t kv_cache_bytes_per_token_expanded(const DeepseekV2Config& cfg, std::size_t elem_bytes) {
    using detail::ci;
    cfg.validate();
    return (ci(cfg.num_attention_heads) * (ci(cfg.qk_head_dim()) + ci(cfg.v_head_dim)) *
            ci(cfg.num_hidden_layers) * ci(elem_bytes))
        .v;
}

}  // namespace dsv2
