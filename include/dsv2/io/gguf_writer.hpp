// gguf_writer: writes a GGUF (version 3) file, streaming the tensor data one tensor at a time.
//
//   gguf_writer w("out.gguf");
//   w.set_string("general.architecture", "deepseek2");
//   w.set_u32("deepseek2.block_count", 27);
//   w.set_array("tokenizer.ggml.tokens", tokens);            // std::span<const std::string>
//   w.add_tensor("blk.0.attn_q.weight", {2048, 3072}, ggml_type::q8_0);   // ggml order: row length first
//   w.write([&](const gguf_tensor_plan& t, gguf_sink& out) { out.write(bytes_of(t)); });
//
// Metadata is serialised when set, in the order set (general.alignment included, when set); the
// tensors are written in the order declared, each at an offset that is a multiple of the alignment,
// each padded with zeros to it, exactly as gguf-py's GGUFWriter and ggml's gguf_write do (the
// tests compare the bytes with GGUFWriter's). The producer is called once per tensor, so a
// converter holds one tensor at a time; it may hand the bytes over in any number of pieces.
//
// The file is written to "<out>.tmp-XXXXXX" in the same folder and renamed onto `out` only when
// complete: a failure (a producer that throws or writes the wrong byte count, a full disk) removes
// the temporary file and leaves `out` as it was. A target that exists and is not a regular file
// (a directory, a FIFO, a device; followed through symlinks) is refused. A symlink to a regular
// file is replaced by the new file (rename semantics), not written through.
//
// Errors: gguf_error naming the key or tensor for what the format cannot hold (empty, non-UTF-8 or
// repeated names; tensor names of 64 bytes or more, which ggml cannot load; 0 or more than 4
// dimensions; a row length that is not a whole number of blocks; sizes past 2^63; an alignment that
// is not a power of two); io_error naming the path for the file system.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "dsv2/core/error.hpp"
#include "dsv2/io/gguf.hpp"
#include "dsv2/quant/ggml_type.hpp"
#include "dsv2/text/utf8.hpp"

#if defined(__unix__) || defined(__APPLE__)
#define DSV2_GGUF_WRITER_POSIX 1
#include <fcntl.h>
#include <unistd.h>
#else
#define DSV2_GGUF_WRITER_POSIX 0
#include <fstream>
#endif

namespace dsv2::io {

/// A tensor as the writer will store it.
struct gguf_tensor_plan {
    std::string name;
    std::vector<std::uint64_t> dims;  ///< ggml order: dims[0] is the contiguous row length
    ggml_type type = ggml_type::f32;
    std::uint64_t offset = 0;  ///< from the start of the data section
    std::uint64_t bytes = 0;   ///< exactly what the producer must write
};

namespace detail::gguf {

inline constexpr std::size_t max_name_bytes = 63;  // GGML_MAX_NAME - 1: ggml stores names in char[64]

/// The temporary output file: created exclusively next to the target, removed unless committed.
class output_file {
public:
    output_file(const std::filesystem::path& target) : target_(target) {
        static std::atomic<unsigned> counter{0};
        std::random_device rd;
        constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
        for (int attempt = 0; attempt < 100; ++attempt) {
            std::string suffix = ".tmp-";
            std::uint64_t r = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ counter++;
            for (int k = 0; k < 6; ++k, r /= 36) suffix += alphabet[r % 36];
            tmp_ = target;
            tmp_ += suffix;
#if DSV2_GGUF_WRITER_POSIX
            fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);  // umask applies
            if (fd_ >= 0) return;
            if (errno != EEXIST) fail("cannot create " + tmp_.string());
#else
            std::error_code ec;
            if (std::filesystem::exists(tmp_, ec)) continue;
            out_.open(tmp_, std::ios::binary | std::ios::trunc);
            if (out_) return;
            throw io_error(target_.string(), "cannot create " + tmp_.string());
#endif
        }
        throw io_error(target_.string(), "cannot find a free temporary name next to it");
    }
    output_file(const output_file&) = delete;
    output_file& operator=(const output_file&) = delete;
    ~output_file() {
        if (committed_) return;
        close_quietly();
        std::error_code ec;
        std::filesystem::remove(tmp_, ec);
    }

