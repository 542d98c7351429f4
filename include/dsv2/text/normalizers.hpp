// Normalizers of a tokenizer.json: Sequence, Prepend, Replace (String or Regex pattern) and the
// null normalizer. Unicode normalization forms (NFC, NFKC, NFD, NFKD) and the others are not
// implemented: loading a file that uses one throws unsupported_error naming it.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "dsv2/core/error.hpp"
#include "dsv2/text/json_access.hpp"
#include "dsv2/text/regex.hpp"

namespace dsv2::text {

class normalizer {
public:
    virtual ~normalizer() = default;
    /// Rewrites `s` in place.
    virtual void normalize(std::string& s) const = 0;
};

class sequence_normalizer final : public normalizer {
public:
    explicit sequence_normalizer(std::vector<std::unique_ptr<normalizer>> steps) : steps_(std::move(steps)) {}
    void normalize(std::string& s) const override {
        for (const auto& n : steps_) n->normalize(s);
    }

private:
    std::vector<std::unique_ptr<normalizer>> steps_;
};

/// Prepends a string to every non-empty input.
class prepend_normalizer final : public normalizer {
public:
    explicit prepend_normalizer(std::string prefix) : prefix_(std::move(prefix)) {}
    void normalize(std::string& s) const override {
        if (!s.empty()) s.insert(0, prefix_);
    }

private:
    std::string prefix_;
};

/// Replaces every match of a pattern (a literal string or a regex) by `content`.
class replace_normalizer final : public normalizer {
public:
    replace_normalizer(regex pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
    void normalize(std::string& s) const override {
        const auto matches = pattern_.find_all(s);
        if (matches.empty()) return;
        std::string out;
        out.reserve(s.size());
        std::size_t last = 0;
        for (const auto& [b, e] : matches) {
            out.append(s, last, b - last);
            out += content_;
            last = e;
        }
        out.append(s, last, std::string::npos);
        s = std::move(out);
    }

private:
    regex pattern_;
    std::string content_;
};

namespace detail {

/// A {"String": s} or {"Regex": r} pattern object, compiled.
inline regex make_pattern(const nlohmann::json& j, const json_where& w) {
    if (!j.is_object()) w.fail("expected a pattern object {\"String\": ...} or {\"Regex\": ...}");
    if (const auto* s = optional_field(j, "String")) return regex(regex_escape(as_string(*s, w.at("String"))), w.source + ": " + w.path);
    if (const auto* r = optional_field(j, "Regex")) return regex(as_string(*r, w.at("Regex")), w.source + ": " + w.path);
    w.fail("expected a pattern object {\"String\": ...} or {\"Regex\": ...}");
}

}  // namespace detail

/// Builds the normalizer described by `j` (nullptr for JSON null).
inline std::unique_ptr<normalizer> make_normalizer(const nlohmann::json& j, const detail::json_where& w) {
    using namespace detail;
    if (j.is_null()) return nullptr;
    const std::string type = type_of(j, w);
    if (type == "Sequence") {
        const auto& list = require(j, "normalizers", w);
        if (!list.is_array()) w.at("normalizers").fail("expected an array");
        std::vector<std::unique_ptr<normalizer>> steps;
        for (std::size_t i = 0; i < list.size(); ++i) {
            auto n = make_normalizer(list[i], w.at("normalizers").at(i));
            if (n) steps.push_back(std::move(n));
        }
        return std::make_unique<sequence_normalizer>(std::move(steps));
    }
    if (type == "Prepend") return std::make_unique<prepend_normalizer>(string_field(j, "prepend", w));
    if (type == "Replace") {
        return std::make_unique<replace_normalizer>(make_pattern(require(j, "pattern", w), w.at("pattern")),
                                                    string_field(j, "content", w));
    }
    throw unsupported_error(w.source + ": " + (w.path.empty() ? std::string("normalizer") : w.path) +
                            ": normalizer type '" + type + "' is not supported (supported: Sequence, Prepend, Replace)");
}

}  // namespace dsv2::text
