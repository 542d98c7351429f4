// The models' API beyond parity: bad input yields typed errors naming the culprit, embeddings in
// place of ids, random initialisation, save/load round trips, spec/config consistency.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <dsv2/model.hpp>

#include "support/fixtures.hpp"
#include "support/temp_dir.hpp"

using Catch::Contains;

namespace {

/// Copies the lite fixture to `dir` with tensor `drop` removed or `resize` given one extra row.
void copy_lite(const std::filesystem::path& dir, const std::string& drop, const std::string& resize) {
    const auto src = dsv2_test::fixture_dir() / "lite";
    std::filesystem::copy_file(src / "config.json", dir / "config.json");
    const auto f = dsv2::io::safetensors_file::open(src / "model.safetensors");
    std::vector<std::vector<float>> buffers;
    std::vector<dsv2::io::tensor_to_write> out;
    buffers.reserve(f.entries().size());
    for (const auto& e : f.entries()) {
        if (e.name == drop) continue;
        auto v = f.view(e.name);
        auto data = dsv2::io::to_float(v);
        auto shape = v.shape;
        if (e.name == resize) {
            data.resize(data.size() + static_cast<std::size_t>(shape.back()), 0.0f);
            shape[0] += 1;
        }
        buffers.push_back(std::move(data));
        out.push_back({e.name, dsv2::dtype::f32, shape, std::as_bytes(std::span<const float>(buffers.back()))});
    }
    dsv2::io::write_safetensors(dir / "model.safetensors", out);
}

}  // namespace

TEST_CASE("forward input errors name the argument and the index", "[models][errors]") {
    const auto lm = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(dsv2_test::fixture_dir() / "lite");
    const std::int64_t V = lm.config().vocab_size;
    auto ids = dsv2::tensor<std::int64_t>::rows({{1, 2, 3}, {4, 5, 6}});
    ids(1, 2) = V;
    CHECK_THROWS_AS(lm.forward({.input_ids = &ids}), dsv2::input_error);
    CHECK_THROWS_WITH(lm.forward({.input_ids = &ids}), Contains("input_ids") && Contains("[1, 2]") && Contains(std::to_string(V)));
    ids(1, 2) = -1;
    CHECK_THROWS_WITH(lm.forward({.input_ids = &ids}), Contains("token id -1"));
    ids(1, 2) = 6;

    const auto short_mask = dsv2::tensor<std::int64_t>::rows({{1, 1}, {1, 1}});
    CHECK_THROWS_WITH(lm.forward({.input_ids = &ids, .attention_mask = &short_mask}), Contains("attention_mask") && Contains("[2, 2]"));
    const auto bad_values = dsv2::tensor<std::int64_t>::rows({{1, 1, 2}, {1, 1, 1}});
    CHECK_THROWS_WITH(lm.forward({.input_ids = &ids, .attention_mask = &bad_values}), Contains("value 2 at [0, 2]"));
    const auto pos = dsv2::tensor<std::int64_t>::rows({{0, 1, 2}});
    CHECK_THROWS_WITH(lm.forward({.input_ids = &ids, .position_ids = &pos}), Contains("position_ids") && Contains("[1, 3]"));
    auto far = dsv2::tensor<std::int64_t>::rows({{0, 1, 2}, {0, 1, 1}});
    far(1, 1) = lm.config().max_position_embeddings;
    CHECK_THROWS_WITH(lm.forward({.input_ids = &ids, .position_ids = &far}), Contains("position_ids") && Contains("[1, 1]"));

    dsv2::tensor<float> embeds({2, 3, lm.config().hidden_size});
    CHECK_THROWS_WITH(lm.forward({.input_ids = &ids, .inputs_embeds = &embeds}), Contains("exactly one") && Contains("both"));
    CHECK_THROWS_WITH(lm.forward({}), Contains("exactly one") && Contains("neither"));
    dsv2::tensor<float> wrong_width({2, 3, 5});
    CHECK_THROWS_WITH(lm.forward({.inputs_embeds = &wrong_width}), Contains("inputs_embeds") && Contains("[2, 3, 5]"));

    const dsv2::labels_t float_labels = dsv2::tensor<float>({2, 3});
    CHECK_THROWS_WITH(lm.forward({.input_ids = &ids, .labels = &float_labels}), Contains("labels") && Contains("integer"));
    const dsv2::labels_t short_labels = dsv2::tensor<std::int64_t>({2, 2});
    CHECK_THROWS_WITH(lm.forward({.input_ids = &ids, .labels = &short_labels}), Contains("labels") && Contains("[2, 2]"));
    dsv2::tensor<std::int64_t> out_of_range({2, 3}, 1);
    out_of_range(0, 2) = V + 5;
    const dsv2::labels_t bad_ids = out_of_range;
    CHECK_THROWS_WITH(lm.forward({.input_ids = &ids, .labels = &bad_ids}), Contains("labels") && Contains("[0, 2]"));
    CHECK_THROWS_WITH(lm.forward({.input_ids = &ids, .logits_to_keep = std::vector<std::int64_t>{0, 7}}),
                      Contains("logits_to_keep") && Contains("index 1"));
    CHECK_THROWS_WITH(lm.model.forward({.input_ids = &ids, .labels = &bad_ids}), Contains("labels") && Contains("no head"));
}

