// The values a Jinja2 template computes with, modelled on the Python objects jinja2 uses:
// Undefined, None, bool, int, float, str, list, tuple, dict, namespace and callables, with Python's
// truthiness, equality, ordering, str() and repr(), and json.dumps as transformers' tojson calls it.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsv2/text/utf8.hpp"

namespace dsv2::jinja {

/// Raised by value operations that Python would reject (a TypeError, ValueError, ...); the
/// interpreter adds the template name and location.
class value_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A value operation hit a limit: `limit` is "max_depth" or "max_output_bytes".
class value_limit_error : public value_error {
public:
    value_limit_error(std::string limit, const std::string& what) : value_error(what), limit_(std::move(limit)) {}
    const std::string& limit() const noexcept { return limit_; }

private:
    std::string limit_;
};

/// Nesting depth of lists, dicts and namespaces a value may reach: printing, comparing and
/// destroying values recurse over it.
inline constexpr int max_value_depth = 256;

struct value;
struct list_obj;
struct dict_obj;
struct namespace_obj;
struct callable_obj;

enum class value_kind { undefined, none, boolean, integer, floating, string, list, dict, ns, callable };

/// One template value. Containers are shared and immutable (the sandbox is immutable);
/// a namespace is shared and mutable (`{% set ns.x = ... %}`).
struct value {
    value_kind kind = value_kind::undefined;
    bool b = false;
    std::int64_t i = 0;
    double f = 0.0;
    /// The string; for undefined, the name that was looked up (for messages). Shared, so that
    /// copying a value (every variable read does) never copies the text.
    const std::string& s() const {
        static const std::string empty;
        return str_ ? *str_ : empty;
    }
    void set_s(std::string x) { str_ = x.empty() ? nullptr : std::make_shared<const std::string>(std::move(x)); }
    std::shared_ptr<const list_obj> list;
    std::shared_ptr<const dict_obj> dict;
    std::shared_ptr<namespace_obj> ns;
    std::shared_ptr<const callable_obj> fn;

private:
    std::shared_ptr<const std::string> str_;

public:

    static value undefined(std::string hint = {}) {
        value v;
        v.set_s(std::move(hint));
        return v;
    }
    static value none() { value v; v.kind = value_kind::none; return v; }
    static value boolean(bool x) { value v; v.kind = value_kind::boolean; v.b = x; return v; }
    static value integer(std::int64_t x) { value v; v.kind = value_kind::integer; v.i = x; return v; }
    static value floating(double x) { value v; v.kind = value_kind::floating; v.f = x; return v; }
    static value string(std::string x) { value v; v.kind = value_kind::string; v.set_s(std::move(x)); return v; }
    static value make_list(std::vector<value> items, bool tuple = false);
    static value make_dict(std::vector<std::pair<value, value>> items, bool unique_keys = false);

