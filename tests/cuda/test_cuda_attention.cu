// Expanded and absorbed MLA attention against the CPU's mla_attend_expanded / mla_attend_absorbed,
// with padding masks, fully masked (left-pad) queries, cached slots, and forced key splits.
//
// Bound, per query row (first order in u = 2^-24, ε = 2u), over its visible keys j:
//   score:    |δs_j| ≤ e_j = scale·2γ_dk·Σ_d |q_d·k_jd|  (+ the error of q̃ in the absorbed form:
//             scale·Σ_c |δq̃_c|·|c_jc| with |δq̃_c| ≤ 3γ_dnope·Σ_n |q_n·W_UK[n,c]|: cuBLAS products
//             get 3γ as in test_cuda_gemm.cu)
//   softmax:  |δp_j| ≤ c·p_j with c = 2·max_j e_j + (4T + 32)·ε + 4·range·ε, where the (4T + 32)·ε
//             covers expf (≤ 2 ulp on the device, ≤ 1 ulp on the host), the online rescaling
//             chain (≤ T/4 rescales per warp), the sums of T terms on both sides and the final
//             products; range = max s − min s covers the rounding of s − max inside expf.
//   output:   |δo_d| ≤ c·Σ_j p_j·|v_jd| (+ 3γ_dc·Σ_c |ō_c·W_UV[v,c]| + Σ_c |δō_c|·|W_UV[v,c]| for
//             the absorbed form's last product).
// Rows without a visible key must give exactly zero outputs and probabilities.
// Frobenius: ‖δo‖/‖o‖ ≤ 32·FLT_EPSILON·√(dk + T) in addition (random-sign reductions).
#include "cuda_test_support.cuh"

using namespace dsv2_cuda_test;

namespace {

struct batch_setup {
    std::int64_t B, S, P;
    std::vector<std::int64_t> mask;  // [B, P + S]
    std::int64_t T() const { return P + S; }
    bool visible(std::int64_t b, std::int64_t i, std::int64_t j) const {
        return j <= P + i && mask[static_cast<std::size_t>(b * T() + j)] != 0;
    }
};

/// Row 0 has a hole at slot 1 (when it exists), row 1 is left-padded by `pad1`, row 2 by `pad2`.
batch_setup make_batch(std::int64_t B, std::int64_t S, std::int64_t P, std::int64_t pad1, std::int64_t pad2) {
    batch_setup bs{B, S, P, std::vector<std::int64_t>(static_cast<std::size_t>(B * (P + S)), 1)};
    const std::int64_t T = P + S;
    if (T > 2) bs.mask[1] = 0;
    for (std::int64_t b = 1; b < B; ++b)
        for (std::int64_t j = 0; j < (b == 1 ? pad1 : pad2) && j < T; ++j) bs.mask[static_cast<std::size_t>(b * T + j)] = 0;
    return bs;
}

double dot_abs(const float* a, const float* b, std::int64_t n) {
    double s = 0;
    for (std::int64_t d = 0; d < n; ++d) s += std::abs(double(a[d]) * b[d]);
    return s;
}
double dot(const float* a, const float* b, std::int64_t n) {
    double s = 0;
    for (std::int64_t d = 0; d < n; ++d) s += double(a[d]) * b[d];
    return s;
}

/// The softmax coefficient c of one query row from its score bounds e_j and scores s_j (visible j).
double softmax_coefficient(const std::vector<double>& e, const std::vector<double>& s, std::int64_t T) {
    double max_e = 0, lo = INFINITY, hi = -INFINITY;
    for (std::size_t j = 0; j < e.size(); ++j) {
        max_e = std::max(max_e, e[j]);
        lo = std::min(lo, s[j]);
        hi = std::max(hi, s[j]);
    }
    const double range = e.empty() ? 0.0 : hi - lo;
    return 2.0 * max_e + (4.0 * double(T) + 32.0) * FLT_EPSILON + 4.0 * range * FLT_EPSILON;
}

void check_probs(const std::vector<float>& got, const dsv2::tensor<float>& ref, const std::vector<double>& bound) {
    const comparison c = compare(std::span<const float>(got), ref.values(), [&](std::size_t i) { return bound[i]; });
    INFO("probabilities: " << c.report());
    CHECK(c.violations == 0);
}

}  // namespace

