#if !defined(__CUDACC__)
#error "dsv2/attention/mla/cuda.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// Multi-head Latent Attention on the device: the parts both policies share (attention/mla/cpu.hpp
// is the CPU's; the math is written there). The same steps, in the same order:
//
//   q    [T, n_h·d_qk]      q_proj(h), or q_b_proj(rmsnorm(q_a_proj(h))); q_pe rotated
//   ckv  [T, d_c + d_rope]  kv_a_proj_with_mqa(h) = [c | k_pe]; k_pe rotated in place
//   c_n  [T, d_c]           rmsnorm(c), eps 1e-6
//   expanded:  K [T, n_h·d_qk] = per head [k_nope | k_pe], V [T, n_h·d_v] from kv_b_proj(c_n)
//   latent:    rows [T, d_rope + d_c] = [k_pe | c_n]
// with T = B·S tokens, row b·S + s. The attention itself runs on the backend's strided attention
// kernel (backend/cuda/attention.cuh): per-head K/V for the expanded form, the shared latent row
// as K and V (head stride 0, MQA with one 576-wide key) for the absorbed form.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dsv2/attention/mla/dims.hpp"
#include "dsv2/attention/rope.hpp"
#include "dsv2/backend/cuda/attention.cuh"
#include "dsv2/backend/cuda/elementwise.cuh"
#include "dsv2/backend/cuda/gemm.cuh"
#include "dsv2/backend/cuda/linear.cuh"
#include "dsv2/backend/cuda/rmsnorm.cuh"
#include "dsv2/backend/cuda/rope.cuh"
#include "dsv2/backend/cuda/runtime.cuh"
#include "dsv2/backend/cuda/storage.cuh"
#include "dsv2/weights/mla.hpp"

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

/// Expanded MLA attention (the CUDA twin of mla_attend_expanded in attention/mla/cpu.hpp):
/// q [B·S, n_h·d_qk] (q_pe rotated); row b's keys k + b·k_batch_stride, [P+S, n_h·d_qk] (per head
/// [k_nope | k_pe]); values v + b·v_batch_stride, [P+S, n_h·d_v]; out [B·S, n_h·d_v]; probs, when
/// given, [B, n_h, S, P+S]. A cache with capacity C rows per batch row has batch stride C·width;
/// the new tokens' own K/V [B·S, width] have S·width.
inline void mla_attend_expanded(cuda tag, cudaStream_t s, const mla_dims& dm, const float* q, const float* k,
                                std::int64_t k_batch_stride, const float* v, std::int64_t v_batch_stride,
                                const cuda_attention_batch& ab, float* out, float* probs = nullptr, int splits = 0) {
    attention_args a;
    a.q = q;
    a.q_token_stride = dm.heads * dm.d_qk();
    a.q_head_stride = dm.d_qk();
    a.k = k;
    a.k_batch_stride = k_batch_stride;
    a.k_row_stride = dm.heads * dm.d_qk();
    a.k_head_stride = dm.d_qk();
    a.v = v;
    a.v_batch_stride = v_batch_stride;
    a.v_row_stride = dm.heads * dm.d_v;
    a.v_head_stride = dm.d_v;
    a.out = out;
    a.out_token_stride = dm.heads * dm.d_v;
    a.out_head_stride = dm.d_v;
    a.probs = probs;
    a.heads = dm.heads;
    a.dk = static_cast<int>(dm.d_qk());
    a.dv = static_cast<int>(dm.d_v);
    a.scale = dm.scale;
    attention(tag, s, a, ab, splits);
}

