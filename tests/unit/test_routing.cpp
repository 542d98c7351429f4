// Routers: greedy and group-limited selection, ties, group masking (max, not V3's top-2 sum),
// weight scaling and normalisation, and the spec/config consistency check.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <vector>

#include <dsv2/moe/routers/from_config/policy.hpp>

using Catch::Matchers::Contains;
using Catch::Matchers::WithinRel;

namespace {
std::set<std::int64_t> chosen(const std::vector<std::int64_t>& idx) { return {idx.begin(), idx.end()}; }
}

TEST_CASE("greedy: top-k of all experts, ties to the lower index", "[router]") {
    dsv2::routing_params p{.method = dsv2::routing_method::greedy, .experts = 6, .top_k = 2, .routed_scaling_factor = 1.0f};
    const std::vector<float> probs = {0.1f, 0.3f, 0.05f, 0.3f, 0.2f, 0.05f};
    std::vector<std::int64_t> idx(2);
    std::vector<float> w(2);
    dsv2::router_greedy::pick(p, probs, idx.data(), w.data());
    CHECK(chosen(idx) == std::set<std::int64_t>{1, 3});
    p.top_k = 3;
    idx.resize(3);
    w.resize(3);
    dsv2::router_greedy::pick(p, probs, idx.data(), w.data());
    CHECK(chosen(idx) == std::set<std::int64_t>{1, 3, 4});
    const std::vector<float> tie = {0.25f, 0.25f, 0.25f, 0.25f, 0.0f, 0.0f};
    dsv2::router_greedy::pick(p, tie, idx.data(), w.data());
    CHECK(chosen(idx) == std::set<std::int64_t>{0, 1, 2});  // the lower indices win ties
}

TEST_CASE("weights: scaled by routed_scaling_factor, or renormalised without it", "[router]") {
    dsv2::routing_params p{.method = dsv2::routing_method::greedy, .experts = 4, .top_k = 2, .routed_scaling_factor = 16.0f};
    const std::vector<float> probs = {0.1f, 0.6f, 0.2f, 0.1f};
    std::vector<std::int64_t> idx(2);
    std::vector<float> w(2);
    dsv2::router_greedy::pick(p, probs, idx.data(), w.data());
    const float w1 = idx[0] == 1 ? w[0] : w[1], w2 = idx[0] == 1 ? w[1] : w[0];
    CHECK_THAT(w1, WithinRel(9.6f, 1e-6f));
    CHECK_THAT(w2, WithinRel(3.2f, 1e-6f));
    p.norm_topk_prob = true;  // DeepSeek's rule: w / (Σw + 1e-20) and no scaling factor
    dsv2::router_greedy::pick(p, probs, idx.data(), w.data());
    CHECK_THAT(w[0] + w[1], WithinRel(1.0f, 1e-6f));
    CHECK_THAT(std::max(w[0], w[1]), WithinRel(0.75f, 1e-6f));
}

TEST_CASE("group_limited_greedy: groups score by their max, others are masked", "[router]") {
    // 3 groups of 3. Group 0 has the largest single expert (0.30) but a small sum; group 1 has the
    // largest top-2 sum (0.25 + 0.24) — the V3 rule would keep group 1; V2 (max) keeps group 0.
    const std::vector<float> probs = {0.30f, 0.01f, 0.01f, 0.25f, 0.24f, 0.01f, 0.06f, 0.06f, 0.06f};
    dsv2::routing_params p{.method = dsv2::routing_method::group_limited_greedy, .experts = 9, .top_k = 2,
                           .n_group = 3, .topk_group = 1, .routed_scaling_factor = 1.0f};
    std::vector<std::int64_t> idx(2);
    std::vector<float> w(2);
    dsv2::router_group_limited_greedy::pick(p, probs, idx.data(), w.data());
    CHECK(chosen(idx) == std::set<std::int64_t>{0, 1});  // both from group 0, although 3 and 4 are larger than 1
    p.topk_group = 2;  // groups 0 and 1 stay
    dsv2::router_group_limited_greedy::pick(p, probs, idx.data(), w.data());
    CHECK(chosen(idx) == std::set<std::int64_t>{0, 3});
    // the config-following router gives the same answer
    std::vector<std::int64_t> idx2(2);
    dsv2::router_from_config::pick(p, probs, idx2.data(), w.data());
    CHECK(chosen(idx2) == chosen(idx));
}

TEST_CASE("a fixed router policy rejects a config that routes otherwise", "[router]") {
    dsv2::DeepseekV2Config cfg{.n_group = 2, .n_routed_experts = 4, .topk_group = 1, .topk_method = "group_limited_greedy",
                                .num_experts_per_tok = 2};
    CHECK_THROWS_AS(dsv2::router_greedy::check(cfg), dsv2::config_error);
    CHECK_THROWS_WITH(dsv2::router_greedy::check(cfg), Contains("topk_method") && Contains("router_from_config"));
    CHECK_NOTHROW(dsv2::router_group_limited_greedy::check(cfg));
    CHECK_NOTHROW(dsv2::router_from_config::check(cfg));
    cfg.topk_method = "noaux_tc";
    CHECK_THROWS_WITH(dsv2::router_from_config::check(cfg), Contains("noaux_tc"));
}
