// The Jinja2 lexer: template text → tokens, with jinja2's whitespace rules as transformers
// configures them (trim_blocks, lstrip_blocks, '-' and '+' modifiers, newline normalisation, the
// single trailing newline dropped).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "dsv2/text/jinja/error.hpp"
#include "dsv2/text/jinja/value.hpp"

namespace dsv2::jinja {

enum class token_type { data, var_begin, var_end, block_begin, block_end, name, string, integer, floating, op, eof };

struct token {
    token_type type;
    std::string text;  ///< data text, name, decoded string literal, number digits, operator
    source_location loc;
};

struct lexer_options {
    bool trim_blocks = true;
    bool lstrip_blocks = true;
    bool keep_trailing_newline = false;
};

/// Splits a template into tokens. Throws template_syntax_error for unterminated tags, comments
/// and strings and for characters that are not part of the expression language.
class lexer {
public:
    lexer(std::string_view source, std::string template_name, lexer_options options = {})
        : name_(std::move(template_name)), opt_(options) {
        // Newlines are normalised to '\n' (jinja2's newline_sequence), in text and literals alike.
        src_.reserve(source.size());
        for (std::size_t k = 0; k < source.size(); ++k) {
            if (source[k] == '\r') {
                src_.push_back('\n');
                if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
            } else {
                src_.push_back(source[k]);
            }
        }
        if (!opt_.keep_trailing_newline && !src_.empty() && src_.back() == '\n') src_.pop_back();
        line_starts_.push_back(0);
        for (std::size_t k = 0; k < src_.size(); ++k)
            if (src_[k] == '\n') line_starts_.push_back(k + 1);
    }

    std::vector<token> tokenize() {
        std::vector<token> out;
        std::size_t pos = 0;
        bool strip_next = false;  // a '-' modifier on the previous tag's end
        while (pos <= src_.size()) {
            std::size_t start = find_tag(pos);
            std::string data = src_.substr(pos, start - pos);
            if (strip_next) {
                std::size_t k = 0;
                while (k < data.size() && is_space(data[k])) ++k;
                data.erase(0, k);
                strip_next = false;
            }
            if (start == src_.size()) {
                if (!data.empty()) out.push_back({token_type::data, data, locate(pos)});
                break;
            }
            char kind = src_[start + 1];  // '{', '%' or '#'
            char modifier = start + 2 < src_.size() ? src_[start + 2] : '\0';
            if (modifier == '-') {
                while (!data.empty() && is_space(data.back())) data.pop_back();
            } else if (modifier != '+' && kind != '{' && opt_.lstrip_blocks) {
                // Only blanks between the start of the line and the tag: drop them.
                std::size_t ws = start;
                while (ws > pos && (src_[ws - 1] == ' ' || src_[ws - 1] == '\t')) --ws;
                // (a '-' on the previous tag may already have stripped some or all of them)
                if (ws == 0 || src_[ws - 1] == '\n') data.erase(data.size() - std::min(start - ws, data.size()));
            }
            if (!data.empty()) out.push_back({token_type::data, data, locate(pos)});
            std::size_t inner = start + 2 + ((modifier == '-' || modifier == '+') ? 1 : 0);
            if (kind == '#') {
                std::size_t end = src_.find("#}", inner);
                if (end == std::string::npos && inner >= src_.size()) break;  // a bare '{#' ending the template: jinja2 drops it
                if (end == std::string::npos) fail(start, "unterminated comment (missing '#}')");
                bool minus = end > inner && src_[end - 1] == '-';
                bool plus = end > inner && src_[end - 1] == '+';
                pos = end + 2;
                if (minus) strip_next = true;
                else if (!plus) pos = trim_newline(pos);
                continue;
            }
            if (kind == '%' && is_raw_begin(inner)) {
                pos = lex_raw(start, inner, out, strip_next);
                continue;
            }
            out.push_back({kind == '{' ? token_type::var_begin : token_type::block_begin, "", locate(start)});
            pos = lex_expression(inner, kind == '{', out, strip_next);
        }
        out.push_back({token_type::eof, "", locate(src_.size())});
        return out;
    }

    source_location locate(std::size_t offset) const {
        std::size_t lo = 0, hi = line_starts_.size();
        while (hi - lo > 1) {
            std::size_t mid = (lo + hi) / 2;
            if (line_starts_[mid] <= offset) lo = mid;
            else hi = mid;
        }
        return {lo + 1, offset - line_starts_[lo] + 1};
    }

private:
    static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
    static bool is_name_start(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    }
    static bool is_digit(char c) { return c >= '0' && c <= '9'; }

    [[noreturn]] void fail(std::size_t offset, const std::string& what) const {
        throw template_syntax_error(name_, locate(offset), what);
    }

