// safetensors: every malformed file is rejected with a safetensors_error naming the file and tensor.
// Each case is written to a temp dir and opened (mmap path), and parsed from memory too.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "dsv2/io/safetensors.hpp"

#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using Catch::Contains;
using dsv2::dtype;
using namespace dsv2::io;

using dsv2_test::temp_dir;

/// 8-byte little-endian length (`declared`, or the header's real size), the header, `data` bytes.
std::vector<std::byte> raw_file(std::string_view header, std::size_t data = 0,
                                std::optional<std::uint64_t> declared = std::nullopt) {
    const std::uint64_t n = declared.value_or(header.size());
    std::vector<std::byte> out;
    for (int k = 0; k < 8; ++k) out.push_back(static_cast<std::byte>((n >> (8 * k)) & 0xff));
    for (char c : header) out.push_back(static_cast<std::byte>(c));
    for (std::size_t i = 0; i < data; ++i) out.push_back(static_cast<std::byte>(i * 37 + 1));
    return out;
}

void write_bytes(const fs::path& p, const std::vector<std::byte>& bytes) {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

/// Opens `bytes` from a temp file and from memory: both must throw a safetensors_error whose
/// tensor() is `tensor` and whose message names the file, the tensor and contains `fragment`.
void expect_rejected(const std::vector<std::byte>& bytes, const std::string& tensor,
                     const std::string& fragment) {
    temp_dir dir;
    const fs::path p = dir.path / "bad.safetensors";
    write_bytes(p, bytes);
    INFO("expecting: " << fragment);
    REQUIRE_THROWS_AS(safetensors_file::open(p), dsv2::safetensors_error);
    try {
        (void)safetensors_file::open(p);
    } catch (const dsv2::safetensors_error& e) {
        INFO("message: " << e.what());
        CHECK(e.path() == p.string());
        CHECK(e.tensor() == tensor);
        CHECK_THAT(e.what(), Contains(p.string()) && Contains(fragment));
        if (!tensor.empty()) CHECK_THAT(e.what(), Contains("tensor '" + tensor + "'"));
    }
    REQUIRE_THROWS_AS(safetensors_file::parse(bytes, "memory.safetensors"), dsv2::safetensors_error);
    REQUIRE_THROWS_WITH(safetensors_file::parse(bytes, "memory.safetensors"),
                        Contains("memory.safetensors") && Contains(fragment));
}

const std::string w_ok = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

}  // namespace

TEST_CASE("valid headers: scalars, zero-sized tensors, padding, metadata, no tensors",
          "[io][safetensors][validate]") {
    const auto f = safetensors_file::parse(
        raw_file(R"({"__metadata__":{"format":"pt"},"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                 R"("z0":{"dtype":"BF16","shape":[0,3],"data_offsets":[0,0]},)"
                 R"("z1":{"dtype":"I8","shape":[0],"data_offsets":[4,4]},)"
                 R"("w":{"dtype":"U8","shape":[2,2],"data_offsets":[4,8]}}   )",
                 8),
        "ok");
    REQUIRE(f.entries().size() == 4);
    CHECK(f.entries()[0].name == "z0");
    CHECK(f.entries()[1].name == "s");
    CHECK(f.entries()[2].name == "z1");
    CHECK(f.entries()[3].name == "w");
    CHECK(f.metadata().at("format") == "pt");
    CHECK(f.view("s").numel() == 1);
    CHECK(f.view("z0").numel() == 0);

    const auto empty = safetensors_file::parse(raw_file("{}"), "empty");
    CHECK(empty.entries().empty());
    const auto meta_only = safetensors_file::parse(raw_file(R"({"__metadata__":{}})"), "meta");
    CHECK(meta_only.entries().empty());
    CHECK(meta_only.metadata().empty());
}

TEST_CASE("rejects a file shorter than the 8-byte prefix", "[io][safetensors][validate]") {
    expect_rejected({std::byte{1}, std::byte{0}, std::byte{0}}, "",
                    "file is 3 bytes, shorter than the 8-byte");
    expect_rejected({}, "", "file is 0 bytes");
}

TEST_CASE("rejects a header length past the end of the file", "[io][safetensors][validate]") {
    expect_rejected(raw_file("{" + w_ok + "}", 8, 1000), "",
                    "header length 1000 runs past the end of the file");
}