    bool is_undefined() const { return kind == value_kind::undefined; }
    bool is_none() const { return kind == value_kind::none; }
    bool is_string() const { return kind == value_kind::string; }
    bool is_number() const {
        return kind == value_kind::integer || kind == value_kind::floating || kind == value_kind::boolean;
    }
    bool is_integral() const { return kind == value_kind::integer || kind == value_kind::boolean; }
    bool is_list() const { return kind == value_kind::list; }
    bool is_dict() const { return kind == value_kind::dict; }
    std::int64_t as_int() const { return kind == value_kind::boolean ? (b ? 1 : 0) : i; }
    double as_double() const { return kind == value_kind::floating ? f : static_cast<double>(as_int()); }
    int depth() const;
    bool holds_namespace() const;
};

struct list_obj {
    std::vector<value> items;
    bool tuple = false;
    int depth = 1;
    bool has_ns = false;
};

struct dict_obj {
    std::vector<std::pair<value, value>> items;  ///< insertion order, as a Python dict
    int depth = 1;
    bool has_ns = false;
    const value* find(const value& key) const;
};

struct namespace_obj {
    std::vector<std::pair<std::string, value>> attrs;
    value* find(const std::string& key) {
        for (auto& [k, v] : attrs)
            if (k == key) return &v;
        return nullptr;
    }
};

/// A function value: a global (range, namespace, ...), a method bound to `self` ("strip" of a
/// string), or a macro (`macro` points at its definition in the interpreter's tree).
struct callable_obj {
    enum class type { global, method, macro } kind = type::global;
    std::string name;
    std::vector<value> self;  ///< the bound object, for methods (a vector: value is incomplete here)
    const void* macro = nullptr;
};

inline int value::depth() const {
    if (kind == value_kind::list) return list->depth;
    if (kind == value_kind::dict) return dict->depth;
    if (kind == value_kind::ns) return 1;
    return 0;
}

inline bool value::holds_namespace() const {
    if (kind == value_kind::ns) return true;
    if (kind == value_kind::list) return list->has_ns;
    if (kind == value_kind::dict) return dict->has_ns;
    return false;
}

inline value value::make_list(std::vector<value> items, bool tuple) {
    auto obj = std::make_shared<list_obj>();
    for (const auto& it : items) {
        obj->depth = std::max(obj->depth, it.depth() + 1);
        obj->has_ns = obj->has_ns || it.holds_namespace();
    }
    if (obj->depth > max_value_depth)
        throw value_limit_error("max_depth", "values nested deeper than " + std::to_string(max_value_depth) + " levels");
    obj->items = std::move(items);
    obj->tuple = tuple;
    value v;
    v.kind = value_kind::list;
    v.list = std::move(obj);
    return v;
}

inline bool py_equal(const value& a, const value& b);

inline value value::make_dict(std::vector<std::pair<value, value>> items, bool unique_keys) {
    auto obj = std::make_shared<dict_obj>();
    for (const auto& [k, it] : items) {
        obj->depth = std::max({obj->depth, it.depth() + 1, k.depth() + 1});
        obj->has_ns = obj->has_ns || it.holds_namespace() || k.holds_namespace();
    }
    if (obj->depth > max_value_depth)
        throw value_limit_error("max_depth", "values nested deeper than " + std::to_string(max_value_depth) + " levels");
    value v;
    v.kind = value_kind::dict;
    v.dict = obj;
    // Python dict semantics: a repeated key keeps its first position and takes the last value.
    if (unique_keys) {
        obj->items = std::move(items);
        return v;
    }
    obj->items.reserve(items.size());
    for (auto& kv : items) {
        bool replaced = false;
        for (auto& existing : obj->items)
            if (py_equal(existing.first, kv.first)) {
                existing.second = std::move(kv.second);
                replaced = true;
                break;
            }
        if (!replaced) obj->items.push_back(std::move(kv));
    }
    return v;
}

// ------------------------------------------------------------------------------------ UTF-8

/// Decodes UTF-8 into code points; invalid bytes decode as themselves (U+0080..U+00FF is never
/// produced for them by valid text, so they round-trip through encode_utf8 below as raw bytes).
inline std::vector<char32_t> decode_utf8(std::string_view s) {
    std::vector<char32_t> out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n > 0 && i + static_cast<std::size_t>(n) <= s.size();
        for (int k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
        if (!ok) {
            out.push_back(0x110000u + c);  // a raw byte, kept apart from real code points
            ++i;
            continue;
        }
        char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
        for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
        out.push_back(cp);
        i += static_cast<std::size_t>(n);
    }
    return out;
}

inline void append_utf8(std::string& out, char32_t cp) {
    if (cp >= 0x110000u)
        out.push_back(static_cast<char>(cp - 0x110000u));
    else
        text::utf8_append(out, cp);
}

inline std::string encode_utf8(const std::vector<char32_t>& cps, std::size_t begin = 0,
                               std::size_t end = static_cast<std::size_t>(-1)) {
    std::string out;
    end = std::min(end, cps.size());
    for (std::size_t k = begin; k < end; ++k) append_utf8(out, cps[k]);
    return out;
}

inline bool is_ascii(std::string_view s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    return true;
}

/// Number of code points (Python's len(str)).
inline std::size_t utf8_length(std::string_view s) {
    if (is_ascii(s)) return s.size();
    return decode_utf8(s).size();
}

/// Python's str.isspace() for one code point (the Unicode whitespace characters).
inline bool is_py_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

// ------------------------------------------------------------------------------------ str / repr

/// Python's repr(float): the shortest round-trip digits, scientific below 1e-4 and from 1e16.
inline std::string format_float(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    std::string sci(buf, res.ptr);
    bool neg = sci[0] == '-';
    if (neg) sci.erase(0, 1);
    auto epos = sci.find('e');
    int exp = std::stoi(sci.substr(epos + 1));
    std::string digits;
    for (char c : sci.substr(0, epos))
        if (c != '.') digits.push_back(c);
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    std::string out = neg ? "-" : "";
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            out += "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
        } else if (static_cast<std::size_t>(exp) + 1 >= digits.size()) {
            out += digits + std::string(static_cast<std::size_t>(exp) + 1 - digits.size(), '0') + ".0";
        } else {
            out += digits.substr(0, static_cast<std::size_t>(exp) + 1) + "." +
                   digits.substr(static_cast<std::size_t>(exp) + 1);
        }
    } else {
        out += digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        char eb[16];
        std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        out += eb;
    }
    return out;
}

