// Gated MLP: down( act(gate(x)) ⊙ up(x) ). Dense layers, the shared experts and every routed expert.
#pragma once

#include "dsv2/backend/cpu/linear.hpp"
#include "dsv2/layers/activation.hpp"

namespace dsv2 {

struct cpu_gated_mlp {
    cpu_linear gate_proj;  // [I, H]
    cpu_linear up_proj;    // [I, H]
    cpu_linear down_proj;  // [H, I]

    std::int64_t intermediate_size() const noexcept { return gate_proj.out_features(); }
};

/// y [T, H] = down( act(x·gateᵀ) ⊙ x·upᵀ ).
inline void gated_mlp_forward(cpu tag, const cpu_gated_mlp& w, activation act, const cpu::matrix& x, cpu::matrix& y) {
    cpu::matrix g = linear(tag, x, w.gate_proj);  // [T, I]
    const cpu::matrix u = linear(tag, x, w.up_proj);  // [T, I]
    gate_activation_inplace(tag, act, g, u);
    linear(tag, g, w.down_proj, y);  // [T, H]
}

}  // namespace dsv2
