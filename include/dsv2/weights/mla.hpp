// The weights of one Multi-head Latent Attention layer (names as in the checkpoint), over any
// storage S. kv_b_proj is fp32_kept: absorbed attention reads its per-head row blocks directly.
#pragma once

#include <optional>

#include "dsv2/config.hpp"
#include "dsv2/weights/linear.hpp"

namespace dsv2 {

template <class S>
struct mla_weights {
    // query: either q_proj (q_lora_rank null) or q_a_proj -> q_a_layernorm -> q_b_proj
    std::optional<linear<S>> q_proj;    // [n_h·d_qk, H]
    std::optional<linear<S>> q_a_proj;  // [d_cq, H] (+bias with attention_bias)
    vector_t<S> q_a_layernorm;          // [d_cq] (empty without q_lora_rank)
    std::optional<linear<S>> q_b_proj;  // [n_h·d_qk, d_cq], never a bias
    // key/value: one shared compression, then per-head up-projections
    linear<S> kv_a_proj_with_mqa;       // [d_c + d_rope, H] (+bias)
    vector_t<S> kv_a_layernorm;         // [d_c]
    linear<S, fp32_kept> kv_b_proj;     // [n_h·(d_nope + d_v), d_c], never a bias
    linear<S> o_proj;                   // [H, n_h·d_v] (+bias)

    static mla_weights allocate(const DeepseekV2Config& cfg) {
        const std::int64_t H = cfg.hidden_size, nh = cfg.num_attention_heads;
        mla_weights a{{}, {}, S::vector_of(0, 1.0f), {},
                      linear<S>::allocate(cfg.kv_lora_rank + cfg.qk_rope_head_dim, H, cfg.attention_bias),
                      S::vector_of(cfg.kv_lora_rank, 1.0f),
                      linear<S, fp32_kept>::allocate(nh * (cfg.qk_nope_head_dim + cfg.v_head_dim), cfg.kv_lora_rank, false),
                      linear<S>::allocate(H, nh * cfg.v_head_dim, cfg.attention_bias)};
        if (cfg.q_lora_rank) {
            a.q_a_proj = linear<S>::allocate(*cfg.q_lora_rank, H, cfg.attention_bias);
            a.q_a_layernorm = S::vector_of(*cfg.q_lora_rank, 1.0f);
            a.q_b_proj = linear<S>::allocate(nh * cfg.qk_head_dim(), *cfg.q_lora_rank, false);
        } else {
            a.q_proj = linear<S>::allocate(nh * cfg.qk_head_dim(), H, false);
        }
        return a;
    }

    template <class F, class... Trees>
    static void visit(const std::string& p, F&& f, Trees&... t) {
        if (detail::first_tree(t...).q_proj) {
            linear<S>::visit(p + ".q_proj", f, *t.q_proj...);
        } else {
            linear<S>::visit(p + ".q_a_proj", f, *t.q_a_proj...);
            f(p + ".q_a_layernorm.weight", parameter_kind::norm, t.q_a_layernorm...);
            linear<S>::visit(p + ".q_b_proj", f, *t.q_b_proj...);
        }
        linear<S>::visit(p + ".kv_a_proj_with_mqa", f, t.kv_a_proj_with_mqa...);
        f(p + ".kv_a_layernorm.weight", parameter_kind::norm, t.kv_a_layernorm...);
        linear<S, fp32_kept>::visit(p + ".kv_b_proj", f, t.kv_b_proj...);
        linear<S>::visit(p + ".o_proj", f, t.o_proj...);
    }
};

}  // namespace dsv2
