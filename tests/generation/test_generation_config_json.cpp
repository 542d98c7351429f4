// generation_config.json: real hub files read into generation_config defaults, explicit values win,
// a missing file is absent, malformed and mistyped files are io_errors naming the file and the key.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <dsv2/io/generation_config_json.hpp>

namespace {

namespace fs = std::filesystem;

/// A fresh directory holding generation_config.json with `text`.
fs::path write_config(const std::string& name, const std::string& text) {
    const fs::path dir = fs::temp_directory_path() / ("dsv2_genconfig_" + name);
    fs::create_directories(dir);
    std::ofstream(dir / "generation_config.json", std::ios::binary | std::ios::trunc) << text;
    return dir;
}

dsv2::generation_config_file load(const std::string& name, const std::string& text) {
    const auto f = dsv2::load_generation_config(write_config(name, text));
    REQUIRE(f.has_value());
    return *f;
}

}  // namespace

TEST_CASE("DeepSeek-V2-Lite-Chat's generation_config.json", "[generation_config]") {
    // as published on the hub (deepseek-ai/DeepSeek-V2-Lite-Chat)
    const auto f = load("lite_chat", R"({"_from_model_config": true, "bos_token_id": 100000, "eos_token_id": 100001,
        "do_sample": true, "temperature": 0.3, "top_p": 0.95, "transformers_version": "4.39.3"})");
    dsv2::generation_config gc;
    f.apply_to(gc, 10);
    CHECK(gc.bos_token_id == 100000);
    CHECK(gc.eos_token_id == std::vector<std::int64_t>{100001});
    CHECK(gc.do_sample);
    CHECK(gc.temperature == 0.3f);
    CHECK(gc.top_p == 0.95f);
    // what the file does not set keeps dsv2's defaults
    CHECK(gc.max_new_tokens == 20);
    CHECK(gc.top_k == 0);
    CHECK_FALSE(gc.pad_token_id.has_value());
    CHECK_FALSE(f.max_length.has_value());
}

TEST_CASE("list eos ids, top_k, repetition_penalty, max_length (Llama-3 and Qwen2 style files)", "[generation_config]") {
    // Meta-Llama-3-8B-Instruct: a list of eos ids and max_length
    const auto llama = load("llama3", R"({"bos_token_id": 128000, "eos_token_id": [128001, 128009], "do_sample": true,
        "temperature": 0.6, "max_length": 4096, "top_p": 0.9, "transformers_version": "4.40.0.dev0"})");
    dsv2::generation_config gc;
    llama.apply_to(gc, 96);
    CHECK(gc.eos_token_id == std::vector<std::int64_t>{128001, 128009});
    CHECK(gc.max_new_tokens == 4096 - 96);  // max_length counts the prompt
    CHECK_THROWS_WITH(llama.apply_to(gc, 4096), Catch::Contains("generation_config.json") && Catch::Contains("max_length"));
    // Qwen2-7B-Instruct: pad, top_k, repetition_penalty
    const auto qwen = load("qwen2", R"({"bos_token_id": 151643, "pad_token_id": 151643, "do_sample": true,
        "eos_token_id": [151645, 151643], "repetition_penalty": 1.05, "temperature": 0.7, "top_p": 0.8, "top_k": 20,
        "transformers_version": "4.37.0"})");
    gc = {};
    qwen.apply_to(gc, 5);
    CHECK(gc.pad_token_id == 151643);
    CHECK(gc.top_k == 20);
    CHECK(gc.repetition_penalty == 1.05f);
    CHECK(gc.eos_token_id == std::vector<std::int64_t>{151645, 151643});
    // max_new_tokens wins over max_length; min_new_tokens, min_p; integers accepted for floats; null is absent
    const auto both = load("both", R"({"max_length": 50, "max_new_tokens": 7, "min_new_tokens": 2, "min_p": 0.05,
        "temperature": 1, "pad_token_id": null, "num_beams": 1, "eos_token_id": null})");
    gc = {};
    both.apply_to(gc, 30);
    CHECK(gc.max_new_tokens == 7);
    CHECK(gc.min_new_tokens == 2);
    CHECK(gc.min_p == 0.05f);
    CHECK(gc.temperature == 1.0f);
    CHECK_FALSE(gc.pad_token_id.has_value());
    CHECK_FALSE(gc.eos_token_id.has_value());
}

TEST_CASE("explicit values win over the file", "[generation_config]") {
    const auto f = load("override", R"({"do_sample": true, "temperature": 0.3, "top_p": 0.95, "max_new_tokens": 100})");
    dsv2::generation_config gc;
    f.apply_to(gc, 4);
    gc.do_sample = false;      // e.g. --greedy
    gc.max_new_tokens = 8;     // e.g. --max-new-tokens 8
    CHECK(gc.greedy());
    CHECK(gc.max_new_tokens == 8);
    CHECK(gc.top_p == 0.95f);  // kept from the file (unused when greedy)
}

TEST_CASE("a missing generation_config.json is absent", "[generation_config]") {
    const fs::path dir = fs::temp_directory_path() / "dsv2_genconfig_missing";
    fs::create_directories(dir);
    fs::remove(dir / "generation_config.json");
    CHECK_FALSE(dsv2::load_generation_config(dir).has_value());
    CHECK_FALSE(dsv2::load_generation_config(dir / "generation_config.json").has_value());
}

TEST_CASE("malformed generation_config.json files are io_errors naming the file and the key", "[generation_config]") {
    auto bad = [](const std::string& name, const std::string& text, const std::string& key) {
        INFO(text);
        const fs::path dir = write_config(name, text);
        CHECK_THROWS_AS(dsv2::load_generation_config(dir), dsv2::io_error);
        CHECK_THROWS_WITH(dsv2::load_generation_config(dir),
                          Catch::Contains((dir / "generation_config.json").string()) && Catch::Contains(key));
    };
    bad("temperature_string", R"({"temperature": "0.3"})", "temperature: expected a number, found a string");
    bad("do_sample_int", R"({"do_sample": 1})", "do_sample: expected a boolean");
    bad("eos_string", R"({"eos_token_id": "2"})", "eos_token_id: expected an integer or a list of integers");
    bad("eos_list_float", R"({"eos_token_id": [1, 2.5]})", "eos_token_id[1]");
    bad("top_k_float", R"({"top_k": 50.0})", "top_k: expected an integer");
    bad("max_new_tokens_zero", R"({"max_new_tokens": 0})", "max_new_tokens");
    bad("max_length_negative", R"({"max_length": -1})", "max_length");
    bad("top_p_range", R"({"top_p": 1.5})", "top_p");
    bad("temperature_negative", R"({"temperature": -1})", "temperature");
    bad("min_new_tokens_negative", R"({"min_new_tokens": -2})", "min_new_tokens");
    bad("not_object", R"([1, 2])", "a JSON object");
    bad("invalid_json", "{\"temperature\": 0.3,\n}", "invalid JSON");
}
