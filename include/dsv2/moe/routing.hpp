// Router softmax and top-k selection: the parameters and the shared helpers of every router policy.
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

enum class routing_method { greedy, group_limited_greedy };

inline routing_method parse_routing_method(const std::string& topk_method) {
    if (topk_method == "greedy") return routing_method::greedy;
    if (topk_method == "group_limited_greedy") return routing_method::group_limited_greedy;
    throw config_error("topk_method", "'" + topk_method + "' is not a DeepSeek-V2 router (greedy, group_limited_greedy)");
}

/// The run-time numbers of routing, read once from the config.
struct routing_params {
    routing_method method = routing_method::greedy;
    std::int64_t experts = 0;     // E
    std::int64_t top_k = 0;       // k
    std::int64_t n_group = 1;
    std::int64_t topk_group = 1;
    float routed_scaling_factor = 1.0f;
    bool norm_topk_prob = false;

    static routing_params from_config(const DeepseekV2Config& cfg) {
        routing_params p;
        p.method = parse_routing_method(cfg.topk_method);
        p.experts = cfg.n_routed_experts;
        p.top_k = cfg.num_experts_per_tok.value_or(0);
        p.n_group = cfg.n_group.value_or(1);
        p.topk_group = cfg.topk_group.value_or(p.n_group);
        p.routed_scaling_factor = static_cast<float>(cfg.routed_scaling_factor);
        p.norm_topk_prob = cfg.norm_topk_prob;
        return p;
    }
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

}  // namespace dsv2
