// DeepseekV2Config: construction with designated initialisers, derived sizes, and every rule of
// validate() (each broken rule must name its field).
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <dsv2/config.hpp>
#include <dsv2/models/decoder.hpp>
#include <dsv2/models/presets.hpp>

namespace {

using dsv2::DeepseekV2Config;

/// A small valid MoE config written the way a research user would.
DeepseekV2Config tiny() {
    return DeepseekV2Config{
        .vocab_size = 512,
        .hidden_size = 64,
        .intermediate_size = 128,
        .num_hidden_layers = 3,
        .num_attention_heads = 4,
        .max_position_embeddings = 256,
        .first_k_dense_replace = 1,
        .kv_lora_rank = 32,
        .q_lora_rank = 48,
        .n_routed_experts = 8,
        .qk_nope_head_dim = 16,
        .qk_rope_head_dim = 8,
        .v_head_dim = 16,
        .num_experts_per_tok = 2,
        .moe_intermediate_size = 32,
    };
}

/// The field named by the config_error validate() throws; "" when it does not throw.
std::string broken_field(const DeepseekV2Config& c) {
    try {
        (void)dsv2::DeepseekV2Model<>::checked(c);  // the config's rules and the default router's
    } catch (const dsv2::config_error& e) {
        return e.field();
    }
    return "";
}

struct rule_case {
    const char* what;
    const char* field;
    std::function<void(DeepseekV2Config&)> mutate;
};

constexpr double quiet_nan = std::numeric_limits<double>::quiet_NaN();
constexpr double infinity = std::numeric_limits<double>::infinity();

void use_yarn(DeepseekV2Config& c) {
    c.rope_parameters = {.rope_type = "yarn", .factor = 4.0, .original_max_position_embeddings = 64};
}

void use_grouped(DeepseekV2Config& c) {  // 8 experts in 4 groups, best 2 groups: k <= 4
    c.topk_method = "group_limited_greedy";
    c.n_group = 4;
    c.topk_group = 2;
}

}  // namespace

// The rules as a model applies them: the config's own (validate) and the default router's fields
// (router_from_config::check: topk_method, scoring_func, n_group, topk_group).
void checked(const dsv2::DeepseekV2Config& c) { (void)dsv2::DeepseekV2Model<>::checked(c); }

TEST_CASE("config: designated initialisers build a valid config", "[config]") {
    const DeepseekV2Config c = tiny();
    REQUIRE_NOTHROW(c.validate());
    CHECK(c.qk_head_dim() == 24);
    CHECK(c.kv_heads() == 4);
    CHECK(c.shared_intermediate_size() == 64);
    CHECK_FALSE(c.is_moe_layer(0));
    CHECK(c.is_moe_layer(1));
    CHECK(c.is_moe_layer(2));
    CHECK(c.num_moe_layers() == 2);
    CHECK(c.softmax_scale() == Approx(1.0 / std::sqrt(24.0)).epsilon(1e-15));
}

TEST_CASE("config: num_moe_layers agrees with is_moe_layer", "[config]") {
    for (std::int64_t layers = 1; layers <= 13; ++layers)
        for (std::int64_t first = -1; first <= 15; ++first)
            for (std::int64_t freq = 1; freq <= 5; ++freq)
                for (std::int64_t experts : {0, 4}) {
                    DeepseekV2Config c = tiny();
                    c.num_hidden_layers = layers;
                    c.first_k_dense_replace = first;
                    c.moe_layer_freq = freq;
                    c.n_routed_experts = experts;
                    std::int64_t count = 0;
                    for (std::int64_t i = 0; i < layers; ++i) count += c.is_moe_layer(i) ? 1 : 0;
                    INFO("layers " << layers << " first " << first << " freq " << freq << " experts " << experts);
                    CHECK(c.num_moe_layers() == count);
                }
}

