// GGUF: every malformed file is refused with a gguf_error naming the file and the key or tensor.
// Files are built byte by byte here (not with dsv2's writer, which refuses to write most of them),
// then opened from a temp file (the mmap path) and parsed from memory.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dsv2/io/gguf.hpp"

#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using Catch::Contains;
using namespace dsv2::io;
using S = dsv2::gguf_error::subject;

/// Little-endian byte building.
struct bytes_out {
    std::vector<std::byte> b;
    bytes_out& u8(std::uint64_t v) { return le(v, 1); }
    bytes_out& u32(std::uint64_t v) { return le(v, 4); }
    bytes_out& u64(std::uint64_t v) { return le(v, 8); }
    bytes_out& le(std::uint64_t v, int n) {
        for (int k = 0; k < n; ++k) b.push_back(static_cast<std::byte>((v >> (8 * k)) & 0xff));
        return *this;
    }
    bytes_out& raw(std::string_view s) {
        for (char c : s) b.push_back(static_cast<std::byte>(c));
        return *this;
    }
    bytes_out& str(std::string_view s) { return u64(s.size()).raw(s); }
    bytes_out& append(const bytes_out& o) {
        b.insert(b.end(), o.b.begin(), o.b.end());
        return *this;
    }
};

// value type ids
constexpr std::uint32_t t_u8 = 0, t_u32 = 4, t_bool = 7, t_string = 8, t_array = 9, t_u64 = 10;

bytes_out kv_u32(std::string_view key, std::uint32_t v) { return std::move(bytes_out().str(key).u32(t_u32).u32(v)); }
bytes_out kv_string(std::string_view key, std::string_view v) {
    return std::move(bytes_out().str(key).u32(t_string).str(v));
}

struct tensor_spec {
    std::string name;
    std::vector<std::uint64_t> dims;
    std::uint32_t type = 0;  // f32
    std::uint64_t offset = 0;
};
bytes_out tensor_info(const tensor_spec& t) {
    bytes_out o;
    o.str(t.name).u32(t.dims.size());
    for (auto d : t.dims) o.u64(d);
    return std::move(o.u32(t.type).u64(t.offset));
}

/// A whole file: header with the given counts, the entries, padding to `alignment`, `data` bytes.
std::vector<std::byte> gguf(const std::vector<bytes_out>& kvs, const std::vector<tensor_spec>& tensors,
                            std::size_t data, std::uint64_t alignment = 32, std::uint32_t version = 3) {
    bytes_out o;
    o.raw("GGUF").u32(version).u64(tensors.size()).u64(kvs.size());
    for (const auto& kv : kvs) o.append(kv);
    for (const auto& t : tensors) o.append(tensor_info(t));
    while (o.b.size() % alignment != 0) o.u8(0);
    for (std::size_t i = 0; i < data; ++i) o.u8(i * 13 + 7);
    return o.b;
}

/// A valid file: two keys, two f32 tensors of 8 and 3 elements (32 and 12 bytes, the second at 32).
std::vector<std::byte> valid() {
    return gguf({kv_string("general.architecture", "deepseek2"), kv_u32("deepseek2.block_count", 2)},
                {{"a", {8}, 0, 0}, {"b", {3, 1}, 0, 32}}, 44);
}

void write_bytes(const fs::path& p, const std::vector<std::byte>& bytes) {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

/// Opening `bytes` from a file and from memory must both throw a gguf_error of that subject and
/// name, whose message names the file and holds `fragment`.
void expect_rejected(const std::vector<std::byte>& bytes, S kind, const std::string& name, const std::string& fragment) {
    dsv2_test::temp_dir dir;
    const fs::path p = dir.path / "bad.gguf";
    write_bytes(p, bytes);
    INFO("expecting: " << fragment);
    for (int from_memory = 0; from_memory < 2; ++from_memory) {
        const std::string shown = from_memory ? std::string("memory.gguf") : p.string();
        try {
            if (from_memory) (void)gguf_file::parse(bytes, "memory.gguf");
            else (void)gguf_file::open(p);
            FAIL("accepted");
        } catch (const dsv2::gguf_error& e) {
            INFO("message: " << e.what());
            CHECK(e.path() == shown);
            CHECK(e.kind() == kind);
            CHECK(e.key_or_tensor() == name);
            CHECK_THAT(e.what(), Contains(shown) && Contains(fragment));
            if (kind == S::key) CHECK_THAT(e.what(), Contains("key '" + name + "'"));
            if (kind == S::tensor) CHECK_THAT(e.what(), Contains("tensor '" + name + "'"));
        }
    }
}

std::vector<std::byte> with_u32_at(std::vector<std::byte> b, std::size_t at, std::uint32_t v) {
    for (int k = 0; k < 4; ++k) b[at + k] = static_cast<std::byte>((v >> (8 * k)) & 0xff);
    return b;
}

}  // namespace

