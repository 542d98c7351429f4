// GGUF reader and writer against gguf-py 0.19.0 (tools/fixtures/make_gguf_fixtures.py):
//  - the reader parses each fixture GGUFWriter wrote into what the JSON sidecar says was written
//    (values as handed to the writer; offsets and sizes as gguf-py's GGUFReader read them back);
//  - dsv2's writer, given the sidecar's content, produces the same bytes as GGUFWriter;
//  - the writer round-trips every value type, refuses what the format cannot hold, and never
//    leaves a partial or clobbered file.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsv2/io/gguf.hpp"
#include "dsv2/io/gguf_writer.hpp"

#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using Catch::Contains;
using dsv2::ggml_type;
using namespace dsv2::io;
using dsv2_test::temp_dir;
using dsv2_test::read_all;

const fs::path fixture_dir = fs::path(DSV2_FIXTURE_DIR) / "gguf";

nlohmann::json sidecar(const std::string& name) {
    std::ifstream in(fixture_dir / (name + ".json"));
    REQUIRE(in);
    return nlohmann::json::parse(in);
}

std::vector<std::byte> from_hex(const std::string& hex) {
    std::vector<std::byte> out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(static_cast<std::byte>(std::stoul(hex.substr(i, 2), nullptr, 16)));
    return out;
}

/// Checks one value (or array element list) against its sidecar description.
void check_value(const gguf_value& v, const nlohmann::json& expect) {
    const std::string type = expect.contains("type") ? expect["type"].get<std::string>() : "array";
    INFO("key " << std::string(v.key()) << " (" << type << ")");
    REQUIRE(std::string(name_of(v.type())) == type);
    const auto& value = expect["value"];
    if (type == "array") {
        const std::string elem = expect["element_type"];
        REQUIRE(std::string(name_of(v.array_type())) == elem);
        REQUIRE(v.size() == value.size());
        for (std::size_t i = 0; i < value.size(); ++i) {
            if (elem == "string") CHECK(v.string_at(i) == value[i].get<std::string>());
            else if (elem == "bool") CHECK(v.bool_at(i) == value[i].get<bool>());
            else if (elem == "f32" || elem == "f64") CHECK(v.f64_at(i) == value[i].get<double>());
            else if (elem == "array") check_value(v.array_at(i), value[i]);
            else if (value[i].is_number_unsigned()) CHECK(v.u64_at(i) == value[i].get<std::uint64_t>());
            else CHECK(v.i64_at(i) == value[i].get<std::int64_t>());
        }
        return;
    }
    if (type == "string") CHECK(v.as_string() == value.get<std::string>());
    else if (type == "bool") CHECK(v.as_bool() == value.get<bool>());
    else if (type == "f32" || type == "f64") CHECK(v.as_f64() == value.get<double>());
    else if (value.is_number_unsigned()) CHECK(v.as_u64() == value.get<std::uint64_t>());
    else CHECK(v.as_i64() == value.get<std::int64_t>());
}

void check_fixture(const gguf_file& f, const nlohmann::json& j) {
    CHECK(f.version() == j["version"].get<std::uint32_t>());
    CHECK(f.alignment() == j["alignment"].get<std::uint64_t>());
    if (!j["data_offset"].is_null()) CHECK(f.data_offset() == j["data_offset"].get<std::uint64_t>());
    REQUIRE(f.metadata().size() == j["metadata"].size());
    for (std::size_t i = 0; i < f.metadata().size(); ++i) {
        const auto& [key, value] = f.metadata()[i];
        CHECK(key == j["metadata"][i]["key"].get<std::string>());
        CHECK(f.find(key) == &value);
        check_value(value, j["metadata"][i]);
    }
    REQUIRE(f.tensors().size() == j["tensors"].size());
    for (std::size_t i = 0; i < f.tensors().size(); ++i) {
        const gguf_tensor_info& t = f.tensors()[i];
        const auto& e = j["tensors"][i];
        INFO("tensor " << t.name);
        CHECK(t.name == e["name"].get<std::string>());
        CHECK(t.dims == e["dims"].get<std::vector<std::uint64_t>>());
        CHECK(std::string(dsv2::name_of(t.type)) == e["type"].get<std::string>());
        CHECK(static_cast<std::uint32_t>(t.type) == e["type_id"].get<std::uint32_t>());
        CHECK(t.offset == e["offset"].get<std::uint64_t>());
        CHECK(t.bytes == e["bytes"].get<std::uint64_t>());
        const auto data = from_hex(e["data_hex"]);
        REQUIRE(t.data.size() == data.size());
        CHECK(std::equal(t.data.begin(), t.data.end(), data.begin()));
        CHECK(f.find_tensor(t.name) == &t);
        // tensor data is aligned in the file, and so in a mapping
        CHECK((f.data_offset() + t.offset) % f.alignment() == 0);
    }
}

