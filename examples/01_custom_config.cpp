// 01 — A small research config built in code, randomly initialised, run forward.
//
// Prints the shapes of what comes out and the loss on random labels (about ln(vocab) for an
// untrained model).
#include <cmath>
#include <cstdio>
#include <random>

#include <dsv2/model.hpp>

int main() try {
    // A tiny DeepSeek-V2: MLA with a query LoRA, one dense layer, then MoE layers with 8 routed
    // experts in 4 groups (group-limited routing) and a shared expert, yarn rope.
    dsv2::DeepseekV2Config cfg{
        .vocab_size = 1000,
        .hidden_size = 128,
        .intermediate_size = 256,
        .num_hidden_layers = 3,
        .num_attention_heads = 4,
        .max_position_embeddings = 4096,
        .first_k_dense_replace = 1,
        .kv_lora_rank = 64,
        .q_lora_rank = 96,
        .n_group = 4,
        .n_routed_experts = 8,
        .n_shared_experts = 1,
        .qk_nope_head_dim = 32,
        .qk_rope_head_dim = 16,
        .routed_scaling_factor = 2.0,
        .topk_group = 2,
        .topk_method = "group_limited_greedy",
        .v_head_dim = 32,
        .num_experts_per_tok = 2,
        .moe_intermediate_size = 64,
    };
    cfg.rope_parameters = {.rope_type = "yarn", .factor = 4.0, .original_max_position_embeddings = 1024,
                           .mscale = 0.707, .mscale_all_dim = 0.707};

    const auto model = dsv2::DeepseekV2ForCausalLM<>::from_config(cfg, /*seed=*/42);

    const std::int64_t batch = 2, seq = 16;
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<std::int64_t> token(0, cfg.vocab_size - 1);
    dsv2::tensor<std::int64_t> ids({batch, seq});
    for (auto& id : ids.values()) id = token(rng);
    const dsv2::labels_t labels = ids;  // next-token targets: the ids themselves, shifted inside

    const auto out = model.forward({.input_ids = &ids, .output_hidden_states = true, .labels = &labels});

    std::printf("logits         %s\n", dsv2::to_string(out.logits.shape()).c_str());
    std::printf("hidden states  %zu x %s\n", out.hidden_states.size(), dsv2::to_string(out.hidden_states[0].shape()).c_str());
    std::printf("loss           %.4f (ln vocab = %.4f)\n", static_cast<double>(*out.loss), std::log(double(cfg.vocab_size)));
    return 0;
} catch (const dsv2::error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
