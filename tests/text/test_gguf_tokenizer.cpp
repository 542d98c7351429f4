// The tokenizer a GGUF file carries (io/gguf_vocab.hpp, text/gguf_tokenizer.hpp): written by dsv2
// from the DeepSeek tokenizer.json files and read back, it encodes and decodes as tokenizers 0.23.3
// does (the fixtures' expected.json); the file llama.cpp's converter writes for the same directory
// (tests/fixtures/gguf_tokenizer/, tools/fixtures/make_gguf_tokenizer_fixture.py) holds the same
// keys as dsv2's and gives the same answers; hostile keys are typed errors naming key and index.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "dsv2/io/gguf.hpp"
#include "dsv2/io/gguf_vocab.hpp"
#include "dsv2/io/gguf_writer.hpp"
#include "dsv2/text/gguf_tokenizer.hpp"
#include "support/temp_dir.hpp"
#include "text_support.hpp"

namespace {

using namespace dsv2_text_test;
using dsv2::io::gguf_vocab;

constexpr std::int64_t deepseek_v2_vocab_size = 102400;  // config.json of DeepSeek-V2 / V2-Lite

/// A GGUF file (no tensors) with the keys of `v`, then whatever `extra` adds.
std::filesystem::path write_vocab(const std::filesystem::path& path, const gguf_vocab& v,
                                  const std::function<void(dsv2::io::gguf_writer&)>& extra = {}) {
    dsv2::io::gguf_writer out(path);
    out.set_string("general.architecture", "deepseek2");
    v.write(out);
    if (extra) extra(out);
    out.write(dsv2::io::gguf_writer::producer([](const dsv2::io::gguf_tensor_plan&, dsv2::io::gguf_sink&) {}));
    return path;
}

gguf_vocab vocab_of(const std::string& model, std::int64_t vocab_size = deepseek_v2_vocab_size) {
    auto src = dsv2::io::gguf_vocab_from_hf(fixture_dir() / model, vocab_size);
    REQUIRE(src.not_written.empty());
    REQUIRE(src.vocab);
    return *src.vocab;
}

/// Every tokenizer key of two vocabularies is equal.
void check_same_keys(const gguf_vocab& a, const gguf_vocab& b) {
    CHECK(a.model == b.model);
    CHECK(a.pre == b.pre);
    REQUIRE(a.tokens.size() == b.tokens.size());
    for (std::size_t i = 0; i < a.tokens.size(); ++i) {
        if (a.tokens[i] != b.tokens[i] || a.token_types[i] != b.token_types[i]) {
            INFO("token " << i);
            CHECK(a.tokens[i] == b.tokens[i]);
            CHECK(a.token_types[i] == b.token_types[i]);
        }
    }
    CHECK(a.token_types == b.token_types);
    CHECK(a.merges == b.merges);
    CHECK(a.special_ids == b.special_ids);
    CHECK(a.add_special == b.add_special);
    CHECK(a.chat_template == b.chat_template);
}

}  // namespace

TEST_CASE("gguf tokenizer: the keys dsv2 writes for deepseek-v2 are llama.cpp's", "[text][gguf]") {
    const gguf_vocab v = vocab_of("deepseek-v2");
    CHECK(v.model == "gpt2");
    CHECK(v.pre == "deepseek-llm");
    REQUIRE(v.tokens.size() == static_cast<std::size_t>(deepseek_v2_vocab_size));
    CHECK(v.tokens[100000] == "<｜begin▁of▁sentence｜>");
    CHECK(v.token_types[100000] == 3);  // control
    CHECK(v.token_types[99999] == 1);
    CHECK(v.tokens[100002] == "[PAD100002]");
    CHECK(v.token_types[100002] == 5);  // unused
    CHECK(v.tokens.back() == "[PAD102399]");
    CHECK(v.merges.size() == 99757);
    CHECK(v.merges.front() == "Ġ Ġ");
    // tokenizer_config.json's bos/eos/pad tokens; the ByteLevel post-processor's add_bos false wins
    // over tokenizer_config.json's add_bos_token true, as in gguf-py's SpecialVocab
    using P = std::pair<std::string, std::uint32_t>;
    CHECK(v.special_ids == std::vector<P>{{"bos", 100000}, {"eos", 100001}, {"pad", 100001}});
    using B = std::pair<std::string, bool>;
    CHECK(v.add_special == std::vector<B>{{"bos", false}, {"eos", false}});
    REQUIRE(v.chat_template);
    CHECK(v.chat_template->find("Assistant:") != std::string::npos);
}

