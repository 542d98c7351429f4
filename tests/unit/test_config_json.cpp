// config.json: both rotary spellings, nulls, unknown keys, type errors, labels, round trips, files.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <dsv2/io/config_json.hpp>
#include <dsv2/models/presets.hpp>

namespace {

using dsv2::config_spelling;
using dsv2::DeepseekV2Config;
using json = nlohmann::json;

const std::filesystem::path source_dir{DSV2_SOURCE_DIR};

json read_json_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    REQUIRE(in.good());
    return json::parse(in);
}

/// The field named by the config_error config_from_json throws; "" when it does not throw.
std::string json_error_field(const json& j) {
    try {
        (void)dsv2::config_from_json(j);
    } catch (const dsv2::config_error& e) {
        return e.field();
    }
    return "";
}

/// A fresh, empty temporary directory for one test.
std::filesystem::path temp_dir(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("dsv2_test_config_" + name + "_" + std::to_string(std::random_device{}()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

/// A config with random values in every field (not necessarily valid: round trips must not care).
DeepseekV2Config random_config(std::mt19937_64& rng) {
    auto integer = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };
    auto real = [&] {
        switch (integer(0, 4)) {
            case 0: return 0.0;
            case 1: return std::uniform_real_distribution<double>(-1e6, 1e6)(rng);
            case 2: return std::ldexp(std::uniform_real_distribution<double>(0.5, 1.0)(rng), static_cast<int>(integer(-1000, 1000)));
            case 3: return 0.707;
            default: return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
        }
    };
    auto coin = [&] { return integer(0, 1) == 1; };
    auto text = [&] {
        static const char* const words[] = {"silu", "gelu", "yarn", "default", "bfloat16", "x", "", "é ü", "a\"b\\c\n"};
        return std::string(words[integer(0, 8)]);
    };
    auto maybe_int = [&]() -> std::optional<std::int64_t> {
        if (coin()) return std::nullopt;
        return integer(-5, 1'000'000'000'000);
    };
    auto maybe_real = [&]() -> std::optional<double> {
        if (coin()) return std::nullopt;
        return real();
    };

    DeepseekV2Config c;
    c.vocab_size = integer(-10, 1 << 30);
    c.hidden_size = integer(1, 100000);
    c.intermediate_size = integer(0, 100000);
    c.num_hidden_layers = integer(0, 200);
    c.num_attention_heads = integer(1, 256);
    c.num_key_value_heads = maybe_int();
    c.hidden_act = text();
    c.max_position_embeddings = integer(1, std::int64_t{1} << 40);
    c.initializer_range = real();
    c.rms_norm_eps = real();
    c.use_cache = coin();
    c.pad_token_id = maybe_int();
    c.bos_token_id = maybe_int();
    c.eos_token_id.clear();
    for (std::int64_t i = integer(0, 3); i > 0; --i) c.eos_token_id.push_back(integer(-1, 200000));
    c.tie_word_embeddings = coin();
    c.rope_parameters.rope_type = coin() ? "yarn" : (coin() ? "default" : "linear");
    c.rope_parameters.rope_theta = real();
    c.rope_parameters.factor = maybe_real();
    c.rope_parameters.original_max_position_embeddings = maybe_int();
    c.rope_parameters.beta_fast = maybe_real();
    c.rope_parameters.beta_slow = maybe_real();
    c.rope_parameters.mscale = maybe_real();
    c.rope_parameters.mscale_all_dim = maybe_real();
    c.rope_parameters.attention_factor = maybe_real();
    if (coin()) c.rope_parameters.truncate = coin();
    c.attention_bias = coin();
    c.attention_dropout = real();
    c.mlp_bias = coin();
    c.first_k_dense_replace = integer(-2, 10);
    c.kv_lora_rank = integer(0, 4096);
    c.q_lora_rank = maybe_int();
    c.n_group = maybe_int();
    c.n_routed_experts = coin() ? 0 : integer(1, 512);
    c.n_shared_experts = maybe_int();
    c.qk_nope_head_dim = integer(0, 512);
    c.qk_rope_head_dim = integer(0, 512);
    c.routed_scaling_factor = real();
    c.topk_group = maybe_int();
    c.topk_method = coin() ? "greedy" : "group_limited_greedy";
    c.norm_topk_prob = coin();
    c.v_head_dim = integer(0, 512);
    c.num_experts_per_tok = maybe_int();
    c.moe_intermediate_size = integer(0, 100000);
    c.scoring_func = coin() ? "softmax" : text();
    c.moe_layer_freq = integer(0, 4);
    c.aux_loss_alpha = real();
    c.seq_aux = coin();
    c.ep_size = integer(1, 8);
    c.pretraining_tp = integer(1, 8);
    if (coin()) c.torch_dtype = text();
    if (coin()) {
        c.num_labels = integer(1, 100);
    } else {
        const std::int64_t n = integer(1, 5);
        for (std::int64_t i = 0; i < n; ++i) c.id2label[i] = "label " + std::to_string(i) + text();
        c.num_labels = n;
    }
    if (coin()) c.problem_type = coin() ? "regression" : text();
    return c;
}

void check_round_trip(const DeepseekV2Config& c) {
    for (const auto spelling : {config_spelling::transformers_v5, config_spelling::hub}) {
        const json j = dsv2::to_json(c, spelling);
        CHECK(dsv2::config_from_json(j) == c);
        // and through the text, as a file holds it
        const json reparsed = json::parse(j.dump(2));
        CHECK(dsv2::config_from_json(reparsed) == c);
    }
}

const json v5_lite_text = json::parse(R"({
  "architectures": ["DeepseekV2ForCausalLM"],
  "model_type": "deepseek_v2",
  "vocab_size": 102400, "hidden_size": 2048, "intermediate_size": 10944, "num_hidden_layers": 27,
  "num_attention_heads": 16, "num_key_value_heads": 16, "hidden_act": "silu",
  "max_position_embeddings": 163840, "initializer_range": 0.02, "rms_norm_eps": 1e-06, "use_cache": true,
  "pad_token_id": null, "bos_token_id": 100000, "eos_token_id": 100001, "tie_word_embeddings": false,
  "rope_parameters": {"rope_type": "yarn", "type": "yarn", "rope_theta": 10000.0, "factor": 40.0,
                      "original_max_position_embeddings": 4096, "beta_fast": 32.0, "beta_slow": 1.0,
                      "mscale": 0.707, "mscale_all_dim": 0.707},
  "attention_bias": false, "attention_dropout": 0.0, "mlp_bias": false, "first_k_dense_replace": 1,
  "kv_lora_rank": 512, "q_lora_rank": null, "n_group": 1, "n_routed_experts": 64, "n_shared_experts": 2,
  "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "head_dim": 64, "routed_scaling_factor": 1.0,
  "topk_group": 1, "topk_method": "greedy", "norm_topk_prob": false, "v_head_dim": 128,
  "num_experts_per_tok": 6, "moe_intermediate_size": 1408, "scoring_func": "softmax",
  "moe_layer_freq": 1, "aux_loss_alpha": 0.001, "seq_aux": true, "ep_size": 1, "pretraining_tp": 1,
  "dtype": "bfloat16", "transformers_version": "5.0.0",
  "id2label": {"0": "LABEL_0", "1": "LABEL_1"}, "label2id": {"LABEL_0": 0, "LABEL_1": 1}
})");

}  // namespace