/// Characters Python's str.isprintable() rejects (so repr() escapes them): the controls, and the
/// separators and format characters below U+10000 that chat text may realistically contain.
inline bool is_py_unprintable(char32_t c) {
    return c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x2064) ||
           (c >= 0x2066 && c <= 0x206F) || c == 0x3000 || c == 0xFEFF || (c >= 0xD800 && c <= 0xDFFF) ||
           (c >= 0xE000 && c <= 0xF8FF) || c == 0xFFF9 || c == 0xFFFA || c == 0xFFFB || c >= 0x110000;
}

/// Walks the UTF-8 text `s` for a quoted literal: printable ASCII other than `quote` and '\\'
/// is copied as is, every other code point (invalid bytes decode to U+110000 + byte, as
/// decode_utf8 does) goes through `escape(out, c)`. repr() and json.dumps differ only in `escape`.
template <class Escape>
void append_escaped(std::string& out, std::string_view s, char quote, Escape&& escape) {
    for (std::size_t at = 0; at < s.size();) {
        const auto byte = static_cast<unsigned char>(s[at]);
        if (byte >= 0x20 && byte < 0x7F && byte != static_cast<unsigned char>(quote) && byte != '\\') {
            out.push_back(static_cast<char>(byte));  // printable ASCII: as is
            ++at;
            continue;
        }
        std::size_t len = 1;
        if (byte >= 0x80) {
            const std::size_t n = (byte >> 5) == 6 ? 2 : (byte >> 4) == 14 ? 3 : (byte >> 3) == 30 ? 4 : 1;
            len = std::min(n, s.size() - at);
        }
        const std::vector<char32_t> one = decode_utf8(s.substr(at, len));
        at += len;
        for (char32_t c : one) escape(out, c);
    }
}

inline void repr_char(std::string& out, char32_t c, char quote);

inline std::string repr_string(std::string_view s) {
    bool has_single = s.find('\'') != std::string_view::npos;
    bool has_double = s.find('"') != std::string_view::npos;
    char quote = (has_single && !has_double) ? '"' : '\'';
    std::string out(1, quote);
    out.reserve(s.size() + 2);
    append_escaped(out, s, quote, [quote](std::string& o, char32_t c) { repr_char(o, c, quote); });
    out.push_back(quote);
    return out;
}

