// The added vocabulary of a tokenizer.json ("added_tokens"): tokens matched in the raw text before
// pre-tokenization, leftmost-longest, honouring lstrip, rstrip, single_word, normalized and special,
// as `tokenizers`' AddedVocabulary does. Tokens with normalized=false are matched in the raw text
// first; the remaining text is normalized and then searched for the tokens with normalized=true
// (whose contents are normalized too).
//
// Ids are assigned as `tokenizers` assigns them when it loads a file, not read from the "id"
// fields: a token whose content is in the model's vocabulary (or was added before) keeps that id;
// any other token gets the next id after the model's vocabulary (its entry count) and the added
// tokens so far. For the files `tokenizers` writes, that is the id in the file.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "dsv2/text/bpe.hpp"
#include "dsv2/text/json_access.hpp"
#include "dsv2/text/normalizers.hpp"
#include "dsv2/text/regex.hpp"
#include "dsv2/text/utf8.hpp"

namespace dsv2::text {

struct added_token {
    std::int64_t id = 0;
    std::string content;
    /// What id_to_token/decode give: the content, normalized when the token is `normalized`
    /// (as `tokenizers` does).
    std::string text;
    bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

/// A piece of the input: either text still to be tokenized (id < 0) or an added token's id.
struct text_piece {
    std::string text;
    std::int64_t id = -1;
};

namespace detail {

/// Byte trie for leftmost-longest matching of a set of strings.
class token_trie {
public:
    void insert(std::string_view s, std::size_t value) {
        if (s.empty()) return;  // an empty token never matches
        std::size_t node = 0;
        for (unsigned char c : s) {
            auto it = nodes_[node].next.find(c);
            if (it == nodes_[node].next.end()) {
                nodes_.push_back({});
                it = nodes_[node].next.emplace(c, nodes_.size() - 1).first;
            }
            node = it->second;
        }
        if (!nodes_[node].value) nodes_[node].value = value;
    }
    bool empty() const noexcept { return nodes_.size() == 1; }
    /// Longest match starting at `pos`: (length, value), or length 0.
    std::pair<std::size_t, std::size_t> longest_at(std::string_view s, std::size_t pos) const {
        std::size_t node = 0, best_len = 0, best_value = 0;
        for (std::size_t i = pos; i < s.size(); ++i) {
            const auto it = nodes_[node].next.find(static_cast<unsigned char>(s[i]));
            if (it == nodes_[node].next.end()) break;
            node = it->second;
            if (nodes_[node].value) {
                best_len = i + 1 - pos;
                best_value = *nodes_[node].value;
            }
        }
        return {best_len, best_value};
    }

private:
    struct node {
        std::map<unsigned char, std::size_t> next;
        std::optional<std::size_t> value;
    };
    std::vector<node> nodes_{node{}};
};

}  // namespace detail

class added_vocabulary {
public:
    added_vocabulary() = default;

    /// Parses the "added_tokens" array; normalized tokens' contents go through `norm` for matching.
    void load(const nlohmann::json& list, const detail::json_where& w, const normalizer* norm, const bpe_model& model) {
        using namespace detail;
        if (list.is_null()) return;
        if (!list.is_array()) w.fail("expected an array");
        std::vector<added_token> parsed;
        for (std::size_t i = 0; i < list.size(); ++i) {
            const auto wi = w.at(i);
            const auto& t = list[i];
            if (!t.is_object()) wi.fail("expected an object");
            added_token a;
            (void)as_id(require(t, "id", wi), wi.at("id"));  // checked, but reassigned below
            a.content = string_field(t, "content", wi);
            a.single_word = bool_field(t, "single_word", wi, false);
            a.lstrip = bool_field(t, "lstrip", wi, false);
            a.rstrip = bool_field(t, "rstrip", wi, false);
            a.special = bool_field(t, "special", wi, false);
            a.normalized = bool_field(t, "normalized", wi, !a.special);
            if (a.special && !a.content.empty()) special_contents_.insert(a.content);
            parsed.push_back(std::move(a));
        }
        for (auto& a : parsed) {
            if (a.content.empty()) continue;  // `tokenizers` ignores empty tokens
            if (const auto it = by_content_.find(a.content); it != by_content_.end()) {
                const auto& old = tokens_[it->second];
                if (old.single_word == a.single_word && old.lstrip == a.lstrip && old.rstrip == a.rstrip &&
                    old.normalized == a.normalized && old.special == a.special) {
                    continue;  // an exact duplicate
                }
                a.id = old.id;
            } else if (const auto id = model.token_to_id(a.content)) {
                a.id = *id;
            } else {
                a.id = max_id_ >= model.entries() || model.entries() == 0 ? max_id_ + 1 : model.entries();
            }
            add(std::move(a), norm);
        }
    }