    std::size_t find_tag(std::size_t pos) const {
        for (std::size_t k = pos; k + 1 < src_.size(); ++k)
            if (src_[k] == '{' && (src_[k + 1] == '{' || src_[k + 1] == '%' || src_[k + 1] == '#')) return k;
        return src_.size();
    }

    std::size_t trim_newline(std::size_t pos) const {
        if (opt_.trim_blocks && pos < src_.size() && src_[pos] == '\n') return pos + 1;
        return pos;
    }

    std::size_t skip_ws(std::size_t k) const {
        while (k < src_.size() && is_space(src_[k])) ++k;
        return k;
    }

    bool word_at(std::size_t k, std::string_view w) const {
        return src_.compare(k, w.size(), w) == 0 &&
               (k + w.size() >= src_.size() || !(is_name_start(src_[k + w.size()]) || is_digit(src_[k + w.size()])));
    }

    bool is_raw_begin(std::size_t inner) const { return word_at(skip_ws(inner), "raw"); }

    // {% raw %} ... {% endraw %}: everything between is text.
    std::size_t lex_raw(std::size_t start, std::size_t inner, std::vector<token>& out, bool& strip_next) {
        std::size_t k = skip_ws(skip_ws(inner) + 3);
        bool strip_content_start = false;
        if (src_.compare(k, 3, "-%}") == 0) { strip_content_start = true; k += 3; }
        else if (src_.compare(k, 3, "+%}") == 0) k += 3;
        else if (src_.compare(k, 2, "%}") == 0) k += 2;
        else fail(k, "expected '%}' after 'raw'");
        std::size_t body = k;
        for (std::size_t t = src_.find("{%", body); t != std::string::npos; t = src_.find("{%", t + 2)) {
            std::size_t e = t + 2;
            bool minus = e < src_.size() && src_[e] == '-';
            if (minus || (e < src_.size() && src_[e] == '+')) ++e;
            e = skip_ws(e);
            if (!word_at(e, "endraw")) continue;
            e = skip_ws(e + 6);
            bool end_minus = src_.compare(e, 3, "-%}") == 0;
            bool end_plus = src_.compare(e, 3, "+%}") == 0;
            if (!end_minus && !end_plus && src_.compare(e, 2, "%}") != 0) fail(e, "expected '%}' after 'endraw'");
            std::string data = src_.substr(body, t - body);
            if (strip_content_start) {
                std::size_t n = 0;
                while (n < data.size() && is_space(data[n])) ++n;
                data.erase(0, n);
            }
            if (minus)
                while (!data.empty() && is_space(data.back())) data.pop_back();
            if (!data.empty()) out.push_back({token_type::data, data, locate(body)});
            std::size_t after = e + (end_minus || end_plus ? 3 : 2);
            if (end_minus) strip_next = true;
            else if (!end_plus) after = trim_newline(after);
            return after;
        }
        fail(start, "missing '{% endraw %}' for this '{% raw %}'");
    }

