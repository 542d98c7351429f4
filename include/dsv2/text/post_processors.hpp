// Post-processors of a tokenizer.json, for single sequences: ByteLevel (changes offsets only, so
// nothing here), TemplateProcessing (e.g. a BOS id before the sequence), Sequence of those, and the
// null post-processor. Special tokens are added only when encode() is asked to.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dsv2/core/error.hpp"
#include "dsv2/text/json_access.hpp"

namespace dsv2::text {

class post_processor {
public:
    virtual ~post_processor() = default;
    virtual void process(std::vector<std::int64_t>& ids, bool add_special_tokens) const = 0;
};

class byte_level_post_processor final : public post_processor {
public:
    void process(std::vector<std::int64_t>&, bool) const override {}
};

/// TemplateProcessing's "single" template: special tokens' ids around the sequence ($A).
class template_post_processor final : public post_processor {
public:
    template_post_processor(const nlohmann::json& j, const detail::json_where& w) {
        using namespace detail;
        const auto& single = require(j, "single", w);
        if (!single.is_array()) w.at("single").fail("expected an array of template pieces");
        const auto& specials = require(j, "special_tokens", w);
        if (!specials.is_object()) w.at("special_tokens").fail("expected an object");
        for (std::size_t i = 0; i < single.size(); ++i) {
            const auto wi = w.at("single").at(i);
            const auto& piece = single[i];
            if (const auto* seq = optional_field(piece, "Sequence")) {
                const auto which = string_field(*seq, "id", wi.at("Sequence"));
                if (which != "A") wi.fail("a single-sequence template can only use sequence A, not '" + which + "'");
                pieces_.push_back({});
            } else if (const auto* sp = optional_field(piece, "SpecialToken")) {
                const auto name = string_field(*sp, "id", wi.at("SpecialToken"));
                const auto it = specials.find(name);
                if (it == specials.end()) wi.fail("special token '" + name + "' is not in special_tokens");
                const auto ws = w.at("special_tokens").at(name);
                const auto& ids = require(*it, "ids", ws);
                if (!ids.is_array()) ws.at("ids").fail("expected an array");
                std::vector<std::int64_t> v;
                for (std::size_t k = 0; k < ids.size(); ++k) v.push_back(as_id(ids[k], ws.at("ids").at(k)));
                pieces_.push_back({std::move(v)});
            } else {
                wi.fail("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
            }
        }
    }
    void process(std::vector<std::int64_t>& ids, bool add_special_tokens) const override {
        if (!add_special_tokens) return;
        std::vector<std::int64_t> out;
        out.reserve(ids.size() + 4);
        for (const auto& p : pieces_) {
            if (p.special) out.insert(out.end(), p.special->begin(), p.special->end());
            else out.insert(out.end(), ids.begin(), ids.end());
        }
        ids = std::move(out);
    }
    /// All special ids the template adds (for tests and callers).
    std::vector<std::int64_t> special_ids() const {
        std::vector<std::int64_t> v;
        for (const auto& p : pieces_) if (p.special) v.insert(v.end(), p.special->begin(), p.special->end());
        return v;
    }

private:
    struct piece {
        std::optional<std::vector<std::int64_t>> special;  // nullopt: the sequence itself
    };
    std::vector<piece> pieces_;
};

class sequence_post_processor final : public post_processor {
public:
    explicit sequence_post_processor(std::vector<std::unique_ptr<post_processor>> steps) : steps_(std::move(steps)) {}
    void process(std::vector<std::int64_t>& ids, bool add_special_tokens) const override {
        for (const auto& p : steps_) p->process(ids, add_special_tokens);
    }

private:
    std::vector<std::unique_ptr<post_processor>> steps_;
};

/// Builds the post-processor described by `j` (nullptr for JSON null).
inline std::unique_ptr<post_processor> make_post_processor(const nlohmann::json& j, const detail::json_where& w) {
    using namespace detail;
    if (j.is_null()) return nullptr;
    const std::string type = type_of(j, w);
    if (type == "ByteLevel") return std::make_unique<byte_level_post_processor>();
    if (type == "TemplateProcessing") return std::make_unique<template_post_processor>(j, w);
    if (type == "Sequence") {
        const auto& list = require(j, "processors", w);
        if (!list.is_array()) w.at("processors").fail("expected an array");
        std::vector<std::unique_ptr<post_processor>> steps;
        for (std::size_t i = 0; i < list.size(); ++i) {
            auto p = make_post_processor(list[i], w.at("processors").at(i));
            if (p) steps.push_back(std::move(p));
        }
        return std::make_unique<sequence_post_processor>(std::move(steps));
    }
    throw unsupported_error(w.source + ": " + (w.path.empty() ? std::string("post_processor") : w.path) +
                            ": post-processor type '" + type +
                            "' is not supported (supported: ByteLevel, TemplateProcessing, Sequence)");
}

}  // namespace dsv2::text
