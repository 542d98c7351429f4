// 05 — Your own policies, from outside the library: a router and an expert MLP defined in this file
// alone, composed into a spec, run forward and in generation on a small random config.
//
//   sigmoid_bias_router   scores s_e = sigmoid(logit_e); picks the top-k of s_e + bias_e (a learned
//                         per-expert bias, "mlp.gate.e_score_correction_bias", that steers the choice
//                         but not the weight); weights s_e, renormalised with norm_topk_prob, then
//                         × routed_scaling_factor. Its config: scoring_func "sigmoid".
//   relu2_experts         each routed expert is down( relu(up(x))² ) — no gate projection.
//
// What it takes (docs/design.md, "Add a router" / "Add an expert MLP"): a policy struct with its
// name, config check, parameters (`weights<S>`, over any storage) and math, plus one hook
// specialisation per backend it runs on — here only the CPU. A spec naming these policies with the
// CUDA backend would stop at compile time with the hook's message.
#include <cmath>
#include <cstdio>
#include <span>
#include <vector>

#include <dsv2/model.hpp>

namespace example {

// --- a router: top-k of sigmoid scores + a per-expert bias ---------------------------------------
struct sigmoid_bias_router {
    static constexpr const char* name = "sigmoid_bias";

    /// Its parameters over any storage S: the gate [E, H] and a bias [E], both fp32.
    template <class S>
    struct weights {
        dsv2::matrix_t<S, dsv2::fp32_kept> weight;  // [E, H]  "mlp.gate.weight"
        dsv2::vector_t<S> bias;                     // [E]     "mlp.gate.e_score_correction_bias"

        static weights allocate(const dsv2::DeepseekV2Config& cfg) {
            return {S::template shape_only<dsv2::fp32_kept>(cfg.n_routed_experts, cfg.hidden_size),
                    S::vector_of(cfg.n_routed_experts, 0.0f)};
        }
        template <class F, class... Trees>
        static void visit(const std::string& name, F&& f, Trees&... t) {
            f(name + ".weight", dsv2::parameter_kind::weight, t.weight...);
            f(name + ".e_score_correction_bias", dsv2::parameter_kind::bias, t.bias...);
        }
    };

    static void check(const dsv2::DeepseekV2Config& cfg) {
        if (cfg.scoring_func != "sigmoid")
            throw dsv2::config_error("scoring_func", "is '" + cfg.scoring_func + "' but sigmoid_bias_router scores with 'sigmoid'");
    }
    static dsv2::routing_params params(const dsv2::DeepseekV2Config& cfg) { return dsv2::routing_params::from_config(cfg); }

    /// logits [E] -> idx [k], weight [k] (one token, on the host).
    template <class W>
    static void select(const W& w, const dsv2::routing_params& p, std::span<float> logits, std::int64_t* idx, float* weight) {
        std::vector<float> choice(logits.size());
        for (std::size_t e = 0; e < logits.size(); ++e) {
            logits[e] = 1.0f / (1.0f + std::exp(-logits[e]));  // the score
            choice[e] = logits[e] + w.bias[static_cast<Eigen::Index>(e)];
        }
        dsv2::top_k_indices(choice, p.top_k, idx);
        float sum = 0.0f;
        for (std::int64_t j = 0; j < p.top_k; ++j) sum += (weight[j] = logits[static_cast<std::size_t>(idx[j])]);
        for (std::int64_t j = 0; j < p.top_k; ++j)
            weight[j] = (p.norm_topk_prob ? weight[j] / (sum + 1e-20f) : weight[j]) * p.routed_scaling_factor;
    }
};

// --- an expert MLP: squared-ReLU experts -----------------------------------------------------------
struct relu2_experts {
    static constexpr const char* name = "relu2";

    template <class S>
    struct weights {
        dsv2::linear<S> up_proj;    // [I, H]
        dsv2::linear<S> down_proj;  // [H, I]

