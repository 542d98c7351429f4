// dsv2::tokenizer against Hugging Face `tokenizers` 0.23.3 (tests/fixtures/tokenizers, written by
// tools/fixtures/make_tokenizer_fixtures.py): the real DeepSeek files and the small hand-made ones.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "text_support.hpp"

namespace {

using namespace dsv2_text_test;

void check_model(const std::string& model) { check_expected(real_tokenizer(model), model); }

}  // namespace

TEST_CASE("tokenizer: deepseek-v2 matches tokenizers 0.23.3", "[text]") { check_model("deepseek-v2"); }
TEST_CASE("tokenizer: deepseek-v2.5 matches tokenizers 0.23.3", "[text]") { check_model("deepseek-v2.5"); }
TEST_CASE("tokenizer: deepseek-v3 matches tokenizers 0.23.3", "[text]") { check_model("deepseek-v3"); }

TEST_CASE("tokenizer: small tokenizer.json files match tokenizers 0.23.3", "[text]") {
    const auto expected = read_json(fixture_dir() / "small" / "expected.json");
    REQUIRE(expected["files"].size() >= 30);
    for (const auto& f : expected["files"]) {
        const std::string file = f["file"];
        const auto tok = dsv2::tokenizer::from_file(fixture_dir() / "small" / file);
        INFO("file " << file);
        CHECK(tok.vocab_size() == f["vocab_size"].get<std::int64_t>());
        for (const auto& c : f["cases"]) {
            const std::string text = c["text"];
            INFO("text '" << text << "'");
            check_case(tok, c, text);
        }
    }
}

TEST_CASE("tokenizer: the DeepSeek files add no BOS (ByteLevel post-processor), as tokenizers does", "[text]") {
    for (const char* model : {"deepseek-v2", "deepseek-v2.5", "deepseek-v3"}) {
        const auto& tok = real_tokenizer(model);
        const auto bos = tok.token_to_id("<｜begin▁of▁sentence｜>");
        REQUIRE(bos);
        CHECK(tok.is_special(*bos));
        const auto ids = tok.encode("Hello", true);
        CHECK(ids == tok.encode("Hello", false));
        CHECK(ids.front() != *bos);
        CHECK(tok.encode("", true).empty());
    }
}
