// dsv2/eval/perplexity_stats.hpp against cases computed by hand: a uniform model's perplexity is
// the vocabulary size, KL of small distributions in closed form, identical models give KL 0 and
// 100 % top-1, percentiles and standard errors of known samples, and the errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include <dsv2/eval/perplexity_stats.hpp>

namespace {

using namespace dsv2::eval;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

/// Logits whose softmax is `p` (log p plus a constant shift, which softmax ignores).
std::vector<float> logits_of(const std::vector<double>& p, double shift = 3.0) {
    std::vector<float> l;
    for (double x : p) l.push_back(static_cast<float>(std::log(x) + shift));
    return l;
}

}  // namespace

TEST_CASE("log_softmax is stable and shift-invariant", "[eval]") {
    std::vector<double> out;
    log_softmax(std::vector<float>(5, 0.0f), out);
    for (double x : out) CHECK_THAT(x, WithinAbs(-std::log(5.0), 1e-15));
    // logits of 1000 would overflow exp in fp32 and in double without the max shift (1e-12: the
    // ulp of the log-sum-exp near 1000)
    log_softmax(std::vector<float>{1000.0f, 1000.0f, 999.0f}, out);
    const double z = std::log(2 + std::exp(-1.0));
    CHECK_THAT(out[0], WithinAbs(-z, 1e-12));
    CHECK_THAT(out[2], WithinAbs(-1 - z, 1e-12));
}

TEST_CASE("a uniform model's perplexity is the vocabulary size", "[eval]") {
    for (const std::size_t vocab : {2u, 259u, 102400u}) {
        const std::vector<float> logits(vocab, 0.25f);
        perplexity_stats s;
        for (std::int64_t t = 0; t < 40; ++t) s.add(token_nll(logits, (t * 7) % static_cast<std::int64_t>(vocab)));
        CHECK(s.count() == 40);
        CHECK_THAT(s.mean_nll(), WithinRel(std::log(static_cast<double>(vocab)), 1e-12));
        CHECK_THAT(s.perplexity(), WithinRel(static_cast<double>(vocab), 1e-10));
        CHECK(s.perplexity_se() == 0.0);  // every nll is the same: exactly 0 (no cancellation)
    }
}

TEST_CASE("perplexity standard error: delta method on the mean nll", "[eval]") {
    perplexity_stats s;
    for (double nll : {1.0, 2.0, 3.0, 4.0}) s.add(nll);
    // mean 2.5, population variance 1.25, se of the mean sqrt(1.25 / 3)
    CHECK_THAT(s.mean_nll(), WithinAbs(2.5, 1e-15));
    CHECK_THAT(s.mean_nll_se(), WithinRel(std::sqrt(1.25 / 3.0), 1e-12));
    CHECK_THAT(s.perplexity(), WithinRel(std::exp(2.5), 1e-12));
    CHECK_THAT(s.perplexity_se(), WithinRel(std::exp(2.5) * std::sqrt(1.25 / 3.0), 1e-12));
}

TEST_CASE("KL, top-1 and Δp of two distributions in closed form", "[eval]") {
    SECTION("p = (1/4, 3/4), q = (1/2, 1/2)") {
        const auto ref = logits_of({0.25, 0.75}), model = logits_of({0.5, 0.5}, -1.0);
        const double kl = 0.25 * std::log(0.25 / 0.5) + 0.75 * std::log(0.75 / 0.5);
        const token_comparison c1 = compare_token(ref, model, 1);
        CHECK_THAT(c1.kl, WithinAbs(kl, 1e-7));  // fp32 logits of log p: ~1e-8 relative
        CHECK_FALSE(c1.same_top);                 // argmax p = 1; q ties, argmax = 0 (first)
        CHECK_THAT(c1.nll_ref, WithinAbs(-std::log(0.75), 1e-7));
        CHECK_THAT(c1.nll_model, WithinAbs(std::log(2.0), 1e-7));
        CHECK_THAT(c1.dp, WithinAbs(0.5 - 0.75, 1e-7));
        CHECK_THAT(c1.dp_top, WithinAbs(0.5 - 0.75, 1e-7));
        const token_comparison c0 = compare_token(ref, model, 0);
        CHECK_THAT(c0.kl, WithinAbs(kl, 1e-7));
        CHECK_THAT(c0.dp, WithinAbs(0.5 - 0.25, 1e-7));
        CHECK_THAT(c0.dp_top, WithinAbs(0.5 - 0.75, 1e-7));  // still the reference's top token (1)
    }
    SECTION("p = (0.5, 0.3, 0.2), q = (0.4, 0.4, 0.2): direction matters") {
        const auto p = logits_of({0.5, 0.3, 0.2}), q = logits_of({0.4, 0.4, 0.2});
        CHECK_THAT(compare_token(p, q, 2).kl, WithinAbs(0.5 * std::log(0.5 / 0.4) + 0.3 * std::log(0.3 / 0.4), 1e-7));
        CHECK_THAT(compare_token(q, p, 2).kl, WithinAbs(0.4 * std::log(0.4 / 0.5) + 0.4 * std::log(0.4 / 0.3), 1e-7));
        CHECK(compare_token(p, q, 2).same_top);
    }
    SECTION("a near-deterministic reference: KL = −log q(top) − H(p) ≈ −log q(top)") {
        std::vector<float> ref(1000, -40.0f), model(1000, 0.0f);
        ref[7] = 40.0f;
        const token_comparison c = compare_token(ref, model, 7);
        CHECK_THAT(c.kl, WithinRel(std::log(1000.0), 1e-9));
        CHECK_FALSE(c.same_top);
        CHECK_THAT(c.dp, WithinAbs(1e-3 - 1.0, 1e-12));
    }
}

