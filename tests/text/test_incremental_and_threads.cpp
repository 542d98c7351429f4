// incremental_decoder (streaming) and concurrent encode on one tokenizer.
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

#include "dsv2/text/utf8.hpp"
#include "text_support.hpp"

namespace {

using namespace dsv2_text_test;

/// True when `s` is valid UTF-8 (so it does not end inside a character).
bool valid_utf8(const std::string& s) { return !dsv2::text::utf8_first_invalid(s); }

}  // namespace

TEST_CASE("incremental_decoder: token-by-token text concatenates to decode(all), never half a character", "[text]") {
    for (const char* model : {"deepseek-v2", "deepseek-v3"}) {
        const auto expected = read_json(fixture_dir() / model / "expected.json");
        const auto& tok = real_tokenizer(model);
        int multi_byte_splits = 0;
        for (const auto& c : expected["cases"]) {
            const auto ids = ids_of(c["ids"]);
            const std::string want = c["decode"].is_null() ? c["text"].get<std::string>() : c["decode"].get<std::string>();
            for (bool skip : {false, true}) {
                dsv2::incremental_decoder stream(tok, skip);
                std::string got;
                for (auto id : ids) {
                    const std::string piece = stream.push(id);
                    INFO(model << " " << c["name"].get<std::string>() << " id " << id);
                    CHECK(valid_utf8(piece));
                    if (piece.empty()) ++multi_byte_splits;
                    got += piece;
                }
                got += stream.flush();
                CHECK(got == tok.decode(ids, skip));
                if (!skip) CHECK(got == want);
            }
        }
        CHECK(multi_byte_splits > 10);  // the corpus does cut characters across tokens
    }
}

TEST_CASE("incremental_decoder: an incomplete character is held back, flush gives U+FFFD", "[text]") {
    const auto& tok = real_tokenizer("deepseek-v3");
    const auto ids = tok.encode("😀", false);
    REQUIRE(ids.size() >= 2);
    dsv2::incremental_decoder stream(tok);
    CHECK(stream.push(ids[0]).empty());
    CHECK(stream.flush() == tok.decode(std::vector<std::int64_t>{ids[0]}));
    CHECK_THROWS_AS(stream.push(-5), dsv2::input_error);
    CHECK(stream.push(ids[0]).empty());  // usable after the error and after flush
}

TEST_CASE("tokenizer: concurrent encode on one tokenizer gives the same ids", "[text]") {
    const auto& tok = real_tokenizer("deepseek-v3");
    const std::string corpus = read_file(fixture_dir() / "corpus.txt");
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < 8; ++i) texts.push_back(corpus.substr(i * 9000, 9000 + 37 * i));
    for (auto& t : texts) {  // cut at a character boundary
        while (!t.empty() && !valid_utf8(t)) t.pop_back();
    }
    std::vector<std::vector<std::int64_t>> serial;
    for (const auto& t : texts) serial.push_back(tok.encode(t));
    std::vector<std::vector<std::int64_t>> parallel(texts.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < texts.size(); ++i) {
        threads.emplace_back([&, i] {
            for (int rep = 0; rep < 3; ++rep) parallel[i] = tok.encode(texts[(i + static_cast<std::size_t>(rep)) % texts.size()]);
            parallel[i] = tok.encode(texts[i]);
        });
    }
    for (auto& t : threads) t.join();
    CHECK(parallel == serial);
}
