// The concept every router policy satisfies.
#pragma once

#include <concepts>
#include <cstdint>
#include <span>

#include "dsv2/moe/routing.hpp"

namespace dsv2 {

/// A router policy: a name, a config check (throws config_error when the config contradicts it),
/// and select(params, probs [E], idx [k], weight [k]).
template <class R>
concept router_policy = requires(const DeepseekV2Config& cfg, const routing_params& p, std::span<const float> probs,
                                 std::int64_t* idx, float* w) {
    { R::name } -> std::convertible_to<const char*>;
    R::check(cfg);
    R::select(p, probs, idx, w);
};

}  // namespace dsv2
