// The configurations of the released DeepSeek-V2 models, field for field as their hub config.json
// files (examples/models/*/config.json hold those files; the tests read them and compare).
//
//     auto cfg = dsv2::presets::deepseek_v2_lite();   // 15.7B total, 2.4B active per token
//     cfg.num_hidden_layers = 4;                       // a cut-down variant for experiments
#pragma once

#include "dsv2/config.hpp"

namespace dsv2 {

namespace detail {
/// What both models share: vocabulary, MLA head sizes, yarn rope, layer layout, training keys.
inline DeepseekV2Config deepseek_v2_common_preset() {
    DeepseekV2Config c;
    c.vocab_size = 102400;
    c.max_position_embeddings = 163840;
    c.hidden_act = "silu";
    c.initializer_range = 0.02;
    c.rms_norm_eps = 1e-6;
    c.use_cache = true;
    c.pad_token_id = std::nullopt;  // the hub files have none
    c.bos_token_id = 100000;
    c.eos_token_id = {100001};
    c.tie_word_embeddings = false;
    c.rope_parameters = RopeParameters{
        .rope_type = "yarn",
        .rope_theta = 10000.0,
        .factor = 40.0,
        .original_max_position_embeddings = 4096,
        .beta_fast = 32.0,
        .beta_slow = 1.0,
        .mscale = 0.707,
        .mscale_all_dim = 0.707,
    };
    c.attention_bias = false;
    c.attention_dropout = 0.0;
    c.mlp_bias = false;
    c.first_k_dense_replace = 1;
    c.kv_lora_rank = 512;
    c.qk_nope_head_dim = 128;
    c.qk_rope_head_dim = 64;
    c.v_head_dim = 128;
    c.n_shared_experts = 2;
    c.num_experts_per_tok = 6;
    c.norm_topk_prob = false;
    c.scoring_func = "softmax";
    c.moe_layer_freq = 1;
    c.aux_loss_alpha = 0.001;
    c.seq_aux = true;
    c.ep_size = 1;
    c.pretraining_tp = 1;
    c.torch_dtype = "bfloat16";
    return c;
}
}  // namespace detail

namespace presets {

/// DeepSeek-V2 (236B total, 21B active): 60 layers, 128 heads, q_lora_rank 1536, 160 routed experts
/// chosen by group_limited_greedy (8 groups, best 3), routed_scaling_factor 16.
inline DeepseekV2Config deepseek_v2() {
    DeepseekV2Config c = detail::deepseek_v2_common_preset();
    c.hidden_size = 5120;
    c.intermediate_size = 12288;
    c.num_hidden_layers = 60;
    c.num_attention_heads = 128;
    c.num_key_value_heads = 128;
    c.q_lora_rank = 1536;
    c.n_routed_experts = 160;
    c.moe_intermediate_size = 1536;
    c.topk_method = "group_limited_greedy";
    c.n_group = 8;
    c.topk_group = 3;
    c.routed_scaling_factor = 16.0;
    return c;
}

/// DeepSeek-V2-Lite (15.7B total, 2.4B active): 27 layers, 16 heads, no query compression (plain
/// q_proj), 64 routed experts chosen greedily.
inline DeepseekV2Config deepseek_v2_lite() {
    DeepseekV2Config c = detail::deepseek_v2_common_preset();
    c.hidden_size = 2048;
    c.intermediate_size = 10944;
    c.num_hidden_layers = 27;
    c.num_attention_heads = 16;
    c.num_key_value_heads = 16;
    c.q_lora_rank = std::nullopt;
    c.n_routed_experts = 64;
    c.moe_intermediate_size = 1408;
    c.topk_method = "greedy";
    c.n_group = 1;
    c.topk_group = 1;
    c.routed_scaling_factor = 1.0;
    return c;
}

}  // namespace presets
}  // namespace dsv2
