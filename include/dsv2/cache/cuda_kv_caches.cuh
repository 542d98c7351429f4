#if !defined(__CUDACC__)
#error "dsv2/cache/cuda_kv_caches.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// KV caches on the device: the two layouts of cache/ over device rows (backend/cuda/rows.cuh),
// with the same interface and rules as on the host.
//
//   cuda_latent_kv_cache     per layer [k_pe | c_n] (d_rope + d_c)           (latent_kv_cache)
//   cuda_expanded_kv_cache   per layer keys n_h·d_qk and values n_h·d_v      (expanded_kv_cache)
//
// Every allocation and copy is ordered on the model's stream (cuda_device_context), which the
// cache keeps alive. Misuse is a cache_error, as on the CPU. Made by the CUDA runtime's
// make_cache (model.make_cache(batch)).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "dsv2/backend/cuda/context.cuh"
#include "dsv2/backend/cuda/rows.cuh"
#include "dsv2/cache/expanded_kv_cache.hpp"
#include "dsv2/cache/latent_kv_cache.hpp"
#include "dsv2/config.hpp"

namespace dsv2 {

/// The model's device context, held by a cache as its first base: the stream its rows are
/// allocated and freed on outlives them.
struct cuda_cache_context {
    std::shared_ptr<cuda_device_context> context;

    cuda_cache_context(std::shared_ptr<cuda_device_context> c, const char* layout) : context(std::move(c)) {
        if (!context) throw cache_error(std::string(layout) + ": no device context (make it with model.make_cache())");
    }
};

/// The latent layout (cache/latent_kv_cache.hpp) in device memory.
class cuda_latent_kv_cache : private cuda_cache_context, public basic_latent_kv_cache<cuda_token_rows> {
public:
    cuda_latent_kv_cache(const DeepseekV2Config& cfg, std::int64_t batch, const void* model,
                         std::shared_ptr<cuda_device_context> context)
        : cuda_cache_context(std::move(context), "cuda_latent_kv_cache"),
          basic_latent_kv_cache(cfg, batch, model, [&](std::int64_t width) {
              return cuda_token_rows(batch, width, this->context->get());
          }) {}
};

/// The expanded layout (cache/expanded_kv_cache.hpp) in device memory.
class cuda_expanded_kv_cache : private cuda_cache_context, public basic_expanded_kv_cache<cuda_token_rows> {
public:
    cuda_expanded_kv_cache(const DeepseekV2Config& cfg, std::int64_t batch, const void* model,
                           std::shared_ptr<cuda_device_context> context)
        : cuda_cache_context(std::move(context), "cuda_expanded_kv_cache"),
          basic_expanded_kv_cache(cfg, batch, model, [&](std::int64_t width) {
              return cuda_token_rows(batch, width, this->context->get());
          }) {}
};

}  // namespace dsv2