inline void repr_char(std::string& out, char32_t c, char quote) {
    {
        if (c == static_cast<char32_t>(quote) || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (is_py_unprintable(c)) {
            char buf[16];
            if (c >= 0x110000) std::snprintf(buf, sizeof buf, "\\udc%02x", static_cast<unsigned>(c - 0x110000));
            else if (c < 0x100) std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
            else std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            out += buf;
        } else {
            append_utf8(out, c);
        }
    }
}

/// Appends Python's repr(v) to `out`, the way list and dict elements print; stops with
/// value_limit_error once `out` would exceed `max_bytes`.
inline void repr_into(std::string& out, const value& v, std::size_t max_bytes) {
    auto check = [&] {
        if (out.size() > max_bytes)
            throw value_limit_error("max_output_bytes", "a printed value exceeds " + std::to_string(max_bytes) + " bytes");
    };
    switch (v.kind) {
        case value_kind::undefined: out += "Undefined"; break;  // repr(Undefined); str() is empty
        case value_kind::none: out += "None"; break;
        case value_kind::boolean: out += v.b ? "True" : "False"; break;
        case value_kind::integer: out += std::to_string(v.i); break;
        case value_kind::floating: out += format_float(v.f); break;
        case value_kind::string:
            if (out.size() + v.s().size() > max_bytes)  // the repr is at least as long as the text
                throw value_limit_error("max_output_bytes", "a printed value exceeds " + std::to_string(max_bytes) + " bytes");
            out += repr_string(v.s());
            break;
        case value_kind::list: {
            out += v.list->tuple ? "(" : "[";
            for (std::size_t k = 0; k < v.list->items.size(); ++k) {
                if (k) out += ", ";
                repr_into(out, v.list->items[k], max_bytes);
            }
            if (v.list->tuple && v.list->items.size() == 1) out += ",";
            out += v.list->tuple ? ")" : "]";
            break;
        }
        case value_kind::dict: {
            out += "{";
            for (std::size_t k = 0; k < v.dict->items.size(); ++k) {
                if (k) out += ", ";
                repr_into(out, v.dict->items[k].first, max_bytes);
                out += ": ";
                repr_into(out, v.dict->items[k].second, max_bytes);
            }
            out += "}";
            break;
        }
        case value_kind::ns: {
            out += "<Namespace {";
            for (std::size_t k = 0; k < v.ns->attrs.size(); ++k) {
                if (k) out += ", ";
                out += repr_string(v.ns->attrs[k].first) + ": ";
                repr_into(out, v.ns->attrs[k].second, max_bytes);
            }
            out += "}>";
            break;
        }
        case value_kind::callable:
            throw value_error("printing the function '" + v.fn->name + "' is not supported");
    }
    check();
}

/// Python's repr(v).
inline std::string to_repr(const value& v, std::size_t max_bytes = static_cast<std::size_t>(-1)) {
    std::string out;
    repr_into(out, v, max_bytes);
    return out;
}

/// Python's str(v), which is what `{{ v }}` prints (Undefined prints as nothing).
inline std::string to_str(const value& v, std::size_t max_bytes = static_cast<std::size_t>(-1)) {
    switch (v.kind) {
        case value_kind::undefined: return "";
        case value_kind::string: return v.s();
        default: return to_repr(v, max_bytes);
    }
}

// ------------------------------------------------------------------------------------ semantics

/// Python truthiness (Undefined is falsy).
inline bool truthy(const value& v) {
    switch (v.kind) {
        case value_kind::undefined:
        case value_kind::none: return false;
        case value_kind::boolean: return v.b;
        case value_kind::integer: return v.i != 0;
        case value_kind::floating: return v.f != 0.0;
        case value_kind::string: return !v.s().empty();
        case value_kind::list: return !v.list->items.empty();
        case value_kind::dict: return !v.dict->items.empty();
        default: return true;
    }
}

/// Python ==, with bool/int/float comparing as numbers; Undefined equals Undefined.
inline bool py_equal(const value& a, const value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.is_integral() && b.is_integral()) return a.as_int() == b.as_int();
        return a.as_double() == b.as_double();
    }
    if (a.kind != b.kind) return false;
    switch (a.kind) {
        case value_kind::undefined:
        case value_kind::none: return true;
        case value_kind::string: return a.s() == b.s();
        case value_kind::list: {
            if (a.list->tuple != b.list->tuple || a.list->items.size() != b.list->items.size()) return false;
            for (std::size_t k = 0; k < a.list->items.size(); ++k)
                if (!py_equal(a.list->items[k], b.list->items[k])) return false;
            return true;
        }
        case value_kind::dict: {
            if (a.dict->items.size() != b.dict->items.size()) return false;
            for (const auto& [key, val] : a.dict->items) {
                const value* other = b.dict->find(key);
                if (!other || !py_equal(val, *other)) return false;
            }
            return true;
        }
        case value_kind::ns: return a.ns == b.ns;
        case value_kind::callable: return a.fn == b.fn;
        default: return false;
    }
}

