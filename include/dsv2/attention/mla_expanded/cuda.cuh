#if !defined(__CUDACC__)
#error "dsv2/attention/mla_expanded/cuda.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// attention_impl<mla_expanded, cuda>: MLA in expanded form on the device (the steps of
// attention/mla_expanded/cpu.hpp), cached in the expanded layout on the device
// (cuda_expanded_kv_cache).
#pragma once

#include <string>

#include "dsv2/attention/attention_impl.hpp"
#include "dsv2/attention/mla/cuda.cuh"
#include "dsv2/attention/mla_expanded/policy.hpp"
#include "dsv2/cache/cuda_kv_caches.cuh"

namespace dsv2 {

/// h [B·S, H] (normed) -> [B·S, H]; with a layer cache the new K/V rows are appended and the
/// queries attend over all P+S slots.
template <cuda_weight_type W>
device_buffer<float> mla_forward_expanded(const cuda_forward_pass& pass, const mla_weights<cuda_storage<W>>& w,
                                          const mla_dims& dm, const rope_table& rope_freq, const device_buffer<float>& h,
                                          cuda_expanded_kv_cache::layer_cache* cache, tensor<float>* probs) {
    const cuda_mla_projections p = mla_project(pass, w, dm, rope_freq, h);
    if (!cache) return detail::cuda_output_projection(pass, w, detail::cuda_attend_uncached(pass, w, dm, p, probs));

    const std::int64_t T = pass.tokens(), S = pass.batch.new_tokens, cw = dm.d_c + dm.d_rope;
    if (cache->keys.length() != pass.batch.past || cache->keys.batch() != pass.batch.batch)
        throw cache_error("past_key_values: a layer holds " + std::to_string(cache->keys.length()) +
                          " tokens but the forward expects " + std::to_string(pass.batch.past));
    device_buffer<float> k, v;
    mla_expand_kv(pass, w.kv_b_proj, dm, p.c_n.data(), dm.d_c, p.ckv.data() + dm.d_c, cw, T, k, v);
    cache->keys.append(k.data(), S);
    cache->values.append(v.data(), S);
    device_buffer<float> attn(static_cast<std::size_t>(T * dm.heads * dm.d_v), pass.stream());
    auto dprobs = detail::cuda_probs_buffer(pass, probs);
    mla_attend_expanded(cuda{}, pass.stream(), dm, p.q.data(), cache->keys.data(), cache->keys.batch_stride(),
                        cache->values.data(), cache->values.batch_stride(), pass.attention(), attn.data(),
                        probs ? dprobs.data() : nullptr);
    detail::cuda_download_probs(pass, dprobs, probs);
    return detail::cuda_output_projection(pass, w, attn);
}

/// The hook: mla_expanded on the device caches per-head keys and values (cuda_expanded_kv_cache).
template <>
struct attention_impl<mla_expanded, cuda> {
    using cache = cuda_expanded_kv_cache;

    template <class Plan, cuda_weight_type W>
    static device_buffer<float> forward(const cuda_forward_pass& pass, const mla_weights<cuda_storage<W>>& w,
                                        const Plan& plan, cache::layer_cache* layer, tensor<float>* probs,
                                        const device_buffer<float>& h) {
        return mla_forward_expanded(pass, w, plan.attention, plan.rope, h, layer, probs);
    }
};

}  // namespace dsv2
