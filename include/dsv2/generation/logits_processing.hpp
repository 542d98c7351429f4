// Turning one row of next-token logits into a token: repetition penalty, then (sampling only)
// temperature, top-k, top-p and min-p, as transformers orders them; then argmax or a seeded draw.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <vector>

#include "dsv2/generation/generation_config.hpp"

namespace dsv2 {

/// Penalises every id in `seen`: a positive logit is divided by `penalty`, a negative one multiplied.
inline void apply_repetition_penalty(std::span<float> logits, std::span<const std::int64_t> seen, float penalty) {
    if (penalty == 1.0f) return;
    std::vector<bool> done(logits.size(), false);
    for (std::int64_t id : seen) {
        const auto i = static_cast<std::size_t>(id);
        if (i >= logits.size() || done[i]) continue;
        done[i] = true;
        logits[i] = logits[i] < 0.0f ? logits[i] * penalty : logits[i] / penalty;
    }
}

/// Lower index on ties, like torch.argmax.
inline std::int64_t argmax(std::span<const float> logits) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < logits.size(); ++i)
        if (logits[i] > logits[best]) best = i;
    return static_cast<std::int64_t>(best);
}

/// Temperature, top-k, top-p and min-p applied to logits, then one draw from the softmax.
inline std::int64_t sample(std::span<float> logits, const generation_config& gc, std::mt19937_64& rng) {
    for (float& l : logits) l /= gc.temperature;
    std::vector<std::size_t> order(logits.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return logits[a] > logits[b]; });
    std::size_t keep = order.size();
    if (gc.top_k > 0) keep = std::min(keep, static_cast<std::size_t>(gc.top_k));
    // probabilities of the (sorted) survivors
    std::vector<double> p(keep);
    const double mx = logits[order[0]];
    double sum = 0.0;
    for (std::size_t i = 0; i < keep; ++i) sum += (p[i] = std::exp(double(logits[order[i]]) - mx));
    for (double& v : p) v /= sum;
    if (gc.top_p < 1.0f) {  // the smallest prefix whose mass reaches top_p (at least one token)
        double cum = 0.0;
        std::size_t n = 0;
        while (n < keep && cum < gc.top_p) cum += p[n++];
        keep = std::max<std::size_t>(n, 1);
    }
    if (gc.min_p > 0.0f) {  // drop tokens below min_p × the top probability
        std::size_t n = 1;
        while (n < keep && p[n] >= gc.min_p * p[0]) ++n;
        keep = n;
    }
    double mass = 0.0;
    for (std::size_t i = 0; i < keep; ++i) mass += p[i];
    std::uniform_real_distribution<double> uniform(0.0, mass);
    const double u = uniform(rng);
    double cum = 0.0;
    for (std::size_t i = 0; i < keep; ++i) {
        cum += p[i];
        if (u < cum) return static_cast<std::int64_t>(order[i]);
    }
    return static_cast<std::int64_t>(order[keep - 1]);
}

/// The next token of one row.
inline std::int64_t next_token(std::span<float> logits, std::span<const std::int64_t> seen, const generation_config& gc,
                               std::mt19937_64& rng) {
    apply_repetition_penalty(logits, seen, gc.repetition_penalty);
    return gc.greedy() ? argmax(logits) : sample(logits, gc, rng);
}

}  // namespace dsv2
