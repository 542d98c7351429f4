// safetensors: write/read round trips, dtype conversions, writer errors, mapped_file.
#include <catch2/catch.hpp>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "dsv2/io/mapped_file.hpp"
#include "dsv2/io/safetensors.hpp"

#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using Catch::Contains;
using dsv2::dtype;
using namespace dsv2::io;

using dsv2_test::temp_dir;
using dsv2_test::read_all;

using dsv2_test::bytes_of;

std::uint64_t header_length(const std::vector<std::byte>& file) {
    std::uint64_t n = 0;
    for (int k = 7; k >= 0; --k)
        n = (n << 8) | std::to_integer<std::uint64_t>(file[static_cast<std::size_t>(k)]);
    return n;
}

}  // namespace

TEST_CASE("shape_string formats shapes", "[io][safetensors]") {
    const std::vector<std::int64_t> s23{2, 3}, s0{}, s1{7};
    CHECK(shape_string(s23) == "[2, 3]");
    CHECK(shape_string(s0) == "[]");
    CHECK(shape_string(s1) == "[7]");
}

TEST_CASE("round trip of every dtype through write_safetensors and open", "[io][safetensors]") {
    temp_dir dir;
    const fs::path path = dir.path / "all.safetensors";

    const std::vector<float> f32{1.0f, -2.5f, 3.25f, 0.0f, 1e-30f, -7.0f};
    const std::vector<double> f64{0.1, -1e300, 2.0, 1e-310};
    std::vector<std::uint16_t> bf16, f16;
    for (float v : {1.0f, -2.0f, 0.5f, 3.140625f}) bf16.push_back(dsv2::float_to_bf16(v));
    for (float v : {1.0f, -2.0f, 65504.0f, 0.333251953125f, 5.9604644775390625e-08f, -0.0f})
        f16.push_back(dsv2::float_to_f16(v));
    const std::vector<std::int64_t> i64{0, -1, std::numeric_limits<std::int64_t>::max(),
                                        std::numeric_limits<std::int64_t>::min()};
    const std::vector<std::int32_t> i32{-5, 70000};
    const std::vector<std::int16_t> i16{-300, 300, -1};
    const std::vector<std::int8_t> i8{-128, 127};
    const std::vector<std::uint8_t> u8{0, 255, 17};
    const std::vector<std::uint8_t> boolean{1, 0, 1, 1};
    const std::vector<float> scalar{42.0f};
    const std::vector<float> empty{};

    const std::vector<tensor_to_write> tensors{
        {"f32", dtype::f32, {2, 3}, bytes_of(f32)},   {"bf16", dtype::bf16, {4}, bytes_of(bf16)},
        {"f16", dtype::f16, {3, 2}, bytes_of(f16)},   {"f64", dtype::f64, {2, 2}, bytes_of(f64)},
        {"i64", dtype::i64, {4}, bytes_of(i64)},      {"i32", dtype::i32, {2}, bytes_of(i32)},
        {"i16", dtype::i16, {3}, bytes_of(i16)},      {"i8", dtype::i8, {2}, bytes_of(i8)},
        {"u8", dtype::u8, {3, 1}, bytes_of(u8)},      {"bool", dtype::boolean, {2, 2}, bytes_of(boolean)},
        {"scalar", dtype::f32, {}, bytes_of(scalar)}, {"empty", dtype::f32, {0, 5}, bytes_of(empty)},
    };
    const std::map<std::string, std::string> meta{{"format", "pt"}, {"note", "h\xc3\xa9llo"}};
    write_safetensors(path, tensors, meta);

    // header padded so that the data section starts 8-byte aligned
    const auto raw = read_all(path);
    CHECK((8 + header_length(raw)) % 8 == 0);
    CHECK_FALSE(fs::exists(dir.path / "all.safetensors.partial"));

    const auto f = safetensors_file::open(path);
    CHECK(f.path() == path);
    CHECK(f.metadata() == meta);
    REQUIRE(f.entries().size() == tensors.size());
    for (std::size_t i = 1; i < f.entries().size(); ++i)
        CHECK(f.entries()[i - 1].begin <= f.entries()[i].begin);
    for (const auto& t : tensors) {
        INFO(t.name);
        REQUIRE(f.contains(t.name));
        const tensor_view v = f.view(t.name);
        CHECK(v.name == t.name);
        CHECK(v.file == path.string());
        CHECK(v.type == t.type);
        CHECK(v.shape == t.shape);
        REQUIRE(v.bytes.size() == t.data.size());
        CHECK(std::equal(v.bytes.begin(), v.bytes.end(), t.data.begin()));
    }
    CHECK_FALSE(f.contains("nope"));
    CHECK(f.view("scalar").numel() == 1);
    CHECK(f.view("empty").numel() == 0);
    CHECK(f.view("empty").bytes.empty());

    CHECK(to_float(f.view("f32")) == f32);
    CHECK(to_float(f.view("bf16")) == std::vector<float>{1.0f, -2.0f, 0.5f, 3.140625f});
    CHECK(to_float(f.view("f16")) ==
          std::vector<float>{1.0f, -2.0f, 65504.0f, 0.333251953125f, 5.9604644775390625e-08f, -0.0f});
    const auto f64f = to_float(f.view("f64"));
    REQUIRE(f64f.size() == 4);
    CHECK(f64f[0] == 0.1f);
    CHECK(std::isinf(f64f[1]));
    CHECK(f64f[1] < 0);
    CHECK(f64f[2] == 2.0f);
    CHECK(f64f[3] == 0.0f);
    CHECK(to_float(f.view("scalar")) == std::vector<float>{42.0f});
    CHECK(to_float(f.view("empty")).empty());

    CHECK(to_int64(f.view("i64")) == i64);
    CHECK(to_int64(f.view("i32")) == std::vector<std::int64_t>{-5, 70000});
    CHECK(to_int64(f.view("i16")) == std::vector<std::int64_t>{-300, 300, -1});
    CHECK(to_int64(f.view("i8")) == std::vector<std::int64_t>{-128, 127});
    CHECK(to_int64(f.view("u8")) == std::vector<std::int64_t>{0, 255, 17});
    CHECK(to_int64(f.view("bool")) == std::vector<std::int64_t>{1, 0, 1, 1});

    // parse() from memory sees the same file
    const auto g = safetensors_file::parse(raw, "in-memory");
    CHECK(g.path() == fs::path("in-memory"));
    CHECK(g.entries().size() == tensors.size());
    CHECK(to_float(g.view("f32")) == f32);
    CHECK(g.view("f32").file == "in-memory");
}

