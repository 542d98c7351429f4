// A deepseek2 GGUF file written by llama.cpp's own converter (tests/fixtures/gguf_models/, made by
// tools/fixtures/make_gguf_model_fixtures.py from the transformers fixtures tests/fixtures/{lite,v2})
// loads through from_pretrained("x.gguf"):
//   - F32: the same model as the safetensors checkpoint, so the logits, hidden states and attention
//     weights match transformers' within the fp32 parity bounds (kv_b_proj reassembled from the
//     converter's split attn_k_b / attn_v_b, experts sliced from the fused ffn_*_exps);
//   - Q8_0: every matrix, dequantised, is within Q8_0's rounding bound of the checkpoint's fp32
//     weight (the reference is the transformers checkpoint, not dsv2);
//   - the config read from the metadata equals config.json's where GGUF stores the field.
//   - save_gguf (dsv2 convert) writes the same tensors, bytes and keys as llama.cpp's converter.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <string>

#include <dsv2/model.hpp>
#include <dsv2/io/gguf_vocab.hpp>
#include <dsv2/io/gguf_writer.hpp>
#include <dsv2/models/gguf_export.hpp>

#include "support/fixtures.hpp"
#include "support/parity.hpp"
#include "support/temp_dir.hpp"

namespace {

using dsv2_test::fixture_dir;

std::filesystem::path gguf_fixture(const std::string& name) { return fixture_dir() / "gguf_models" / name; }

/// The config fields a deepseek2 GGUF file carries, compared with config.json's.
void require_same_model_config(const dsv2::DeepseekV2Config& got, const dsv2::DeepseekV2Config& want) {
    CHECK(got.vocab_size == want.vocab_size);
    CHECK(got.hidden_size == want.hidden_size);
    CHECK(got.intermediate_size == want.intermediate_size);
    CHECK(got.num_hidden_layers == want.num_hidden_layers);
    CHECK(got.num_attention_heads == want.num_attention_heads);
    CHECK(got.kv_heads() == want.kv_heads());
    CHECK(got.max_position_embeddings == want.max_position_embeddings);
    CHECK(static_cast<float>(got.rms_norm_eps) == static_cast<float>(want.rms_norm_eps));  // stored as f32
    CHECK(got.q_lora_rank == want.q_lora_rank);
    CHECK(got.kv_lora_rank == want.kv_lora_rank);
    CHECK(got.qk_nope_head_dim == want.qk_nope_head_dim);
    CHECK(got.qk_rope_head_dim == want.qk_rope_head_dim);
    CHECK(got.v_head_dim == want.v_head_dim);
    CHECK(got.first_k_dense_replace == want.first_k_dense_replace);
    CHECK(got.n_routed_experts == want.n_routed_experts);
    CHECK(got.num_experts_per_tok == want.num_experts_per_tok);
    CHECK(got.n_shared_experts == want.n_shared_experts);
    CHECK(got.moe_intermediate_size == want.moe_intermediate_size);
    CHECK(got.norm_topk_prob == want.norm_topk_prob);
    CHECK(got.routed_scaling_factor == Approx(want.routed_scaling_factor));
    CHECK(got.scoring_func == want.scoring_func);
    CHECK(got.tie_word_embeddings == want.tie_word_embeddings);
    const auto& g = got.rope_parameters;
    const auto& w = want.rope_parameters;
    CHECK(g.rope_type == w.rope_type);
    CHECK(g.rope_theta == Approx(w.rope_theta));
    if (w.rope_type == "yarn") {
        CHECK(*g.factor == Approx(*w.factor));
        CHECK(g.original_max_position_embeddings == w.original_max_position_embeddings);
        CHECK(*g.mscale_all_dim == Approx(*w.mscale_all_dim).epsilon(1e-6));
        CHECK(*g.mscale == Approx(*w.mscale).epsilon(1e-6));
        CHECK(*g.beta_fast == Approx(w.beta_fast.value_or(32)));
        CHECK(*g.beta_slow == Approx(w.beta_slow.value_or(1)));
    }
    // the derived quantities the forward uses
    CHECK(got.softmax_scale() == Approx(want.softmax_scale()).epsilon(1e-6));
}

}  // namespace

