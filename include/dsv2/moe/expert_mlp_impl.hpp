// The expert-MLP hook: expert_mlp_impl<Policy, Backend>, one specialisation per (policy, backend)
// pair, in the policy's folder (moe/experts/<policy>/cpu.hpp, moe/experts/<policy>/cuda.cuh).
//
// An expert-MLP policy (policy.hpp) owns
//   name
//   template <class S> weights                  one routed expert's parameters over a storage S,
//                                              with visit(name, f, trees...) ("mlp.experts.<e>.*")
//   template <class S> static weights<S> allocate(cfg)
// and expert_mlp_impl<Policy, Backend>::forward runs one expert over the rows routed to it:
//   CPU:  void forward(const cpu_forward_pass&, const weights<host_storage>&, activation,
//                      const cpu::matrix& x [n, H], cpu::matrix& y [n, H])
//   CUDA: see moe/experts/<policy>/cuda.cuh.
// The MoE layer (moe/moe_layer.hpp, moe/moe_layer.cuh) groups tokens per expert and calls it.
#pragma once

#include <concepts>

#include "dsv2/core/hook.hpp"

namespace dsv2 {

template <class Policy, class Backend>
struct expert_mlp_impl {
    static_assert(detail::unimplemented_pair<Policy, Backend>,
                  "dsv2::expert_mlp_impl<Policy, Backend> has no specialisation for this expert-MLP policy on this "
                  "backend: include the policy's header for the backend (moe/experts/<policy>/cpu.hpp or cuda.cuh) "
                  "or specialise dsv2::expert_mlp_impl for the pair (see docs/design.md, 'Add an expert MLP')");
};

template <class X>
concept expert_mlp_policy = requires {
    { X::name } -> std::convertible_to<const char*>;
};

}  // namespace dsv2
