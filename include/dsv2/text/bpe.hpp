// The BPE model of a tokenizer.json: vocabulary, ranked merges (both the "a b" and the ["a", "b"]
// spelling), ignore_merges, byte_fallback, unk_token/fuse_unk, continuing_subword_prefix and
// end_of_word_suffix. A word is merged with a priority queue keyed on (rank, position): the
// lowest-ranked applicable merge, leftmost first, as in `tokenizers` — O(n log n) per word.
// Merged words are cached (bounded, behind a mutex), so encode() is safe from many threads.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dsv2/core/error.hpp"
#include "dsv2/text/json_access.hpp"
#include "dsv2/text/utf8.hpp"

namespace dsv2::text {

class bpe_model {
public:
    /// Parses the "model" object (type BPE). `w` names the file and the field for errors.
    bpe_model(const nlohmann::json& j, const detail::json_where& w) {
        using namespace detail;
        const auto& vocab = require(j, "vocab", w);
        if (!vocab.is_object()) w.at("vocab").fail("expected an object {token: id}");
        vocab_.reserve(vocab.size());
        for (const auto& [token, id_json] : vocab.items()) {
            const auto id = as_id(id_json, w.at("vocab").at(token));
            vocab_[token] = id;
            tokens_[id] = token;
            if (id + 1 > size_) size_ = id + 1;
        }
        if (const auto* v = optional_field(j, "unk_token")) unk_token_ = as_string(*v, w.at("unk_token"));
        if (const auto* v = optional_field(j, "continuing_subword_prefix")) prefix_ = as_string(*v, w.at("continuing_subword_prefix"));
        if (const auto* v = optional_field(j, "end_of_word_suffix")) suffix_ = as_string(*v, w.at("end_of_word_suffix"));
        fuse_unk_ = bool_field(j, "fuse_unk", w, false);
        byte_fallback_ = bool_field(j, "byte_fallback", w, false);
        ignore_merges_ = bool_field(j, "ignore_merges", w, false);
        if (const auto* d = optional_field(j, "dropout")) {
            if (!d->is_number()) w.at("dropout").fail("expected a number");
            if (d->get<double>() != 0.0) throw unsupported_error(w.source + ": model.dropout: BPE dropout is not supported");
        }
        if (unk_token_ && !vocab_.count(*unk_token_)) {
            w.at("unk_token").fail("unk_token '" + *unk_token_ + "' is not in the vocab");
        }

        const auto& merges = require(j, "merges", w);
        if (!merges.is_array()) w.at("merges").fail("expected an array");
        merges_.reserve(merges.size());
        for (std::size_t i = 0; i < merges.size(); ++i) {
            const auto wi = w.at("merges").at(i);
            std::string a, b;
            const auto& m = merges[i];
            if (m.is_string()) {
                const auto s = m.get<std::string>();
                const auto space = s.find(' ');
                if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
                    wi.fail("merge '" + s + "' is not two tokens separated by one space");
                }
                a = s.substr(0, space);
                b = s.substr(space + 1);
            } else if (m.is_array() && m.size() == 2) {
                a = as_string(m[0], wi.at(0));
                b = as_string(m[1], wi.at(1));
            } else {
                wi.fail("expected \"a b\" or [\"a\", \"b\"]");
            }
            // with a continuing_subword_prefix, the right token's prefix is dropped when merging
            std::string merged = a + (prefix_ && b.starts_with(*prefix_) ? b.substr(prefix_->size()) : b);
            const auto ia = vocab_.find(a), ib = vocab_.find(b), im = vocab_.find(merged);
            if (ia == vocab_.end()) wi.fail("merge names token '" + a + "' which is not in the vocab");
            if (ib == vocab_.end()) wi.fail("merge names token '" + b + "' which is not in the vocab");
            if (im == vocab_.end()) wi.fail("merged token '" + merged + "' is not in the vocab");
            merges_[pair_key(ia->second, ib->second)] = {static_cast<std::uint32_t>(i), im->second};
        }
    }

    bpe_model(const bpe_model&) = delete;
    bpe_model& operator=(const bpe_model&) = delete;

    /// Ids of one pre-tokenized word (appended to `out`).
    void tokenize(const std::string& word, std::vector<std::int64_t>& out) const {
        if (word.empty()) return;
        if (ignore_merges_) {
            if (const auto it = vocab_.find(word); it != vocab_.end()) {
                out.push_back(it->second);
                return;
            }
        }
        const bool cacheable = word.size() <= max_cached_word_bytes;
        if (cacheable) {
            std::lock_guard lock(cache_mutex_);
            if (const auto it = cache_.find(word); it != cache_.end()) {
                out.insert(out.end(), it->second.begin(), it->second.end());
                return;
            }
        }
        std::vector<std::int64_t> ids = merge_word(word);
        out.insert(out.end(), ids.begin(), ids.end());
        if (cacheable) {
            std::lock_guard lock(cache_mutex_);
            if (cache_.size() >= max_cache_entries) cache_.clear();
            cache_.emplace(word, std::move(ids));
        }
    }

