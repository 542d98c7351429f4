// Shared by the tokenizer tests: fixture paths, JSON loading, and the real tokenizers loaded once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

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

}  // namespace dsv2_text_test