/// Absorbed MLA attention over latent rows (the CUDA twin of mla_attend_absorbed in
/// attention/mla_absorbed/cpu.hpp), fp32 kv_b_proj [n_h·(d_nope + d_v), d_c] on the device:
///   q̃_h = q_nope,h · W_UK[h]                   one strided-batched GEMM over the heads
///   ō_h  = softmax(scale·[q_pe,h | q̃_h]·[k_pe | c_n]ᵀ + mask) · c_n      attention(), MQA
///   o_h  = ō_h · W_UV[h]ᵀ                       one strided-batched GEMM over the heads
/// q [B·S, n_h·d_qk] (q_pe rotated); row b's latents at latents + b·latent_batch_stride,
/// [P+S, d_rope + d_c] (k_pe first, as latent_kv_cache stores them); out [B·S, n_h·d_v]; probs as
/// in mla_attend_expanded.
inline void mla_attend_absorbed(cuda tag, cublas_handle& blas, cudaStream_t s, const mla_dims& dm,
                                const float* kv_b_proj, const float* q, const float* latents,
                                std::int64_t latent_batch_stride, const cuda_attention_batch& ab, float* out,
                                float* probs = nullptr, int splits = 0) {
    const std::int64_t T = ab.batch * ab.new_tokens, nh = dm.heads, width = dm.d_rope + dm.d_c;
    if (T <= 0) return;
    device_buffer<float> qcat(static_cast<std::size_t>(T * nh * width), s);  // [T, n_h, d_rope + d_c]
    device_buffer<float> latent_out(static_cast<std::size_t>(T * nh * dm.d_c), s);  // [T, n_h, d_c]
    // [q_pe | ·]: T·n_h rows of d_rope, from q (row stride d_qk, offset d_nope) to qcat (row stride width)
    copy_rows(tag, s, q + dm.d_nope, dm.d_qk(), qcat.data(), width, T * nh, dm.d_rope);
    // [· | q̃]: per head, q_nope [T, d_nope] (ld n_h·d_qk) · W_UK[h] [d_nope, d_c] (ld d_c)
    gemm_batched<float>(tag, blas, s, false, false, T, dm.d_c, dm.d_nope, 1.0f, {q, nh * dm.d_qk(), dm.d_qk()},
                        {kv_b_proj, dm.d_c, dm.d_kv() * dm.d_c}, 0.0f, qcat.data() + dm.d_rope, nh * width, width, nh);
    attention_args a;
    a.q = qcat.data();
    a.q_token_stride = nh * width;
    a.q_head_stride = width;
    a.k = latents;
    a.k_batch_stride = latent_batch_stride;
    a.k_row_stride = width;
    a.k_head_stride = 0;
    a.v = latents + dm.d_rope;
    a.v_batch_stride = latent_batch_stride;
    a.v_row_stride = width;
    a.v_head_stride = 0;
    a.out = latent_out.data();
    a.out_token_stride = nh * dm.d_c;
    a.out_head_stride = dm.d_c;
    a.probs = probs;
    a.heads = nh;
    a.dk = static_cast<int>(width);
    a.dv = static_cast<int>(dm.d_c);
    a.scale = dm.scale;
    attention(tag, s, a, ab, splits);
    // o_h [T, d_v] (ld n_h·d_v) = ō_h [T, d_c] (ld n_h·d_c) · W_UV[h]ᵀ, W_UV[h] [d_v, d_c] (ld d_c)
    gemm_batched<float>(tag, blas, s, false, true, T, dm.d_v, dm.d_c, 1.0f, {latent_out.data(), nh * dm.d_c, dm.d_c},
                        {kv_b_proj + dm.d_nope * dm.d_c, dm.d_c, dm.d_kv() * dm.d_c}, 0.0f, out, nh * dm.d_v, dm.d_v,
                        nh);
}

/// The model's rotary frequencies on the device (uploaded into the pass's context by the first
/// forward that needs them; the context is locked by the pass).
inline const cuda_rope_table& device_rope(const cuda_forward_pass& pass, const rope_table& t) {
    cuda_rope_table& held = pass.context->rope;
    const std::span<const float> freq(t.inv_freq);
    if (!held.holds(freq, t.attention_factor)) held = cuda_rope_table::upload(pass.stream(), freq, t.attention_factor);
    return held;
}

/// The projections of the new tokens that both forms share.
struct cuda_mla_projections {
    device_buffer<float> q;    // [T, n_h·d_qk], q_pe rotated
    device_buffer<float> ckv;  // [T, d_c + d_rope] = [c | k_pe], k_pe rotated
    device_buffer<float> c_n;  // [T, d_c]
};