TEST_CASE("a llama.cpp-converted F32 GGUF gives transformers' outputs", "[gguf][parity]") {
    using namespace dsv2_test;
    const auto dir = fixture_dir() / "lite";
    const auto lm = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(gguf_fixture("lite-f32.gguf"));
    require_same_model_config(lm.config(), dsv2::load_config(dir));
    for (const char* name : {"right_pad", "left_pad", "positions", "long"}) {
        INFO("case " << name);
        const case_file c{dsv2::io::safetensors_file::open(dir / (std::string(name) + ".safetensors"))};
        const auto ids = c.i64("input_ids");
        const auto mask = c.i64("attention_mask");
        std::optional<dsv2::tensor<std::int64_t>> positions;
        if (c.has("position_ids")) positions = c.i64("position_ids");
        const dsv2::forward_args args{.input_ids = &ids,
                                      .attention_mask = &mask,
                                      .position_ids = positions ? &*positions : nullptr,
                                      .output_hidden_states = true};
        const auto out = lm.forward(args);
        require_parity("logits", compare_masked(out.logits, c.f32("logits"), &mask));
        for (std::size_t i = 0; i < out.hidden_states.size(); ++i)
            require_parity("hidden state " + std::to_string(i),
                           compare_masked(out.hidden_states[i], c.f32("hidden_states." + std::to_string(i)), &mask));
    }
}

TEST_CASE("a llama.cpp-converted Q8_0 GGUF holds the checkpoint's weights within Q8_0's rounding", "[gguf]") {
    for (const std::string variant : {"lite", "v2"}) {
        DYNAMIC_SECTION("variant " << variant) {
            const auto dir = fixture_dir() / variant;
            const auto q = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(gguf_fixture(variant + "-q8_0.gguf"));
            const auto ref = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(dir);
            require_same_model_config(q.config(), ref.config());
            std::int64_t quantised = 0;
            dsv2::visit_parameters(
                "model.",
                [&](const std::string& name, dsv2::parameter_kind, const auto& got, const auto& want) {
                    INFO(name);
                    using P = std::remove_cvref_t<decltype(got)>;
                    if constexpr (std::is_same_v<P, dsv2::cpu::vector>) {
                        REQUIRE(got.size() == want.size());
                        for (Eigen::Index i = 0; i < got.size(); ++i) REQUIRE(got[i] == want[i]);  // norms stay F32
                    } else {
                        REQUIRE(got.rows() == want.rows());
                        REQUIRE(got.cols() == want.cols());
                        if (got.format() == dsv2::ggml_type::q8_0) ++quantised;
                        // Q8_0: per block of 32, d = max|w| / 127 rounded to f16, q = round(w / d):
                        // |w − d·q| ≤ d/2, plus d's own f16 rounding (relative 2^-11) times |q| ≤ 127·(1 + 2^-11)
                        // → |w − ŵ| ≤ (0.5 + 128·2^-11)·d ≤ 0.57·d. F16 tensors (the converter's fallback for rows
                        // that are not whole blocks): |w − ŵ| ≤ 2^-11·|w| (+ subnormals). F32: exact.
                        std::vector<float> row_got(static_cast<std::size_t>(got.cols())), row_want(row_got.size());
                        for (std::int64_t r = 0; r < got.rows(); ++r) {
                            got.row_to_f32(r, row_got.data());
                            want.row_to_f32(r, row_want.data());
                            for (std::int64_t b = 0; b < got.cols(); b += 32) {
                                const std::int64_t e = std::min<std::int64_t>(b + 32, got.cols());
                                float amax = 0;
                                for (std::int64_t k = b; k < e; ++k) amax = std::max(amax, std::abs(row_want[static_cast<std::size_t>(k)]));
                                const double d = amax / 127.0;
                                for (std::int64_t k = b; k < e; ++k) {
                                    const double w = row_want[static_cast<std::size_t>(k)], g = row_got[static_cast<std::size_t>(k)];
                                    const double bound = std::max(0.57 * d, std::ldexp(std::abs(w), -11) + 6e-8);
                                    if (std::abs(w - g) > bound) {
                                        INFO("row " << r << " col " << k << ": " << g << " vs " << w << ", bound " << bound);
                                        REQUIRE(std::abs(w - g) <= bound);
                                    }
                                }
                            }
                        }
                    }
                },
                q.model.weights(), ref.model.weights());
            CHECK(quantised > 0);  // the file did hold Q8_0 matrices, used in place
        }
    }
}

TEST_CASE("GGUF model files: refusals name the file and the culprit", "[gguf]") {
    // a classification head has no GGUF counterpart
    CHECK_THROWS_WITH(dsv2::DeepseekV2ForSequenceClassification<>::from_pretrained(gguf_fixture("lite-f32.gguf")),
                      Catch::Contains("lite-f32.gguf") && Catch::Contains("sequence-classification"));
    // a missing file
    CHECK_THROWS_AS(dsv2::DeepseekV2ForCausalLM<>::from_pretrained(gguf_fixture("no-such-file.gguf")), dsv2::io_error);
}

