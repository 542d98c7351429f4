// safetensors: zero-copy reading, strict validation and writing of the safetensors format.
//
// Layout of a file: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the data
// section. The JSON is an object mapping each tensor name to {"dtype", "shape", "data_offsets":
// [begin, end]} (offsets relative to the start of the data section), plus an optional
// "__metadata__" object of string -> string. Data is raw little-endian, row-major.
//
// Validation is strict (safetensors_file::open and ::parse run the same checks); every failure is a
// dsv2::safetensors_error whose message names the file and, where one is involved, the tensor:
//   - the file holds the 8-byte prefix; N <= 100,000,000 (the reference implementation's cap) and
//     N fits in the file;
//   - the header is valid UTF-8 and valid JSON without NUL bytes, an object, nested at most 3
//     deep, and no object in it repeats a key (nlohmann::json would silently keep the last one; we
//     detect repeats with a parser callback and reject them);
//   - "__metadata__", when present, is an object of string values;
//   - a tensor name is not empty; its entry is an object holding exactly "dtype" (a string naming
//     a supported dtype), "shape" (an array of non-negative integers whose product, times the dtype
//     size, fits in 64 bits) and "data_offsets" (two non-negative integers begin <= end, end within
//     the data section); shape x dtype size == end - begin;
//   - the byte ranges neither overlap nor leave holes, and together cover the whole data section.
//     This follows the format's own rule ("the byte buffer needs to be entirely indexed, and cannot
//     contain holes"), which prevents polyglot files hiding data. Zero-sized tensors are allowed
//     anywhere a range ends or begins; one sitting strictly inside another tensor's range counts as
//     an overlap, as in the reference implementation.
// Unsupported dtypes (F8_*, U16, U32, U64, ...) are rejected with the list of supported ones.
//
// A tensor_view points into the file's bytes: it stays valid as long as the safetensors_file (or
// the checkpoint) that produced it lives. Its bytes may be unaligned; read them through to_float /
// to_int64, which decode little-endian explicitly.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsv2/core/dtype.hpp"
#include "dsv2/core/error.hpp"
#include "dsv2/io/mapped_file.hpp"