/// Rebuilds a fixture from its sidecar with dsv2's writer (nested arrays copied from `original`,
/// the writer has no builder for them).
void write_from_sidecar(const fs::path& out, const nlohmann::json& j, const gguf_file& original) {
    gguf_writer w(out);
    for (const auto& e : j["metadata"]) {
        const std::string key = e["key"], type = e["type"];
        const auto& v = e["value"];
        if (key == "general.alignment") w.set_alignment(v.get<std::uint32_t>());
        else if (type == "u8") w.set_u8(key, v.get<std::uint8_t>());
        else if (type == "i8") w.set_i8(key, v.get<std::int8_t>());
        else if (type == "u16") w.set_u16(key, v.get<std::uint16_t>());
        else if (type == "i16") w.set_i16(key, v.get<std::int16_t>());
        else if (type == "u32") w.set_u32(key, v.get<std::uint32_t>());
        else if (type == "i32") w.set_i32(key, v.get<std::int32_t>());
        else if (type == "f32") w.set_f32(key, static_cast<float>(v.get<double>()));
        else if (type == "bool") w.set_bool(key, v.get<bool>());
        else if (type == "string") w.set_string(key, v.get<std::string>());
        else if (type == "u64") w.set_u64(key, v.get<std::uint64_t>());
        else if (type == "i64") w.set_i64(key, v.get<std::int64_t>());
        else if (type == "f64") w.set_f64(key, v.get<double>());
        else {
            REQUIRE(type == "array");
            const std::string elem = e["element_type"];
            if (elem == "u8") w.set_array(key, v.get<std::vector<std::uint8_t>>());
            else if (elem == "i8") w.set_array(key, v.get<std::vector<std::int8_t>>());
            else if (elem == "u16") w.set_array(key, v.get<std::vector<std::uint16_t>>());
            else if (elem == "i16") w.set_array(key, v.get<std::vector<std::int16_t>>());
            else if (elem == "u32") w.set_array(key, v.get<std::vector<std::uint32_t>>());
            else if (elem == "i32") w.set_array(key, v.get<std::vector<std::int32_t>>());
            else if (elem == "f32") {
                std::vector<float> f;
                for (const auto& x : v) f.push_back(static_cast<float>(x.get<double>()));
                w.set_array(key, f);
            } else if (elem == "bool") {
                const std::vector<bool> b = v.get<std::vector<bool>>();
                std::unique_ptr<bool[]> flat(new bool[b.size()]);
                for (std::size_t i = 0; i < b.size(); ++i) flat[i] = b[i];
                w.set_array(key, std::span<const bool>(flat.get(), b.size()));
            } else if (elem == "string") w.set_array(key, v.get<std::vector<std::string>>());
            else if (elem == "u64") w.set_array(key, v.get<std::vector<std::uint64_t>>());
            else if (elem == "i64") w.set_array(key, v.get<std::vector<std::int64_t>>());
            else if (elem == "f64") w.set_array(key, v.get<std::vector<double>>());
            else w.set(key, original.at(key));  // arrays of arrays
        }
    }
    std::vector<std::vector<std::byte>> data;
    for (const auto& t : j["tensors"]) {
        const auto type = dsv2::ggml_type_from_id(t["type_id"].get<std::uint32_t>());
        REQUIRE(type);
        const auto plan = w.add_tensor(t["name"], t["dims"].get<std::vector<std::uint64_t>>(), type->type);
        CHECK(plan.bytes == t["bytes"].get<std::uint64_t>());
        CHECK(plan.offset == t["offset"].get<std::uint64_t>());
        data.push_back(from_hex(t["data_hex"]));
    }
    std::size_t next = 0;
    w.write([&](const gguf_tensor_plan& t, gguf_sink& sink) {
        const auto& d = data.at(next++);
        // in two pieces, to exercise the sink
        sink.write(std::span<const std::byte>(d).first(d.size() / 2));
        CHECK(sink.remaining() == t.bytes - d.size() / 2);
        sink.write(std::span<const std::byte>(d).subspan(d.size() / 2));
    });
}

