// gguf: zero-copy reading and strict validation of GGUF files (llama.cpp's model format).
//
// Layout (versions 2 and 3; every integer little-endian; docs/gguf.md has the details):
//   "GGUF" magic, u32 version, u64 tensor count, u64 metadata count,
//   metadata: key (u64 length + UTF-8 bytes), u32 value type, value
//             (scalars; string = u64 length + bytes; array = u32 element type, u64 count, elements),
//   tensor infos: name (string), u32 n_dims, n_dims × u64 dims (ggml order: dims[0] is the
//             contiguous row length), u32 ggml type id, u64 offset relative to the data section,
//   zero padding up to a multiple of the alignment (general.alignment, u32, default 32),
//   the data section: each tensor's bytes at its offset, padded to the alignment.
//
// gguf_file::open maps the file and validates everything before returning; ::parse does the same
// on bytes in memory. Each failure is a dsv2::gguf_error naming the file and the key or tensor
// (or the entry's index, when the name itself is unreadable). The rules, with ggml's (gguf.cpp)
// behaviour where dsv2 differs from it in brackets:
//   - magic "GGUF"; version 2 or 3 (1 is refused, as ggml does); a version that reads as a
//     byte-swapped small number is reported as a big-endian file, which dsv2 does not read;
//   - every count, length and offset is checked against the bytes left in the file before anything
//     is allocated, so a hostile count cannot exhaust memory; a truncated file is reported with the
//     field it ends in;
//   - keys: non-empty, valid UTF-8 [ggml: any bytes], unique; value types from the table; bools are
//     0 or 1 [ggml: any byte]; string values are returned as stored (not UTF-8 checked, since some
//     vocabularies hold raw bytes); arrays of arrays are read, nested at most 8 deep [ggml refuses
//     them; gguf-py writes them]; general.alignment, when present, is a u32 power of two;
//   - tensors: non-empty, valid UTF-8, unique names [ggml also caps names at 63 bytes; dsv2's reader
//     does not, its writer does]; 1 to 4 dimensions [ggml also takes 0, meaning a scalar]; each
//     dimension < 2^63 and the element count < 2^63; a dimension of 0 is allowed (an empty
//     tensor, as ggml allows); a type id that ggml defines; dims[0] a multiple of the type's block;
//     the byte size fits in 64 bits;
//   - data: the data section starts at the first multiple of the alignment after the tensor infos;
//     each tensor's offset is a multiple of the alignment, its bytes lie inside the file, and the
//     tensors are packed in the order of their infos, each padded to the alignment (exactly ggml's
//     rule: an offset before that position overlaps an earlier tensor, one after it leaves a gap).
//     Bytes after the last tensor are ignored, as ggml does.
//
// Tensor data and metadata strings point into the file's bytes: they stay valid while the
// gguf_file (or the mapping/owner it hands out) lives. Tensor data starts at a multiple of the
// alignment from the start of the file, so a mapped file's tensors are aligned in memory too.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <system_error>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dsv2/core/error.hpp"
#include "dsv2/io/mapped_file.hpp"
#include "dsv2/quant/ggml_type.hpp"
#include "dsv2/text/utf8.hpp"

