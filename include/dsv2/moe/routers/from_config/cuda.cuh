#if !defined(__CUDACC__)
#error "dsv2/moe/routers/from_config/cuda.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// router_impl<router_from_config, cuda>: the rule the config names (routing_params::method), on the device (moe/routers/softmax_topk.cuh).
#pragma once

#include "dsv2/moe/router_impl.hpp"
#include "dsv2/moe/routers/from_config/policy.hpp"
#include "dsv2/moe/routers/softmax_topk.cuh"

namespace dsv2 {

template <>
struct router_impl<router_from_config, cuda> : softmax_topk_router<routing_from_params> {};

}  // namespace dsv2
