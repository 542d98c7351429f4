// A linear layer on the CPU: y = x · Wᵀ (+ b), one Eigen GEMM per call.
#pragma once

#include "dsv2/backend/cpu/cpu.hpp"

namespace dsv2 {

/// Weights of one nn.Linear: weight [out, in] and an optional bias [out] (size 0 when absent).
struct cpu_linear {
    cpu::matrix weight;  // [out, in]
    cpu::vector bias;    // [out] or empty

    std::int64_t in_features() const noexcept { return weight.cols(); }
    std::int64_t out_features() const noexcept { return weight.rows(); }
    bool has_bias() const noexcept { return bias.size() != 0; }
};

/// y [T, out] = x [T, in] · weightᵀ (+ bias).
template <class In>
void linear(cpu, const Eigen::MatrixBase<In>& x, const cpu_linear& w, cpu::matrix& y) {
    y.resize(x.rows(), w.weight.rows());
    y.noalias() = x * w.weight.transpose();
    if (w.has_bias()) y.rowwise() += w.bias.transpose();
}

template <class In>
cpu::matrix linear(cpu tag, const Eigen::MatrixBase<In>& x, const cpu_linear& w) {
    cpu::matrix y;
    linear(tag, x, w, y);
    return y;
}

}  // namespace dsv2