namespace dsv2::io {

/// "[2, 3]" for a shape {2, 3}; "[]" for a scalar.
inline std::string shape_string(std::span<const std::int64_t> shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

namespace detail::safetensors {

/// Largest header accepted, as in the reference implementation (MAX_HEADER_SIZE).
inline constexpr std::uint64_t safetensors_max_header_bytes = 100'000'000;

/// a * b, or nullopt when it does not fit in 64 bits.
constexpr std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b) noexcept {
    if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return std::nullopt;
    return a * b;
}

/// Element count of a shape, or nullopt when a dimension is negative or the count exceeds int64.
inline std::optional<std::uint64_t> checked_numel(std::span<const std::int64_t> shape) noexcept {
    std::uint64_t n = 1;
    for (std::int64_t d : shape) {
        if (d < 0) return std::nullopt;
        auto m = checked_mul(n, static_cast<std::uint64_t>(d));
        if (!m) return std::nullopt;
        n = *m;
    }
    if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return n;
}

/// Byte offset of the first byte that breaks UTF-8 (overlong forms, surrogates and code points past
/// U+10FFFF included), or nullopt when `s` is valid.
inline std::optional<std::size_t> first_invalid_utf8(std::string_view s) noexcept {
    struct lead {
        std::size_t len;  // bytes in the sequence; 0: not a valid first byte
        unsigned lo, hi;  // allowed range of the second byte
    };
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        // clang-format off
        const lead l = c >= 0xc2 && c <= 0xdf ? lead{2, 0x80, 0xbf}
                     : c == 0xe0              ? lead{3, 0xa0, 0xbf}   // no overlong 3-byte forms
                     : c >= 0xe1 && c <= 0xec ? lead{3, 0x80, 0xbf}
                     : c == 0xed              ? lead{3, 0x80, 0x9f}   // no UTF-16 surrogates
                     : c >= 0xee && c <= 0xef ? lead{3, 0x80, 0xbf}
                     : c == 0xf0              ? lead{4, 0x90, 0xbf}   // no overlong 4-byte forms
                     : c >= 0xf1 && c <= 0xf3 ? lead{4, 0x80, 0xbf}
                     : c == 0xf4              ? lead{4, 0x80, 0x8f}   // nothing past U+10FFFF
                     :                          lead{0, 0, 0};        // 0x80-0xc1, 0xf5-0xff
        // clang-format on
        if (l.len == 0 || n - i < l.len) return i;
        if (p[i + 1] < l.lo || p[i + 1] > l.hi) return i;
        for (std::size_t k = 2; k < l.len; ++k)
            if (p[i + k] < 0x80 || p[i + k] > 0xbf) return i;
        i += l.len;
    }
    return std::nullopt;
}

/// At most `max` characters of `s`, with "..." when cut (keeps messages short on hostile input).
inline std::string clip(std::string s, std::size_t max = 80) {
    if (s.size() > max) {
        s.resize(max);
        s += "...";
    }
    return s;
}

/// A JSON value, compactly, clipped for messages. Invalid UTF-8 is replaced, never thrown on.
inline std::string clip_json(const nlohmann::json& j) {
    return clip(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

/// Parses `text` as JSON, rejecting any object that repeats a key and any value nested deeper than
/// `max_depth` (the top-level value is at depth 0, its members at 1, ...). On failure calls
/// `fail(top_key, what)`, which must throw: `top_key` is the most recent key of the top-level object
/// (the tensor name, for a safetensors header), or empty.
template <class Fail>
nlohmann::json parse_json_strict(std::string_view text, int max_depth, Fail&& fail) {
    using event = nlohmann::json::parse_event_t;
    std::vector<std::set<std::string, std::less<>>> open_objects;  // keys seen so far in each open object
    std::string top_key;
    auto callback = [&](int depth, event ev, nlohmann::json& parsed) -> bool {
        if (depth > max_depth)
            fail(top_key, "JSON nests deeper than " + std::to_string(max_depth) + " levels");
        switch (ev) {
            case event::object_start: open_objects.emplace_back(); break;
            case event::object_end:
                if (!open_objects.empty()) open_objects.pop_back();
                break;
            case event::key: {
                const auto& k = parsed.get_ref<const std::string&>();
                if (depth == 1) top_key = k;
                if (!open_objects.empty() && !open_objects.back().insert(k).second)
                    fail(top_key,
                         "duplicate key '" + clip(k) + "'" +
                             (depth == 1 ? std::string() : " in the object of '" + clip(top_key) + "'"));
                break;
            }
            default: break;
        }
        return true;
    };
    try {
        return nlohmann::json::parse(text.begin(), text.end(), callback);
    } catch (const nlohmann::json::exception& e) {
        fail(std::string(), std::string("not valid JSON: ") + e.what());
    }
    return {};  // not reached: fail throws
}

inline std::uint16_t load_u16le(const std::byte* p) noexcept {
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) |
                                      (std::to_integer<unsigned>(p[1]) << 8));
}
inline std::uint32_t load_u32le(const std::byte* p) noexcept {
    std::uint32_t v = 0;
    for (int k = 3; k >= 0; --k) v = (v << 8) | std::to_integer<std::uint32_t>(p[k]);
    return v;
}
inline std::uint64_t load_u64le(const std::byte* p) noexcept {
    std::uint64_t v = 0;
    for (int k = 7; k >= 0; --k) v = (v << 8) | std::to_integer<std::uint64_t>(p[k]);
    return v;
}

inline std::string supported_dtypes() {
    std::string s;
    for (dtype t : {dtype::f32, dtype::f16, dtype::bf16, dtype::f64, dtype::i64, dtype::i32, dtype::i16,
                    dtype::i8, dtype::u8, dtype::boolean}) {
        if (!s.empty()) s += ", ";
        s += safetensors_name(t);
    }
    return s;
}

}  // namespace detail::safetensors