TEST_CASE("config_json: the hub files equal the presets", "[config][json]") {
    const auto lite = read_json_file(source_dir / "examples/models/deepseek-v2-lite/config.json");
    const auto v2 = read_json_file(source_dir / "examples/models/deepseek-v2/config.json");
    CHECK(dsv2::config_from_json(lite) == dsv2::presets::deepseek_v2_lite());
    CHECK(dsv2::config_from_json(v2) == dsv2::presets::deepseek_v2());
    // the files are in the original hub spelling
    CHECK(lite.contains("rope_scaling"));
    CHECK(lite["rope_scaling"].contains("type"));
    CHECK_FALSE(lite.contains("rope_parameters"));
    CHECK(lite["q_lora_rank"].is_null());

    CHECK(dsv2::load_config(source_dir / "examples/models/deepseek-v2-lite") == dsv2::presets::deepseek_v2_lite());
    CHECK(dsv2::load_config(source_dir / "examples/models/deepseek-v2/config.json") == dsv2::presets::deepseek_v2());
}

TEST_CASE("config_json: the transformers v5 spelling", "[config][json]") {
    DeepseekV2Config expected = dsv2::presets::deepseek_v2_lite();
    expected.id2label = {{0, "LABEL_0"}, {1, "LABEL_1"}};
    CHECK(dsv2::config_from_json(v5_lite_text) == expected);

    SECTION("written by to_json") {
        const json j = dsv2::to_json(dsv2::presets::deepseek_v2_lite());
        CHECK(j["model_type"] == "deepseek_v2");
        CHECK(j["rope_parameters"]["rope_type"] == "yarn");
        CHECK(j["rope_parameters"]["rope_theta"] == 10000.0);
        CHECK(j["rope_parameters"]["factor"] == 40.0);
        CHECK_FALSE(j.contains("rope_scaling"));
        CHECK_FALSE(j.contains("rope_theta"));
        CHECK(j["dtype"] == "bfloat16");
        CHECK_FALSE(j.contains("torch_dtype"));
        CHECK(j["q_lora_rank"].is_null());
        CHECK(j["eos_token_id"] == 100001);
        CHECK_FALSE(j.contains("architectures"));
        CHECK_FALSE(j.contains("id2label"));
    }
    SECTION("written in the hub spelling") {
        const json j = dsv2::to_json(dsv2::presets::deepseek_v2(), config_spelling::hub);
        CHECK(j["rope_theta"] == 10000.0);
        CHECK(j["rope_scaling"]["type"] == "yarn");
        CHECK_FALSE(j["rope_scaling"].contains("rope_type"));
        CHECK_FALSE(j.contains("rope_parameters"));
        CHECK(j["torch_dtype"] == "bfloat16");
        CHECK(j["q_lora_rank"] == 1536);
        // every key of the real hub file, except the informational ones, is written with its value
        json hub = read_json_file(source_dir / "examples/models/deepseek-v2/config.json");
        for (const char* informational : {"architectures", "auto_map", "transformers_version"}) hub.erase(informational);
        for (const auto& [key, value] : hub.items()) {
            INFO(key);
            REQUIRE(j.contains(key));
            CHECK(j[key] == value);
        }
        // plain default rope is a null rope_scaling
        DeepseekV2Config plain = dsv2::presets::deepseek_v2();
        plain.rope_parameters = {.rope_theta = 50000.0};
        const json p = dsv2::to_json(plain, config_spelling::hub);
        CHECK(p["rope_scaling"].is_null());
        CHECK(p["rope_theta"] == 50000.0);
    }
}