inline const value* dict_obj::find(const value& key) const {
    for (const auto& kv : items)
        if (py_equal(kv.first, key)) return &kv.second;
    return nullptr;
}

inline const char* type_name(const value& v) {
    switch (v.kind) {
        case value_kind::undefined: return "Undefined";
        case value_kind::none: return "NoneType";
        case value_kind::boolean: return "bool";
        case value_kind::integer: return "int";
        case value_kind::floating: return "float";
        case value_kind::string: return "str";
        case value_kind::list: return v.list->tuple ? "tuple" : "list";
        case value_kind::dict: return "dict";
        case value_kind::ns: return "Namespace";
        case value_kind::callable: return "function";
    }
    return "object";
}

/// Python's <, for numbers, strings (code point order = UTF-8 byte order) and same-typed sequences.
inline bool py_less(const value& a, const value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.is_integral() && b.is_integral()) return a.as_int() < b.as_int();
        return a.as_double() < b.as_double();
    }
    if (a.is_string() && b.is_string()) return a.s() < b.s();
    if (a.is_list() && b.is_list() && a.list->tuple == b.list->tuple) {
        const auto& x = a.list->items;
        const auto& y = b.list->items;
        for (std::size_t k = 0; k < x.size() && k < y.size(); ++k) {
            if (py_equal(x[k], y[k])) continue;
            return py_less(x[k], y[k]);
        }
        return x.size() < y.size();
    }
    throw value_error(std::string("'<' not supported between instances of '") + type_name(a) + "' and '" +
                      type_name(b) + "'");
}

// ------------------------------------------------------------------------------------ JSON

/// A JSON document as a template value (objects keep the json type's key order).
template <class Json>
value from_json(const Json& j, int depth = 0) {
    if (depth > max_value_depth)
        throw value_error("JSON nested deeper than " + std::to_string(max_value_depth) + " levels");
    switch (j.type()) {
        case nlohmann::json::value_t::null: return value::none();
        case nlohmann::json::value_t::boolean: return value::boolean(j.template get<bool>());
        case nlohmann::json::value_t::number_integer: return value::integer(j.template get<std::int64_t>());
        case nlohmann::json::value_t::number_unsigned: {
            auto u = j.template get<std::uint64_t>();
            if (u > static_cast<std::uint64_t>(INT64_MAX)) return value::floating(static_cast<double>(u));
            return value::integer(static_cast<std::int64_t>(u));
        }
        case nlohmann::json::value_t::number_float: return value::floating(j.template get<double>());
        case nlohmann::json::value_t::string: return value::string(j.template get<std::string>());
        case nlohmann::json::value_t::array: {
            std::vector<value> items;
            for (const auto& e : j) items.push_back(from_json(e, depth + 1));
            return value::make_list(std::move(items));
        }
        case nlohmann::json::value_t::object: {
            std::vector<std::pair<value, value>> items;
            for (auto it = j.begin(); it != j.end(); ++it)
                items.emplace_back(value::string(it.key()), from_json(it.value(), depth + 1));
            return value::make_dict(std::move(items));
        }
        default: throw value_error("unsupported JSON value (binary or discarded)");
    }
}

/// The options of Python's json.dumps that transformers' tojson filter passes on.
struct json_dump_options {
    bool has_indent = false;
    std::string indent;  ///< the indent unit (an int n means n spaces)
    std::string item_separator = ", ";
    std::string key_separator = ": ";
    bool sort_keys = false;
    bool ensure_ascii = false;
};