std::vector<fs::path> leftovers(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().find(".tmp-") != std::string::npos) out.push_back(e.path());
    return out;
}

}  // namespace

TEST_CASE("gguf-py fixtures: every value type, nested arrays, f32/f16/bf16/q8_0, alignment 64, empty tensor",
          "[io][gguf]") {
    for (const std::string name : {"basic", "aligned64", "no_tensors"}) {
        INFO("fixture " << name);
        const auto j = sidecar(name);
        const gguf_file f = gguf_file::open(fixture_dir / j["file"].get<std::string>());
        CHECK(f.path() == (fixture_dir / j["file"].get<std::string>()).string());
        REQUIRE(f.mapping() != nullptr);
        check_fixture(f, j);
        // the same checks from memory
        check_fixture(gguf_file::parse(read_all(fixture_dir / j["file"].get<std::string>()), "memory.gguf"), j);
    }
}

TEST_CASE("gguf typed getters: conversions, ranges, missing keys", "[io][gguf]") {
    const gguf_file f = gguf_file::open(fixture_dir / "basic.gguf");
    CHECK(f.get_uint("test.u8") == 255);
    CHECK(f.get_int("test.i8") == -128);
    CHECK(f.get_uint("test.u64") == std::numeric_limits<std::uint64_t>::max());
    CHECK(f.get_int("test.i64") == std::numeric_limits<std::int64_t>::min());
    CHECK(f.get_float("test.u32") == 4294967295.0);  // integers convert to double
    CHECK(f.get_float("test.f32") == static_cast<double>(3.14159f));
    CHECK(f.get_bool("test.bool_true"));
    CHECK(f.get_string("general.architecture") == "test");
    CHECK(f.get_string("test.empty_string").empty());
    CHECK(f.get_array("test.array.string").strings().size() == 5);
    CHECK(f.get_array("test.array.i32").to_i64_vector() == std::vector<std::int64_t>{-1, 2, -2147483648});
    CHECK(f.get_array("test.array.u8").to_u64_vector() == std::vector<std::uint64_t>{0, 1, 255});
    CHECK(f.get_array("test.array.f32").to_f64_vector().size() == 3);
    CHECK(f.get_array("test.array.nested").array_at(2).string_at(1) == "bc");
    CHECK_FALSE(f.get_uint_opt("absent.key"));
    CHECK_FALSE(f.get_string_opt("absent.key"));
    CHECK(f.get_array_opt("absent.key") == nullptr);
    CHECK(f.get_uint_opt("test.u16") == std::optional<std::uint64_t>(65535));

    auto expect = [&](auto&& call, const std::string& key, const std::string& fragment) {
        try {
            call();
            FAIL("no exception; expected: " << fragment);
        } catch (const dsv2::gguf_error& e) {
            INFO(e.what());
            CHECK(e.key_or_tensor() == key);
            CHECK(e.kind() == dsv2::gguf_error::subject::key);
            CHECK(e.path() == f.path());
            CHECK_THAT(e.what(), Contains(f.path()) && Contains("key '" + key + "'") && Contains(fragment));
        }
    };
    expect([&] { (void)f.get_uint("absent.key"); }, "absent.key", "missing");
    expect([&] { (void)f.get_uint("test.i8"); }, "test.i8", "negative");
    expect([&] { (void)f.get_uint_opt("test.string"); }, "test.string", "not an integer");
    expect([&] { (void)f.get_int("test.u64"); }, "test.u64", "too large for int64");
    expect([&] { (void)f.get_uint("test.f32"); }, "test.f32", "not an integer");
    expect([&] { (void)f.get_float("test.string"); }, "test.string", "not a number");
    expect([&] { (void)f.get_bool("test.u8"); }, "test.u8", "not a bool");
    expect([&] { (void)f.get_string("test.u8"); }, "test.u8", "not a string");
    expect([&] { (void)f.get_array("test.u8"); }, "test.u8", "not an array");
    expect([&] { (void)f.get_array("test.array.string").u64_at(0); }, "test.array.string", "element 0");
    expect([&] { (void)f.get_array("test.array.i32").string_at(0); }, "test.array.i32", "not an array of strings");
    expect([&] { (void)f.get_array("test.array.i32").to_u64_vector(); }, "test.array.i32", "element 0");
    expect([&] { (void)f.get_array("test.array.u8").u64_at(3); }, "test.array.u8", "past the end");
    expect([&] { (void)f.get_array("test.array.u8").array_at(0); }, "test.array.u8", "not an array");
    CHECK_THROWS_WITH(f.tensor("absent"), Contains("tensor 'absent'") && Contains("no such tensor"));
}