TEST_CASE("inputs_embeds give the same result as the ids they embed", "[models]") {
    const auto lm = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(dsv2_test::fixture_dir() / "v2");
    const auto ids = dsv2::tensor<std::int64_t>::rows({{3, 14, 15, 92, 65}});
    const std::int64_t H = lm.config().hidden_size;
    dsv2::tensor<float> embeds({1, 5, H});
    for (std::int64_t s = 0; s < 5; ++s)
        for (std::int64_t h = 0; h < H; ++h) embeds(0, s, h) = lm.model.weights().embed_tokens.at(ids(0, s), h);
    const auto a = lm.forward({.input_ids = &ids}).logits;
    const auto b = lm.forward({.inputs_embeds = &embeds}).logits;
    CHECK(std::equal(a.values().begin(), a.values().end(), b.values().begin()));
    // logits_to_keep as a count and as a list select the same rows
    const auto last2 = lm.forward({.input_ids = &ids, .logits_to_keep = std::int64_t{2}}).logits;
    const auto list = lm.forward({.input_ids = &ids, .logits_to_keep = std::vector<std::int64_t>{3, -1}}).logits;
    REQUIRE(last2.shape() == dsv2::shape_t{1, 2, lm.config().vocab_size});
    CHECK(std::equal(last2.values().begin(), last2.values().end(), list.values().begin()));
}

TEST_CASE("checkpoint errors name the tensor and both shapes", "[models][errors]") {
    const dsv2_test::temp_dir missing_dir, resized_dir;
    const auto& missing = missing_dir.path;
    copy_lite(missing, "model.layers.1.self_attn.kv_b_proj.weight", "");
    CHECK_THROWS_AS(dsv2::DeepseekV2ForCausalLM<>::from_pretrained(missing), dsv2::checkpoint_error);
    CHECK_THROWS_WITH(dsv2::DeepseekV2ForCausalLM<>::from_pretrained(missing), Contains("model.layers.1.self_attn.kv_b_proj.weight"));
    const auto& resized = resized_dir.path;
    copy_lite(resized, "", "model.layers.2.mlp.experts.3.up_proj.weight");
    CHECK_THROWS_WITH(dsv2::DeepseekV2ForCausalLM<>::from_pretrained(resized),
                      Contains("model.layers.2.mlp.experts.3.up_proj.weight") && Contains("[32, 64]") && Contains("[33, 64]"));
}