TEST_CASE("config_json: rope dictionaries", "[config][json]") {
    SECTION("rope_theta at the top level with rope_parameters lacking it") {
        const json j = {{"rope_theta", 5e5}, {"rope_parameters", {{"rope_type", "default"}}}};
        CHECK(dsv2::config_from_json(j).rope_parameters == dsv2::RopeParameters{.rope_theta = 5e5});
    }
    SECTION("no rope keys: default rope, theta 10000") {
        CHECK(dsv2::config_from_json(json::object()).rope_parameters == dsv2::RopeParameters{});
    }
    SECTION("rope_scaling null with rope_theta") {
        const json j = {{"rope_theta", 1e6}, {"rope_scaling", nullptr}, {"rope_parameters", nullptr}};
        CHECK(dsv2::config_from_json(j).rope_parameters == dsv2::RopeParameters{.rope_theta = 1e6});
    }
    SECTION("rope_type inside rope_scaling, and every yarn key") {
        const json j = {{"rope_scaling",
                         {{"rope_type", "yarn"}, {"factor", 8}, {"original_max_position_embeddings", 2048},
                          {"beta_fast", 16}, {"beta_slow", 2}, {"mscale", 1}, {"mscale_all_dim", 0.5},
                          {"attention_factor", 1.25}, {"truncate", false}, {"low_freq_factor", 3}}}};
        const dsv2::RopeParameters expected{.rope_type = "yarn", .factor = 8.0, .original_max_position_embeddings = 2048,
                                            .beta_fast = 16.0, .beta_slow = 2.0, .mscale = 1.0, .mscale_all_dim = 0.5,
                                            .attention_factor = 1.25, .truncate = false};
        CHECK(dsv2::config_from_json(j).rope_parameters == expected);
    }
    SECTION("both spellings, agreeing") {
        json j = dsv2::to_json(dsv2::presets::deepseek_v2_lite(), config_spelling::hub);
        j["rope_parameters"] = dsv2::to_json(dsv2::presets::deepseek_v2_lite())["rope_parameters"];
        CHECK(dsv2::config_from_json(j) == dsv2::presets::deepseek_v2_lite());
    }
    SECTION("disagreements are errors") {
        CHECK(json_error_field({{"rope_scaling", {{"type", "yarn"}, {"rope_type", "default"}}}}) == "rope_scaling.rope_type");
        CHECK(json_error_field({{"rope_parameters", {{"factor", 2.0}}}}) == "rope_parameters.rope_type");
        CHECK(json_error_field({{"rope_theta", 1.0}, {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 2.0}}}}) ==
              "rope_theta");
        CHECK(json_error_field({{"rope_parameters", {{"rope_type", "yarn"}, {"factor", 4}}},
                                {"rope_scaling", {{"type", "yarn"}, {"factor", 8}}}}) == "rope_scaling");
    }
}

