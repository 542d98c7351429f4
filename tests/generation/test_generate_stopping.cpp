// When generate() stops: eos (finished rows padded), min_new_tokens (eos suppressed — checked
// against a reference that masks the logit itself on full forwards), stop strings on decoded text
// (the demo model's greedy continuation, written by transformers), a callback that stops, and the
// errors. Expected tokens come from the transformers fixtures, never from generate() itself.
#include <catch2/catch.hpp>

#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <dsv2/generation/byte_tokenizer.hpp>
#include <dsv2/generation/generate.hpp>

#include "support/fixtures.hpp"

namespace {

struct lite_case {
    dsv2::tensor<std::int64_t> ids, mask, want;  // want: transformers' greedy sequences [3, 17 + 12]
};

lite_case lite_generate_case() {
    const auto dir = dsv2_test::fixture_dir() / "lite";
    const dsv2_test::case_file c{dsv2::io::safetensors_file::open(dir / "generate.safetensors")};
    return {c.i64("input_ids"), c.i64("attention_mask"), c.i64("sequences")};
}

const dsv2::DeepseekV2ForCausalLM<>& lite_model() {
    static const auto lm = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(dsv2_test::fixture_dir() / "lite");
    return lm;
}

/// examples/models/shakespeare/generate.json: transformers' greedy continuation of the demo model.
nlohmann::json demo_sample() {
    std::ifstream f(std::filesystem::path(DSV2_SOURCE_DIR) / "examples/models/shakespeare/generate.json");
    REQUIRE(f.good());
    return nlohmann::json::parse(f)["samples"][0];
}

}  // namespace

TEST_CASE("eos stops a row exactly there; finished rows are padded; generation ends when all have", "[generate][stop]") {
    const auto c = lite_generate_case();
    const std::int64_t S = c.ids.dim(1), B = c.ids.dim(0);
    // eos ids chosen from transformers' greedy output: 72 is row 0's 5th new token, 249 row 1's 1st
    // and row 2's 11th — so every row finishes and generation ends after step 10 (11 new tokens).
    const std::vector<std::int64_t> eos = {72, 249};
    auto first_eos = [&](std::int64_t b) {
        for (std::int64_t k = 0; k < c.want.dim(1) - S; ++k)
            if (std::find(eos.begin(), eos.end(), c.want(b, S + k)) != eos.end()) return k;
        return std::int64_t{-1};
    };
    REQUIRE(first_eos(0) == 4);
    REQUIRE(first_eos(1) == 0);
    REQUIRE(first_eos(2) == 10);
    const std::int64_t pad = 7;
    const dsv2::generation_config gc{.max_new_tokens = 12, .eos_token_id = eos, .pad_token_id = pad};
    const auto out = dsv2::generate(lite_model(), c.ids, &c.mask, gc);
    CHECK(out.new_tokens == 11);
    REQUIRE(out.sequences.shape() == dsv2::shape_t{B, S + 11});
    for (std::int64_t b = 0; b < B; ++b) {
        INFO("row " << b);
        CHECK(out.finish_reasons[static_cast<std::size_t>(b)] == dsv2::finish_reason::eos);
        for (std::int64_t k = 0; k < S + 11; ++k) {
            INFO("position " << k);
            const std::int64_t want = k < S || k - S <= first_eos(b) ? c.want(b, k) : pad;
            CHECK(out.sequences(b, k) == want);
        }
    }
}