TEST_CASE("rejects an absurdly large header length", "[io][safetensors][validate]") {
    expect_rejected(raw_file("{}", 0, 200'000'000), "",
                    "header length 200000000 exceeds the limit of 100000000 bytes");
    expect_rejected(raw_file("{}", 0, ~std::uint64_t{0}), "", "exceeds the limit");
}

TEST_CASE("rejects a header that is not JSON", "[io][safetensors][validate]") {
    expect_rejected(raw_file(R"({"w": {"dtype": )"), "", "header: not valid JSON");
    expect_rejected(raw_file(""), "", "not valid JSON");
    expect_rejected(raw_file("{} {}"), "", "not valid JSON");
    // nlohmann's lexer would stop at a NUL and ignore the rest
    expect_rejected(raw_file(std::string("{}\0", 3)), "", "not valid JSON: NUL byte at header offset 2");
    expect_rejected(raw_file("{" + w_ok + "}" + std::string("\0 junk", 6), 8), "",
                    "NUL byte at header offset");
}

TEST_CASE("rejects a header that is not a JSON object", "[io][safetensors][validate]") {
    expect_rejected(raw_file("[1, 2]"), "", "header is not a JSON object (it is array)");
    expect_rejected(raw_file("\"w\""), "", "header is not a JSON object (it is string)");
}

TEST_CASE("rejects a header that is not UTF-8", "[io][safetensors][validate]") {
    expect_rejected(raw_file("{\"w\xff\":{}}"), "",
                    "header is not valid UTF-8 (byte 0xff at header offset 3)");
    expect_rejected(raw_file("{\"w\xc0\xaf\":{}}"), "", "not valid UTF-8 (byte 0xc0");      // overlong '/'
    expect_rejected(raw_file("{\"w\xed\xa0\x80\":{}}"), "", "not valid UTF-8 (byte 0xed");  // surrogate
    expect_rejected(raw_file("{\"w\xf4\x90\x80\x80\":{}}"), "", "not valid UTF-8");         // > U+10FFFF
    expect_rejected(raw_file("{\"w\xe2\x82\":{}}"), "", "not valid UTF-8");                 // truncated
}

TEST_CASE("rejects an entry that is not an object", "[io][safetensors][validate]") {
    expect_rejected(raw_file(R"({"w":[1,2]})"), "w",
                    "entry must be an object {dtype, shape, data_offsets}, got array");
    expect_rejected(raw_file(R"({"w":"F32"})"), "w", "got string");
}

TEST_CASE("rejects a missing or mistyped dtype", "[io][safetensors][validate]") {
    expect_rejected(raw_file(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8), "w", "missing 'dtype'");
    expect_rejected(raw_file(R"({"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", 8), "w",
                    "'dtype' must be a string, got number 4");
}

TEST_CASE("rejects an unknown dtype", "[io][safetensors][validate]") {
    expect_rejected(
        raw_file(R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2), "w",
        "unsupported dtype 'F8_E4M3' (supported: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)");
    expect_rejected(raw_file(R"({"w":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}})", 8), "w",
                    "unsupported dtype 'f32'");
}

TEST_CASE("rejects a missing or mistyped shape", "[io][safetensors][validate]") {
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8), "w", "missing 'shape'");
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8), "w",
                    "'shape' must be an array of integers, got number");
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8), "w",
                    "element 0 is number 2.0");
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","shape":[1,"2"],"data_offsets":[0,8]}})", 8), "w",
                    "element 1 is string");
}

TEST_CASE("rejects negative dimensions", "[io][safetensors][validate]") {
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","shape":[2,-2],"data_offsets":[0,8]}})", 8), "w",
                    "negative dimension -2 at shape index 1");
}

TEST_CASE("rejects a shape whose size overflows", "[io][safetensors][validate]") {
    expect_rejected(
        raw_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8), "w",
        "overflows");
    // 2^62 elements fit in int64, their F32 bytes do not fit in 64 bits
    expect_rejected(
        raw_file(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}})", 8), "w",
        "overflows");
    expect_rejected(
        raw_file(R"({"w":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8]}})", 8), "w",
        "exceeds int64");
    expect_rejected(
        raw_file(R"({"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}})", 8), "w",
        "must be an array of integers");
}

