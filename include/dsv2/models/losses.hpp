// Losses of the heads, as transformers computes them (fp32).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "dsv2/backend/cpu/cpu.hpp"

namespace dsv2 {

inline constexpr std::int64_t ignore_index = -100;

/// log Σ exp(row), stably.
inline double log_sum_exp(const float* row, std::int64_t n) {
    float mx = -std::numeric_limits<float>::infinity();
    for (std::int64_t i = 0; i < n; ++i) mx = std::max(mx, row[i]);
    double sum = 0.0;
    for (std::int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(row[i] - mx));
    return static_cast<double>(mx) + std::log(sum);
}

/// Mean cross-entropy of rows [N, C] against targets (ignore_index skipped). NaN when every target
/// is ignored, as torch returns.
inline float cross_entropy_mean(const float* logits, std::int64_t rows, std::int64_t classes, const std::int64_t* targets) {
    double total = 0.0;
    std::int64_t count = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
        if (targets[r] == ignore_index) continue;
        const float* row = logits + r * classes;
        total += log_sum_exp(row, classes) - static_cast<double>(row[targets[r]]);
        ++count;
    }
    return count == 0 ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(total / static_cast<double>(count));
}

/// Mean squared error over n values.
inline float mse_mean(const float* pred, const float* target, std::int64_t n) {
    double total = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(pred[i]) - static_cast<double>(target[i]);
        total += d * d;
    }
    return static_cast<float>(total / static_cast<double>(n));
}

/// Mean binary cross-entropy with logits over n values: max(x,0) − x·y + log(1 + e^−|x|).
inline float bce_with_logits_mean(const float* x, const float* y, std::int64_t n) {
    double total = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
        const double xi = x[i], yi = y[i];
        total += std::max(xi, 0.0) - xi * yi + std::log1p(std::exp(-std::abs(xi)));
    }
    return static_cast<float>(total / static_cast<double>(n));
}

}  // namespace dsv2
