// Perplexity and KL-divergence statistics of next-token distributions, as llama.cpp's
// `llama-perplexity` (and its --kl-divergence mode) reports them, computed in double from fp32
// logits.
//
//   perplexity_stats ppl;                       // one model
//   ppl.add(token_nll(logits_row, target));
//   ppl.perplexity(), ppl.perplexity_se();
//
//   kl_stats kl;                                // a model against a reference model
//   kl.add(compare_token(ref_row, model_row, target));
//   kl.mean_kl(), kl.kl_percentile(0.999), kl.top1_agreement(), kl.rms_dp(), kl.model.perplexity()
//
// Definitions (per scored position; p = reference, q = model, both softmax of the logits, t = the
// next token of the text):
//   nll            −log q(t)                     (−log p(t) for the reference)
//   KL(p ‖ q)      Σ_i p_i (log p_i − log q_i)    over the whole vocabulary, no cut-off
//   same top       argmax p = argmax q            (the first index of the maximum on ties)
//   Δp             q(t) − p(t)                    llama.cpp's "RMS Δp" is the RMS of this
//   Δp top         q(k) − p(k), k = argmax p       the change of the reference's top token
// Standard errors are those of a mean of independent samples (sample variance / (n − 1)), as
// llama.cpp computes them; positions of one text are correlated, so read them as a scale, not as
// a confidence interval. The perplexity's is exp(mean nll)·se(mean nll) (the delta method).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dsv2/core/error.hpp"