TEST_CASE("gguf writer output is byte-identical to gguf-py's GGUFWriter and reads back", "[io][gguf][writer]") {
    temp_dir dir;
    for (const std::string name : {"basic", "aligned64", "no_tensors"}) {
        INFO("fixture " << name);
        const auto j = sidecar(name);
        const fs::path original_path = fixture_dir / j["file"].get<std::string>();
        const gguf_file original = gguf_file::open(original_path);
        const fs::path out = dir.path / (name + ".gguf");
        write_from_sidecar(out, j, original);
        CHECK(read_all(out) == read_all(original_path));
        check_fixture(gguf_file::open(out), j);
    }
    CHECK(leftovers(dir.path).empty());
}

TEST_CASE("gguf writer: every setter round-trips, copying values from a reader", "[io][gguf][writer]") {
    temp_dir dir;
    const fs::path p = dir.path / "all.gguf";
    {
        gguf_writer w(p);
        w.set_u8("u8", 200);
        w.set_i8("i8", -5);
        w.set_u16("u16", 60000);
        w.set_i16("i16", -30000);
        w.set_u32("u32", 4000000000u);
        w.set_i32("i32", -2000000000);
        w.set_f32("f32", 0.1f);
        w.set_u64("u64", 1ull << 60);
        w.set_i64("i64", -(1ll << 60));
        w.set_f64("f64", 0.1);
        w.set_bool("bool", true);
        w.set_string("s", std::string("a\0b", 3));
        const std::vector<std::string_view> views{"x", "yz"};
        w.set_array("sv", views);
        const std::vector<std::int16_t> i16s{-1, 7};
        w.set_array("ai16", i16s);
        const bool flags[] = {false, true};
        w.set_array("ab", std::span<const bool>(flags));
        w.set_alignment(128);
        const gguf_file basic = gguf_file::open(fixture_dir / "basic.gguf");
        for (const auto& [k, v] : basic.metadata()) w.set("copied." + k, v);
        const auto plan = w.add_tensor("w", {64, 3}, ggml_type::q8_0);
        CHECK(plan.bytes == 3 * 2 * 34);
        w.add_tensor("v", {5}, ggml_type::f32);
        w.write([](const gguf_tensor_plan& t, std::span<std::byte> out) {
            for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>(i * 7 + t.name.size());
        });
    }
    const gguf_file f = gguf_file::open(p);
    CHECK(f.version() == 3);
    CHECK(f.alignment() == 128);
    CHECK(f.get_uint("u8") == 200);
    CHECK(f.get_int("i8") == -5);
    CHECK(f.get_uint("u16") == 60000);
    CHECK(f.get_int("i16") == -30000);
    CHECK(f.get_uint("u32") == 4000000000u);
    CHECK(f.get_int("i32") == -2000000000);
    CHECK(f.get_float("f32") == static_cast<double>(0.1f));
    CHECK(f.get_uint("u64") == 1ull << 60);
    CHECK(f.get_int("i64") == -(1ll << 60));
    CHECK(f.get_float("f64") == 0.1);
    CHECK(f.get_bool("bool"));
    CHECK(f.get_string("s") == std::string_view("a\0b", 3));
    CHECK(f.get_array("sv").string_at(1) == "yz");
    CHECK(f.get_array("ai16").to_i64_vector() == std::vector<std::int64_t>{-1, 7});
    CHECK(f.get_array("ab").bool_at(1));
    CHECK(f.at("u16").type() == gguf_value_type::u16);
    CHECK(f.get_array("copied.test.array.nested").array_at(0).to_i64_vector() == std::vector<std::int64_t>{1, 2, 3});
    CHECK(f.get_array("copied.test.array.string").string_at(2) == "▁the");
    CHECK(f.get_uint("copied.test.u64") == std::numeric_limits<std::uint64_t>::max());
    REQUIRE(f.tensors().size() == 2);
    CHECK(f.tensors()[1].offset == 256);  // 204 bytes padded to 128
    CHECK(f.tensors()[1].data.size() == 20);
    CHECK(f.tensors()[0].data[3] == static_cast<std::byte>(3 * 7 + 1));
    CHECK(reinterpret_cast<std::uintptr_t>(f.tensors()[1].data.data()) % 128 == 0);  // mapped, so aligned
}

