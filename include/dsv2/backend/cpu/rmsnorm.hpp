// RMSNorm: y = w ⊙ x / sqrt(mean(x²) + eps), statistics in fp32 as transformers computes them.
#pragma once

#include <cmath>

#include "dsv2/backend/cpu/cpu.hpp"

namespace dsv2 {

/// Normalises each row of x [T, D] in place with weight [D].
inline void rmsnorm_inplace(cpu, Eigen::Ref<cpu::matrix> x, const cpu::vector& weight, double eps) {
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
        auto row = x.row(t);
        const float mean_sq = row.squaredNorm() / static_cast<float>(row.size());
        const float inv_rms = 1.0f / std::sqrt(mean_sq + static_cast<float>(eps));
        row = (row * inv_rms).cwiseProduct(weight.transpose());
    }
}

/// y [T, D] = rmsnorm(x [T, D]) · weight.
template <class In>
cpu::matrix rmsnorm(cpu tag, const Eigen::MatrixBase<In>& x, const cpu::vector& weight, double eps) {
    cpu::matrix y = x;
    rmsnorm_inplace(tag, y, weight, eps);
    return y;
}

}  // namespace dsv2