TEST_CASE("min_new_tokens suppresses eos until that many tokens were produced", "[generate][stop]") {
    const auto& lm = lite_model();
    const auto c = lite_generate_case();
    // row 1 of the fixture: no padding; its first greedy token (249) is made the eos id
    const std::int64_t S = c.ids.dim(1);
    std::vector<std::int64_t> prompt;
    for (std::int64_t s = 0; s < S; ++s) prompt.push_back(c.ids(1, s));
    const std::int64_t eos = c.want(1, S);
    const std::int64_t min_new = 3, max_new = 6;

    // reference: full forwards (no cache), eos logit set to −inf by hand for the first min_new steps
    std::vector<std::int64_t> seq = prompt, ref;
    for (std::int64_t step = 0; step < max_new; ++step) {
        const auto n = static_cast<std::int64_t>(seq.size());
        const dsv2::tensor<std::int64_t> ids({1, n}, seq);
        const auto logits = lm.forward({.input_ids = &ids}).logits;  // [1, n, V]
        const std::int64_t V = logits.dim(2);
        std::vector<float> row(logits.data() + (n - 1) * V, logits.data() + n * V);
        if (step < min_new) row[static_cast<std::size_t>(eos)] = -std::numeric_limits<float>::infinity();
        const auto best = static_cast<std::int64_t>(std::max_element(row.begin(), row.end()) - row.begin());
        seq.push_back(best);
        ref.push_back(best);
        if (best == eos) break;
    }
    REQUIRE(ref.front() != eos);  // the suppression changed the first token

    const dsv2::tensor<std::int64_t> ids({1, S}, prompt);
    const dsv2::generation_config gc{.max_new_tokens = max_new, .eos_token_id = std::vector<std::int64_t>{eos},
                                     .min_new_tokens = min_new};
    const auto out = dsv2::generate(lm, ids, nullptr, gc);
    REQUIRE(out.new_tokens == static_cast<std::int64_t>(ref.size()));
    for (std::size_t k = 0; k < ref.size(); ++k) {
        INFO("new token " << k);
        CHECK(out.sequences(0, S + static_cast<std::int64_t>(k)) == ref[k]);
    }
    // without it, the first token is the eos and generation ends at once
    const auto plain = dsv2::generate(lm, ids, nullptr, {.max_new_tokens = max_new, .eos_token_id = std::vector<std::int64_t>{eos}});
    CHECK(plain.new_tokens == 1);
    CHECK(plain.finish_reasons[0] == dsv2::finish_reason::eos);
}

TEST_CASE("stop strings end a row when its decoded text reaches them", "[generate][stop]") {
    const auto lm = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(std::filesystem::path(DSV2_SOURCE_DIR) / "examples/models/shakespeare");
    const auto sample = demo_sample();
    const auto prompt_ids = sample["input_ids"].get<std::vector<std::int64_t>>();
    const auto want_new = sample["new_ids"].get<std::vector<std::int64_t>>();
    const std::string text(want_new.begin(), want_new.end());  // byte ids: the continuation's text
    const auto S = static_cast<std::int64_t>(prompt_ids.size());
    const dsv2::tensor<std::int64_t> ids({1, S}, prompt_ids);
    const dsv2::byte_tokenizer tok;

    auto run = [&](std::vector<std::string> stops, std::int64_t max_new) {
        dsv2::generation_config gc{.max_new_tokens = max_new, .stop_strings = std::move(stops)};
        std::string streamed;
        auto out = dsv2::generate(lm, ids, nullptr, gc, [&](const dsv2::generation_step& st) { streamed += st.text[0]; },
                                  tok.text_decoders());
        return std::pair{std::move(out), streamed};
    };
    for (const std::string stop : {"hast", "thou h", "stands\nT"}) {
        INFO("stop string '" << stop << "'");
        const std::size_t end = text.find(stop);
        REQUIRE(end != std::string::npos);
        const auto n = static_cast<std::int64_t>(end + stop.size());  // tokens up to the string's last byte
        const auto [out, streamed] = run({"no such text", stop}, 64);
        CHECK(out.new_tokens == n);
        CHECK(out.finish_reasons[0] == dsv2::finish_reason::stop_string);
        CHECK(streamed == text.substr(0, static_cast<std::size_t>(n)));
        for (std::int64_t k = 0; k < n; ++k) CHECK(out.sequences(0, S + k) == want_new[static_cast<std::size_t>(k)]);
    }
    // the prompt's text ("ROMEO:\n") is not searched; a string never produced does not stop
    const auto [out, streamed] = run({"ROMEO", "zzz"}, 20);
    CHECK(out.new_tokens == 20);
    CHECK(out.finish_reasons[0] == dsv2::finish_reason::length);
    CHECK(streamed == text.substr(0, 20));
}

TEST_CASE("stop-string matching follows transformers' StopStringCriteria examples", "[generate][stop]") {
    auto stops_at = [](std::vector<std::string> pieces) {
        dsv2::stop_string_matcher m({"stop"});
        for (std::size_t i = 0; i < pieces.size(); ++i)
            if (m.push(pieces[i])) return static_cast<int>(i);
        return -1;
    };
    // these trigger on the last piece (the string may start earlier and overhang the piece's end)
    CHECK(stops_at({"st", "op"}) == 1);
    CHECK(stops_at({"stop"}) == 0);
    CHECK(stops_at({"st", "opera"}) == 1);
    CHECK(stops_at({"sto", "pper"}) == 1);
    CHECK(stops_at({"las", "topper"}) == 1);
    CHECK(stops_at({"s", "to", "pped"}) == 2);
    CHECK(stops_at({"x", "", "s", "", "top"}) == 4);  // empty pieces (held-back bytes) change nothing
    CHECK(stops_at({"sto", "sto", "p"}) == 2);
    CHECK(stops_at({"sp", "ot"}) == -1);
    // a match ends inside the piece that completes it, so it is seen on that piece, not later
    CHECK(stops_at({"stop", "at"}) == 0);
}

