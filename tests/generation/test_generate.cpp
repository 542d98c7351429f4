// generate(): greedy output equals transformers' generate(do_sample=False) token for token on the
// fixtures made for it (batch 3, left-padded prompts), with both cache layouts; sampling is seeded
// and reproducible and respects its filters; bad settings are input_errors.
#include <catch2/catch.hpp>

#include <set>

#include <dsv2/generation/byte_tokenizer.hpp>
#include <dsv2/generation/generate.hpp>

#include "support/fixtures.hpp"

TEMPLATE_TEST_CASE("greedy generate equals transformers", "[generate]", dsv2::default_spec, dsv2::expanded_cache_spec) {
    const auto manifest = dsv2_test::manifest();
    std::int64_t checked = 0;
    for (const auto& variant : manifest["variants"]) {
        for (const auto& cs : variant["cases"]) {
            if (cs["kind"] != "generate") continue;
            const auto dir = dsv2_test::fixture_dir() / variant["dir"].get<std::string>();
            INFO("variant " << variant["name"].get<std::string>());
            const auto lm = dsv2::DeepseekV2ForCausalLM<TestType>::from_pretrained(dir);
            const dsv2_test::case_file c{dsv2::io::safetensors_file::open(dir / cs["file"].get<std::string>())};
            const auto ids = c.i64("input_ids");
            const auto mask = c.i64("attention_mask");
            const auto want = c.i64("sequences");
            dsv2::generation_config gc{.max_new_tokens = cs["max_new_tokens"].get<std::int64_t>(), .eos_token_id = std::vector<std::int64_t>{}};
            std::int64_t streamed = 0;
            const auto out = dsv2::generate(lm, ids, &mask, gc, [&](const dsv2::generation_step& st) {
                CHECK(st.tokens.size() == 3);
                ++streamed;
            });
            CHECK(streamed == gc.max_new_tokens);
            REQUIRE(out.sequences.shape() == want.shape());
            for (std::int64_t i = 0; i < want.numel(); ++i) {
                INFO("position " << i);
                REQUIRE(out.sequences.data()[i] == want.data()[i]);
            }
            ++checked;
        }
    }
    CHECK(checked >= 2);
}

TEST_CASE("sampling is seeded, reproducible and filtered", "[generate]") {
    const auto lm = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(dsv2_test::fixture_dir() / "lite");
    const auto prompt = dsv2::tensor<std::int64_t>::rows({{5, 6, 7, 8}});
    dsv2::generation_config gc{.max_new_tokens = 16, .do_sample = true, .temperature = 0.9f, .top_k = 20, .top_p = 0.9f,
                               .min_p = 0.01f, .repetition_penalty = 1.1f, .seed = 1234, .eos_token_id = std::vector<std::int64_t>{}};
    const auto a = dsv2::generate(lm, prompt, nullptr, gc);
    const auto b = dsv2::generate(lm, prompt, nullptr, gc);
    CHECK(a.sequences.values().size() == 20);
    CHECK(std::equal(a.sequences.values().begin(), a.sequences.values().end(), b.sequences.values().begin()));
    gc.seed = 99;
    const auto c = dsv2::generate(lm, prompt, nullptr, gc);
    CHECK_FALSE(std::equal(a.sequences.values().begin(), a.sequences.values().end(), c.sequences.values().begin()));

    // top_k = 1 is greedy, whatever the temperature
    dsv2::generation_config k1{.max_new_tokens = 8, .do_sample = true, .temperature = 5.0f, .top_k = 1, .seed = 3,
                               .eos_token_id = std::vector<std::int64_t>{}};
    dsv2::generation_config greedy{.max_new_tokens = 8, .eos_token_id = std::vector<std::int64_t>{}};
    const auto g1 = dsv2::generate(lm, prompt, nullptr, k1);
    const auto g2 = dsv2::generate(lm, prompt, nullptr, greedy);
    CHECK(std::equal(g1.sequences.values().begin(), g1.sequences.values().end(), g2.sequences.values().begin()));
}

TEST_CASE("logits filters: top-k, top-p, min-p, repetition penalty", "[generate]") {
    std::mt19937_64 rng(1);
    const std::vector<float> base = {4.0f, 3.0f, 2.0f, -1.0f, -5.0f};
    dsv2::generation_config gc{.do_sample = true, .temperature = 1.0f, .top_k = 2};
    std::set<std::int64_t> seen;
    for (int i = 0; i < 300; ++i) {
        auto l = base;
        seen.insert(dsv2::sample(l, gc, rng));
    }
    CHECK(seen == std::set<std::int64_t>{0, 1});
    gc = {.do_sample = true, .temperature = 1.0f, .top_p = 0.5f};  // p(0) ≈ 0.66 ≥ 0.5: only token 0
    for (int i = 0; i < 50; ++i) {
        auto l = base;
        CHECK(dsv2::sample(l, gc, rng) == 0);
    }
    gc = {.do_sample = true, .temperature = 1.0f, .min_p = 0.3f};  // p1/p0 = e^-1 ≈ 0.37 stays, p2/p0 ≈ 0.14 goes
    seen.clear();
    for (int i = 0; i < 300; ++i) {
        auto l = base;
        seen.insert(dsv2::sample(l, gc, rng));
    }
    CHECK(seen == std::set<std::int64_t>{0, 1});
    std::vector<float> l = {2.0f, -2.0f, 1.0f};
    const std::vector<std::int64_t> hist = {0, 1, 1};
    dsv2::apply_repetition_penalty(l, hist, 2.0f);
    CHECK(l == std::vector<float>{1.0f, -4.0f, 1.0f});
}

TEST_CASE("generation settings out of range are input_errors", "[generate]") {
    const auto lm = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(dsv2_test::fixture_dir() / "lite");
    const auto prompt = dsv2::tensor<std::int64_t>::rows({{5, 6}});
    auto bad = [&](dsv2::generation_config gc, const char* field) {
        CHECK_THROWS_AS(dsv2::generate(lm, prompt, nullptr, gc), dsv2::input_error);
        CHECK_THROWS_WITH(dsv2::generate(lm, prompt, nullptr, gc), Catch::Contains(field));
    };
    bad({.max_new_tokens = 0}, "max_new_tokens");
    bad({.max_new_tokens = -3}, "max_new_tokens");
    bad({.top_p = 0.0f}, "top_p");
    bad({.top_p = 1.5f}, "top_p");
    bad({.temperature = -0.1f}, "temperature");
    bad({.min_p = 2.0f}, "min_p");
    bad({.repetition_penalty = 0.0f}, "repetition_penalty");
    bad({.max_new_tokens = 100000}, "max_position_embeddings");
}

TEST_CASE("byte tokenizer round-trips UTF-8 and knows its special ids", "[tokenizer]") {
    const dsv2::byte_tokenizer tok;
    const std::string text = "ROMEO: caf\xc3\xa9!\n";
    const auto ids = tok.encode(text);
    CHECK(ids.front() == 256);
    CHECK(ids.size() == text.size() + 1);
    CHECK(tok.decode(ids) == text);
    CHECK(tok.decode({256, 72, 105, 257, 258}) == "Hi");
    CHECK_THROWS_WITH(tok.decode({72, 300}), Catch::Contains("300") && Catch::Contains("[1]"));
}