TEST_CASE("config: validate names the field of each broken rule", "[config][validate]") {
    const std::vector<rule_case> cases = {
        // sizes
        {"vocab 0", "vocab_size", [](auto& c) { c.vocab_size = 0; }},
        {"vocab negative", "vocab_size", [](auto& c) { c.vocab_size = -3; }},
        {"vocab 2^31", "vocab_size", [](auto& c) { c.vocab_size = std::int64_t{1} << 31; }},
        {"hidden 0", "hidden_size", [](auto& c) { c.hidden_size = 0; }},
        {"layers 0", "num_hidden_layers", [](auto& c) { c.num_hidden_layers = 0; }},
        {"heads 0", "num_attention_heads", [](auto& c) { c.num_attention_heads = 0; }},
        {"kv heads differ (MLA)", "num_key_value_heads", [](auto& c) { c.num_key_value_heads = 2; }},
        {"d_nope 0", "qk_nope_head_dim", [](auto& c) { c.qk_nope_head_dim = 0; }},
        {"d_rope 0", "qk_rope_head_dim", [](auto& c) { c.qk_rope_head_dim = 0; }},
        {"d_rope odd", "qk_rope_head_dim", [](auto& c) { c.qk_rope_head_dim = 7; }},
        {"d_v 0", "v_head_dim", [](auto& c) { c.v_head_dim = 0; }},
        {"kv_lora_rank 0", "kv_lora_rank", [](auto& c) { c.kv_lora_rank = 0; }},
        {"q_lora_rank 0", "q_lora_rank", [](auto& c) { c.q_lora_rank = 0; }},
        {"max positions 0", "max_position_embeddings", [](auto& c) { c.max_position_embeddings = 0; }},
        {"routed experts negative", "n_routed_experts", [](auto& c) { c.n_routed_experts = -1; }},
        {"shared experts negative", "n_shared_experts", [](auto& c) { c.n_shared_experts = -1; }},
        {"dense width 0 with a dense layer", "intermediate_size", [](auto& c) { c.intermediate_size = 0; }},
        {"moe width 0", "moe_intermediate_size", [](auto& c) { c.moe_intermediate_size = 0; }},
        // layout
        {"first_k_dense_replace negative", "first_k_dense_replace", [](auto& c) { c.first_k_dense_replace = -1; }},
        {"moe_layer_freq 0", "moe_layer_freq", [](auto& c) { c.moe_layer_freq = 0; }},
        {"ep_size 0", "ep_size", [](auto& c) { c.ep_size = 0; }},
        {"pretraining_tp 0", "pretraining_tp", [](auto& c) { c.pretraining_tp = 0; }},
        // MoE
        {"top-k unset", "num_experts_per_tok", [](auto& c) { c.num_experts_per_tok.reset(); }},
        {"top-k 0", "num_experts_per_tok", [](auto& c) { c.num_experts_per_tok = 0; }},
        {"top-k > E", "num_experts_per_tok", [](auto& c) { c.num_experts_per_tok = 9; }},
        {"unknown topk_method", "topk_method", [](auto& c) { c.topk_method = "noaux_tc"; }},
        {"sigmoid scoring", "scoring_func", [](auto& c) { c.scoring_func = "sigmoid"; }},
        {"n_group 0", "n_group", [](auto& c) { c.n_group = 0; }},
        {"topk_group 0", "topk_group", [](auto& c) { c.topk_group = 0; }},
        {"topk_group > n_group", "topk_group", [](auto& c) { c.n_group = 2; c.topk_group = 3; }},
        {"grouped without n_group", "n_group", [](auto& c) { use_grouped(c); c.n_group.reset(); }},
        {"grouped without topk_group", "topk_group", [](auto& c) { use_grouped(c); c.topk_group.reset(); }},
        {"grouped, E % n_group", "n_group", [](auto& c) { use_grouped(c); c.n_group = 3; c.topk_group = 1; }},
        {"grouped, k > reachable", "num_experts_per_tok",
         [](auto& c) { use_grouped(c); c.topk_group = 1; c.num_experts_per_tok = 3; }},
        {"routed_scaling_factor 0", "routed_scaling_factor", [](auto& c) { c.routed_scaling_factor = 0.0; }},
        {"routed_scaling_factor NaN", "routed_scaling_factor", [](auto& c) { c.routed_scaling_factor = quiet_nan; }},
        {"routed_scaling_factor inf", "routed_scaling_factor", [](auto& c) { c.routed_scaling_factor = infinity; }},
        // activation and numbers
        {"unknown activation", "hidden_act", [](auto& c) { c.hidden_act = "tanh"; }},
        {"rms eps 0", "rms_norm_eps", [](auto& c) { c.rms_norm_eps = 0.0; }},
        {"rms eps NaN", "rms_norm_eps", [](auto& c) { c.rms_norm_eps = quiet_nan; }},
        {"rms eps -inf", "rms_norm_eps", [](auto& c) { c.rms_norm_eps = -infinity; }},
        {"initializer_range negative", "initializer_range", [](auto& c) { c.initializer_range = -0.1; }},
        {"initializer_range NaN", "initializer_range", [](auto& c) { c.initializer_range = quiet_nan; }},
        {"aux_loss_alpha NaN", "aux_loss_alpha", [](auto& c) { c.aux_loss_alpha = quiet_nan; }},
        {"attention_dropout > 1", "attention_dropout", [](auto& c) { c.attention_dropout = 1.5; }},
        {"attention_dropout negative", "attention_dropout", [](auto& c) { c.attention_dropout = -0.5; }},
        // rope
        {"rope type linear", "rope_parameters.rope_type", [](auto& c) { c.rope_parameters.rope_type = "linear"; }},
        {"rope theta 0", "rope_parameters.rope_theta", [](auto& c) { c.rope_parameters.rope_theta = 0.0; }},
        {"rope theta inf", "rope_parameters.rope_theta", [](auto& c) { c.rope_parameters.rope_theta = infinity; }},
        {"default rope, NaN factor", "rope_parameters.factor", [](auto& c) { c.rope_parameters.factor = quiet_nan; }},
        {"yarn factor < 1", "rope_parameters.factor", [](auto& c) { use_yarn(c); c.rope_parameters.factor = 0.5; }},
        {"yarn factor NaN", "rope_parameters.factor", [](auto& c) { use_yarn(c); c.rope_parameters.factor = quiet_nan; }},
        {"yarn, no factor nor original", "rope_parameters.factor",
         [](auto& c) { use_yarn(c); c.rope_parameters.factor.reset(); c.rope_parameters.original_max_position_embeddings.reset(); }},
        {"yarn, derived factor < 1", "rope_parameters.factor",
         [](auto& c) { use_yarn(c); c.rope_parameters.factor.reset(); c.rope_parameters.original_max_position_embeddings = 1024; }},
        {"yarn original 0", "rope_parameters.original_max_position_embeddings",
         [](auto& c) { use_yarn(c); c.rope_parameters.original_max_position_embeddings = 0; }},
        {"yarn beta_fast <= beta_slow", "rope_parameters.beta_fast",
         [](auto& c) { use_yarn(c); c.rope_parameters.beta_fast = 1.0; c.rope_parameters.beta_slow = 1.0; }},
        {"yarn beta_fast below default beta_slow", "rope_parameters.beta_fast",
         [](auto& c) { use_yarn(c); c.rope_parameters.beta_fast = 0.5; }},
        {"yarn beta_slow 0", "rope_parameters.beta_slow", [](auto& c) { use_yarn(c); c.rope_parameters.beta_slow = 0.0; }},
        {"yarn mscale negative", "rope_parameters.mscale", [](auto& c) { use_yarn(c); c.rope_parameters.mscale = -1.0; }},
        {"yarn mscale_all_dim negative", "rope_parameters.mscale_all_dim",
         [](auto& c) { use_yarn(c); c.rope_parameters.mscale_all_dim = -0.1; }},
        {"yarn attention_factor 0", "rope_parameters.attention_factor",
         [](auto& c) { use_yarn(c); c.rope_parameters.attention_factor = 0.0; }},
        {"yarn attention_factor inf", "rope_parameters.attention_factor",
         [](auto& c) { use_yarn(c); c.rope_parameters.attention_factor = infinity; }},
        // token ids
        {"pad id = vocab", "pad_token_id", [](auto& c) { c.pad_token_id = 512; }},
        {"pad id negative", "pad_token_id", [](auto& c) { c.pad_token_id = -1; }},
        {"bos id = vocab", "bos_token_id", [](auto& c) { c.bos_token_id = 512; }},
        {"an eos id out of range", "eos_token_id", [](auto& c) { c.eos_token_id = {2, 600}; }},
        // classification
        {"num_labels 0", "num_labels", [](auto& c) { c.num_labels = 0; }},
        {"id2label size", "id2label", [](auto& c) { c.num_labels = 3; c.id2label = {{0, "a"}, {1, "b"}}; }},
        {"id2label id out of range", "id2label", [](auto& c) { c.num_labels = 2; c.id2label = {{0, "a"}, {2, "b"}}; }},
        {"unknown problem_type", "problem_type", [](auto& c) { c.problem_type = "ranking"; }},
    };
    for (const auto& rc : cases) {
        DeepseekV2Config c = tiny();
        rc.mutate(c);
        INFO(rc.what);
        CHECK(broken_field(c) == rc.field);
        CHECK_THROWS_WITH(checked(c), Catch::Contains(rc.field));
        CHECK_THROWS_AS(checked(c), dsv2::config_error);
    }
}

