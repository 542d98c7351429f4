// Model specs: a bundle of named member types that chooses, at compile time, the backend and the
// algorithm of each part. Sizes come from DeepseekV2Config at run time.
//
//     struct my_spec : dsv2::default_spec { using router = dsv2::router_group_limited_greedy; };
//     static_assert(dsv2::model_spec<my_spec>);
//     auto model = dsv2::DeepseekV2ForCausalLM<my_spec>::from_pretrained(dir);
//
// A spec names {backend, attention, router, expert_mlp}. The cache layout follows from the
// attention policy on the backend (attention_impl<attention, backend>::cache); a spec may name
// `cache` to pick another layout that the attention accepts.
#pragma once

#include <concepts>

#include "dsv2/attention/attention_impl.hpp"
#include "dsv2/attention/mla_absorbed/cpu.hpp"
#include "dsv2/attention/mla_expanded/cpu.hpp"
#include "dsv2/backend/cpu/runtime.hpp"
#include "dsv2/backend/cpu/storage.hpp"
#include "dsv2/backend/runtime.hpp"
#include "dsv2/moe/expert_mlp_impl.hpp"
#include "dsv2/moe/experts/gated_mlp/cpu.hpp"
#include "dsv2/moe/router_impl.hpp"
#include "dsv2/moe/routers/from_config/cpu.hpp"
#include "dsv2/moe/routers/greedy/cpu.hpp"
#include "dsv2/moe/routers/group_limited_greedy/cpu.hpp"
#include "dsv2/weights/model.hpp"

namespace dsv2 {

namespace detail {
template <class Spec>
struct spec_cache {
    using type = attention_cache_t<typename Spec::backend, typename Spec::attention>;
};
template <class Spec>
    requires requires { typename Spec::cache; }
struct spec_cache<Spec> {
    using type = typename Spec::cache;
};
}  // namespace detail

/// The cache layout of a spec: its own `cache`, or the attention's layout on the backend.
template <class Spec>
using spec_cache_t = typename detail::spec_cache<Spec>::type;

/// The host weights of a spec's models (what the loader fills; shared by specs with the same
/// router and expert MLP, e.g. a CPU and a CUDA model).
template <class Spec>
using spec_weights_t = model_weights<host_storage, typename Spec::router, typename Spec::expert_mlp>;

/// What a model spec must name. A spec that misses one fails here, with the requirement named;
/// a (policy, backend) pair nobody implemented fails in the policy's hook, with its message.
template <class S>
concept model_spec = requires {
    typename S::backend;
    typename S::attention;
    typename S::router;
    typename S::expert_mlp;
} && backend_tag<typename S::backend> && attention_policy<typename S::attention> &&
                     router_policy<typename S::router> && expert_mlp_policy<typename S::expert_mlp>;

/// CPU; MLA with the latent cache (expanded prefill, absorbed decode); the router the config
/// names; DeepSeek's gated experts.
struct default_spec {
    using backend = cpu;
    using attention = mla_absorbed;
    using router = router_from_config;
    using expert_mlp = gated_mlp_experts;
};

/// The same with the expanded K/V cache, as transformers cached until 2026.
struct expanded_cache_spec : default_spec {
    using attention = mla_expanded;
};

/// The latent cache with its rows rounded to bf16: half the cache bytes (cache/latent_kv_cache.hpp).
struct latent_bf16_cache_spec : default_spec {
    using cache = latent_kv_cache_bf16;
};

static_assert(model_spec<default_spec>);
static_assert(model_spec<expanded_cache_spec>);
static_assert(std::same_as<spec_cache_t<default_spec>, latent_kv_cache>);
static_assert(std::same_as<spec_cache_t<expanded_cache_spec>, expanded_kv_cache>);
static_assert(std::same_as<spec_cache_t<latent_bf16_cache_spec>, latent_kv_cache_bf16>);

// The CUDA specs (cuda_spec, cuda_expanded_cache_spec) live in models/cuda/spec.cuh (nvcc only);
// dsv2/native.hpp names `native_spec`: the CUDA spec under nvcc, default_spec otherwise.

}  // namespace dsv2
