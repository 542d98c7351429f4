// dsv2::tokenizer's typed errors: unsupported components, malformed files, unknown tokens and ids,
// invalid UTF-8; and the accessors.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"
#include "text_support.hpp"

namespace {

using namespace dsv2_text_test;
using Catch::Contains;
using nlohmann::json;

/// A valid small tokenizer.json to mutate.
json small_json() { return read_json(fixture_dir() / "small" / "added_tokens_flags.json"); }

template <class E, class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    } catch (const std::exception& e) {
        FAIL("wrong exception type: " << e.what());
    }
    FAIL("no exception");
    return {};
}

}  // namespace

TEST_CASE("tokenizer errors: unsupported models and components name the component", "[text]") {
    for (const char* type : {"WordPiece", "Unigram", "WordLevel"}) {
        auto j = small_json();
        j["model"]["type"] = type;
        const auto msg = message_of<dsv2::unsupported_error>([&] { dsv2::tokenizer::from_json(j, "x/tokenizer.json"); });
        CHECK_THAT(msg, Contains(type) && Contains("model") && Contains("x/tokenizer.json"));
    }
    {
        auto j = small_json();
        j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({{{"type", "Whitespace"}}})}};
        const auto msg = message_of<dsv2::unsupported_error>([&] { dsv2::tokenizer::from_json(j); });
        CHECK_THAT(msg, Contains("Whitespace") && Contains("pre_tokenizer.pretokenizers[0]"));
    }
    {
        auto j = small_json();
        j["normalizer"] = {{"type", "NFKC"}};
        CHECK_THAT(message_of<dsv2::unsupported_error>([&] { dsv2::tokenizer::from_json(j); }), Contains("NFKC"));
    }
    {
        auto j = small_json();
        j["decoder"] = {{"type", "WordPiece"}, {"prefix", "##"}};
        CHECK_THAT(message_of<dsv2::unsupported_error>([&] { dsv2::tokenizer::from_json(j); }), Contains("decoder") && Contains("WordPiece"));
    }
    {
        auto j = small_json();
        j["post_processor"] = {{"type", "BertProcessing"}};
        CHECK_THAT(message_of<dsv2::unsupported_error>([&] { dsv2::tokenizer::from_json(j); }), Contains("BertProcessing"));
    }
    {
        auto j = small_json();
        j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}, {"invert", false}};
        CHECK_THAT(message_of<dsv2::unsupported_error>([&] { dsv2::tokenizer::from_json(j); }), Contains("(unclosed"));
    }
    {
        auto j = small_json();
        j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Sideways"}, {"invert", false}};
        CHECK_THAT(message_of<dsv2::unsupported_error>([&] { dsv2::tokenizer::from_json(j); }), Contains("Sideways"));
    }
    {
        auto j = small_json();
        j["truncation"] = {{"max_length", 5}};
        CHECK_THAT(message_of<dsv2::unsupported_error>([&] { dsv2::tokenizer::from_json(j); }), Contains("truncation"));
    }
}

