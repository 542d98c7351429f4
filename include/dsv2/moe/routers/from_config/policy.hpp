// Router policy `router_from_config`: follows the config's topk_method at run time (greedy or
// group_limited_greedy), so a checkpoint loads without its user knowing how it routes.
#pragma once

#include "dsv2/moe/routers/greedy/policy.hpp"
#include "dsv2/moe/routers/group_limited_greedy/policy.hpp"

namespace dsv2 {

struct router_from_config {
    static constexpr const char* name = "from_config";
    template <class S>
    using weights = router_gate<S>;

    static void check(const DeepseekV2Config& cfg) {
        check_softmax_routing(cfg, {"greedy", "group_limited_greedy"}, name);
    }
    static routing_params params(const DeepseekV2Config& cfg) {
        return cfg.topk_method == "group_limited_greedy" ? router_group_limited_greedy::params(cfg)
                                                         : router_greedy::params(cfg);
    }

    template <class W>
    static void select(const W&, const routing_params& p, std::span<float> logits, std::int64_t* idx, float* weight) {
        softmax_inplace(logits);
        pick(p, logits, idx, weight);
    }

    /// The selection rule p.method names, on probabilities probs [E].
    static void pick(const routing_params& p, std::span<const float> probs, std::int64_t* idx, float* weight) {
        if (p.method == routing_method::group_limited_greedy)
            router_group_limited_greedy::pick(p, probs, idx, weight);
        else
            router_greedy::pick(p, probs, idx, weight);
    }
};

}  // namespace dsv2
