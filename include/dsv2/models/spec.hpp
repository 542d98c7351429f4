// Model specs: a bundle of named member types that chooses, at compile time, the backend and the
// algorithm of each part. Sizes come from DeepseekV2Config at run time.
//
//     struct my_spec : dsv2::default_spec { using router = dsv2::router_group_limited_greedy; };
//     static_assert(dsv2::model_spec<my_spec>);
//     auto model = dsv2::DeepseekV2ForCausalLM<my_spec>::from_pretrained(dir);
#pragma once

#include <concepts>

#include "dsv2/attention/mla_absorbed.hpp"
#include "dsv2/attention/mla_expanded.hpp"
#include "dsv2/backend/cpu/cpu.hpp"
#include "dsv2/models/backend_runtime.hpp"
#include "dsv2/moe/router_concept.hpp"
#include "dsv2/moe/router_from_config.hpp"

namespace dsv2 {

/// Expert-MLP policy: each routed expert is a gated MLP in fp32, run once per expert over the
/// tokens routed to it.
struct gated_mlp_experts {
    static constexpr const char* name = "gated_mlp_experts";
};

template <class B>
concept backend_tag = requires {
    { B::name } -> std::convertible_to<const char*>;
};

/// An attention policy names its (CPU) cache layout; each backend provides its mla_forward overload
/// and, through attention_cache (models/backend_runtime.hpp), the layout it caches in.
template <class A>
concept attention_policy = requires {
    { A::name } -> std::convertible_to<const char*>;
    typename A::cache_type;
};

template <class X>
concept expert_mlp_policy = std::same_as<X, gated_mlp_experts>;

/// What a model spec must name. A spec that misses one fails here, with the requirement named.
template <class S>
concept model_spec = requires {
    typename S::backend;
    typename S::attention;
    typename S::router;
    typename S::expert_mlp;
    typename S::cache;
} && backend_tag<typename S::backend> && attention_policy<typename S::attention> &&
                     router_policy<typename S::router> && expert_mlp_policy<typename S::expert_mlp> &&
                     std::same_as<typename S::cache, attention_cache_t<typename S::backend, typename S::attention>>;

/// CPU; MLA with the latent cache (expanded prefill, absorbed decode); the router the config
/// names; fp32 gated experts.
struct default_spec {
    using backend = cpu;
    using attention = mla_absorbed;
    using cache = latent_kv_cache;
    using router = router_from_config;
    using expert_mlp = gated_mlp_experts;
};

/// The same with the expanded K/V cache, as transformers cached until 2026.
struct expanded_cache_spec : default_spec {
    using attention = mla_expanded;
    using cache = expanded_kv_cache;
};

static_assert(model_spec<default_spec>);
static_assert(model_spec<expanded_cache_spec>);

// The CUDA specs (cuda_spec, cuda_expanded_cache_spec) live in models/cuda/spec.cuh (nvcc only);
// dsv2/native.hpp names `native_spec`: the CUDA spec under nvcc, default_spec otherwise.

}  // namespace dsv2