/// A tensor inside a safetensors file, without copying its data.
struct tensor_view {
    std::string name;  ///< the tensor's name in the file (for messages)
    std::string file;  ///< the file it lives in (for messages)
    dtype type = dtype::f32;
    std::vector<std::int64_t> shape;   ///< row-major dimensions; empty for a scalar
    std::span<const std::byte> bytes;  ///< raw little-endian data; may be unaligned

    /// Product of the shape (1 for a scalar). Throws safetensors_error on a negative dimension or
    /// a count that does not fit in int64 (possible only for a hand-built view).
    std::int64_t numel() const {
        const auto n = detail::safetensors::checked_numel(shape);
        if (!n)
            throw safetensors_error(file, name,
                                    "shape " + shape_string(shape) + " has no valid element count");
        return static_cast<std::int64_t>(*n);
    }
};

namespace detail::safetensors {

/// Checks that a view's bytes match its shape and dtype; returns the element count.
inline std::size_t checked_view_size(const tensor_view& t, const char* who) {
    const auto n = static_cast<std::uint64_t>(t.numel());
    const auto need = checked_mul(n, size_of(t.type));
    if (!need || *need != t.bytes.size())
        throw safetensors_error(t.file, t.name,
                                std::string(who) + ": view holds " + std::to_string(t.bytes.size()) +
                                    " bytes, shape " + shape_string(t.shape) + " of " +
                                    std::string(safetensors_name(t.type)) + " needs " +
                                    (need ? std::to_string(*need) : std::string("more than 2^64")));
    return static_cast<std::size_t>(n);
}

}  // namespace detail::safetensors

/// Decodes a floating tensor (F32, BF16, F16, F64) into `out`, which must hold exactly numel()
/// floats. F64 is rounded to nearest (out-of-range values become +-inf). Throws safetensors_error
/// naming the tensor for an integer dtype or a size mismatch.
inline void to_float(const tensor_view& t, std::span<float> out) {
    if (!is_floating(t.type))
        throw safetensors_error(t.file, t.name,
                                "to_float: dtype " + std::string(safetensors_name(t.type)) +
                                    " is not a floating type (use to_int64)");
    const std::size_t n = detail::safetensors::checked_view_size(t, "to_float");
    if (out.size() != n)
        throw safetensors_error(t.file, t.name,
                                "to_float: output holds " + std::to_string(out.size()) + " floats, tensor " +
                                    shape_string(t.shape) + " has " + std::to_string(n) + " elements");
    const std::byte* p = t.bytes.data();
    switch (t.type) {
        case dtype::f32:
            if constexpr (std::endian::native == std::endian::little) {
                if (n > 0) std::memcpy(out.data(), p, n * sizeof(float));
            } else {
                for (std::size_t i = 0; i < n; ++i)
                    out[i] = std::bit_cast<float>(detail::safetensors::load_u32le(p + 4 * i));
            }
            break;
        case dtype::bf16:
            for (std::size_t i = 0; i < n; ++i)
                out[i] = bf16_to_float(detail::safetensors::load_u16le(p + 2 * i));
            break;
        case dtype::f16:
            for (std::size_t i = 0; i < n; ++i)
                out[i] = f16_to_float(detail::safetensors::load_u16le(p + 2 * i));
            break;
        case dtype::f64:
            for (std::size_t i = 0; i < n; ++i)
                out[i] =
                    static_cast<float>(std::bit_cast<double>(detail::safetensors::load_u64le(p + 8 * i)));
            break;
        default: break;  // excluded above
    }
}

/// Decodes a floating tensor into a new vector of numel() floats (see the overload above).
inline std::vector<float> to_float(const tensor_view& t) {
    if (!is_floating(t.type))  // checked before allocating anything
        throw safetensors_error(t.file, t.name,
                                "to_float: dtype " + std::string(safetensors_name(t.type)) +
                                    " is not a floating type (use to_int64)");
    std::vector<float> out(detail::safetensors::checked_view_size(t, "to_float"));
    to_float(t, out);
    return out;
}

