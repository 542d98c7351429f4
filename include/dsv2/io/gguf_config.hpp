// DeepseekV2Config from the metadata of a GGUF file of architecture `deepseek2` (llama.cpp's name
// for DeepSeek-V2, V2-Lite, V2.5 and V3), and back.
//
// The keys are llama.cpp's (src/llama-arch.cpp, written by its convert_hf_to_gguf.py); each maps
// to a transformers config field:
//
//   deepseek2.block_count                     num_hidden_layers
//   deepseek2.context_length                  max_position_embeddings
//   deepseek2.embedding_length                hidden_size
//   deepseek2.feed_forward_length             intermediate_size
//   deepseek2.vocab_size                      vocab_size (absent: the length of tokenizer.ggml.tokens,
//                                             else token_embd's rows)
//   deepseek2.attention.head_count            num_attention_heads (= num_key_value_heads: the file's
//                                             head_count_kv is MLA's single latent "head", ignored)
//   deepseek2.attention.layer_norm_rms_epsilon rms_norm_eps
//   deepseek2.attention.q_lora_rank           q_lora_rank (absent: none, a plain q_proj)
//   deepseek2.attention.kv_lora_rank          kv_lora_rank
//   deepseek2.attention.key_length_mla        qk_nope_head_dim + qk_rope_head_dim  (files written
//   deepseek2.attention.value_length_mla      v_head_dim                            since MLA support;
//                                             older files: key_length / value_length hold these)
//   deepseek2.rope.dimension_count            qk_rope_head_dim
//   deepseek2.rope.freq_base                  rope_theta (default 10000)
//   deepseek2.rope.scaling.type               "yarn" → rope_type yarn; "none"/absent → default
//   deepseek2.rope.scaling.factor             factor
//   deepseek2.rope.scaling.original_context_length  original_max_position_embeddings
//   deepseek2.rope.scaling.yarn_log_multiplier 0.1 · mscale_all_dim; mscale is not stored and is
//                                             taken equal to mscale_all_dim, as llama.cpp does for
//                                             deepseek2 (true of V2, V2-Lite, V2.5 and V3)
//   deepseek2.rope.scaling.yarn_beta_fast/slow beta_fast / beta_slow (absent: 32 / 1)
//   deepseek2.leading_dense_block_count       first_k_dense_replace
//   deepseek2.expert_count                    n_routed_experts (absent or 0: dense)
//   deepseek2.expert_used_count               num_experts_per_tok
//   deepseek2.expert_shared_count             n_shared_experts
//   deepseek2.expert_feed_forward_length      moe_intermediate_size
//   deepseek2.expert_weights_scale            routed_scaling_factor (absent: 1)
//   deepseek2.expert_weights_norm             norm_topk_prob (absent: false)
//   deepseek2.expert_gating_func              1 softmax, 2 sigmoid → scoring_func (absent: softmax)
//   deepseek2.expert_group_count / _used_count n_group / topk_group (> 1 groups: group_limited_greedy)
//   tokenizer.ggml.bos/eos/padding_token_id   bos_token_id / eos_token_id / pad_token_id
//   (no `output.weight` tensor)               tie_word_embeddings
//
// A file of another architecture is refused naming it; keys whose value breaks a rule are
// config_errors naming the key. The result is then validated like any config.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "dsv2/config.hpp"
#include "dsv2/io/gguf.hpp"