TEST_CASE("a moved safetensors_file keeps its views valid", "[io][safetensors]") {
    temp_dir dir;
    const std::vector<float> data{1, 2, 3, 4};
    const std::vector<tensor_to_write> t{{"x", dtype::f32, {4}, bytes_of(data)}};
    write_safetensors(dir.path / "x.safetensors", t);
    auto a = safetensors_file::open(dir.path / "x.safetensors");
    const tensor_view v = a.view("x");
    safetensors_file b = std::move(a);
    CHECK(to_float(v) == data);
    CHECK(to_float(b.view("x")) == data);
    std::vector<safetensors_file> many;
    many.push_back(std::move(b));
    many.push_back(safetensors_file::open(dir.path / "x.safetensors"));
    CHECK(to_float(many[0].view("x")) == data);
}

TEST_CASE("bf16 and f16 decode known bit patterns", "[io][safetensors][convert]") {
    auto decode = [](dtype type, std::vector<std::uint16_t> bits) {
        const tensor_view v{"t", "mem", type, {static_cast<std::int64_t>(bits.size())}, bytes_of(bits)};
        return to_float(v);
    };
    const auto b = decode(dtype::bf16, {0x3f80, 0xc000, 0x4049, 0x7f80, 0xff80, 0x0001, 0x8000, 0x7fc0});
    CHECK(b[0] == 1.0f);
    CHECK(b[1] == -2.0f);
    CHECK(b[2] == 3.140625f);
    CHECK(b[3] == std::numeric_limits<float>::infinity());
    CHECK(b[4] == -std::numeric_limits<float>::infinity());
    CHECK(b[5] == std::ldexp(1.0f, -133));  // smallest bf16 subnormal
    CHECK(b[6] == 0.0f);
    CHECK(std::signbit(b[6]));
    CHECK(std::isnan(b[7]));

    const auto h =
        decode(dtype::f16, {0x3c00, 0xc000, 0x7bff, 0x3555, 0x0001, 0x0400, 0x7c00, 0xfc00, 0x7e00, 0x8000});
    CHECK(h[0] == 1.0f);
    CHECK(h[1] == -2.0f);
    CHECK(h[2] == 65504.0f);
    CHECK(h[3] == 0.333251953125f);
    CHECK(h[4] == std::ldexp(1.0f, -24));  // smallest f16 subnormal
    CHECK(h[5] == std::ldexp(1.0f, -14));  // smallest f16 normal
    CHECK(h[6] == std::numeric_limits<float>::infinity());
    CHECK(h[7] == -std::numeric_limits<float>::infinity());
    CHECK(std::isnan(h[8]));
    CHECK((h[9] == 0.0f && std::signbit(h[9])));
}