TEST_CASE("gguf writer refuses what the format cannot hold, naming the key or tensor", "[io][gguf][writer]") {
    temp_dir dir;
    gguf_writer w(dir.path / "x.gguf");
    auto expect = [&](auto&& call, dsv2::gguf_error::subject kind, const std::string& name, const std::string& fragment) {
        try {
            call();
            FAIL("no exception; expected: " << fragment);
        } catch (const dsv2::gguf_error& e) {
            INFO(e.what());
            CHECK(e.kind() == kind);
            CHECK(e.key_or_tensor() == name);
            CHECK_THAT(e.what(), Contains((dir.path / "x.gguf").string()) && Contains(fragment));
        }
    };
    using S = dsv2::gguf_error::subject;
    w.set_u32("k", 1);
    expect([&] { w.set_string("k", "again"); }, S::key, "k", "set twice");
    expect([&] { w.set_u8("", 1); }, S::file, "", "empty");
    expect([&] { w.set_u8("bad\xff", 1); }, S::key, "bad\\xff", "not valid UTF-8");
    expect([&] { w.set_alignment(48); }, S::key, "general.alignment", "not a power of two");
    expect([&] { w.set_u32("general.alignment", 0); }, S::key, "general.alignment", "not a power of two");
    expect([&] { w.set_u64("general.alignment", 64); }, S::key, "general.alignment", "must be a u32");
    w.add_tensor("t", {32}, ggml_type::f32);
    expect([&] { w.add_tensor("t", {32}, ggml_type::f16); }, S::tensor, "t", "declared twice");
    expect([&] { w.add_tensor("", {32}, ggml_type::f16); }, S::file, "", "empty name");
    expect([&] { w.add_tensor(std::string(64, 'n'), {32}, ggml_type::f16); }, S::tensor, std::string(64, 'n'),
           "at most 63");
    expect([&] { w.add_tensor("d0", {}, ggml_type::f16); }, S::tensor, "d0", "0 dimensions");
    expect([&] { w.add_tensor("d5", {1, 1, 1, 1, 1}, ggml_type::f16); }, S::tensor, "d5", "5 dimensions");
    expect([&] { w.add_tensor("q", {33, 2}, ggml_type::q8_0); }, S::tensor, "q", "not a whole number of q8_0 blocks");
    expect([&] { w.add_tensor("big", {1ull << 40, 1ull << 40}, ggml_type::f32); }, S::tensor, "big", "int64");
    expect([&] { w.add_tensor("bytes", {1ull << 62}, ggml_type::f32); }, S::tensor, "bytes", "int64");
    CHECK(w.tensors().size() == 1);  // the refused ones left nothing behind
    CHECK_NOTHROW(w.add_tensor(std::string(63, 'n'), {32}, ggml_type::f16));
}