TEST_CASE("config_json: nulls", "[config][json]") {
    const json j = {{"q_lora_rank", nullptr},      {"n_group", nullptr},          {"topk_group", nullptr},
                    {"rope_scaling", nullptr},     {"rope_parameters", nullptr},  {"num_key_value_heads", nullptr},
                    {"pad_token_id", nullptr},     {"bos_token_id", nullptr},     {"eos_token_id", nullptr},
                    {"num_experts_per_tok", nullptr}, {"n_shared_experts", nullptr}, {"torch_dtype", nullptr},
                    {"dtype", nullptr},            {"problem_type", nullptr},     {"n_routed_experts", nullptr},
                    {"id2label", nullptr},         {"label2id", nullptr}};
    const DeepseekV2Config c = dsv2::config_from_json(j);
    CHECK_FALSE(c.q_lora_rank);
    CHECK_FALSE(c.n_group);
    CHECK_FALSE(c.topk_group);
    CHECK(c.rope_parameters == dsv2::RopeParameters{});
    CHECK_FALSE(c.num_key_value_heads);
    CHECK_FALSE(c.pad_token_id);
    CHECK_FALSE(c.bos_token_id);
    CHECK(c.eos_token_id.empty());
    CHECK_FALSE(c.num_experts_per_tok);
    CHECK_FALSE(c.n_shared_experts);
    CHECK_FALSE(c.torch_dtype);
    CHECK_FALSE(c.problem_type);
    CHECK(c.n_routed_experts == 0);
    CHECK(c.id2label.empty());
    CHECK(c.num_labels == 2);
    CHECK(c.num_moe_layers() == 0);
    CHECK_NOTHROW(c.validate());  // a dense model
}

TEST_CASE("config_json: absent keys keep transformers' defaults", "[config][json]") {
    CHECK(dsv2::config_from_json(json::object()) == DeepseekV2Config{});
}

TEST_CASE("config_json: unknown keys are ignored", "[config][json]") {
    json j = dsv2::to_json(dsv2::presets::deepseek_v2_lite());
    j["architectures"] = {"DeepseekV2ForCausalLM"};
    j["auto_map"] = {{"AutoConfig", "configuration_deepseek.DeepseekV2Config"}};
    j["transformers_version"] = "4.33.1";
    j["head_dim"] = 64;
    j["quantization_config"] = {{"bits", 4}, {"nested", {1, 2, nullptr}}};
    j["some_future_key"] = nullptr;
    CHECK(dsv2::config_from_json(j) == dsv2::presets::deepseek_v2_lite());
}

