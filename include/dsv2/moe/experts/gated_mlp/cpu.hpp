// expert_mlp_impl<gated_mlp_experts, cpu>: y [T, H] = down( act(x·gateᵀ) ⊙ x·upᵀ ) — a routed
// expert over its tokens, and (same weights type) a dense layer or the shared experts.
#pragma once

#include "dsv2/backend/cpu/elementwise.hpp"
#include "dsv2/backend/cpu/linear.hpp"
#include "dsv2/backend/cpu/storage.hpp"
#include "dsv2/moe/expert_mlp_impl.hpp"
#include "dsv2/moe/experts/gated_mlp/policy.hpp"

namespace dsv2 {

template <>
struct expert_mlp_impl<gated_mlp_experts, cpu> {
    template <class Pass>
    static void forward(const Pass&, const gated_mlp<host_storage>& w, activation act, const cpu::matrix& x,
                        cpu::matrix& y) {
        cpu::matrix g = linear_forward(cpu{}, x, w.gate_proj);      // [T, I]
        const cpu::matrix u = linear_forward(cpu{}, x, w.up_proj);  // [T, I]
        gate_activation_inplace(cpu{}, act, g, u);
        linear_forward(cpu{}, g, w.down_proj, y);  // [T, H]
    }
};

}  // namespace dsv2
