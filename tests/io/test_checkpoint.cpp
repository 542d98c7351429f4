// checkpoint: single-file and sharded Hugging Face weight folders, and their strict index checks.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsv2/io/checkpoint.hpp"
#include "dsv2/io/safetensors.hpp"

#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using Catch::Contains;
using dsv2::dtype;
using namespace dsv2::io;

using dsv2_test::temp_dir;

using dsv2_test::bytes_of;

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

/// Small tensors with distinct contents: name i holds floats i*100 + k.
struct fixture {
    std::vector<std::vector<float>> data;
    std::vector<tensor_to_write> tensors;
    explicit fixture(const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& specs) {
        data.reserve(specs.size());
        for (std::size_t i = 0; i < specs.size(); ++i) {
            std::int64_t n = 1;
            for (auto d : specs[i].second) n *= d;
            std::vector<float> v(static_cast<std::size_t>(n));
            for (std::size_t k = 0; k < v.size(); ++k) v[k] = static_cast<float>(i * 100 + k);
            data.push_back(std::move(v));
        }
        for (std::size_t i = 0; i < specs.size(); ++i)
            tensors.push_back({specs[i].first, dtype::f32, specs[i].second, bytes_of(data[i])});
    }
    std::span<const tensor_to_write> one(std::size_t i) const { return {&tensors[i], 1}; }
};

/// Two shards a.safetensors {x, y} and b.safetensors {z} plus model.safetensors.index.json whose
/// weight_map is `weight_map` (a JSON object text).
void two_shards(const fs::path& dir, const fixture& f, const std::string& weight_map) {
    write_safetensors(dir / "a.safetensors", std::span<const tensor_to_write>(f.tensors.data(), 2));
    write_safetensors(dir / "b.safetensors", f.one(2));
    write_text(dir / "model.safetensors.index.json",
               R"({"metadata":{"total_size":0},"weight_map":)" + weight_map + "}");
}

}  // namespace

TEST_CASE("sharded write: shard sizes, names, index, and checkpoint open", "[io][checkpoint]") {
    temp_dir dir;
    // 16, 16, 400 (larger than a shard: alone), 8, 8, 8 bytes with 40-byte shards
    fixture f({{"model.a", {4}},
               {"model.b", {2, 2}},
               {"model.big", {10, 10}},
               {"model.c", {2}},
               {"model.d", {2}},
               {"model.e", {1, 2}}});
    const std::map<std::string, std::string> meta{{"format", "pt"}};
    const auto paths = write_sharded_safetensors(dir.path, f.tensors, 40, meta);
    REQUIRE(paths.size() == 3);
    CHECK(paths[0] == dir.path / "model-00001-of-00003.safetensors");
    CHECK(paths[1] == dir.path / "model-00002-of-00003.safetensors");
    CHECK(paths[2] == dir.path / "model-00003-of-00003.safetensors");
    CHECK(safetensors_file::open(paths[0]).entries().size() == 2);  // a, b
    CHECK(safetensors_file::open(paths[1]).entries().size() == 1);  // big, alone
    CHECK(safetensors_file::open(paths[2]).entries().size() == 3);  // c, d, e
    CHECK(safetensors_file::open(paths[2]).metadata() == meta);

    std::ifstream in(dir.path / "model.safetensors.index.json");
    const auto index = nlohmann::json::parse(in);
    CHECK(index["metadata"]["total_size"] == 16 + 16 + 400 + 8 + 8 + 8);
    CHECK(index["weight_map"].size() == 6);
    CHECK(index["weight_map"]["model.big"] == "model-00002-of-00003.safetensors");
    CHECK(index["weight_map"]["model.e"] == "model-00003-of-00003.safetensors");

    const auto ck = checkpoint::open(dir.path);
    CHECK(ck.files() == paths);
    CHECK(ck.tensor_count() == 6);
    CHECK(ck.names() ==
          std::vector<std::string>{"model.a", "model.b", "model.big", "model.c", "model.d", "model.e"});
    CHECK(ck.contains("model.big"));
    CHECK_FALSE(ck.contains("model.zzz"));
    for (std::size_t i = 0; i < f.tensors.size(); ++i) {
        INFO(f.tensors[i].name);
        const auto v = ck.get(f.tensors[i].name, f.tensors[i].shape);
        CHECK(to_float(v) == f.data[i]);
        CHECK(v.shape == f.tensors[i].shape);
    }
    CHECK(ck.bytes_by_dtype() == std::map<dtype, std::uint64_t>{{dtype::f32, 456}});
    CHECK(ck.elements_by_dtype() == std::map<dtype, std::uint64_t>{{dtype::f32, 114}});

    // the index file itself is accepted as the path
    const auto via_index = checkpoint::open(dir.path / "model.safetensors.index.json");
    CHECK(via_index.tensor_count() == 6);
}

