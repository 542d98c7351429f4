// MLA (expanded) and the MoE layer against plain scalar references written straight from the
// formulas in the semantics document, on small random weights.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include <dsv2/models/decoder.hpp>

namespace {

dsv2::DeepseekV2Config small_config(bool q_lora) {
    dsv2::DeepseekV2Config cfg{.vocab_size = 50, .hidden_size = 16, .intermediate_size = 24, .num_hidden_layers = 2,
                               .num_attention_heads = 3, .max_position_embeddings = 4096, .initializer_range = 0.3,
                               .first_k_dense_replace = 1, .kv_lora_rank = 8, .q_lora_rank = 12, .n_group = 2,
                               .n_routed_experts = 6, .n_shared_experts = 1, .qk_nope_head_dim = 4, .qk_rope_head_dim = 4,
                               .routed_scaling_factor = 1.5, .topk_group = 1, .topk_method = "group_limited_greedy",
                               .v_head_dim = 5, .num_experts_per_tok = 2, .moe_intermediate_size = 7};
    cfg.rope_parameters = {.rope_type = "yarn", .factor = 4.0, .original_max_position_embeddings = 64,
                           .mscale = 0.707, .mscale_all_dim = 0.707};
    if (!q_lora) cfg.q_lora_rank.reset();
    return cfg;
}

double max_abs_diff(const dsv2::cpu::matrix& a, const dsv2::cpu::matrix& b) {
    return (a - b).cwiseAbs().maxCoeff();
}

std::vector<float> row_of(const dsv2::cpu::matrix& m, Eigen::Index r) {
    return std::vector<float>(m.row(r).data(), m.row(r).data() + m.cols());
}

std::vector<float> matvec(const dsv2::cpu_weight& w, const std::vector<float>& x) {  // w [out, in]
    std::vector<float> y(static_cast<std::size_t>(w.rows()), 0.0f);
    for (Eigen::Index o = 0; o < w.rows(); ++o)
        for (Eigen::Index i = 0; i < w.cols(); ++i) y[static_cast<std::size_t>(o)] += w.at(o, i) * x[static_cast<std::size_t>(i)];
    return y;
}

std::vector<float> norm(const std::vector<float>& x, const dsv2::cpu::vector& w, double eps) {
    double ss = 0;
    for (float v : x) ss += double(v) * v;
    const double r = 1.0 / std::sqrt(ss / double(x.size()) + eps);
    std::vector<float> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = static_cast<float>(x[i] * r) * w[static_cast<Eigen::Index>(i)];
    return y;
}

void rope(float* x, std::int64_t pos, const dsv2::rope_table& t) {
    for (std::size_t i = 0; i < t.inv_freq.size(); ++i) {
        const double th = double(static_cast<float>(pos) * t.inv_freq[i]);
        const float a = x[2 * i], b = x[2 * i + 1];
        x[2 * i] = static_cast<float>(t.attention_factor * (a * std::cos(th) - b * std::sin(th)));
        x[2 * i + 1] = static_cast<float>(t.attention_factor * (a * std::sin(th) + b * std::cos(th)));
    }
}

}  // namespace

