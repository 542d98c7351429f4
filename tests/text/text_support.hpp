// Shared by the tokenizer tests: fixture paths, JSON loading, the real tokenizers loaded once, and
// the checks against a fixture's expected.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "dsv2/text/tokenizer.hpp"

namespace dsv2_text_test {

inline std::filesystem::path fixture_dir() { return std::filesystem::path(DSV2_FIXTURE_DIR) / "tokenizers"; }

inline std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + p.string());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

inline nlohmann::json read_json(const std::filesystem::path& p) { return nlohmann::json::parse(read_file(p)); }

/// The real tokenizer of `model` (deepseek-v2, deepseek-v2.5, deepseek-v3), loaded once per process.
inline const dsv2::tokenizer& real_tokenizer(const std::string& model) {
    static std::mutex m;
    static std::map<std::string, dsv2::tokenizer> loaded;
    std::lock_guard lock(m);
    auto it = loaded.find(model);
    if (it == loaded.end()) it = loaded.emplace(model, dsv2::tokenizer::from_directory(fixture_dir() / model)).first;
    return it->second;
}

inline std::vector<std::int64_t> ids_of(const nlohmann::json& j) { return j.get<std::vector<std::int64_t>>(); }

/// Checks one case object: ids, ids without special tokens, decodes and the roundtrip flag.
/// With `exact_special` false, decoding with skip_special_tokens is not compared (see check_expected).
inline void check_case(const dsv2::tokenizer& tok, const nlohmann::json& c, const std::string& text, bool exact_special = true) {
    const auto ids = ids_of(c["ids"]);
    CHECK(tok.encode(text, true) == ids);
    const auto ids_ns = c["ids_no_special"].is_null() ? ids : ids_of(c["ids_no_special"]);
    CHECK(tok.encode(text, false) == ids_ns);
    const std::string dec = c["decode"].is_null() ? text : c["decode"].get<std::string>();
    const std::string dec_skip = c["decode_skip"].is_null() ? text : c["decode_skip"].get<std::string>();
    CHECK(tok.decode(ids, false) == dec);
    if (exact_special) CHECK(tok.decode(ids, true) == dec_skip);
    if (c.contains("roundtrip")) CHECK((tok.decode(tok.encode(text, false)) == text) == c["roundtrip"].get<bool>());
}

/// Checks `tok` against every case of fixture_dir()/model/expected.json. With `exact_special` false
/// (a tokenizer read from GGUF, where llama.cpp's converter makes every added token that looks
/// special, "<｜...｜>", a control token), the added tokens the file calls non-special must be
/// special instead, and decoding with skip_special_tokens is not compared.
inline void check_expected(const dsv2::tokenizer& tok, const std::string& model, bool exact_special = true) {
    const auto expected = read_json(fixture_dir() / model / "expected.json");
    REQUIRE(expected["tokenizers"] == "0.23.3");
    CHECK(tok.vocab_size() == expected["vocab_size"].get<std::int64_t>());
    for (const auto& c : expected["cases"]) {
        const std::string name = c["name"];
        INFO(model << " case " << name);
        check_case(tok, c, c["text"].get<std::string>(), exact_special);
    }
    const std::string corpus = read_file(fixture_dir() / "corpus.txt");
    for (const auto& c : expected["long_cases"]) {
        const std::string name = c["name"];
        INFO(model << " long case " << name);
        const auto b = c["corpus_range"][0].get<std::size_t>(), e = c["corpus_range"][1].get<std::size_t>();
        REQUIRE(e <= corpus.size());
        const std::string text = corpus.substr(b, e - b);
        CHECK(text.size() > 20000);
        check_case(tok, c, text, exact_special);
    }
    for (const auto& c : expected["decode_cases"]) {
        const std::string name = c["name"];
        INFO(model << " decode case " << name);
        const auto ids = ids_of(c["ids"]);
        CHECK(tok.decode(ids, false) == c["decode"].get<std::string>());
        if (exact_special) CHECK(tok.decode(ids, true) == c["decode_skip"].get<std::string>());
    }
    for (const auto& t : expected["token_checks"]) {
        const auto id = t["id"].get<std::int64_t>();
        const std::string token = t["token"];
        INFO(model << " token " << id);
        CHECK(tok.id_to_token(id) == token);
        CHECK(tok.token_to_id(token) == id);
    }
    for (const auto& id : expected["special_ids"]) CHECK(tok.is_special(id.get<std::int64_t>()));
    for (const auto& id : expected["non_special_added_ids"]) CHECK(tok.is_special(id.get<std::int64_t>()) == !exact_special);
}

}  // namespace dsv2_text_test
