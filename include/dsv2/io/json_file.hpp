// read_json_file: the one way dsv2 reads a JSON file (config.json, generation_config.json,
// tokenizer.json, tokenizer_config.json). Only a regular file (symlinks followed) of at most
// `max_bytes` is opened — a FIFO, a device or a directory is refused before any read, so nothing
// blocks or allocates without bound — and every failure is an io_error naming the file (malformed
// JSON with its byte offset and the parser's line and column).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "dsv2/core/error.hpp"

namespace dsv2::io {

/// Largest JSON file read by default (tokenizer.json files are ~8 MB; configs a few KB).
inline constexpr std::uintmax_t json_file_max_bytes = std::uintmax_t{256} << 20;

/// Whether `file` exists at all (false for a dangling symlink too).
inline bool json_file_exists(const std::filesystem::path& file) {
    std::error_code ec;
    return std::filesystem::exists(file, ec);
}

/// `file` parsed; `kind` names what it should be in messages ("a config.json file").
inline nlohmann::json read_json_file(const std::filesystem::path& file, const std::string& kind,
                                     std::uintmax_t max_bytes = json_file_max_bytes) {
    const std::string name = file.string();
    std::error_code ec;
    const auto status = std::filesystem::status(file, ec);
    if (ec || !std::filesystem::exists(status)) throw io_error(name, "no such file");
    if (std::filesystem::is_directory(status)) throw io_error(name, "is a directory, not " + kind);
    if (!std::filesystem::is_regular_file(status)) throw io_error(name, "is not a regular file (expected " + kind + ")");
    const std::uintmax_t size = std::filesystem::file_size(file, ec);
    if (ec) throw io_error(name, "cannot read its size: " + ec.message());
    if (size > max_bytes)
        throw io_error(name, "is " + std::to_string(size) + " bytes, more than the " + std::to_string(max_bytes) +
                                 " a JSON file may have here");
    std::ifstream in(file, std::ios::binary);
    if (!in) throw io_error(name, "cannot open for reading");
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (in.bad()) throw io_error(name, "read failed");
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        // e.what(): "[json.exception.parse_error.101] parse error at line L, column C: ..."
        std::string what = e.what();
        if (const auto pos = what.find("] "); what.starts_with("[json.exception.") && pos != std::string::npos)
            what.erase(0, pos + 2);
        throw io_error(name, "invalid JSON (byte " + std::to_string(e.byte) + "): " + what);
    }
}

}  // namespace dsv2::io
