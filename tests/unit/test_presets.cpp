// Presets of the released models, their parameter counts and KV-cache sizes.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <dsv2/io/checkpoint.hpp>
#include <dsv2/io/config_json.hpp>
#include <dsv2/models/parameter_count.hpp>
#include <dsv2/models/presets.hpp>

namespace {

using dsv2::DeepseekV2Config;

/// One checkpoint tensor: name and shape, as listed in the reference's "Checkpoints" section.
struct tensor_shape {
    std::string name;
    std::vector<std::int64_t> shape;
    std::int64_t elements() const {
        std::int64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
};

/// Every tensor a checkpoint of `c` holds (per-expert names), written out independently of
/// count_parameters, for small configs.
std::vector<tensor_shape> checkpoint_tensors(const DeepseekV2Config& c) {
    const std::int64_t H = c.hidden_size, V = c.vocab_size, n_h = c.num_attention_heads;
    const std::int64_t d_qk = c.qk_head_dim(), d_nope = c.qk_nope_head_dim, d_rope = c.qk_rope_head_dim;
    const std::int64_t d_v = c.v_head_dim, d_c = c.kv_lora_rank;
    std::vector<tensor_shape> t;
    t.push_back({"model.embed_tokens.weight", {V, H}});
    if (!c.tie_word_embeddings) t.push_back({"lm_head.weight", {V, H}});
    t.push_back({"model.norm.weight", {H}});
    auto mlp = [&](const std::string& p, std::int64_t width, bool bias) {
        t.push_back({p + "gate_proj.weight", {width, H}});
        t.push_back({p + "up_proj.weight", {width, H}});
        t.push_back({p + "down_proj.weight", {H, width}});
        if (bias) {
            t.push_back({p + "gate_proj.bias", {width}});
            t.push_back({p + "up_proj.bias", {width}});
            t.push_back({p + "down_proj.bias", {H}});
        }
    };
    for (std::int64_t L = 0; L < c.num_hidden_layers; ++L) {
        const std::string p = "model.layers." + std::to_string(L) + ".";
        t.push_back({p + "input_layernorm.weight", {H}});
        t.push_back({p + "post_attention_layernorm.weight", {H}});
        const std::string a = p + "self_attn.";
        if (!c.q_lora_rank) {
            t.push_back({a + "q_proj.weight", {n_h * d_qk, H}});
        } else {
            const std::int64_t d_cq = *c.q_lora_rank;
            t.push_back({a + "q_a_proj.weight", {d_cq, H}});
            if (c.attention_bias) t.push_back({a + "q_a_proj.bias", {d_cq}});
            t.push_back({a + "q_a_layernorm.weight", {d_cq}});
            t.push_back({a + "q_b_proj.weight", {n_h * d_qk, d_cq}});
        }
        t.push_back({a + "kv_a_proj_with_mqa.weight", {d_c + d_rope, H}});
        if (c.attention_bias) t.push_back({a + "kv_a_proj_with_mqa.bias", {d_c + d_rope}});
        t.push_back({a + "kv_a_layernorm.weight", {d_c}});
        t.push_back({a + "kv_b_proj.weight", {n_h * (d_nope + d_v), d_c}});
        t.push_back({a + "o_proj.weight", {H, n_h * d_v}});
        if (c.attention_bias) t.push_back({a + "o_proj.bias", {H}});
        if (!c.is_moe_layer(L)) {
            mlp(p + "mlp.", c.intermediate_size, c.mlp_bias);
        } else {
            t.push_back({p + "mlp.gate.weight", {c.n_routed_experts, H}});
            for (std::int64_t e = 0; e < c.n_routed_experts; ++e)
                mlp(p + "mlp.experts." + std::to_string(e) + ".", c.moe_intermediate_size, false);
            if (c.shared_intermediate_size() > 0) mlp(p + "mlp.shared_experts.", c.shared_intermediate_size(), c.mlp_bias);
        }
    }
    return t;
}

DeepseekV2Config small() {
    return DeepseekV2Config{
        .vocab_size = 100,
        .hidden_size = 24,
        .intermediate_size = 40,
        .num_hidden_layers = 5,
        .num_attention_heads = 3,
        .max_position_embeddings = 64,
        .first_k_dense_replace = 1,
        .kv_lora_rank = 12,
        .q_lora_rank = 10,
        .n_routed_experts = 6,
        .n_shared_experts = 1,
        .qk_nope_head_dim = 6,
        .qk_rope_head_dim = 4,
        .v_head_dim = 5,
        .num_experts_per_tok = 2,
        .moe_intermediate_size = 7,
        .moe_layer_freq = 2,
    };
}

}  // namespace

TEST_CASE("presets: DeepSeek-V2-Lite", "[presets]") {
    const DeepseekV2Config c = dsv2::presets::deepseek_v2_lite();
    REQUIRE_NOTHROW(c.validate());
    CHECK(c.num_hidden_layers == 27);
    CHECK(c.hidden_size == 2048);
    CHECK(c.num_attention_heads == 16);
    CHECK(c.num_key_value_heads == 16);
    CHECK_FALSE(c.q_lora_rank.has_value());
    CHECK(c.kv_lora_rank == 512);
    CHECK(c.qk_nope_head_dim == 128);
    CHECK(c.qk_rope_head_dim == 64);
    CHECK(c.v_head_dim == 128);
    CHECK(c.intermediate_size == 10944);
    CHECK(c.first_k_dense_replace == 1);
    CHECK(c.moe_layer_freq == 1);
    CHECK(c.n_routed_experts == 64);
    CHECK(c.n_shared_experts == 2);
    CHECK(c.num_experts_per_tok == 6);
    CHECK(c.moe_intermediate_size == 1408);
    CHECK(c.topk_method == "greedy");
    CHECK(c.n_group == 1);
    CHECK(c.topk_group == 1);
    CHECK(c.routed_scaling_factor == 1.0);
    CHECK_FALSE(c.norm_topk_prob);
    CHECK(c.num_moe_layers() == 26);
}

TEST_CASE("presets: DeepSeek-V2", "[presets]") {
    const DeepseekV2Config c = dsv2::presets::deepseek_v2();
    REQUIRE_NOTHROW(c.validate());
    CHECK(c.num_hidden_layers == 60);
    CHECK(c.hidden_size == 5120);
    CHECK(c.num_attention_heads == 128);
    CHECK(c.num_key_value_heads == 128);
    CHECK(c.q_lora_rank == 1536);
    CHECK(c.intermediate_size == 12288);
    CHECK(c.n_routed_experts == 160);
    CHECK(c.n_shared_experts == 2);
    CHECK(c.num_experts_per_tok == 6);
    CHECK(c.moe_intermediate_size == 1536);
    CHECK(c.topk_method == "group_limited_greedy");
    CHECK(c.n_group == 8);
    CHECK(c.topk_group == 3);
    CHECK(c.routed_scaling_factor == 16.0);
    CHECK(c.num_moe_layers() == 59);
}

TEST_CASE("presets: what both models share", "[presets]") {
    for (const auto& c : {dsv2::presets::deepseek_v2(), dsv2::presets::deepseek_v2_lite()}) {
        CHECK(c.vocab_size == 102400);
        CHECK(c.bos_token_id == 100000);
        CHECK(c.eos_token_id == std::vector<std::int64_t>{100001});
        CHECK_FALSE(c.pad_token_id.has_value());
        CHECK(c.max_position_embeddings == 163840);
        CHECK(c.rms_norm_eps == 1e-6);
        CHECK(c.hidden_act == "silu");
        CHECK(c.initializer_range == 0.02);
        CHECK(c.aux_loss_alpha == 0.001);
        CHECK(c.seq_aux);
        CHECK(c.ep_size == 1);
        CHECK(c.use_cache);
        CHECK(c.scoring_func == "softmax");
        CHECK(c.attention_dropout == 0.0);
        CHECK_FALSE(c.tie_word_embeddings);
        CHECK_FALSE(c.attention_bias);
        CHECK(c.torch_dtype == "bfloat16");
        const dsv2::RopeParameters yarn{.rope_type = "yarn", .rope_theta = 10000.0, .factor = 40.0,
                                        .original_max_position_embeddings = 4096, .beta_fast = 32.0,
                                        .beta_slow = 1.0, .mscale = 0.707, .mscale_all_dim = 0.707};
        CHECK(c.rope_parameters == yarn);
        CHECK(std::abs(c.softmax_scale() - 0.1147213867929261) < 1e-12);
    }
}

TEST_CASE("parameter_count: DeepSeek-V2-Lite", "[presets][parameters]") {
    const auto c = dsv2::presets::deepseek_v2_lite();
    const auto p = dsv2::count_parameters(c);
    CHECK(p.total == 15'706'484'224);            // the checkpoint's 15.7B
    CHECK(p.active_per_token == 2'451'435'008);  // "2.4B activated": without the embedding lookup table
    CHECK(dsv2::kv_cache_bytes_per_token_latent(c, 2) == 31'104);
    CHECK(dsv2::kv_cache_bytes_per_token_expanded(c, 2) == 276'480);
    CHECK(dsv2::kv_cache_bytes_per_token_latent(c, 4) == 62'208);
    CHECK(dsv2::kv_cache_bytes_per_token_expanded(c, 4) == 552'960);
}

TEST_CASE("parameter_count: DeepSeek-V2", "[presets][parameters]") {
    const auto c = dsv2::presets::deepseek_v2();
    const auto p = dsv2::count_parameters(c);
    CHECK(p.total == 235'741'434'880);            // "236B"
    CHECK(p.active_per_token == 20'851'512'320);  // "21B activated"
    CHECK(dsv2::kv_cache_bytes_per_token_latent(c, 2) == 69'120);
    CHECK(dsv2::kv_cache_bytes_per_token_expanded(c, 2) == 4'915'200);
}

TEST_CASE("parameter_count: agrees with the checkpoint's tensor list", "[presets][parameters]") {
    struct variant {
        const char* what;
        void (*mutate)(DeepseekV2Config&);
    };
    const variant variants[] = {
        {"base", [](DeepseekV2Config&) {}},
        {"plain q_proj", [](DeepseekV2Config& c) { c.q_lora_rank.reset(); }},
        {"attention bias", [](DeepseekV2Config& c) { c.attention_bias = true; }},
        {"attention bias, plain q_proj", [](DeepseekV2Config& c) { c.attention_bias = true; c.q_lora_rank.reset(); }},
        {"mlp bias", [](DeepseekV2Config& c) { c.mlp_bias = true; }},
        {"tied embeddings", [](DeepseekV2Config& c) { c.tie_word_embeddings = true; }},
        {"no shared experts", [](DeepseekV2Config& c) { c.n_shared_experts.reset(); }},
        {"dense", [](DeepseekV2Config& c) { c.n_routed_experts = 0; c.num_experts_per_tok.reset(); }},
        {"all MoE", [](DeepseekV2Config& c) { c.first_k_dense_replace = 0; c.moe_layer_freq = 1; }},
    };
    for (const auto& v : variants) {
        DeepseekV2Config c = small();
        v.mutate(c);
        INFO(v.what);
        REQUIRE_NOTHROW(c.validate());
        std::int64_t total = 0, routed_unused = 0, embedding = 0;
        for (const auto& t : checkpoint_tensors(c)) {
            total += t.elements();
            if (t.name == "model.embed_tokens.weight") embedding = t.elements();
        }
        const std::int64_t k = c.num_experts_per_tok.value_or(0);
        routed_unused = c.num_moe_layers() * (c.n_routed_experts - k) * 3 * c.moe_intermediate_size * c.hidden_size;
        const auto p = dsv2::count_parameters(c);
        CHECK(p.total == total);
        // tied: the table is the lm_head and stays active
        CHECK(p.active_per_token == total - routed_unused - (c.tie_word_embeddings ? 0 : embedding));
    }
}

TEST_CASE("parameter_count: invalid configs and overflow are config errors", "[presets][parameters]") {
    DeepseekV2Config bad = small();
    bad.hidden_size = 0;
    CHECK_THROWS_WITH(dsv2::count_parameters(bad), Catch::Contains("hidden_size"));
    CHECK_THROWS_WITH(dsv2::kv_cache_bytes_per_token_latent(bad, 2), Catch::Contains("hidden_size"));

    DeepseekV2Config huge = small();
    huge.num_hidden_layers = (std::int64_t{1} << 31) - 1;
    huge.first_k_dense_replace = 0;
    huge.moe_layer_freq = 1;
    huge.n_routed_experts = (std::int64_t{1} << 31) - 1;
    huge.moe_intermediate_size = (std::int64_t{1} << 31) - 1;
    huge.hidden_size = (std::int64_t{1} << 31) - 1;
    CHECK_THROWS_AS(dsv2::count_parameters(huge), dsv2::config_error);
    CHECK_THROWS_WITH(dsv2::count_parameters(huge), Catch::Contains("sizes"));
    CHECK_THROWS_AS(dsv2::kv_cache_bytes_per_token_expanded(huge, static_cast<std::size_t>(-1)), dsv2::config_error);
}

TEST_CASE("parameter_count: matches checkpoints written by transformers", "[presets][parameters]") {
    // tiny models saved by transformers 5 (v5 spelling): causal LMs with q_lora_rank unset and set,
    // biases, tied embeddings, fused experts, and sequence classifiers with 1 and 3 labels
    struct fixture {
        const char* name;
        dsv2::model_head head;
    };
    const fixture fixtures[] = {
        {"lite", dsv2::model_head::causal_lm},  {"v2", dsv2::model_head::causal_lm},
        {"bias", dsv2::model_head::causal_lm},  {"tied", dsv2::model_head::causal_lm},
        {"fused", dsv2::model_head::causal_lm}, {"cls1", dsv2::model_head::sequence_classification},
        {"cls3", dsv2::model_head::sequence_classification},
    };
    for (const auto& f : fixtures) {
        INFO(f.name);
        const std::filesystem::path dir = std::filesystem::path(DSV2_FIXTURE_DIR) / f.name;
        const DeepseekV2Config c = dsv2::load_config(dir);
        const auto ck = dsv2::io::checkpoint::open(dir);
        std::uint64_t elements = 0;
        for (const auto& [type, n] : ck.elements_by_dtype()) elements += n;
        CHECK(static_cast<std::uint64_t>(dsv2::count_parameters(c, f.head).total) == elements);
        if (f.head == dsv2::model_head::causal_lm && std::string(f.name) != "fused")  // fused: 3 tensors per layer
            CHECK(checkpoint_tensors(c).size() == ck.tensor_count());
    }
}

TEST_CASE("parameter_count: the sequence-classification head", "[presets][parameters]") {
    DeepseekV2Config c = small();
    c.num_labels = 3;
    const auto lm = dsv2::count_parameters(c);
    const auto cls = dsv2::count_parameters(c, dsv2::model_head::sequence_classification);
    CHECK(cls.total == lm.total - c.vocab_size * c.hidden_size + 3 * c.hidden_size);
    CHECK(cls.active_per_token == lm.active_per_token - c.vocab_size * c.hidden_size + 3 * c.hidden_size);
    c.tie_word_embeddings = true;  // nothing to tie without an lm_head
    CHECK(dsv2::count_parameters(c, dsv2::model_head::sequence_classification) == cls);
}
