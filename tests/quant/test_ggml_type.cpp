// quant/ggml_type.hpp's table against gguf-py 0.19.0's GGMLQuantizationType and GGML_QUANT_SIZES
// (tests/fixtures/quant/ggml_types.json, tools/fixtures/make_quant_fixtures.py).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>

#include <dsv2/quant/ggml_type.hpp>

#include "quant_fixture.hpp"

namespace {
std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}
}  // namespace

TEST_CASE("ggml_type: every type of gguf-py has dsv2's id, name and block layout", "[quant][ggml_type]") {
    const auto fixture = quant_fixture::read_json("ggml_types.json");
    REQUIRE(fixture.at("gguf") == "0.19.0");
    const auto& types = fixture.at("types");
    REQUIRE(types.size() >= 30);
    for (const auto& t : types) {
        const auto id = t.at("id").get<std::uint32_t>();
        const auto name = t.at("name").get<std::string>();
        INFO("gguf-py type " << name << " (id " << id << ")");
        const auto ours = dsv2::ggml_type_from_id(id);
        REQUIRE(ours.has_value());
        CHECK(lower(std::string(ours->name)) == lower(name));
        CHECK(ours->block_elements == t.at("block_elements").get<std::uint32_t>());
        if (name == "Q8_1") {
            // The one known disagreement: gguf-py 0.19.0 sizes Q8_1 as two fp32 + 32 quants (40 bytes);
            // ggml's block_q8_1 (ggml-common.h) is two f16 + 32 quants = 36, and ggml's size is the
            // truth of a file (q8_1 is an activation type, never stored in a GGUF anyway).
            CHECK(t.at("block_bytes").get<std::uint32_t>() == 40);
            CHECK(ours->block_bytes == 36);
        } else {
            CHECK(ours->block_bytes == t.at("block_bytes").get<std::uint32_t>());
        }
        CHECK(dsv2::ggml_type_from_name(name) == ours->type);  // case-insensitive lookup
    }
}

TEST_CASE("ggml_type: dsv2's table has no type gguf-py lacks except ggml's newest", "[quant][ggml_type]") {
    std::set<std::uint32_t> gguf_ids;
    const auto fixture = quant_fixture::read_json("ggml_types.json");
    for (const auto& t : fixture.at("types")) gguf_ids.insert(t.at("id").get<std::uint32_t>());
    // q2_0 (42) is in ggml.h of the llama.cpp this project compares with, not yet in gguf-py 0.19.0.
    const std::set<std::uint32_t> newer_than_gguf_py = {42};
    std::uint32_t previous = 0;
    bool first = true;
    for (const auto& t : dsv2::ggml_types) {
        const auto id = static_cast<std::uint32_t>(t.type);
        INFO("dsv2 type " << t.name << " (id " << id << ")");
        CHECK((gguf_ids.count(id) == 1 || newer_than_gguf_py.count(id) == 1));
        CHECK((first || id > previous));  // id order, no duplicates
        previous = id;
        first = false;
    }
    // ids ggml retired, and past the end, are not types
    for (std::uint32_t id : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 43u, 1000u}) {
        INFO("id " << id);
        CHECK_FALSE(dsv2::ggml_type_from_id(id).has_value());
    }
}

TEST_CASE("ggml_type: row_bytes is whole blocks or nothing", "[quant][ggml_type]") {
    CHECK(dsv2::row_bytes(dsv2::ggml_type::q4_k, 2048) == 8u * 144u);
    CHECK(dsv2::row_bytes(dsv2::ggml_type::q8_0, 1408) == 44u * 34u);
    CHECK_FALSE(dsv2::row_bytes(dsv2::ggml_type::q4_k, 1408).has_value());  // 1408 = 5.5 super-blocks
    CHECK_FALSE(dsv2::row_bytes(dsv2::ggml_type::q8_0, UINT64_MAX - 31).has_value());  // 2^59 − 1 blocks · 34 B overflows
    CHECK(dsv2::row_bytes(dsv2::ggml_type::q6_k, UINT64_MAX - 255).has_value());  // 2^56 − 1 blocks · 210 B fits
    CHECK(dsv2::row_bytes(dsv2::ggml_type::bf16, 3) == 6u);
}