TEST_CASE("gguf tokenizer: deepseek-v2 written by dsv2 and read back matches tokenizers 0.23.3", "[text][gguf]") {
    dsv2_test::temp_dir dir;
    const gguf_vocab v = vocab_of("deepseek-v2");
    const auto path = write_vocab(dir.path / "v2.gguf", v);
    const auto file = dsv2::io::gguf_file::open(path);
    check_same_keys(dsv2::io::read_gguf_vocab(file), v);
    const auto tok = dsv2::tokenizer_from_gguf(file);
    CHECK(tok.source() == path.string());
    check_expected(tok, "deepseek-v2");
    // the unused [PAD<i>] tokens are no tokens of the tokenizer (as with the tokenizer.json)
    CHECK_THROWS_AS(tok.id_to_token(100002), dsv2::input_error);
    CHECK_FALSE(tok.token_to_id("[PAD100002]"));
}

TEST_CASE("gguf tokenizer: deepseek-v2.5 round trip matches tokenizers 0.23.3", "[text][gguf]") {
    dsv2_test::temp_dir dir;
    const gguf_vocab v = vocab_of("deepseek-v2.5");
    CHECK(v.pre == "deepseek-llm");
    const auto tok = dsv2::tokenizer_from_gguf(write_vocab(dir.path / "v25.gguf", v));
    // its non-special added tokens (<｜tool▁calls▁begin｜>, ...) look special: llama.cpp makes them
    // control tokens, so only skip_special_tokens differs from tokenizers
    check_expected(tok, "deepseek-v2.5", /*exact_special=*/false);
}

TEST_CASE("gguf tokenizer: deepseek-v3 round trip matches tokenizers 0.23.3", "[text][gguf]") {
    dsv2_test::temp_dir dir;
    const gguf_vocab v = vocab_of("deepseek-v3", 129280);
    CHECK(v.pre == "deepseek-v3");
    const auto tok = dsv2::tokenizer_from_gguf(write_vocab(dir.path / "v3.gguf", v));
    check_expected(tok, "deepseek-v3", /*exact_special=*/false);
}

namespace {

/// A small valid vocabulary: bytes "a", "b", "ab", a control token and an unused pad.
gguf_vocab small_vocab() {
    gguf_vocab v;
    v.pre = "gpt-2";
    v.tokens = {"a", "b", "ab", "<|end|>", "[PAD4]"};
    v.token_types = {1, 1, 1, 3, 5};
    v.merges = {"a b"};
    v.special_ids = {{"eos", 3}};
    return v;
}

/// The message of the error reading `v` (+ `extra`) gives; fails when it reads.
template <class Error>
std::string error_of(const gguf_vocab& v, const std::function<void(dsv2::io::gguf_writer&)>& extra = {}) {
    dsv2_test::temp_dir dir;
    const auto path = write_vocab(dir.path / "t.gguf", v, extra);
    try {
        (void)dsv2::tokenizer_from_gguf(path);
    } catch (const Error& e) {
        return e.what();
    }
    FAIL("no error");
    return {};
}

}  // namespace

TEST_CASE("gguf tokenizer: a small vocabulary reads", "[text][gguf]") {
    dsv2_test::temp_dir dir;
    const auto tok = dsv2::tokenizer_from_gguf(write_vocab(dir.path / "t.gguf", small_vocab()));
    CHECK(tok.encode("ab", false) == std::vector<std::int64_t>{2});
    CHECK(tok.encode("ba<|end|>", false) == std::vector<std::int64_t>{1, 0, 3});
    CHECK(tok.is_special(3));
    CHECK(tok.decode(std::vector<std::int64_t>{2, 3}, true) == "ab");
    CHECK(tok.vocab_size() == 4);
}