TEST_CASE("gguf: the hand-built base file is valid, versions 2 and 3, trailing bytes ignored", "[io][gguf][validate]") {
    const gguf_file f = gguf_file::parse(valid(), "ok.gguf");
    REQUIRE(f.tensors().size() == 2);
    CHECK(f.tensors()[1].dims == std::vector<std::uint64_t>{3, 1});
    CHECK(f.tensors()[1].data.size() == 12);
    CHECK(f.tensors()[1].element_count() == 3);
    CHECK(f.get_uint("deepseek2.block_count") == 2);
    CHECK(gguf_file::parse(with_u32_at(valid(), 4, 2), "v2.gguf").version() == 2);
    auto longer = valid();
    longer.resize(longer.size() + 100, std::byte{0x55});
    CHECK(gguf_file::parse(longer, "x").tensors().size() == 2);
    // the last tensor's padding may be missing (ggml reads the file either way)
    CHECK(gguf_file::parse(gguf({}, {{"a", {3}, 0, 0}}, 12), "x").tensors()[0].bytes == 12);
    // an empty tensor (ggml accepts a dimension of 0), and a 4-D one
    const auto z = gguf_file::parse(gguf({}, {{"z", {4, 0}, 0, 0}, {"y", {1, 2, 1, 2}, 1, 0}}, 8), "x");
    CHECK(z.tensors()[0].bytes == 0);
    CHECK(z.tensors()[1].offset == 0);
    CHECK(z.tensors()[1].bytes == 8);
}

TEST_CASE("gguf: magic, version, endianness, every truncation of the header", "[io][gguf][validate]") {
    auto bad_magic = valid();
    bad_magic[0] = std::byte{'g'};
    expect_rejected(bad_magic, S::file, "", "not a GGUF file: it starts with 'gGUF'");
    expect_rejected({std::byte{'G'}, std::byte{'G'}}, S::file, "", "too short for the GGUF magic");
    expect_rejected(with_u32_at(valid(), 4, 1), S::file, "", "GGUF version 1 is not supported");
    expect_rejected(with_u32_at(valid(), 4, 4), S::file, "", "unsupported GGUF version 4");
    expect_rejected(with_u32_at(valid(), 4, 0), S::file, "", "unsupported GGUF version 0");
    expect_rejected(with_u32_at(valid(), 4, 0x03000000), S::file, "", "big-endian");

    // every prefix that cuts the header, metadata or tensor infos is refused (never read past)
    const auto file = valid();
    const std::size_t data_start = gguf_file::parse(file, "x").data_offset();
    for (std::size_t n = 0; n < data_start; ++n) {
        INFO("prefix of " << n << " bytes");
        const std::vector<std::byte> cut(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(n));
        CHECK_THROWS_AS(gguf_file::parse(cut, "cut.gguf"), dsv2::gguf_error);
    }
    expect_rejected(std::vector<std::byte>(file.begin(), file.begin() + 20), S::file, "", "file truncated: the metadata count");
    // cut inside the data: the last tensor runs past the end
    expect_rejected(std::vector<std::byte>(file.begin(), file.end() - 1), S::tensor, "b", "runs past the end of the data section");
    // cut right after the infos: the data section itself would start past the end
    const auto infos_only = gguf({}, {{"a", {8}, 0, 0}}, 0, /*alignment (of this builder's padding)=*/1);
    expect_rejected(infos_only, S::file, "", "the data section would start at offset");
}