TEST_CASE("save_gguf writes what llama.cpp's converter writes, tensor for tensor", "[gguf]") {
    // dsv2's converter on the transformers checkpoint against llama.cpp's convert_hf_to_gguf.py on
    // the same checkpoint (the fixtures): the same tensor names, dims, types and bytes — Q8_0 blocks
    // included, since both quantise with ggml's reference rounding — and the same model keys.
    const dsv2_test::temp_dir tmp;
    const auto lm = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(fixture_dir() / "lite");
    for (const auto& [type, fixture] : {std::pair{dsv2::gguf_file_type::f32, "lite-f32.gguf"},
                                        std::pair{dsv2::gguf_file_type::q8_0, "lite-q8_0.gguf"}}) {
        INFO(fixture);
        const auto path = tmp.path / "out.gguf";
        dsv2::gguf_export_options o;
        o.type = type;
        dsv2::save_gguf(path, lm.model.weights(), lm.config(), o);
        const auto ours = dsv2::io::gguf_file::open(path);
        const auto theirs = dsv2::io::gguf_file::open(gguf_fixture(fixture));
        REQUIRE(ours.tensors().size() == theirs.tensors().size());
        for (const auto& t : theirs.tensors()) {
            INFO("tensor " << t.name);
            const auto* o2 = ours.find_tensor(t.name);
            REQUIRE(o2 != nullptr);
            CHECK(o2->dims == t.dims);
            REQUIRE(o2->type == t.type);
            REQUIRE(o2->bytes == t.bytes);
            CHECK(std::equal(t.data.begin(), t.data.end(), o2->data.begin()));
        }
        for (const auto& [key, v] : theirs.metadata()) {
            if (key.rfind("deepseek2.", 0) != 0) continue;
            INFO("key " << key);
            const auto* mine = ours.find(key);
            REQUIRE(mine != nullptr);
            CHECK(mine->described() == v.described());
        }
        // and it loads back as the same model (the same config)
        require_same_model_config(dsv2::DeepseekV2ForCausalLM<>::from_pretrained(path).config(), lm.config());
    }
}

TEST_CASE("save_gguf writes the tokenizer keys of gguf_export_options::vocab", "[gguf]") {
    // the lite checkpoint with the tiny tokenizer of the CLI tests (509 ids, GPT-2 pre-tokenizer)
    const dsv2_test::temp_dir tmp;
    for (const char* f : {"config.json", "model.safetensors"})
        std::filesystem::copy_file(fixture_dir() / "lite" / f, tmp.path / f);
    const auto tiny = std::filesystem::path(DSV2_FIXTURE_DIR).parent_path().parent_path() / "tools" / "cli" / "testdata";
    std::filesystem::copy_file(tiny / "tiny_tokenizer" / "tokenizer.json", tmp.path / "tokenizer.json");
    std::filesystem::copy_file(tiny / "tiny_tokenizer_chat" / "tokenizer_config.json", tmp.path / "tokenizer_config.json");
    const auto lm = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(tmp.path);
    auto src = dsv2::io::gguf_vocab_from_hf(tmp.path, lm.config().vocab_size);
    REQUIRE(src.vocab);
    CHECK(src.vocab->pre == "gpt-2");
    dsv2::gguf_export_options o;
    o.type = dsv2::gguf_file_type::f32;
    o.vocab = *src.vocab;
    dsv2::save_gguf(tmp.path / "out.gguf", lm.model.weights(), lm.config(), o);
    const auto f = dsv2::io::gguf_file::open(tmp.path / "out.gguf");
    const auto back = dsv2::io::read_gguf_vocab(f);
    CHECK(back.tokens == src.vocab->tokens);
    CHECK(back.token_types == src.vocab->token_types);
    CHECK(back.merges == src.vocab->merges);
    CHECK(back.special_ids == src.vocab->special_ids);  // bos 1, eos 2 (tokenizer_config.json), pad 0 (config.json)
    CHECK(back.special_id("pad") == 0);
    CHECK(back.add_special == src.vocab->add_special);
    CHECK(back.chat_template == src.vocab->chat_template);
    // not byte-level BPE with a known pre-tokenizer: nothing, and why
    auto j = nlohmann::json::parse(std::ifstream(tmp.path / "tokenizer.json"));
    j["pre_tokenizer"]["add_prefix_space"] = true;
    std::ofstream(tmp.path / "tokenizer.json") << j.dump();
    const auto refused = dsv2::io::gguf_vocab_from_hf(tmp.path, lm.config().vocab_size);
    CHECK_FALSE(refused.vocab);
    CHECK_THAT(refused.not_written, Catch::Contains("tokenizer.json") && Catch::Contains("pre_tokenizer"));
    // no tokenizer.json: nothing, no reason
    std::filesystem::remove(tmp.path / "tokenizer.json");
    const auto none = dsv2::io::gguf_vocab_from_hf(tmp.path, lm.config().vocab_size);
    CHECK_FALSE(none.vocab);
    CHECK(none.not_written.empty());
}