TEST_CASE("sharded write with another prefix is found by the folder scan", "[io][checkpoint]") {
    temp_dir dir;
    fixture f({{"x", {2}}, {"y", {3}}});
    const auto paths = write_sharded_safetensors(dir.path, f.tensors, 1 << 20, {}, "pytorch_weights");
    REQUIRE(paths.size() == 1);
    CHECK(paths[0].filename() == "pytorch_weights-00001-of-00001.safetensors");
    CHECK(fs::exists(dir.path / "pytorch_weights.safetensors.index.json"));
    const auto ck = checkpoint::open(dir.path);
    CHECK(ck.names() == std::vector<std::string>{"x", "y"});
    REQUIRE_THROWS_AS(write_sharded_safetensors(dir.path, f.tensors, 10, {}, "a/b"), dsv2::io_error);
}

TEST_CASE("sharded write rejects repeated names before writing anything", "[io][checkpoint]") {
    temp_dir dir;
    fixture f({{"x", {2}}, {"x", {3}}});
    REQUIRE_THROWS_AS(write_sharded_safetensors(dir.path / "out", f.tensors, 4), dsv2::safetensors_error);
    REQUIRE_THROWS_WITH(write_sharded_safetensors(dir.path / "out", f.tensors, 4),
                        Contains("tensor 'x'") && Contains("appears twice"));
    CHECK_FALSE(fs::exists(dir.path / "out"));
}

TEST_CASE("single-file checkpoints: model.safetensors, or a path to the file", "[io][checkpoint]") {
    temp_dir dir;
    fixture f({{"emb", {3, 2}}, {"norm", {2}}});
    write_safetensors(dir.path / "model.safetensors", f.tensors);
    const auto ck = checkpoint::open(dir.path);
    CHECK(ck.files() == std::vector<fs::path>{dir.path / "model.safetensors"});
    CHECK(ck.names() == std::vector<std::string>{"emb", "norm"});
    CHECK(to_float(ck.get("norm")) == f.data[1]);

    const auto direct = checkpoint::open(dir.path / "model.safetensors");
    CHECK(direct.tensor_count() == 2);

    temp_dir other;
    write_safetensors(other.path / "weights.safetensors", f.tensors);
    CHECK(checkpoint::open(other.path).tensor_count() == 2);  // the only .safetensors in the folder
}

TEST_CASE("get: a missing tensor or a wrong shape names the tensor, the shapes and the place",
          "[io][checkpoint]") {
    temp_dir dir;
    std::vector<float> w(64 * 33);
    const std::vector<tensor_to_write> t{
        {"model.layers.0.self_attn.o_proj.weight", dtype::f32, {64, 33}, bytes_of(w)}};
    write_safetensors(dir.path / "model.safetensors", t);
    const auto ck = checkpoint::open(dir.path);

    const std::vector<std::int64_t> expected{64, 32};
    REQUIRE_THROWS_AS(ck.get("model.layers.0.self_attn.o_proj.weight", expected), dsv2::checkpoint_error);
    REQUIRE_THROWS_WITH(ck.get("model.layers.0.self_attn.o_proj.weight", expected),
                        Contains("tensor 'model.layers.0.self_attn.o_proj.weight'") &&
                            Contains("[64, 32] expected, file has [64, 33]") &&
                            Contains("model.safetensors"));
    const std::vector<std::int64_t> rank{64, 33, 1};
    REQUIRE_THROWS_WITH(ck.get("model.layers.0.self_attn.o_proj.weight", rank),
                        Contains("[64, 33, 1] expected, file has [64, 33]"));
    const std::vector<std::int64_t> right{64, 33};
    CHECK(ck.get("model.layers.0.self_attn.o_proj.weight", right).numel() == 64 * 33);

    REQUIRE_THROWS_AS(ck.get("lm_head.weight"), dsv2::checkpoint_error);
    REQUIRE_THROWS_WITH(ck.get("lm_head.weight"),
                        Contains("tensor 'lm_head.weight' not found") && Contains(dir.path.string()));
}

