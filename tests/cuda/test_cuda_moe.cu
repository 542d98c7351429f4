// Routers (router_impl<R, cuda>), the gated expert MLP (expert_mlp_impl<gated_mlp_experts, cuda>)
// and the MoE layer (moe/moe_layer.cuh) against their CPU hooks and moe_forward(cpu_forward_pass{}, ...).
//
// Routing must choose the same experts: the test logits are built so that no two candidates are
// within 7% of each other (distinct levels 0.07 apart in logit space), far beyond the few-ulp
// differences of the two softmaxes; exact ties are tested separately (equal logits give bitwise
// equal probabilities on each side, and both break ties towards the lower index). To feed the
// CPU's route() exactly these logits, the router weight is [I_E | 0] and the first E features of
// x are the logits: every product is exact, so x·gateᵀ equals them bit for bit on both sides.
//
// Weight bound: p = e^(z−max)/Σ: expf (2 ulp + 1 ulp), two sums of E positive terms (γ_E each),
// the division; then k more terms and one division (norm_topk_prob) or one product (scaling):
//   |w_gpu − w_cpu| ≤ (E + k + 16)·ε·|w_cpu|.
// Layer output, fp32 weights: gate/up reduce over H, down over I, then k weighted terms and the
// shared expert, all with random signs: ‖δy‖/‖y‖ ≤ 32·FLT_EPSILON·(√H + √I).
// bf16 weights: x and the activated gate are rounded to bf16 (2^-8, rms 2^-8/√3 each, two
// stages): ‖δy‖/‖y‖ ≤ 4·2^-8.
#include "cuda_test_support.cuh"

#include <numeric>

using namespace dsv2_cuda_test;

namespace {

dsv2::routing_params params(dsv2::routing_method m, std::int64_t E, std::int64_t k, std::int64_t groups,
                            std::int64_t topk_groups, float rsf, bool norm) {
    dsv2::routing_params p;
    p.method = m;
    p.experts = E;
    p.top_k = k;
    p.n_group = groups;
    p.topk_group = topk_groups;
    p.routed_scaling_factor = rsf;
    p.norm_topk_prob = norm;
    return p;
}

/// [T, E] logits: each row a random permutation of E levels 0.07 apart, shifted per row.
dsv2::cpu::matrix separated_logits(std::int64_t T, std::int64_t E, std::mt19937& rng) {
    dsv2::cpu::matrix z(T, E);
    std::vector<int> perm(static_cast<std::size_t>(E));
    std::uniform_real_distribution<float> shift(-0.5f, 0.5f);
    for (std::int64_t t = 0; t < T; ++t) {
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), rng);
        const float c = shift(rng) - 0.035f * static_cast<float>(E);
        for (std::int64_t e = 0; e < E; ++e) z(t, e) = c + 0.07f * static_cast<float>(perm[static_cast<std::size_t>(e)]);
    }
    return z;
}

/// The router weight [E, H] = [I_E | 0].
dsv2::cpu_weight identity_gate(std::int64_t E, std::int64_t H) {
    dsv2::cpu_weight g = dsv2::cpu_weight::zeros(E, H);
    for (std::int64_t e = 0; e < E; ++e) g.mutable_f32()[e * H + e] = 1.0f;
    return g;
}

void check_routing(const dsv2::routing_result& ref, const std::vector<std::int32_t>& idx, const std::vector<float>& w,
                   std::int64_t E, std::int64_t k) {
    REQUIRE(idx.size() == ref.expert.size());
    std::size_t idx_mismatch = 0, w_bad = 0;
    for (std::size_t i = 0; i < idx.size(); ++i) {
        idx_mismatch += idx[i] != ref.expert[i];
        w_bad += std::abs(double(w[i]) - ref.weight[i]) > (double(E + k) + 16.0) * FLT_EPSILON * std::abs(double(ref.weight[i]));
    }
    CHECK(idx_mismatch == 0);
    CHECK(w_bad == 0);
}

