#if !defined(__CUDACC__)
#error "dsv2/models/cuda/mla.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// Multi-head Latent Attention of a CUDA model: attention_block for the policies mla_expanded and
// mla_absorbed over the device caches — the same steps, in the same order, as
// attention/mla.hpp, mla_expanded.hpp and mla_absorbed.hpp (see there for the math):
//
//   q    [T, n_h·d_qk]      q_proj(h), or q_b_proj(rmsnorm(q_a_proj(h))); q_pe rotated
//   ckv  [T, d_c + d_rope]  kv_a_proj_with_mqa(h) = [c | k_pe]; k_pe rotated in place
//   c_n  [T, d_c]           rmsnorm(c), eps 1e-6
//   expanded:  K [T, n_h·d_qk] = per head [k_nope | k_pe], V [T, n_h·d_v] from kv_b_proj(c_n)
//   latent:    rows [T, d_rope + d_c] = [k_pe | c_n]
// with T = B·S tokens, row b·S + s.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "dsv2/attention/mla_absorbed.hpp"
#include "dsv2/attention/mla_expanded.hpp"
#include "dsv2/backend/cuda/attention.cuh"
#include "dsv2/backend/cuda/elementwise.cuh"
#include "dsv2/backend/cuda/gemm.cuh"
#include "dsv2/backend/cuda/linear.cuh"
#include "dsv2/backend/cuda/rmsnorm.cuh"
#include "dsv2/backend/cuda/rope.cuh"
#include "dsv2/models/cuda/forward_pass.cuh"
#include "dsv2/models/cuda/kv_cache.cuh"

namespace dsv2 {

namespace detail::cuda_kernels {

/// From kv [R, n_h·(d_nope + d_v)] (per head [k_nope | v]) and k_pe (row r at k_pe + r·k_pe_stride,
/// d_rope values): K [R, n_h·d_qk] (per head [k_nope | k_pe]) and V [R, n_h·d_v].
template <int = 0>
__global__ void mla_split_kv_kernel(const float* kv, const float* k_pe, std::int64_t k_pe_stride, std::int64_t rows,
                                    std::int64_t heads, std::int64_t d_nope, std::int64_t d_rope, std::int64_t d_v,
                                    float* k, float* v) {
    const std::int64_t d_qk = d_nope + d_rope, d_kv = d_nope + d_v, per_head = d_qk + d_v;
    const std::int64_t n = rows * heads * per_head;
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
        const std::int64_t r = i / (heads * per_head), rem = i % (heads * per_head);
        const std::int64_t h = rem / per_head, c = rem % per_head;
        const float* kv_head = kv + r * heads * d_kv + h * d_kv;
        if (c < d_nope)
            k[r * heads * d_qk + h * d_qk + c] = kv_head[c];
        else if (c < d_qk)
            k[r * heads * d_qk + h * d_qk + c] = k_pe[r * k_pe_stride + (c - d_nope)];
        else
            v[r * heads * d_v + h * d_v + (c - d_qk)] = kv_head[d_nope + (c - d_qk)];
    }
}

}  // namespace detail::cuda_kernels

/// The projections of the new tokens that both forms share.
struct cuda_mla_projections {
    device_buffer<float> q;    // [T, n_h·d_qk], q_pe rotated
    device_buffer<float> ckv;  // [T, d_c + d_rope] = [c | k_pe], k_pe rotated
    device_buffer<float> c_n;  // [T, d_c]
};