namespace dsv2::io {

/// The type of a GGUF metadata value, with the ids the file stores.
enum class gguf_value_type : std::uint32_t {
    u8 = 0,
    i8 = 1,
    u16 = 2,
    i16 = 3,
    u32 = 4,
    i32 = 5,
    f32 = 6,
    boolean = 7,
    string = 8,
    array = 9,
    u64 = 10,
    i64 = 11,
    f64 = 12,
};

/// "u8", "i32", "f32", "bool", "string", "array", ...; "?" for an id outside the table.
constexpr std::string_view name_of(gguf_value_type t) noexcept {
    constexpr std::string_view names[] = {"u8",  "i8",  "u16",    "i16",   "u32", "i32", "f32",
                                          "bool", "string", "array", "u64", "i64", "f64"};
    const auto i = static_cast<std::uint32_t>(t);
    return i < std::size(names) ? names[i] : std::string_view("?");
}

/// The value type of a raw id, or nullopt for an id GGUF does not define.
constexpr std::optional<gguf_value_type> gguf_value_type_from_id(std::uint32_t id) noexcept {
    if (id > static_cast<std::uint32_t>(gguf_value_type::f64)) return std::nullopt;
    return static_cast<gguf_value_type>(id);
}

/// Bytes of one value of a fixed-size type; 0 for string and array.
constexpr std::size_t gguf_fixed_size(gguf_value_type t) noexcept {
    switch (t) {
        case gguf_value_type::u8:
        case gguf_value_type::i8:
        case gguf_value_type::boolean: return 1;
        case gguf_value_type::u16:
        case gguf_value_type::i16: return 2;
        case gguf_value_type::u32:
        case gguf_value_type::i32:
        case gguf_value_type::f32: return 4;
        case gguf_value_type::u64:
        case gguf_value_type::i64:
        case gguf_value_type::f64: return 8;
        default: return 0;
    }
}

namespace detail::gguf {

inline constexpr char magic[4] = {'G', 'G', 'U', 'F'};
inline constexpr std::uint64_t default_alignment = 32;   // GGUF_DEFAULT_ALIGNMENT
inline constexpr std::uint32_t max_dims = 4;             // GGML_MAX_DIMS
inline constexpr int max_array_depth = 8;                // arrays of arrays: bounds the recursion
inline constexpr std::string_view alignment_key = "general.alignment";

inline std::uint64_t load_le(const std::byte* p, std::size_t n) noexcept {
    std::uint64_t v = 0;
    for (std::size_t k = n; k-- > 0;) v = (v << 8) | std::to_integer<std::uint64_t>(p[k]);
    return v;
}

inline std::string_view as_view(std::span<const std::byte> s) noexcept {
    return {reinterpret_cast<const char*>(s.data()), s.size()};
}
inline std::span<const std::byte> as_bytes_of(std::string_view s) noexcept {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// A name from the file, made safe for a message: bytes outside printable ASCII as \xNN, clipped.
inline std::string display(std::string_view s, std::size_t max = 80) {
    constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < s.size() && out.size() < max; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else if (c >= 0x80 && !text::utf8_first_invalid(s.substr(i, text::utf8_char_length(s, i)))) {
            const std::size_t n = text::utf8_char_length(s, i);  // keep valid UTF-8 readable
            out.append(s.substr(i, n));
            i += n - 1;
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    if (out.size() >= max) out += "...";
    return out;
}

constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t alignment) noexcept {
    return (v + alignment - 1) / alignment * alignment;  // callers keep v < 2^63, alignment <= 2^32
}

}  // namespace detail::gguf

class gguf_file;

/// One metadata value: a scalar, a string or an array of one element type (arrays of arrays
/// included). Strings and array payloads point into the file's bytes, so a 100k-entry vocabulary
/// costs one string_view per entry and nothing else. Every accessor checks the type (and range) it
/// is asked for and throws a gguf_error naming the file and the key otherwise.
class gguf_value {
public:
    gguf_value_type type() const noexcept { return type_; }
    bool is_array() const noexcept { return type_ == gguf_value_type::array; }
    /// The key this value belongs to (for an element of a nested array, the outer key).
    std::string_view key() const noexcept { return key_; }

    /// Any integer type holding a value >= 0.
    std::uint64_t as_u64() const { return to_u64(type_, raw_.data(), ""); }
    /// Any integer type holding a value that fits in int64.
    std::int64_t as_i64() const { return to_i64(type_, raw_.data(), ""); }
    /// f32, f64, or any integer type (converted, possibly rounded for |v| > 2^53).
    double as_f64() const { return to_f64(type_, raw_.data(), ""); }
    bool as_bool() const { return to_bool(type_, raw_.data(), ""); }
    /// The string's bytes as stored (GGUF strings are meant to be UTF-8; not checked).
    std::string_view as_string() const {
        if (type_ != gguf_value_type::string) fail("", "is " + described() + ", not a string");
        return detail::gguf::as_view(raw_);
    }

    /// The element type of an array.
    gguf_value_type array_type() const {
        require_array();
        return element_type_;
    }
    /// The number of elements of an array.
    std::size_t size() const {
        require_array();
        return static_cast<std::size_t>(count_);
    }
    std::uint64_t u64_at(std::size_t i) const { return to_u64(element_type_, element(i), where(i)); }
    std::int64_t i64_at(std::size_t i) const { return to_i64(element_type_, element(i), where(i)); }
    double f64_at(std::size_t i) const { return to_f64(element_type_, element(i), where(i)); }
    bool bool_at(std::size_t i) const { return to_bool(element_type_, element(i), where(i)); }
    std::string_view string_at(std::size_t i) const {
        const auto all = strings();
        return all[checked_index(i)];
    }
    /// Element i of an array of arrays.
    const gguf_value& array_at(std::size_t i) const {
        checked_index(i);
        if (element_type_ != gguf_value_type::array)
            fail(where(i), "is " + std::string(name_of(element_type_)) + ", not an array");
        return arrays_[i];
    }