    void write(std::span<const std::byte> bytes) {
        while (!bytes.empty()) {
            if (buffer_.size() == buffer_capacity) flush_buffer();
            const std::size_t n = std::min(bytes.size(), buffer_capacity - buffer_.size());
            buffer_.insert(buffer_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
            bytes = bytes.subspan(n);
        }
    }
    void write_zeros(std::uint64_t n) {
        static constexpr std::byte zeros[64] = {};
        while (n > 0) {
            const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, sizeof zeros));
            write(std::span<const std::byte>(zeros, k));
            n -= k;
        }
    }
    /// Flushes, syncs, closes and renames onto the target.
    void commit() {
        flush_buffer();
#if DSV2_GGUF_WRITER_POSIX
        if (::fsync(fd_) != 0) fail("cannot sync " + tmp_.string());
        const int fd = fd_;
        fd_ = -1;
        if (::close(fd) != 0) fail("cannot close " + tmp_.string());
#else
        out_.close();
        if (!out_) throw io_error(target_.string(), "write failed (disk full?)");
#endif
        std::error_code ec;
        std::filesystem::rename(tmp_, target_, ec);
        if (ec) throw io_error(target_.string(), "cannot rename " + tmp_.string() + " into place: " + ec.message());
        committed_ = true;
    }
    const std::filesystem::path& temp_path() const noexcept { return tmp_; }

private:
    static constexpr std::size_t buffer_capacity = std::size_t{1} << 20;

    [[noreturn]] void fail(const std::string& what) const {
        throw io_error(target_.string(), what + ": " + std::generic_category().message(errno));
    }
    void flush_buffer() {
#if DSV2_GGUF_WRITER_POSIX
        const std::byte* p = buffer_.data();
        std::size_t left = buffer_.size();
        while (left > 0) {
            const ssize_t n = ::write(fd_, p, left);
            if (n < 0) {
                if (errno == EINTR) continue;
                fail("cannot write " + tmp_.string());
            }
            p += n;
            left -= static_cast<std::size_t>(n);
        }
#else
        out_.write(reinterpret_cast<const char*>(buffer_.data()), static_cast<std::streamsize>(buffer_.size()));
        if (!out_) throw io_error(target_.string(), "write failed (disk full?)");
#endif
        buffer_.clear();
    }
    void close_quietly() noexcept {
#if DSV2_GGUF_WRITER_POSIX
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
#else
        out_.close();
#endif
    }

    std::filesystem::path target_, tmp_;
    std::vector<std::byte> buffer_;
    bool committed_ = false;
#if DSV2_GGUF_WRITER_POSIX
    int fd_ = -1;
#else
    std::ofstream out_;
#endif
};

inline void append_le(std::vector<std::byte>& out, std::uint64_t v, std::size_t n) {
    for (std::size_t k = 0; k < n; ++k) out.push_back(static_cast<std::byte>((v >> (8 * k)) & 0xffu));
}
inline void append_string(std::vector<std::byte>& out, std::string_view s) {
    append_le(out, s.size(), 8);
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    out.insert(out.end(), p, p + s.size());
}

}  // namespace detail::gguf

/// Receives one tensor's bytes, in any number of pieces; refuses more than the tensor holds.
class gguf_sink {
public:
    void write(std::span<const std::byte> bytes) {
        if (bytes.size() > plan_.bytes - written_)
            throw gguf_error(path_, gguf_error::subject::tensor, plan_.name,
                             "the producer wrote more than the tensor's " + std::to_string(plan_.bytes) + " bytes");
        out_.write(bytes);
        written_ += bytes.size();
    }
    std::uint64_t written() const noexcept { return written_; }
    std::uint64_t remaining() const noexcept { return plan_.bytes - written_; }

private:
    friend class gguf_writer;
    gguf_sink(detail::gguf::output_file& out, const gguf_tensor_plan& plan, const std::string& path)
        : out_(out), plan_(plan), path_(path) {}
    detail::gguf::output_file& out_;
    const gguf_tensor_plan& plan_;
    const std::string& path_;
    std::uint64_t written_ = 0;
};