template <class Router>
void router_case(device_context& ctx, const dsv2::routing_params& p, const dsv2::cpu::matrix& logits) {
    const std::int64_t T = logits.rows(), E = p.experts, k = p.top_k;
    const dsv2::router_gate<dsv2::host_storage> square{identity_gate(E, E)};
    const dsv2::routing_result ref = dsv2::router_impl<Router, dsv2::cpu>::route(dsv2::cpu_forward_pass{}, square, p, logits);

    const auto dz = to_device(ctx.s(), logits);
    dsv2::device_buffer<std::int32_t> di(static_cast<std::size_t>(T * k), ctx.s());
    dsv2::device_buffer<float> dw(static_cast<std::size_t>(T * k), ctx.s());
    dsv2::softmax_topk(dsv2::cuda{}, ctx.s(), dsv2::router_impl<Router, dsv2::cuda>::method(p), p, dz.data(), T, di.data(),
                       dw.data());
    check_routing(ref, dsv2::download(ctx.s(), di), dsv2::download(ctx.s(), dw), E, k);

    // the same through the hook's route(): x [T, E + 13] with the logits first, gate [I_E | 0] on the device
    const std::int64_t H = E + 13;
    std::mt19937 rng(static_cast<unsigned>(T * 7 + E));
    dsv2::cpu::matrix x = random_matrix(T, H, rng);
    x.leftCols(E) = logits;
    const dsv2::router_gate<dsv2::host_storage> gate{identity_gate(E, H)};
    const auto dx = to_device(ctx.s(), x);
    const auto dg = to_device<float>(ctx.s(), gate);
    dsv2::device_buffer<float> dlogits(static_cast<std::size_t>(T * E), ctx.s());
    dsv2::router_impl<Router, dsv2::cuda>::route(ctx.pass, dg, p, dx.data(), T, di.data(), dw.data(), dlogits.data());
    CHECK(dsv2::download(ctx.s(), dlogits) == std::vector<float>(logits.data(), logits.data() + logits.size()));
    check_routing(ref, dsv2::download(ctx.s(), di), dsv2::download(ctx.s(), dw), E, k);
}

}  // namespace

TEST_CASE("router kernel: greedy and group-limited greedy choose the CPU's experts and weights", "[cuda][moe]") {
    device_context ctx;
    std::mt19937 rng(40);
    using M = dsv2::routing_method;
    SECTION("greedy, V2-Lite sizes (64 experts, top-6)") {
        router_case<dsv2::router_greedy>(ctx, params(M::greedy, 64, 6, 1, 1, 1.0f, false), separated_logits(53, 64, rng));
    }
    SECTION("group-limited greedy, V2 sizes (160 experts, 8 groups, 3 kept, top-6, scaling 16)") {
        router_case<dsv2::router_group_limited_greedy>(ctx, params(M::group_limited_greedy, 160, 6, 8, 3, 16.0f, false),
                                                       separated_logits(41, 160, rng));
    }
    SECTION("from_config following group_limited_greedy, norm_topk_prob") {
        router_case<dsv2::router_from_config>(ctx, params(M::group_limited_greedy, 32, 4, 4, 2, 16.0f, true),
                                              separated_logits(17, 32, rng));
    }
    SECTION("from_config following greedy, top-1 with norm_topk_prob (scaled, not renormalised)") {
        router_case<dsv2::router_from_config>(ctx, params(M::greedy, 16, 1, 1, 1, 2.5f, true), separated_logits(9, 16, rng));
    }
}

TEST_CASE("router kernel: exact ties go to the lower expert index", "[cuda][moe]") {
    device_context ctx;
    using M = dsv2::routing_method;
    const std::int64_t E = 16;
    dsv2::cpu::matrix z = dsv2::cpu::matrix::Zero(4, E);  // row 0: all equal
    for (std::int64_t e = 0; e < E; ++e) {
        z(1, e) = (e % 3 == 0) ? 1.0f : 0.5f;  // 0, 3, 6, 9, 12, 15 tie at the top
        z(2, e) = (e >= 8) ? 2.0f : 1.0f;      // the upper half ties
        z(3, e) = (e == 5 || e == 10) ? 3.0f : -1.0f;
    }
    router_case<dsv2::router_greedy>(ctx, params(M::greedy, E, 4, 1, 1, 1.0f, false), z);
    router_case<dsv2::router_group_limited_greedy>(ctx, params(M::group_limited_greedy, E, 4, 4, 2, 1.0f, false), z);
    router_case<dsv2::router_group_limited_greedy>(ctx, params(M::group_limited_greedy, E, 3, 8, 3, 1.0f, true), z);
}

