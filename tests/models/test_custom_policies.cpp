// Policies defined outside the library (examples/05_custom_policies.cpp: a sigmoid + bias router and
// squared-ReLU experts) compose into a spec and run: the MoE layer against a plain per-token
// reference, the whole model's logits against a layer-by-layer reference whose MoE part is that
// plain reference, and greedy generation against argmax over repeated reference forwards.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#define DSV2_EXAMPLE_05_NO_MAIN
#include "../../examples/05_custom_policies.cpp"

namespace {

using weights_t = dsv2::spec_weights_t<example::custom_spec>;
using moe_t = weights_t::layer_type::moe_type;

double dot_row(const dsv2::cpu_weight& w, std::int64_t r, const std::vector<double>& x) {
    double s = 0;
    for (std::int64_t c = 0; c < w.cols(); ++c) s += double(w.at(r, c)) * x[static_cast<std::size_t>(c)];
    return s;
}
std::vector<double> matvec(const dsv2::cpu_weight& w, const std::vector<double>& x) {
    std::vector<double> y(static_cast<std::size_t>(w.rows()));
    for (std::int64_t r = 0; r < w.rows(); ++r) y[static_cast<std::size_t>(r)] = dot_row(w, r, x);
    return y;
}
double silu(double z) { return z / (1.0 + std::exp(-z)); }

/// The MoE layer of one token, written from the policies' definitions (double precision).
std::vector<double> moe_reference(const moe_t& m, const dsv2::DeepseekV2Config& cfg, const std::vector<double>& x) {
    const std::int64_t E = cfg.n_routed_experts, k = *cfg.num_experts_per_tok;
    std::vector<double> score(static_cast<std::size_t>(E)), choice(score.size());
    for (std::int64_t e = 0; e < E; ++e) {
        score[static_cast<std::size_t>(e)] = 1.0 / (1.0 + std::exp(-dot_row(m.gate.weight, e, x)));
        choice[static_cast<std::size_t>(e)] = score[static_cast<std::size_t>(e)] + m.gate.bias[e];
    }
    std::vector<std::int64_t> order(static_cast<std::size_t>(E));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return choice[static_cast<std::size_t>(a)] > choice[static_cast<std::size_t>(b)]; });
    double sum = 0;
    for (std::int64_t j = 0; j < k; ++j) sum += score[static_cast<std::size_t>(order[static_cast<std::size_t>(j)])];
    std::vector<double> y(x.size(), 0.0);
    for (std::int64_t j = 0; j < k; ++j) {
        const std::int64_t e = order[static_cast<std::size_t>(j)];
        const double w = score[static_cast<std::size_t>(e)] / sum * cfg.routed_scaling_factor;
        auto u = matvec(m.experts[static_cast<std::size_t>(e)].up_proj.weight, x);
        for (double& v : u) v = v > 0 ? v * v : 0.0;
        const auto d = matvec(m.experts[static_cast<std::size_t>(e)].down_proj.weight, u);
        for (std::size_t i = 0; i < y.size(); ++i) y[i] += w * d[i];
    }
    const auto& sh = *m.shared_experts;  // DeepSeek's gated shared expert
    auto g = matvec(sh.gate_proj.weight, x);
    const auto u = matvec(sh.up_proj.weight, x);
    for (std::size_t i = 0; i < g.size(); ++i) g[i] = silu(g[i]) * u[i];
    const auto d = matvec(sh.down_proj.weight, g);
    for (std::size_t i = 0; i < y.size(); ++i) y[i] += d[i];
    return y;
}

std::vector<double> row_of(const dsv2::cpu::matrix& m, Eigen::Index r) {
    return std::vector<double>(m.row(r).data(), m.row(r).data() + m.cols());
}

