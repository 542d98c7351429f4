// What every router shares: its run-time numbers (routing_params), its result (routing_result),
// and the helpers of DeepSeek's routers (softmax, top-k, the weight rule).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "dsv2/config.hpp"

namespace dsv2 {

/// DeepSeek-V2's two selection rules (router_from_config picks one at run time).
enum class routing_method { greedy, group_limited_greedy };

/// The run-time numbers of routing, read once from the config by the router policy (Router::params).
struct routing_params {
    routing_method method = routing_method::greedy;  // read by router_from_config only
    std::int64_t experts = 0;     // E
    std::int64_t top_k = 0;       // k
    std::int64_t n_group = 1;
    std::int64_t topk_group = 1;
    float routed_scaling_factor = 1.0f;
    bool norm_topk_prob = false;

    /// The fields every router reads; method stays greedy.
    static routing_params from_config(const DeepseekV2Config& cfg) {
        routing_params p;
        p.experts = cfg.n_routed_experts;
        p.top_k = cfg.num_experts_per_tok.value_or(0);
        p.n_group = cfg.n_group.value_or(1);
        p.topk_group = cfg.topk_group.value_or(p.n_group);
        p.routed_scaling_factor = static_cast<float>(cfg.routed_scaling_factor);
        p.norm_topk_prob = cfg.norm_topk_prob;
        return p;
    }
};

/// Routing decisions of T tokens on the host: the k experts of each and their weights.
struct routing_result {
    std::vector<std::int64_t> expert;  // [T, k]
    std::vector<float> weight;         // [T, k]
};

/// The k best of `scores` (larger first, ties to the lower index) written to idx.
inline void top_k_indices(std::span<const float> scores, std::int64_t k, std::int64_t* idx) {
    std::vector<std::int64_t> order(scores.size());
    std::iota(order.begin(), order.end(), std::int64_t{0});
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](std::int64_t a, std::int64_t b) {
        return scores[static_cast<std::size_t>(a)] > scores[static_cast<std::size_t>(b)] ||
               (scores[static_cast<std::size_t>(a)] == scores[static_cast<std::size_t>(b)] && a < b);
    });
    std::copy_n(order.begin(), k, idx);
}

/// Routing weights from the selected probabilities: × routed_scaling_factor, or with norm_topk_prob
/// (k > 1) w / (Σw + 1e-20) and no scaling factor (DeepSeek's original rule).
inline void finish_weights(const routing_params& p, float* weight) {
    if (p.norm_topk_prob && p.top_k > 1) {
        float sum = 0.0f;
        for (std::int64_t j = 0; j < p.top_k; ++j) sum += weight[j];
        const float denominator = sum + 1e-20f;
        for (std::int64_t j = 0; j < p.top_k; ++j) weight[j] /= denominator;
    } else {
        for (std::int64_t j = 0; j < p.top_k; ++j) weight[j] *= p.routed_scaling_factor;
    }
}

/// Softmax of one router logits row in place (fp32).
inline void softmax_inplace(std::span<float> row) {
    const float mx = *std::max_element(row.begin(), row.end());
    float sum = 0.0f;
    for (float& v : row) { v = std::exp(v - mx); sum += v; }
    for (float& v : row) v /= sum;
}

/// The config checks of DeepSeek-V2's softmax routers: scoring_func "softmax", topk_method one of
/// `accepted` (a fixed policy names its own), n_group/topk_group >= 1 when set, topk_group <= n_group;
/// group_limited_greedy needs both set, n_group | E and k <= topk_group · E / n_group.
inline void check_softmax_routing(const DeepseekV2Config& c, std::initializer_list<const char*> accepted,
                                  const char* policy) {
    bool known = false;
    std::string names;
    for (const char* a : accepted) {
        known = known || c.topk_method == a;
        names += (names.empty() ? "" : ", ") + std::string(a);
    }
    if (!known)
        throw config_error("topk_method", "'" + c.topk_method + "' is not routed by the spec's router '" + policy +
                                              "' (it routes: " + names + ")" +
                                              (accepted.size() == 1 ? "; use dsv2::router_from_config to follow the config"
                                                                    : ""));
    if (c.scoring_func != "softmax")
        throw config_error("scoring_func", "'" + c.scoring_func + "' is not scored by the spec's router '" + policy +
                                               "' (DeepSeek-V2 routers score with softmax)");
    if (c.n_group && *c.n_group < 1) throw config_error("n_group", "must be >= 1 when set, got " + std::to_string(*c.n_group));
    if (c.topk_group && *c.topk_group < 1)
        throw config_error("topk_group", "must be >= 1 when set, got " + std::to_string(*c.topk_group));
    if (c.n_group && c.topk_group && *c.topk_group > *c.n_group)
        throw config_error("topk_group", "must be <= n_group (" + std::to_string(*c.topk_group) + " > " +
                                             std::to_string(*c.n_group) + ")");
    if (c.topk_method != "group_limited_greedy") return;
    const std::int64_t E = c.n_routed_experts, k = c.num_experts_per_tok.value_or(0);
    if (!c.n_group) throw config_error("n_group", "must be set for topk_method group_limited_greedy");
    if (!c.topk_group) throw config_error("topk_group", "must be set for topk_method group_limited_greedy");
    const std::int64_t groups = *c.n_group;
    if (E % groups != 0)
        throw config_error("n_group", "must divide n_routed_experts (" + std::to_string(E) + " % " +
                                          std::to_string(groups) + " != 0)");
    const std::int64_t reachable = *c.topk_group * (E / groups);
    if (k > reachable)
        throw config_error("num_experts_per_tok", "must be <= topk_group * n_routed_experts / n_group = " +
                                                      std::to_string(reachable) + " for group_limited_greedy, got " +
                                                      std::to_string(k));
}

}  // namespace dsv2
