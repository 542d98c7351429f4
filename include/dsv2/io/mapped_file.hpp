// mapped_file: a whole file mapped read-only into memory (RAII, movable, non-copyable).
//
// On POSIX systems the file is mmap'ed (MAP_PRIVATE, PROT_READ): opening a 15 GB checkpoint costs
// no copy and pages are read on first touch. Elsewhere the file is read into memory instead, with
// the same interface. An empty file is fine: bytes() is then an empty span.
//
// The bytes stay valid, at the same address, for as long as the mapped_file (or whatever it was
// moved into) lives. Truncating the file on disk while it is mapped makes later reads fault
// (SIGBUS): do not rewrite a checkpoint that a running process has open.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <utility>

#include "dsv2/core/error.hpp"

#if defined(__unix__) || defined(__APPLE__)
#define DSV2_IO_HAVE_MMAP 1
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#else
#define DSV2_IO_HAVE_MMAP 0
#include <fstream>
#include <vector>
#endif

namespace dsv2::io {

/// A read-only view of a whole file's bytes, owned for the object's lifetime.
class mapped_file {
public:
    /// Maps `path` read-only. Throws dsv2::io_error naming the path when the file cannot be opened,
    /// is not a regular file, or cannot be mapped.
    static mapped_file open(const std::filesystem::path& path) {
        mapped_file f;
        f.path_ = path;
#if DSV2_IO_HAVE_MMAP
        // O_NONBLOCK: opening a FIFO without a writer returns at once (and fstat refuses it below)
        // instead of blocking forever; it changes nothing for regular files.
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) fail(path, "cannot open for reading");
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            const int e = errno;
            ::close(fd);
            errno = e;
            fail(path, "cannot stat");
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(fd);
            throw io_error(path.string(), "not a regular file");
        }
        const auto size = static_cast<std::size_t>(st.st_size);
        if (size > 0) {
            void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                const int e = errno;
                ::close(fd);
                errno = e;
                fail(path, "cannot map into memory");
            }
            f.data_ = static_cast<const std::byte*>(p);
            f.size_ = size;
            // A file is opened to be read: start reading it ahead, so that the first forward does
            // not pay for page faults one page at a time (advice only; failure changes nothing).
            (void)::madvise(p, size, MADV_WILLNEED);
        }
        ::close(fd);  // the mapping keeps its own reference to the file
#else
        std::error_code ec;
        if (!std::filesystem::is_regular_file(path, ec)) throw io_error(path.string(), "not a regular file");
        std::ifstream in(path, std::ios::binary);
        if (!in) throw io_error(path.string(), "cannot open for reading");
        const auto size = std::filesystem::file_size(path, ec);
        if (ec) throw io_error(path.string(), "cannot stat: " + ec.message());
        f.buffer_.resize(static_cast<std::size_t>(size));
        if (size > 0 &&
            !in.read(reinterpret_cast<char*>(f.buffer_.data()), static_cast<std::streamsize>(size)))
            throw io_error(path.string(), "cannot read");
        f.data_ = f.buffer_.data();
        f.size_ = f.buffer_.size();
#endif
        return f;
    }

    mapped_file() = default;
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    mapped_file(mapped_file&& o) noexcept { swap(o); }
    mapped_file& operator=(mapped_file&& o) noexcept {
        if (this != &o) {
            mapped_file tmp(std::move(o));
            swap(tmp);
        }
        return *this;
    }
    ~mapped_file() { release(); }

    /// The file's bytes (empty for an empty file or a moved-from object).
    std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
    /// The path the file was opened with.
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    [[noreturn]] static void fail(const std::filesystem::path& path, const std::string& what) {
        throw io_error(path.string(), what + ": " + std::generic_category().message(errno));
    }

    void swap(mapped_file& o) noexcept {
        std::swap(path_, o.path_);
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
#if !DSV2_IO_HAVE_MMAP
        std::swap(buffer_, o.buffer_);
#endif
    }

    void release() noexcept {
#if DSV2_IO_HAVE_MMAP
        if (data_ != nullptr && size_ > 0)
            ::munmap(const_cast<void*>(static_cast<const void*>(data_)), size_);
#endif
        data_ = nullptr;
        size_ = 0;
    }

    std::filesystem::path path_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
#if !DSV2_IO_HAVE_MMAP
    std::vector<std::byte> buffer_;
#endif
};

/// Maps the pages of `bytes` (a range of a mapped_file) into the process now, so that later reads
/// pay no page faults: MADV_POPULATE_READ where the kernel has it (Linux ≥ 5.14), else one read per
/// page. Reads the file from disk when its pages are not cached. Does nothing without mmap.
inline void populate(std::span<const std::byte> bytes) noexcept {
#if DSV2_IO_HAVE_MMAP
    if (bytes.empty()) return;
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto first = reinterpret_cast<std::uintptr_t>(bytes.data()) / page * page;
    const auto last = reinterpret_cast<std::uintptr_t>(bytes.data()) + bytes.size();
#if defined(MADV_POPULATE_READ)
    if (::madvise(reinterpret_cast<void*>(first), last - first, MADV_POPULATE_READ) == 0) return;
#endif
    volatile std::byte sink{};
    for (std::uintptr_t a = std::max(first, reinterpret_cast<std::uintptr_t>(bytes.data())); a < last; a += page)
        sink = *reinterpret_cast<const std::byte*>(a);
    (void)sink;
#else
    (void)bytes;
#endif
}

}  // namespace dsv2::io