namespace dsv2::eval {

/// log-softmax of one row of logits in double: out[i] = x[i] − max − log Σ_j exp(x[j] − max).
/// Throws input_error for an empty row or a non-finite logit (naming its index).
inline void log_softmax(std::span<const float> logits, std::vector<double>& out) {
    if (logits.empty()) throw input_error("logits", "the row is empty");
    double mx = -INFINITY;
    for (std::size_t i = 0; i < logits.size(); ++i) {
        if (!std::isfinite(logits[i])) throw input_error("logits", "logit " + std::to_string(i) + " is not finite");
        mx = std::max(mx, static_cast<double>(logits[i]));
    }
    double sum = 0;
    for (float x : logits) sum += std::exp(static_cast<double>(x) - mx);
    const double lse = mx + std::log(sum);
    out.resize(logits.size());
    for (std::size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - lse;
}

/// Count, mean and variance of a sample, accumulated one value at a time (Welford's update: a
/// constant sample has variance exactly 0, which sums of squares lose to cancellation).
struct moments {
    std::int64_t count = 0;
    double mean = 0, m2 = 0;  ///< m2 = Σ (x − mean)²

    void add(double x) {
        ++count;
        const double d = x - mean;
        mean += d / static_cast<double>(count);
        m2 += d * (x - mean);
    }
    /// Standard error of the mean: sqrt(population variance / (n − 1)), as llama.cpp (0 for n < 2).
    double mean_se() const {
        if (count < 2 || m2 <= 0) return 0;
        return std::sqrt(m2 / static_cast<double>(count) / static_cast<double>(count - 1));
    }
};

namespace detail {
inline void check_target(std::int64_t target, std::size_t vocab) {
    if (target < 0 || static_cast<std::size_t>(target) >= vocab)
        throw input_error("target", "token id " + std::to_string(target) + " is outside [0, " + std::to_string(vocab) + ")");
}
inline std::size_t argmax(const std::vector<double>& v) {
    return static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}
}  // namespace detail

/// −log softmax(logits)[target], in double.
inline double token_nll(std::span<const float> logits, std::int64_t target) {
    detail::check_target(target, logits.size());
    std::vector<double> lp;
    log_softmax(logits, lp);
    return -lp[static_cast<std::size_t>(target)];
}

/// Perplexity over scored positions: exp of the mean negative log-likelihood.
struct perplexity_stats {
    moments nll;

    void add(double token_nll) { nll.add(token_nll); }
    std::int64_t count() const { return nll.count; }
    double mean_nll() const { return nll.mean; }
    double mean_nll_se() const { return nll.mean_se(); }
    double perplexity() const { return std::exp(mean_nll()); }
    double perplexity_se() const { return perplexity() * mean_nll_se(); }
};

/// One scored position of a model against a reference (see the definitions at the top).
struct token_comparison {
    double nll_ref = 0, nll_model = 0;
    double kl = 0;
    bool same_top = false;
    double dp = 0;      ///< q(t) − p(t)
    double dp_top = 0;  ///< q(k) − p(k), k = argmax p
};

/// Compares one position's logits rows (same vocabulary) for the next token `target`.
inline token_comparison compare_token(std::span<const float> ref_logits, std::span<const float> model_logits,
                                      std::int64_t target) {
    if (ref_logits.size() != model_logits.size())
        throw input_error("logits", "the reference has " + std::to_string(ref_logits.size()) + " logits, the model " +
                                        std::to_string(model_logits.size()));
    detail::check_target(target, ref_logits.size());
    std::vector<double> lp, lq;
    log_softmax(ref_logits, lp);
    log_softmax(model_logits, lq);
    token_comparison c;
    const auto t = static_cast<std::size_t>(target);
    c.nll_ref = -lp[t];
    c.nll_model = -lq[t];
    double kl = 0;
    for (std::size_t i = 0; i < lp.size(); ++i) {
        const double p = std::exp(lp[i]);
        if (p > 0) kl += p * (lp[i] - lq[i]);
    }
    c.kl = std::max(kl, 0.0);  // ≥ 0 mathematically; rounding may give −1e-17
    const std::size_t kp = detail::argmax(lp), kq = detail::argmax(lq);
    c.same_top = kp == kq;
    c.dp = std::exp(lq[t]) - std::exp(lp[t]);
    c.dp_top = std::exp(lq[kp]) - std::exp(lp[kp]);
    return c;
}

/// KL divergence, top-1 agreement and probability changes over scored positions, plus both
/// models' perplexities.
class kl_stats {
public:
    perplexity_stats model, reference;

    void add(const token_comparison& c) {
        model.add(c.nll_model);
        reference.add(c.nll_ref);
        kl_.push_back(c.kl);
        kl_moments_.add(c.kl);
        same_top_ += c.same_top ? 1 : 0;
        dp2_.add(c.dp * c.dp);
        dp_top2_.add(c.dp_top * c.dp_top);
        max_abs_dp_ = std::max(max_abs_dp_, std::abs(c.dp));
        sorted_ = false;
    }

    std::int64_t count() const { return static_cast<std::int64_t>(kl_.size()); }
    double mean_kl() const { return kl_moments_.mean; }
    double mean_kl_se() const { return kl_moments_.mean_se(); }
    double max_kl() const { return kl_percentile(1.0); }
    double median_kl() const { return kl_percentile(0.5); }
    /// The `fraction` quantile of the per-position KL values, interpolated linearly between order
    /// statistics at fraction·(n − 1) (as llama.cpp; 0.5 is the median).
    double kl_percentile(double fraction) const {
        if (kl_.empty()) return 0;
        sort();
        if (fraction <= 0) return kl_.front();
        if (fraction >= 1) return kl_.back();
        const double pos = fraction * static_cast<double>(kl_.size() - 1);
        const auto i = static_cast<std::size_t>(pos);
        const double w = pos - static_cast<double>(i);
        return (1 - w) * kl_[i] + w * kl_[std::min(i + 1, kl_.size() - 1)];
    }
    /// Fraction of positions where both models' argmax agree, and its standard error sqrt(f(1−f)/(n−1)).
    double top1_agreement() const { return count() ? static_cast<double>(same_top_) / static_cast<double>(count()) : 0.0; }
    double top1_agreement_se() const {
        const double f = top1_agreement();
        return count() > 1 ? std::sqrt(f * (1 - f) / static_cast<double>(count() - 1)) : 0.0;
    }
    /// RMS of Δp = q(t) − p(t) (llama.cpp's "RMS Δp"), and its standard error (the delta method
    /// on the mean of Δp², as llama.cpp).
    double rms_dp() const { return std::sqrt(dp2_.mean); }
    double rms_dp_se() const { return rms_se(dp2_); }
    double max_abs_dp() const { return max_abs_dp_; }
    /// RMS of Δp top = q(k) − p(k) for the reference's top token k.
    double rms_dp_top() const { return std::sqrt(dp_top2_.mean); }
    double rms_dp_top_se() const { return rms_se(dp_top2_); }

private:
    static double rms_se(const moments& squares) {
        // se of the mean of x² is squares.mean_se(); d sqrt(m) = dm / (2 sqrt(m))
        const double r = std::sqrt(squares.mean);
        return r > 0 ? squares.mean_se() / (2 * r) : 0.0;
    }
    void sort() const {
        if (!sorted_) std::sort(kl_.begin(), kl_.end());
        sorted_ = true;
    }

    mutable std::vector<double> kl_;
    mutable bool sorted_ = true;
    std::int64_t same_top_ = 0;
    moments kl_moments_, dp2_, dp_top2_;
    double max_abs_dp_ = 0;
};

}  // namespace dsv2::eval
