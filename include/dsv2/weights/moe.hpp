// The weights of one DeepSeekMoE layer, over any storage S: the router's parameters (the router
// policy's `weights<S>`, e.g. router_gate), the routed experts (the expert-MLP policy's
// `weights<S>`, one per expert) and the shared experts (a gated MLP, as DeepSeek's).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dsv2/config.hpp"
#include "dsv2/weights/linear.hpp"

namespace dsv2 {

/// The router of DeepSeek-V2: gate [E, H], no bias, kept in fp32 (bf16 activations there could
/// change which experts win). Stored as "mlp.gate.weight".
template <class S>
struct router_gate {
    matrix_t<S, fp32_kept> weight;  // [E, H]

    static router_gate allocate(const DeepseekV2Config& cfg) {
        return {S::template shape_only<fp32_kept>(cfg.n_routed_experts, cfg.hidden_size)};
    }
    template <class F, class... Trees>
    static void visit(const std::string& name, F&& f, Trees&... t) {
        f(name + ".weight", parameter_kind::weight, t.weight...);
    }
};

template <class S, class Router, class ExpertMLP>
struct moe_weights {
    using router_weights = typename Router::template weights<S>;
    using expert_weights = typename ExpertMLP::template weights<S>;

    router_weights gate;                         // "mlp.gate"
    std::vector<expert_weights> experts;         // E × "mlp.experts.<e>"
    std::optional<gated_mlp<S>> shared_experts;  // "mlp.shared_experts": width n_shared·I

    static moe_weights allocate(const DeepseekV2Config& cfg) {
        moe_weights m{router_weights::allocate(cfg), {}, {}};
        m.experts.reserve(static_cast<std::size_t>(cfg.n_routed_experts));
        for (std::int64_t e = 0; e < cfg.n_routed_experts; ++e) m.experts.push_back(ExpertMLP::template allocate<S>(cfg));
        if (cfg.shared_intermediate_size() > 0)
            m.shared_experts = gated_mlp<S>::allocate(cfg.hidden_size, cfg.shared_intermediate_size(), cfg.mlp_bias);
        return m;
    }

    template <class F, class... Trees>
    static void visit(const std::string& name, F&& f, Trees&... t) {
        router_weights::visit(name + ".gate", f, t.gate...);
        const std::size_t E = detail::first_tree(t...).experts.size();
        for (std::size_t e = 0; e < E; ++e) expert_weights::visit(name + ".experts." + std::to_string(e), f, t.experts[e]...);
        if (detail::first_tree(t...).shared_experts) gated_mlp<S>::visit(name + ".shared_experts", f, *t.shared_experts...);
    }
};

}  // namespace dsv2