TEST_CASE("mla_attend_expanded(cuda) equals the CPU's: masks, cache slots, key splits", "[cuda][attention]") {
    struct scenario {
        const char* name;
        std::int64_t B, S, P, nh, dn, dr, dv, pad1, pad2;
    };
    const scenario scenarios[] = {
        {"small, padded, fully masked queries", 3, 4, 5, 3, 16, 8, 12, 3, 7},
        {"decode over 700 cached slots", 2, 1, 700, 16, 128, 64, 128, 100, 0},
        {"prefill of 40 tokens", 1, 40, 0, 16, 128, 64, 128, 0, 0},
    };
    device_context ctx;
    std::mt19937 rng(30);
    for (const scenario& sc : scenarios) {
        const batch_setup bs = make_batch(sc.B, sc.S, sc.P, sc.pad1, sc.pad2);
        const std::int64_t T = bs.T(), dqk = sc.dn + sc.dr, nh = sc.nh, B = sc.B, S = sc.S;
        const float scale = static_cast<float>(1.0 / std::sqrt(double(dqk)) * 1.26);
        dsv2::mla_dims dm{.hidden = 0, .heads = nh, .d_nope = sc.dn, .d_rope = sc.dr, .d_v = sc.dv, .d_c = 0, .d_cq = std::nullopt, .scale = scale};

        const dsv2::cpu::matrix q = random_matrix(B * S, nh * dqk, rng);
        std::vector<dsv2::cpu::matrix> K, V;
        for (std::int64_t b = 0; b < B; ++b) {
            K.push_back(random_matrix(T, nh * dqk, rng));
            V.push_back(random_matrix(T, nh * sc.dv, rng));
        }
        dsv2::attention_batch ab{.batch = B, .new_tokens = S, .past = sc.P, .position_ids = nullptr, .key_mask = bs.mask.data()};
        dsv2::cpu::matrix ref;
        dsv2::tensor<float> ref_probs({B, nh, S, T});
        dsv2::mla_attend_expanded(
            dsv2::cpu{}, dm, q, [&](std::int64_t b) -> const dsv2::cpu::matrix& { return K[static_cast<std::size_t>(b)]; },
            [&](std::int64_t b) -> const dsv2::cpu::matrix& { return V[static_cast<std::size_t>(b)]; }, ab, ref, &ref_probs);

        // bounds from the formulas at the top
        std::vector<double> out_bound(static_cast<std::size_t>(B * S * nh * sc.dv)), p_bound(ref_probs.values().size());
        std::vector<bool> empty_row(static_cast<std::size_t>(B * S * nh), false);
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t i = 0; i < S; ++i)
                for (std::int64_t h = 0; h < nh; ++h) {
                    const float* qr = q.row(b * S + i).data() + h * dqk;
                    std::vector<double> e, s;
                    for (std::int64_t j = 0; j < T; ++j)
                        if (bs.visible(b, i, j)) {
                            const float* kr = K[static_cast<std::size_t>(b)].row(j).data() + h * dqk;
                            e.push_back(scale * (2.0 * gamma_n(double(dqk)) * dot_abs(qr, kr, dqk)) +
                                        2.0 * u32 * std::abs(scale * dot(qr, kr, dqk)));
                            s.push_back(scale * dot(qr, kr, dqk));
                        }
                    empty_row[static_cast<std::size_t>((b * S + i) * nh + h)] = e.empty();
                    const double c = softmax_coefficient(e, s, T);
                    const std::size_t prow = static_cast<std::size_t>(((b * nh + h) * S + i) * T);
                    for (std::int64_t d = 0; d < sc.dv; ++d) {
                        double acc = 0;
                        for (std::int64_t j = 0; j < T; ++j)
                            acc += ref_probs.values()[prow + static_cast<std::size_t>(j)] *
                                   std::abs(double(V[static_cast<std::size_t>(b)](j, h * sc.dv + d)));
                        out_bound[static_cast<std::size_t>((b * S + i) * nh * sc.dv + h * sc.dv + d)] = c * acc;
                    }
                    for (std::int64_t j = 0; j < T; ++j)
                        p_bound[prow + static_cast<std::size_t>(j)] = c * ref_probs.values()[prow + static_cast<std::size_t>(j)];
                }

        // device: K/V in cache-like storage with spare capacity (batch stride > T rows)
        const std::int64_t cap = T + 3;
        std::vector<float> hk(static_cast<std::size_t>(B * cap * nh * dqk), 0.0f), hv(static_cast<std::size_t>(B * cap * nh * sc.dv), 0.0f);
        for (std::int64_t b = 0; b < B; ++b) {
            std::copy_n(K[static_cast<std::size_t>(b)].data(), T * nh * dqk, hk.begin() + b * cap * nh * dqk);
            std::copy_n(V[static_cast<std::size_t>(b)].data(), T * nh * sc.dv, hv.begin() + b * cap * nh * sc.dv);
        }
        const auto dq = to_device(ctx.s(), q);
        const auto dk = dsv2::upload(ctx.s(), hk);
        const auto dv = dsv2::upload(ctx.s(), hv);
        const auto dmask = dsv2::upload(ctx.s(), bs.mask);
        const dsv2::cuda_attention_batch cab{B, S, sc.P, dmask.data()};
        dsv2::device_buffer<float> dout(static_cast<std::size_t>(B * S * nh * sc.dv), ctx.s());
        dsv2::device_buffer<float> dprobs(ref_probs.values().size(), ctx.s());

        for (const int splits : {1, 2, 3, 7, 0}) {
            INFO(sc.name << ", splits " << splits);
            dprobs.zero();
            dsv2::mla_attend_expanded(dsv2::cuda{}, ctx.s(), dm, dq.data(), dk.data(), cap * nh * dqk, dv.data(),
                                      cap * nh * sc.dv, cab, dout.data(), dprobs.data(), splits);
            const std::vector<float> got = dsv2::download(ctx.s(), dout);
            const comparison c = compare_to_bounds(got, std::vector<float>(ref.data(), ref.data() + ref.size()), out_bound);
            INFO(c.report());
            CHECK(c.violations == 0);
            CHECK(c.rel_frobenius <= frobenius_bound(double(dqk + T)));
            check_probs(dsv2::download(ctx.s(), dprobs), ref_probs, p_bound);
            std::size_t nonzero_in_empty_rows = 0, empty_rows = 0;
            for (std::size_t r = 0; r < empty_row.size(); ++r) {
                if (!empty_row[r]) continue;
                ++empty_rows;
                for (std::int64_t d = 0; d < sc.dv; ++d) nonzero_in_empty_rows += got[r * sc.dv + static_cast<std::size_t>(d)] != 0.0f;
            }
            INFO("fully masked query rows: " << empty_rows);
            CHECK(nonzero_in_empty_rows == 0);
            // without probabilities: the same outputs
            dsv2::mla_attend_expanded(dsv2::cuda{}, ctx.s(), dm, dq.data(), dk.data(), cap * nh * dqk, dv.data(),
                                      cap * nh * sc.dv, cab, dout.data(), nullptr, splits);
            CHECK(dsv2::download(ctx.s(), dout) == got);
        }
    }
}