    /// Every element of an array of strings.
    std::span<const std::string_view> strings() const {
        require_array();
        if (element_type_ != gguf_value_type::string) fail("", "is " + described() + ", not an array of strings");
        return strings_;
    }
    /// Every element of an integer array, as int64 (each checked like i64_at).
    std::vector<std::int64_t> to_i64_vector() const { return collect<std::int64_t>(&gguf_value::i64_at); }
    /// Every element of an integer array >= 0, as uint64.
    std::vector<std::uint64_t> to_u64_vector() const { return collect<std::uint64_t>(&gguf_value::u64_at); }
    /// Every element of a numeric array, as double.
    std::vector<double> to_f64_vector() const { return collect<double>(&gguf_value::f64_at); }

    /// The stored little-endian bytes: a scalar's, a string's, or a fixed-size array's payload
    /// (count × element size). Empty for arrays of strings or arrays.
    std::span<const std::byte> raw() const noexcept { return raw_; }

    /// "u32", "array of string", ... (for messages).
    std::string described() const {
        return is_array() ? "array of " + std::string(name_of(element_type_)) : std::string(name_of(type_));
    }

private:
    friend class gguf_file;
    friend class gguf_writer;

    [[noreturn]] void fail(const std::string& where, const std::string& what) const {
        throw gguf_error(path_ ? *path_ : std::string(), gguf_error::subject::key,
                         detail::gguf::display(key_), where + what);
    }
    static std::string where(std::size_t i) { return "element " + std::to_string(i) + ": "; }

    void require_array() const {
        if (!is_array()) fail("", "is " + described() + ", not an array");
    }
    std::size_t checked_index(std::size_t i) const {
        require_array();
        if (i >= count_)
            fail("", "index " + std::to_string(i) + " is past the end of the array (" + std::to_string(count_) +
                         " elements)");
        return i;
    }
    const std::byte* element(std::size_t i) const {
        checked_index(i);
        const std::size_t size = gguf_fixed_size(element_type_);
        if (size == 0) fail(where(i), "is " + std::string(name_of(element_type_)) + ", not a number or bool");
        return raw_.data() + i * size;
    }

    template <class T>
    std::vector<T> collect(T (gguf_value::*at)(std::size_t) const) const {
        const std::size_t n = size();
        std::vector<T> out;
        if (n > 0) (void)(this->*at)(0);  // a type error is raised before allocating
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) out.push_back((this->*at)(i));
        return out;
    }

    static bool is_signed(gguf_value_type t) noexcept {
        return t == gguf_value_type::i8 || t == gguf_value_type::i16 || t == gguf_value_type::i32 ||
               t == gguf_value_type::i64;
    }
    static bool is_unsigned(gguf_value_type t) noexcept {
        return t == gguf_value_type::u8 || t == gguf_value_type::u16 || t == gguf_value_type::u32 ||
               t == gguf_value_type::u64;
    }
    static std::int64_t signed_value(gguf_value_type t, const std::byte* p) noexcept {
        const std::size_t n = gguf_fixed_size(t);
        const std::uint64_t v = detail::gguf::load_le(p, n);
        const unsigned shift = static_cast<unsigned>(64 - 8 * n);  // sign-extend from n bytes
        return static_cast<std::int64_t>(v << shift) >> shift;
    }

    std::uint64_t to_u64(gguf_value_type t, const std::byte* p, const std::string& where) const {
        if (is_unsigned(t)) return detail::gguf::load_le(p, gguf_fixed_size(t));
        if (is_signed(t)) {
            const std::int64_t v = signed_value(t, p);
            if (v < 0)
                fail(where, "is " + std::string(name_of(t)) + " " + std::to_string(v) +
                                ", negative where an unsigned integer is expected");
            return static_cast<std::uint64_t>(v);
        }
        fail(where, "is " + (where.empty() ? described() : std::string(name_of(t))) +
                        ", not an integer");
    }
    std::int64_t to_i64(gguf_value_type t, const std::byte* p, const std::string& where) const {
        if (is_signed(t)) return signed_value(t, p);
        if (is_unsigned(t)) {
            const std::uint64_t v = detail::gguf::load_le(p, gguf_fixed_size(t));
            if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                fail(where, "is " + std::string(name_of(t)) + " " + std::to_string(v) + ", too large for int64");
            return static_cast<std::int64_t>(v);
        }
        fail(where, "is " + (where.empty() ? described() : std::string(name_of(t))) +
                        ", not an integer");
    }
    double to_f64(gguf_value_type t, const std::byte* p, const std::string& where) const {
        if (t == gguf_value_type::f32)
            return std::bit_cast<float>(static_cast<std::uint32_t>(detail::gguf::load_le(p, 4)));
        if (t == gguf_value_type::f64) return std::bit_cast<double>(detail::gguf::load_le(p, 8));
        if (is_signed(t)) return static_cast<double>(signed_value(t, p));
        if (is_unsigned(t)) return static_cast<double>(detail::gguf::load_le(p, gguf_fixed_size(t)));
        fail(where, "is " + (where.empty() ? described() : std::string(name_of(t))) + ", not a number");
    }
    bool to_bool(gguf_value_type t, const std::byte* p, const std::string& where) const {
        if (t != gguf_value_type::boolean)
            fail(where, "is " + (where.empty() ? described() : std::string(name_of(t))) + ", not a bool");
        return std::to_integer<unsigned>(p[0]) != 0;  // the parser admits only 0 and 1
    }

