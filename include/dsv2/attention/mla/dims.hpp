// mla_dims: the sizes Multi-head Latent Attention needs, read once from the config (every backend).
#pragma once

#include <cstdint>
#include <optional>

#include "dsv2/config.hpp"

namespace dsv2 {

/// The sizes MLA needs, read once from the config.
struct mla_dims {
    std::int64_t hidden, heads, d_nope, d_rope, d_v, d_c;
    std::optional<std::int64_t> d_cq;
    float scale;

    std::int64_t d_qk() const noexcept { return d_nope + d_rope; }
    std::int64_t d_kv() const noexcept { return d_nope + d_v; }  // per-head row block of kv_b_proj

    static mla_dims from_config(const DeepseekV2Config& cfg) {
        return {cfg.hidden_size,      cfg.num_attention_heads, cfg.qk_nope_head_dim,
                cfg.qk_rope_head_dim, cfg.v_head_dim,          cfg.kv_lora_rank,
                cfg.q_lora_rank,      static_cast<float>(cfg.softmax_scale())};
    }
};

}  // namespace dsv2