TEST_CASE("tokenizer errors: files, JSON shape and merges give io_error naming the path and field", "[text]") {
    dsv2_test::temp_dir dir;
    const auto bad = dir.path / "tokenizer.json";
    std::ofstream(bad) << "{\"model\": {";
    CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_file(bad); }), Contains(bad.string()) && Contains("invalid JSON"));
    CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_file(dir.path / "missing.json"); }), Contains("missing.json"));
    CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_directory(dir.path / "nowhere"); }), Contains("nowhere"));

    CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_json(json::array({1, 2}), "t.json"); }),
               Contains("t.json") && Contains("object"));
    CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_json(json("text"), "t.json"); }), Contains("t.json"));
    {
        auto j = small_json();
        j.erase("model");
        CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_json(j, "t.json"); }), Contains("model: missing"));
    }
    {
        auto j = small_json();
        j["model"].erase("vocab");
        CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_json(j, "t.json"); }), Contains("model.vocab"));
    }
    {
        auto j = small_json();
        j["model"]["vocab"]["Ġthe"] = "seven";
        CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_json(j, "t.json"); }), Contains("model.vocab.Ġthe"));
    }
    {
        auto j = small_json();
        j["model"]["merges"].push_back("Ġthe nosuchtoken");
        const auto msg = message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_json(j, "t.json"); });
        CHECK_THAT(msg, Contains("nosuchtoken") && Contains("model.merges["));
    }
    {
        auto j = small_json();
        j["model"]["merges"].push_back(json::array({"zzunknown", "h"}));
        CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_json(j, "t.json"); }), Contains("zzunknown"));
    }
    {
        auto j = small_json();
        j["model"]["merges"].push_back("nospace");
        CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_json(j, "t.json"); }), Contains("nospace"));
    }
    {
        auto j = small_json();
        j["model"]["merges"].push_back("a c");  // both known, "ac" is not
        CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_json(j, "t.json"); }), Contains("'ac'"));
    }
    {
        auto j = small_json();
        j["model"]["unk_token"] = "<nope>";
        CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_json(j, "t.json"); }), Contains("<nope>"));
    }
    {
        auto j = small_json();
        j["added_tokens"][0].erase("content");
        CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_json(j, "t.json"); }), Contains("added_tokens[0].content"));
    }
    {
        auto j = small_json();
        j["added_tokens"][1]["id"] = -4;
        CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_json(j, "t.json"); }), Contains("added_tokens[1].id"));
    }
    {
        auto j = small_json();
        j["pre_tokenizer"] = {{"type", "Digits"}, {"individual_digits", "yes"}};
        CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_json(j, "t.json"); }), Contains("pre_tokenizer.individual_digits"));
    }
    {
        auto j = small_json();
        j["pre_tokenizer"] = {{"kind", "Digits"}};
        CHECK_THAT(message_of<dsv2::io_error>([&] { dsv2::tokenizer::from_json(j, "t.json"); }), Contains("pre_tokenizer.type"));
    }
}

TEST_CASE("tokenizer errors: decode ids out of range and invalid UTF-8 give input_error", "[text]") {
    const auto& tok = real_tokenizer("deepseek-v3");
    const std::vector<std::int64_t> ids{19923, 2058, 999999, 3};
    auto msg = message_of<dsv2::input_error>([&] { (void)tok.decode(ids); });
    CHECK_THAT(msg, Contains("999999") && Contains("[2]") && Contains("ids"));
    const std::vector<std::int64_t> negative{-1};
    CHECK_THAT(message_of<dsv2::input_error>([&] { (void)tok.decode(negative); }), Contains("-1") && Contains("[0]"));
    CHECK_THAT(message_of<dsv2::input_error>([&] { (void)tok.id_to_token(tok.vocab_size()); }), Contains(std::to_string(tok.vocab_size())));

    msg = message_of<dsv2::input_error>([&] { (void)tok.encode(std::string("ok \xC3\x28 bad")); });
    CHECK_THAT(msg, Contains("byte 3") && Contains("text"));
    CHECK_THROWS_AS(tok.encode(std::string("\xED\xA0\x80")), dsv2::input_error);  // a surrogate
    CHECK_THROWS_AS(tok.encode(std::string("abc\xF0\x9F\x98")), dsv2::input_error);  // cut at the end
    CHECK(tok.encode(std::string("nul\0inside", 10)).size() > 2);
}

TEST_CASE("tokenizer: accessors", "[text]") {
    const auto& tok = real_tokenizer("deepseek-v3");
    CHECK(tok.vocab_size() == 128815);
    CHECK(tok.token_to_id("<｜begin▁of▁sentence｜>") == 0);
    CHECK(tok.id_to_token(0) == "<｜begin▁of▁sentence｜>");
    CHECK(tok.is_special(0));
    CHECK_FALSE(tok.is_special(19923));
    CHECK_FALSE(tok.token_to_id("definitely not a token"));
    const std::vector<std::int64_t> ids{0, 19923, 1};
    CHECK(tok.decode(ids, true) == tok.decode(std::vector<std::int64_t>{19923}));
}
