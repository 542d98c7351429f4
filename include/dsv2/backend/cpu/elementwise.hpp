// Element-wise kernels on the CPU.
#pragma once

#include "dsv2/backend/cpu/cpu.hpp"
#include "dsv2/core/activation.hpp"

namespace dsv2 {

/// gate [T, I] <- act(gate) ⊙ up, element-wise (the "gated" of a gated MLP).
inline void gate_activation_inplace(cpu, activation a, cpu::matrix& gate, const cpu::matrix& up) {
    float* g = gate.data();
    const float* u = up.data();
    const Eigen::Index n = gate.size();
    for (Eigen::Index i = 0; i < n; ++i) g[i] = apply(a, g[i]) * u[i];
}

}  // namespace dsv2