TEST_CASE("rejects a missing or mistyped data_offsets", "[io][safetensors][validate]") {
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","shape":[2]}})", 8), "w", "missing 'data_offsets'");
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8), "w",
                    "'data_offsets' must be two non-negative integers [begin, end], got [0]");
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", 8), "w",
                    "must be two non-negative integers");
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8), "w",
                    "must be two non-negative integers");
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":["0","8"]}})", 8), "w",
                    "must be two non-negative integers");
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":{"begin":0}}})", 8), "w",
                    "must be two non-negative integers");
}

TEST_CASE("rejects shape x dtype size different from end - begin", "[io][safetensors][validate]") {
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "w",
                    "shape [3] of F32 is 12 bytes, but data_offsets [0, 8] span 8");
    expect_rejected(raw_file(R"({"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,8]}})", 8), "w",
                    "shape [2] of BF16 is 4 bytes");
}

TEST_CASE("rejects begin > end", "[io][safetensors][validate]") {
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8), "w",
                    "data_offsets [8, 0]: begin is past end");
}

TEST_CASE("rejects offsets past the data section", "[io][safetensors][validate]") {
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), "w",
                    "data_offsets [0, 16] run past the end of the data section (8 bytes)");
    expect_rejected(
        raw_file(
            R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[18446744073709551615,18446744073709551615]}})"),
        "w", "run past the end of the data section (0 bytes)");
}

TEST_CASE("rejects overlapping ranges", "[io][safetensors][validate]") {
    expect_rejected(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                             12),
                    "b", "data [4, 12) overlaps tensor 'a' [0, 8)");
    expect_rejected(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                             8),
                    "b", "overlaps tensor 'a'");
    // a zero-sized tensor strictly inside another's range
    expect_rejected(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                             8),
                    "z", "overlaps tensor 'a'");
}

TEST_CASE("rejects holes and unindexed data (the buffer must be entirely indexed)",
          "[io][safetensors][validate]") {
    expect_rejected(
        raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
                 20),
        "b", "data section bytes [8, 12) before this tensor belong to no tensor (the format forbids holes)");
    expect_rejected(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12), "a",
                    "bytes [0, 4) before this tensor");
    expect_rejected(raw_file("{" + w_ok + "}", 12), "w",
                    "data section bytes [8, 12) after the last tensor belong to no tensor");
    expect_rejected(raw_file("{}", 4), "", "data section bytes [0, 4) after the last tensor");
}

TEST_CASE("rejects __metadata__ that is not a string -> string map", "[io][safetensors][validate]") {
    expect_rejected(raw_file(R"({"__metadata__":"pt",)" + w_ok + "}", 8), "",
                    "__metadata__ must be an object of strings, got string");
    expect_rejected(raw_file(R"({"__metadata__":{"format":"pt","n":1},)" + w_ok + "}", 8), "",
                    "__metadata__ value of key 'n' must be a string, got number 1");
    expect_rejected(raw_file(R"({"__metadata__":{"k":["x"]},)" + w_ok + "}", 8), "",
                    "value of key 'k' must be a string, got array");
}

TEST_CASE("rejects repeated keys that nlohmann::json would silently merge", "[io][safetensors][validate]") {
    expect_rejected(raw_file("{" + w_ok + "," + w_ok + "}", 8), "w", "duplicate key 'w'");
    expect_rejected(raw_file(R"({"w":{"dtype":"F16","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
                    "w", "duplicate key 'dtype' in the object of 'w'");
    expect_rejected(raw_file(R"({"__metadata__":{"a":"1","a":"2"},)" + w_ok + "}", 8), "",
                    "__metadata__: duplicate key 'a'");
}

TEST_CASE("rejects empty names, unknown entry keys and deep nesting", "[io][safetensors][validate]") {
    expect_rejected(raw_file(R"({"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8), "",
                    "a tensor has an empty name");
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", 8), "w",
                    "unexpected key 'extra'");
    expect_rejected(raw_file(R"({"w":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}})", 8), "w",
                    "JSON nests deeper than 3 levels");
    expect_rejected(raw_file(std::string(5000, '[') + std::string(5000, ']')), "", "nests deeper");
}