TEST_CASE("gguf: counts and lengths that cannot fit in the file are refused before allocating",
          "[io][gguf][validate]") {
    auto huge_tensors = valid();
    for (int k = 0; k < 8; ++k) huge_tensors[8 + k] = std::byte{0xff};
    expect_rejected(huge_tensors, S::file, "", "tensor count 18446744073709551615 cannot fit");
    auto huge_kv = valid();
    for (int k = 0; k < 7; ++k) huge_kv[16 + k] = std::byte{0x7f};
    expect_rejected(huge_kv, S::file, "", "metadata count");

    expect_rejected(gguf({bytes_out().u64(1ull << 62).raw("k")}, {}, 0), S::file, "",
                    "metadata entry 0: the key length 4611686018427387904");
    expect_rejected(gguf({bytes_out().str("k").u32(t_string).u64(1000).raw("short")}, {}, 0), S::key, "k",
                    "the string length 1000");
    expect_rejected(gguf({bytes_out().str("k").u32(t_array).u32(t_u64).u64(1ull << 61)}, {}, 0), S::key, "k",
                    "array of 2305843009213693952 u64 elements");
    expect_rejected(gguf({bytes_out().str("k").u32(t_array).u32(t_string).u64(1ull << 40)}, {}, 0), S::key, "k",
                    "cannot fit");
    expect_rejected(gguf({bytes_out().str("k").u32(t_array).u32(t_array).u64(1ull << 40)}, {}, 0), S::key, "k",
                    "cannot fit");
    expect_rejected(gguf({bytes_out().str("tokens").u32(t_array).u32(t_string).u64(2).str("a").u64(99).raw("b")}, {}, 0),
                    S::key, "tokens", "string element 1 length 99");
    bytes_out long_name;
    long_name.raw("GGUF").u32(3).u64(1).u64(0).u64(1ull << 50).raw("name");
    long_name.b.resize(long_name.b.size() + 40);  // enough bytes that one tensor info could fit
    expect_rejected(long_name.b, S::file, "", "tensor info 0: the name length 1125899906842624");
}

TEST_CASE("gguf: keys: empty, not UTF-8, repeated, value types, bools, nesting depth", "[io][gguf][validate]") {
    expect_rejected(gguf({kv_u32("", 1)}, {}, 0), S::file, "", "metadata entry 0: the key is empty");
    expect_rejected(gguf({kv_u32("a", 1), kv_u32("b\xc3(", 1)}, {}, 0), S::file, "",
                    "metadata entry 1: the key 'b\\xc3(' is not valid UTF-8");
    expect_rejected(gguf({kv_u32("dup", 1), kv_u32("x", 2), kv_string("dup", "y")}, {}, 0), S::key, "dup",
                    "appears twice in the metadata");
    expect_rejected(gguf({bytes_out().str("k").u32(13).u32(0)}, {}, 0), S::key, "k", "value type id 13 is not a GGUF type");
    expect_rejected(gguf({bytes_out().str("k").u32(t_array).u32(77).u64(0)}, {}, 0), S::key, "k",
                    "array element type id 77");
    expect_rejected(gguf({bytes_out().str("flag").u32(t_bool).u8(2)}, {}, 0), S::key, "flag", "bool byte is 2");
    expect_rejected(gguf({bytes_out().str("flags").u32(t_array).u32(t_bool).u64(3).u8(1).u8(0).u8(9)}, {}, 0), S::key,
                    "flags", "element 2: bool byte is 9");
    // arrays of arrays: 8 levels are read, 9 are refused
    auto nested = [](int levels) {
        bytes_out o;
        o.str("deep").u32(t_array);
        for (int i = 1; i < levels; ++i) o.u32(t_array).u64(1);
        o.u32(t_u8).u64(1).u8(42);
        return o;
    };
    const auto ok = gguf_file::parse(gguf({nested(8)}, {}, 0), "x");
    const gguf_value* v = &ok.at("deep");
    for (int i = 1; i < 8; ++i) v = &v->array_at(0);
    CHECK(v->u64_at(0) == 42);
    expect_rejected(gguf({nested(9)}, {}, 0), S::key, "deep", "arrays nest deeper than 8 levels");
}

