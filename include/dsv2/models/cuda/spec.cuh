#if !defined(__CUDACC__)
#error "dsv2/models/cuda/spec.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// The CUDA model specs. Their caches follow from the attention policies on the device
// (attention_impl<A, cuda>::cache: cuda_latent_kv_cache, cuda_expanded_kv_cache).
//
//     auto lm = dsv2::DeepseekV2ForCausalLM<dsv2::cuda_spec>::from_pretrained(dir);  // uploads once
#pragma once

#include <concepts>

#include "dsv2/attention/mla_absorbed/cuda.cuh"
#include "dsv2/attention/mla_expanded/cuda.cuh"
#include "dsv2/backend/cuda/cuda.cuh"
#include "dsv2/backend/cuda/runtime.cuh"
#include "dsv2/cache/cuda_kv_caches.cuh"
#include "dsv2/models/spec.hpp"
#include "dsv2/moe/experts/gated_mlp/cuda.cuh"
#include "dsv2/moe/moe_layer.cuh"
#include "dsv2/moe/routers/from_config/cuda.cuh"
#include "dsv2/moe/routers/greedy/cuda.cuh"
#include "dsv2/moe/routers/group_limited_greedy/cuda.cuh"

namespace dsv2 {

/// CUDA; MLA with the latent cache on the device (expanded prefill, absorbed decode); the router
/// the config names; gated experts (bf16 weights stay bf16, fp32 accumulation).
struct cuda_spec {
    using backend = cuda;
    using attention = mla_absorbed;
    using router = router_from_config;
    using expert_mlp = gated_mlp_experts;
};

/// The same with the expanded K/V cache on the device.
struct cuda_expanded_cache_spec : cuda_spec {
    using attention = mla_expanded;
};

static_assert(model_spec<cuda_spec>);
static_assert(model_spec<cuda_expanded_cache_spec>);
static_assert(std::same_as<spec_cache_t<cuda_spec>, cuda_latent_kv_cache>);
static_assert(std::same_as<spec_cache_t<cuda_expanded_cache_spec>, cuda_expanded_kv_cache>);

}  // namespace dsv2
