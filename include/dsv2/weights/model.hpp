// All weights of a DeepSeek-V2 model, over any storage S (weights/storage.hpp), for the router and
// expert-MLP policies of a spec (their parameters are the policies' own `weights<S>` types).
//
//   model_weights<host_storage, R, E>     what the loader fills (models/pretrained.hpp)
//   model_weights<cuda_storage<W>, R, E>  its device copy (backend/cuda/storage.cuh: upload)
//
// visit_parameters(prefix, f, trees...) is the single list of checkpoint names: it calls
// f(name, kind, parameter of each tree...) over one tree or several of the same shape in lockstep,
// and serves loading, random initialisation, saving and the host→device upload.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "dsv2/config.hpp"
#include "dsv2/models/model_head.hpp"
#include "dsv2/weights/linear.hpp"
#include "dsv2/weights/mla.hpp"
#include "dsv2/weights/moe.hpp"

namespace dsv2 {

/// One pre-norm decoder layer: x += attn(input_layernorm(x)); x += ffn(post_attention_layernorm(x)),
/// ffn the dense gated MLP or the MoE layer (DeepseekV2Config::is_moe_layer).
template <class S, class Router, class ExpertMLP>
struct decoder_layer_weights {
    using moe_type = moe_weights<S, Router, ExpertMLP>;

    vector_t<S> input_layernorm;           // [H]
    vector_t<S> post_attention_layernorm;  // [H]
    mla_weights<S> self_attn;
    std::variant<gated_mlp<S>, moe_type> mlp;  // dense, or MoE

    bool is_moe() const noexcept { return std::holds_alternative<moe_type>(mlp); }

    static decoder_layer_weights allocate(const DeepseekV2Config& cfg, std::int64_t i) {
        decoder_layer_weights L{S::vector_of(cfg.hidden_size, 1.0f), S::vector_of(cfg.hidden_size, 1.0f),
                                mla_weights<S>::allocate(cfg), gated_mlp<S>{}};
        if (cfg.is_moe_layer(i))
            L.mlp = moe_type::allocate(cfg);
        else
            L.mlp = gated_mlp<S>::allocate(cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias);
        return L;
    }

    template <class F, class... Trees>
    static void visit(const std::string& p, F&& f, Trees&... t) {
        f(p + ".input_layernorm.weight", parameter_kind::norm, t.input_layernorm...);
        f(p + ".post_attention_layernorm.weight", parameter_kind::norm, t.post_attention_layernorm...);
        mla_weights<S>::visit(p + ".self_attn", f, t.self_attn...);
        if (detail::first_tree(t...).is_moe())
            moe_type::visit(p + ".mlp", f, std::get<1>(t.mlp)...);
        else
            gated_mlp<S>::visit(p + ".mlp", f, std::get<0>(t.mlp)...);
    }
};

template <class S, class Router, class ExpertMLP>
struct model_weights {
    using storage = S;
    using router = Router;
    using expert_mlp = ExpertMLP;
    using layer_type = decoder_layer_weights<S, Router, ExpertMLP>;
    /// The same tree over another storage (the device copy of host weights).
    template <class S2>
    using rebind = model_weights<S2, Router, ExpertMLP>;

    matrix_t<S> embed_tokens;  // [vocab, H]
    std::vector<layer_type> layers;
    vector_t<S> norm;                    // [H]
    std::optional<matrix_t<S>> lm_head;  // [vocab, H]; absent when tied or for other heads
    std::optional<matrix_t<S>> score;    // [num_labels, H] (sequence classification)

    /// lm_head, or the embeddings when they are tied.
    const matrix_t<S>& output_embeddings() const noexcept { return lm_head ? *lm_head : embed_tokens; }

    /// Weights of the right shapes for `cfg`, ready to be filled by a loader, an initialiser or an
    /// upload: matrices have a shape but no storage yet, norms are ones, biases zeros.
    static model_weights allocate(const DeepseekV2Config& cfg, model_head head) {
        model_weights w{S::template shape_only<as_loaded>(cfg.vocab_size, cfg.hidden_size), {},
                        S::vector_of(cfg.hidden_size, 1.0f), {}, {}};
        w.layers.reserve(static_cast<std::size_t>(cfg.num_hidden_layers));
        for (std::int64_t i = 0; i < cfg.num_hidden_layers; ++i) w.layers.push_back(layer_type::allocate(cfg, i));
        if (head == model_head::causal_lm && !cfg.tie_word_embeddings)
            w.lm_head = S::template shape_only<as_loaded>(cfg.vocab_size, cfg.hidden_size);
        if (head == model_head::sequence_classification)
            w.score = S::template shape_only<as_loaded>(cfg.num_labels, cfg.hidden_size);
        return w;
    }

    /// Checkpoint names under `prefix` ("model." for models with a head); lm_head and score at the top.
    template <class F, class... Trees>
    static void visit(const std::string& prefix, F&& f, Trees&... t) {
        f(prefix + "embed_tokens.weight", parameter_kind::weight, t.embed_tokens...);
        const std::size_t L = detail::first_tree(t...).layers.size();
        for (std::size_t i = 0; i < L; ++i) layer_type::visit(prefix + "layers." + std::to_string(i), f, t.layers[i]...);
        f(prefix + "norm.weight", parameter_kind::norm, t.norm...);
        if (detail::first_tree(t...).lm_head) f("lm_head.weight", parameter_kind::weight, *t.lm_head...);
        if (detail::first_tree(t...).score) f("score.weight", parameter_kind::weight, *t.score...);
    }
};

/// f(name, kind, parameter...) for every parameter of `tree` (and of `others`, visited in
/// lockstep: trees of one shape over other storages), under transformers' checkpoint names with
/// routed experts one by one. `prefix` is "model." for models with a head.
template <class Tree, class F, class... Others>
void visit_parameters(const std::string& prefix, F&& f, Tree& tree, Others&... others) {
    std::remove_const_t<Tree>::visit(prefix, f, tree, others...);
}

}  // namespace dsv2
