// Test support: scratch folders and byte views shared by the tests that write files.
#pragma once

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace dsv2_test {

/// A fresh, uniquely named folder under the system temp dir, removed with its contents at scope end.
struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        static std::atomic<unsigned> counter{0};
        std::random_device rd;
        path = std::filesystem::temp_directory_path() /
               ("dsv2-test-" + std::to_string(rd()) + "-" + std::to_string(counter++));
        std::filesystem::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

template <class T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
    return std::as_bytes(std::span<const T>(v));
}

/// The whole file at `p` as bytes (empty when it cannot be read; tests compare against expected bytes).
inline std::vector<std::byte> read_all(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(c.size());
    for (std::size_t i = 0; i < c.size(); ++i) out[i] = static_cast<std::byte>(c[i]);
    return out;
}

}  // namespace dsv2_test