TEST_CASE("a folder without safetensors weights is a checkpoint_error", "[io][checkpoint][validate]") {
    temp_dir dir;
    REQUIRE_THROWS_AS(checkpoint::open(dir.path), dsv2::checkpoint_error);
    REQUIRE_THROWS_WITH(checkpoint::open(dir.path),
                        Contains(dir.path.string()) && Contains("no safetensors weights"));

    write_text(dir.path / "pytorch_model.bin", "not really");
    write_text(dir.path / "config.json", "{}");
    REQUIRE_THROWS_WITH(checkpoint::open(dir.path),
                        Contains("found only pytorch_model.bin") && Contains("convert"));

    REQUIRE_THROWS_AS(checkpoint::open(dir.path / "nope"), dsv2::checkpoint_error);
    REQUIRE_THROWS_WITH(checkpoint::open(dir.path / "nope"),
                        Contains("nope") && Contains("no such file or directory"));

    fixture f({{"x", {2}}});
    write_safetensors(dir.path / "one.safetensors", f.tensors);
    write_safetensors(dir.path / "two.safetensors", f.tensors);
    REQUIRE_THROWS_WITH(checkpoint::open(dir.path), Contains("several .safetensors files") &&
                                                        Contains("one.safetensors, two.safetensors"));
}

TEST_CASE("a malformed index is a checkpoint_error naming the index", "[io][checkpoint][validate]") {
    temp_dir dir;
    fixture f({{"x", {2}}, {"y", {2}}, {"z", {2}}});
    const fs::path index = dir.path / "model.safetensors.index.json";
    write_safetensors(dir.path / "a.safetensors", f.tensors);

    auto rejects = [&](const std::string& text, const std::string& fragment) {
        write_text(index, text);
        INFO("index: " << text);
        REQUIRE_THROWS_AS(checkpoint::open(dir.path), dsv2::checkpoint_error);
        REQUIRE_THROWS_WITH(checkpoint::open(dir.path), Contains(index.string()) && Contains(fragment));
    };
    rejects(R"({"weight_map": {"x": "a.safetensors",)", "not valid JSON");
    rejects(R"([1, 2])", "index is not a JSON object (it is array)");
    rejects(std::string("{\"weight_map\": {}}\0x", 20), "NUL byte at offset 18");
    rejects(R"({"metadata": {"total_size": 24}})", "index lacks 'weight_map'");
    rejects(R"({"weight_map": ["a.safetensors"]})", "'weight_map' must be an object, got array");
    rejects(R"({"metadata": 3, "weight_map": {}})", "'metadata' must be an object");
    rejects(R"({"weight_map": {"x": 1}})", "tensor 'x' maps to number 1, not a file name");
    rejects(R"({"weight_map": {"x": "../a.safetensors"}})", "not a plain file name");
    rejects(R"({"weight_map": {"x": ""}})", "not a plain file name");
    rejects(
        R"({"weight_map": {"x": "a.safetensors", "y": "a.safetensors", "z": "a.safetensors", "x": "a.safetensors"}})",
        "duplicate key 'x'");
}

TEST_CASE("a shard named in the index that is missing names the shard and a tensor",
          "[io][checkpoint][validate]") {
    temp_dir dir;
    fixture f({{"x", {2}}, {"y", {2}}, {"z", {2}}});
    write_safetensors(dir.path / "a.safetensors", std::span<const tensor_to_write>(f.tensors.data(), 2));
    write_text(
        dir.path / "model.safetensors.index.json",
        R"({"weight_map": {"x": "a.safetensors", "y": "a.safetensors", "z": "model-00002-of-00002.safetensors"}})");
    REQUIRE_THROWS_AS(checkpoint::open(dir.path), dsv2::checkpoint_error);
    REQUIRE_THROWS_WITH(checkpoint::open(dir.path),
                        Contains((dir.path / "model-00002-of-00002.safetensors").string()) &&
                            Contains("shard missing") && Contains("tensor 'z'") &&
                            Contains("model.safetensors.index.json"));
}