/// Decodes an integer or boolean tensor (I64, I32, I16, I8, U8, BOOL) into int64 values. BOOL bytes
/// must be 0 or 1. Throws safetensors_error naming the tensor for a floating dtype or bad data.
inline std::vector<std::int64_t> to_int64(const tensor_view& t) {
    if (is_floating(t.type))
        throw safetensors_error(t.file, t.name,
                                "to_int64: dtype " + std::string(safetensors_name(t.type)) +
                                    " is a floating type (use to_float)");
    const std::size_t n = detail::safetensors::checked_view_size(t, "to_int64");
    std::vector<std::int64_t> out(n);
    const std::byte* p = t.bytes.data();
    for (std::size_t i = 0; i < n; ++i) {
        switch (t.type) {
            case dtype::i64:
                out[i] = static_cast<std::int64_t>(detail::safetensors::load_u64le(p + 8 * i));
                break;
            case dtype::i32:
                out[i] = static_cast<std::int32_t>(detail::safetensors::load_u32le(p + 4 * i));
                break;
            case dtype::i16:
                out[i] = static_cast<std::int16_t>(detail::safetensors::load_u16le(p + 2 * i));
                break;
            case dtype::i8: out[i] = static_cast<std::int8_t>(std::to_integer<std::uint8_t>(p[i])); break;
            case dtype::u8: out[i] = std::to_integer<std::uint8_t>(p[i]); break;
            case dtype::boolean: {
                const auto b = std::to_integer<std::uint8_t>(p[i]);
                if (b > 1)
                    throw safetensors_error(t.file, t.name,
                                            "to_int64: BOOL element " + std::to_string(i) + " is " +
                                                std::to_string(b) + ", not 0 or 1");
                out[i] = b;
                break;
            }
            default: break;  // floating: excluded above
        }
    }
    return out;
}

/// One entry of a safetensors header, validated.
struct tensor_entry {
    std::string name;
    dtype type = dtype::f32;
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0;  ///< offset of the first byte, relative to the start of the data section
    std::uint64_t end = 0;    ///< one past the last byte
};

/// A safetensors file, mapped (or held) in memory with its header validated.
class safetensors_file {
public:
    /// Maps `path` and validates it. Throws io_error when it cannot be read, safetensors_error when
    /// it breaks the format.
    static safetensors_file open(const std::filesystem::path& path) {
        safetensors_file f;
        f.map_ = mapped_file::open(path);
        f.path_ = path;
        f.load(f.map_.bytes());
        return f;
    }

    /// Validates a file held in memory; `name` stands for its path in messages.
    static safetensors_file parse(std::vector<std::byte> bytes, std::string name) {
        safetensors_file f;
        f.owned_ = std::move(bytes);
        f.path_ = std::move(name);
        f.load(f.owned_);
        return f;
    }

    /// The path given to open() (or the name given to parse()).
    const std::filesystem::path& path() const noexcept { return path_; }
    /// The "__metadata__" map (empty when absent).
    const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
    /// Every tensor, sorted by begin offset (then end, then name).
    const std::vector<tensor_entry>& entries() const noexcept { return entries_; }
    /// Whether a tensor of that name exists.
    bool contains(std::string_view name) const { return index_.find(name) != index_.end(); }
    /// The entry of a tensor; throws safetensors_error naming it when absent.
    const tensor_entry& entry(std::string_view name) const {
        const auto it = index_.find(name);
        if (it == index_.end())
            throw safetensors_error(path_.string(), std::string(name), "no such tensor in the file");
        return entries_[it->second];
    }
    /// A zero-copy view of a tensor; throws safetensors_error naming it when absent.
    tensor_view view(std::string_view name) const {
        const tensor_entry& e = entry(name);
        return tensor_view{
            e.name, path_.string(), e.type, e.shape,
            data_.subspan(static_cast<std::size_t>(e.begin), static_cast<std::size_t>(e.end - e.begin))};
    }

private:
    [[noreturn]] void fail(const std::string& tensor, const std::string& what) const {
        throw safetensors_error(path_.string(), tensor, what);
    }