namespace dsv2 {

namespace detail::gguf_config {

inline constexpr const char* arch = "deepseek2";

inline std::string key(const char* name) { return std::string(arch) + "." + name; }

/// An integer key that must fit a positive (or non-negative) int64.
inline std::int64_t size_key(const io::gguf_file& f, const std::string& k, bool allow_zero = false) {
    const std::uint64_t v = f.get_uint(k);
    if (v > static_cast<std::uint64_t>(INT64_MAX) || (!allow_zero && v == 0))
        throw config_error(k, "must be " + std::string(allow_zero ? "non-negative" : "positive") + " (got " + std::to_string(v) + ")");
    return static_cast<std::int64_t>(v);
}

inline std::optional<std::int64_t> size_key_opt(const io::gguf_file& f, const std::string& k, bool allow_zero = false) {
    if (!f.find(k)) return std::nullopt;
    return size_key(f, k, allow_zero);
}

}  // namespace detail::gguf_config

/// The config of a deepseek2 GGUF file (see the table above).
inline DeepseekV2Config config_from_gguf(const io::gguf_file& f) {
    using namespace detail::gguf_config;
    const std::string architecture(f.get_string("general.architecture"));
    if (architecture != arch)
        throw unsupported_error(f.path() + ": general.architecture is '" + architecture +
                                "'; dsv2 reads only '" + arch + "' (DeepSeek-V2 family) GGUF files");

    DeepseekV2Config c;
    c.num_hidden_layers = size_key(f, key("block_count"));
    c.max_position_embeddings = size_key(f, key("context_length"));
    c.hidden_size = size_key(f, key("embedding_length"));
    c.intermediate_size = size_key(f, key("feed_forward_length"), true);
    c.num_attention_heads = size_key(f, key("attention.head_count"));
    c.num_key_value_heads = c.num_attention_heads;
    c.rms_norm_eps = f.get_float(key("attention.layer_norm_rms_epsilon"));
    c.q_lora_rank = size_key_opt(f, key("attention.q_lora_rank"), true);
    if (c.q_lora_rank && *c.q_lora_rank == 0) c.q_lora_rank.reset();  // 0: no q LoRA
    c.kv_lora_rank = size_key(f, key("attention.kv_lora_rank"));
    c.qk_rope_head_dim = size_key(f, key("rope.dimension_count"));

    // head sizes: the *_mla keys when present (MLA-era converters write key_length = kv_lora + rope)
    const bool mla_keys = f.find(key("attention.key_length_mla")) != nullptr;
    const std::string k_len = key(mla_keys ? "attention.key_length_mla" : "attention.key_length");
    const std::string v_len = key(mla_keys ? "attention.value_length_mla" : "attention.value_length");
    const std::int64_t qk_head = size_key(f, k_len);
    if (qk_head <= c.qk_rope_head_dim)
        throw config_error(k_len, "must exceed rope.dimension_count (" + std::to_string(c.qk_rope_head_dim) +
                                      "): it is qk_nope_head_dim + qk_rope_head_dim (got " + std::to_string(qk_head) + ")");
    c.qk_nope_head_dim = qk_head - c.qk_rope_head_dim;
    c.v_head_dim = size_key(f, v_len);

    // vocabulary: the key, else the tokenizer's list, else the embedding's rows
    if (auto v = size_key_opt(f, key("vocab_size"))) {
        c.vocab_size = *v;
    } else if (const auto* tokens = f.find("tokenizer.ggml.tokens")) {
        c.vocab_size = static_cast<std::int64_t>(tokens->size());
    } else if (const auto* emb = f.find_tensor("token_embd.weight"); emb && emb->dims.size() == 2) {
        c.vocab_size = static_cast<std::int64_t>(emb->dims[1]);
    } else {
        throw config_error(key("vocab_size"), "is missing, and so are tokenizer.ggml.tokens and token_embd.weight");
    }

    // rotary embedding
    c.rope_parameters.rope_theta = f.get_float_opt(key("rope.freq_base")).value_or(10000.0);
    const std::string scaling(f.get_string_opt(key("rope.scaling.type")).value_or("none"));
    if (scaling == "yarn") {
        auto& r = c.rope_parameters;
        r.rope_type = "yarn";
        r.factor = f.get_float(key("rope.scaling.factor"));
        r.original_max_position_embeddings = size_key(f, key("rope.scaling.original_context_length"));
        if (auto m = f.get_float_opt(key("rope.scaling.yarn_log_multiplier")); m && *m != 0.0) {
            r.mscale_all_dim = *m / 0.1;  // the converter writes 0.1 · mscale_all_dim
            r.mscale = r.mscale_all_dim;   // not stored; llama.cpp's deepseek2 rule
        }
        r.beta_fast = f.get_float_opt(key("rope.scaling.yarn_beta_fast"));
        r.beta_slow = f.get_float_opt(key("rope.scaling.yarn_beta_slow"));
        if (auto a = f.get_float_opt(key("rope.scaling.yarn_attn_factor")); a && *a != 1.0)
            throw unsupported_error(f.path() + ": " + key("rope.scaling.yarn_attn_factor") + " = " + std::to_string(*a) +
                                    " is not supported (DeepSeek-V2 files do not set it)");
        if (auto e = f.get_float_opt(key("rope.scaling.yarn_ext_factor")); e && *e != 1.0 && *e >= 0.0)
            throw unsupported_error(f.path() + ": " + key("rope.scaling.yarn_ext_factor") + " = " + std::to_string(*e) +
                                    " is not supported (DeepSeek-V2 files do not set it)");
    } else if (scaling != "none") {
        throw unsupported_error(f.path() + ": " + key("rope.scaling.type") + " '" + scaling +
                                "' is not supported (DeepSeek-V2 uses 'yarn' or none)");
    }

    // mixture of experts
    c.first_k_dense_replace = size_key_opt(f, key("leading_dense_block_count"), true).value_or(0);
    c.n_routed_experts = size_key_opt(f, key("expert_count"), true).value_or(0);
    if (c.n_routed_experts > 0) {
        c.num_experts_per_tok = size_key(f, key("expert_used_count"));
        c.moe_intermediate_size = size_key(f, key("expert_feed_forward_length"));
        c.n_shared_experts = size_key_opt(f, key("expert_shared_count"), true).value_or(0);
        c.routed_scaling_factor = f.get_float_opt(key("expert_weights_scale")).value_or(1.0);
        c.norm_topk_prob = f.get_bool_opt(key("expert_weights_norm")).value_or(false);
        const std::uint64_t gating = f.get_uint_opt(key("expert_gating_func")).value_or(1);
        if (gating == 1) c.scoring_func = "softmax";
        else if (gating == 2) c.scoring_func = "sigmoid";
        else
            throw config_error(key("expert_gating_func"), "must be 1 (softmax) or 2 (sigmoid), got " + std::to_string(gating));
        const auto groups = size_key_opt(f, key("expert_group_count"), true);
        const auto groups_used = size_key_opt(f, key("expert_group_used_count"), true);
        if (groups && *groups > 1) {
            c.n_group = *groups;
            c.topk_group = groups_used.value_or(*groups);
            c.topk_method = "group_limited_greedy";
        } else {
            c.n_group = 1;
            c.topk_group = 1;
        }
    } else {
        c.num_experts_per_tok.reset();
        c.n_shared_experts.reset();
        c.first_k_dense_replace = 0;
    }

    // special tokens and the head
    auto token_id = [&](const char* name) -> std::optional<std::int64_t> {
        const auto v = f.get_uint_opt(name);
        if (!v) return std::nullopt;
        if (*v >= static_cast<std::uint64_t>(c.vocab_size))
            throw config_error(name, "token id " + std::to_string(*v) + " is outside the vocabulary (" +
                                         std::to_string(c.vocab_size) + ")");
        return static_cast<std::int64_t>(*v);
    };
    c.bos_token_id = token_id("tokenizer.ggml.bos_token_id");
    const auto eos = token_id("tokenizer.ggml.eos_token_id");
    c.eos_token_id = eos ? std::vector<std::int64_t>{*eos} : std::vector<std::int64_t>{};
    c.pad_token_id = token_id("tokenizer.ggml.padding_token_id");
    c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
    c.torch_dtype.reset();
    return c;
}

}  // namespace dsv2
