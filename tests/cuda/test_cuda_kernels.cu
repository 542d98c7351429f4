// Embedding, RMSNorm, RoPE and the gated activation against the CPU backend.
//
// Bounds (u = 2^-24, ε = FLT_EPSILON = 2u):
//  - embedding: a copy (bf16 -> fp32 is exact): equal bit for bit.
//  - RMSNorm over D values: Σx² has positive terms, so each side is within γ_D relatively; the
//    division by D, + eps, sqrt (halves the relative error, adds u), 1/x, and the two products
//    add a few u each side. |y_gpu − y_cpu| ≤ (D + 16)·u·|y_cpu| (element-wise).
//  - RoPE: the angle θ = float(p)·inv_freq is one fp32 product on both sides (identical bits);
//    cos/sin in double rounded to fp32 may differ by one ulp (ε relative); the factor product adds
//    u; the rotation a·c − b·s adds at most 2u·(|a·c| + |b·s|) per side. Altogether
//    |Δ| ≤ 4ε·f·(|a| + |b|) for the pair (a, b) and factor f (≥ 1.5× margin).
//  - gated activation act(z)·v: expf/erff/tanhf are within 2 ulp on the device and 1 ulp on the
//    host; 1 + erf can cancel for negative z, so the error is bounded relative to |z|:
//    |Δ| ≤ 16ε·(|ref| + |z·v|) (|act(z)| ≤ |z| for all four).
#include "cuda_test_support.cuh"

#include <bit>

using namespace dsv2_cuda_test;

TEST_CASE("embedding gathers rows of fp32 and bf16 tables exactly", "[cuda][kernels]") {
    device_context ctx;
    std::mt19937 rng(20);
    const std::int64_t vocab = 300, H = 70;
    for (bool bf16 : {false, true}) {
        INFO((bf16 ? "bf16" : "fp32") << " table");
        const dsv2::cpu_weight table = random_weight(vocab, H, rng, 1.0f, bf16);
        const std::vector<std::int64_t> ids = {0, 299, 5, 5, 123, 17, 298, 1, -1, 300};  // last two: invalid
        const auto dids = dsv2::upload(ctx.s(), ids);
        dsv2::device_buffer<float> out(ids.size() * H, ctx.s());
        if (bf16) {
            const auto dt = dsv2::upload_bf16_bits(ctx.s(), std::span<const std::uint16_t>(table.bf16(), vocab * H));
            dsv2::embedding(dsv2::cuda{}, ctx.s(), dt.data(), vocab, H, dids.data(), static_cast<std::int64_t>(ids.size()),
                            out.data());
        } else {
            const auto dt = dsv2::upload(ctx.s(), std::span<const float>(table.f32().data(), vocab * H));
            dsv2::embedding(dsv2::cuda{}, ctx.s(), dt.data(), vocab, H, dids.data(), static_cast<std::int64_t>(ids.size()),
                            out.data());
        }
        const std::vector<float> got = dsv2::download(ctx.s(), out);
        std::vector<float> row(static_cast<std::size_t>(H));
        std::size_t bad = 0;
        for (std::size_t r = 0; r < ids.size(); ++r) {
            if (ids[r] < 0 || ids[r] >= vocab) {
                for (std::int64_t c = 0; c < H; ++c) bad += !std::isnan(got[r * H + static_cast<std::size_t>(c)]);
                continue;
            }
            table.row_to_f32(ids[r], row.data());
            for (std::int64_t c = 0; c < H; ++c)
                bad += std::bit_cast<std::uint32_t>(got[r * H + static_cast<std::size_t>(c)]) !=
                       std::bit_cast<std::uint32_t>(row[static_cast<std::size_t>(c)]);
        }
        CHECK(bad == 0);
    }
}

