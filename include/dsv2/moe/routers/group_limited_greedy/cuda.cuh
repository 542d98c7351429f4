#if !defined(__CUDACC__)
#error "dsv2/moe/routers/group_limited_greedy/cuda.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// router_impl<router_group_limited_greedy, cuda>: group-limited greedy, on the device (moe/routers/softmax_topk.cuh).
#pragma once

#include "dsv2/moe/router_impl.hpp"
#include "dsv2/moe/routers/group_limited_greedy/policy.hpp"
#include "dsv2/moe/routers/softmax_topk.cuh"

namespace dsv2 {

template <>
struct router_impl<router_group_limited_greedy, cuda> {
    /// The selection rule the kernel runs for `p`.
    static routing_method method([[maybe_unused]] const routing_params& p) noexcept { return routing_method::group_limited_greedy; }

    /// x [T, H] (device) -> expert [T, k] (int32) and weight [T, k] on the device; logits [T, E]
    /// when given.
    template <class S>
    static void route(const cuda_forward_pass& pass, const router_gate<S>& w, const routing_params& p, const float* x,
                      std::int64_t T, std::int32_t* expert, float* weight, float* logits = nullptr) {
        route_softmax_topk(pass, w.weight, method(p), p, x, T, expert, weight, logits);
    }
};

}  // namespace dsv2
