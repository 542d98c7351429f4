#if !defined(__CUDACC__)
#error "dsv2/models/cuda/forward_pass.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// cuda_forward_pass: one forward of a CUDA model, and the blocks the decoder calls on it (the CUDA
// twins of models/cpu_runtime.hpp; attention_block is in models/cuda/mla.cuh).
//
// The pass holds the model's device context (its stream and cuBLAS handle) locked from the start
// of the forward to the end of its head. Activations are device_buffer<float> [B·S, H], token
// b·S + s, allocated on that stream; host results (hidden states, logits) are downloaded, which
// synchronises the stream and reports any asynchronous error of the work before as a cuda_error.
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "dsv2/backend/cuda/attention.cuh"
#include "dsv2/backend/cuda/elementwise.cuh"
#include "dsv2/backend/cuda/embedding.cuh"
#include "dsv2/backend/cuda/gemm.cuh"
#include "dsv2/backend/cuda/linear.cuh"
#include "dsv2/backend/cuda/memory.cuh"
#include "dsv2/backend/cuda/moe.cuh"
#include "dsv2/backend/cuda/rmsnorm.cuh"
#include "dsv2/backend/cuda/rope.cuh"
#include "dsv2/models/cuda/context.cuh"
#include "dsv2/models/cuda/model_weights.cuh"
#include "dsv2/models/decoder_plan.hpp"
#include "dsv2/models/forward_batch.hpp"

namespace dsv2 {

struct cuda_forward_pass {
    using backend = cuda;
    using hidden = device_buffer<float>;  // [B·S, H] on the device

    std::unique_lock<std::mutex> lock;           // first: released last
    cuda_device_context* context = nullptr;      // stream and cuBLAS
    const cuda_rope_table* rope = nullptr;       // the model's rotary frequencies on the device
    forward_batch batch;                         // host positions [B, S] and key mask [B, P+S]
    device_buffer<std::int64_t> positions;       // [B·S]
    device_buffer<std::int64_t> key_mask;        // [B, P + S]