TEST_CASE("config_json: eos_token_id as an integer or a list", "[config][json]") {
    CHECK(dsv2::config_from_json({{"eos_token_id", 7}}).eos_token_id == std::vector<std::int64_t>{7});
    CHECK(dsv2::config_from_json({{"eos_token_id", {7, 9, 11}}}).eos_token_id == std::vector<std::int64_t>{7, 9, 11});
    CHECK(dsv2::config_from_json({{"eos_token_id", json::array()}}).eos_token_id.empty());
    DeepseekV2Config several = dsv2::presets::deepseek_v2_lite();
    several.eos_token_id = {100001, 100002};
    CHECK(dsv2::to_json(several)["eos_token_id"] == json({100001, 100002}));
}

TEST_CASE("config_json: type errors name the key and the type found", "[config][json]") {
    struct type_case {
        json input;
        const char* field;
        const char* found;
    };
    const std::vector<type_case> cases = {
        {{{"hidden_size", "2048"}}, "hidden_size", "found a string"},
        {{{"hidden_size", 2048.0}}, "hidden_size", "found a floating-point number"},
        {{{"hidden_size", nullptr}}, "hidden_size", "found null"},
        {{{"vocab_size", {1, 2}}}, "vocab_size", "found an array"},
        {{{"num_hidden_layers", true}}, "num_hidden_layers", "found a boolean"},
        {{{"use_cache", 1}}, "use_cache", "found an integer"},
        {{{"rms_norm_eps", "1e-6"}}, "rms_norm_eps", "found a string"},
        {{{"hidden_act", 3}}, "hidden_act", "found an integer"},
        {{{"q_lora_rank", "none"}}, "q_lora_rank", "found a string"},
        {{{"num_key_value_heads", 16.5}}, "num_key_value_heads", "found a floating-point number"},
        {{{"n_routed_experts", "64"}}, "n_routed_experts", "found a string"},
        {{{"eos_token_id", 1.5}}, "eos_token_id", "found a floating-point number"},
        {{{"eos_token_id", {1, "2"}}}, "eos_token_id[1]", "found a string"},
        {{{"eos_token_id", {{"a", 1}}}}, "eos_token_id", "found an object"},
        {{{"rope_scaling", 40}}, "rope_scaling", "found an integer"},
        {{{"rope_parameters", "yarn"}}, "rope_parameters", "found a string"},
        {{{"rope_scaling", {{"type", "yarn"}, {"factor", "40"}}}}, "rope_scaling.factor", "found a string"},
        {{{"rope_parameters", {{"rope_type", 1}}}}, "rope_parameters.rope_type", "found an integer"},
        {{{"rope_parameters", {{"rope_type", "yarn"}, {"original_max_position_embeddings", 4096.5}}}},
         "rope_parameters.original_max_position_embeddings", "found a floating-point number"},
        {{{"rope_parameters", {{"rope_type", "yarn"}, {"truncate", "no"}}}}, "rope_parameters.truncate", "found a string"},
        {{{"rope_theta", "10000"}}, "rope_theta", "found a string"},
        {{{"torch_dtype", 16}}, "torch_dtype", "found an integer"},
        {{{"dtype", false}}, "dtype", "found a boolean"},
        {{{"id2label", {1, 2}}}, "id2label", "found an array"},
        {{{"id2label", {{"0", 3}}}}, "id2label.0", "found an integer"},
        {{{"id2label", {{"zero", "a"}}}}, "id2label", "not an integer label id"},
        {{{"id2label", {{"1x", "a"}}}}, "id2label", "not an integer label id"},
        {{{"label2id", {{"a", "0"}}}}, "label2id.a", "found a string"},
        {{{"num_labels", 2.0}}, "num_labels", "found a floating-point number"},
        {{{"problem_type", 1}}, "problem_type", "found an integer"},
        {{{"model_type", 2}}, "model_type", "found an integer"},
        {{{"vocab_size", 18446744073709551615ULL}}, "vocab_size", "does not fit in 64 bits"},
        {json::array(), "config", "found an array"},
        {json("text"), "config", "found a string"},
    };
    for (const auto& tc : cases) {
        INFO(tc.input.dump());
        CHECK(json_error_field(tc.input) == tc.field);
        CHECK_THROWS_WITH(dsv2::config_from_json(tc.input), Catch::Contains(tc.field) && Catch::Contains(tc.found));
    }
}

