// RAII wrapper of an Oniguruma regex, compiled the way Hugging Face `tokenizers` compiles its
// patterns (the Rust `onig` crate's Regex::new): Ruby syntax (ONIG_SYNTAX_RUBY, Oniguruma's
// default), ONIG_OPTION_NONE, UTF-8. find_iter() reproduces that crate's iteration: each search
// sees the whole subject (anchors and look-arounds see it all), and an empty match right at the
// end of the previous match is skipped by advancing one character.
//
// Needs Oniguruma: include it through the dsv2::text CMake target.
#pragma once

#include <oniguruma.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dsv2/core/error.hpp"
#include "dsv2/text/utf8.hpp"

namespace dsv2::text {

namespace detail {

inline void onig_init_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        OnigEncoding encodings[1] = {ONIG_ENCODING_UTF8};
        onig_initialize(encodings, 1);
    });
}

struct onig_region_deleter {
    void operator()(OnigRegion* r) const noexcept { onig_region_free(r, 1); }
};

/// One region per thread, reused by every search of that thread.
inline OnigRegion* thread_region() {
    thread_local std::unique_ptr<OnigRegion, onig_region_deleter> region(onig_region_new());
    if (!region) throw std::bad_alloc();
    return region.get();
}

}  // namespace detail

/// A compiled pattern. Searching is const and thread-safe (Oniguruma keeps no state in regex_t
/// during a search; each thread has its own match region).
class regex {
public:
    /// Compiles `pattern`; a bad pattern throws unsupported_error naming `context` and the
    /// Oniguruma message.
    regex(std::string_view pattern, const std::string& context) : pattern_(pattern) {
        detail::onig_init_once();
        OnigErrorInfo info{};
        OnigRegex raw = nullptr;
        const auto* p = reinterpret_cast<const OnigUChar*>(pattern_.data());
        const int rc = onig_new(&raw, p, p + pattern_.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                                ONIG_SYNTAX_RUBY, &info);
        if (rc != ONIG_NORMAL) {
            OnigUChar message[ONIG_MAX_ERROR_MESSAGE_LEN] = {};
            onig_error_code_to_str(message, rc, &info);
            throw unsupported_error(context + ": regex '" + pattern_ +
                                    "' does not compile: " + reinterpret_cast<const char*>(message));
        }
        re_.reset(raw);
    }

    const std::string& pattern() const noexcept { return pattern_; }

    /// First match in subject[from, end), searching the whole subject: (start, end) byte offsets,
    /// or (npos, npos).
    std::pair<std::size_t, std::size_t> search(std::string_view subject, std::size_t from) const {
        OnigRegion* region = detail::thread_region();
        const auto* s = reinterpret_cast<const OnigUChar*>(subject.data());
        const auto* end = s + subject.size();
        const int r = onig_search(re_.get(), s, end, s + from, end, region, ONIG_OPTION_NONE);
        if (r == ONIG_MISMATCH) return {npos, npos};
        if (r < 0) {
            OnigUChar message[ONIG_MAX_ERROR_MESSAGE_LEN] = {};
            onig_error_code_to_str(message, r);
            throw unsupported_error("regex '" + pattern_ + "': search failed: " +
                                    reinterpret_cast<const char*>(message));
        }
        return {static_cast<std::size_t>(region->beg[0]), static_cast<std::size_t>(region->end[0])};
    }

    /// Every match, in order, as the onig crate's find_iter yields them.
    std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view subject) const {
        std::vector<std::pair<std::size_t, std::size_t>> out;
        std::size_t last_end = 0;
        bool have_last = false;
        std::size_t last_match_end = 0;
        while (last_end <= subject.size()) {
            const auto [s, e] = search(subject, last_end);
            if (s == npos) break;
            if (s == e && have_last && last_match_end == e) {
                last_end += last_end < subject.size() ? utf8_char_length(subject, last_end) : 1;
                continue;
            }
            last_end = e;
            last_match_end = e;
            have_last = true;
            out.emplace_back(s, e);
        }
        return out;
    }

    /// True when the pattern matches somewhere in `subject`.
    bool matches(std::string_view subject) const { return search(subject, 0).first != npos; }

    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

private:
    struct deleter {
        void operator()(OnigRegex r) const noexcept { onig_free(r); }
    };
    std::string pattern_;
    std::unique_ptr<std::remove_pointer_t<OnigRegex>, deleter> re_;
};

/// `s` with every regex metacharacter escaped, so that the regex matches `s` literally (how
/// `tokenizers` turns a String pattern into a regex).
inline std::string regex_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '\\': case '.': case '+': case '*': case '?': case '(': case ')': case '|':
            case '[': case ']': case '{': case '}': case '^': case '$': case '#': case '&':
            case '-': case '~':
                out.push_back('\\');
                break;
            case ' ':  // Ruby syntax has no extended mode here; a plain space is literal
            default:
                break;
        }
        out.push_back(c);
    }
    return out;
}

/// Unicode character classes needed by the tokenizer, answered by Oniguruma's property tables.
class char_classes {
public:
    static const char_classes& get() {
        static const char_classes instance;
        return instance;
    }
    /// Rust char::is_whitespace: the White_Space property.
    bool is_whitespace(std::string_view ch) const { return whitespace_.matches(ch); }
    /// Rust char::is_alphanumeric (Alphabetic or general category N*), or '_'.
    bool is_word(std::string_view ch) const { return word_.matches(ch); }

private:
    char_classes()
        : whitespace_("\\A\\p{White_Space}", "whitespace class"),
          word_("\\A[\\p{Alphabetic}\\p{N}_]", "word class") {}
    regex whitespace_;
    regex word_;
};

}  // namespace dsv2::text