TEST_CASE("index and shards must agree on where each tensor lives", "[io][checkpoint][validate]") {
    fixture f({{"x", {2}}, {"y", {2}}, {"z", {2}}});

    SECTION("listed for one shard, found in another") {
        temp_dir dir;
        two_shards(dir.path, f, R"({"x": "a.safetensors", "y": "b.safetensors", "z": "b.safetensors"})");
        REQUIRE_THROWS_AS(checkpoint::open(dir.path), dsv2::checkpoint_error);
        REQUIRE_THROWS_WITH(
            checkpoint::open(dir.path),
            Contains("model.safetensors.index.json") &&
                Contains("tensor 'y' is listed for shard b.safetensors but found in shard a.safetensors"));
    }
    SECTION("present in two shards") {
        temp_dir dir;
        write_safetensors(dir.path / "a.safetensors", std::span<const tensor_to_write>(f.tensors.data(), 2));
        write_safetensors(dir.path / "b.safetensors",
                          std::span<const tensor_to_write>(f.tensors.data() + 1, 2));
        write_text(dir.path / "model.safetensors.index.json",
                   R"({"weight_map": {"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"}})");
        REQUIRE_THROWS_AS(checkpoint::open(dir.path), dsv2::checkpoint_error);
        REQUIRE_THROWS_WITH(checkpoint::open(dir.path),
                            Contains("tensor 'y' is present in two shards: a.safetensors and b.safetensors"));
    }
    SECTION("listed in the index, absent from its shard") {
        temp_dir dir;
        two_shards(
            dir.path, f,
            R"({"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors", "w": "b.safetensors"})");
        REQUIRE_THROWS_AS(checkpoint::open(dir.path), dsv2::checkpoint_error);
        REQUIRE_THROWS_WITH(checkpoint::open(dir.path),
                            Contains("tensor 'w' is listed for shard b.safetensors but is absent from it"));
    }
    SECTION("in a shard, not in the index") {
        temp_dir dir;
        two_shards(dir.path, f, R"({"x": "a.safetensors", "z": "b.safetensors"})");
        REQUIRE_THROWS_AS(checkpoint::open(dir.path), dsv2::checkpoint_error);
        REQUIRE_THROWS_WITH(
            checkpoint::open(dir.path),
            Contains("tensor 'y' of shard a.safetensors is not listed in the index's weight_map"));
    }
    SECTION("consistent: accepted") {
        temp_dir dir;
        two_shards(dir.path, f, R"({"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"})");
        const auto ck = checkpoint::open(dir.path);
        CHECK(ck.files() == std::vector<fs::path>{dir.path / "a.safetensors", dir.path / "b.safetensors"});
        CHECK(to_float(ck.get("z")) == f.data[2]);
    }
}

TEST_CASE("a corrupt shard reports the safetensors_error of that shard", "[io][checkpoint][validate]") {
    temp_dir dir;
    fixture f({{"x", {2}}, {"y", {2}}, {"z", {2}}});
    two_shards(dir.path, f, R"({"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"})");
    write_text(dir.path / "b.safetensors", "garbage");
    REQUIRE_THROWS_AS(checkpoint::open(dir.path), dsv2::safetensors_error);
    REQUIRE_THROWS_WITH(checkpoint::open(dir.path), Contains((dir.path / "b.safetensors").string()) &&
                                                        Contains("shorter than the 8-byte"));
}

TEST_CASE("symlinked weights (the Hugging Face cache's layout) are followed", "[io][checkpoint]") {
    temp_dir dir;
    fixture f({{"x", {2}}, {"y", {3}}});
    fs::create_directories(dir.path / "blobs");
    fs::create_directories(dir.path / "snapshot");
    fs::create_directories(dir.path / "scan");
    write_safetensors(dir.path / "blobs" / "0123abcd", f.tensors);
    fs::create_symlink("../blobs/0123abcd", dir.path / "snapshot" / "model.safetensors");
    fs::create_symlink("../blobs/0123abcd", dir.path / "scan" / "weights.safetensors");
    const auto ck = checkpoint::open(dir.path / "snapshot");
    CHECK(ck.names() == std::vector<std::string>{"x", "y"});
    CHECK(to_float(ck.get("y")) == f.data[1]);
    CHECK(checkpoint::open(dir.path / "scan").tensor_count() == 2);
}