/// Builds a GGUF file: metadata and tensor declarations first, then one write() call.
class gguf_writer {
public:
    using producer = std::function<void(const gguf_tensor_plan&, gguf_sink&)>;
    using filler = std::function<void(const gguf_tensor_plan&, std::span<std::byte>)>;

    /// Checks now that `path` can be the target (its folder exists; it is absent or a regular file),
    /// so that a converter fails before doing any work. Nothing is created until write().
    explicit gguf_writer(std::filesystem::path path) : path_(std::move(path)), shown_(path_.string()) {
        check_target();
    }

    // Scalars. Keys must be non-empty, valid UTF-8 and set once.
    void set_u8(std::string_view key, std::uint8_t v) { set_scalar(key, gguf_value_type::u8, v); }
    void set_i8(std::string_view key, std::int8_t v) { set_scalar(key, gguf_value_type::i8, bits(v)); }
    void set_u16(std::string_view key, std::uint16_t v) { set_scalar(key, gguf_value_type::u16, v); }
    void set_i16(std::string_view key, std::int16_t v) { set_scalar(key, gguf_value_type::i16, bits(v)); }
    void set_u32(std::string_view key, std::uint32_t v) {
        if (key == detail::gguf::alignment_key) return set_alignment(v);
        set_scalar(key, gguf_value_type::u32, v);
    }
    void set_i32(std::string_view key, std::int32_t v) { set_scalar(key, gguf_value_type::i32, bits(v)); }
    void set_f32(std::string_view key, float v) { set_scalar(key, gguf_value_type::f32, std::bit_cast<std::uint32_t>(v)); }
    void set_u64(std::string_view key, std::uint64_t v) { set_scalar(key, gguf_value_type::u64, v); }
    void set_i64(std::string_view key, std::int64_t v) { set_scalar(key, gguf_value_type::i64, bits(v)); }
    void set_f64(std::string_view key, double v) { set_scalar(key, gguf_value_type::f64, std::bit_cast<std::uint64_t>(v)); }
    void set_bool(std::string_view key, bool v) { set_scalar(key, gguf_value_type::boolean, v ? 1 : 0); }
    void set_string(std::string_view key, std::string_view v) {
        auto& out = begin_entry(key, gguf_value_type::string);
        detail::gguf::append_string(out, v);
    }

    /// general.alignment (a power of two; 32 when never set). Also what set_u32 does for that key.
    void set_alignment(std::uint32_t alignment) {
        const std::string key(detail::gguf::alignment_key);
        if (alignment == 0 || !std::has_single_bit(alignment))
            fail_key(key, "alignment " + std::to_string(alignment) + " is not a power of two");
        set_scalar(key, gguf_value_type::u32, alignment, /*alignment_ok=*/true);
        alignment_ = alignment;
        replan();
    }