TEST_CASE("byte text decoder never returns half a UTF-8 character", "[generate][tokenizer]") {
    dsv2::byte_text_decoder d;
    const std::string cafe = "caf\xc3\xa9 \xe2\x82\xac!";  // "café €!"
    std::vector<std::string> pieces;
    for (unsigned char ch : cafe) pieces.push_back(d.push(ch));
    CHECK(pieces == std::vector<std::string>{"c", "a", "f", "", "\xc3\xa9", " ", "", "", "\xe2\x82\xac", "!"});
    CHECK(d.push(256) == "");  // special ids add no text
    CHECK(d.push(0xC3) == "");
    CHECK(d.push('x') == "\xc3x");  // a broken sequence is passed through as it is
}

TEST_CASE("a step callback can stop generation; void callbacks still work", "[generate][stop]") {
    const auto c = lite_generate_case();
    const std::int64_t S = c.ids.dim(1);
    const dsv2::generation_config gc{.max_new_tokens = 12, .eos_token_id = std::vector<std::int64_t>{}};
    std::int64_t calls = 0;
    const auto out = dsv2::generate(lite_model(), c.ids, &c.mask, gc, [&](const dsv2::generation_step& st) {
        ++calls;
        CHECK(st.text.empty());  // no text decoder
        return st.step == 2 ? dsv2::generation_control::stop : dsv2::generation_control::proceed;
    });
    CHECK(calls == 3);
    CHECK(out.new_tokens == 3);
    REQUIRE(out.sequences.shape() == dsv2::shape_t{3, S + 3});
    for (std::int64_t b = 0; b < 3; ++b) {
        CHECK(out.finish_reasons[static_cast<std::size_t>(b)] == dsv2::finish_reason::callback);
        for (std::int64_t k = 0; k < S + 3; ++k) CHECK(out.sequences(b, k) == c.want(b, k));
    }
    const std::function<void(const dsv2::generation_step&)> plain = [&](const dsv2::generation_step&) { ++calls; };
    calls = 0;
    CHECK(dsv2::generate(lite_model(), c.ids, &c.mask, {.max_new_tokens = 2, .eos_token_id = std::vector<std::int64_t>{}}, plain)
              .new_tokens == 2);
    CHECK(calls == 2);
    const std::function<void(const dsv2::generation_step&)> empty;
    CHECK(dsv2::generate(lite_model(), c.ids, &c.mask, {.max_new_tokens = 2, .eos_token_id = std::vector<std::int64_t>{}}, empty)
              .new_tokens == 2);
}

TEST_CASE("stopping settings out of range are input_errors naming them", "[generate][stop]") {
    const auto prompt = dsv2::tensor<std::int64_t>::rows({{5, 6}});
    const dsv2::byte_tokenizer tok;
    auto bad = [&](const dsv2::generation_config& gc, const dsv2::text_decoder_factory& dec, const char* field) {
        CHECK_THROWS_AS(dsv2::generate(lite_model(), prompt, nullptr, gc, {}, dec), dsv2::input_error);
        CHECK_THROWS_WITH(dsv2::generate(lite_model(), prompt, nullptr, gc, {}, dec), Catch::Contains(field));
    };
    bad({.stop_strings = {"x"}}, {}, "stop_strings");                     // no decoder to match text with
    bad({.stop_strings = {"x", ""}}, tok.text_decoders(), "stop_strings"); // an empty string
    bad({.min_new_tokens = -1}, {}, "min_new_tokens");
    const dsv2::text_decoder_factory none = [] { return std::unique_ptr<dsv2::incremental_text_decoder>(); };
    bad({.stop_strings = {"x"}}, none, "decoders");
}

TEST_CASE("prepend_bos adds bos once", "[generate]") {
    CHECK(dsv2::prepend_bos({5, 6}, 1) == std::vector<std::int64_t>{1, 5, 6});
    CHECK(dsv2::prepend_bos({1, 5}, 1) == std::vector<std::int64_t>{1, 5});
    CHECK(dsv2::prepend_bos({5}, std::nullopt) == std::vector<std::int64_t>{5});
    CHECK(dsv2::prepend_bos({}, 1) == std::vector<std::int64_t>{1});
}