TEST_CASE("MLA expanded equals a scalar reference (causal + padding mask, positions past 1000)", "[mla]") {
    for (bool q_lora : {false, true}) {
        const auto cfg = small_config(q_lora);
        const auto model = dsv2::DeepseekV2Model<>::from_config(cfg, 7);
        const auto& w = model.weights().layers[0].self_attn;
        const auto& plan = model.plan();
        const std::int64_t B = 2, S = 5, H = cfg.hidden_size, nh = cfg.num_attention_heads;
        const std::int64_t dn = cfg.qk_nope_head_dim, dr = cfg.qk_rope_head_dim, dv = cfg.v_head_dim, dc = cfg.kv_lora_rank;
        std::mt19937 rng(3);
        std::normal_distribution<float> nd;
        dsv2::cpu::matrix h(B * S, H);
        for (Eigen::Index i = 0; i < h.size(); ++i) h.data()[i] = nd(rng);
        std::vector<std::int64_t> pos = {1000, 1001, 1002, 1003, 1004, 0, 0, 7, 8, 9};
        std::vector<std::int64_t> mask = {1, 1, 1, 1, 1, 0, 0, 1, 1, 1};  // row 1 left-padded
        const dsv2::attention_batch ab{B, S, 0, pos.data(), mask.data()};
        const auto out = dsv2::mla_forward_expanded(dsv2::cpu{}, w, plan.attention, plan.rope, h, ab, nullptr, nullptr);

        // reference, token by token
        std::vector<std::vector<float>> Q(B * S), K(B * S), V(B * S);
        for (std::int64_t t = 0; t < B * S; ++t) {
            const auto x = row_of(h, t);
            std::vector<float> q = q_lora ? matvec(w.q_b_proj->weight, norm(matvec(w.q_a_proj->weight, x), w.q_a_layernorm, 1e-6))
                                          : matvec(w.q_proj->weight, x);
            const auto ckv = matvec(w.kv_a_proj_with_mqa.weight, x);
            const auto c = norm(std::vector<float>(ckv.begin(), ckv.begin() + dc), w.kv_a_layernorm, 1e-6);
            std::vector<float> kpe(ckv.begin() + dc, ckv.end());
            rope(kpe.data(), pos[static_cast<std::size_t>(t)], plan.rope);
            const auto kv = matvec(w.kv_b_proj.weight, c);
            for (std::int64_t hd = 0; hd < nh; ++hd) {
                rope(q.data() + hd * (dn + dr) + dn, pos[static_cast<std::size_t>(t)], plan.rope);
                for (std::int64_t j = 0; j < dn; ++j) K[t].push_back(kv[static_cast<std::size_t>(hd * (dn + dv) + j)]);
                K[t].insert(K[t].end(), kpe.begin(), kpe.end());
                for (std::int64_t j = 0; j < dv; ++j) V[t].push_back(kv[static_cast<std::size_t>(hd * (dn + dv) + dn + j)]);
            }
            Q[t] = q;
        }
        dsv2::cpu::matrix attn = dsv2::cpu::matrix::Zero(B * S, nh * dv);
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t hd = 0; hd < nh; ++hd)
                for (std::int64_t i = 0; i < S; ++i) {
                    std::vector<double> p(static_cast<std::size_t>(S), 0.0);
                    double mx = -1e300, sum = 0;
                    for (std::int64_t j = 0; j <= i; ++j) {
                        if (!mask[static_cast<std::size_t>(b * S + j)]) continue;
                        double s = 0;
                        for (std::int64_t d = 0; d < dn + dr; ++d)
                            s += double(Q[b * S + i][static_cast<std::size_t>(hd * (dn + dr) + d)]) * K[b * S + j][static_cast<std::size_t>(hd * (dn + dr) + d)];
                        p[static_cast<std::size_t>(j)] = s * cfg.softmax_scale();
                        mx = std::max(mx, p[static_cast<std::size_t>(j)]);
                    }
                    if (mx == -1e300) continue;  // a pad query attends to nothing
                    for (std::int64_t j = 0; j <= i; ++j)
                        if (mask[static_cast<std::size_t>(b * S + j)]) sum += (p[static_cast<std::size_t>(j)] = std::exp(p[static_cast<std::size_t>(j)] - mx));
                    for (std::int64_t j = 0; j <= i; ++j)
                        if (mask[static_cast<std::size_t>(b * S + j)])
                            for (std::int64_t d = 0; d < dv; ++d)
                                attn(b * S + i, hd * dv + d) += static_cast<float>(p[static_cast<std::size_t>(j)] / sum * V[b * S + j][static_cast<std::size_t>(hd * dv + d)]);
                }
        dsv2::cpu::matrix ref = attn * w.o_proj.weight.f32().transpose();
        // pad queries (row 1, slots 0-1) are unconstrained: compare real positions only
        for (std::int64_t t : {5, 6}) { ref.row(t).setZero(); }
        dsv2::cpu::matrix got = out;
        for (std::int64_t t : {5, 6}) { got.row(t).setZero(); }
        INFO("q_lora " << q_lora);
        CHECK(max_abs_diff(got, ref) < 1e-5 * std::max(1.0, double(ref.cwiseAbs().maxCoeff())));
        CHECK(out.allFinite());
    }
}