TEST_CASE("rmsnorm equals rmsnorm(cpu{}) within (D + 16)·u relative", "[cuda][kernels]") {
    device_context ctx;
    std::mt19937 rng(21);
    for (const std::int64_t D : {16, 512, 1536, 2048, 5120}) {
        for (bool bf16_weight : {false, true}) {
            INFO("D " << D << (bf16_weight ? ", bf16 weight" : ", fp32 weight"));
            const std::int64_t T = 13;
            dsv2::cpu::matrix x = random_matrix(T, D, rng, 3.0f);
            x.row(4) *= 1e-3f;  // a small-norm row: eps matters
            dsv2::cpu::vector w(D);
            const std::vector<float> wv = random_values(static_cast<std::size_t>(D), rng, 0.5f, 1.5f);
            std::vector<std::uint16_t> wb(wv.size());
            for (std::int64_t i = 0; i < D; ++i) {
                wb[static_cast<std::size_t>(i)] = dsv2::float_to_bf16(wv[static_cast<std::size_t>(i)]);
                w[i] = bf16_weight ? dsv2::bf16_to_float(wb[static_cast<std::size_t>(i)]) : wv[static_cast<std::size_t>(i)];
            }
            const double eps = 1e-6;
            const dsv2::cpu::matrix ref = dsv2::rmsnorm(dsv2::cpu{}, x, w, eps);

            auto dx = to_device(ctx.s(), x);
            dsv2::device_buffer<float> dy(static_cast<std::size_t>(T * D), ctx.s());
            if (bf16_weight) {
                const auto dw = dsv2::upload_bf16_bits(ctx.s(), wb);
                dsv2::rmsnorm(dsv2::cuda{}, ctx.s(), dx.data(), dw.data(), dy.data(), T, D, eps);
                dsv2::rmsnorm(dsv2::cuda{}, ctx.s(), dx.data(), dw.data(), dx.data(), T, D, eps);  // in place
            } else {
                const auto dw = dsv2::upload(ctx.s(), std::span<const float>(w.data(), static_cast<std::size_t>(D)));
                dsv2::rmsnorm(dsv2::cuda{}, ctx.s(), dx.data(), dw.data(), dy.data(), T, D, eps);
                dsv2::rmsnorm(dsv2::cuda{}, ctx.s(), dx.data(), dw.data(), dx.data(), T, D, eps);
            }
            const std::vector<float> refv(ref.data(), ref.data() + ref.size());
            auto bound = [&](std::size_t i) { return (double(D) + 16.0) * u32 * std::abs(double(refv[i])) + 1e-30; };
            const comparison c = compare(std::span<const float>(dsv2::download(ctx.s(), dy)), std::span<const float>(refv), bound);
            INFO(c.report());
            CHECK(c.violations == 0);
            const comparison ci = compare(std::span<const float>(dsv2::download(ctx.s(), dx)), std::span<const float>(refv), bound);
            INFO("in place: " << ci.report());
            CHECK(ci.violations == 0);
        }
    }
}

TEST_CASE("rmsnorm of a column slice in place (the latent of [c | k_pe])", "[cuda][kernels]") {
    device_context ctx;
    std::mt19937 rng(22);
    const std::int64_t T = 6, dc = 512, dr = 64, width = dc + dr;
    const dsv2::cpu::matrix ckv = random_matrix(T, width, rng);
    dsv2::cpu::vector w = dsv2::cpu::vector::Constant(dc, 1.25f);
    const dsv2::cpu::matrix ref = dsv2::rmsnorm(dsv2::cpu{}, dsv2::cpu::matrix(ckv.leftCols(dc)), w, 1e-6);
    auto d = to_device(ctx.s(), ckv);
    const auto dw = dsv2::upload(ctx.s(), std::span<const float>(w.data(), static_cast<std::size_t>(dc)));
    dsv2::rmsnorm(dsv2::cuda{}, ctx.s(), d.data(), dw.data(), d.data(), T, dc, 1e-6, width, width);
    const std::vector<float> got = dsv2::download(ctx.s(), d);
    std::size_t bad = 0;
    for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t c = 0; c < width; ++c) {
            const float g = got[static_cast<std::size_t>(t * width + c)];
            if (c >= dc) {
                bad += g != ckv(t, c);  // k_pe untouched
            } else {
                bad += std::abs(double(g) - ref(t, c)) > (double(dc) + 16.0) * u32 * std::abs(double(ref(t, c)));
            }
        }
    CHECK(bad == 0);
}