TEST_CASE("gguf writer never leaves a partial or clobbered file", "[io][gguf][writer]") {
    temp_dir dir;
    const fs::path target = dir.path / "out.gguf";
    std::ofstream(target) << "previous contents";
    const auto before = read_all(target);
    auto make = [&] {
        auto w = std::make_unique<gguf_writer>(target);
        w->set_string("general.architecture", "x");
        w->add_tensor("a", {8}, ggml_type::f32);
        w->add_tensor("b", {8}, ggml_type::f32);
        return w;
    };
    SECTION("a producer that throws") {
        CHECK_THROWS_WITH(make()->write([](const gguf_tensor_plan& t, gguf_sink& s) {
            if (t.name == "b") throw std::runtime_error("converter failed");
            std::vector<std::byte> d(32);
            s.write(d);
        }),
                          Contains("converter failed"));
    }
    SECTION("a producer that writes too little") {
        CHECK_THROWS_WITH(make()->write([](const gguf_tensor_plan&, gguf_sink& s) {
            std::vector<std::byte> d(31);
            s.write(d);
        }),
                          Contains("tensor 'a'") && Contains("wrote 31 of the tensor's 32 bytes"));
    }
    SECTION("a producer that writes too much") {
        CHECK_THROWS_WITH(make()->write([](const gguf_tensor_plan&, gguf_sink& s) {
            std::vector<std::byte> d(33);
            s.write(d);
        }),
                          Contains("tensor 'a'") && Contains("more than the tensor's 32 bytes"));
    }
    CHECK(read_all(target) == before);
    CHECK(leftovers(dir.path).empty());

    // a new target that fails is not created at all
    gguf_writer w(dir.path / "new.gguf");
    w.add_tensor("a", {8}, ggml_type::f32);
    CHECK_THROWS(w.write([](const gguf_tensor_plan&, gguf_sink&) { throw std::runtime_error("no"); }));
    CHECK_FALSE(fs::exists(dir.path / "new.gguf"));
    CHECK(leftovers(dir.path).empty());
    CHECK_THROWS_WITH(w.write([](const gguf_tensor_plan&, gguf_sink&) {}), Contains("already written"));
}

TEST_CASE("gguf reader and writer refuse FIFOs, directories and symlinks to them", "[io][gguf]") {
    temp_dir dir;
    const fs::path fifo = dir.path / "model.gguf";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);  // no writer: opening it for reading would block
    const fs::path link = dir.path / "link.gguf";
    fs::create_symlink(fifo, link);
    const fs::path sub = dir.path / "folder.gguf";
    fs::create_directory(sub);

    CHECK_THROWS_WITH(gguf_file::open(fifo), Contains(fifo.string()) && Contains("not a regular file"));
    CHECK_THROWS_WITH(gguf_file::open(link), Contains(link.string()) && Contains("not a regular file"));
    CHECK_THROWS_WITH(gguf_file::open(sub), Contains("is a directory"));
    CHECK_THROWS_WITH(gguf_file::open(dir.path / "absent.gguf"), Contains("absent.gguf") && Contains("no such file"));

    CHECK_THROWS_WITH(gguf_writer(fifo), Contains(fifo.string()) && Contains("not a regular file"));
    CHECK_THROWS_WITH(gguf_writer(link), Contains(link.string()) && Contains("not a regular file"));
    CHECK_THROWS_WITH(gguf_writer(sub), Contains("is a directory"));
    CHECK_THROWS_WITH(gguf_writer(dir.path / "no" / "x.gguf"), Contains("does not exist"));
    CHECK(fs::is_fifo(fifo));
    CHECK(leftovers(dir.path).empty());
}