    // Arrays of one element type (all values are stored little-endian).
    void set_array(std::string_view key, std::span<const std::uint8_t> v) { set_numbers(key, gguf_value_type::u8, v); }
    void set_array(std::string_view key, std::span<const std::int8_t> v) { set_numbers(key, gguf_value_type::i8, v); }
    void set_array(std::string_view key, std::span<const std::uint16_t> v) { set_numbers(key, gguf_value_type::u16, v); }
    void set_array(std::string_view key, std::span<const std::int16_t> v) { set_numbers(key, gguf_value_type::i16, v); }
    void set_array(std::string_view key, std::span<const std::uint32_t> v) { set_numbers(key, gguf_value_type::u32, v); }
    void set_array(std::string_view key, std::span<const std::int32_t> v) { set_numbers(key, gguf_value_type::i32, v); }
    void set_array(std::string_view key, std::span<const float> v) { set_numbers(key, gguf_value_type::f32, v); }
    void set_array(std::string_view key, std::span<const std::uint64_t> v) { set_numbers(key, gguf_value_type::u64, v); }
    void set_array(std::string_view key, std::span<const std::int64_t> v) { set_numbers(key, gguf_value_type::i64, v); }
    void set_array(std::string_view key, std::span<const double> v) { set_numbers(key, gguf_value_type::f64, v); }
    void set_array(std::string_view key, std::span<const bool> v) { set_numbers(key, gguf_value_type::boolean, v); }
    void set_array(std::string_view key, std::span<const std::string> v) { set_strings(key, v); }
    void set_array(std::string_view key, std::span<const std::string_view> v) { set_strings(key, v); }

    /// Copies a value read from another GGUF file (any type, arrays of arrays included).
    void set(std::string_view key, const gguf_value& v) {
        if (key == detail::gguf::alignment_key) {
            if (v.type() != gguf_value_type::u32)
                fail_key(std::string(key), "must be a u32 (as ggml requires), got " + v.described());
            return set_alignment(static_cast<std::uint32_t>(v.as_u64()));
        }
        auto& out = begin_entry(key, v.type());
        append_value(out, v);
    }

    /// Declares the next tensor; returns its plan (offset and byte size; the offset moves if the
    /// alignment is changed later). Tensors are written in the order declared.
    gguf_tensor_plan add_tensor(std::string name, std::vector<std::uint64_t> dims, ggml_type type) {
        require_open();
        const std::string shown = detail::gguf::display(name);
        auto fail = [&](const std::string& what) {
            throw gguf_error(shown_, gguf_error::subject::tensor, shown, what);
        };
        if (name.empty()) throw gguf_error(shown_, gguf_error::subject::file, "", "a tensor has an empty name");
        if (text::utf8_first_invalid(name)) fail("the name is not valid UTF-8");
        if (name.size() > detail::gguf::max_name_bytes)
            fail("the name is " + std::to_string(name.size()) + " bytes; ggml loads names of at most " +
                 std::to_string(detail::gguf::max_name_bytes));
        if (!tensor_names_.insert(name).second) fail("declared twice");
        if (dims.empty() || dims.size() > detail::gguf::max_dims)
            fail(std::to_string(dims.size()) + " dimensions; GGUF tensors have 1 to 4");
        const auto traits = traits_of(type);
        if (traits.block_elements == 0) fail("type id " + std::to_string(static_cast<std::uint32_t>(type)) + " is not a ggml type");
        constexpr auto max_i64 = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        std::uint64_t elements = 1;
        for (std::uint64_t d : dims) {
            if (d > max_i64 || (d > 0 && elements > max_i64 / d)) fail("the element count does not fit in int64");
            elements *= d;
        }
        if (dims[0] % traits.block_elements != 0)
            fail("rows of " + std::to_string(dims[0]) + " elements are not a whole number of " +
                 std::string(traits.name) + " blocks (" + std::to_string(traits.block_elements) + " elements each)");
        const auto row = row_bytes(type, dims[0]);
        if (!row || *row > max_i64) fail("the byte size does not fit in int64");
        std::uint64_t bytes = *row;
        for (std::size_t j = 1; j < dims.size(); ++j) {
            if (dims[j] != 0 && bytes > max_i64 / dims[j]) fail("the byte size does not fit in int64");
            bytes *= dims[j];
        }
        tensors_.push_back(gguf_tensor_plan{std::move(name), std::move(dims), type, 0, bytes});
        try {
            replan();
        } catch (...) {
            tensor_names_.erase(tensors_.back().name);
            tensors_.pop_back();
            throw;
        }
        return tensors_.back();
    }

