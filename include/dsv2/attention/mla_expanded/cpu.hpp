// attention_impl<mla_expanded, cpu>: MLA computed in expanded form — K [k_nope | k_pe] and V
// materialised per head — cached (when a cache is given) in the expanded layout.
#pragma once

#include "dsv2/attention/attention_impl.hpp"
#include "dsv2/attention/mla/cpu.hpp"
#include "dsv2/attention/mla_expanded/policy.hpp"
#include "dsv2/cache/expanded_kv_cache.hpp"

namespace dsv2 {

/// h [B·S, H] (normed) -> [B·S, H]. With a layer cache, the new K/V rows are appended to it and the
/// queries attend over all P+S slots.
inline cpu::matrix mla_forward_expanded(cpu tag, const mla_weights<host_storage>& w, const mla_dims& dm,
                               const rope_table& rope, const cpu::matrix& h, const attention_batch& ab,
                               expanded_kv_cache::layer_cache* cache, tensor<float>* probs) {
    const mla_projections p = mla_project(tag, w, dm, rope, h, ab);
    cpu::matrix k, v;  // [B·S, n_h·d_qk], [B·S, n_h·d_v]
    mla_expand_kv(tag, w, dm, p, k, v);
    const std::int64_t S = ab.new_tokens;
    cpu::matrix attn;
    if (cache) {
        cache->keys.append(k, S);
        cache->values.append(v, S);
        mla_attend_expanded(
            tag, dm, p.q, [&](std::int64_t b) { return cache->keys.rows(b); },
            [&](std::int64_t b) { return cache->values.rows(b); }, ab, attn, probs);
    } else {
        mla_attend_expanded(
            tag, dm, p.q, [&](std::int64_t b) { return k.middleRows(b * S, S); },
            [&](std::int64_t b) { return v.middleRows(b * S, S); }, ab, attn, probs);
    }
    return linear_forward(tag, attn, w.o_proj);
}

/// The hook: mla_expanded on the CPU caches per-head keys and values (expanded_kv_cache).
template <>
struct attention_impl<mla_expanded, cpu> {
    using cache = expanded_kv_cache;

    template <class Pass, class Plan>
    static cpu::matrix forward(const Pass& pass, const mla_weights<host_storage>& w, const Plan& plan,
                               cache::layer_cache* layer, tensor<float>* probs, const cpu::matrix& h) {
        return mla_forward_expanded(cpu{}, w, plan.attention, plan.rope, h, pass.batch.view(), layer, probs);
    }
};

}  // namespace dsv2