    void load(std::span<const std::byte> file) {
        if (file.size() < 8)
            fail("", "file is " + std::to_string(file.size()) +
                         " bytes, shorter than the 8-byte header-length prefix of a safetensors file");
        const std::uint64_t n = detail::safetensors::load_u64le(file.data());
        const std::uint64_t rest = file.size() - 8;
        if (n > detail::safetensors::safetensors_max_header_bytes)
            fail("", "header length " + std::to_string(n) + " exceeds the limit of " +
                         std::to_string(detail::safetensors::safetensors_max_header_bytes) + " bytes");
        if (n > rest)
            fail("", "header length " + std::to_string(n) + " runs past the end of the file (" +
                         std::to_string(rest) + " bytes follow the prefix)");
        const std::string_view text(reinterpret_cast<const char*>(file.data() + 8),
                                    static_cast<std::size_t>(n));
        data_ = file.subspan(8 + static_cast<std::size_t>(n));

        if (const auto bad = detail::safetensors::first_invalid_utf8(text))
            fail("", "header is not valid UTF-8 (byte 0x" + hex_byte(static_cast<unsigned char>(text[*bad])) +
                         " at header offset " + std::to_string(*bad) + ")");
        // nlohmann's lexer takes a NUL byte for the end of input and would ignore what follows it:
        // JSON has no place for one, so refuse it outright.
        if (const auto nul = text.find('\0'); nul != std::string_view::npos)
            fail("", "header: not valid JSON: NUL byte at header offset " + std::to_string(nul));
        const nlohmann::json header = detail::safetensors::parse_json_strict(
            text, 3, [this](const std::string& key, const std::string& what) {
                if (key == "__metadata__") fail("", "header: __metadata__: " + what);
                fail(key, "header: " + what);
            });
        if (!header.is_object())
            fail("", std::string("header is not a JSON object (it is ") + header.type_name() + ")");

        for (const auto& [name, value] : header.items()) {
            if (name == "__metadata__") {
                read_metadata(value);
                continue;
            }
            entries_.push_back(read_entry(name, value));
        }
        std::sort(entries_.begin(), entries_.end(), [](const tensor_entry& a, const tensor_entry& b) {
            return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
        });
        check_coverage();
        for (std::size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].name, i);
    }

    static std::string hex_byte(unsigned char c) {
        constexpr char digits[] = "0123456789abcdef";
        return {digits[c >> 4], digits[c & 15]};
    }

    void read_metadata(const nlohmann::json& value) {
        if (!value.is_object())
            fail("", std::string("__metadata__ must be an object of strings, got ") + value.type_name());
        for (const auto& [k, v] : value.items()) {
            if (!v.is_string())
                fail("", "__metadata__ value of key '" + detail::safetensors::clip(k) +
                             "' must be a string, got " + v.type_name() + " " +
                             detail::safetensors::clip_json(v));
            metadata_.emplace(k, v.get<std::string>());
        }
    }

    tensor_entry read_entry(const std::string& name, const nlohmann::json& value) const {
        if (name.empty()) fail("", "a tensor has an empty name");
        if (!value.is_object())
            fail(name, std::string("entry must be an object {dtype, shape, data_offsets}, got ") +
                           value.type_name());
        for (const auto& [k, v] : value.items())
            if (k != "dtype" && k != "shape" && k != "data_offsets")
                fail(name, "unexpected key '" + detail::safetensors::clip(k) +
                               "' (an entry holds only dtype, shape, data_offsets)");

        tensor_entry e;
        e.name = name;

        // dtype
        const auto dt = value.find("dtype");
        if (dt == value.end()) fail(name, "missing 'dtype'");
        if (!dt->is_string())
            fail(name, std::string("'dtype' must be a string, got ") + dt->type_name() + " " +
                           detail::safetensors::clip_json(*dt));
        const auto& dts = dt->get_ref<const std::string&>();
        const auto parsed = parse_safetensors_dtype(dts);
        if (!parsed)
            fail(name, "unsupported dtype '" + detail::safetensors::clip(dts) +
                           "' (supported: " + detail::safetensors::supported_dtypes() + ")");
        e.type = *parsed;

        // shape
        const auto sh = value.find("shape");
        if (sh == value.end()) fail(name, "missing 'shape'");
        if (!sh->is_array())
            fail(name, std::string("'shape' must be an array of integers, got ") + sh->type_name() + " " +
                           detail::safetensors::clip_json(*sh));
        e.shape.reserve(sh->size());
        for (std::size_t i = 0; i < sh->size(); ++i) {
            const auto& d = (*sh)[i];
            if (d.is_number_unsigned()) {
                const auto u = d.get<std::uint64_t>();
                if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                    fail(name, "shape dimension " + std::to_string(i) + " (" + std::to_string(u) +
                                   ") exceeds int64");
                e.shape.push_back(static_cast<std::int64_t>(u));
            } else if (d.is_number_integer()) {
                fail(name, "negative dimension " + std::to_string(d.get<std::int64_t>()) +
                               " at shape index " + std::to_string(i));
            } else {
                fail(name, "'shape' must be an array of integers; element " + std::to_string(i) + " is " +
                               d.type_name() + " " + detail::safetensors::clip_json(d));
            }
        }
        const auto numel = detail::safetensors::checked_numel(e.shape);
        const auto nbytes = numel ? detail::safetensors::checked_mul(*numel, size_of(e.type)) : std::nullopt;
        if (!nbytes)
            fail(name, "shape " + detail::safetensors::clip(shape_string(e.shape)) + " of " + dts +
                           " overflows: its byte size does not fit in 64 bits");

        // data_offsets
        const auto off = value.find("data_offsets");
        if (off == value.end()) fail(name, "missing 'data_offsets'");
        if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
            !(*off)[1].is_number_unsigned())
            fail(name, "'data_offsets' must be two non-negative integers [begin, end], got " +
                           detail::safetensors::clip_json(*off));
        e.begin = (*off)[0].get<std::uint64_t>();
        e.end = (*off)[1].get<std::uint64_t>();
        const std::string range =
            "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
        if (e.begin > e.end) fail(name, range + ": begin is past end");
        if (e.end > data_.size())
            fail(name, range + " run past the end of the data section (" + std::to_string(data_.size()) +
                           " bytes)");
        if (e.end - e.begin != *nbytes)
            fail(name, "shape " + detail::safetensors::clip(shape_string(e.shape)) + " of " + dts + " is " +
                           std::to_string(*nbytes) + " bytes, but " + range + " span " +
                           std::to_string(e.end - e.begin));
        return e;
    }

    // entries_ sorted: each range must start where the previous one ended, the first at 0, the last
    // ending at the end of the data section.
    void check_coverage() const {
        std::uint64_t pos = 0;
        const tensor_entry* prev = nullptr;
        for (const tensor_entry& e : entries_) {
            const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ")";
            if (e.begin < pos)
                fail(e.name, "data " + range + " overlaps tensor '" + prev->name + "' [" +
                                 std::to_string(prev->begin) + ", " + std::to_string(prev->end) + ")");
            if (e.begin > pos)
                fail(e.name, "data section bytes [" + std::to_string(pos) + ", " + std::to_string(e.begin) +
                                 ") before this tensor belong to no tensor (the format forbids holes)");
            pos = e.end;
            prev = &e;
        }
        if (pos != data_.size())
            fail(prev ? prev->name : std::string(),
                 "data section bytes [" + std::to_string(pos) + ", " + std::to_string(data_.size()) +
                     ") after the last tensor belong to no tensor (the format forbids unindexed data)");
    }

    std::filesystem::path path_;
    mapped_file map_;                  // the file, when opened from disk
    std::vector<std::byte> owned_;     // the bytes, when parsed from memory
    std::span<const std::byte> data_;  // the data section, inside map_ or owned_
    std::map<std::string, std::string> metadata_;
    std::vector<tensor_entry> entries_;
    std::map<std::string, std::size_t, std::less<>> index_;  // name -> position in entries_
};

