// A host application that builds dsv2 as part of its own tree (add_subdirectory). Prints the version
// and the sizes of a tiny config, and checks that validate() rejects a broken one.
#include <dsv2/model.hpp>

#include <cstdio>

int main() {
    dsv2::DeepseekV2Config cfg{
        .vocab_size = 512,
        .hidden_size = 64,
        .intermediate_size = 128,
        .num_hidden_layers = 2,
        .num_attention_heads = 4,
        .first_k_dense_replace = 1,
        .kv_lora_rank = 16,
        .q_lora_rank = 32,
        .n_routed_experts = 8,
        .qk_nope_head_dim = 16,
        .qk_rope_head_dim = 8,
        .v_head_dim = 16,
        .num_experts_per_tok = 2,
        .moe_intermediate_size = 32,
    };
    cfg.validate();
    std::printf("dsv2 %s: %lld layers (layer 1 MoE: %s), d_qk %lld, softmax scale %.6f\n", dsv2::version_string,
                static_cast<long long>(cfg.num_hidden_layers), cfg.is_moe_layer(1) ? "yes" : "no",
                static_cast<long long>(cfg.qk_head_dim()), cfg.softmax_scale());

    cfg.qk_rope_head_dim = 7;  // odd: rope needs pairs
    try {
        cfg.validate();
    } catch (const dsv2::config_error& e) {
        std::printf("rejected as expected: %s\n", e.what());
        return 0;
    }
    std::printf("FAILED: validate() accepted qk_rope_head_dim = 7\n");
    return 1;
}
