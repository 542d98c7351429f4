// Router policy `greedy`: the top-k experts of the softmax over all E experts.
#pragma once

#include "dsv2/moe/routing.hpp"

namespace dsv2 {

struct router_greedy {
    static constexpr const char* name = "greedy";

    /// Rejects a config that asks for another routing method than this fixed policy.
    static void check(const DeepseekV2Config& cfg) {
        if (cfg.topk_method != "greedy")
            throw config_error("topk_method", "is '" + cfg.topk_method +
                                                  "' but the model spec fixes the router to 'greedy' "
                                                  "(use dsv2::router_from_config to follow the config)");
    }

    /// probs [E] (softmax) -> idx [k], weight [k].
    static void select(const routing_params& p, std::span<const float> probs, std::int64_t* idx, float* weight) {
        top_k_indices(probs, p.top_k, idx);
        for (std::int64_t j = 0; j < p.top_k; ++j) weight[j] = probs[static_cast<std::size_t>(idx[j])];
        finish_weights(p, weight);
    }
};

}  // namespace dsv2
