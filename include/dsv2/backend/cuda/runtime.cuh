#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/runtime.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// backend_runtime<cuda, HostWeights>: what a CUDA model keeps on the device (backend/runtime.hpp
// says what every backend provides) — its device context (stream, cuBLAS; context.cuh) and its
// weights uploaded once (storage.cuh: HostWeights::rebind<cuda_storage<W>>, bf16 stays bf16). It
// starts forward passes and makes the device caches (any layout constructible from
// (cfg, batch, model, shared_ptr<cuda_device_context>), e.g. cache/cuda_kv_caches.cuh).
//
// cuda_forward_pass: one forward of a CUDA model, and the primitives the decoder calls on it (the
// CUDA twins of backend/cpu/runtime.hpp's). The pass holds the model's device context locked from
// the start of the forward to the end of its head. Activations are device_buffer<float> [B·S, H],
// token b·S + s, allocated on that stream; host results (hidden states, logits) are downloaded,
// which synchronises the stream and reports any asynchronous error of the work before as a
// cuda_error.
#pragma once

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "dsv2/backend/cpu/cpu.hpp"
#include "dsv2/backend/cuda/attention.cuh"
#include "dsv2/backend/cuda/context.cuh"
#include "dsv2/backend/cuda/elementwise.cuh"
#include "dsv2/backend/cuda/embedding.cuh"
#include "dsv2/backend/cuda/gemm.cuh"
#include "dsv2/backend/cuda/memory.cuh"
#include "dsv2/backend/cuda/rmsnorm.cuh"
#include "dsv2/backend/cuda/storage.cuh"
#include "dsv2/backend/runtime.hpp"
#include "dsv2/config.hpp"
#include "dsv2/core/error.hpp"
#include "dsv2/core/forward_batch.hpp"
#include "dsv2/core/tensor.hpp"

namespace dsv2 {

struct cuda_forward_pass {
    using backend = cuda;
    using hidden = device_buffer<float>;  // [B·S, H] on the device

    std::unique_lock<std::mutex> lock;       // first: released last
    cuda_device_context* context = nullptr;  // stream and cuBLAS
    forward_batch batch;                     // host positions [B, S] and key mask [B, P+S]
    device_buffer<std::int64_t> positions;   // [B·S]
    device_buffer<std::int64_t> key_mask;    // [B, P + S]

    /// A pass on `ctx` for `batch` (positions and mask uploaded), without taking the context's
    /// lock: the caller owns the context for the pass's lifetime (the runtime's begin() locks).
    static cuda_forward_pass on(cuda_device_context& ctx, forward_batch batch = {}) {
        cuda_forward_pass pass;
        pass.context = &ctx;
        const cudaStream_t s = ctx.get();
        pass.positions = upload(s, std::span<const std::int64_t>(batch.positions.data(),
                                                                 static_cast<std::size_t>(batch.positions.numel())));
        pass.key_mask = upload(s, std::span<const std::int64_t>(batch.key_mask.data(),
                                                                static_cast<std::size_t>(batch.key_mask.numel())));
        pass.batch = std::move(batch);  // the host tensors stay alive (and unmoved in memory) meanwhile
        return pass;
    }