template <cuda_weight_type W>
cuda_mla_projections mla_project(const cuda_forward_pass& pass, const cuda_mla_weights<W>& w, const mla_dims& dm,
                                 const device_buffer<float>& h) {
    const cudaStream_t s = pass.stream();
    const std::int64_t T = pass.tokens(), qw = dm.heads * dm.d_qk(), cw = dm.d_c + dm.d_rope;
    detail::cuda_expect_size(h.size(), T * dm.hidden, "mla_project: h");
    cuda_mla_projections p{device_buffer<float>(static_cast<std::size_t>(T * qw), s),
                           device_buffer<float>(static_cast<std::size_t>(T * cw), s),
                           device_buffer<float>(static_cast<std::size_t>(T * dm.d_c), s)};
    if (w.q_proj) {
        linear(cuda{}, pass.blas(), s, h.data(), *w.q_proj, p.q.data(), T);
    } else {
        if (!w.q_a_proj || !w.q_b_proj) throw checkpoint_error("self_attn.q_a_proj", "missing (q_lora_rank is set)");
        device_buffer<float> cq(static_cast<std::size_t>(T * w.q_a_proj->out), s);  // [T, d_cq]
        linear(cuda{}, pass.blas(), s, h.data(), *w.q_a_proj, cq.data(), T);
        rmsnorm(cuda{}, s, cq.data(), w.q_a_layernorm.data(), cq.data(), T, w.q_a_proj->out, 1e-6);
        linear(cuda{}, pass.blas(), s, cq.data(), *w.q_b_proj, p.q.data(), T);
    }
    linear(cuda{}, pass.blas(), s, h.data(), w.kv_a_proj_with_mqa, p.ckv.data(), T);
    rmsnorm(cuda{}, s, p.ckv.data(), w.kv_a_layernorm.data(), p.c_n.data(), T, dm.d_c, 1e-6, cw, dm.d_c);
    rope(cuda{}, s, *pass.rope, p.q.data(), T, qw, dm.heads, dm.d_qk(), dm.d_nope, pass.positions.data());
    rope(cuda{}, s, *pass.rope, p.ckv.data(), T, cw, 1, cw, dm.d_c, pass.positions.data());
    return p;
}

/// Expanded K [R, n_h·d_qk] and V [R, n_h·d_v] of R latent rows: c_n at c_n + r·c_n_stride (d_c)
/// and k_pe at k_pe + r·k_pe_stride (d_rope), through the fp32 kv_b_proj.
inline void mla_expand_kv(const cuda_forward_pass& pass, const cuda_linear<float>& kv_b_proj, const mla_dims& dm,
                          const float* c_n, std::int64_t c_n_stride, const float* k_pe, std::int64_t k_pe_stride,
                          std::int64_t R, device_buffer<float>& k, device_buffer<float>& v) {
    const cudaStream_t s = pass.stream();
    if (kv_b_proj.in != dm.d_c || kv_b_proj.out != dm.heads * dm.d_kv())
        throw checkpoint_error("self_attn.kv_b_proj.weight", "has shape [" + std::to_string(kv_b_proj.out) + ", " +
                                                                 std::to_string(kv_b_proj.in) + "]");
    k = device_buffer<float>(static_cast<std::size_t>(R * dm.heads * dm.d_qk()), s);
    v = device_buffer<float>(static_cast<std::size_t>(R * dm.heads * dm.d_v), s);
    if (R <= 0) return;
    device_buffer<float> kv(static_cast<std::size_t>(R * kv_b_proj.out), s);  // [R, n_h·(d_nope + d_v)]
    gemm_nt(cuda{}, pass.blas(), s, c_n, kv_b_proj.weight.data(), kv.data(), R, dm.d_c, kv_b_proj.out, 0.0f, c_n_stride);
    if (kv_b_proj.has_bias()) add_bias_rows(cuda{}, s, kv.data(), kv_b_proj.bias.data(), R, kv_b_proj.out);
    const std::int64_t n = R * dm.heads * (dm.d_qk() + dm.d_v);
    detail::cuda_kernels::mla_split_kv_kernel<<<detail::cuda_launch::grid_for(n, 256), 256, 0, s>>>(
        kv.data(), k_pe, k_pe_stride, R, dm.heads, dm.d_nope, dm.d_rope, dm.d_v, k.data(), v.data());
    DSV2_CUDA_CHECK_LAUNCH();
}

