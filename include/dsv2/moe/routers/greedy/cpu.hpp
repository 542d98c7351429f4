// router_impl<router_greedy, cpu>: per token on the host (moe/routers/per_token.hpp).
#pragma once

#include "dsv2/backend/cpu/cpu.hpp"
#include "dsv2/moe/routers/greedy/policy.hpp"
#include "dsv2/moe/routers/per_token.hpp"

namespace dsv2 {

template <>
struct router_impl<router_greedy, cpu> : per_token_router<router_greedy> {};

}  // namespace dsv2