    gguf_value_type type_ = gguf_value_type::u8;
    gguf_value_type element_type_ = gguf_value_type::u8;  // arrays only
    std::uint64_t count_ = 0;                             // arrays only
    std::span<const std::byte> raw_;                      // scalar / string / fixed-size array bytes
    std::vector<std::string_view> strings_;               // array of strings
    std::vector<gguf_value> arrays_;                      // array of arrays
    std::string_view key_;                                // points into the file
    std::shared_ptr<const std::string> path_;
};

/// One tensor of a GGUF file.
struct gguf_tensor_info {
    std::string name;
    std::vector<std::uint64_t> dims;  ///< ggml order: dims[0] is the contiguous row length (1 to 4 dims)
    ggml_type type = ggml_type::f32;
    std::uint64_t offset = 0;         ///< from the start of the data section
    std::uint64_t bytes = 0;          ///< size of the data (without padding)
    std::span<const std::byte> data;  ///< the bytes, inside the file's mapping

    /// Product of the dims (0 when one of them is 0).
    std::uint64_t element_count() const noexcept {
        std::uint64_t n = 1;
        for (std::uint64_t d : dims) n *= d;  // validated: fits in int64
        return n;
    }
};

/// A GGUF file, mapped (or held) in memory, validated as a whole when opened.
class gguf_file {
public:
    /// Maps `path` and validates it. Throws io_error when it cannot be read (not a regular file,
    /// missing, unreadable), gguf_error when it breaks the format.
    static gguf_file open(const std::filesystem::path& path) {
        // Checked before opening: open(2) on a FIFO would wait for a writer forever.
        std::error_code ec;
        const auto st = std::filesystem::status(path, ec);  // follows symlinks
        if (ec || !std::filesystem::exists(st)) throw io_error(path.string(), "no such file");
        if (std::filesystem::is_directory(st)) throw io_error(path.string(), "is a directory, not a GGUF file");
        if (!std::filesystem::is_regular_file(st))
            throw io_error(path.string(), "not a regular file (a FIFO, socket or device), not a GGUF file");
        gguf_file f;
        f.path_ = std::make_shared<const std::string>(path.string());
        auto map = std::make_shared<const mapped_file>(mapped_file::open(path));
        f.bytes_ = map->bytes();
        f.mapping_ = map;
        f.owner_ = map;
        f.load();
        return f;
    }

    /// Validates a file held in memory; `name` stands for its path in messages.
    static gguf_file parse(std::vector<std::byte> bytes, std::string name) {
        gguf_file f;
        f.path_ = std::make_shared<const std::string>(std::move(name));
        auto owned = std::make_shared<const std::vector<std::byte>>(std::move(bytes));
        f.bytes_ = *owned;
        f.owner_ = owned;
        f.load();
        return f;
    }

    const std::string& path() const noexcept { return *path_; }
    std::uint32_t version() const noexcept { return version_; }
    /// general.alignment, or 32 when absent.
    std::uint64_t alignment() const noexcept { return alignment_; }
    /// Offset of the data section from the start of the file.
    std::uint64_t data_offset() const noexcept { return data_offset_; }

    /// Every metadata entry, in file order.
    const std::vector<std::pair<std::string, gguf_value>>& metadata() const noexcept { return metadata_; }
    /// The value of `key`, or nullptr.
    const gguf_value* find(std::string_view key) const {
        const auto it = key_index_.find(key);
        return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
    }
    /// The value of `key`; throws gguf_error naming it when absent.
    const gguf_value& at(std::string_view key) const {
        if (const gguf_value* v = find(key)) return *v;
        throw gguf_error(*path_, gguf_error::subject::key, std::string(key), "missing");
    }

