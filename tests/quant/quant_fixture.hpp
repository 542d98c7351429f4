// The gguf-py fixtures of tests/fixtures/quant (made by tools/fixtures/make_quant_fixtures.py):
// rows.json describes cases whose arrays live in rows.bin.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <dsv2/quant/ggml_type.hpp>

namespace quant_fixture {

inline std::string dir() { return std::string(DSV2_FIXTURE_DIR) + "/quant/"; }

inline nlohmann::json read_json(const std::string& name) {
    std::ifstream in(dir() + name);
    if (!in) throw std::runtime_error("cannot open fixture " + dir() + name);
    return nlohmann::json::parse(in);
}

inline const std::vector<unsigned char>& blob() {
    static const std::vector<unsigned char> data = [] {
        std::ifstream in(dir() + "rows.bin", std::ios::binary);
        if (!in) throw std::runtime_error("cannot open fixture " + dir() + "rows.bin");
        return std::vector<unsigned char>(std::istreambuf_iterator<char>(in), {});
    }();
    return data;
}

/// One case: a row of one ggml type; `input` (fp32) when it was quantised, `quantized` bytes and
/// their `dequantized` values when gguf-py made them.
struct row_case {
    std::string type_name, name;
    dsv2::ggml_type type;
    std::int64_t n;
    std::vector<float> input;
    std::vector<unsigned char> quantized;
    std::vector<float> dequantized;
    std::string label() const { return type_name + "/" + name; }
};

inline std::vector<unsigned char> bytes_of(const nlohmann::json& ref) {
    const auto off = ref.at("offset").get<std::size_t>(), len = ref.at("bytes").get<std::size_t>();
    if (off + len > blob().size()) throw std::runtime_error("rows.bin is shorter than rows.json says");
    return {blob().begin() + static_cast<std::ptrdiff_t>(off), blob().begin() + static_cast<std::ptrdiff_t>(off + len)};
}
inline std::vector<float> floats_of(const nlohmann::json& ref) {
    const auto raw = bytes_of(ref);
    std::vector<float> out(raw.size() / sizeof(float));
    std::memcpy(out.data(), raw.data(), out.size() * sizeof(float));
    return out;
}

inline const std::vector<row_case>& cases() {
    static const std::vector<row_case> all = [] {
        std::vector<row_case> out;
        const nlohmann::json index = read_json("rows.json");  // named: .at() of a temporary would dangle
        for (const auto& c : index.at("cases")) {
            row_case r;
            r.type_name = c.at("type").get<std::string>();
            r.name = c.at("name").get<std::string>();
            r.type = dsv2::ggml_type_from_name(r.type_name).value();
            r.n = c.at("n").get<std::int64_t>();
            if (c.contains("input")) r.input = floats_of(c.at("input"));
            if (c.contains("quantized")) r.quantized = bytes_of(c.at("quantized"));
            if (c.contains("dequantized")) r.dequantized = floats_of(c.at("dequantized"));
            out.push_back(std::move(r));
        }
        return out;
    }();
    return all;
}

}  // namespace quant_fixture