TEST_CASE("config_json: model_type must be deepseek_v2 when present", "[config][json]") {
    CHECK(json_error_field({{"model_type", "deepseek_v3"}}) == "model_type");
    CHECK_NOTHROW(dsv2::config_from_json({{"model_type", "deepseek_v2"}}));
}

TEST_CASE("config_json: classification labels follow transformers", "[config][json]") {
    SECTION("num_labels from id2label") {
        const auto c = dsv2::config_from_json({{"id2label", {{"0", "neg"}, {"1", "neu"}, {"2", "pos"}}}});
        CHECK(c.num_labels == 3);
        CHECK(c.id2label == std::map<std::int64_t, std::string>{{0, "neg"}, {1, "neu"}, {2, "pos"}});
    }
    SECTION("num_labels alone") {
        const auto c = dsv2::config_from_json({{"num_labels", 5}});
        CHECK(c.num_labels == 5);
        CHECK(c.id2label.empty());
    }
    SECTION("num_labels agreeing with id2label") {
        CHECK(dsv2::config_from_json({{"num_labels", 1}, {"id2label", {{"0", "score"}}}}).num_labels == 1);
    }
    SECTION("num_labels disagreeing with id2label") {
        CHECK(json_error_field({{"num_labels", 3}, {"id2label", {{"0", "a"}, {"1", "b"}}}}) == "num_labels");
    }
    SECTION("label2id consistent") {
        const json j = {{"id2label", {{"0", "a"}, {"1", "b"}}}, {"label2id", {{"a", 0}, {"b", 1}}}};
        CHECK(dsv2::config_from_json(j).num_labels == 2);
    }
    SECTION("label2id inconsistent") {
        CHECK(json_error_field({{"id2label", {{"0", "a"}, {"1", "b"}}}, {"label2id", {{"a", 1}, {"b", 0}}}}) == "label2id");
        CHECK(json_error_field({{"id2label", {{"0", "a"}, {"1", "b"}}}, {"label2id", {{"a", 0}}}}) == "label2id");
        CHECK(json_error_field({{"id2label", {{"0", "a"}}}, {"label2id", {{"a", 0}, {"c", 1}}}}) == "label2id");
    }
    SECTION("label2id alone is inverted") {
        const auto c = dsv2::config_from_json({{"label2id", {{"no", 0}, {"yes", 1}}}});
        CHECK(c.id2label == std::map<std::int64_t, std::string>{{0, "no"}, {1, "yes"}});
        CHECK(c.num_labels == 2);
        CHECK(json_error_field({{"label2id", {{"no", 0}, {"yes", 0}}}}) == "label2id");
    }
    SECTION("repeated label names round-trip") {
        DeepseekV2Config c = dsv2::presets::deepseek_v2_lite();
        c.num_labels = 3;
        c.id2label = {{0, "same"}, {1, "same"}, {2, "other"}};
        check_round_trip(c);
    }
    SECTION("written as transformers writes them") {
        DeepseekV2Config c = dsv2::presets::deepseek_v2_lite();
        c.num_labels = 2;
        c.id2label = {{0, "neg"}, {1, "pos"}};
        c.problem_type = "single_label_classification";
        const json j = dsv2::to_json(c);
        CHECK(j["id2label"] == json({{"0", "neg"}, {"1", "pos"}}));
        CHECK(j["label2id"] == json({{"neg", 0}, {"pos", 1}}));
        CHECK(j["num_labels"] == 2);
        CHECK(j["problem_type"] == "single_label_classification");
    }
}

TEST_CASE("config_json: dtype wins over torch_dtype", "[config][json]") {
    CHECK(dsv2::config_from_json({{"torch_dtype", "float16"}}).torch_dtype == "float16");
    CHECK(dsv2::config_from_json({{"dtype", "bfloat16"}}).torch_dtype == "bfloat16");
    CHECK(dsv2::config_from_json({{"torch_dtype", "float16"}, {"dtype", "bfloat16"}}).torch_dtype == "bfloat16");
    CHECK(dsv2::config_from_json({{"torch_dtype", "float16"}, {"dtype", nullptr}}).torch_dtype == "float16");
}