    // Typed getters: throw gguf_error naming the key when it is missing (the plain ones) or holds
    // another type / an out-of-range value (all of them).
    std::uint64_t get_uint(std::string_view key) const { return at(key).as_u64(); }
    std::int64_t get_int(std::string_view key) const { return at(key).as_i64(); }
    double get_float(std::string_view key) const { return at(key).as_f64(); }
    bool get_bool(std::string_view key) const { return at(key).as_bool(); }
    std::string_view get_string(std::string_view key) const { return at(key).as_string(); }
    const gguf_value& get_array(std::string_view key) const {
        const gguf_value& v = at(key);
        (void)v.size();  // throws unless an array
        return v;
    }
    std::optional<std::uint64_t> get_uint_opt(std::string_view key) const { return opt(key, &gguf_value::as_u64); }
    std::optional<std::int64_t> get_int_opt(std::string_view key) const { return opt(key, &gguf_value::as_i64); }
    std::optional<double> get_float_opt(std::string_view key) const { return opt(key, &gguf_value::as_f64); }
    std::optional<bool> get_bool_opt(std::string_view key) const { return opt(key, &gguf_value::as_bool); }
    std::optional<std::string_view> get_string_opt(std::string_view key) const {
        return opt(key, &gguf_value::as_string);
    }
    const gguf_value* get_array_opt(std::string_view key) const {
        const gguf_value* v = find(key);
        if (v != nullptr) (void)v->size();
        return v;
    }

    /// Every tensor, in file order (which is also data order).
    const std::vector<gguf_tensor_info>& tensors() const noexcept { return tensors_; }
    /// The tensor named `name`, or nullptr.
    const gguf_tensor_info* find_tensor(std::string_view name) const {
        const auto it = tensor_index_.find(name);
        return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
    }
    /// The tensor named `name`; throws gguf_error naming it when absent.
    const gguf_tensor_info& tensor(std::string_view name) const {
        if (const gguf_tensor_info* t = find_tensor(name)) return *t;
        throw gguf_error(*path_, gguf_error::subject::tensor, std::string(name), "no such tensor in the file");
    }

    /// The mapping (null for a file given to parse()): lets a weight view keep the bytes alive.
    std::shared_ptr<const mapped_file> mapping() const noexcept { return mapping_; }
    /// Whatever owns the bytes (the mapping, or the parsed buffer).
    std::shared_ptr<const void> owner() const noexcept { return owner_; }
    /// The whole file.
    std::span<const std::byte> bytes() const noexcept { return bytes_; }

private:
    gguf_file() = default;

    template <class R>
    std::optional<R> opt(std::string_view key, R (gguf_value::*as)() const) const {
        const gguf_value* v = find(key);
        if (v == nullptr) return std::nullopt;
        return (v->*as)();
    }

    using subject = gguf_error::subject;
    [[noreturn]] void fail(subject kind, const std::string& name, const std::string& what) const {
        throw gguf_error(*path_, kind, name, what);
    }
    [[noreturn]] void fail(const std::string& what) const { fail(subject::file, std::string(), what); }

    // ---- a cursor over the file, every read bounds-checked -------------------------------------
    std::uint64_t remaining() const noexcept { return bytes_.size() - pos_; }

    /// Ensures `n` more bytes exist; `what` names the field for the message.
    void need(std::uint64_t n, subject kind, const std::string& name, const std::string& what) const {
        if (n > remaining())
            fail(kind, name,
                 "file truncated: " + what + " needs " + std::to_string(n) + " bytes at offset " +
                     std::to_string(pos_) + ", but the file ends at " + std::to_string(bytes_.size()));
    }
    std::uint64_t read_uint(std::size_t n, subject kind, const std::string& name, const std::string& what) {
        need(n, kind, name, what);
        const std::uint64_t v = detail::gguf::load_le(bytes_.data() + pos_, n);
        pos_ += n;
        return v;
    }
    std::span<const std::byte> take(std::uint64_t n) {
        const auto s = bytes_.subspan(static_cast<std::size_t>(pos_), static_cast<std::size_t>(n));
        pos_ += n;
        return s;
    }
    /// A length-prefixed string.
    std::string_view read_string(subject kind, const std::string& name, const std::string& what) {
        const std::uint64_t n = read_uint(8, kind, name, what + " length");
        if (n > remaining())
            fail(kind, name,
                 what + " length " + std::to_string(n) + " at offset " + std::to_string(pos_ - 8) +
                     " runs past the end of the file (" + std::to_string(remaining()) + " bytes left)");
        return detail::gguf::as_view(take(n));
    }

    // ---- parsing ----------------------------------------------------------------------------
    void load() {
        read_header();
        for (std::uint64_t i = 0; i < n_kv_; ++i) read_metadata_entry(i);
        read_alignment();
        for (std::uint64_t i = 0; i < n_tensors_; ++i) read_tensor_info(i);
        place_tensor_data();
    }