TEST_CASE("identical models: KL 0, top-1 100 %, Δp 0, equal perplexities", "[eval]") {
    kl_stats s;
    std::vector<float> row(259);
    for (int pos = 0; pos < 50; ++pos) {
        for (std::size_t i = 0; i < row.size(); ++i) row[i] = static_cast<float>(std::sin(0.37 * double(i) + pos) * 4.0);
        s.add(compare_token(row, row, pos % 259));
    }
    CHECK(s.count() == 50);
    CHECK(s.mean_kl() == 0.0);
    CHECK(s.max_kl() == 0.0);
    CHECK(s.mean_kl_se() == 0.0);
    CHECK(s.top1_agreement() == 1.0);
    CHECK(s.top1_agreement_se() == 0.0);
    CHECK(s.rms_dp() == 0.0);
    CHECK(s.rms_dp_top() == 0.0);
    CHECK(s.model.perplexity() == s.reference.perplexity());
}

TEST_CASE("kl_stats: percentiles, means and standard errors of known samples", "[eval]") {
    kl_stats s;
    // KL values 0..10 (11 positions); Δp ±0.1 alternating; same top on 8 of 11
    for (int i = 0; i <= 10; ++i) {
        token_comparison c;
        c.kl = 10 - i;  // added in descending order: the percentiles sort
        c.same_top = i < 8;
        c.dp = (i % 2 ? 0.1 : -0.1);
        c.dp_top = 0.2;
        c.nll_ref = 1.0;
        c.nll_model = 2.0;
        s.add(c);
    }
    CHECK(s.count() == 11);
    CHECK_THAT(s.mean_kl(), WithinAbs(5.0, 1e-15));
    CHECK_THAT(s.mean_kl_se(), WithinRel(std::sqrt(10.0 / 10.0), 1e-12));  // population variance 10
    CHECK(s.median_kl() == 5.0);
    CHECK(s.max_kl() == 10.0);
    CHECK(s.kl_percentile(0.0) == 0.0);
    CHECK_THAT(s.kl_percentile(0.99), WithinAbs(9.9, 1e-12));    // between order statistics 9 and 10
    CHECK_THAT(s.kl_percentile(0.999), WithinAbs(9.99, 1e-12));
    CHECK_THAT(s.kl_percentile(0.25), WithinAbs(2.5, 1e-12));
    CHECK_THAT(s.top1_agreement(), WithinAbs(8.0 / 11.0, 1e-15));
    CHECK_THAT(s.top1_agreement_se(), WithinRel(std::sqrt((8.0 / 11.0) * (3.0 / 11.0) / 10.0), 1e-12));
    CHECK_THAT(s.rms_dp(), WithinAbs(0.1, 1e-15));
    CHECK(s.rms_dp_se() == 0.0);  // every Δp² is the same
    CHECK_THAT(s.max_abs_dp(), WithinAbs(0.1, 1e-15));
    CHECK_THAT(s.rms_dp_top(), WithinAbs(0.2, 1e-15));
    CHECK_THAT(s.model.perplexity(), WithinRel(std::exp(2.0), 1e-12));
    CHECK_THAT(s.reference.perplexity(), WithinRel(std::exp(1.0), 1e-12));
    // an even count: the median interpolates halfway
    token_comparison c;
    c.kl = 11;
    s.add(c);
    CHECK_THAT(s.median_kl(), WithinAbs(5.5, 1e-12));
}

TEST_CASE("RMS Δp standard error: the delta method on the mean of Δp²", "[eval]") {
    kl_stats s;
    for (double dp : {0.1, 0.2, 0.3}) {
        token_comparison c;
        c.dp = dp;
        s.add(c);
    }
    const double m2 = (0.01 + 0.04 + 0.09) / 3, m4 = (1e-4 + 16e-4 + 81e-4) / 3;
    CHECK_THAT(s.rms_dp(), WithinRel(std::sqrt(m2), 1e-12));
    CHECK_THAT(s.rms_dp_se(), WithinRel(std::sqrt((m4 - m2 * m2) / 2) / (2 * std::sqrt(m2)), 1e-12));
}

TEST_CASE("empty statistics are zeros, not NaN", "[eval]") {
    const kl_stats s;
    CHECK(s.count() == 0);
    CHECK(s.mean_kl() == 0.0);
    CHECK(s.kl_percentile(0.999) == 0.0);
    CHECK(s.top1_agreement() == 0.0);
    CHECK(s.rms_dp() == 0.0);
    CHECK(perplexity_stats{}.perplexity() == 1.0);
}

TEST_CASE("errors: target out of range, vocabulary mismatch, non-finite logits, empty row", "[eval]") {
    const std::vector<float> a(4, 0.0f), b(5, 0.0f);
    CHECK_THROWS_WITH(token_nll(a, 4), Catch::Contains("token id 4 is outside [0, 4)"));
    CHECK_THROWS_WITH(token_nll(a, -1), Catch::Contains("token id -1"));
    CHECK_THROWS_AS(compare_token(a, b, 0), dsv2::input_error);
    CHECK_THROWS_WITH(compare_token(a, b, 0), Catch::Contains("reference has 4 logits, the model 5"));
    std::vector<float> nan_row(4, 0.0f);
    nan_row[2] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH(token_nll(nan_row, 0), Catch::Contains("logit 2 is not finite"));
    CHECK_THROWS_WITH(token_nll(std::vector<float>{}, 0), Catch::Contains("outside [0, 0)"));
    std::vector<double> out;
    CHECK_THROWS_WITH(log_softmax(std::vector<float>{}, out), Catch::Contains("empty"));
}
