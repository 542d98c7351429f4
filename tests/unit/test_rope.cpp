// RoPE: default and yarn frequencies against hand values and DeepSeek-V2's published check values.
#include <catch2/catch.hpp>

#include <cmath>

#include <dsv2/attention/rope.hpp>
#include <dsv2/models/presets.hpp>

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

TEST_CASE("rope default: inv_freq = theta^(-2i/d)", "[rope]") {
    dsv2::DeepseekV2Config cfg{.qk_rope_head_dim = 8};
    const auto t = dsv2::rope_table::from_config(cfg);
    REQUIRE(t.inv_freq.size() == 4);
    CHECK_THAT(t.inv_freq[0], WithinRel(1.0f, 1e-7f));
    CHECK_THAT(t.inv_freq[1], WithinRel(0.1f, 1e-6f));
    CHECK_THAT(t.inv_freq[2], WithinRel(0.01f, 1e-6f));
    CHECK_THAT(t.inv_freq[3], WithinRel(0.001f, 1e-6f));
    CHECK(t.attention_factor == 1.0f);
}

TEST_CASE("rope yarn: DeepSeek-V2 / Lite check values", "[rope][yarn]") {
    for (const auto& cfg : {dsv2::presets::deepseek_v2(), dsv2::presets::deepseek_v2_lite()}) {
        const auto t = dsv2::rope_table::from_config(cfg);
        REQUIRE(t.inv_freq.size() == 32);
        CHECK(t.yarn_low == 10.0);
        CHECK(t.yarn_high == 23.0);
        CHECK_THAT(t.inv_freq[0], WithinRel(1.0f, 1e-6f));
        CHECK_THAT(t.inv_freq[10], WithinRel(0.05623413f, 1e-6f));
        CHECK_THAT(t.inv_freq[16], WithinRel(0.0055f, 1e-3f));
        CHECK_THAT(t.inv_freq[23], WithinRel(3.333804e-5f, 1e-6f));
        CHECK_THAT(t.inv_freq[31], WithinRel(3.333804e-6f, 1e-6f));
        // mscale == mscale_all_dim: the cos/sin factor is exactly 1, the m² goes to the softmax scale
        CHECK(t.attention_factor == 1.0f);
        CHECK_THAT(cfg.softmax_scale(), WithinRel(0.1147213867929261, 1e-12));
    }
}

TEST_CASE("rope yarn: attention factor is the mscale ratio, or m(f) without mscales", "[rope][yarn]") {
    dsv2::DeepseekV2Config cfg{.qk_rope_head_dim = 8};
    cfg.rope_parameters = {.rope_type = "yarn", .factor = 4.0, .original_max_position_embeddings = 512,
                           .mscale = 1.0, .mscale_all_dim = 0.5};
    const double f = 4.0;
    auto t = dsv2::rope_table::from_config(cfg);
    CHECK_THAT(t.attention_factor, WithinRel(static_cast<float>((0.1 * std::log(f) + 1) / (0.05 * std::log(f) + 1)), 1e-6f));
    cfg.rope_parameters.mscale.reset();
    cfg.rope_parameters.mscale_all_dim.reset();
    t = dsv2::rope_table::from_config(cfg);
    CHECK_THAT(t.attention_factor, WithinRel(static_cast<float>(0.1 * std::log(f) + 1), 1e-6f));
    CHECK_THAT(cfg.softmax_scale(), WithinRel(1.0 / std::sqrt(double(cfg.qk_head_dim())), 1e-12));  // no mscale_all_dim: no m²
    cfg.rope_parameters.attention_factor = 0.5;
    CHECK(dsv2::rope_table::from_config(cfg).attention_factor == 0.5f);
}

TEST_CASE("rope yarn: factor defaults to max_position_embeddings / original", "[rope][yarn]") {
    dsv2::DeepseekV2Config cfg{.max_position_embeddings = 2048, .qk_rope_head_dim = 16};
    cfg.rope_parameters = {.rope_type = "yarn", .original_max_position_embeddings = 512};
    CHECK(cfg.yarn_factor() == 4.0);
    const auto t = dsv2::rope_table::from_config(cfg);
    // the lowest frequency is fully interpolated: 1/(4·theta^(14/16))
    CHECK_THAT(t.inv_freq[7], WithinRel(static_cast<float>(1.0 / (4.0 * std::pow(10000.0, 14.0 / 16.0))), 1e-6f));
    CHECK_THAT(t.inv_freq[0], WithinRel(1.0f, 1e-7f));  // the highest is untouched
}

TEST_CASE("rope rotates adjacent pairs by position · inv_freq", "[rope]") {
    dsv2::DeepseekV2Config cfg{.qk_rope_head_dim = 4};
    const auto t = dsv2::rope_table::from_config(cfg);  // inv_freq = {1, 0.01}
    float c[2], s[2];
    t.cos_sin(0, c, s);
    float x0[4] = {1, 2, 3, 4};
    dsv2::rope_table::rotate(x0, c, s, 2);
    CHECK(x0[0] == 1.0f);  // position 0 is the identity
    CHECK(x0[3] == 4.0f);
    t.cos_sin(3, c, s);
    float x[4] = {1, 0, 0, 1};
    dsv2::rope_table::rotate(x, c, s, 2);
    CHECK_THAT(x[0], WithinAbs(std::cos(3.0), 1e-6));  // (1,0) by 3 rad
    CHECK_THAT(x[1], WithinAbs(std::sin(3.0), 1e-6));
    CHECK_THAT(x[2], WithinAbs(-std::sin(0.03), 1e-6));  // (0,1) by 0.03 rad
    CHECK_THAT(x[3], WithinAbs(std::cos(0.03), 1e-6));
}