TEST_CASE("conversions read unaligned data", "[io][safetensors][convert]") {
    // 1 + 4 * 3 bytes: the f32 values start at an odd address
    std::vector<std::byte> buf(13);
    const float vals[3] = {1.5f, -3.0f, 1e20f};
    std::memcpy(buf.data() + 1, vals, sizeof vals);
    const tensor_view v{"odd", "mem", dtype::f32, {3}, std::span<const std::byte>(buf).subspan(1)};
    CHECK(to_float(v) == std::vector<float>{1.5f, -3.0f, 1e20f});
    const std::int32_t ints[3] = {-1, 2, 1 << 30};
    std::memcpy(buf.data() + 1, ints, sizeof ints);
    const tensor_view w{"odd", "mem", dtype::i32, {3}, std::span<const std::byte>(buf).subspan(1)};
    CHECK(to_int64(w) == std::vector<std::int64_t>{-1, 2, 1 << 30});
}

TEST_CASE("conversion errors name the tensor", "[io][safetensors][convert]") {
    const std::vector<std::int64_t> ints{1, 2, 3};
    const tensor_view iv{"model.ids", "ids.safetensors", dtype::i64, {3}, bytes_of(ints)};
    REQUIRE_THROWS_AS(to_float(iv), dsv2::safetensors_error);
    REQUIRE_THROWS_WITH(to_float(iv), Contains("ids.safetensors") && Contains("tensor 'model.ids'") &&
                                          Contains("I64 is not a floating type"));

    const std::vector<float> fl{1, 2, 3};
    const tensor_view fv{"model.w", "w.safetensors", dtype::f32, {3}, bytes_of(fl)};
    std::vector<float> out(2);
    REQUIRE_THROWS_AS(to_float(fv, out), dsv2::safetensors_error);
    REQUIRE_THROWS_WITH(to_float(fv, out), Contains("tensor 'model.w'") &&
                                               Contains("output holds 2 floats") &&
                                               Contains("has 3 elements"));
    REQUIRE_THROWS_WITH(to_int64(fv), Contains("w.safetensors") && Contains("tensor 'model.w'") &&
                                          Contains("F32 is a floating type"));

    const tensor_view short_view{"model.w", "w.safetensors", dtype::f32, {4}, bytes_of(fl)};
    REQUIRE_THROWS_WITH(to_float(short_view), Contains("tensor 'model.w'") &&
                                                  Contains("view holds 12 bytes") && Contains("needs 16"));
    const tensor_view neg{"model.w", "w.safetensors", dtype::f32, {-1, 3}, bytes_of(fl)};
    REQUIRE_THROWS_WITH(neg.numel(), Contains("tensor 'model.w'") && Contains("[-1, 3]"));

    const std::vector<std::uint8_t> bad_bool{0, 2};
    const tensor_view bv{"mask", "m.safetensors", dtype::boolean, {2}, bytes_of(bad_bool)};
    REQUIRE_THROWS_WITH(to_int64(bv), Contains("tensor 'mask'") && Contains("element 1 is 2, not 0 or 1"));
}

