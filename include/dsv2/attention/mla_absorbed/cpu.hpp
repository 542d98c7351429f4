// attention_impl<mla_absorbed, cpu>: MLA over the latent cache by weight absorption.
//
// Per head h, with W_UK[h] = rows h·(d_nope+d_v) + [0, d_nope) of kv_b_proj ([d_nope, d_c]) and
// W_UV[h] the next d_v rows ([d_v, d_c]):
//   q̃_h   = q_nope,h · W_UK[h]                                    [S, d_c]
//   score  = scale · ([q_pe,h | q̃_h] · [k_pe | c_n]ᵀ)             one 576-wide MQA key per token
//   ō_h   = softmax(score + mask) · c_n                            [S, d_c]
//   o_h    = ō_h · W_UV[h]ᵀ                                        [S, d_v]
// which equals the expanded form up to fp32 reassociation. W_UK[h] and W_UV[h] are contiguous row
// blocks of kv_b_proj as loaded, so the "folds" need no copy. (Folding W_UK into q_proj as well
// would make a [n_h·d_c, H] matrix: 4× the bytes of q_proj's nope rows plus W_UK for V2-Lite, which
// decode would have to read every token — so it is not done.)
//
// Many new tokens (prefill) are cheaper in expanded form: then the cached latents of the row are
// expanded and attention runs as mla_expanded does, and the new latents are stored all the same.
//
// The cache may hold its rows in fp32 (latent_kv_cache) or bf16 (latent_kv_cache_bf16): the two
// products with the cached rows then widen bf16 in registers (the scores: matmul_nt's bf16
// kernels, the rows playing the weight) or in chunks of latent_chunk_tokens rows (the values).
#pragma once

#include "dsv2/attention/attention_impl.hpp"
#include "dsv2/attention/mla/cpu.hpp"
#include "dsv2/attention/mla_absorbed/policy.hpp"
#include "dsv2/cache/latent_kv_cache.hpp"