TEST_CASE("config: validate accepts the legitimate variants", "[config][validate]") {
    const std::vector<rule_case> cases = {
        {"dense model: no experts, no top-k", "",
         [](auto& c) { c.n_routed_experts = 0; c.num_experts_per_tok.reset(); c.moe_intermediate_size = 0; }},
        {"all layers MoE: no dense width needed", "", [](auto& c) { c.first_k_dense_replace = 0; c.intermediate_size = 0; }},
        {"dense prefix covers every layer: MoE fields unused", "",
         [](auto& c) { c.first_k_dense_replace = 3; c.num_experts_per_tok.reset(); c.scoring_func = "sigmoid"; }},
        {"moe_layer_freq 2", "", [](auto& c) { c.moe_layer_freq = 2; }},
        {"plain q_proj", "", [](auto& c) { c.q_lora_rank.reset(); }},
        {"kv heads set and equal", "", [](auto& c) { c.num_key_value_heads = 4; }},
        {"no shared experts (null)", "", [](auto& c) { c.n_shared_experts.reset(); }},
        {"no shared experts (0)", "", [](auto& c) { c.n_shared_experts = 0; }},
        {"greedy, groups unset", "", [](auto& c) { c.n_group.reset(); c.topk_group.reset(); }},
        {"greedy, groups 1/1", "", [](auto& c) { c.n_group = 1; c.topk_group = 1; }},
        {"group_limited_greedy", "", [](auto& c) { use_grouped(c); c.num_experts_per_tok = 4; }},
        {"top-k = E", "", [](auto& c) { c.num_experts_per_tok = 8; }},
        {"gelu", "", [](auto& c) { c.hidden_act = "gelu"; }},
        {"gelu_pytorch_tanh", "", [](auto& c) { c.hidden_act = "gelu_pytorch_tanh"; }},
        {"gelu_new", "", [](auto& c) { c.hidden_act = "gelu_new"; }},
        {"relu", "", [](auto& c) { c.hidden_act = "relu"; }},
        {"swish", "", [](auto& c) { c.hidden_act = "swish"; }},
        {"yarn", "", use_yarn},
        {"yarn, factor derived", "", [](auto& c) { use_yarn(c); c.rope_parameters.factor.reset(); }},
        {"yarn, factor 1", "", [](auto& c) { use_yarn(c); c.rope_parameters.factor = 1.0; }},
        {"yarn, no original but a factor", "",
         [](auto& c) { use_yarn(c); c.rope_parameters.original_max_position_embeddings.reset(); }},
        {"yarn, mscales 0", "", [](auto& c) { use_yarn(c); c.rope_parameters.mscale = 0.0; c.rope_parameters.mscale_all_dim = 0.0; }},
        {"pad, bos and eos ids", "", [](auto& c) { c.pad_token_id = 0; c.bos_token_id = 511; c.eos_token_id = {1, 2, 511}; }},
        {"no bos, no eos", "", [](auto& c) { c.bos_token_id.reset(); c.eos_token_id.clear(); }},
        {"labels", "", [](auto& c) { c.num_labels = 3; c.id2label = {{0, "a"}, {1, "b"}, {2, "c"}}; }},
        {"regression", "", [](auto& c) { c.num_labels = 1; c.problem_type = "regression"; }},
        {"single label", "", [](auto& c) { c.problem_type = "single_label_classification"; }},
        {"multi label", "", [](auto& c) { c.problem_type = "multi_label_classification"; }},
        {"attention dropout 0.1", "", [](auto& c) { c.attention_dropout = 0.1; }},
    };
    for (const auto& rc : cases) {
        DeepseekV2Config c = tiny();
        rc.mutate(c);
        INFO(rc.what);
        CHECK_NOTHROW(checked(c));
    }
}