TEST_CASE("rope equals rope_table::cos_sin + rotate at positions past 100000", "[cuda][kernels]") {
    device_context ctx;
    std::mt19937 rng(23);
    dsv2::DeepseekV2Config yarn{.num_attention_heads = 4, .max_position_embeddings = 163840, .qk_nope_head_dim = 16,
                                .qk_rope_head_dim = 64};
    yarn.rope_parameters = {.rope_type = "yarn", .factor = 40.0, .original_max_position_embeddings = 4096,
                            .beta_fast = 32.0, .beta_slow = 1.0, .mscale = 0.707, .mscale_all_dim = 0.707};
    dsv2::DeepseekV2Config plain = yarn;
    plain.rope_parameters = {.rope_type = "default", .rope_theta = 10000.0};
    dsv2::DeepseekV2Config scaled = yarn;  // an attention factor other than 1
    scaled.rope_parameters.mscale = 1.0;
    scaled.rope_parameters.mscale_all_dim = 0.5;

    for (const auto* cfg : {&plain, &yarn, &scaled}) {
        const dsv2::rope_table table = dsv2::rope_table::from_config(*cfg);
        INFO(cfg->rope_parameters.rope_type << ", attention factor " << table.attention_factor);
        const std::int64_t T = 50, nh = cfg->num_attention_heads, dn = cfg->qk_nope_head_dim, dr = cfg->qk_rope_head_dim,
                           dqk = dn + dr, pairs = dr / 2;
        std::vector<std::int64_t> pos(static_cast<std::size_t>(T));
        std::uniform_int_distribution<std::int64_t> pd(0, 163839);
        for (std::int64_t t = 0; t < T; ++t) pos[static_cast<std::size_t>(t)] = t < 5 ? t : pd(rng);
        const dsv2::cpu::matrix q0 = random_matrix(T, nh * dqk, rng, 2.0f);
        const dsv2::cpu::matrix ckv0 = random_matrix(T, 32 + dr, rng, 2.0f);  // [c (32) | k_pe]

        // CPU: exactly what mla_project does
        dsv2::cpu::matrix q = q0, ckv = ckv0;
        std::vector<float> cs(static_cast<std::size_t>(pairs)), sn(static_cast<std::size_t>(pairs));
        for (std::int64_t t = 0; t < T; ++t) {
            table.cos_sin(pos[static_cast<std::size_t>(t)], cs.data(), sn.data());
            for (std::int64_t h = 0; h < nh; ++h)
                dsv2::rope_table::rotate(q.row(t).data() + h * dqk + dn, cs.data(), sn.data(), static_cast<std::size_t>(pairs));
            dsv2::rope_table::rotate(ckv.row(t).data() + 32, cs.data(), sn.data(), static_cast<std::size_t>(pairs));
        }

        const dsv2::cuda_rope_table dt = dsv2::cuda_rope_table::upload(ctx.s(), table.inv_freq, table.attention_factor);
        const auto dpos = dsv2::upload(ctx.s(), pos);
        auto dq = to_device(ctx.s(), q0);
        auto dk = to_device(ctx.s(), ckv0);
        dsv2::rope(dsv2::cuda{}, ctx.s(), dt, dq.data(), T, nh * dqk, nh, dqk, dn, dpos.data());
        dsv2::rope(dsv2::cuda{}, ctx.s(), dt, dk.data(), T, 32 + dr, 1, 0, 32, dpos.data());
        const std::vector<float> gq = dsv2::download(ctx.s(), dq), gk = dsv2::download(ctx.s(), dk);

        const double f = std::max(1.0, double(std::abs(table.attention_factor)));
        auto check_matrix = [&](const std::vector<float>& got, const dsv2::cpu::matrix& ref, const dsv2::cpu::matrix& orig,
                                std::int64_t rotated_from, std::int64_t head_stride, std::int64_t heads) {
            std::size_t bad = 0, exact = 0, total = 0;
            for (std::int64_t t = 0; t < ref.rows(); ++t)
                for (std::int64_t c = 0; c < ref.cols(); ++c) {
                    const float g = got[static_cast<std::size_t>(t * ref.cols() + c)];
                    const std::int64_t within = heads > 1 ? c % head_stride : c;
                    if (within < rotated_from || (heads == 1 && c >= rotated_from + 2 * pairs)) {
                        bad += g != orig(t, c);  // not rotated: untouched
                        continue;
                    }
                    const std::int64_t pair_start = c - ((within - rotated_from) % 2);
                    const double b = 4.0 * FLT_EPSILON * f *
                                     (std::abs(double(orig(t, pair_start))) + std::abs(double(orig(t, pair_start + 1))));
                    bad += std::abs(double(g) - ref(t, c)) > b;
                    exact += g == ref(t, c);
                    ++total;
                }
            INFO("exactly equal: " << exact << " of " << total);
            CHECK(bad == 0);
        };
        check_matrix(gq, q, q0, dn, dqk, nh);
        check_matrix(gk, ckv, ckv0, 32, 0, 1);
    }
}

TEST_CASE("gate_activation equals gate_activation_inplace(cpu{}) for silu, gelu, gelu_tanh, relu", "[cuda][kernels]") {
    device_context ctx;
    std::mt19937 rng(24);
    const std::int64_t T = 9, I = 300;
    dsv2::cpu::matrix g0 = random_matrix(T, I, rng, 8.0f);
    g0(0, 0) = 0.0f;
    g0(0, 1) = -100.0f;  // e^100 overflows to inf: silu gives -0, as on the CPU
    g0(0, 2) = 100.0f;
    const dsv2::cpu::matrix up = random_matrix(T, I, rng, 2.0f);
    for (auto act : {dsv2::activation::silu, dsv2::activation::gelu, dsv2::activation::gelu_tanh, dsv2::activation::relu}) {
        INFO("activation " << static_cast<int>(act));
        dsv2::cpu::matrix ref = g0;
        dsv2::gate_activation_inplace(dsv2::cpu{}, act, ref, up);
        auto dg = to_device(ctx.s(), g0);
        const auto du = to_device(ctx.s(), up);
        dsv2::gate_activation(dsv2::cuda{}, ctx.s(), act, dg.data(), du.data(), T * I);
        const std::vector<float> got = dsv2::download(ctx.s(), dg);
        const comparison c = compare(std::span<const float>(got), values_of(ref), [&](std::size_t i) {
            return 16.0 * FLT_EPSILON * (std::abs(double(ref.data()[i])) + std::abs(double(g0.data()[i]) * up.data()[i]));
        });
        INFO(c.report());
        CHECK(c.violations == 0);
    }
}
