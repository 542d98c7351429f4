// Pre-tokenizers of a tokenizer.json: Sequence, Split (String or Regex pattern, every
// SplitDelimiterBehavior, invert), Digits and ByteLevel. Each one turns the list of pieces into a
// finer one; empty pieces are dropped, as in `tokenizers`.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dsv2/core/error.hpp"
#include "dsv2/text/byte_level.hpp"
#include "dsv2/text/json_access.hpp"
#include "dsv2/text/normalizers.hpp"
#include "dsv2/text/regex.hpp"

namespace dsv2::text {

/// How the matches of a Split pattern become pieces (SplitDelimiterBehavior).
enum class split_behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

namespace detail {

struct span_flag {
    std::size_t begin, end;
    bool flag;  // is_match before the behavior is applied; "remove" after
};

/// Matches of `re` in `s` with the gaps between them, as `tokenizers`' Pattern::find_matches.
inline std::vector<span_flag> find_matches(const regex& re, std::string_view s) {
    if (s.empty()) return {{0, 0, false}};
    std::vector<span_flag> out;
    std::size_t prev = 0;
    for (const auto& [b, e] : re.find_all(s)) {
        if (prev != b) out.push_back({prev, b, false});
        out.push_back({b, e, true});
        prev = e;
    }
    if (prev != s.size()) out.push_back({prev, s.size(), false});
    return out;
}

/// Applies `behavior` to matches; the result's flag says "remove this span".
inline std::vector<span_flag> apply_behavior(std::vector<span_flag> m, split_behavior behavior) {
    std::vector<span_flag> out;
    out.reserve(m.size());
    bool previous_match = false;
    switch (behavior) {
        case split_behavior::removed:
            return m;
        case split_behavior::isolated:
            for (auto& s : m) s.flag = false;
            return m;
        case split_behavior::contiguous:
            for (const auto& s : m) {
                if (s.flag == previous_match && !out.empty()) out.back().end = s.end;
                else out.push_back({s.begin, s.end, false});
                previous_match = s.flag;
            }
            return out;
        case split_behavior::merged_with_previous:
            for (const auto& s : m) {
                if (s.flag && !previous_match && !out.empty()) out.back().end = s.end;
                else out.push_back({s.begin, s.end, false});
                previous_match = s.flag;
            }
            return out;
        case split_behavior::merged_with_next:
            for (auto it = m.rbegin(); it != m.rend(); ++it) {
                if (it->flag && !previous_match && !out.empty()) out.back().begin = it->begin;
                else out.push_back({it->begin, it->end, false});
                previous_match = it->flag;
            }
            return {out.rbegin(), out.rend()};
    }
    return out;
}

inline void emit_pieces(const std::string& s, const std::vector<span_flag>& spans, std::vector<std::string>& out) {
    for (const auto& sp : spans) {
        if (!sp.flag && sp.end > sp.begin) out.emplace_back(s, sp.begin, sp.end - sp.begin);
    }
}

}  // namespace detail

class pre_tokenizer {
public:
    virtual ~pre_tokenizer() = default;
    /// Replaces `pieces` by their pre-tokenized, non-empty sub-pieces.
    virtual void pre_tokenize(std::vector<std::string>& pieces) const = 0;
};

class sequence_pre_tokenizer final : public pre_tokenizer {
public:
    explicit sequence_pre_tokenizer(std::vector<std::unique_ptr<pre_tokenizer>> steps) : steps_(std::move(steps)) {}
    void pre_tokenize(std::vector<std::string>& pieces) const override {
        for (const auto& p : steps_) p->pre_tokenize(pieces);
    }

private:
    std::vector<std::unique_ptr<pre_tokenizer>> steps_;
};

namespace detail {

/// Remembers how short pieces were split (a split depends on the piece alone), because every
/// Oniguruma search has a fixed cost (it sets up and saves a match stack) that dominates on the
/// short, often repeated pieces of real text. Bounded; behind a mutex, so const users stay
/// thread-safe.
class split_cache {
public:
    static constexpr std::size_t max_piece_bytes = 64;
    static constexpr std::size_t max_entries = 1 << 15;