TEST_CASE("write_safetensors rejects bad tensors, naming them", "[io][safetensors][write]") {
    temp_dir dir;
    const fs::path p = dir.path / "w.safetensors";
    const std::vector<float> four{1, 2, 3, 4};

    const std::vector<tensor_to_write> wrong_size{{"layer.w", dtype::f32, {5}, bytes_of(four)}};
    REQUIRE_THROWS_AS(write_safetensors(p, wrong_size), dsv2::safetensors_error);
    REQUIRE_THROWS_WITH(write_safetensors(p, wrong_size), Contains(p.string()) &&
                                                              Contains("tensor 'layer.w'") &&
                                                              Contains("needs 20 bytes, data holds 16"));

    const std::vector<tensor_to_write> dup{{"a", dtype::f32, {4}, bytes_of(four)},
                                           {"a", dtype::f32, {2, 2}, bytes_of(four)}};
    REQUIRE_THROWS_WITH(write_safetensors(p, dup), Contains("tensor 'a'") && Contains("appears twice"));

    const std::vector<tensor_to_write> empty_name{{"", dtype::f32, {4}, bytes_of(four)}};
    REQUIRE_THROWS_WITH(write_safetensors(p, empty_name), Contains("empty name"));

    const std::vector<tensor_to_write> reserved{{"__metadata__", dtype::f32, {4}, bytes_of(four)}};
    REQUIRE_THROWS_WITH(write_safetensors(p, reserved), Contains("reserved"));

    const std::vector<tensor_to_write> negative{{"n", dtype::f32, {-4}, bytes_of(four)}};
    REQUIRE_THROWS_WITH(write_safetensors(p, negative), Contains("tensor 'n'") && Contains("[-4]"));

    CHECK_FALSE(fs::exists(p));  // nothing half-written

    const std::vector<tensor_to_write> ok{{"a", dtype::f32, {4}, bytes_of(four)}};
    const fs::path nowhere = dir.path / "no" / "such" / "dir" / "w.safetensors";
    REQUIRE_THROWS_AS(write_safetensors(nowhere, ok), dsv2::io_error);
    REQUIRE_THROWS_WITH(write_safetensors(nowhere, ok), Contains(nowhere.string()));
}

TEST_CASE("an empty tensor list writes a valid empty file", "[io][safetensors][write]") {
    temp_dir dir;
    write_safetensors(dir.path / "e.safetensors", {});
    const auto f = safetensors_file::open(dir.path / "e.safetensors");
    CHECK(f.entries().empty());
    CHECK(f.metadata().empty());
    REQUIRE_THROWS_AS(f.view("x"), dsv2::safetensors_error);
    REQUIRE_THROWS_WITH(f.view("x"),
                        Contains("e.safetensors") && Contains("tensor 'x'") && Contains("no such tensor"));
}

TEST_CASE("mapped_file maps files, empty ones included, and reports what it cannot open",
          "[io][mapped_file]") {
    temp_dir dir;
    const fs::path empty = dir.path / "empty.bin";
    { std::ofstream(empty, std::ios::binary); }
    const auto e = mapped_file::open(empty);
    CHECK(e.bytes().empty());
    CHECK(e.path() == empty);

    const fs::path full = dir.path / "abc.bin";
    { std::ofstream(full, std::ios::binary) << "abc"; }
    auto m = mapped_file::open(full);
    REQUIRE(m.bytes().size() == 3);
    CHECK(m.bytes()[1] == std::byte{'b'});
    const std::byte* where = m.bytes().data();
    mapped_file moved = std::move(m);
    CHECK(moved.bytes().data() == where);
    CHECK(m.bytes().empty());  // NOLINT(bugprone-use-after-move): moved-from is empty, by contract
    mapped_file assigned;
    assigned = std::move(moved);
    CHECK(assigned.bytes().size() == 3);

    const fs::path missing = dir.path / "missing.bin";
    REQUIRE_THROWS_AS(mapped_file::open(missing), dsv2::io_error);
    REQUIRE_THROWS_WITH(mapped_file::open(missing), Contains(missing.string()) && Contains("cannot open"));
    REQUIRE_THROWS_WITH(mapped_file::open(dir.path),
                        Contains(dir.path.string()) && Contains("not a regular file"));
    REQUIRE_THROWS_AS(safetensors_file::open(missing), dsv2::io_error);
}

TEST_CASE("mapped_file and safetensors_file refuse a FIFO without blocking on it", "[io][mapped_file]") {
    temp_dir dir;
    const fs::path fifo = dir.path / "model.safetensors";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);  // no writer: a blocking open for reading would hang
    const fs::path link = dir.path / "link.safetensors";
    fs::create_symlink(fifo, link);
    CHECK_THROWS_WITH(mapped_file::open(fifo), Contains(fifo.string()) && Contains("not a regular file"));
    CHECK_THROWS_WITH(mapped_file::open(link), Contains(link.string()) && Contains("not a regular file"));
    CHECK_THROWS_AS(safetensors_file::open(fifo), dsv2::io_error);
    CHECK(fs::is_fifo(fifo));
}