template <cuda_weight_type W>
cuda_mla_projections mla_project(const cuda_forward_pass& pass, const mla_weights<cuda_storage<W>>& w, const mla_dims& dm,
                                 const rope_table& rope_freq, const device_buffer<float>& h) {
    const cudaStream_t s = pass.stream();
    const std::int64_t T = pass.tokens(), qw = dm.heads * dm.d_qk(), cw = dm.d_c + dm.d_rope;
    detail::cuda_expect_size(h.size(), T * dm.hidden, "mla_project: h");
    cuda_mla_projections p{device_buffer<float>(static_cast<std::size_t>(T * qw), s),
                           device_buffer<float>(static_cast<std::size_t>(T * cw), s),
                           device_buffer<float>(static_cast<std::size_t>(T * dm.d_c), s)};
    if (w.q_proj) {
        linear_forward(cuda{}, pass.blas(), s, h.data(), *w.q_proj, p.q.data(), T);
    } else {
        if (!w.q_a_proj || !w.q_b_proj) throw checkpoint_error("self_attn.q_a_proj", "missing (q_lora_rank is set)");
        const std::int64_t d_cq = w.q_a_proj->out_features();
        device_buffer<float> cq(static_cast<std::size_t>(T * d_cq), s);  // [T, d_cq]
        linear_forward(cuda{}, pass.blas(), s, h.data(), *w.q_a_proj, cq.data(), T);
        rmsnorm(cuda{}, s, cq.data(), w.q_a_layernorm.data(), cq.data(), T, d_cq, 1e-6);
        linear_forward(cuda{}, pass.blas(), s, cq.data(), *w.q_b_proj, p.q.data(), T);
    }
    linear_forward(cuda{}, pass.blas(), s, h.data(), w.kv_a_proj_with_mqa, p.ckv.data(), T);
    rmsnorm(cuda{}, s, p.ckv.data(), w.kv_a_layernorm.data(), p.c_n.data(), T, dm.d_c, 1e-6, cw, dm.d_c);
    const cuda_rope_table& table = device_rope(pass, rope_freq);
    rope(cuda{}, s, table, p.q.data(), T, qw, dm.heads, dm.d_qk(), dm.d_nope, pass.positions.data());
    rope(cuda{}, s, table, p.ckv.data(), T, cw, 1, cw, dm.d_c, pass.positions.data());
    return p;
}

/// Expanded K [R, n_h·d_qk] and V [R, n_h·d_v] of R latent rows: c_n at c_n + r·c_n_stride (d_c)
/// and k_pe at k_pe + r·k_pe_stride (d_rope), through the fp32 kv_b_proj.
template <class KvB>
void mla_expand_kv(const cuda_forward_pass& pass, const KvB& kv_b_proj, const mla_dims& dm, const float* c_n,
                   std::int64_t c_n_stride, const float* k_pe, std::int64_t k_pe_stride, std::int64_t R,
                   device_buffer<float>& k, device_buffer<float>& v) {
    const cudaStream_t s = pass.stream();
    const std::int64_t in = kv_b_proj.in_features(), out = kv_b_proj.out_features();
    if (in != dm.d_c || out != dm.heads * dm.d_kv())
        throw checkpoint_error("self_attn.kv_b_proj.weight",
                               "has shape [" + std::to_string(out) + ", " + std::to_string(in) + "]");
    k = device_buffer<float>(static_cast<std::size_t>(R * dm.heads * dm.d_qk()), s);
    v = device_buffer<float>(static_cast<std::size_t>(R * dm.heads * dm.d_v), s);
    if (R <= 0) return;
    device_buffer<float> kv(static_cast<std::size_t>(R * out), s);  // [R, n_h·(d_nope + d_v)]
    gemm_nt(cuda{}, pass.blas(), s, c_n, kv_b_proj.weight.data(), kv.data(), R, dm.d_c, out, 0.0f, c_n_stride);
    if (kv_b_proj.has_bias()) add_bias_rows(cuda{}, s, kv.data(), kv_b_proj.bias.data(), R, out);
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
device_buffer<float> cuda_output_projection(const cuda_forward_pass& pass, const mla_weights<cuda_storage<W>>& w,
                                            const device_buffer<float>& attn) {
    device_buffer<float> out(static_cast<std::size_t>(pass.tokens() * w.o_proj.out_features()), pass.stream());
    linear_forward(cuda{}, pass.blas(), pass.stream(), attn.data(), w.o_proj, out.data(), pass.tokens());
    return out;
}

/// Expanded attention of the new tokens over their own K/V (no cache).
template <cuda_weight_type W>
device_buffer<float> cuda_attend_uncached(const cuda_forward_pass& pass, const mla_weights<cuda_storage<W>>& w,
                                          const mla_dims& dm, const cuda_mla_projections& p, tensor<float>* probs) {
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

}  // namespace dsv2