    const std::vector<gguf_tensor_plan>& tensors() const noexcept { return tensors_; }
    std::uint64_t alignment() const noexcept { return alignment_; }

    /// Writes the file: header, metadata, tensor infos, then each tensor's data from `produce`,
    /// which must write exactly plan.bytes bytes to the sink. The writer cannot be used afterwards.
    void write(const producer& produce) {
        require_open();
        written_ = true;
        check_target();
        detail::gguf::output_file out(path_);
        std::vector<std::byte> head;
        head.insert(head.end(), {std::byte{'G'}, std::byte{'G'}, std::byte{'U'}, std::byte{'F'}});
        detail::gguf::append_le(head, 3, 4);
        detail::gguf::append_le(head, tensors_.size(), 8);
        detail::gguf::append_le(head, metadata_.size(), 8);
        for (const auto& entry : metadata_) head.insert(head.end(), entry.second.begin(), entry.second.end());
        for (const gguf_tensor_plan& t : tensors_) {
            detail::gguf::append_string(head, t.name);
            detail::gguf::append_le(head, t.dims.size(), 4);
            for (std::uint64_t d : t.dims) detail::gguf::append_le(head, d, 8);
            detail::gguf::append_le(head, static_cast<std::uint32_t>(t.type), 4);
            detail::gguf::append_le(head, t.offset, 8);
        }
        out.write(head);
        out.write_zeros(detail::gguf::align_up(head.size(), alignment_) - head.size());
        for (const gguf_tensor_plan& t : tensors_) {
            gguf_sink sink(out, t, shown_);
            produce(t, sink);
            if (sink.written() != t.bytes)
                throw gguf_error(shown_, gguf_error::subject::tensor, detail::gguf::display(t.name),
                                 "the producer wrote " + std::to_string(sink.written()) + " of the tensor's " +
                                     std::to_string(t.bytes) + " bytes");
            out.write_zeros(detail::gguf::align_up(t.bytes, alignment_) - t.bytes);
        }
        out.commit();
    }

