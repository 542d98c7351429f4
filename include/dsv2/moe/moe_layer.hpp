// DeepSeekMoE layer: y = Σ_j w_j · expert_{idx_j}(x) + shared(x).
//
// Router logits x·gateᵀ and their softmax in fp32; the router policy picks k experts per token;
// tokens are then grouped per expert so that each expert runs ONE batched gated MLP over all of its
// tokens; the weighted results are scattered back and summed in fp32.
#pragma once

#include <optional>
#include <vector>

#include "dsv2/layers/gated_mlp.hpp"
#include "dsv2/moe/router_concept.hpp"

namespace dsv2 {

struct cpu_moe_weights {
    cpu_weight gate;                            // [E, H] router, no bias
    std::vector<cpu_gated_mlp> experts;         // E × {gate,up [I, H], down [H, I]}, no biases
    std::optional<cpu_gated_mlp> shared_experts;  // width n_shared·I (biases with mlp_bias)
};

/// Routing decisions of T tokens: the k experts of each and their weights.
struct routing_result {
    std::vector<std::int64_t> expert;  // [T, k]
    std::vector<float> weight;         // [T, k]
};

template <router_policy Router>
routing_result route(cpu tag, Router, const cpu_weight& gate, const routing_params& p, const cpu::matrix& x) {
    cpu::matrix logits;
    matmul_nt(tag, x, gate, logits);  // [T, E]
    routing_result r;
    r.expert.resize(static_cast<std::size_t>(x.rows() * p.top_k));
    r.weight.resize(r.expert.size());
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
        std::span<float> row(logits.row(t).data(), static_cast<std::size_t>(p.experts));
        softmax_inplace(row);
        Router::select(p, row, r.expert.data() + t * p.top_k, r.weight.data() + t * p.top_k);
    }
    return r;
}

/// y [T, H] = MoE(x [T, H]).
template <router_policy Router>
void moe_forward(cpu tag, Router router, const cpu_moe_weights& w, const routing_params& p, activation act,
                 const cpu::matrix& x, cpu::matrix& y) {
    const routing_result r = route(tag, router, w.gate, p, x);
    const Eigen::Index T = x.rows();

    // group the (token, slot) pairs per expert
    std::vector<std::vector<std::int64_t>> slots(static_cast<std::size_t>(p.experts));
    for (std::int64_t s = 0; s < T * p.top_k; ++s) slots[static_cast<std::size_t>(r.expert[static_cast<std::size_t>(s)])].push_back(s);

    y.setZero(T, x.cols());
    cpu::matrix xe, ye;
    for (std::int64_t e = 0; e < p.experts; ++e) {
        const auto& list = slots[static_cast<std::size_t>(e)];
        if (list.empty()) continue;
        xe.resize(static_cast<Eigen::Index>(list.size()), x.cols());  // [n_e, H]
        for (std::size_t i = 0; i < list.size(); ++i) xe.row(static_cast<Eigen::Index>(i)) = x.row(list[i] / p.top_k);
        gated_mlp_forward(tag, w.experts[static_cast<std::size_t>(e)], act, xe, ye);  // [n_e, H]
        for (std::size_t i = 0; i < list.size(); ++i)
            y.row(list[i] / p.top_k) += r.weight[static_cast<std::size_t>(list[i])] * ye.row(static_cast<Eigen::Index>(i));
    }
    if (w.shared_experts) {
        cpu::matrix shared;
        gated_mlp_forward(tag, *w.shared_experts, act, x, shared);
        y += shared;
    }
}

}  // namespace dsv2