TEST_CASE("gguf tokenizer: hostile keys are typed errors naming the key", "[text][gguf]") {
    using dsv2::gguf_error;
    using dsv2::unsupported_error;
    auto v = small_vocab();
    SECTION("unknown pre") {
        v.pre = "llama-bpe";
        const auto m = error_of<unsupported_error>(v);
        CHECK_THAT(m, Catch::Contains("tokenizer.ggml.pre") && Catch::Contains("'llama-bpe'") && Catch::Contains("deepseek-llm"));
    }
    SECTION("unknown model") {
        v.model = "llama";
        CHECK_THAT(error_of<unsupported_error>(v), Catch::Contains("tokenizer.ggml.model") && Catch::Contains("'llama'"));
    }
    SECTION("model none") {
        v.model = "none";
        CHECK_THAT(error_of<unsupported_error>(v), Catch::Contains("carries no tokenizer"));
    }
    SECTION("token_type shorter than tokens") {
        v.token_types.pop_back();
        CHECK_THAT(error_of<gguf_error>(v), Catch::Contains("key 'tokenizer.ggml.token_type'") && Catch::Contains("has 4 entries") &&
                                                Catch::Contains("has 5"));
    }
    SECTION("token type out of range") {
        v.token_types[1] = 9;
        CHECK_THAT(error_of<gguf_error>(v), Catch::Contains("tokenizer.ggml.token_type") && Catch::Contains("element 1"));
    }
    SECTION("special id out of range") {
        v.special_ids = {{"bos", 5}};
        CHECK_THAT(error_of<gguf_error>(v), Catch::Contains("key 'tokenizer.ggml.bos_token_id'") && Catch::Contains("token id 5 is out of range"));
    }
    SECTION("merge of an unknown token") {
        v.merges = {"a b", "b c"};
        CHECK_THAT(error_of<gguf_error>(v), Catch::Contains("key 'tokenizer.ggml.merges'") && Catch::Contains("element 1") &&
                                                Catch::Contains("'c'"));
    }
    SECTION("merge without a space") {
        v.merges = {"ab"};
        CHECK_THAT(error_of<gguf_error>(v), Catch::Contains("tokenizer.ggml.merges") && Catch::Contains("element 0"));
    }
    SECTION("duplicate token") {
        v.tokens[2] = "a";
        CHECK_THAT(error_of<gguf_error>(v), Catch::Contains("tokenizer.ggml.tokens") && Catch::Contains("element 2") &&
                                                Catch::Contains("repeats element 0"));
    }
    SECTION("invalid UTF-8 token") {
        v.tokens[1] = "\xff";
        CHECK_THAT(error_of<gguf_error>(v), Catch::Contains("tokenizer.ggml.tokens") && Catch::Contains("invalid UTF-8"));
    }
    SECTION("missing pre") {
        dsv2_test::temp_dir dir;
        dsv2::io::gguf_writer out(dir.path / "t.gguf");
        out.set_string("tokenizer.ggml.model", "gpt2");
        out.write(dsv2::io::gguf_writer::producer([](const dsv2::io::gguf_tensor_plan&, dsv2::io::gguf_sink&) {}));
        CHECK_THROWS_WITH(dsv2::tokenizer_from_gguf(dir.path / "t.gguf"),
                          Catch::Contains("key 'tokenizer.ggml.pre'") && Catch::Contains("missing"));
    }
    SECTION("tokens not an array of strings") {
        dsv2_test::temp_dir dir;
        dsv2::io::gguf_writer out(dir.path / "t.gguf");
        out.set_string("tokenizer.ggml.model", "gpt2");
        out.set_string("tokenizer.ggml.pre", "gpt-2");
        const std::vector<std::int32_t> ints{1, 2};
        out.set_array("tokenizer.ggml.tokens", std::span<const std::int32_t>(ints));
        out.write(dsv2::io::gguf_writer::producer([](const dsv2::io::gguf_tensor_plan&, dsv2::io::gguf_sink&) {}));
        CHECK_THROWS_WITH(dsv2::tokenizer_from_gguf(dir.path / "t.gguf"),
                          Catch::Contains("key 'tokenizer.ggml.tokens'") && Catch::Contains("not an array of strings"));
    }
}

namespace {

std::vector<std::string> tokenizer_keys(const dsv2::io::gguf_file& f) {
    std::vector<std::string> keys;
    for (const auto& [key, value] : f.metadata())
        if (key.starts_with("tokenizer.")) keys.push_back(key);
    return keys;
}

}  // namespace

TEST_CASE("gguf tokenizer: llama.cpp's converter output reads, and dsv2 writes the same keys", "[text][gguf]") {
    // tests/fixtures/gguf_tokenizer: convert_hf_to_gguf.py --vocab-only on deepseek-v2/config.json
    // (vocab_size 100016) with the deepseek-v2 tokenizer files
    const auto fixture = std::filesystem::path(DSV2_FIXTURE_DIR) / "gguf_tokenizer";
    const auto llama = dsv2::io::gguf_file::open(fixture / "deepseek-v2-vocab.gguf");
    const gguf_vocab theirs = dsv2::io::read_gguf_vocab(llama);
    CHECK(theirs.pre == "deepseek-llm");
    CHECK(theirs.tokens.size() == 100016);
    check_expected(dsv2::tokenizer_from_gguf(llama), "deepseek-v2");

    // the same directory, as dsv2 reads it
    dsv2_test::temp_dir dir;
    std::filesystem::copy_file(fixture / "deepseek-v2" / "config.json", dir.path / "config.json");
    for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
        std::filesystem::copy_file(fixture_dir() / "deepseek-v2" / name, dir.path / name);
    const auto mine = dsv2::io::gguf_vocab_from_hf(dir.path, 100016);
    REQUIRE(mine.vocab);
    check_same_keys(*mine.vocab, theirs);
    // written: the same keys in the same order, each with the same type
    const auto path = write_vocab(dir.path / "mine.gguf", *mine.vocab);
    const auto written = dsv2::io::gguf_file::open(path);
    CHECK(tokenizer_keys(written) == tokenizer_keys(llama));
    for (const auto& key : tokenizer_keys(llama)) {
        INFO(key);
        REQUIRE(written.find(key));
        CHECK(written.at(key).described() == llama.at(key).described());
        CHECK(std::ranges::equal(written.at(key).raw(), llama.at(key).raw()));
    }
}
