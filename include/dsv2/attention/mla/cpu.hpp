// Multi-head Latent Attention on the CPU: the parts both policies share (projections, expanded attention).
//
//   q      = h·W_Qᵀ                      or  rmsnorm(h·W_DQᵀ)·W_UQᵀ          [T, n_h·d_qk]
//   ckv    = h·W_DKVᵀ                    = [c | k_pe]                          [T, d_c + d_rope]
//   c_n    = rmsnorm(c) (eps 1e-6)                                             [T, d_c]
//   kv     = c_n·W_UKVᵀ                  = per head [k_nope | v]               [T, n_h·(d_nope + d_v)]
//   RoPE on q_pe (each head) and on the one shared k_pe
//   O_h    = softmax(scale·[q_nope|q_pe]_h·[k_nope|k_pe]_hᵀ + mask)·v_h        [S, d_v]
//   out    = concat_h(O_h)·W_Oᵀ                                                [T, H]
// with T = B·S tokens laid out row b·S + s.
#pragma once

#include <optional>
#include <vector>

#include "dsv2/attention/mla/dims.hpp"
#include "dsv2/attention/rope.hpp"
#include "dsv2/backend/cpu/linear.hpp"
#include "dsv2/backend/cpu/masked_softmax.hpp"
#include "dsv2/backend/cpu/rmsnorm.hpp"
#include "dsv2/backend/cpu/storage.hpp"
#include "dsv2/core/attention_batch.hpp"
#include "dsv2/core/tensor.hpp"
#include "dsv2/weights/mla.hpp"

namespace dsv2 {

/// The projections of the S new tokens that both MLA forms share.
struct mla_projections {
    cpu::matrix q;     // [T, n_h·d_qk], q_pe already rotated
    cpu::matrix c_n;   // [T, d_c]   normed latent
    cpu::matrix k_pe;  // [T, d_rope] rotated, shared by all heads
};

inline mla_projections mla_project(cpu tag, const mla_weights<host_storage>& w, const mla_dims& dm, const rope_table& rope,
                                   const cpu::matrix& h, const attention_batch& ab) {
    mla_projections p;
    if (w.q_proj) {
        linear_forward(tag, h, *w.q_proj, p.q);
    } else {
        cpu::matrix cq = linear_forward(tag, h, *w.q_a_proj);  // [T, d_cq]
        rmsnorm_inplace(tag, cq, w.q_a_layernorm, 1e-6);
        linear_forward(tag, cq, *w.q_b_proj, p.q);
    }
    const cpu::matrix ckv = linear_forward(tag, h, w.kv_a_proj_with_mqa);  // [T, d_c + d_rope]
    p.c_n = ckv.leftCols(dm.d_c);
    rmsnorm_inplace(tag, p.c_n, w.kv_a_layernorm, 1e-6);
    p.k_pe = ckv.rightCols(dm.d_rope);

    const auto pairs = static_cast<std::size_t>(dm.d_rope / 2);
    std::vector<float> cos_v(pairs), sin_v(pairs);
    for (std::int64_t t = 0; t < ab.batch * ab.new_tokens; ++t) {
        rope.cos_sin(ab.position_ids[t], cos_v.data(), sin_v.data());
        float* qrow = p.q.row(t).data();
        for (std::int64_t hd = 0; hd < dm.heads; ++hd)
            rope_table::rotate(qrow + hd * dm.d_qk() + dm.d_nope, cos_v.data(), sin_v.data(), pairs);
        rope_table::rotate(p.k_pe.row(t).data(), cos_v.data(), sin_v.data(), pairs);
    }
    return p;
}

/// Expanded keys and values of the new tokens: K [T, n_h·d_qk] (per head [k_nope | k_pe]) and
/// V [T, n_h·d_v] — the rows an expanded cache stores.
inline void mla_expand_kv(cpu tag, const mla_weights<host_storage>& w, const mla_dims& dm, const mla_projections& p,
                          cpu::matrix& k, cpu::matrix& v) {
    const cpu::matrix kv = linear_forward(tag, p.c_n, w.kv_b_proj);  // [T, n_h·(d_nope + d_v)]
    const Eigen::Index T = kv.rows();
    k.resize(T, dm.heads * dm.d_qk());
    v.resize(T, dm.heads * dm.d_v);
    for (std::int64_t hd = 0; hd < dm.heads; ++hd) {
        k.middleCols(hd * dm.d_qk(), dm.d_nope) = kv.middleCols(hd * dm.d_kv(), dm.d_nope);
        k.middleCols(hd * dm.d_qk() + dm.d_nope, dm.d_rope) = p.k_pe;
        v.middleCols(hd * dm.d_v, dm.d_v) = kv.middleCols(hd * dm.d_kv() + dm.d_nope, dm.d_v);
    }
}

/// Attention of the new queries over expanded keys/values of all P+S slots.
/// q [B·S, n_h·d_qk]; keys(b) / values(b) give row b's K [P+S, n_h·d_qk] and V [P+S, n_h·d_v];
/// out [B·S, n_h·d_v]; probs, when given, receives [B, n_h, S, P+S].
template <class KeysOf, class ValuesOf>
void mla_attend_expanded(cpu, const mla_dims& dm, const cpu::matrix& q, KeysOf&& keys, ValuesOf&& values,
                         const attention_batch& ab, cpu::matrix& out, tensor<float>* probs) {
    const std::int64_t S = ab.new_tokens, total = ab.total();
    out.setZero(ab.batch * S, dm.heads * dm.d_v);
    cpu::matrix scores(S, total);
    for (std::int64_t b = 0; b < ab.batch; ++b) {
        const auto& K = keys(b);    // [P+S, n_h·d_qk]
        const auto& V = values(b);  // [P+S, n_h·d_v]
        for (std::int64_t hd = 0; hd < dm.heads; ++hd) {
            scores.noalias() = q.block(b * S, hd * dm.d_qk(), S, dm.d_qk()) *
                               K.middleCols(hd * dm.d_qk(), dm.d_qk()).transpose();
            scores *= dm.scale;
            masked_softmax_rows(cpu{}, scores, ab, b);
            out.block(b * S, hd * dm.d_v, S, dm.d_v).noalias() = scores * V.middleCols(hd * dm.d_v, dm.d_v);
            if (probs) {
                float* dst = probs->data() + ((b * dm.heads + hd) * S) * total;
                Eigen::Map<cpu::matrix>(dst, S, total) = scores;
            }
        }
    }
}

}  // namespace dsv2
