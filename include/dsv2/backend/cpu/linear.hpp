// A linear layer on the CPU: y = x · Wᵀ (+ b), W in fp32 or bf16 (backend/cpu/matmul.hpp), for any
// layer with `weight` (a cpu_weight) and `bias` (an Eigen vector, empty when absent) — e.g.
// linear<host_storage> of the weights tree.
#pragma once

#include "dsv2/backend/cpu/matmul.hpp"

namespace dsv2 {

/// y [T, out] = x [T, in] · weightᵀ (+ bias).
template <class Layer>
void linear_forward(cpu tag, const cpu::matrix& x, const Layer& w, cpu::matrix& y) {
    matmul_nt(tag, x, w.weight, y);
    if (w.bias.size() != 0) y.rowwise() += w.bias.transpose();
}

template <class Layer>
cpu::matrix linear_forward(cpu tag, const cpu::matrix& x, const Layer& w) {
    cpu::matrix y;
    linear_forward(tag, x, w, y);
    return y;
}

}  // namespace dsv2
