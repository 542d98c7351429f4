// router_impl<router_group_limited_greedy, cpu>: per token on the host (moe/routers/per_token.hpp).
#pragma once

#include "dsv2/backend/cpu/cpu.hpp"
#include "dsv2/moe/routers/group_limited_greedy/policy.hpp"
#include "dsv2/moe/routers/per_token.hpp"

namespace dsv2 {

template <>
struct router_impl<router_group_limited_greedy, cpu> : per_token_router<router_group_limited_greedy> {};

}  // namespace dsv2