/// A tensor to write: its bytes are raw little-endian, row-major, numel x size_of(type) long.
struct tensor_to_write {
    std::string name;
    dtype type = dtype::f32;
    std::vector<std::int64_t> shape;
    std::span<const std::byte> data;
};

namespace detail::safetensors {

/// Throws safetensors_error (naming `path` and the tensor) unless `t` can be written.
inline std::uint64_t checked_write_size(const std::string& path, const tensor_to_write& t) {
    if (t.name.empty()) throw safetensors_error(path, "", "cannot write a tensor with an empty name");
    if (t.name == "__metadata__")
        throw safetensors_error(path, t.name, "the name is reserved for the metadata");
    if (first_invalid_utf8(t.name))
        throw safetensors_error(path, clip(t.name), "the name is not valid UTF-8");
    const auto numel = checked_numel(t.shape);
    const auto need = numel ? checked_mul(*numel, size_of(t.type)) : std::nullopt;
    if (!need)
        throw safetensors_error(path, t.name, "shape " + shape_string(t.shape) + " has no valid byte size");
    if (*need != t.data.size())
        throw safetensors_error(
            path, t.name,
            "shape " + shape_string(t.shape) + " of " + std::string(safetensors_name(t.type)) + " needs " +
                std::to_string(*need) + " bytes, data holds " + std::to_string(t.data.size()));
    return *need;
}

/// Writes `chunks` to `path` through a temporary file in the same folder, renamed into place, so a
/// reader never sees a half-written file. Throws io_error naming the path.
inline void write_file_atomically(const std::filesystem::path& path,
                                  std::span<const std::span<const std::byte>> chunks) {
    std::filesystem::path tmp = path;
    tmp += ".partial";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw io_error(path.string(), "cannot open " + tmp.string() + " for writing");
        for (const auto& c : chunks)
            if (!c.empty())
                out.write(reinterpret_cast<const char*>(c.data()), static_cast<std::streamsize>(c.size()));
        out.flush();
        if (!out) {
            out.close();
            std::error_code ec;
            std::filesystem::remove(tmp, ec);
            throw io_error(path.string(), "write failed (disk full?)");
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::error_code ignored;
        std::filesystem::remove(tmp, ignored);
        throw io_error(path.string(), "cannot rename " + tmp.string() + " into place: " + ec.message());
    }
}

inline std::span<const std::byte> as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace detail::safetensors

/// Writes `tensors`, in the order given, as one safetensors file, with `metadata` as its
/// "__metadata__" (omitted when empty). The header is padded with spaces so that the data section
/// starts 8-byte aligned, as the reference writer does. Throws safetensors_error naming the tensor
/// for an empty, reserved, repeated or non-UTF-8 name or data of the wrong size; io_error when the
/// file cannot be written.
inline void write_safetensors(const std::filesystem::path& path, std::span<const tensor_to_write> tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
    const std::string p = path.string();
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty()) {
        for (const auto& [k, v] : metadata)
            if (detail::safetensors::first_invalid_utf8(k) || detail::safetensors::first_invalid_utf8(v))
                throw safetensors_error(
                    p, "", "__metadata__ entry '" + detail::safetensors::clip(k) + "' is not valid UTF-8");
        header["__metadata__"] = metadata;
    }
    std::uint64_t offset = 0;
    for (const tensor_to_write& t : tensors) {
        const std::uint64_t n = detail::safetensors::checked_write_size(p, t);
        if (header.contains(t.name))
            throw safetensors_error(p, t.name, "the name appears twice among the tensors to write");
        header[t.name] = {{"dtype", std::string(safetensors_name(t.type))},
                          {"shape", t.shape},
                          {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string text = header.dump();
    text.append((8 - (8 + text.size()) % 8) % 8, ' ');
    std::array<std::byte, 8> prefix{};
    for (int k = 0; k < 8; ++k)
        prefix[static_cast<std::size_t>(k)] = static_cast<std::byte>((text.size() >> (8 * k)) & 0xffu);

    std::vector<std::span<const std::byte>> chunks;
    chunks.reserve(tensors.size() + 2);
    chunks.emplace_back(prefix);
    chunks.push_back(detail::safetensors::as_bytes(text));
    for (const tensor_to_write& t : tensors) chunks.push_back(t.data);
    detail::safetensors::write_file_atomically(path, chunks);
}

/// Writes `tensors` as shards `<prefix>-00001-of-0000N.safetensors`, ... in `dir` (created if
/// needed), filling each with consecutive tensors up to `max_shard_bytes` of tensor data (a tensor
/// larger than that gets a shard of its own), plus `<prefix>.safetensors.index.json` holding
/// {"metadata": {"total_size": <bytes of all tensors>}, "weight_map": {name: shard}}. Every shard
/// gets `metadata` as its "__metadata__". No tensors still writes one (empty) shard. Returns the
/// shard paths in order. Errors as write_safetensors; a repeated name is found before anything is
/// written.
inline std::vector<std::filesystem::path> write_sharded_safetensors(
    const std::filesystem::path& dir, std::span<const tensor_to_write> tensors, std::uint64_t max_shard_bytes,
    const std::map<std::string, std::string>& metadata = {}, const std::string& prefix = "model") {
    if (prefix.empty() || prefix.find_first_of("/\\") != std::string::npos)
        throw io_error(dir.string(), "shard prefix '" + prefix + "' must be a non-empty file name");
    const std::filesystem::path index_path = dir / (prefix + ".safetensors.index.json");

    // Plan the shards first, checking every tensor.
    std::vector<std::vector<std::size_t>> shards;  // tensor indices per shard
    std::set<std::string, std::less<>> seen;
    std::uint64_t total = 0, current = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const std::uint64_t n = detail::safetensors::checked_write_size(index_path.string(), tensors[i]);
        if (!seen.insert(tensors[i].name).second)
            throw safetensors_error(index_path.string(), tensors[i].name,
                                    "the name appears twice among the tensors to write");
        if (shards.empty() || (!shards.back().empty() && current + n > max_shard_bytes)) {
            shards.emplace_back();
            current = 0;
        }
        shards.back().push_back(i);
        current += n;
        total += n;
    }
    if (shards.empty()) shards.emplace_back();

    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw io_error(dir.string(), "cannot create the directory: " + ec.message());

    auto five_digits = [](std::size_t v) {
        std::string s = std::to_string(v);
        return s.size() < 5 ? std::string(5 - s.size(), '0') + s : s;
    };
    std::vector<std::filesystem::path> paths;
    nlohmann::json weight_map = nlohmann::json::object();
    std::vector<tensor_to_write> batch;
    for (std::size_t s = 0; s < shards.size(); ++s) {
        const std::string file =
            prefix + "-" + five_digits(s + 1) + "-of-" + five_digits(shards.size()) + ".safetensors";
        batch.clear();
        for (std::size_t i : shards[s]) {
            batch.push_back(tensors[i]);
            weight_map[tensors[i].name] = file;
        }
        paths.push_back(dir / file);
        write_safetensors(paths.back(), batch, metadata);
    }
    const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    const std::string text = index.dump(2) + "\n";
    const std::span<const std::byte> chunk = detail::safetensors::as_bytes(text);
    detail::safetensors::write_file_atomically(index_path,
                                               std::span<const std::span<const std::byte>>(&chunk, 1));
    return paths;
}

}  // namespace dsv2::io
