// The weights of one Multi-head Latent Attention layer (names as in the checkpoint).
#pragma once

#include <optional>

#include "dsv2/backend/cpu/linear.hpp"

namespace dsv2 {

struct cpu_mla_weights {
    // query: either q_proj (q_lora_rank null) or q_a_proj -> q_a_layernorm -> q_b_proj
    std::optional<cpu_linear> q_proj;  // [n_h·d_qk, H]
    std::optional<cpu_linear> q_a_proj;       // [d_cq, H] (+bias with attention_bias)
    cpu::vector q_a_layernorm;                // [d_cq]
    std::optional<cpu_linear> q_b_proj;       // [n_h·d_qk, d_cq], never a bias
    // key/value: one shared compression, then per-head up-projections
    cpu_linear kv_a_proj_with_mqa;  // [d_c + d_rope, H] (+bias)
    cpu::vector kv_a_layernorm;     // [d_c]
    cpu_linear kv_b_proj;           // [n_h·(d_nope + d_v), d_c], never a bias
    cpu_linear o_proj;              // [H, n_h·d_v] (+bias)
};

}  // namespace dsv2