    /// As write(), with a zeroed buffer of exactly plan.bytes bytes for `fill` to fill (one tensor
    /// in memory at a time).
    void write(const filler& fill) {
        std::vector<std::byte> buffer;
        write([&](const gguf_tensor_plan& t, gguf_sink& sink) {
            buffer.assign(static_cast<std::size_t>(t.bytes), std::byte{0});
            fill(t, buffer);
            sink.write(buffer);
        });
    }

private:
    void check_target() const {
        std::error_code ec;
        const auto st = std::filesystem::status(path_, ec);  // follows symlinks
        if (std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
            throw io_error(shown_, std::filesystem::is_directory(st)
                                       ? "is a directory: refusing to write a GGUF file over it"
                                       : "exists and is not a regular file (a FIFO, socket or device): refusing to "
                                         "replace it");
        const std::filesystem::path parent = path_.has_parent_path() ? path_.parent_path() : ".";
        if (!std::filesystem::is_directory(parent, ec))
            throw io_error(shown_, "its folder " + parent.string() + " does not exist");
    }

    void require_open() const {
        if (written_) throw io_error(shown_, "gguf_writer: already written; create a new writer");
    }
    [[noreturn]] void fail_key(const std::string& key, const std::string& what) const {
        throw gguf_error(shown_, gguf_error::subject::key, detail::gguf::display(key), what);
    }

    /// Starts the serialised entry of `key`: its name and value type.
    std::vector<std::byte>& begin_entry(std::string_view key, gguf_value_type type, bool alignment_ok = false) {
        require_open();
        if (key.empty()) throw gguf_error(shown_, gguf_error::subject::file, "", "a metadata key is empty");
        if (text::utf8_first_invalid(key)) fail_key(std::string(key), "the key is not valid UTF-8");
        if (key == detail::gguf::alignment_key && !alignment_ok)
            fail_key(std::string(key), "must be a u32 (as ggml requires): use set_alignment or set_u32");
        if (!keys_.insert(std::string(key)).second) fail_key(std::string(key), "set twice");
        metadata_.emplace_back(std::string(key), std::vector<std::byte>());
        auto& out = metadata_.back().second;
        detail::gguf::append_string(out, key);
        detail::gguf::append_le(out, static_cast<std::uint32_t>(type), 4);
        return out;
    }
    void set_scalar(std::string_view key, gguf_value_type type, std::uint64_t v, bool alignment_ok = false) {
        auto& out = begin_entry(key, type, alignment_ok);
        detail::gguf::append_le(out, v, gguf_fixed_size(type));
    }
    template <class T>
    static std::uint64_t bits(T v) noexcept {  // two's complement bits of a signed value
        return static_cast<std::uint64_t>(static_cast<std::int64_t>(v));
    }
    template <class T>
    void set_numbers(std::string_view key, gguf_value_type type, std::span<const T> values) {
        auto& out = begin_entry(key, gguf_value_type::array);
        detail::gguf::append_le(out, static_cast<std::uint32_t>(type), 4);
        detail::gguf::append_le(out, values.size(), 8);
        for (const T& v : values) {
            std::uint64_t b = 0;
            if constexpr (std::is_same_v<T, float>) b = std::bit_cast<std::uint32_t>(v);
            else if constexpr (std::is_same_v<T, double>) b = std::bit_cast<std::uint64_t>(v);
            else if constexpr (std::is_same_v<T, bool>) b = v ? 1 : 0;
            else if constexpr (std::is_signed_v<T>) b = bits(v);
            else b = v;
            detail::gguf::append_le(out, b, sizeof(T));
        }
    }
    template <class S>
    void set_strings(std::string_view key, std::span<const S> values) {
        auto& out = begin_entry(key, gguf_value_type::array);
        detail::gguf::append_le(out, static_cast<std::uint32_t>(gguf_value_type::string), 4);
        detail::gguf::append_le(out, values.size(), 8);
        for (const S& s : values) detail::gguf::append_string(out, s);
    }

    /// A value's bytes after its type id (an array element of an array omits its type id too).
    static void append_value(std::vector<std::byte>& out, const gguf_value& v) {
        if (!v.is_array()) {
            if (v.type() == gguf_value_type::string) detail::gguf::append_le(out, v.raw().size(), 8);
            out.insert(out.end(), v.raw().begin(), v.raw().end());
            return;
        }
        detail::gguf::append_le(out, static_cast<std::uint32_t>(v.array_type()), 4);
        detail::gguf::append_le(out, v.size(), 8);
        if (v.array_type() == gguf_value_type::string) {
            for (std::string_view s : v.strings()) detail::gguf::append_string(out, s);
        } else if (v.array_type() == gguf_value_type::array) {
            for (std::size_t i = 0; i < v.size(); ++i) append_value(out, v.array_at(i));
        } else {
            out.insert(out.end(), v.raw().begin(), v.raw().end());
        }
    }

    /// Offsets follow from the sizes and the alignment: each tensor padded to it, in order.
    void replan() {
        std::uint64_t offset = 0;
        constexpr auto max_i64 = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        for (gguf_tensor_plan& t : tensors_) {
            t.offset = offset;
            const std::uint64_t padded = detail::gguf::align_up(t.bytes, alignment_);
            if (padded > max_i64 - offset)
                throw gguf_error(shown_, gguf_error::subject::tensor, detail::gguf::display(t.name),
                                 "the data section would pass 2^63 bytes");
            offset += padded;
        }
    }

    std::filesystem::path path_;
    std::string shown_;
    std::uint64_t alignment_ = detail::gguf::default_alignment;
    std::vector<std::pair<std::string, std::vector<std::byte>>> metadata_;  // serialised entries, in order
    std::set<std::string, std::less<>> keys_;
    std::vector<gguf_tensor_plan> tensors_;
    std::set<std::string, std::less<>> tensor_names_;
    bool written_ = false;
};

}  // namespace dsv2::io
