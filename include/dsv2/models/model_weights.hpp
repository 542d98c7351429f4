// All weights of a DeepSeek-V2 model, held once and read-only after loading.
#pragma once

#include <optional>
#include <type_traits>
#include <vector>

#include "dsv2/config.hpp"
#include "dsv2/layers/decoder_layer.hpp"
#include "dsv2/models/model_head.hpp"

namespace dsv2 {

struct cpu_model_weights {
    cpu_weight embed_tokens;  // [vocab, H]
    std::vector<cpu_decoder_layer_weights> layers;
    cpu::vector norm;                  // [H]
    std::optional<cpu_weight> lm_head;  // [vocab, H]; absent when tied or for other heads
    std::optional<cpu_weight> score;    // [num_labels, H] (sequence classification)

    /// lm_head, or the embeddings when they are tied.
    const cpu_weight& output_embeddings() const noexcept { return lm_head ? *lm_head : embed_tokens; }

    /// Bytes of all matrices as stored (fp32 or bf16).
    std::size_t matrix_bytes() const;
};

namespace detail {
inline cpu_linear make_linear(std::int64_t out, std::int64_t in, bool bias) {
    cpu_linear l;
    l.weight = cpu_weight::shape_only(out, in);
    if (bias) l.bias = cpu::vector::Zero(out);
    return l;
}
inline cpu_gated_mlp make_gated_mlp(std::int64_t hidden, std::int64_t inter, bool bias) {
    return {make_linear(inter, hidden, bias), make_linear(inter, hidden, bias), make_linear(hidden, inter, bias)};
}
}  // namespace detail


/// Weights of the right shapes for `cfg`, ready to be filled by a loader or an initialiser: matrices
/// have a shape but no storage yet (a loader may map them from the checkpoint), norms are ones,
/// biases zeros.
inline cpu_model_weights allocate_weights(const DeepseekV2Config& cfg, model_head head) {
    using detail::make_gated_mlp;
    using detail::make_linear;
    const std::int64_t H = cfg.hidden_size, nh = cfg.num_attention_heads;
    cpu_model_weights w;
    w.embed_tokens = cpu_weight::shape_only(cfg.vocab_size, H);
    w.norm = cpu::vector::Ones(H);
    w.layers.resize(static_cast<std::size_t>(cfg.num_hidden_layers));
    for (std::int64_t i = 0; i < cfg.num_hidden_layers; ++i) {
        auto& L = w.layers[static_cast<std::size_t>(i)];
        L.input_layernorm = cpu::vector::Ones(H);
        L.post_attention_layernorm = cpu::vector::Ones(H);
        auto& a = L.self_attn;
        if (cfg.q_lora_rank) {
            a.q_a_proj = make_linear(*cfg.q_lora_rank, H, cfg.attention_bias);
            a.q_a_layernorm = cpu::vector::Ones(*cfg.q_lora_rank);
            a.q_b_proj = make_linear(nh * cfg.qk_head_dim(), *cfg.q_lora_rank, false);
        } else {
            a.q_proj = make_linear(nh * cfg.qk_head_dim(), H, false);
        }
        a.kv_a_proj_with_mqa = make_linear(cfg.kv_lora_rank + cfg.qk_rope_head_dim, H, cfg.attention_bias);
        a.kv_a_layernorm = cpu::vector::Ones(cfg.kv_lora_rank);
        a.kv_b_proj = make_linear(nh * (cfg.qk_nope_head_dim + cfg.v_head_dim), cfg.kv_lora_rank, false);
        a.o_proj = make_linear(H, nh * cfg.v_head_dim, cfg.attention_bias);
        if (cfg.is_moe_layer(i)) {
            cpu_moe_weights m;
            m.gate = cpu_weight::shape_only(cfg.n_routed_experts, H);
            m.experts.reserve(static_cast<std::size_t>(cfg.n_routed_experts));
            for (std::int64_t e = 0; e < cfg.n_routed_experts; ++e)
                m.experts.push_back(make_gated_mlp(H, cfg.moe_intermediate_size, false));
            if (cfg.shared_intermediate_size() > 0)
                m.shared_experts = make_gated_mlp(H, cfg.shared_intermediate_size(), cfg.mlp_bias);
            L.mlp = std::move(m);
        } else {
            L.mlp = make_gated_mlp(H, cfg.intermediate_size, cfg.mlp_bias);
        }
    }
    if (head == model_head::causal_lm && !cfg.tie_word_embeddings) w.lm_head = cpu_weight::shape_only(cfg.vocab_size, H);
    if (head == model_head::sequence_classification) w.score = cpu_weight::shape_only(cfg.num_labels, H);
    return w;
}

/// What a parameter is, for initialisation: Linear/embedding weights are drawn from
/// normal(0, initializer_range), norm weights are 1, biases 0.
enum class parameter_kind { weight, norm, bias };

/// Calls f(name, parameter, kind) for every parameter under its checkpoint name (transformers'
/// names, routed experts one by one); `parameter` is a cpu_weight (matrices) or a cpu::vector
/// (norms, biases), const when `w` is. `prefix` is "model." for models with a head.
template <class Weights, class F>
void visit_parameters(Weights& w, const DeepseekV2Config& cfg, const std::string& prefix, F&& f) {
    auto mat = [&](const std::string& name, auto& m, parameter_kind k) { f(name, m, k); };
    auto vec = [&](const std::string& name, auto& v, parameter_kind k) { f(name, v, k); };
    auto lin = [&](const std::string& name, auto& l) {
        mat(name + ".weight", l.weight, parameter_kind::weight);
        if (l.has_bias()) vec(name + ".bias", l.bias, parameter_kind::bias);
    };
    auto mlp = [&](const std::string& name, auto& m) {
        lin(name + ".gate_proj", m.gate_proj);
        lin(name + ".up_proj", m.up_proj);
        lin(name + ".down_proj", m.down_proj);
    };
    mat(prefix + "embed_tokens.weight", w.embed_tokens, parameter_kind::weight);
    for (std::size_t i = 0; i < w.layers.size(); ++i) {
        auto& L = w.layers[i];
        const std::string p = prefix + "layers." + std::to_string(i) + ".";
        vec(p + "input_layernorm.weight", L.input_layernorm, parameter_kind::norm);
        vec(p + "post_attention_layernorm.weight", L.post_attention_layernorm, parameter_kind::norm);
        auto& a = L.self_attn;
        if (a.q_proj) {
            lin(p + "self_attn.q_proj", *a.q_proj);
        } else {
            lin(p + "self_attn.q_a_proj", *a.q_a_proj);
            vec(p + "self_attn.q_a_layernorm.weight", a.q_a_layernorm, parameter_kind::norm);
            lin(p + "self_attn.q_b_proj", *a.q_b_proj);
        }
        lin(p + "self_attn.kv_a_proj_with_mqa", a.kv_a_proj_with_mqa);
        vec(p + "self_attn.kv_a_layernorm.weight", a.kv_a_layernorm, parameter_kind::norm);
        lin(p + "self_attn.kv_b_proj", a.kv_b_proj);
        lin(p + "self_attn.o_proj", a.o_proj);
        if (auto* m = std::get_if<cpu_moe_weights>(&L.mlp)) {
            mat(p + "mlp.gate.weight", m->gate, parameter_kind::weight);
            for (std::size_t e = 0; e < m->experts.size(); ++e) mlp(p + "mlp.experts." + std::to_string(e), m->experts[e]);
            if (m->shared_experts) mlp(p + "mlp.shared_experts", *m->shared_experts);
        } else {
            mlp(p + "mlp", std::get<cpu_gated_mlp>(L.mlp));
        }
    }
    vec(prefix + "norm.weight", w.norm, parameter_kind::norm);
    if (w.lm_head) mat("lm_head.weight", *w.lm_head, parameter_kind::weight);
    if (w.score) mat("score.weight", *w.score, parameter_kind::weight);
    (void)cfg;
}

inline std::size_t cpu_model_weights::matrix_bytes() const {
    std::size_t n = 0;
    visit_parameters(*this, DeepseekV2Config{}, "model.", [&](const std::string&, const auto& p, parameter_kind) {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(p)>, cpu_weight>) n += p.bytes();
    });
    return n;
}

}  // namespace dsv2
