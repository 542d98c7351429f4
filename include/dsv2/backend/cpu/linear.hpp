// A linear layer on the CPU: y = x · Wᵀ (+ b), W in fp32 or bf16 (backend/cpu/matmul.hpp).
#pragma once

#include "dsv2/backend/cpu/matmul.hpp"

namespace dsv2 {

/// Weights of one nn.Linear: weight [out, in] and an optional bias [out] (size 0 when absent).
struct cpu_linear {
    cpu_weight weight;  // [out, in]
    cpu::vector bias;   // [out] or empty

    std::int64_t in_features() const noexcept { return weight.cols(); }
    std::int64_t out_features() const noexcept { return weight.rows(); }
    bool has_bias() const noexcept { return bias.size() != 0; }
};

/// y [T, out] = x [T, in] · weightᵀ (+ bias).
inline void linear(cpu tag, const cpu::matrix& x, const cpu_linear& w, cpu::matrix& y) {
    matmul_nt(tag, x, w.weight, y);
    if (w.has_bias()) y.rowwise() += w.bias.transpose();
}

inline cpu::matrix linear(cpu tag, const cpu::matrix& x, const cpu_linear& w) {
    cpu::matrix y;
    linear(tag, x, w, y);
    return y;
}

}  // namespace dsv2