TEST_CASE("classification: pad_token_id and score shape are checked", "[models][errors]") {
    auto cfg = dsv2::load_config(dsv2_test::fixture_dir() / "cls3");
    const auto clf = dsv2::DeepseekV2ForSequenceClassification<>::from_pretrained(dsv2_test::fixture_dir() / "cls3");
    cfg.pad_token_id.reset();
    const dsv2::DeepseekV2ForSequenceClassification<> no_pad(cfg, clf.model.shared_weights());
    const auto two = dsv2::tensor<std::int64_t>::rows({{1, 2}, {3, 4}});
    CHECK_THROWS_WITH(no_pad.forward({.input_ids = &two}), Contains("pad_token_id") && Contains("batch 2"));
    const auto one = dsv2::tensor<std::int64_t>::rows({{1, 2}});
    CHECK_NOTHROW(no_pad.forward({.input_ids = &one}));
    cfg.num_labels = 4;
    cfg.id2label.clear();
    CHECK_THROWS_WITH((dsv2::DeepseekV2ForSequenceClassification<>(cfg, clf.model.shared_weights())),
                      Contains("score.weight") && Contains("num_labels 4"));
    const dsv2::labels_t bad_class = dsv2::tensor<std::int64_t>({1}, 3);
    CHECK_THROWS_WITH(clf.forward({.input_ids = &one, .labels = &bad_class}), Contains("class id 3"));
}

TEST_CASE("a fixed router policy rejects a checkpoint that routes otherwise", "[models][errors]") {
    struct greedy_spec : dsv2::default_spec {
        using router = dsv2::router_greedy;
    };
    static_assert(dsv2::model_spec<greedy_spec>);
    CHECK_NOTHROW(dsv2::DeepseekV2ForCausalLM<greedy_spec>::from_pretrained(dsv2_test::fixture_dir() / "lite"));
    CHECK_THROWS_WITH(dsv2::DeepseekV2ForCausalLM<greedy_spec>::from_pretrained(dsv2_test::fixture_dir() / "v2"),
                      Contains("topk_method") && Contains("group_limited_greedy"));
}

TEST_CASE("random initialisation: seeded, normal(0, initializer_range), norms one", "[models]") {
    auto cfg = dsv2::load_config(dsv2_test::fixture_dir() / "v2");
    cfg.initializer_range = 0.05;
    const auto a = dsv2::DeepseekV2ForCausalLM<>::from_config(cfg, 1);
    const auto b = dsv2::DeepseekV2ForCausalLM<>::from_config(cfg, 1);
    const auto c = dsv2::DeepseekV2ForCausalLM<>::from_config(cfg, 2);
    const auto ea = a.model.weights().embed_tokens.f32();
    CHECK(ea == b.model.weights().embed_tokens.f32());
    CHECK(ea != c.model.weights().embed_tokens.f32());
    const double mean = ea.mean();
    const double sd = std::sqrt((ea.array() - mean).square().mean());
    CHECK(std::abs(mean) < 0.005);
    CHECK(std::abs(sd - 0.05) < 0.005);
    CHECK(a.model.weights().norm.isOnes());
    CHECK(a.model.weights().layers[0].self_attn.kv_a_layernorm.isOnes());
}

TEST_CASE("save_pretrained then from_pretrained reproduces the model (f32 exactly, bf16 rounded)", "[models][io]") {
    const auto lm = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(dsv2_test::fixture_dir() / "v2");
    const dsv2_test::temp_dir scratch;
    const auto& dir = scratch.path;
    lm.save_pretrained(dir);
    const auto back = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(dir);
    CHECK(back.config() == [&] { auto c = lm.config(); c.torch_dtype = "float32"; return c; }());
    const auto ids = dsv2::tensor<std::int64_t>::rows({{1, 2, 3, 4}});
    const auto a = lm.forward({.input_ids = &ids}).logits, b = back.forward({.input_ids = &ids}).logits;
    CHECK(std::equal(a.values().begin(), a.values().end(), b.values().begin()));
    lm.save_pretrained(dir / "bf16", dsv2::save_dtype::bf16);
    const auto ckpt = dsv2::io::checkpoint::open(dir / "bf16");
    CHECK(ckpt.bytes_by_dtype().count(dsv2::dtype::bf16) == 1);
    CHECK(ckpt.bytes_by_dtype().count(dsv2::dtype::f32) == 0);
    const auto rounded = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(dir / "bf16");
    const auto r = rounded.forward({.input_ids = &ids}).logits;
    const auto e = dsv2_test::compare_masked(r, a, nullptr);
    CHECK(e.rel_frobenius < 0.05);  // bf16 weights: ~2^-8 relative per weight
}