    std::optional<std::int64_t> token_to_id(std::string_view token) const {
        const auto it = vocab_.find(std::string(token));
        if (it == vocab_.end()) return std::nullopt;
        return it->second;
    }
    /// The token of `id`, or nullptr when the vocab has no such id.
    const std::string* id_to_token(std::int64_t id) const {
        const auto it = tokens_.find(id);
        return it == tokens_.end() ? nullptr : &it->second;
    }
    /// Number of vocabulary entries (`tokenizers`' BPE get_vocab_size).
    std::int64_t entries() const noexcept { return static_cast<std::int64_t>(vocab_.size()); }
    /// Max vocab id + 1.
    std::int64_t size() const noexcept { return size_; }

    static constexpr std::size_t max_cached_word_bytes = 256;
    static constexpr std::size_t max_cache_entries = 1 << 16;

private:
    static std::uint64_t pair_key(std::int64_t a, std::int64_t b) noexcept {
        return (static_cast<std::uint64_t>(a) << 32) | static_cast<std::uint64_t>(b);
    }

    struct symbol {
        std::int64_t id;
        std::int64_t prev, next;  // -1: none
        bool alive;
    };
    struct candidate {
        std::uint32_t rank;
        std::size_t pos;
        std::int64_t new_id;
        bool operator>(const candidate& o) const noexcept {
            return rank != o.rank ? rank > o.rank : pos > o.pos;
        }
    };

    std::vector<std::int64_t> merge_word(const std::string& w) const {
        std::vector<symbol> sym;
        sym.reserve(w.size());
        std::int64_t unk = -1;  // pending unknown symbol (its id), -1: none
        auto add = [&](std::int64_t id) {
            const auto n = static_cast<std::int64_t>(sym.size());
            sym.push_back({id, n - 1, -1, true});
            if (n > 0) sym[static_cast<std::size_t>(n - 1)].next = n;
        };
        std::string s;
        for (std::size_t i = 0; i < w.size();) {
            const std::size_t len = utf8_char_length(w, i);
            const bool first = i == 0, last = i + len >= w.size();
            s.assign(w, i, len);
            if (!first && prefix_) s.insert(0, *prefix_);
            if (last && suffix_) s += *suffix_;
            i += len;
            if (const auto it = vocab_.find(s); it != vocab_.end()) {
                if (unk >= 0) { add(unk); unk = -1; }
                add(it->second);
                continue;
            }
            if (byte_fallback_) {
                std::vector<std::int64_t> bytes;
                for (unsigned char c : s) {
                    static constexpr char hex[] = "0123456789ABCDEF";
                    const std::string code = std::string("<0x") + hex[c >> 4] + hex[c & 15] + ">";
                    const auto it = vocab_.find(code);
                    if (it == vocab_.end()) { bytes.clear(); break; }
                    bytes.push_back(it->second);
                }
                if (!bytes.empty()) {
                    // `tokenizers` adds these without flushing a pending unknown symbol
                    for (auto b : bytes) add(b);
                    continue;
                }
            }
            if (unk_token_) {
                const std::int64_t unk_id = vocab_.at(*unk_token_);
                if (unk >= 0 && !fuse_unk_) add(unk);
                if (unk < 0 || !fuse_unk_) unk = unk_id;
            }
        }
        if (unk >= 0) add(unk);

        std::priority_queue<candidate, std::vector<candidate>, std::greater<>> queue;
        auto push_pair = [&](std::size_t pos) {
            const auto next = sym[pos].next;
            if (next < 0) return;
            const auto it = merges_.find(pair_key(sym[pos].id, sym[static_cast<std::size_t>(next)].id));
            if (it != merges_.end()) queue.push({it->second.rank, pos, it->second.new_id});
        };
        for (std::size_t p = 0; p + 1 < sym.size(); ++p) push_pair(p);
        while (!queue.empty()) {
            const candidate top = queue.top();
            queue.pop();
            auto& cur = sym[top.pos];
            if (!cur.alive || cur.next < 0) continue;
            const auto next_pos = static_cast<std::size_t>(cur.next);
            const auto it = merges_.find(pair_key(cur.id, sym[next_pos].id));
            if (it == merges_.end() || it->second.new_id != top.new_id) continue;
            cur.id = top.new_id;
            sym[next_pos].alive = false;
            cur.next = sym[next_pos].next;
            if (cur.next >= 0) sym[static_cast<std::size_t>(cur.next)].prev = static_cast<std::int64_t>(top.pos);
            if (cur.prev >= 0) push_pair(static_cast<std::size_t>(cur.prev));
            push_pair(top.pos);
        }
        std::vector<std::int64_t> ids;
        for (const auto& x : sym) {
            if (x.alive) ids.push_back(x.id);
        }
        return ids;
    }

    struct merge_info {
        std::uint32_t rank;
        std::int64_t new_id;
    };

    std::unordered_map<std::string, std::int64_t> vocab_;
    std::unordered_map<std::int64_t, std::string> tokens_;  // ids may be sparse
    std::int64_t size_ = 0;
    std::unordered_map<std::uint64_t, merge_info> merges_;
    std::optional<std::string> unk_token_, prefix_, suffix_;
    bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;

    mutable std::mutex cache_mutex_;
    mutable std::unordered_map<std::string, std::vector<std::int64_t>> cache_;
};

}  // namespace dsv2::text
