// Router policy `router_group_limited_greedy` (DeepSeek-V2): softmax over the E experts; experts
// form n_group contiguous groups; a group scores the MAX probability inside it (V3's top-2 sum is
// a different rule); only the topk_group best groups stay, the rest are zeroed, and the top-k of
// what remains is chosen.
#pragma once

#include <vector>

#include "dsv2/moe/routing.hpp"
#include "dsv2/weights/moe.hpp"

namespace dsv2 {

struct router_group_limited_greedy {
    static constexpr const char* name = "group_limited_greedy";
    template <class S>
    using weights = router_gate<S>;

    static void check(const DeepseekV2Config& cfg) { check_softmax_routing(cfg, {"group_limited_greedy"}, name); }
    static routing_params params(const DeepseekV2Config& cfg) {
        routing_params p = routing_params::from_config(cfg);
        p.method = routing_method::group_limited_greedy;
        return p;
    }

    template <class W>
    static void select(const W&, const routing_params& p, std::span<float> logits, std::int64_t* idx, float* weight) {
        softmax_inplace(logits);
        pick(p, logits, idx, weight);
    }

    static void pick(const routing_params& p, std::span<const float> probs, std::int64_t* idx, float* weight) {
        const std::int64_t per_group = p.experts / p.n_group;
        std::vector<float> group_score(static_cast<std::size_t>(p.n_group));
        for (std::int64_t g = 0; g < p.n_group; ++g) {
            float mx = probs[static_cast<std::size_t>(g * per_group)];
            for (std::int64_t e = 1; e < per_group; ++e) mx = std::max(mx, probs[static_cast<std::size_t>(g * per_group + e)]);
            group_score[static_cast<std::size_t>(g)] = mx;
        }
        std::vector<std::int64_t> kept(static_cast<std::size_t>(p.topk_group));
        top_k_indices(group_score, p.topk_group, kept.data());
        std::vector<float> masked(static_cast<std::size_t>(p.experts), 0.0f);
        for (std::int64_t g : kept)
            for (std::int64_t e = g * per_group; e < (g + 1) * per_group; ++e)
                masked[static_cast<std::size_t>(e)] = probs[static_cast<std::size_t>(e)];
        top_k_indices(masked, p.top_k, idx);
        for (std::int64_t j = 0; j < p.top_k; ++j) weight[j] = masked[static_cast<std::size_t>(idx[j])];
        finish_weights(p, weight);
    }
};

}  // namespace dsv2