TEST_CASE("gguf: general.alignment must be a u32 power of two and is applied", "[io][gguf][validate]") {
    expect_rejected(gguf({bytes_out().str("general.alignment").u32(t_u64).u64(64)}, {}, 0), S::key, "general.alignment",
                    "must be a u32");
    expect_rejected(gguf({kv_u32("general.alignment", 0)}, {}, 0), S::key, "general.alignment", "alignment 0 is not a power of two");
    expect_rejected(gguf({kv_u32("general.alignment", 48)}, {}, 0), S::key, "general.alignment", "alignment 48");
    const auto f = gguf_file::parse(gguf({kv_u32("general.alignment", 16)}, {{"a", {3}, 0, 0}, {"b", {1}, 0, 16}}, 20, 16), "x");
    CHECK(f.alignment() == 16);
    CHECK(f.data_offset() % 16 == 0);
    CHECK(f.tensors()[1].offset == 16);
    // offsets valid for 32 are misaligned for 64
    expect_rejected(gguf({kv_u32("general.alignment", 64)}, {{"a", {8}, 0, 0}, {"b", {8}, 0, 32}}, 64, 64), S::tensor, "b",
                    "data offset 32 is not a multiple of the alignment 64");
}

TEST_CASE("gguf: tensor names, dimensions, types, sizes", "[io][gguf][validate]") {
    expect_rejected(gguf({}, {{"", {8}, 0, 0}}, 32), S::file, "", "tensor info 0: the name is empty");
    expect_rejected(gguf({}, {{"ok", {8}, 0, 0}, {"\xff", {8}, 0, 32}}, 64), S::file, "",
                    "tensor info 1: the name '\\xff' is not valid UTF-8");
    expect_rejected(gguf({}, {{"w", {8}, 0, 0}, {"w", {8}, 0, 32}}, 64), S::tensor, "w", "appears twice among the tensors");
    expect_rejected(gguf({}, {{"s", {}, 0, 0}}, 32), S::tensor, "s", "0 dimensions; GGUF tensors have 1 to 4");
    expect_rejected(gguf({}, {{"five", {1, 1, 1, 1, 1}, 0, 0}}, 32), S::tensor, "five", "5 dimensions");
    expect_rejected(gguf({}, {{"neg", {8, 1ull << 63}, 0, 0}}, 32), S::tensor, "neg", "dimension 1 is 9223372036854775808");
    expect_rejected(gguf({}, {{"ovf", {1ull << 32, 1ull << 31}, 0, 0}}, 32), S::tensor, "ovf", "more than 2^63 elements");
    expect_rejected(gguf({}, {{"bytes", {1ull << 62}, 0, 0}}, 32), S::tensor, "bytes", "byte size past 2^64");
    expect_rejected(gguf({}, {{"q", {33, 2}, 8, 0}}, 32), S::tensor, "q",
                    "rows of 33 elements are not a whole number of q8_0 blocks (32 elements each)");
    expect_rejected(gguf({}, {{"ty", {8}, 99, 0}}, 32), S::tensor, "ty", "type id 99 is not a ggml type");
    expect_rejected(gguf({}, {{"retired", {32}, 4, 0}}, 32), S::tensor, "retired", "type id 4 is not a ggml type");
    // a dimension of 0 short-circuits ggml's overflow check only when it comes first
    CHECK(gguf_file::parse(gguf({}, {{"z", {0, 1ull << 62, 4}, 0, 0}}, 0), "x").tensors()[0].bytes == 0);
}

TEST_CASE("gguf: tensor data offsets: aligned, inside the file, packed in order", "[io][gguf][validate]") {
    expect_rejected(gguf({}, {{"a", {8}, 0, 0}, {"b", {3}, 0, 40}}, 64), S::tensor, "b",
                    "data offset 40 is not a multiple of the alignment 32");
    expect_rejected(gguf({}, {{"a", {8}, 0, 0}, {"b", {3}, 0, 32}}, 40), S::tensor, "b",
                    "data [32, 44) (12 bytes) runs past the end of the data section (40 bytes");
    expect_rejected(gguf({}, {{"a", {8}, 0, 1ull << 62}}, 32), S::tensor, "a", "runs past the end of the data section");
    expect_rejected(gguf({}, {{"a", {16}, 0, 0}, {"b", {8}, 0, 32}}, 96), S::tensor, "b",
                    "data [32, 64) overlaps tensor 'a' [0, 64)");
    expect_rejected(gguf({}, {{"a", {8}, 0, 32}, {"b", {8}, 0, 0}}, 64), S::tensor, "a", "leaves a gap of 32 bytes");
    // two non-overlapping tensors out of order: refused as ggml does
    expect_rejected(gguf({}, {{"a", {8}, 0, 0}, {"b", {8}, 0, 32}, {"c", {8}, 0, 0}}, 96), S::tensor, "c",
                    "overlaps tensor 'a'");
}
