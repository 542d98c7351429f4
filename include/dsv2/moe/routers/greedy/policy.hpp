// Router policy `router_greedy`: softmax over all E experts, then the top-k.
#pragma once

#include "dsv2/moe/routing.hpp"
#include "dsv2/weights/moe.hpp"

namespace dsv2 {

struct router_greedy {
    static constexpr const char* name = "greedy";
    template <class S>
    using weights = router_gate<S>;

    /// Rejects a config that asks for another routing method or scoring than this fixed policy.
    static void check(const DeepseekV2Config& cfg) { check_softmax_routing(cfg, {"greedy"}, name); }
    static routing_params params(const DeepseekV2Config& cfg) { return routing_params::from_config(cfg); }

    /// logits [E] (softmax in place) -> idx [k], weight [k].
    template <class W>
    static void select(const W&, const routing_params& p, std::span<float> logits, std::int64_t* idx, float* weight) {
        softmax_inplace(logits);
        pick(p, logits, idx, weight);
    }

    /// The top-k of probabilities probs [E] and their weights.
    static void pick(const routing_params& p, std::span<const float> probs, std::int64_t* idx, float* weight) {
        top_k_indices(probs, p.top_k, idx);
        for (std::int64_t j = 0; j < p.top_k; ++j) weight[j] = probs[static_cast<std::size_t>(idx[j])];
        finish_weights(p, weight);
    }
};

}  // namespace dsv2
