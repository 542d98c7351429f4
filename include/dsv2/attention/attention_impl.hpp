// The attention hook: attention_impl<Policy, Backend>, one specialisation per (policy, backend)
// pair, in the policy's folder (attention/<policy>/cpu.hpp, attention/<policy>/cuda.cuh).
//
// A specialisation provides
//   using cache = <layout>;                        the layout the policy caches in on that backend
//   template <class Cache> static constexpr bool accepts_cache;   (optional) other layouts it runs on
//   static hidden forward(const Pass& pass, const mla_weights<S>& w, const decoder_plan& plan,
//                         typename Cache::layer_cache* cache, tensor<float>* probs, const hidden& h);
// forward maps the normed hidden states h [B·S, H] to the attention output [B·S, H], appending
// the new tokens to `cache` (a layer of the model's cache, or null); probs, when given, receives
// the attention probabilities [B, n_h, S, P+S] on the host.
#pragma once

#include <concepts>

#include "dsv2/core/hook.hpp"

namespace dsv2 {

template <class Policy, class Backend>
struct attention_impl {
    static_assert(detail::unimplemented_pair<Policy, Backend>,
                  "dsv2::attention_impl<Policy, Backend> has no specialisation for this attention policy on this "
                  "backend: include the policy's header for the backend (attention/<policy>/cpu.hpp or cuda.cuh) "
                  "or specialise dsv2::attention_impl for the pair (see docs/design.md, 'Add an attention policy')");
};

/// An attention policy: a tag with a name (its math and caches are in attention_impl).
template <class A>
concept attention_policy = requires {
    { A::name } -> std::convertible_to<const char*>;
};

/// The cache layout `Attention` uses on `Backend` unless a spec names another one it accepts.
template <class Backend, class Attention>
using attention_cache_t = typename attention_impl<Attention, Backend>::cache;

namespace detail {
template <class Impl, class Cache>
constexpr bool accepts_cache() {
    if constexpr (requires { Impl::template accepts_cache<Cache>; })
        return Impl::template accepts_cache<Cache>;
    else
        return std::same_as<Cache, typename Impl::cache>;
}
}  // namespace detail

}  // namespace dsv2
