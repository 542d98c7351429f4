#if !defined(__CUDACC__)
#error "dsv2/models/cuda/runtime.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// backend_runtime<cuda>: what a CUDA model keeps on the device (see models/backend_runtime.hpp) —
// its device context (stream, cuBLAS), its weights uploaded once (model_weights.cuh: bf16 stays
// bf16), and its rotary frequencies. It starts forward passes (forward_pass.cuh) and makes the
// device caches (kv_cache.cuh).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <utility>
#include <variant>

#include "dsv2/backend/cuda/memory.cuh"
#include "dsv2/backend/cuda/rope.cuh"
#include "dsv2/models/backend_runtime.hpp"
#include "dsv2/models/cuda/context.cuh"
#include "dsv2/models/cuda/forward_pass.cuh"
#include "dsv2/models/cuda/kv_cache.cuh"
#include "dsv2/models/cuda/model_weights.cuh"

namespace dsv2 {

/// Random weights made on the device (benchmarks of real-size models): normal(0, stddev) matrices
/// from a hash of `seed`, stored as `storage` (bf16 or f32); norms and biases from the host weights
/// (ones and zeros as allocate_weights makes them).
struct cuda_random_init {
    std::uint64_t seed = 0;
    dtype storage = dtype::bf16;
    float stddev = 0.02f;
};

template <>
class backend_runtime<cuda> {
public:
    using forward_pass = cuda_forward_pass;
    using device_weights = std::variant<cuda_model_weights<float>, cuda_model_weights<__nv_bfloat16>>;

    /// Uploads `weights` (as the loader or from_config made them) once.
    backend_runtime(const DeepseekV2Config& cfg, std::shared_ptr<const cpu_model_weights> weights)
        : context_(std::make_shared<cuda_device_context>()),
          weights_(make_weights(*weights, cuda_storage_of(*weights), detail::cuda_matrix_source{})),
          rope_(cuda_rope_table::upload(context_->get(), rope_table::from_config(cfg))) {
        context_->device_stream.synchronize();  // the upload is complete; its errors are reported here
    }

    /// Random weights on the device for the shapes of `shapes` (matrices need no host storage).
    backend_runtime(const DeepseekV2Config& cfg, const cpu_model_weights& shapes, const cuda_random_init& init)
        : context_(std::make_shared<cuda_device_context>()),
          weights_(make_weights(shapes, init.storage, detail::cuda_matrix_source{true, init.seed, init.stddev})),
          rope_(cuda_rope_table::upload(context_->get(), rope_table::from_config(cfg))) {
        context_->device_stream.synchronize();
    }

    template <class F>
    decltype(auto) visit_weights(F&& f) const {
        return std::visit([&](const auto& w) -> decltype(auto) { return f(w); }, weights_);
    }

    /// Storage of the matrices on the device: dtype::bf16 or dtype::f32.
    dtype storage() const noexcept { return weights_.index() == 1 ? dtype::bf16 : dtype::f32; }

    /// Starts a forward: locks the device context, uploads positions and the key mask.
    cuda_forward_pass begin(forward_batch batch) const {
        cuda_forward_pass pass;
        pass.lock = std::unique_lock<std::mutex>(context_->mutex);
        pass.context = context_.get();
        pass.rope = &rope_;
        const cudaStream_t s = context_->get();
        pass.positions = upload(s, std::span<const std::int64_t>(batch.positions.data(),
                                                                 static_cast<std::size_t>(batch.positions.numel())));
        pass.key_mask = upload(s, std::span<const std::int64_t>(batch.key_mask.data(),
                                                                static_cast<std::size_t>(batch.key_mask.numel())));
        pass.batch = std::move(batch);  // the host tensors stay alive (and unmoved in memory) meanwhile
        return pass;
    }

    template <class Cache>
    Cache make_cache(const DeepseekV2Config& cfg, std::int64_t batch, const void* model) const {
        return Cache(cfg, batch, model, context_);
    }

    /// The stream everything of this model runs on (e.g. to time it with events).
    cudaStream_t stream() const noexcept { return context_->get(); }

private:
    device_weights make_weights(const cpu_model_weights& w, dtype storage, const detail::cuda_matrix_source& src) {
        const cudaStream_t s = context_->get();
        if (storage == dtype::bf16) return make_cuda_model_weights<__nv_bfloat16>(s, w, src);
        if (storage == dtype::f32) return make_cuda_model_weights<float>(s, w, src);
        throw unsupported_error("cuda weights: storage must be bf16 or f32");
    }

    std::shared_ptr<cuda_device_context> context_;  // first: destroyed after the buffers below
    device_weights weights_;
    cuda_rope_table rope_;
};

}  // namespace dsv2