    void read_header() {
        if (bytes_.size() < 4)
            fail("file is " + std::to_string(bytes_.size()) + " bytes, too short for the GGUF magic");
        if (std::memcmp(bytes_.data(), detail::gguf::magic, 4) != 0)
            fail("not a GGUF file: it starts with '" + detail::gguf::display(detail::gguf::as_view(bytes_.first(4))) +
                 "', not the magic 'GGUF'");
        pos_ = 4;
        version_ = static_cast<std::uint32_t>(read_uint(4, subject::file, "", "the version"));
        if (version_ != 0 && (version_ & 0xffffu) == 0) {
            const std::uint32_t swapped = ((version_ >> 24) & 0xffu) | ((version_ >> 8) & 0xff00u);
            fail("version field reads " + std::to_string(version_) + " (" + std::to_string(swapped) +
                 " byte-swapped): a big-endian GGUF file; dsv2 reads little-endian files only");
        }
        if (version_ == 1)
            fail("GGUF version 1 is not supported (32-bit counts; llama.cpp refuses it too): convert the model again");
        if (version_ != 2 && version_ != 3)
            fail("unsupported GGUF version " + std::to_string(version_) + " (dsv2 reads versions 2 and 3)");
        n_tensors_ = read_uint(8, subject::file, "", "the tensor count");
        n_kv_ = read_uint(8, subject::file, "", "the metadata count");
        // Smallest possible entries: a key of 1 byte with a u8 value is 8+1+4+1 bytes; a tensor
        // info with a 1-byte name and one dimension is 8+1+4+8+4+8. Counts that cannot fit are
        // refused here, before anything is sized by them.
        if (n_kv_ > remaining() / 14)
            fail("metadata count " + std::to_string(n_kv_) + " cannot fit in the " + std::to_string(remaining()) +
                 " bytes after the header");
        if (n_tensors_ > remaining() / 33)
            fail("tensor count " + std::to_string(n_tensors_) + " cannot fit in the " +
                 std::to_string(remaining()) + " bytes after the header");
    }

    void read_metadata_entry(std::uint64_t index) {
        const std::string entry = "metadata entry " + std::to_string(index);
        const std::string_view key = read_string(subject::file, "", entry + ": the key");
        if (key.empty()) fail(entry + ": the key is empty");
        if (const auto bad = text::utf8_first_invalid(key))
            fail(entry + ": the key '" + detail::gguf::display(key) + "' is not valid UTF-8 (byte " +
                 std::to_string(*bad) + ")");
        const std::string shown = detail::gguf::display(key);
        if (key_index_.count(key) != 0) fail(subject::key, shown, "appears twice in the metadata");
        const std::uint32_t type_id = static_cast<std::uint32_t>(read_uint(4, subject::key, shown, "the value type"));
        const auto type = gguf_value_type_from_id(type_id);
        if (!type) fail(subject::key, shown, "value type id " + std::to_string(type_id) + " is not a GGUF type (0-12)");
        gguf_value v = read_value(*type, key, shown, 0);
        if (metadata_.empty()) metadata_.reserve(static_cast<std::size_t>(n_kv_));
        key_index_.emplace(key, metadata_.size());
        metadata_.emplace_back(std::string(key), std::move(v));
    }

    gguf_value read_value(gguf_value_type type, std::string_view key, const std::string& shown, int depth) {
        gguf_value v;
        v.type_ = type;
        v.key_ = key;
        v.path_ = path_;
        if (const std::size_t size = gguf_fixed_size(type); size > 0) {
            need(size, subject::key, shown, "the " + std::string(name_of(type)) + " value");
            v.raw_ = take(size);
            check_bool(type, v.raw_, shown, "");
        } else if (type == gguf_value_type::string) {
            v.raw_ = detail::gguf::as_bytes_of(read_string(subject::key, shown, "the string"));
        } else {
            read_array(v, shown, depth);
        }
        return v;
    }

