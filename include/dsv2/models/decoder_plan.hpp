// decoder_plan: the run-time pieces every forward needs, derived once from the (validated) config;
// the routing numbers come from the spec's router policy.
#pragma once

#include "dsv2/attention/mla/dims.hpp"
#include "dsv2/attention/rope.hpp"
#include "dsv2/config.hpp"
#include "dsv2/core/activation.hpp"
#include "dsv2/moe/routing.hpp"

namespace dsv2 {

struct decoder_plan {
    mla_dims attention;
    rope_table rope;
    routing_params routing;
    activation act;

    template <class Router>
    static decoder_plan from_config(const DeepseekV2Config& cfg) {
        return {mla_dims::from_config(cfg), rope_table::from_config(cfg),
                cfg.num_moe_layers() > 0 ? Router::params(cfg) : routing_params::from_config(cfg),
                parse_activation(cfg.hidden_act)};
    }
};

}  // namespace dsv2
