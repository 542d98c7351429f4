#if !defined(__CUDACC__)
#error "dsv2/attention/mla_absorbed/cuda.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// attention_impl<mla_absorbed, cuda>: MLA over the latent cache on the device (the steps of
// attention/mla_absorbed/cpu.hpp, where the math is written): the new latents are appended, then
// absorbed attention when fewer than mla_absorbed::expanded_from_new_tokens tokens are new,
// expanded attention over the whole context otherwise. Without a cache: the expanded form.
#pragma once

#include <string>

#include "dsv2/attention/attention_impl.hpp"
#include "dsv2/attention/mla/cuda.cuh"
#include "dsv2/attention/mla_absorbed/policy.hpp"
#include "dsv2/cache/cuda_kv_caches.cuh"

namespace dsv2 {

/// h [B·S, H] (normed) -> [B·S, H] over the latent cache (see the top of this file).
template <cuda_weight_type W>
device_buffer<float> mla_forward_latent(const cuda_forward_pass& pass, const mla_weights<cuda_storage<W>>& w,
                                        const mla_dims& dm, const rope_table& rope_freq, const device_buffer<float>& h,
                                        cuda_latent_kv_cache::layer_cache* cache, tensor<float>* probs,
                                        std::int64_t expanded_from) {
    const cuda_mla_projections p = mla_project(pass, w, dm, rope_freq, h);
    if (!cache) return detail::cuda_output_projection(pass, w, detail::cuda_attend_uncached(pass, w, dm, p, probs));

    const cudaStream_t s = pass.stream();
    const std::int64_t B = pass.batch.batch, S = pass.batch.new_tokens, P = pass.batch.past, T = pass.tokens();
    const std::int64_t cw = dm.d_c + dm.d_rope, width = dm.d_rope + dm.d_c;
    auto& rows = cache->latents;
    if (rows.length() != P || rows.batch() != B || rows.width() != width)
        throw cache_error("past_key_values: a layer holds " + std::to_string(rows.length()) +
                          " tokens but the forward expects " + std::to_string(P));
    device_buffer<float> latents(static_cast<std::size_t>(T * width), s);  // [T, d_rope + d_c] = [k_pe | c_n]
    copy_rows(cuda{}, s, static_cast<const float*>(p.ckv.data() + dm.d_c), cw, latents.data(), width, T, dm.d_rope);
    copy_rows(cuda{}, s, static_cast<const float*>(p.c_n.data()), dm.d_c, latents.data() + dm.d_rope, width, T, dm.d_c);
    rows.append(latents.data(), S);

    device_buffer<float> attn(static_cast<std::size_t>(T * dm.heads * dm.d_v), s);
    auto dprobs = detail::cuda_probs_buffer(pass, probs);
    if (S < expanded_from) {
        mla_attend_absorbed(cuda{}, pass.blas(), s, dm, w.kv_b_proj.weight.data(), p.q.data(), rows.data(),
                            rows.batch_stride(), pass.attention(), attn.data(), probs ? dprobs.data() : nullptr);
    } else {
        // expand every row's whole context: its P+S cached latents, compacted to [B·(P+S), width]
        const std::int64_t total = P + S;
        device_buffer<float> context(static_cast<std::size_t>(B * total * width), s);
        const std::size_t row_bytes = static_cast<std::size_t>(width) * sizeof(float);
        DSV2_CUDA_CHECK(cudaMemcpy2DAsync(context.data(), static_cast<std::size_t>(total) * row_bytes, rows.data(),
                                          static_cast<std::size_t>(rows.capacity()) * row_bytes,
                                          static_cast<std::size_t>(total) * row_bytes, static_cast<std::size_t>(B),
                                          cudaMemcpyDeviceToDevice, s));
        device_buffer<float> k, v;
        mla_expand_kv(pass, w.kv_b_proj, dm, context.data() + dm.d_rope, width, context.data(), width, B * total, k, v);
        mla_attend_expanded(cuda{}, s, dm, p.q.data(), k.data(), total * dm.heads * dm.d_qk(), v.data(),
                            total * dm.heads * dm.d_v, pass.attention(), attn.data(), probs ? dprobs.data() : nullptr);
    }
    detail::cuda_download_probs(pass, dprobs, probs);
    return detail::cuda_output_projection(pass, w, attn);
}

/// The hook: mla_absorbed on the device caches latents (cuda_latent_kv_cache).
template <>
struct attention_impl<mla_absorbed, cuda> {
    using cache = cuda_latent_kv_cache;

    template <class Plan, cuda_weight_type W>
    static device_buffer<float> forward(const cuda_forward_pass& pass, const mla_weights<cuda_storage<W>>& w,
                                        const Plan& plan, cache::layer_cache* layer, tensor<float>* probs,
                                        const device_buffer<float>& h) {
        return mla_forward_latent(pass, w, plan.attention, plan.rope, h, layer, probs,
                                  mla_absorbed::expanded_from_new_tokens);
    }
};

}  // namespace dsv2
