// dsv2::tokenizer against Hugging Face `tokenizers` 0.23.3 (tests/fixtures/tokenizers, written by
// tools/fixtures/make_tokenizer_fixtures.py): the real DeepSeek files and the small hand-made ones.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "text_support.hpp"

namespace {

using namespace dsv2_text_test;

/// Checks one case object: ids, ids without special tokens, decodes and the roundtrip flag.
void check_case(const dsv2::tokenizer& tok, const nlohmann::json& c, const std::string& text) {
    const auto ids = ids_of(c["ids"]);
    CHECK(tok.encode(text, true) == ids);
    const auto ids_ns = c["ids_no_special"].is_null() ? ids : ids_of(c["ids_no_special"]);
    CHECK(tok.encode(text, false) == ids_ns);
    const std::string dec = c["decode"].is_null() ? text : c["decode"].get<std::string>();
    const std::string dec_skip = c["decode_skip"].is_null() ? text : c["decode_skip"].get<std::string>();
    CHECK(tok.decode(ids, false) == dec);
    CHECK(tok.decode(ids, true) == dec_skip);
    if (c.contains("roundtrip")) CHECK((tok.decode(tok.encode(text, false)) == text) == c["roundtrip"].get<bool>());
}

void check_model(const std::string& model) {
    const auto expected = read_json(fixture_dir() / model / "expected.json");
    const auto& tok = real_tokenizer(model);
    REQUIRE(expected["tokenizers"] == "0.23.3");
    CHECK(tok.vocab_size() == expected["vocab_size"].get<std::int64_t>());
    for (const auto& c : expected["cases"]) {
        const std::string name = c["name"];
        INFO(model << " case " << name);
        check_case(tok, c, c["text"].get<std::string>());
    }
    const std::string corpus = read_file(fixture_dir() / "corpus.txt");
    for (const auto& c : expected["long_cases"]) {
        const std::string name = c["name"];
        INFO(model << " long case " << name);
        const auto b = c["corpus_range"][0].get<std::size_t>(), e = c["corpus_range"][1].get<std::size_t>();
        REQUIRE(e <= corpus.size());
        const std::string text = corpus.substr(b, e - b);
        CHECK(text.size() > 20000);
        check_case(tok, c, text);
    }
    for (const auto& c : expected["decode_cases"]) {
        const std::string name = c["name"];
        INFO(model << " decode case " << name);
        const auto ids = ids_of(c["ids"]);
        CHECK(tok.decode(ids, false) == c["decode"].get<std::string>());
        CHECK(tok.decode(ids, true) == c["decode_skip"].get<std::string>());
    }
    for (const auto& t : expected["token_checks"]) {
        const auto id = t["id"].get<std::int64_t>();
        const std::string token = t["token"];
        INFO(model << " token " << id);
        CHECK(tok.id_to_token(id) == token);
        CHECK(tok.token_to_id(token) == id);
    }
    for (const auto& id : expected["special_ids"]) CHECK(tok.is_special(id.get<std::int64_t>()));
    for (const auto& id : expected["non_special_added_ids"]) CHECK_FALSE(tok.is_special(id.get<std::int64_t>()));
}

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