TEST_CASE("MoE layer equals a per-token reference (shared + routed, grouped routing, scaling)", "[moe]") {
    const auto cfg = small_config(true);
    const auto model = dsv2::DeepseekV2Model<>::from_config(cfg, 11);
    const auto& moe = std::get<1>(model.weights().layers[1].mlp);
    const auto& plan = model.plan();
    std::mt19937 rng(5);
    std::normal_distribution<float> nd;
    dsv2::cpu::matrix x(9, cfg.hidden_size);
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = nd(rng);
    dsv2::cpu::matrix y;
    dsv2::moe_forward(dsv2::cpu_forward_pass{}, moe, plan.routing, plan.act, x, y);

    auto expert = [&](const dsv2::gated_mlp<dsv2::host_storage>& m, const std::vector<float>& v) {
        auto g = matvec(m.gate_proj.weight, v);
        const auto u = matvec(m.up_proj.weight, v);
        for (std::size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
        return matvec(m.down_proj.weight, g);
    };
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
        const auto v = row_of(x, t);
        auto logits = matvec(moe.gate.weight, v);
        double mx = *std::max_element(logits.begin(), logits.end()), sum = 0;
        std::vector<double> p(logits.size());
        for (std::size_t e = 0; e < p.size(); ++e) sum += (p[e] = std::exp(logits[e] - mx));
        for (auto& q : p) q /= sum;
        // groups of 3, keep the one with the larger max, then top-2 inside it
        const double g0 = std::max({p[0], p[1], p[2]}), g1 = std::max({p[3], p[4], p[5]});
        const std::size_t base = g0 >= g1 ? 0 : 3;
        std::vector<std::size_t> order = {base, base + 1, base + 2};
        std::sort(order.begin(), order.end(), [&](auto a, auto b) { return p[a] > p[b]; });
        std::vector<double> ref(static_cast<std::size_t>(cfg.hidden_size), 0.0);
        for (int j = 0; j < 2; ++j) {
            const auto out = expert(moe.experts[order[static_cast<std::size_t>(j)]], v);
            for (std::size_t d = 0; d < ref.size(); ++d) ref[d] += 1.5 * p[order[static_cast<std::size_t>(j)]] * out[d];
        }
        const auto sh = expert(*moe.shared_experts, v);
        for (std::size_t d = 0; d < ref.size(); ++d) {
            INFO("token " << t << " dim " << d);
            CHECK(std::abs(y(t, static_cast<Eigen::Index>(d)) - (ref[d] + sh[d])) < 1e-5);
        }
    }
}

TEST_CASE("MLA absorbed equals expanded over the same latent cache (weight absorption algebra)", "[mla]") {
    const auto cfg = small_config(true);
    const auto model = dsv2::DeepseekV2Model<>::from_config(cfg, 13);
    const auto& w = model.weights().layers[0].self_attn;
    const auto& plan = model.plan();
    const std::int64_t B = 2, P = 9, H = cfg.hidden_size;
    for (std::int64_t S : {1, 3}) {
        std::mt19937 rng(static_cast<unsigned>(17 + S));
        std::normal_distribution<float> nd;
        dsv2::cpu::matrix past_rows(B * P, cfg.qk_rope_head_dim + cfg.kv_lora_rank), h(B * S, H);
        for (Eigen::Index i = 0; i < past_rows.size(); ++i) past_rows.data()[i] = nd(rng);
        for (Eigen::Index i = 0; i < h.size(); ++i) h.data()[i] = nd(rng);
        std::vector<std::int64_t> pos(static_cast<std::size_t>(B * S)), mask(static_cast<std::size_t>(B * (P + S)), 1);
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t s = 0; s < S; ++s) pos[static_cast<std::size_t>(b * S + s)] = P + s + 1000;
        mask[0] = mask[1] = 0;  // row 0 left-padded by two slots
        const dsv2::attention_batch ab{B, S, P, pos.data(), mask.data()};
        dsv2::latent_kv_cache absorbed_cache(cfg, B, &model.weights()), expanded_cache(cfg, B, &model.weights());
        absorbed_cache.layer(0).latents.append(past_rows, P);
        expanded_cache.layer(0).latents.append(past_rows, P);
        dsv2::tensor<float> pa({B, cfg.num_attention_heads, S, P + S}), pe = pa;
        const auto absorbed = dsv2::mla_forward_latent(dsv2::cpu{}, w, plan.attention, plan.rope, h, ab, &absorbed_cache.layer(0), &pa, S + 1);
        const auto expanded = dsv2::mla_forward_latent(dsv2::cpu{}, w, plan.attention, plan.rope, h, ab, &expanded_cache.layer(0), &pe, 1);
        INFO("new tokens " << S);
        CHECK(max_abs_diff(absorbed, expanded) < 1e-5 * std::max(1.0, double(expanded.cwiseAbs().maxCoeff())));
        double pmax = 0;
        for (std::int64_t i = 0; i < pa.numel(); ++i) pmax = std::max(pmax, double(std::abs(pa.data()[i] - pe.data()[i])));
        CHECK(pmax < 1e-6);
        CHECK(absorbed_cache.layer(0).latents.length() == P + S);
    }
}