    std::size_t lex_expression(std::size_t k, bool variable, std::vector<token>& out, bool& strip_next) {
        int depth = 0;
        const std::string_view end = variable ? "}}" : "%}";
        for (;;) {
            k = skip_ws(k);
            if (k >= src_.size()) fail(k, variable ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'");
            if (depth == 0) {
                bool minus = src_[k] == '-' && src_.compare(k + 1, 2, end) == 0;
                bool plus = !variable && src_[k] == '+' && src_.compare(k + 1, 2, end) == 0;
                if (minus || plus || src_.compare(k, 2, end) == 0) {
                    out.push_back({variable ? token_type::var_end : token_type::block_end, "", locate(k)});
                    std::size_t after = k + 2 + ((minus || plus) ? 1 : 0);
                    if (minus) strip_next = true;
                    else if (!variable && !plus) after = trim_newline(after);
                    return after;
                }
            }
            char c = src_[k];
            std::size_t begin = k;
            if (is_name_start(c)) {
                while (k < src_.size() && (is_name_start(src_[k]) || is_digit(src_[k]))) ++k;
                out.push_back({token_type::name, src_.substr(begin, k - begin), locate(begin)});
            } else if (is_digit(c) && !(begin > 0 && src_[begin - 1] == '.')) {
                k = lex_number(k, out);
            } else if (is_digit(c)) {  // after '.', as in `x.0`: an integer attribute
                while (k < src_.size() && is_digit(src_[k])) ++k;
                out.push_back({token_type::integer, src_.substr(begin, k - begin), locate(begin)});
            } else if (c == '\'' || c == '"') {
                k = lex_string(k, out);
            } else {
                static constexpr std::string_view two[] = {"//", "**", "==", "!=", "<=", ">="};
                std::string op;
                for (auto t : two)
                    if (src_.compare(k, 2, t) == 0) op = t;
                if (op.empty()) {
                    if (std::string_view("+-/*%~[](){}<>=.:|,;").find(c) == std::string_view::npos)
                        fail(k, std::string("unexpected character '") + (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f ? "\\x" + hex(c) : std::string(1, c)) + "'");
                    op = std::string(1, c);
                }
                if (op == "(" || op == "[" || op == "{") ++depth;
                if (op == ")" || op == "]" || op == "}") depth = depth > 0 ? depth - 1 : 0;
                out.push_back({token_type::op, op, locate(begin)});
                k += op.size();
            }
        }
    }

    static std::string hex(char c) {
        const char* d = "0123456789abcdef";
        auto u = static_cast<unsigned char>(c);
        return {d[u >> 4], d[u & 15]};
    }

    std::size_t digits(std::size_t k, std::string& out) const {
        // \d+(_\d+)*
        while (k < src_.size() && is_digit(src_[k])) {
            out.push_back(src_[k++]);
            if (k + 1 < src_.size() && src_[k] == '_' && is_digit(src_[k + 1])) ++k;
        }
        return k;
    }

    std::size_t lex_number(std::size_t k, std::vector<token>& out) {
        std::size_t begin = k;
        std::string text;
        k = digits(k, text);
        bool is_float = false;
        if (k + 1 < src_.size() && src_[k] == '.' && is_digit(src_[k + 1])) {
            text.push_back('.');
            k = digits(k + 1, text);
            is_float = true;
        }
        if (k < src_.size() && (src_[k] == 'e' || src_[k] == 'E')) {
            std::size_t e = k + 1;
            std::string exp = "e";
            if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) exp.push_back(src_[e++]);
            if (e < src_.size() && is_digit(src_[e])) {
                k = digits(e, exp);
                text += exp;
                is_float = true;
            }
        }
        out.push_back({is_float ? token_type::floating : token_type::integer, text, locate(begin)});
        return k;
    }

    // A string literal with Python's escapes (jinja2 decodes them with "unicode-escape").
    std::size_t lex_string(std::size_t k, std::vector<token>& out) {
        std::size_t begin = k;
        char quote = src_[k++];
        std::string text;
        auto hexval = [&](std::size_t at, int n) -> long {
            long v = 0;
            for (int d = 0; d < n; ++d) {
                if (at + static_cast<std::size_t>(d) >= src_.size()) return -1;
                char c = src_[at + static_cast<std::size_t>(d)];
                int x = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
                if (x < 0) return -1;
                v = v * 16 + x;
            }
            return v;
        };
        for (;;) {
            if (k >= src_.size()) fail(begin, "unterminated string literal");
            char c = src_[k];
            if (c == quote) { ++k; break; }
            if (c != '\\') { text.push_back(c); ++k; continue; }
            if (k + 1 >= src_.size()) fail(begin, "unterminated string literal");
            char e = src_[k + 1];
            k += 2;
            switch (e) {
                case '\n': break;
                case '\\': text.push_back('\\'); break;
                case '\'': text.push_back('\''); break;
                case '"': text.push_back('"'); break;
                case 'a': text.push_back('\a'); break;
                case 'b': text.push_back('\b'); break;
                case 'f': text.push_back('\f'); break;
                case 'n': text.push_back('\n'); break;
                case 'r': text.push_back('\r'); break;
                case 't': text.push_back('\t'); break;
                case 'v': text.push_back('\v'); break;
                case 'x': case 'u': case 'U': {
                    int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    long v = hexval(k, n);
                    if (v < 0 || v > 0x10FFFF) fail(k - 2, std::string("invalid \\") + e + " escape in string literal");
                    if (v >= 0xD800 && v <= 0xDFFF) fail(k - 2, "surrogate code point in string literal is not supported");
                    append_utf8(text, static_cast<char32_t>(v));
                    k += static_cast<std::size_t>(n);
                    break;
                }
                case 'N': fail(k - 2, "\\N{...} escapes are not supported");
                default:
                    if (e >= '0' && e <= '7') {
                        long v = e - '0';
                        for (int d = 0; d < 2 && k < src_.size() && src_[k] >= '0' && src_[k] <= '7'; ++d) v = v * 8 + (src_[k++] - '0');
                        append_utf8(text, static_cast<char32_t>(v));
                    } else {
                        text.push_back('\\');  // unknown escapes stay as written
                        text.push_back(e);
                    }
            }
        }
        out.push_back({token_type::string, text, locate(begin)});
        return k;
    }

    std::string name_;
    lexer_options opt_;
    std::string src_;
    std::vector<std::size_t> line_starts_;
};

}  // namespace dsv2::jinja