/// logits [S, V] of one row of ids: the library's embedding, norms, attention and dense MLP (each
/// fixture-tested), the plain reference for every MoE layer.
dsv2::cpu::matrix model_reference(const weights_t& w, const dsv2::DeepseekV2Config& cfg, const std::vector<std::int64_t>& ids) {
    const auto S = static_cast<std::int64_t>(ids.size());
    const auto plan = dsv2::decoder_plan::from_config<example::sigmoid_bias_router>(cfg);
    std::vector<std::int64_t> pos(ids.size()), mask(ids.size(), 1);
    std::iota(pos.begin(), pos.end(), 0);
    const dsv2::attention_batch ab{1, S, 0, pos.data(), mask.data()};
    dsv2::cpu::matrix x(S, cfg.hidden_size);
    for (std::int64_t s = 0; s < S; ++s) w.embed_tokens.row_to_f32(ids[static_cast<std::size_t>(s)], x.row(s).data());
    for (const auto& L : w.layers) {
        dsv2::cpu::matrix h = dsv2::rmsnorm(dsv2::cpu{}, x, L.input_layernorm, cfg.rms_norm_eps);
        x += dsv2::mla_forward_expanded(dsv2::cpu{}, L.self_attn, plan.attention, plan.rope, h, ab, nullptr, nullptr);
        h = dsv2::rmsnorm(dsv2::cpu{}, x, L.post_attention_layernorm, cfg.rms_norm_eps);
        if (const auto* moe = std::get_if<1>(&L.mlp)) {
            for (std::int64_t s = 0; s < S; ++s) {
                const auto y = moe_reference(*moe, cfg, row_of(h, s));
                for (std::int64_t c = 0; c < cfg.hidden_size; ++c) x(s, c) += static_cast<float>(y[static_cast<std::size_t>(c)]);
            }
        } else {
            dsv2::cpu::matrix y;
            dsv2::expert_mlp_impl<dsv2::gated_mlp_experts, dsv2::cpu>::forward(dsv2::cpu_forward_pass{}, std::get<0>(L.mlp), plan.act, h, y);
            x += y;
        }
    }
    dsv2::rmsnorm_inplace(dsv2::cpu{}, x, w.norm, cfg.rms_norm_eps);
    dsv2::cpu::matrix logits;
    dsv2::matmul_nt(dsv2::cpu{}, x, w.output_embeddings(), logits);
    return logits;
}

double max_abs_diff(const dsv2::cpu::matrix& a, const dsv2::cpu::matrix& b) { return (a - b).cwiseAbs().maxCoeff(); }

}  // namespace

TEST_CASE("custom router and expert MLP: the MoE layer equals a plain per-token reference", "[policies]") {
    const auto cfg = example::small_config();
    const auto w = example::random_weights(cfg, 11);
    const auto& moe = std::get<1>(w->layers[1].mlp);
    const auto plan = dsv2::decoder_plan::from_config<example::sigmoid_bias_router>(cfg);
    std::mt19937 rng(4);
    std::normal_distribution<float> nd;
    dsv2::cpu::matrix x(9, cfg.hidden_size), y;
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = nd(rng);
    dsv2::moe_forward(dsv2::cpu_forward_pass{}, moe, plan.routing, plan.act, x, y);
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
        const auto ref = moe_reference(moe, cfg, row_of(x, t));
        for (Eigen::Index c = 0; c < x.cols(); ++c) CHECK(std::abs(y(t, c) - ref[static_cast<std::size_t>(c)]) < 1e-5);
    }

    // the bias steers the choice: without it some token routes elsewhere (so the test can fail)
    auto unbiased = moe;
    unbiased.gate.bias.setZero();
    dsv2::cpu::matrix y0;
    dsv2::moe_forward(dsv2::cpu_forward_pass{}, unbiased, plan.routing, plan.act, x, y0);
    CHECK(max_abs_diff(y, y0) > 1e-3);
}

TEST_CASE("custom policies: model logits equal the layer-by-layer reference; greedy generation follows them", "[policies]") {
    const auto cfg = example::small_config();
    const auto w = example::random_weights(cfg, 5);
    const dsv2::DeepseekV2ForCausalLM<example::custom_spec> lm(cfg, w);
    const std::vector<std::int64_t> prompt = {3, 14, 15, 92, 65, 35};
    const dsv2::tensor<std::int64_t> ids({1, 6}, prompt);

    const auto out = lm.forward({.input_ids = &ids});
    const auto ref = model_reference(*w, cfg, prompt);
    const dsv2::cpu::matrix got = dsv2::cpu::const_matrix_map(out.logits.data(), 6, cfg.vocab_size);
    CHECK(max_abs_diff(got, ref) < 1e-4 * std::max(1.0, double(ref.cwiseAbs().maxCoeff())));

    // greedy generation with the latent cache equals argmax over full reference forwards
    const std::int64_t steps = 8;
    const auto gen = dsv2::generate(lm, ids, nullptr, {.max_new_tokens = steps, .eos_token_id = std::vector<std::int64_t>{}});
    std::vector<std::int64_t> seq = prompt;
    for (std::int64_t k = 0; k < steps; ++k) {
        const auto logits = model_reference(*w, cfg, seq);
        Eigen::Index best = 0;
        logits.row(logits.rows() - 1).maxCoeff(&best);
        seq.push_back(best);
    }
    REQUIRE(gen.sequences.dim(1) == static_cast<std::int64_t>(seq.size()));
    for (std::size_t i = 0; i < seq.size(); ++i) CHECK(gen.sequences(0, static_cast<std::int64_t>(i)) == seq[i]);
}

TEST_CASE("custom router: its config check runs when a model is built", "[policies]") {
    auto cfg = example::small_config();
    cfg.scoring_func = "softmax";
    CHECK_THROWS_WITH((dsv2::DeepseekV2ForCausalLM<example::custom_spec>::from_config(cfg, 1)),
                      Catch::Contains("scoring_func") && Catch::Contains("sigmoid"));
}
