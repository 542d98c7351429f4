// Router policy `router_from_config`: follows the config's topk_method at run time, so a checkpoint
// loads without its user knowing how it routes.
#pragma once

#include "dsv2/moe/router_greedy.hpp"
#include "dsv2/moe/router_group_limited_greedy.hpp"

namespace dsv2 {

struct router_from_config {
    static constexpr const char* name = "from_config";

    static void check(const DeepseekV2Config& cfg) { (void)parse_routing_method(cfg.topk_method); }

    static void select(const routing_params& p, std::span<const float> probs, std::int64_t* idx, float* weight) {
        switch (p.method) {
            case routing_method::greedy: router_greedy::select(p, probs, idx, weight); return;
            case routing_method::group_limited_greedy:
                router_group_limited_greedy::select(p, probs, idx, weight);
                return;
        }
    }
};

}  // namespace dsv2