    /// Appends the pieces of `s` to `out`: from the cache, or computed by `split` and remembered.
    template <class Split>
    void apply(const std::string& s, std::vector<std::string>& out, Split&& split) const {
        if (s.size() > max_piece_bytes) {
            emit_pieces(s, split(s), out);
            return;
        }
        {
            std::lock_guard lock(mutex_);
            if (const auto it = map_.find(s); it != map_.end()) {
                emit_pieces(s, it->second, out);
                return;
            }
        }
        auto spans = split(s);
        std::erase_if(spans, [](const span_flag& sp) { return sp.flag || sp.end == sp.begin; });
        emit_pieces(s, spans, out);
        std::lock_guard lock(mutex_);
        if (map_.size() >= max_entries) map_.clear();
        map_.emplace(s, std::move(spans));
    }

private:
    mutable std::mutex mutex_;
    mutable std::unordered_map<std::string, std::vector<span_flag>> map_;
};

}  // namespace detail

/// Split: cuts every piece at the matches of a pattern.
class split_pre_tokenizer final : public pre_tokenizer {
public:
    split_pre_tokenizer(regex pattern, split_behavior behavior, bool invert)
        : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
    void pre_tokenize(std::vector<std::string>& pieces) const override {
        std::vector<std::string> out;
        out.reserve(pieces.size() * 2);
        for (const auto& s : pieces) {
            cache_.apply(s, out, [&](const std::string& piece) {
                auto m = detail::find_matches(pattern_, piece);
                if (invert_) for (auto& sp : m) sp.flag = !sp.flag;
                return detail::apply_behavior(std::move(m), behavior_);
            });
        }
        pieces = std::move(out);
    }

private:
    regex pattern_;
    split_behavior behavior_;
    bool invert_;
    detail::split_cache cache_;
};

/// Digits: isolates numeric characters (general category N*), one by one or in runs.
class digits_pre_tokenizer final : public pre_tokenizer {
public:
    explicit digits_pre_tokenizer(bool individual) : individual_(individual), numeric_("\\p{N}", "Digits") {}
    void pre_tokenize(std::vector<std::string>& pieces) const override {
        std::vector<std::string> out;
        out.reserve(pieces.size() * 2);
        for (const auto& s : pieces) {
            // each numeric character is one match (find_all of a one-character pattern); an ASCII
            // piece needs no regex: its numeric characters are 0-9
            const auto behavior = individual_ ? split_behavior::isolated : split_behavior::contiguous;
            if (ascii(s)) {
                detail::emit_pieces(s, detail::apply_behavior(ascii_matches(s), behavior), out);
            } else {
                cache_.apply(s, out, [&](const std::string& piece) {
                    return detail::apply_behavior(detail::find_matches(numeric_, piece), behavior);
                });
            }
        }
        pieces = std::move(out);
    }

private:
    static bool ascii(const std::string& s) {
        for (char c : s) if (static_cast<unsigned char>(c) >= 0x80) return false;
        return true;
    }
    static std::vector<detail::span_flag> ascii_matches(const std::string& s) {
        if (s.empty()) return {{0, 0, false}};
        std::vector<detail::span_flag> out;
        std::size_t prev = 0;
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] < '0' || s[i] > '9') continue;
            if (prev != i) out.push_back({prev, i, false});
            out.push_back({i, i + 1, true});
            prev = i + 1;
        }
        if (prev != s.size()) out.push_back({prev, s.size(), false});
        return out;
    }
    bool individual_;
    regex numeric_;
    detail::split_cache cache_;
};

/// The GPT-2 split pattern of ByteLevel with use_regex.
inline constexpr std::string_view gpt2_pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/// ByteLevel: optional prefix space, optional GPT-2 split, then every byte to its alphabet character.
class byte_level_pre_tokenizer final : public pre_tokenizer {
public:
    byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex)
        : add_prefix_space_(add_prefix_space), use_regex_(use_regex), split_(std::string(gpt2_pattern), "ByteLevel") {}
    void pre_tokenize(std::vector<std::string>& pieces) const override {
        std::vector<std::string> split;
        split.reserve(pieces.size());
        for (auto& s : pieces) {
            if (add_prefix_space_ && (s.empty() || s[0] != ' ')) s.insert(0, " ");
            if (use_regex_) {
                auto m = detail::find_matches(split_, s);
                detail::emit_pieces(s, detail::apply_behavior(std::move(m), split_behavior::isolated), split);
            } else if (!s.empty()) {
                split.push_back(std::move(s));
            }
        }
        const auto& alphabet = byte_level_alphabet::get();
        pieces.clear();
        pieces.reserve(split.size());
        for (const auto& s : split) {
            std::string mapped;
            mapped.reserve(s.size() * 2);
            alphabet.encode(s, mapped);
            pieces.push_back(std::move(mapped));
        }
    }

private:
    bool add_prefix_space_;
    bool use_regex_;
    regex split_;
};

namespace detail {

inline split_behavior parse_behavior(const std::string& b, const json_where& w) {
    if (b == "Removed") return split_behavior::removed;
    if (b == "Isolated") return split_behavior::isolated;
    if (b == "MergedWithPrevious") return split_behavior::merged_with_previous;
    if (b == "MergedWithNext") return split_behavior::merged_with_next;
    if (b == "Contiguous") return split_behavior::contiguous;
    throw unsupported_error(w.source + ": " + w.path + ": Split behavior '" + b + "' is not supported");
}

}  // namespace detail

/// Builds the pre-tokenizer described by `j` (nullptr for JSON null).
inline std::unique_ptr<pre_tokenizer> make_pre_tokenizer(const nlohmann::json& j, const detail::json_where& w) {
    using namespace detail;
    if (j.is_null()) return nullptr;
    const std::string type = type_of(j, w);
    if (type == "Sequence") {
        const auto& list = require(j, "pretokenizers", w);
        if (!list.is_array()) w.at("pretokenizers").fail("expected an array");
        std::vector<std::unique_ptr<pre_tokenizer>> steps;
        for (std::size_t i = 0; i < list.size(); ++i) {
            auto p = make_pre_tokenizer(list[i], w.at("pretokenizers").at(i));
            if (p) steps.push_back(std::move(p));
        }
        return std::make_unique<sequence_pre_tokenizer>(std::move(steps));
    }
    if (type == "Split") {
        return std::make_unique<split_pre_tokenizer>(make_pattern(require(j, "pattern", w), w.at("pattern")),
                                                     parse_behavior(string_field(j, "behavior", w), w.at("behavior")),
                                                     bool_field(j, "invert", w, false));
    }
    if (type == "Digits") return std::make_unique<digits_pre_tokenizer>(bool_field(j, "individual_digits", w, false));
    if (type == "ByteLevel") {
        return std::make_unique<byte_level_pre_tokenizer>(bool_field(j, "add_prefix_space", w, true),
                                                          bool_field(j, "use_regex", w, true));
    }
    throw unsupported_error(w.source + ": " + (w.path.empty() ? std::string("pre_tokenizer") : w.path) +
                            ": pre-tokenizer type '" + type +
                            "' is not supported (supported: Sequence, Split, Digits, ByteLevel)");
}

}  // namespace dsv2::text
