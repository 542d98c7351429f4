// One pre-norm decoder layer:
//   x = x + attn(input_layernorm(x));   x = x + ffn(post_attention_layernorm(x))
// where ffn is the dense gated MLP or the MoE layer (DeepseekV2Config::is_moe_layer).
#pragma once

#include <variant>

#include "dsv2/attention/mla.hpp"
#include "dsv2/moe/moe_layer.hpp"

namespace dsv2 {

struct cpu_decoder_layer_weights {
    cpu::vector input_layernorm;           // [H]
    cpu::vector post_attention_layernorm;  // [H]
    cpu_mla_weights self_attn;
    std::variant<cpu_gated_mlp, cpu_moe_weights> mlp;  // dense, or MoE

    bool is_moe() const noexcept { return std::holds_alternative<cpu_moe_weights>(mlp); }
};

}  // namespace dsv2
