// Checked access to the fields of a tokenizer.json: every failure is an io_error naming the file
// and the JSON path of the field.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "dsv2/core/error.hpp"

namespace dsv2::text::detail {

/// Where we are in the file: the source (path) and the JSON path of the current value.
struct json_where {
    std::string source;
    std::string path;
    json_where at(const std::string& key) const { return {source, path.empty() ? key : path + "." + key}; }
    json_where at(std::size_t index) const { return {source, path + "[" + std::to_string(index) + "]"}; }
    [[noreturn]] void fail(const std::string& what) const {
        throw io_error(source, (path.empty() ? std::string("(root)") : path) + ": " + what);
    }
};

inline const nlohmann::json& require(const nlohmann::json& j, const std::string& key, const json_where& w) {
    if (!j.is_object()) w.fail("expected an object");
    const auto it = j.find(key);
    if (it == j.end()) w.at(key).fail("missing");
    return *it;
}

inline const nlohmann::json* optional_field(const nlohmann::json& j, const std::string& key) {
    if (!j.is_object()) return nullptr;
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return nullptr;
    return &*it;
}

inline std::string as_string(const nlohmann::json& v, const json_where& w) {
    if (!v.is_string()) w.fail("expected a string, got " + std::string(v.type_name()));
    return v.get<std::string>();
}

inline bool as_bool(const nlohmann::json& v, const json_where& w) {
    if (!v.is_boolean()) w.fail("expected a boolean, got " + std::string(v.type_name()));
    return v.get<bool>();
}

inline std::int64_t as_id(const nlohmann::json& v, const json_where& w) {
    if (!v.is_number_integer()) w.fail("expected an integer id, got " + std::string(v.type_name()));
    const auto id = v.get<std::int64_t>();
    if (id < 0 || id > 0x7fffffff) w.fail("id " + std::to_string(id) + " out of range [0, 2^31)");
    return id;
}

inline std::string string_field(const nlohmann::json& j, const std::string& key, const json_where& w) {
    return as_string(require(j, key, w), w.at(key));
}

inline bool bool_field(const nlohmann::json& j, const std::string& key, const json_where& w, bool fallback) {
    const auto* v = optional_field(j, key);
    return v ? as_bool(*v, w.at(key)) : fallback;
}

/// The "type" of a component object.
inline std::string type_of(const nlohmann::json& j, const json_where& w) {
    if (!j.is_object()) w.fail("expected an object, got " + std::string(j.type_name()));
    return string_field(j, "type", w);
}

}  // namespace dsv2::text::detail