TEST_CASE("config: transformers' default config lacks num_experts_per_tok", "[config][validate]") {
    // transformers' defaults make every layer MoE with top-k None, which cannot run.
    const DeepseekV2Config defaults{};
    CHECK(broken_field(defaults) == "num_experts_per_tok");
    DeepseekV2Config fixed{};
    fixed.num_experts_per_tok = 6;
    CHECK_NOTHROW(fixed.validate());
}

TEST_CASE("config: softmax_scale under yarn includes m^2", "[config]") {
    for (const auto& c : {dsv2::presets::deepseek_v2(), dsv2::presets::deepseek_v2_lite()}) {
        CHECK(std::abs(c.softmax_scale() - 0.1147213867929261) < 1e-12);
        CHECK(c.yarn_factor() == 40.0);
    }
    DeepseekV2Config c = tiny();
    use_yarn(c);
    CHECK(c.softmax_scale() == Approx(1.0 / std::sqrt(24.0)).epsilon(1e-15));  // no mscale_all_dim: no m^2
    c.rope_parameters.mscale_all_dim = 1.0;
    const double m = 0.1 * std::log(4.0) + 1.0;
    CHECK(c.softmax_scale() == Approx(m * m / std::sqrt(24.0)).epsilon(1e-15));
}

TEST_CASE("config: routing fields are the router's to check, not validate()'s", "[config][validate]") {
    dsv2::DeepseekV2Config c = dsv2::presets::deepseek_v2_lite();
    c.topk_method = "noaux_tc";  // V3's router: unknown to DeepSeek-V2's routers, but no rule of the shared math
    c.scoring_func = "sigmoid";
    CHECK_NOTHROW(c.validate());
    CHECK_THROWS_WITH(dsv2::router_from_config::check(c), Catch::Contains("topk_method") && Catch::Contains("noaux_tc"));
    c.topk_method = "greedy";
    CHECK_THROWS_WITH(dsv2::router_greedy::check(c), Catch::Contains("scoring_func") && Catch::Contains("sigmoid"));
}
