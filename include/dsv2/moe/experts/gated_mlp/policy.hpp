// Expert-MLP policy `gated_mlp_experts`: each routed expert is DeepSeek's gated MLP
// down( act(gate(x)) ⊙ up(x) ) of width moe_intermediate_size, no biases, run once per expert over
// the tokens routed to it. Its weights are gated_mlp<S> — the type of the dense MLP and the shared
// experts, so those run through the same expert_mlp_impl.
#pragma once

#include "dsv2/config.hpp"
#include "dsv2/weights/linear.hpp"

namespace dsv2 {

struct gated_mlp_experts {
    static constexpr const char* name = "gated_mlp";
    template <class S>
    using weights = gated_mlp<S>;

    template <class S>
    static weights<S> allocate(const DeepseekV2Config& cfg) {
        return gated_mlp<S>::allocate(cfg.hidden_size, cfg.moe_intermediate_size, false);
    }
};

}  // namespace dsv2
