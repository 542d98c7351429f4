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
struct router_impl<router_group_limited_greedy, cuda> : softmax_topk_router<fixed_routing<routing_method::group_limited_greedy>> {};

}  // namespace dsv2