namespace {

template <class W, class Router>
void moe_case(device_context& ctx, const dsv2::routing_params& p, std::int64_t T, std::int64_t H, std::int64_t I,
              bool shared, dsv2::activation act, std::mt19937& rng) {
    constexpr bool bf16 = std::is_same_v<W, __nv_bfloat16>;
    const std::int64_t E = p.experts;
    dsv2::moe_weights<dsv2::host_storage, Router, dsv2::gated_mlp_experts> w;
    w.gate.weight = identity_gate(E, H);
    for (std::int64_t e = 0; e < E; ++e) w.experts.push_back(random_mlp(H, I, rng, bf16, false));
    if (shared) w.shared_experts = random_mlp(H, 2 * I, rng, bf16, /*bias=*/true);
    dsv2::cpu::matrix x = random_matrix(T, H, rng);
    x.leftCols(E) = separated_logits(T, E, rng);

    dsv2::cpu::matrix ref;
    dsv2::moe_forward(dsv2::cpu_forward_pass{}, w, p, act, x, ref);

    const auto dw = to_device<W>(ctx.s(), w);  // one gated_mlp<cuda_storage<W>> per routed expert
    const auto dx = to_device(ctx.s(), x);
    dsv2::device_buffer<float> dy;
    dsv2::moe_forward(ctx.pass, dw, p, act, dx, dy);
    REQUIRE(dy.size() == static_cast<std::size_t>(T * H));
    const std::vector<float> got = dsv2::download(ctx.s(), dy);
    const comparison c = compare(std::span<const float>(got), values_of(ref), [](std::size_t) { return INFINITY; });
    INFO(c.report());
    CHECK(c.violations == 0);  // finite everywhere
    const double bound = bf16 ? 4.0 * u_bf16 : 32.0 * FLT_EPSILON * (std::sqrt(double(H)) + std::sqrt(double(I)));
    CHECK(c.rel_frobenius <= bound);
}

}  // namespace

TEST_CASE("moe_forward on the device equals moe_forward(cpu_forward_pass{}) with fp32 and bf16 experts", "[cuda][moe]") {
    device_context ctx;
    std::mt19937 rng(41);
    using M = dsv2::routing_method;
    const auto silu = dsv2::activation::silu;
    SECTION("greedy, 16 experts top-4, shared expert with biases, fp32") {
        moe_case<float, dsv2::router_greedy>(ctx, params(M::greedy, 16, 4, 1, 1, 1.0f, false), 37, 64, 48, true, silu, rng);
    }
    SECTION("group-limited, 32 experts, 3 tokens (most experts idle), scaling 16, fp32") {
        moe_case<float, dsv2::router_group_limited_greedy>(ctx, params(M::group_limited_greedy, 32, 3, 4, 2, 16.0f, false),
                                                           3, 96, 40, false, silu, rng);
    }
    SECTION("V2-Lite-like: 64 experts top-6, H 256, I 128, norm_topk_prob, gelu, fp32") {
        moe_case<float, dsv2::router_from_config>(ctx, params(M::greedy, 64, 6, 1, 1, 1.0f, true), 50, 256, 128, true,
                                                  dsv2::activation::gelu, rng);
    }
    SECTION("bf16 experts, group-limited, shared expert") {
        moe_case<__nv_bfloat16, dsv2::router_from_config>(ctx, params(M::group_limited_greedy, 32, 4, 4, 2, 16.0f, false),
                                                          29, 128, 64, true, silu, rng);
    }
    SECTION("bf16 experts, one token (decode)") {
        moe_case<__nv_bfloat16, dsv2::router_greedy>(ctx, params(M::greedy, 64, 6, 1, 1, 1.0f, false), 1, 256, 96, true,
                                                     silu, rng);
    }
}

TEST_CASE("expert_mlp_impl<gated_mlp_experts, cuda> equals the CPU's, with biases", "[cuda][moe]") {
    device_context ctx;
    std::mt19937 rng(42);
    const std::int64_t T = 11, H = 128, I = 344;
    for (bool bf16 : {false, true}) {
        INFO((bf16 ? "bf16" : "fp32"));
        const host_gated_mlp m = random_mlp(H, I, rng, bf16, true);
        const dsv2::cpu::matrix x = random_matrix(T, H, rng);
        dsv2::cpu::matrix ref;
        dsv2::expert_mlp_impl<dsv2::gated_mlp_experts, dsv2::cpu>::forward(dsv2::cpu_forward_pass{}, m, dsv2::activation::silu,
                                                                           x, ref);
        const auto dx = to_device(ctx.s(), x);
        dsv2::device_buffer<float> dy;
        using gpu_mlp = dsv2::expert_mlp_impl<dsv2::gated_mlp_experts, dsv2::cuda>;
        if (bf16)
            gpu_mlp::forward(ctx.pass, to_device<__nv_bfloat16>(ctx.s(), m), dsv2::activation::silu, dx, dy);
        else
            gpu_mlp::forward(ctx.pass, to_device<float>(ctx.s(), m), dsv2::activation::silu, dx, dy);
        REQUIRE(dy.size() == static_cast<std::size_t>(T * H));
        const comparison c = compare(std::span<const float>(dsv2::download(ctx.s(), dy)), values_of(ref),
                                     [](std::size_t) { return INFINITY; });
        INFO(c.report());
        CHECK(c.rel_frobenius <= (bf16 ? 4.0 * u_bf16 : 32.0 * FLT_EPSILON * (std::sqrt(double(H)) + std::sqrt(double(I)))));
    }
}
