// Rotary position embedding, "default" and "yarn", on adjacent pairs.
//
// The pair (x[2i], x[2i+1]) rotates by θ = position · inv_freq[i] and is scaled by the attention
// factor a (1 for "default"; the mscale ratio for yarn, exactly 1 for DeepSeek-V2 and -Lite):
//   out[2i]   = a (x[2i] cos θ − x[2i+1] sin θ)
//   out[2i+1] = a (x[2i] sin θ + x[2i+1] cos θ)
// inv_freq and θ are rounded to fp32 at the same points as transformers computes them, so that
// positions past 1000 agree to the last bits of the angle.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "dsv2/config.hpp"

namespace dsv2 {

/// yarn's m(f, mscale) = 0.1·mscale·ln f + 1 for f > 1, else 1.
inline double yarn_get_mscale(double factor, double mscale = 1.0) {
    return factor <= 1.0 ? 1.0 : 0.1 * mscale * std::log(factor) + 1.0;
}

/// The frequencies and the attention factor of one rotary configuration.
struct rope_table {
    std::vector<float> inv_freq;  // [d_rope / 2]
    float attention_factor = 1.0f;
    // yarn's blending range (for tests and `dsv2 info`); both 0 for "default"
    double yarn_low = 0.0, yarn_high = 0.0;

    std::int64_t dim() const noexcept { return static_cast<std::int64_t>(inv_freq.size()) * 2; }

    static rope_table from_config(const DeepseekV2Config& cfg) {
        const auto& rp = cfg.rope_parameters;
        const std::int64_t d = cfg.qk_rope_head_dim;
        const double theta = rp.rope_theta;
        rope_table t;
        t.inv_freq.resize(static_cast<std::size_t>(d / 2));
        // base^(2i/d) in fp32, as torch computes `base ** (arange(0, d, 2).float() / d)`
        std::vector<float> pos_freq(t.inv_freq.size());
        for (std::size_t i = 0; i < pos_freq.size(); ++i) {
            const float expo = static_cast<float>(2 * i) / static_cast<float>(d);
            pos_freq[i] = static_cast<float>(std::pow(theta, static_cast<double>(expo)));
        }
        if (rp.rope_type == "default") {
            for (std::size_t i = 0; i < pos_freq.size(); ++i) t.inv_freq[i] = 1.0f / pos_freq[i];
            return t;
        }
        if (rp.rope_type != "yarn")
            throw config_error("rope_parameters.rope_type", "'" + rp.rope_type + "' is not supported (default, yarn)");

        const double factor = cfg.yarn_factor();
        const double original = static_cast<double>(rp.original_max_position_embeddings.value_or(cfg.max_position_embeddings));
        const double beta_fast = rp.beta_fast.value_or(32.0);
        const double beta_slow = rp.beta_slow.value_or(1.0);
        const bool truncate = rp.truncate.value_or(true);

        if (rp.attention_factor) {
            t.attention_factor = static_cast<float>(*rp.attention_factor);
        } else if (rp.mscale && rp.mscale_all_dim && *rp.mscale != 0.0 && *rp.mscale_all_dim != 0.0) {
            t.attention_factor = static_cast<float>(yarn_get_mscale(factor, *rp.mscale) /
                                                    yarn_get_mscale(factor, *rp.mscale_all_dim));
        } else {
            t.attention_factor = static_cast<float>(yarn_get_mscale(factor));
        }

        // The dimension index at which a frequency completes `rotations` turns over `original` tokens.
        auto correction_dim = [&](double rotations) {
            return static_cast<double>(d) * std::log(original / (rotations * 2.0 * std::numbers::pi)) /
                   (2.0 * std::log(theta));
        };
        double low = correction_dim(beta_fast), high = correction_dim(beta_slow);
        if (truncate) { low = std::floor(low); high = std::ceil(high); }
        low = std::max(low, 0.0);
        high = std::min(high, static_cast<double>(d - 1));
        if (low == high) high += 0.001;  // avoid a zero-width ramp
        t.yarn_low = low;
        t.yarn_high = high;

        const float f_low = static_cast<float>(low), f_span = static_cast<float>(high - low);
        const float f_factor = static_cast<float>(factor);
        for (std::size_t i = 0; i < pos_freq.size(); ++i) {
            const float extrapolation = 1.0f / pos_freq[i];
            const float interpolation = 1.0f / (f_factor * pos_freq[i]);
            const float ramp = std::clamp((static_cast<float>(i) - f_low) / f_span, 0.0f, 1.0f);
            const float extrapolation_weight = 1.0f - ramp;
            t.inv_freq[i] = interpolation * (1.0f - extrapolation_weight) + extrapolation * extrapolation_weight;
        }
        return t;
    }

    /// cos and sin of every pair's angle at `position`, already scaled by the attention factor.
    void cos_sin(std::int64_t position, float* cos_out, float* sin_out) const noexcept {
        const float p = static_cast<float>(position);
        for (std::size_t i = 0; i < inv_freq.size(); ++i) {
            const float angle = p * inv_freq[i];  // fp32, like torch's inv_freq @ position_ids
            cos_out[i] = static_cast<float>(std::cos(static_cast<double>(angle))) * attention_factor;
            sin_out[i] = static_cast<float>(std::sin(static_cast<double>(angle))) * attention_factor;
        }
    }

    /// Rotates the d_rope values at x in place by the angles (cos, sin) of one position.
    static void rotate(float* x, const float* cos_v, const float* sin_v, std::size_t pairs) noexcept {
        for (std::size_t i = 0; i < pairs; ++i) {
            const float a = x[2 * i], b = x[2 * i + 1];
            x[2 * i] = a * cos_v[i] - b * sin_v[i];
            x[2 * i + 1] = a * sin_v[i] + b * cos_v[i];
        }
    }
};

}  // namespace dsv2