    cudaStream_t stream() const noexcept { return context->get(); }
    cublas_handle& blas() const noexcept { return context->blas; }
    std::int64_t tokens() const noexcept { return batch.batch * batch.new_tokens; }  // B·S
    cuda_attention_batch attention() const noexcept {
        return {batch.batch, batch.new_tokens, batch.past, key_mask.data()};
    }
};

namespace detail {
/// An internal size check of the CUDA forward: a mismatch is a bug, reported rather than run.
inline void cuda_expect_size(std::size_t got, std::int64_t want, const char* what) {
    if (want < 0 || got != static_cast<std::size_t>(want))
        throw input_error(what, "holds " + std::to_string(got) + " values, expected " + std::to_string(want));
}
inline std::int64_t cuda_shape_numel(const shape_t& shape) {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    return n;
}
}  // namespace detail

/// x [B·S, H]: the token embeddings of input_ids (fp32 from W), or inputs_embeds as given.
template <cuda_weight_type W>
device_buffer<float> embed_tokens(const cuda_forward_pass& pass, const cuda_model_weights<W>& w, const forward_args& args) {
    const cudaStream_t s = pass.stream();
    const std::int64_t T = pass.tokens(), H = w.embed_tokens.cols;
    device_buffer<float> x(static_cast<std::size_t>(T * H), s);
    if (args.input_ids) {
        detail::cuda_expect_size(static_cast<std::size_t>(args.input_ids->numel()), T, "input_ids");
        const auto ids = upload(s, std::span<const std::int64_t>(args.input_ids->data(), static_cast<std::size_t>(T)));
        embedding(cuda{}, s, w.embed_tokens.data.data(), w.embed_tokens.rows, H, ids.data(), T, x.data());
    } else {
        detail::cuda_expect_size(static_cast<std::size_t>(args.inputs_embeds->numel()), T * H, "inputs_embeds");
        upload(s, std::span<const float>(args.inputs_embeds->data(), static_cast<std::size_t>(T * H)), x.data());
    }
    return x;
}

/// rmsnorm(x [rows, D]) ⊙ weight [D], a new buffer.
inline device_buffer<float> normed(const cuda_forward_pass& pass, const device_buffer<float>& x,
                                   const device_buffer<float>& weight, double eps) {
    const auto D = static_cast<std::int64_t>(weight.size());
    const std::int64_t rows = D ? static_cast<std::int64_t>(x.size()) / D : 0;
    detail::cuda_expect_size(x.size(), rows * D, "normed: x");
    device_buffer<float> y(x.size(), pass.stream());
    rmsnorm(cuda{}, pass.stream(), x.data(), weight.data(), y.data(), rows, D, eps);
    return y;
}

inline void normalize_inplace(const cuda_forward_pass& pass, device_buffer<float>& x, const device_buffer<float>& weight,
                              double eps) {
    const auto D = static_cast<std::int64_t>(weight.size());
    const std::int64_t rows = D ? static_cast<std::int64_t>(x.size()) / D : 0;
    detail::cuda_expect_size(x.size(), rows * D, "normalize_inplace: x");
    rmsnorm(cuda{}, pass.stream(), x.data(), weight.data(), x.data(), rows, D, eps);
}

/// x += y (the residual connection).
inline void add_residual(const cuda_forward_pass& pass, device_buffer<float>& x, const device_buffer<float>& y) {
    detail::cuda_expect_size(y.size(), static_cast<std::int64_t>(x.size()), "add_residual: y");
    add_inplace(cuda{}, pass.stream(), x.data(), y.data(), static_cast<std::int64_t>(x.size()));
}

/// The feed-forward sub-block on normed h [B·S, H]: a dense gated MLP ...
template <class Router, cuda_weight_type W>
device_buffer<float> feed_forward_block(const cuda_forward_pass& pass, Router, const cuda_gated_mlp<W>& w,
                                        const decoder_plan& plan, const device_buffer<float>& h) {
    const std::int64_t T = pass.tokens(), H = w.down_proj.out;
    detail::cuda_expect_size(h.size(), T * H, "feed_forward_block: h");
    device_buffer<float> y(static_cast<std::size_t>(T * H), pass.stream());
    gated_mlp_forward(cuda{}, pass.blas(), pass.stream(), w, plan.act, h.data(), T, y.data());
    return y;
}

/// ... or a DeepSeekMoE layer (synchronises once: the rows per expert, see backend/cuda/moe.cuh).
template <class Router, cuda_weight_type W>
device_buffer<float> feed_forward_block(const cuda_forward_pass& pass, Router router, const cuda_moe_weights<W>& w,
                                        const decoder_plan& plan, const device_buffer<float>& h) {
    const std::int64_t T = pass.tokens(), H = w.hidden;
    detail::cuda_expect_size(h.size(), T * H, "feed_forward_block: h");
    device_buffer<float> y(static_cast<std::size_t>(T * H), pass.stream());
    moe_forward(cuda{}, pass.blas(), pass.stream(), router, w, plan.routing, plan.act, h.data(), T, y.data());
    return y;
}

/// x as a host tensor of `shape` (downloads; synchronises the stream).
inline tensor<float> to_host_tensor(const cuda_forward_pass& pass, const device_buffer<float>& x, shape_t shape) {
    detail::cuda_expect_size(x.size(), detail::cuda_shape_numel(shape), "to_host_tensor: x");
    return tensor<float>(std::move(shape), download(pass.stream(), x));
}

/// [R, out] host = hidden[rows] [R, H] · weightᵀ (a head on some rows of the final hidden states).
template <cuda_weight_type W>
cpu::matrix project_rows(const cuda_forward_pass& pass, const device_buffer<float>& hidden,
                         const std::vector<std::int64_t>& rows, const cuda_matrix<W>& weight) {
    const cudaStream_t s = pass.stream();
    const std::int64_t R = static_cast<std::int64_t>(rows.size()), H = weight.cols, N = weight.rows;
    const std::int64_t T = H ? static_cast<std::int64_t>(hidden.size()) / H : 0;
    detail::cuda_expect_size(hidden.size(), T * H, "project_rows: hidden");
    for (std::size_t i = 0; i < rows.size(); ++i)
        if (rows[i] < 0 || rows[i] >= T)
            throw input_error("project_rows", "row " + std::to_string(rows[i]) + " at index " + std::to_string(i) +
                                                  " is outside [0, " + std::to_string(T) + ")");
    cpu::matrix out(R, N);
    if (R == 0 || N == 0) return out;
    const auto row_ids = upload(s, rows);
    device_buffer<float> picked(static_cast<std::size_t>(R * H), s);  // [R, H]: gathered like embeddings
    embedding(cuda{}, s, hidden.data(), T, H, row_ids.data(), R, picked.data());
    device_buffer<float> logits(static_cast<std::size_t>(R * N), s);  // [R, N]
    gemm_nt(cuda{}, pass.blas(), s, picked.data(), static_cast<const W*>(weight.data.data()), logits.data(), R, H, N);
    const std::vector<float> host = download(s, logits);
    std::copy(host.begin(), host.end(), out.data());
    return out;
}

}  // namespace dsv2
