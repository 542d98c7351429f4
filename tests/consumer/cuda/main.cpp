// A host application mixing C++ and CUDA translation units that both include <dsv2/model.hpp>.
// Without a GPU it still builds, links and runs its host part (this is a build/consumption test).
#include "kernel.hpp"

#include <dsv2/model.hpp>

#include <cstdio>
#include <exception>
#include <string>

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
    std::printf("dsv2 %s: d_qk %lld, softmax scale %.6f\n", dsv2::version_string,
                static_cast<long long>(cfg.qk_head_dim()), cfg.softmax_scale());
    try {
        std::string why;
        if (scale_on_device(cfg, 1000, why))
            std::printf("device part: OK\n");
        else
            std::printf("device part: not run, no CUDA device (%s)\n", why.c_str());
    } catch (const std::exception& e) {
        std::printf("FAILED: %s\n", e.what());
        return 1;
    }
    return 0;
}
