// DeepSeekMoE layer on the CPU: y = Σ_j w_j · expert_{idx_j}(x) + shared(x).
//
// The router policy routes (router_impl<Router, cpu>: logits x·gateᵀ in fp32, its scoring and
// selection); tokens are then grouped per expert so that each expert runs ONCE over all of its
// tokens (expert_mlp_impl<ExpertMLP, cpu>); the weighted results are scattered back and summed in
// fp32; the shared experts (a gated MLP) run on every token.
#pragma once

#include <vector>

#include "dsv2/backend/cpu/storage.hpp"
#include "dsv2/core/activation.hpp"
#include "dsv2/moe/expert_mlp_impl.hpp"
#include "dsv2/moe/experts/gated_mlp/cpu.hpp"
#include "dsv2/moe/router_impl.hpp"
#include "dsv2/weights/moe.hpp"

namespace dsv2 {

/// y [T, H] = MoE(x [T, H]).
template <class Pass, class Router, class ExpertMLP>
void moe_forward(const Pass& pass, const moe_weights<host_storage, Router, ExpertMLP>& w, const routing_params& p,
                 activation act, const cpu::matrix& x, cpu::matrix& y) {
    const routing_result r = router_impl<Router, cpu>::route(pass, w.gate, p, x);
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
        expert_mlp_impl<ExpertMLP, cpu>::forward(pass, w.experts[static_cast<std::size_t>(e)], act, xe, ye);  // [n_e, H]
        for (std::size_t i = 0; i < list.size(); ++i)
            y.row(list[i] / p.top_k) += r.weight[static_cast<std::size_t>(list[i])] * ye.row(static_cast<Eigen::Index>(i));
    }
    if (w.shared_experts) {
        cpu::matrix shared;
        expert_mlp_impl<gated_mlp_experts, cpu>::forward(pass, *w.shared_experts, act, x, shared);
        y += shared;
    }
}

}  // namespace dsv2