    cudaStream_t stream() const noexcept { return context->get(); }
    cublas_handle& blas() const noexcept { return context->blas; }
    std::int64_t tokens() const noexcept { return batch.batch * batch.new_tokens; }  // B·S
    cuda_attention_batch attention() const noexcept {
        return {batch.batch, batch.new_tokens, batch.past, key_mask.empty() ? nullptr : key_mask.data()};
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

/// x [B·S, H]: rows of `table` [vocab, H] (fp32 from W) for ids [B, S], or the embeddings as given.
template <cuda_weight_type W>
device_buffer<float> embed(const cuda_forward_pass& pass, const cuda_matrix<W>& table, const tensor<std::int64_t>* ids,
                           const tensor<float>* embeds) {
    const cudaStream_t s = pass.stream();
    const std::int64_t T = pass.tokens(), H = table.cols();
    device_buffer<float> x(static_cast<std::size_t>(T * H), s);
    if (ids) {
        detail::cuda_expect_size(static_cast<std::size_t>(ids->numel()), T, "input_ids");
        const auto dids = upload(s, std::span<const std::int64_t>(ids->data(), static_cast<std::size_t>(T)));
        embedding(cuda{}, s, table.data(), table.rows(), H, dids.data(), T, x.data());
    } else {
        detail::cuda_expect_size(static_cast<std::size_t>(embeds->numel()), T * H, "inputs_embeds");
        upload(s, std::span<const float>(embeds->data(), static_cast<std::size_t>(T * H)), x.data());
    }
    return x;
}

/// rmsnorm(x [rows, D]) ⊙ weight [D], a new buffer.
inline device_buffer<float> normed(const cuda_forward_pass& pass, const device_buffer<float>& x, const cuda_vector& weight,
                                   double eps) {
    const std::int64_t D = weight.size();
    const std::int64_t rows = D ? static_cast<std::int64_t>(x.size()) / D : 0;
    detail::cuda_expect_size(x.size(), rows * D, "normed: x");
    device_buffer<float> y(x.size(), pass.stream());
    rmsnorm(cuda{}, pass.stream(), x.data(), weight.data(), y.data(), rows, D, eps);
    return y;
}

inline void normalize_inplace(const cuda_forward_pass& pass, device_buffer<float>& x, const cuda_vector& weight, double eps) {
    const std::int64_t D = weight.size();
    const std::int64_t rows = D ? static_cast<std::int64_t>(x.size()) / D : 0;
    detail::cuda_expect_size(x.size(), rows * D, "normalize_inplace: x");
    rmsnorm(cuda{}, pass.stream(), x.data(), weight.data(), x.data(), rows, D, eps);
}

/// x += y (the residual connection).
inline void add_residual(const cuda_forward_pass& pass, device_buffer<float>& x, const device_buffer<float>& y) {
    detail::cuda_expect_size(y.size(), static_cast<std::int64_t>(x.size()), "add_residual: y");
    add_inplace(cuda{}, pass.stream(), x.data(), y.data(), static_cast<std::int64_t>(x.size()));
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
    const std::int64_t R = static_cast<std::int64_t>(rows.size()), H = weight.cols(), N = weight.rows();
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
    gemm_nt(cuda{}, pass.blas(), s, picked.data(), weight.data(), logits.data(), R, H, N);
    const std::vector<float> host = download(s, logits);
    std::copy(host.begin(), host.end(), out.data());
    return out;
}

/// Random weights made on the device (benchmarks of real-size models): normal(0, stddev) matrices
/// from a hash of `seed`, stored as `storage` (bf16 or f32); norms and biases from the host weights
/// (ones and zeros as allocate() makes them).
struct cuda_random_init {
    std::uint64_t seed = 0;
    dtype storage = dtype::bf16;
    float stddev = 0.02f;
};

template <class HostWeights>
class backend_runtime<cuda, HostWeights> {
public:
    using forward_pass = cuda_forward_pass;
    using weights_type = HostWeights;
    template <class W>
    using device_weights_of = typename HostWeights::template rebind<cuda_storage<W>>;
    using device_weights = std::variant<device_weights_of<float>, device_weights_of<__nv_bfloat16>>;

    /// Uploads `weights` (as the loader or from_config made them) once.
    backend_runtime(const DeepseekV2Config& cfg, std::shared_ptr<const HostWeights> weights)
        : context_(std::make_shared<cuda_device_context>()),
          weights_(make_weights(cfg, *weights, cuda_storage_of(*weights), cuda_matrix_source{})) {
        context_->device_stream.synchronize();  // the upload is complete; its errors are reported here
    }

    /// Random weights on the device for the shapes of `shapes` (matrices need no host storage).
    backend_runtime(const DeepseekV2Config& cfg, const HostWeights& shapes, const cuda_random_init& init)
        : context_(std::make_shared<cuda_device_context>()),
          weights_(make_weights(cfg, shapes, init.storage, cuda_matrix_source{true, init.seed, init.stddev})) {
        context_->device_stream.synchronize();
    }

    /// f(the weights on the device): a model_weights<cuda_storage<W>, R, E>, W = float or bf16.
    template <class F>
    decltype(auto) visit_weights(F&& f) const {
        return std::visit([&](const auto& w) -> decltype(auto) { return f(w); }, weights_);
    }

    /// Storage of the as_loaded matrices on the device: dtype::bf16 or dtype::f32.
    dtype storage() const noexcept { return weights_.index() == 1 ? dtype::bf16 : dtype::f32; }

    /// Starts a forward: locks the device context, uploads positions and the key mask.
    cuda_forward_pass begin(forward_batch batch) const {
        std::unique_lock<std::mutex> lock(context_->mutex);
        cuda_forward_pass pass = cuda_forward_pass::on(*context_, std::move(batch));
        pass.lock = std::move(lock);
        return pass;
    }

    template <class Cache>
    Cache make_cache(const DeepseekV2Config& cfg, std::int64_t batch, const void* model) const {
        return Cache(cfg, batch, model, context_);
    }

    /// The stream everything of this model runs on (e.g. to time it with events).
    cudaStream_t stream() const noexcept { return context_->get(); }

private:
    device_weights make_weights(const DeepseekV2Config& cfg, const HostWeights& w, dtype storage,
                                const cuda_matrix_source& src) {
        const cudaStream_t s = context_->get();
        if (storage == dtype::bf16) return cuda_upload_model<__nv_bfloat16>(s, cfg, w, src);
        if (storage == dtype::f32) return cuda_upload_model<float>(s, cfg, w, src);
        throw unsupported_error("cuda weights: storage must be bf16 or f32");
    }

    std::shared_ptr<cuda_device_context> context_;  // first: destroyed after the buffers below
    device_weights weights_;
};

}  // namespace dsv2