    void read_array(gguf_value& v, const std::string& shown, int depth) {
        if (depth >= detail::gguf::max_array_depth)
            fail(subject::key, shown,
                 "arrays nest deeper than " + std::to_string(detail::gguf::max_array_depth) + " levels");
        const std::uint32_t id = static_cast<std::uint32_t>(read_uint(4, subject::key, shown, "the array element type"));
        const auto elem = gguf_value_type_from_id(id);
        if (!elem)
            fail(subject::key, shown, "array element type id " + std::to_string(id) + " is not a GGUF type (0-12)");
        v.element_type_ = *elem;
        v.count_ = read_uint(8, subject::key, shown, "the array length");
        const std::size_t fixed = gguf_fixed_size(*elem);
        // the least each element can occupy: its size, a string's length field, an array's header
        const std::uint64_t least = fixed > 0 ? fixed : (*elem == gguf_value_type::string ? 8 : 12);
        if (v.count_ > remaining() / least)
            fail(subject::key, shown,
                 "array of " + std::to_string(v.count_) + " " + std::string(name_of(*elem)) + " elements at offset " +
                     std::to_string(pos_ - 12) + " cannot fit in the " + std::to_string(remaining()) +
                     " bytes left in the file");
        const auto n = static_cast<std::size_t>(v.count_);
        if (fixed > 0) {
            v.raw_ = take(v.count_ * fixed);
            if (*elem == gguf_value_type::boolean)
                for (std::size_t i = 0; i < n; ++i) check_bool(*elem, v.raw_.subspan(i, 1), shown, gguf_value::where(i));
        } else if (*elem == gguf_value_type::string) {
            v.strings_.reserve(n);
            for (std::size_t i = 0; i < n; ++i)
                v.strings_.push_back(read_string(subject::key, shown, "string element " + std::to_string(i)));
        } else {
            v.arrays_.reserve(n);
            for (std::size_t i = 0; i < n; ++i)
                v.arrays_.push_back(read_value(gguf_value_type::array, v.key_, shown, depth + 1));
        }
    }

    void check_bool(gguf_value_type type, std::span<const std::byte> b, const std::string& shown,
                    const std::string& where) const {
        if (type == gguf_value_type::boolean && std::to_integer<unsigned>(b[0]) > 1)
            fail(subject::key, shown,
                 where + "bool byte is " + std::to_string(std::to_integer<unsigned>(b[0])) + ", not 0 or 1");
    }

    void read_alignment() {
        const gguf_value* a = find(detail::gguf::alignment_key);
        if (a == nullptr) return;
        const std::string key(detail::gguf::alignment_key);
        if (a->type() != gguf_value_type::u32)
            fail(subject::key, key, "must be a u32 (as ggml requires), got " + a->described());
        const std::uint64_t v = a->as_u64();
        if (v == 0 || !std::has_single_bit(v))
            fail(subject::key, key, "alignment " + std::to_string(v) + " is not a power of two");
        alignment_ = v;
    }

    void read_tensor_info(std::uint64_t index) {
        const std::string entry = "tensor info " + std::to_string(index);
        const std::string_view name = read_string(subject::file, "", entry + ": the name");
        if (name.empty()) fail(entry + ": the name is empty");
        if (const auto bad = text::utf8_first_invalid(name))
            fail(entry + ": the name '" + detail::gguf::display(name) + "' is not valid UTF-8 (byte " +
                 std::to_string(*bad) + ")");
        const std::string shown = detail::gguf::display(name);
        if (tensor_index_.count(name) != 0) fail(subject::tensor, shown, "appears twice among the tensors");

        gguf_tensor_info t;
        t.name = std::string(name);
        const auto n_dims = static_cast<std::uint32_t>(read_uint(4, subject::tensor, shown, "the dimension count"));
        if (n_dims == 0 || n_dims > detail::gguf::max_dims)
            fail(subject::tensor, shown,
                 std::to_string(n_dims) + " dimensions; GGUF tensors have 1 to " +
                     std::to_string(detail::gguf::max_dims));
        std::uint64_t elements = 1;
        bool overflow = false;
        for (std::uint32_t j = 0; j < n_dims; ++j) {
            const std::uint64_t d = read_uint(8, subject::tensor, shown, "dimension " + std::to_string(j));
            if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                fail(subject::tensor, shown,
                     "dimension " + std::to_string(j) + " is " + std::to_string(d) + ", past int64 (negative in ggml)");
            if (d > 1 && elements > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / d)
                overflow = true;
            elements *= d;  // ggml's order of checks: a product that overflowed is refused below
            t.dims.push_back(d);
        }
        if (overflow)
            fail(subject::tensor, shown, "shape " + dims_string(t.dims) + " has more than 2^63 elements");
        const auto type_id = static_cast<std::uint32_t>(read_uint(4, subject::tensor, shown, "the type id"));
        const auto traits = ggml_type_from_id(type_id);
        if (!traits)
            fail(subject::tensor, shown, "type id " + std::to_string(type_id) + " is not a ggml type");
        t.type = traits->type;
        const auto row = row_bytes(t.type, t.dims[0]);
        if (!row && t.dims[0] % traits->block_elements == 0)
            fail(subject::tensor, shown,
                 "shape " + dims_string(t.dims) + " of " + std::string(traits->name) + " has a byte size past 2^64");
        if (!row)
            fail(subject::tensor, shown,
                 "rows of " + std::to_string(t.dims[0]) + " elements are not a whole number of " +
                     std::string(traits->name) + " blocks (" + std::to_string(traits->block_elements) +
                     " elements each)");
        std::uint64_t bytes = *row;
        for (std::size_t j = 1; j < t.dims.size(); ++j) {
            if (t.dims[j] != 0 && bytes > std::numeric_limits<std::uint64_t>::max() / t.dims[j])
                fail(subject::tensor, shown,
                     "shape " + dims_string(t.dims) + " of " + std::string(traits->name) +
                         " has a byte size past 2^64");
            bytes *= t.dims[j];
        }
        t.bytes = bytes;
        t.offset = read_uint(8, subject::tensor, shown, "the data offset");
        if (tensors_.empty()) tensors_.reserve(static_cast<std::size_t>(n_tensors_));
        tensor_index_.emplace(name, tensors_.size());
        tensors_.push_back(std::move(t));
    }