TEST_CASE("config_json: round trips keep every value", "[config][json]") {
    SECTION("presets") {
        check_round_trip(dsv2::presets::deepseek_v2());
        check_round_trip(dsv2::presets::deepseek_v2_lite());
        check_round_trip(DeepseekV2Config{});
    }
    SECTION("hand-made variants") {
        DeepseekV2Config c = dsv2::presets::deepseek_v2_lite();
        c.n_routed_experts = 0;
        c.num_experts_per_tok.reset();
        c.n_shared_experts.reset();
        c.eos_token_id.clear();
        c.bos_token_id.reset();
        c.pad_token_id = 0;
        c.rope_parameters = {.rope_type = "default", .rope_theta = 1e6, .truncate = true};  // default with a stray key
        c.torch_dtype.reset();
        check_round_trip(c);
        c.rope_parameters = {.rope_type = "yarn", .rope_theta = 10000.0, .factor = 1.0};
        c.eos_token_id = {1, 2, 3};
        check_round_trip(c);
    }
    SECTION("randomised configs") {
        std::mt19937_64 rng(20240507);
        for (int i = 0; i < 300; ++i) {
            const DeepseekV2Config c = random_config(rng);
            INFO("config " << i << ": " << dsv2::to_json(c).dump());
            check_round_trip(c);
        }
    }
}

TEST_CASE("config_json: save_config and load_config", "[config][json]") {
    const auto dir = temp_dir("save");
    for (const auto spelling : {config_spelling::transformers_v5, config_spelling::hub}) {
        for (const auto& preset : {dsv2::presets::deepseek_v2(), dsv2::presets::deepseek_v2_lite()}) {
            dsv2::save_config(dir, preset, spelling);  // a directory: dir/config.json
            CHECK(dsv2::load_config(dir) == preset);
            dsv2::save_config(dir / "other.json", preset, spelling);
            CHECK(dsv2::load_config(dir / "other.json") == preset);
        }
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("config_json: load_config errors name the file", "[config][json]") {
    const auto dir = temp_dir("load");
    SECTION("missing directory or file") {
        const auto missing = dir / "nowhere";
        CHECK_THROWS_AS(dsv2::load_config(missing), dsv2::io_error);
        CHECK_THROWS_WITH(dsv2::load_config(missing), Catch::Contains("nowhere") && Catch::Contains("no such file"));
        CHECK_THROWS_WITH(dsv2::load_config(dir), Catch::Contains("config.json") && Catch::Contains("no such file"));
    }
    SECTION("invalid JSON gives the position") {
        std::ofstream(dir / "config.json") << "{\n  \"hidden_size\": 2048,\n  \"vocab_size\": }\n";
        CHECK_THROWS_AS(dsv2::load_config(dir), dsv2::io_error);
        CHECK_THROWS_WITH(dsv2::load_config(dir), Catch::Contains("config.json") && Catch::Contains("invalid JSON") &&
                                                      Catch::Contains("line 3"));
    }
    SECTION("empty file") {
        std::ofstream(dir / "config.json") << "";
        CHECK_THROWS_AS(dsv2::load_config(dir), dsv2::io_error);
    }
    SECTION("type error and broken rule are config errors") {
        std::ofstream(dir / "config.json") << R"({"hidden_size": "big"})";
        CHECK_THROWS_AS(dsv2::load_config(dir), dsv2::config_error);
        std::ofstream(dir / "config.json") << R"({"num_experts_per_tok": 6, "num_key_value_heads": 8})";
        CHECK_THROWS_WITH(dsv2::load_config(dir), Catch::Contains("num_key_value_heads"));
    }
    SECTION("saving into a missing directory") {
        CHECK_THROWS_AS(dsv2::save_config(dir / "no" / "such" / "config.json", dsv2::presets::deepseek_v2()), dsv2::io_error);
    }
    std::filesystem::remove_all(dir);
}
