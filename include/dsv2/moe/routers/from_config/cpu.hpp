// router_impl<router_from_config, cpu>: per token on the host (moe/routers/per_token.hpp).
#pragma once

#include "dsv2/backend/cpu/cpu.hpp"
#include "dsv2/moe/routers/from_config/policy.hpp"
#include "dsv2/moe/routers/per_token.hpp"

namespace dsv2 {

template <>
struct router_impl<router_from_config, cpu> : per_token_router<router_from_config> {};

}  // namespace dsv2
