// The router hook: router_impl<Policy, Backend>, one specialisation per (policy, backend) pair, in
// the policy's folder (moe/routers/<policy>/cpu.hpp, moe/routers/<policy>/cuda.cuh).
//
// A router policy (policy.hpp) owns
//   name                              for messages
//   check(cfg)                        its config fields (topk_method, scoring_func, n_group, ...):
//                                     a config_error naming the field when it cannot route them
//   params(cfg) -> routing_params     the numbers it routes with
//   template <class S> weights        its parameters over a storage (router_gate<S>: "mlp.gate.weight")
// and its math; router_impl<Policy, Backend>::route runs it on a backend:
//   CPU:  routing_result route(const cpu_forward_pass&, const weights<host_storage>&, const routing_params&,
//                              const cpu::matrix& x [T, H])
//   CUDA: see moe/routers/<policy>/cuda.cuh (device expert ids and weights [T, k]).
// Per-token host routers get their CPU specialisation from per_token_router (moe/routers/per_token.hpp).
#pragma once

#include <concepts>

#include "dsv2/config.hpp"
#include "dsv2/core/hook.hpp"
#include "dsv2/moe/routing.hpp"

namespace dsv2 {

template <class Policy, class Backend>
struct router_impl {
    static_assert(detail::unimplemented_pair<Policy, Backend>,
                  "dsv2::router_impl<Policy, Backend> has no specialisation for this router policy on this backend: "
                  "include the router's header for the backend (moe/routers/<policy>/cpu.hpp or cuda.cuh) or "
                  "specialise dsv2::router_impl for the pair (see docs/design.md, 'Add a router')");
};

/// A router policy (the names a spec's `router` must provide).
template <class R>
concept router_policy = requires(const DeepseekV2Config& cfg) {
    { R::name } -> std::convertible_to<const char*>;
    R::check(cfg);
    { R::params(cfg) } -> std::same_as<routing_params>;
};

}  // namespace dsv2