    /// Splits `text` into added tokens and normalized text pieces (empty text pieces dropped).
    std::vector<text_piece> split(std::string_view text, const normalizer* norm) const {
        std::vector<text_piece> first;
        find(text, raw_trie_, first);
        std::vector<text_piece> out;
        for (auto& p : first) {
            if (p.id >= 0) {
                out.push_back(std::move(p));
                continue;
            }
            if (norm) norm->normalize(p.text);
            find(p.text, normalized_trie_, out);
        }
        return out;
    }

    const added_token* by_id(std::int64_t id) const {
        const auto it = by_id_.find(id);
        return it == by_id_.end() ? nullptr : &tokens_[it->second];
    }
    std::optional<std::int64_t> by_content(std::string_view content) const {
        const auto it = by_content_.find(std::string(content));
        if (it == by_content_.end()) return std::nullopt;
        return tokens_[it->second].id;
    }
    /// Is `content` the content of a special token (decode's skip_special_tokens test)?
    bool is_special_content(const std::string& content) const { return special_contents_.count(content) > 0; }
    std::int64_t max_id() const noexcept { return max_id_; }
    const std::vector<added_token>& tokens() const noexcept { return tokens_; }

private:
    void add(added_token a, const normalizer* norm) {
        if (a.id > max_id_) max_id_ = a.id;
        // a later entry with the same content replaces an earlier one
        std::size_t index;
        if (const auto it = by_content_.find(a.content); it != by_content_.end()) {
            index = it->second;
            tokens_[index] = a;
        } else {
            index = tokens_.size();
            tokens_.push_back(a);
            by_content_[a.content] = index;
        }
        by_id_[a.id] = index;
        if (a.normalized) {
            std::string key = a.content;
            if (norm) norm->normalize(key);
            tokens_[index].text = key;
            normalized_trie_.insert(key, index);
        } else {
            tokens_[index].text = a.content;
            raw_trie_.insert(a.content, index);
        }
    }

    /// Splits `s` on the tokens of `trie` (AddedVocabulary::find_matches + split_with_indices).
    void find(std::string_view s, const detail::token_trie& trie, std::vector<text_piece>& out) const {
        if (trie.empty()) {
            if (!s.empty()) out.push_back({std::string(s), -1});
            return;
        }
        const auto& classes = char_classes::get();
        auto char_before = [&](std::size_t pos) {  // the character ending at pos (pos > 0)
            std::size_t b = pos - 1;
            while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
            return s.substr(b, pos - b);
        };
        std::size_t start_offset = 0;
        for (std::size_t pos = 0; pos < s.size();) {
            const auto [len, index] = trie.longest_at(s, pos);
            if (len == 0) {
                ++pos;
                continue;
            }
            const added_token& t = tokens_[index];
            std::size_t start = pos, stop = pos + len;
            pos = stop;  // the next search starts after this match, even if it is skipped
            if (t.single_word) {
                const bool start_space = start == 0 || !classes.is_word(char_before(start));
                const bool stop_space = stop == s.size() || !classes.is_word(s.substr(stop, utf8_char_length(s, stop)));
                if (!start_space || !stop_space) continue;
            }
            if (t.lstrip) {
                std::size_t b = start;
                while (b > 0) {
                    const auto c = char_before(b);
                    if (!classes.is_whitespace(c)) break;
                    b -= c.size();
                }
                start = std::max(b, start_offset);
            }
            if (t.rstrip) {
                while (stop < s.size()) {
                    const auto n = utf8_char_length(s, stop);
                    if (!classes.is_whitespace(s.substr(stop, n))) break;
                    stop += n;
                }
                pos = std::max(pos, stop);
            }
            if (start_offset < start) out.push_back({std::string(s.substr(start_offset, start - start_offset)), -1});
            out.push_back({std::string(), t.id});
            start_offset = stop;
        }
        if (start_offset < s.size()) out.push_back({std::string(s.substr(start_offset)), -1});
    }

    std::vector<added_token> tokens_;
    std::unordered_map<std::int64_t, std::size_t> by_id_;
    std::unordered_map<std::string, std::size_t> by_content_;
    std::unordered_set<std::string> special_contents_;
    detail::token_trie raw_trie_, normalized_trie_;
    std::int64_t max_id_ = -1;
};

}  // namespace dsv2::text