namespace dsv2 {

namespace detail::latent_rows {

/// Cached rows widened per chunk for the value product: 64 rows × 512 latents = 128 KiB (L2).
inline constexpr std::int64_t latent_chunk_tokens = 64;

/// Row b of the cache as fp32 [T, width]: the rows themselves, or widened into `scratch`.
inline Eigen::Map<const cpu::matrix> as_f32(const token_rows& r, std::int64_t b, cpu::matrix&) { return r.rows(b); }
inline Eigen::Map<const cpu::matrix> as_f32(const token_rows_bf16& r, std::int64_t b, cpu::matrix& scratch) {
    scratch.resize(r.length(), r.width());
    detail::widen_bf16(reinterpret_cast<const std::uint16_t*>(r.data(b)), scratch.data(), r.length() * r.width());
    return Eigen::Map<const cpu::matrix>(scratch.data(), r.length(), r.width());
}

/// scores [M, T] = qcat [M, width] · rows(b)ᵀ.
inline void scores(const cpu::matrix& qcat, const token_rows& r, std::int64_t b, cpu::matrix& out) {
    out.noalias() = qcat * r.rows(b).transpose();
}
inline void scores(const cpu::matrix& qcat, const token_rows_bf16& r, std::int64_t b, cpu::matrix& out) {
    matmul_nt(cpu{}, qcat, cpu_weight::bf16_view(r.length(), r.width(), r.data(b), nullptr), out);
}

/// out [M, d_c] = p [M, T] · rows(b)[:, from:]  (the latent part of each cached row).
inline void values(const cpu::matrix& p, const token_rows& r, std::int64_t b, std::int64_t from, cpu::matrix& out) {
    out.noalias() = p * r.rows(b).rightCols(r.width() - from);
}
inline void values(const cpu::matrix& p, const token_rows_bf16& r, std::int64_t b, std::int64_t from, cpu::matrix& out) {
    const std::int64_t T = r.length(), W = r.width(), dc = W - from;
    out.setZero(p.rows(), dc);
    thread_local cpu::matrix chunk;
    const auto* rows = reinterpret_cast<const std::uint16_t*>(r.data(b));
    for (std::int64_t t0 = 0; t0 < T; t0 += latent_chunk_tokens) {
        const std::int64_t n = std::min(latent_chunk_tokens, T - t0);
        chunk.resize(n, dc);
        for (std::int64_t t = 0; t < n; ++t) detail::widen_bf16(rows + (t0 + t) * W + from, chunk.data() + t * dc, dc);
        out.noalias() += p.middleCols(t0, n) * chunk;
    }
}

}  // namespace detail::latent_rows

/// Absorbed attention of the S new queries of every row over the cached latents [P+S, d_rope + d_c].
template <class LayerCache>
void mla_attend_absorbed(cpu, const mla_weights<host_storage>& w, const mla_dims& dm, const cpu::matrix& q,
                         const LayerCache& cache, const attention_batch& ab, cpu::matrix& out, tensor<float>* probs) {
    const std::int64_t S = ab.new_tokens, T = ab.total(), nh = dm.heads;
    out.setZero(ab.batch * S, nh * dm.d_v);
    cpu::matrix qcat(nh * S, dm.d_rope + dm.d_c);  // row h·S + s: [q_pe | q̃] of query s, head h
    cpu::matrix scores(nh * S, T);
    cpu::matrix latent_out(nh * S, dm.d_c);
    for (std::int64_t b = 0; b < ab.batch; ++b) {
        for (std::int64_t hd = 0; hd < nh; ++hd) {
            const auto w_uk = w.kv_b_proj.weight.f32().middleRows(hd * dm.d_kv(), dm.d_nope);  // [d_nope, d_c]
            qcat.block(hd * S, 0, S, dm.d_rope) = q.block(b * S, hd * dm.d_qk() + dm.d_nope, S, dm.d_rope);
            qcat.block(hd * S, dm.d_rope, S, dm.d_c).noalias() = q.block(b * S, hd * dm.d_qk(), S, dm.d_nope) * w_uk;
        }
        detail::latent_rows::scores(qcat, cache.latents, b, scores);  // · [T, d_rope + d_c]ᵀ
        scores *= dm.scale;
        for (std::int64_t hd = 0; hd < nh; ++hd) masked_softmax_rows(cpu{}, scores.middleRows(hd * S, S), ab, b);
        detail::latent_rows::values(scores, cache.latents, b, dm.d_rope, latent_out);  // [n_h·S, d_c]
        for (std::int64_t hd = 0; hd < nh; ++hd) {
            const auto w_uv = w.kv_b_proj.weight.f32().middleRows(hd * dm.d_kv() + dm.d_nope, dm.d_v);  // [d_v, d_c]
            out.block(b * S, hd * dm.d_v, S, dm.d_v).noalias() = latent_out.middleRows(hd * S, S) * w_uv.transpose();
            if (probs) {
                float* dst = probs->data() + ((b * nh + hd) * S) * T;
                Eigen::Map<cpu::matrix>(dst, S, T) = scores.middleRows(hd * S, S);
            }
        }
    }
}

/// h [B·S, H] (normed) -> [B·S, H] over the latent cache: the new latents are appended, then
/// absorbed attention when fewer than `expanded_from` tokens are new, expanded attention otherwise.
/// Without a cache: the expanded form. LayerCache: a layer of latent_kv_cache or latent_kv_cache_bf16.
template <class LayerCache>
cpu::matrix mla_forward_latent(cpu tag, const mla_weights<host_storage>& w, const mla_dims& dm, const rope_table& rope,
                               const cpu::matrix& h, const attention_batch& ab, LayerCache* cache, tensor<float>* probs,
                               std::int64_t expanded_from) {
    const mla_projections p = mla_project(tag, w, dm, rope, h, ab);
    const std::int64_t S = ab.new_tokens;
    cpu::matrix attn;
    if (!cache) {
        cpu::matrix k, v;
        mla_expand_kv(tag, w, dm, p, k, v);
        mla_attend_expanded(
            tag, dm, p.q, [&](std::int64_t b) { return k.middleRows(b * S, S); },
            [&](std::int64_t b) { return v.middleRows(b * S, S); }, ab, attn, probs);
        return linear_forward(tag, attn, w.o_proj);
    }
    cpu::matrix latents(p.k_pe.rows(), dm.d_rope + dm.d_c);  // [B·S, d_rope + d_c]
    latents << p.k_pe, p.c_n;
    cache->latents.append(latents, S);
    if (S < expanded_from) {
        mla_attend_absorbed(tag, w, dm, p.q, *cache, ab, attn, probs);
    } else {
        // expand the row's whole context: K/V of P+S slots from the cached latents
        std::vector<cpu::matrix> keys(static_cast<std::size_t>(ab.batch)), values(keys.size());
        cpu::matrix widened;
        for (std::int64_t b = 0; b < ab.batch; ++b) {
            const auto rows = detail::latent_rows::as_f32(cache->latents, b, widened);
            mla_projections ctx;
            ctx.k_pe = rows.leftCols(dm.d_rope);
            ctx.c_n = rows.rightCols(dm.d_c);
            mla_expand_kv(tag, w, dm, ctx, keys[static_cast<std::size_t>(b)], values[static_cast<std::size_t>(b)]);
        }
        mla_attend_expanded(
            tag, dm, p.q, [&](std::int64_t b) -> const cpu::matrix& { return keys[static_cast<std::size_t>(b)]; },
            [&](std::int64_t b) -> const cpu::matrix& { return values[static_cast<std::size_t>(b)]; }, ab, attn, probs);
    }
    return linear_forward(tag, attn, w.o_proj);
}

/// The hook: mla_absorbed on the CPU caches latents (latent_kv_cache), or latents rounded to bf16
/// when a spec names latent_kv_cache_bf16.
template <>
struct attention_impl<mla_absorbed, cpu> {
    using cache = latent_kv_cache;
    template <class Cache>
    static constexpr bool accepts_cache = std::same_as<Cache, latent_kv_cache> || std::same_as<Cache, latent_kv_cache_bf16>;

    template <class Pass, class Plan, class LayerCache>
    static cpu::matrix forward(const Pass& pass, const mla_weights<host_storage>& w, const Plan& plan,
                               LayerCache* layer, tensor<float>* probs, const cpu::matrix& h) {
        return mla_forward_latent(cpu{}, w, plan.attention, plan.rope, h, pass.batch.view(), layer, probs,
                                  mla_absorbed::expanded_from_new_tokens);
    }
};

}  // namespace dsv2
