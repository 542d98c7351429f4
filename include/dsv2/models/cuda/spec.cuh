#if !defined(__CUDACC__)
#error "dsv2/models/cuda/spec.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// The CUDA model specs, and the cache layouts the attention policies use on the device.
//
//     auto lm = dsv2::DeepseekV2ForCausalLM<dsv2::cuda_spec>::from_pretrained(dir);  // uploads once
#pragma once

#include "dsv2/backend/cuda/cuda.cuh"
#include "dsv2/models/cuda/kv_cache.cuh"
#include "dsv2/models/spec.hpp"

namespace dsv2 {

template <>
struct attention_cache<cuda, mla_absorbed> {
    using type = cuda_latent_kv_cache;
};
template <>
struct attention_cache<cuda, mla_expanded> {
    using type = cuda_expanded_kv_cache;
};

/// CUDA; MLA with the latent cache on the device (expanded prefill, absorbed decode); the router
/// the config names; gated experts (bf16 weights stay bf16, fp32 accumulation).
struct cuda_spec {
    using backend = cuda;
    using attention = mla_absorbed;
    using cache = cuda_latent_kv_cache;
    using router = router_from_config;
    using expert_mlp = gated_mlp_experts;
};

/// The same with the expanded K/V cache on the device.
struct cuda_expanded_cache_spec : cuda_spec {
    using attention = mla_expanded;
    using cache = cuda_expanded_kv_cache;
};

static_assert(model_spec<cuda_spec>);
static_assert(model_spec<cuda_expanded_cache_spec>);

}  // namespace dsv2