TEST_CASE("mla_attend_absorbed(cuda) equals the CPU's over latent rows [k_pe | c_n]", "[cuda][attention]") {
    struct scenario {
        const char* name;
        std::int64_t B, S, P, nh, pad1;
    };
    const scenario scenarios[] = {
        {"decode over 300 cached latents", 2, 1, 300, 4, 37},
        {"3 new tokens, fully masked queries", 2, 3, 20, 4, 22},
    };
    const std::int64_t dn = 128, dr = 64, dv = 128, dc = 512, width = dr + dc, dqk = dn + dr, dkv = dn + dv;
    device_context ctx;
    std::mt19937 rng(31);
    for (const scenario& sc : scenarios) {
        const batch_setup bs = make_batch(sc.B, sc.S, sc.P, sc.pad1, 0);
        const std::int64_t T = bs.T(), nh = sc.nh, B = sc.B, S = sc.S;
        const float scale = 0.1147213867929261f;  // DeepSeek-V2's yarn-corrected scale
        dsv2::mla_dims dm{.hidden = 0, .heads = nh, .d_nope = dn, .d_rope = dr, .d_v = dv, .d_c = dc, .d_cq = std::nullopt, .scale = scale};

        dsv2::mla_weights<dsv2::host_storage> w;
        w.kv_b_proj.weight = random_weight(nh * dkv, dc, rng, 1.0f / std::sqrt(float(dc)), false);
        const dsv2::cpu::matrix q = random_matrix(B * S, nh * dqk, rng);
        const dsv2::cpu::matrix lat = random_matrix(B * T, width, rng);  // row b·T + t
        dsv2::latent_kv_cache::layer_cache cache{dsv2::token_rows(B, width)};
        cache.latents.append(lat, T);
        dsv2::attention_batch ab{.batch = B, .new_tokens = S, .past = sc.P, .position_ids = nullptr, .key_mask = bs.mask.data()};
        dsv2::cpu::matrix ref;
        dsv2::tensor<float> ref_probs({B, nh, S, T});
        dsv2::mla_attend_absorbed(dsv2::cpu{}, w, dm, q, cache, ab, ref, &ref_probs);

        // bounds: q̃ and ō in double, then the propagation described at the top
        const auto W = w.kv_b_proj.weight.f32();
        std::vector<double> out_bound(static_cast<std::size_t>(B * S * nh * dv)), p_bound(ref_probs.values().size());
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t i = 0; i < S; ++i)
                for (std::int64_t h = 0; h < nh; ++h) {
                    const float* qn = q.row(b * S + i).data() + h * dqk;
                    std::vector<double> qcat(static_cast<std::size_t>(width)), dqt(static_cast<std::size_t>(dc));
                    for (std::int64_t r = 0; r < dr; ++r) qcat[static_cast<std::size_t>(r)] = qn[dn + r];
                    for (std::int64_t c = 0; c < dc; ++c) {
                        double v = 0, a = 0;
                        for (std::int64_t n = 0; n < dn; ++n) {
                            v += double(qn[n]) * W(h * dkv + n, c);
                            a += std::abs(double(qn[n]) * W(h * dkv + n, c));
                        }
                        qcat[static_cast<std::size_t>(dr + c)] = v;
                        dqt[static_cast<std::size_t>(c)] = 3.0 * gamma_n(double(dn)) * a;
                    }
                    std::vector<double> e, s;
                    for (std::int64_t j = 0; j < T; ++j)
                        if (bs.visible(b, i, j)) {
                            const float* row = lat.row(b * T + j).data();
                            double sd = 0, sa = 0, sq = 0;
                            for (std::int64_t d = 0; d < width; ++d) {
                                sd += qcat[static_cast<std::size_t>(d)] * row[d];
                                sa += std::abs(qcat[static_cast<std::size_t>(d)] * row[d]);
                            }
                            for (std::int64_t c = 0; c < dc; ++c) sq += dqt[static_cast<std::size_t>(c)] * std::abs(double(row[dr + c]));
                            e.push_back(scale * (2.0 * gamma_n(double(width)) * sa + sq) + 2.0 * u32 * std::abs(scale * sd));
                            s.push_back(scale * sd);
                        }
                    const double cf = softmax_coefficient(e, s, T);
                    const std::size_t prow = static_cast<std::size_t>(((b * nh + h) * S + i) * T);
                    std::vector<double> obar(static_cast<std::size_t>(dc), 0.0), dobar(static_cast<std::size_t>(dc), 0.0);
                    for (std::int64_t j = 0; j < T; ++j) {
                        const double p = ref_probs.values()[prow + static_cast<std::size_t>(j)];
                        p_bound[prow + static_cast<std::size_t>(j)] = cf * p;
                        for (std::int64_t c = 0; c < dc; ++c) {
                            const double cv = lat(b * T + j, dr + c);
                            obar[static_cast<std::size_t>(c)] += p * cv;
                            dobar[static_cast<std::size_t>(c)] += cf * p * std::abs(cv);
                        }
                    }
                    for (std::int64_t v = 0; v < dv; ++v) {
                        double bnd = 0;
                        for (std::int64_t c = 0; c < dc; ++c) {
                            const double wv = std::abs(double(W(h * dkv + dn + v, c)));
                            bnd += dobar[static_cast<std::size_t>(c)] * wv +
                                   3.0 * gamma_n(double(dc)) * std::abs(obar[static_cast<std::size_t>(c)]) * wv;
                        }
                        out_bound[static_cast<std::size_t>((b * S + i) * nh * dv + h * dv + v)] = bnd;
                    }
                }

        // device: latents with spare capacity per row
        const std::int64_t cap = T + 16;
        std::vector<float> hl(static_cast<std::size_t>(B * cap * width), 0.0f);
        for (std::int64_t b = 0; b < B; ++b) std::copy_n(lat.row(b * T).data(), T * width, hl.begin() + b * cap * width);
        const auto dlat = dsv2::upload(ctx.s(), hl);
        const auto dq = to_device(ctx.s(), q);
        const auto dw = dsv2::upload(ctx.s(), std::span<const float>(W.data(), static_cast<std::size_t>(W.size())));
        const auto dmask = dsv2::upload(ctx.s(), bs.mask);
        const dsv2::cuda_attention_batch cab{B, S, sc.P, dmask.data()};
        dsv2::device_buffer<float> dout(static_cast<std::size_t>(B * S * nh * dv), ctx.s());
        dsv2::device_buffer<float> dprobs(ref_probs.values().size(), ctx.s());
        for (const int splits : {1, 2, 6, 0}) {
            INFO(sc.name << ", splits " << splits);
            dsv2::mla_attend_absorbed(dsv2::cuda{}, ctx.blas, ctx.s(), dm, dw.data(), dq.data(), dlat.data(), cap * width, cab,
                                      dout.data(), dprobs.data(), splits);
            const std::vector<float> got = dsv2::download(ctx.s(), dout);
            const comparison c = compare_to_bounds(got, std::vector<float>(ref.data(), ref.data() + ref.size()), out_bound);
            INFO(c.report());
            CHECK(c.violations == 0);
            CHECK(c.rel_frobenius <= frobenius_bound(double(width + T + dc)));
            check_probs(dsv2::download(ctx.s(), dprobs), ref_probs, p_bound);
        }
    }
}