namespace {

/// A copy of `src` at `out` with edits: keys replaced (a string, or a u32), a tensor left out, one
/// tensor replaced by (dims, type, zero bytes).
struct gguf_edit {
    std::string key;
    std::optional<std::string> string_value{};
    std::optional<std::uint32_t> u32_value{};
    std::string drop_tensor{};
    std::string replace_tensor{};
    std::vector<std::uint64_t> dims{};
    dsv2::ggml_type type = dsv2::ggml_type::f32;
};

void write_edited(const std::filesystem::path& in, const std::filesystem::path& out, const gguf_edit& e) {
    const auto src = dsv2::io::gguf_file::open(in);
    dsv2::io::gguf_writer w(out);
    for (const auto& [key, v] : src.metadata()) {
        if (key == "general.alignment") continue;
        if (key == e.key && e.string_value) w.set_string(key, *e.string_value);
        else if (key == e.key && e.u32_value) w.set_u32(key, *e.u32_value);
        else w.set(key, v);
    }
    if (!src.find(e.key) && e.u32_value) w.set_u32(e.key, *e.u32_value);
    for (const auto& t : src.tensors()) {
        if (t.name == e.drop_tensor) continue;
        if (t.name == e.replace_tensor) w.add_tensor(t.name, e.dims, e.type);
        else w.add_tensor(t.name, t.dims, t.type);
    }
    w.write([&](const dsv2::io::gguf_tensor_plan& p, std::span<std::byte> bytes) {
        if (p.name == e.replace_tensor) return;  // zeros
        const auto& t = src.tensor(p.name);
        std::copy(t.data.begin(), t.data.end(), bytes.begin());
    });
}

}  // namespace

TEST_CASE("GGUF files the model cannot use are refused, naming the key or tensor", "[gguf]") {
    const dsv2_test::temp_dir tmp;
    const auto in = gguf_fixture("lite-f32.gguf");
    auto load = [&](const gguf_edit& e) {
        const auto out = tmp.path / "edited.gguf";
        write_edited(in, out, e);
        (void)dsv2::DeepseekV2ForCausalLM<>::from_pretrained(out);
    };
    // the unedited copy loads (so each refusal below is the edit's doing)
    CHECK_NOTHROW(load({.key = "general.name", .string_value = "copy"}));
    CHECK_THROWS_WITH(load({.key = "general.architecture", .string_value = "llama"}),
                      Catch::Contains("'llama'") && Catch::Contains("deepseek2"));
    CHECK_THROWS_WITH(load({.key = "deepseek2.expert_gating_func", .u32_value = 7}),
                      Catch::Contains("deepseek2.expert_gating_func"));
    CHECK_THROWS_WITH(load({.key = "deepseek2.attention.key_length_mla", .u32_value = 16}),
                      Catch::Contains("key_length_mla"));
    CHECK_THROWS_WITH(load({.key = "deepseek2.rope.scaling.type", .string_value = "linear"}),
                      Catch::Contains("rope.scaling.type") && Catch::Contains("linear"));
    CHECK_THROWS_WITH(load({.key = "general.name", .string_value = "x", .drop_tensor = "blk.1.ffn_up_exps.weight"}),
                      Catch::Contains("'blk.1.ffn_up_exps.weight' is missing"));
    CHECK_THROWS_WITH(load({.key = "general.name", .string_value = "x", .drop_tensor = "blk.0.attn_k_b.weight"}),
                      Catch::Contains("attn_kv_b.weight") && Catch::Contains("attn_k_b"));
    CHECK_THROWS_WITH(load({.key = "general.name", .string_value = "x", .replace_tensor = "blk.0.attn_q.weight",
                            .dims = {64, 64}, .type = dsv2::ggml_type::f32}),
                      Catch::Contains("'blk.0.attn_q.weight' has dims {64, 64}") && Catch::Contains("{64, 128}"));
    CHECK_THROWS_WITH(load({.key = "general.name", .string_value = "x", .replace_tensor = "blk.0.attn_q.weight",
                            .dims = {64, 128}, .type = dsv2::ggml_type::iq4_nl}),
                      Catch::Contains("'blk.0.attn_q.weight'") && Catch::Contains("iq4_nl"));
}