    void place_tensor_data() {
        const std::uint64_t infos_end = pos_;
        data_offset_ = detail::gguf::align_up(infos_end, alignment_);
        if (tensors_.empty()) {
            data_offset_ = std::min<std::uint64_t>(data_offset_, bytes_.size());
            return;
        }
        if (data_offset_ > bytes_.size())
            fail("the data section would start at offset " + std::to_string(data_offset_) +
                 " (the tensor infos end at " + std::to_string(infos_end) + ", aligned to " +
                 std::to_string(alignment_) + "), past the end of the file (" + std::to_string(bytes_.size()) +
                 " bytes)");
        const std::uint64_t data_size = bytes_.size() - data_offset_;
        std::uint64_t next = 0;  // where the next tensor must start: ggml packs them in order
        for (std::size_t i = 0; i < tensors_.size(); ++i) {
            gguf_tensor_info& t = tensors_[i];
            const std::string shown = detail::gguf::display(t.name);
            const std::string range = "data [" + std::to_string(t.offset) + ", " +
                                      (t.offset > UINT64_MAX - t.bytes ? std::string(">2^64")
                                                                       : std::to_string(t.offset + t.bytes)) +
                                      ")";
            if (t.offset % alignment_ != 0)
                fail(subject::tensor, shown,
                     "data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                         std::to_string(alignment_));
            if (t.offset > data_size || t.bytes > data_size - t.offset)
                fail(subject::tensor, shown,
                     range + " (" + std::to_string(t.bytes) + " bytes) runs past the end of the data section (" +
                         std::to_string(data_size) + " bytes from file offset " + std::to_string(data_offset_) + ")");
            if (t.offset < next) {
                for (std::size_t j = 0; j < i; ++j) {
                    const gguf_tensor_info& o = tensors_[j];
                    if (o.bytes > 0 && t.bytes > 0 && t.offset < o.offset + o.bytes && o.offset < t.offset + t.bytes)
                        fail(subject::tensor, shown,
                             range + " overlaps tensor '" + detail::gguf::display(o.name) + "' [" +
                                 std::to_string(o.offset) + ", " + std::to_string(o.offset + o.bytes) + ")");
                }
                fail(subject::tensor, shown,
                     "data offset " + std::to_string(t.offset) + " comes before the end of the previous tensors' data (" +
                         std::to_string(next) + "): GGUF stores tensor data in the order of the tensor infos");
            }
            if (t.offset > next)
                fail(subject::tensor, shown,
                     "data offset " + std::to_string(t.offset) + " leaves a gap of " + std::to_string(t.offset - next) +
                         " bytes after the previous tensors' data (which ends at " + std::to_string(next) +
                         ", padded): ggml requires the data packed in order");
            t.data = bytes_.subspan(static_cast<std::size_t>(data_offset_ + t.offset), static_cast<std::size_t>(t.bytes));
            next = t.offset + detail::gguf::align_up(t.bytes, alignment_);
        }
    }

    static std::string dims_string(const std::vector<std::uint64_t>& dims) {
        std::string s = "[";
        for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
        return s + "]";
    }

    std::shared_ptr<const std::string> path_;
    std::shared_ptr<const mapped_file> mapping_;
    std::shared_ptr<const void> owner_;
    std::span<const std::byte> bytes_;
    std::uint64_t pos_ = 0;
    std::uint32_t version_ = 0;
    std::uint64_t n_tensors_ = 0, n_kv_ = 0;
    std::uint64_t alignment_ = detail::gguf::default_alignment;
    std::uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, gguf_value>> metadata_;
    std::unordered_map<std::string_view, std::size_t> key_index_;  // views into the file's bytes
    std::vector<gguf_tensor_info> tensors_;
    std::unordered_map<std::string_view, std::size_t> tensor_index_;
};

}  // namespace dsv2::io
