// Row softmax of attention scores under the causal + padding mask, in fp32.
#pragma once

#include <cmath>
#include <limits>

#include "dsv2/core/attention_batch.hpp"
#include "dsv2/backend/cpu/cpu.hpp"

namespace dsv2 {

/// scores [S, P+S] of batch row b -> probabilities; masked entries become exactly 0. A row with no
/// visible key (a left-pad query) becomes all zeros: finite, and it attends to nothing.
inline void masked_softmax_rows(cpu, Eigen::Ref<cpu::matrix> scores, const attention_batch& ab, std::int64_t b) {
    const std::int64_t keys = scores.cols();
    for (Eigen::Index i = 0; i < scores.rows(); ++i) {
        float* s = scores.row(i).data();
        float mx = -std::numeric_limits<float>::infinity();
        for (std::int64_t j = 0; j < keys; ++j)
            if (ab.visible(b, i, j)) mx = std::max(mx, s[j]);
        if (mx == -std::numeric_limits<float>::infinity()) {
            for (std::int64_t j = 0; j < keys; ++j) s[j] = 0.0f;
            continue;
        }
        float sum = 0.0f;
        for (std::int64_t j = 0; j < keys; ++j) {
            s[j] = ab.visible(b, i, j) ? std::exp(s[j] - mx) : 0.0f;
            sum += s[j];
        }
        const float inv = 1.0f / sum;
        for (std::int64_t j = 0; j < keys; ++j) s[j] *= inv;
    }
}

}  // namespace dsv2