namespace detail {

/// Device scratch for attention probabilities [B, n_h, S, P+S], downloaded into `probs` afterwards.
inline device_buffer<float> cuda_probs_buffer(const cuda_forward_pass& pass, const tensor<float>* probs) {
    if (!probs) return {};
    return device_buffer<float>(static_cast<std::size_t>(probs->numel()), pass.stream());
}

inline void cuda_download_probs(const cuda_forward_pass& pass, const device_buffer<float>& d, tensor<float>* probs) {
    if (!probs || d.empty()) return;
    const std::vector<float> host = download(pass.stream(), d);
    std::copy(host.begin(), host.end(), probs->data());
}

/// out [T, H] = o_proj(attn [T, n_h·d_v]).
template <cuda_weight_type W>
device_buffer<float> cuda_output_projection(const cuda_forward_pass& pass, const cuda_mla_weights<W>& w,
                                            const device_buffer<float>& attn) {
    device_buffer<float> out(static_cast<std::size_t>(pass.tokens() * w.o_proj.out), pass.stream());
    linear(cuda{}, pass.blas(), pass.stream(), attn.data(), w.o_proj, out.data(), pass.tokens());
    return out;
}

/// Expanded attention of the new tokens over their own K/V (no cache).
template <cuda_weight_type W>
device_buffer<float> cuda_attend_uncached(const cuda_forward_pass& pass, const cuda_mla_weights<W>& w, const mla_dims& dm,
                                          const cuda_mla_projections& p, tensor<float>* probs) {
    const std::int64_t T = pass.tokens(), S = pass.batch.new_tokens, cw = dm.d_c + dm.d_rope;
    device_buffer<float> k, v;
    mla_expand_kv(pass, w.kv_b_proj, dm, p.c_n.data(), dm.d_c, p.ckv.data() + dm.d_c, cw, T, k, v);
    device_buffer<float> attn(static_cast<std::size_t>(T * dm.heads * dm.d_v), pass.stream());
    auto dprobs = cuda_probs_buffer(pass, probs);
    mla_attend_expanded(cuda{}, pass.stream(), dm, p.q.data(), k.data(), S * dm.heads * dm.d_qk(), v.data(),
                        S * dm.heads * dm.d_v, pass.attention(), attn.data(), probs ? dprobs.data() : nullptr);
    cuda_download_probs(pass, dprobs, probs);
    return attn;
}

}  // namespace detail

/// mla_expanded: h [B·S, H] (normed) -> [B·S, H]; with a layer cache the new K/V rows are
/// appended and the queries attend over all P+S slots.
template <cuda_weight_type W>
device_buffer<float> attention_block(const cuda_forward_pass& pass, mla_expanded, const cuda_mla_weights<W>& w,
                                     const decoder_plan& plan, cuda_expanded_kv_cache::layer_cache* cache,
                                     tensor<float>* probs, const device_buffer<float>& h) {
    const mla_dims& dm = plan.attention;
    const cuda_mla_projections p = mla_project(pass, w, dm, h);
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

/// mla_absorbed over the latent cache: the new latents are appended, then absorbed attention when
/// fewer than mla_absorbed::expanded_from_new_tokens tokens are new, expanded attention over the
/// whole context otherwise. Without a cache: the expanded form.
template <cuda_weight_type W>
device_buffer<float> attention_block(const cuda_forward_pass& pass, mla_absorbed, const cuda_mla_weights<W>& w,
                                     const decoder_plan& plan, cuda_latent_kv_cache::layer_cache* cache,
                                     tensor<float>* probs, const device_buffer<float>& h) {
    const mla_dims& dm = plan.attention;
    const cuda_mla_projections p = mla_project(pass, w, dm, h);
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
    if (S < mla_absorbed::expanded_from_new_tokens) {
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

}  // namespace dsv2