        template <class F, class... Trees>
        static void visit(const std::string& name, F&& f, Trees&... t) {
            dsv2::linear<S>::visit(name + ".up_proj", f, t.up_proj...);
            dsv2::linear<S>::visit(name + ".down_proj", f, t.down_proj...);
        }
    };
    template <class S>
    static weights<S> allocate(const dsv2::DeepseekV2Config& cfg) {
        return {dsv2::linear<S>::allocate(cfg.moe_intermediate_size, cfg.hidden_size, false),
                dsv2::linear<S>::allocate(cfg.hidden_size, cfg.moe_intermediate_size, false)};
    }
};

/// A spec: the CPU, the library's attention, the two policies above.
struct custom_spec : dsv2::default_spec {
    using router = sigmoid_bias_router;
    using expert_mlp = relu2_experts;
};

/// A small config these policies route (sigmoid scoring, 8 experts, top-2 renormalised).
inline dsv2::DeepseekV2Config small_config() {
    return {.vocab_size = 97, .hidden_size = 32, .intermediate_size = 48, .num_hidden_layers = 3,
            .num_attention_heads = 2, .max_position_embeddings = 256, .first_k_dense_replace = 1,
            .kv_lora_rank = 16, .n_routed_experts = 8, .n_shared_experts = 1, .qk_nope_head_dim = 8,
            .qk_rope_head_dim = 4, .routed_scaling_factor = 2.5, .norm_topk_prob = true, .v_head_dim = 8,
            .num_experts_per_tok = 2, .moe_intermediate_size = 24, .scoring_func = "sigmoid"};
}

/// Random weights for the spec, with a non-zero router bias so that it matters.
inline std::shared_ptr<const dsv2::spec_weights_t<custom_spec>> random_weights(const dsv2::DeepseekV2Config& cfg,
                                                                               std::uint64_t seed) {
    auto w = std::make_shared<dsv2::spec_weights_t<custom_spec>>(
        dsv2::spec_weights_t<custom_spec>::allocate(cfg, dsv2::model_head::causal_lm));
    dsv2::init_random_weights(*w, cfg, seed);
    for (auto& layer : w->layers)
        if (auto* moe = std::get_if<1>(&layer.mlp))
            for (Eigen::Index e = 0; e < moe->gate.bias.size(); ++e) moe->gate.bias[e] = 0.01f * static_cast<float>((e * 5) % 7);
    return w;
}

}  // namespace example

// --- the hooks: how the policies run on the CPU ----------------------------------------------------
template <>
struct dsv2::router_impl<example::sigmoid_bias_router, dsv2::cpu> : dsv2::per_token_router<example::sigmoid_bias_router> {};

template <>
struct dsv2::expert_mlp_impl<example::relu2_experts, dsv2::cpu> {
    template <class Pass>
    static void forward(const Pass&, const example::relu2_experts::weights<dsv2::host_storage>& w, dsv2::activation,
                        const dsv2::cpu::matrix& x, dsv2::cpu::matrix& y) {
        dsv2::cpu::matrix u = dsv2::linear_forward(dsv2::cpu{}, x, w.up_proj);  // [n, I]
        u = u.cwiseMax(0.0f).cwiseAbs2();
        dsv2::linear_forward(dsv2::cpu{}, u, w.down_proj, y);  // [n, H]
    }
};

#ifndef DSV2_EXAMPLE_05_NO_MAIN
int main() try {
    const dsv2::DeepseekV2Config cfg = example::small_config();
    const dsv2::DeepseekV2ForCausalLM<example::custom_spec> lm(cfg, example::random_weights(cfg, 5));

    const dsv2::tensor<std::int64_t> ids({1, 6}, std::vector<std::int64_t>{3, 14, 15, 92, 65, 35});
    const auto out = lm.forward({.input_ids = &ids});
    std::printf("router %s, experts %s: logits [%lld, %lld, %lld]\n", example::sigmoid_bias_router::name,
                example::relu2_experts::name, static_cast<long long>(out.logits.dim(0)),
                static_cast<long long>(out.logits.dim(1)), static_cast<long long>(out.logits.dim(2)));

    const auto gen = dsv2::generate(lm, ids, nullptr, {.max_new_tokens = 8});
    std::printf("greedy continuation:");
    for (std::int64_t k = ids.dim(1); k < gen.sequences.dim(1); ++k) std::printf(" %lld", static_cast<long long>(gen.sequences(0, k)));
    std::printf("\n");
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "05_custom_policies: %s\n", e.what());
    return 1;
}
#endif