inline void json_char(std::string& out, char32_t c, bool ensure_ascii);

inline std::string json_string(std::string_view s, bool ensure_ascii) {
    std::string out = "\"";
    out.reserve(s.size() + 2);
    append_escaped(out, s, '"', [ensure_ascii](std::string& o, char32_t c) { json_char(o, c, ensure_ascii); });
    return out + "\"";
}

inline void json_char(std::string& out, char32_t c, bool ensure_ascii) {
    {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default: {
                char buf[16];
                if (c >= 0x110000) {
                    std::snprintf(buf, sizeof buf, "\\udc%02x", static_cast<unsigned>(c - 0x110000));
                    out += buf;
                } else if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
                    if (c >= 0x10000) {
                        char32_t v = c - 0x10000;
                        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                                      static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
                    } else {
                        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    }
                    out += buf;
                } else {
                    append_utf8(out, c);
                }
            }
        }
    }
}

/// Python's json.dumps(v, ...) for the values JSON can hold (tuples as arrays, non-string keys as
/// Python converts them); Undefined, namespaces and functions are not serialisable, as in Python.
inline void dump_json(std::string& out, const value& v, const json_dump_options& o, int level,
                      std::size_t max_bytes = static_cast<std::size_t>(-1)) {
    if (out.size() > max_bytes)
        throw value_limit_error("max_output_bytes", "a JSON text exceeds " + std::to_string(max_bytes) + " bytes");
    auto newline = [&](int lvl) {
        out.push_back('\n');
        for (int k = 0; k < lvl; ++k) out += o.indent;
    };
    switch (v.kind) {
        case value_kind::none: out += "null"; return;
        case value_kind::boolean: out += v.b ? "true" : "false"; return;
        case value_kind::integer: out += std::to_string(v.i); return;
        case value_kind::floating:
            out += std::isnan(v.f) ? "NaN" : std::isinf(v.f) ? (v.f < 0 ? "-Infinity" : "Infinity") : format_float(v.f);
            return;
        case value_kind::string:
            if (out.size() + v.s().size() > max_bytes)
                throw value_limit_error("max_output_bytes", "a JSON text exceeds " + std::to_string(max_bytes) + " bytes");
            out += json_string(v.s(), o.ensure_ascii);
            return;
        case value_kind::list: {
            const auto& items = v.list->items;
            if (items.empty()) { out += "[]"; return; }
            out.push_back('[');
            for (std::size_t k = 0; k < items.size(); ++k) {
                if (k) out += o.item_separator;
                if (o.has_indent) newline(level + 1);
                dump_json(out, items[k], o, level + 1, max_bytes);
            }
            if (o.has_indent) newline(level);
            out.push_back(']');
            return;
        }
        case value_kind::dict: {
            std::vector<std::pair<std::string, const value*>> items;
            for (const auto& [key, val] : v.dict->items) {
                std::string k;
                if (key.is_string()) k = key.s();
                else if (key.kind == value_kind::none) k = "null";
                else if (key.kind == value_kind::boolean) k = key.b ? "true" : "false";
                else if (key.kind == value_kind::integer) k = std::to_string(key.i);
                else if (key.kind == value_kind::floating) k = format_float(key.f);
                else throw value_error(std::string("keys must be str, int, float, bool or None, not ") + type_name(key));
                items.emplace_back(std::move(k), &val);
            }
            if (o.sort_keys)
                std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
            if (items.empty()) { out += "{}"; return; }
            out.push_back('{');
            for (std::size_t k = 0; k < items.size(); ++k) {
                if (k) out += o.item_separator;
                if (o.has_indent) newline(level + 1);
                out += json_string(items[k].first, o.ensure_ascii);
                out += o.key_separator;
                dump_json(out, *items[k].second, o, level + 1, max_bytes);
            }
            if (o.has_indent) newline(level);
            out.push_back('}');
            return;
        }
        default:
            throw value_error(std::string("Object of type ") + type_name(v) + " is not JSON serializable");
    }
}

}  // namespace dsv2::jinja
