// DeepseekV2Config: the run-time sizes and options of a DeepSeek-V2 model.
//
// Field names and defaults are those of transformers' DeepseekV2Config, plus the keys that the
// original hub files carry (scoring_func, moe_layer_freq, aux_loss_alpha, seq_aux, ep_size,
// pretraining_tp, torch_dtype) and the classification keys. It is an aggregate, so research configs
// are written with C++20 designated initialisers:
//
//     dsv2::DeepseekV2Config cfg{.vocab_size = 512, .hidden_size = 64, .num_hidden_layers = 2};
//
// Reading and writing config.json lives in <dsv2/io/config_json.hpp>; presets of the real models in
// <dsv2/models/presets.hpp>.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dsv2/core/error.hpp"

namespace dsv2 {

/// Rotary embedding settings: transformers v5's `rope_parameters`, or the hub's `rope_theta` +
/// `rope_scaling` (both spellings are read; see io/config_json.hpp).
struct RopeParameters {
    std::string rope_type = "default";  ///< "default" or "yarn"
    double rope_theta = 10000.0;
    // yarn only (absent: the formula's default)
    std::optional<double> factor{};                                 ///< default: max_pos / original
    std::optional<std::int64_t> original_max_position_embeddings{};
    std::optional<double> beta_fast{};         ///< default 32
    std::optional<double> beta_slow{};         ///< default 1
    std::optional<double> mscale{};            ///< numerator of the attention factor
    std::optional<double> mscale_all_dim{};    ///< denominator; also the softmax m^2 correction
    std::optional<double> attention_factor{};  ///< overrides the mscale ratio when set
    std::optional<bool> truncate{};            ///< default true

    bool operator==(const RopeParameters&) const = default;
};

struct DeepseekV2Config {
    // --- transformers' DeepseekV2Config -----------------------------------------------------
    std::int64_t vocab_size = 32000;
    std::int64_t hidden_size = 4096;
    std::int64_t intermediate_size = 11008;
    std::int64_t num_hidden_layers = 32;
    std::int64_t num_attention_heads = 32;
    std::optional<std::int64_t> num_key_value_heads{};  ///< None means num_attention_heads
    std::string hidden_act = "silu";
    std::int64_t max_position_embeddings = 2048;
    double initializer_range = 0.02;
    double rms_norm_eps = 1e-6;
    bool use_cache = true;
    std::optional<std::int64_t> pad_token_id{};
    std::optional<std::int64_t> bos_token_id = 1;
    std::vector<std::int64_t> eos_token_id = {2};  ///< one id, or several (generation stops on any)
    bool tie_word_embeddings = false;
    RopeParameters rope_parameters{};
    bool attention_bias = false;
    double attention_dropout = 0.0;
    bool mlp_bias = false;
    std::int64_t first_k_dense_replace = 0;
    std::int64_t kv_lora_rank = 512;
    std::optional<std::int64_t> q_lora_rank = 1536;  ///< None: plain q_proj
    std::optional<std::int64_t> n_group{};
    std::int64_t n_routed_experts = 64;  ///< 0 or absent in the file: a dense model
    std::optional<std::int64_t> n_shared_experts = 2;
    std::int64_t qk_nope_head_dim = 128;
    std::int64_t qk_rope_head_dim = 64;
    double routed_scaling_factor = 1.0;
    std::optional<std::int64_t> topk_group{};
    std::string topk_method = "greedy";
    bool norm_topk_prob = false;
    std::int64_t v_head_dim = 128;
    std::optional<std::int64_t> num_experts_per_tok{};  ///< None: a dense model
    std::int64_t moe_intermediate_size = 1407;

    // --- keys of the original hub files that transformers drops ----------------------------
    std::string scoring_func = "softmax";
    std::int64_t moe_layer_freq = 1;
    double aux_loss_alpha = 0.001;
    bool seq_aux = true;
    std::int64_t ep_size = 1;
    std::int64_t pretraining_tp = 1;
    std::optional<std::string> torch_dtype{};  ///< "bfloat16", "float32", ... (v5 spells it `dtype`)

    // --- sequence classification -------------------------------------------------------------
    std::int64_t num_labels = 2;
    std::map<std::int64_t, std::string> id2label{};  ///< empty: LABEL_0 .. LABEL_{n-1}
    std::optional<std::string> problem_type{};         ///< regression, single_label_classification, multi_label_classification

    bool operator==(const DeepseekV2Config&) const = default;

    // --- derived sizes (the paper's symbols) ---------------------------------------------------
    std::int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }  // d_qk
    std::int64_t kv_heads() const { return num_key_value_heads.value_or(num_attention_heads); }

    /// Layer i uses the MoE block iff it is past the dense prefix and on the MoE stride
    /// (DeepSeek's original rule; identical to transformers' when moe_layer_freq == 1).
    bool is_moe_layer(std::int64_t layer) const {
        return n_routed_experts > 0 && layer >= first_k_dense_replace && moe_layer_freq > 0 &&
               layer % moe_layer_freq == 0;
    }

    /// How many layers are MoE (is_moe_layer counted in closed form, without a loop over layers).
    std::int64_t num_moe_layers() const {
        const std::int64_t first = first_k_dense_replace > 0 ? first_k_dense_replace : 0;
        if (n_routed_experts <= 0 || moe_layer_freq <= 0 || first >= num_hidden_layers) return 0;
        // multiples of moe_layer_freq in [first, num_hidden_layers)
        const std::int64_t first_multiple = first / moe_layer_freq + (first % moe_layer_freq != 0 ? 1 : 0);
        return (num_hidden_layers - 1) / moe_layer_freq - first_multiple + 1;
    }

    /// Width of the shared-expert MLP (0 when there is none).
    std::int64_t shared_intermediate_size() const {
        return n_shared_experts.value_or(0) * moe_intermediate_size;
    }

    /// Softmax scale of MLA: d_qk^-1/2, times m^2 under yarn with mscale_all_dim (DeepSeek's rule).
    double softmax_scale() const {
        double s = 1.0 / std::sqrt(static_cast<double>(qk_head_dim()));
        const auto& r = rope_parameters;
        if (r.rope_type == "yarn" && r.mscale_all_dim.has_value()) {
            const double f = yarn_factor();
            if (f > 1.0) {
                const double m = 0.1 * *r.mscale_all_dim * std::log(f) + 1.0;
                s *= m * m;
            }
        }
        return s;
    }

    /// The yarn factor, defaulting to max_position_embeddings / original_max_position_embeddings.
    double yarn_factor() const {
        const auto& r = rope_parameters;
        if (r.factor) return *r.factor;
        if (r.original_max_position_embeddings && *r.original_max_position_embeddings > 0)
            return static_cast<double>(max_position_embeddings) /
                   static_cast<double>(*r.original_max_position_embeddings);
        return 1.0;
    }

    /// Checks every rule the math needs; throws config_error naming the field and the rule.
    void validate() const;  // defined in config_validate.hpp (included below)
};

}  // namespace dsv2

#include "dsv2/config_validate.hpp"
