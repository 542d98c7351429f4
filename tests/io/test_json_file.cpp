// read_json_file: the shared reader of config.json, generation_config.json, tokenizer.json and
// tokenizer_config.json refuses what is not a regular file before reading (a FIFO would block),
// bounds the size, and names the file in every error.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>

#include <dsv2/io/config_json.hpp>
#include <dsv2/io/json_file.hpp>

#include "support/temp_dir.hpp"

using Catch::Matchers::Contains;

TEST_CASE("read_json_file refuses FIFOs, directories, oversize and malformed files, naming them", "[io][json]") {
    dsv2_test::temp_dir dir;
    const auto fifo = dir.path / "config.json";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);  // no writer: reading it would block forever
    CHECK_THROWS_WITH(dsv2::io::read_json_file(fifo, "a config.json file"),
                      Contains(fifo.string()) && Contains("not a regular file"));
    CHECK_THROWS_AS(dsv2::load_config(dir.path), dsv2::io_error);  // through the config loader too

    CHECK_THROWS_WITH(dsv2::io::read_json_file(dir.path, "a config.json file"), Contains("is a directory"));
    CHECK_THROWS_WITH(dsv2::io::read_json_file(dir.path / "absent.json", "x"), Contains("absent.json") && Contains("no such file"));

    const auto big = dir.path / "big.json";
    std::ofstream(big) << "[" << std::string(100, ' ') << "]";
    CHECK_THROWS_WITH(dsv2::io::read_json_file(big, "x", 64), Contains("big.json") && Contains("more than the 64"));
    CHECK(dsv2::io::read_json_file(big, "x", 1024).is_array());

    const auto bad = dir.path / "bad.json";
    std::ofstream(bad) << "{\"a\": 1,\n}";
    CHECK_THROWS_WITH(dsv2::io::read_json_file(bad, "x"), Contains("bad.json") && Contains("invalid JSON") && Contains("line 2"));
}
