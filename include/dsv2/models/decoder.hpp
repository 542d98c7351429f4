// DeepseekV2Model: embeddings -> L decoder layers -> final RMSNorm, on the spec's backend.
//
// The weights are loaded on the host (models/pretrained.hpp, for every backend); the model's
// backend_runtime<Spec::backend, W> holds what the backend needs of them (the CPU: nothing more;
// CUDA: a device copy, made once). Each layer calls the spec's policy hooks — attention_impl,
// router_impl and expert_mlp_impl through the MoE layer — and the runtime's primitives; nothing here
// is backend-specific. Inputs and outputs are host tensors whatever the backend.
#pragma once

#include <filesystem>
#include <memory>

#include "dsv2/models/decoder_plan.hpp"
#include "dsv2/models/forward_args.hpp"
#include "dsv2/models/input_checks.hpp"
#include "dsv2/moe/moe_layer.hpp"
#include "dsv2/models/pretrained.hpp"
#include "dsv2/models/gguf_model.hpp"
#include "dsv2/models/spec.hpp"

namespace dsv2 {

template <model_spec Spec = default_spec>
class DeepseekV2Model {
public:
    using spec = Spec;
    using backend = typename Spec::backend;
    using attention = typename Spec::attention;
    using router = typename Spec::router;
    using expert_mlp = typename Spec::expert_mlp;
    using weights_type = spec_weights_t<Spec>;  // host weights, as loaded
    using runtime_type = backend_runtime<backend, weights_type>;
    static_assert(requires { typename runtime_type::forward_pass; },
                  "dsv2: backend_runtime<Backend, Weights> is missing or incomplete for the spec's backend "
                  "(see backend/runtime.hpp for what a backend provides)");
    using forward_pass = typename runtime_type::forward_pass;
    using hidden_type = typename forward_pass::hidden;  // [B·S, H] activations on the backend
    static_assert(backend_runtime_for<runtime_type, forward_pass>,
                  "dsv2: backend_runtime<Backend, Weights> lacks a primitive that backend/runtime.hpp lists");
    using cache_type = spec_cache_t<Spec>;
    static_assert(detail::accepts_cache<attention_impl<attention, backend>, cache_type>(),
                  "dsv2: the spec's cache layout is not one the spec's attention policy runs on for this backend");

    /// Takes a config and weights allocated for it (weights_type::allocate, then filled). Validates
    /// the config and lets the spec's router check its fields.
    DeepseekV2Model(DeepseekV2Config cfg, std::shared_ptr<const weights_type> weights)
        : cfg_(checked(std::move(cfg))),
          plan_(decoder_plan::from_config<router>(cfg_)),
          weights_(std::move(weights)),
          runtime_(std::make_shared<const runtime_type>(cfg_, weights_)) {}

    /// With a runtime made elsewhere (e.g. CUDA weights initialised on the device for benchmarks,
    /// then `weights` may hold shapes only).
    DeepseekV2Model(DeepseekV2Config cfg, std::shared_ptr<const weights_type> weights,
                    std::shared_ptr<const runtime_type> runtime)
        : cfg_(checked(std::move(cfg))),
          plan_(decoder_plan::from_config<router>(cfg_)),
          weights_(std::move(weights)),
          runtime_(std::move(runtime)) {
        if (!runtime_) throw input_error("runtime", "is null");
    }

    /// config.json + safetensors (single or sharded) from a Hugging Face model directory, or a
    /// deepseek2 GGUF file (`*.gguf`, llama.cpp's layout; models/gguf_weights.hpp).
    static DeepseekV2Model from_pretrained(const std::filesystem::path& dir, const load_options& options = {}) {
        auto [cfg, w] = load_pretrained(dir, model_head::none, options);
        return DeepseekV2Model(std::move(cfg), std::move(w));
    }

    /// Random weights from `seed` (normal(0, initializer_range), norms 1), matrices stored as `storage`.
    static DeepseekV2Model from_config(DeepseekV2Config cfg, std::uint64_t seed, dtype storage = dtype::f32) {
        auto w = random_weights(checked(std::move(cfg)), model_head::none, seed, storage);
        return DeepseekV2Model(std::move(w.first), std::move(w.second));
    }

    const DeepseekV2Config& config() const noexcept { return cfg_; }
    const weights_type& weights() const noexcept { return *weights_; }
    std::shared_ptr<const weights_type> shared_weights() const noexcept { return weights_; }
    const decoder_plan& plan() const noexcept { return plan_; }
    const runtime_type& runtime() const noexcept { return *runtime_; }

    /// An empty cache of the spec's layout for `batch` rows; it grows with use.
    cache_type make_cache(std::int64_t batch) const {
        return runtime_->template make_cache<cache_type>(cfg_, batch, weights_.get());
    }

    /// With a cache, the new tokens are appended to it and attend to everything it holds; the
    /// attention mask then covers the cached slots too ([B, P + S]).
    model_output forward(const forward_args& args, cache_type* past_key_values = nullptr) const {
        if (args.labels) throw input_error("labels", "DeepseekV2Model has no head; use a ForCausalLM or ForSequenceClassification model");
        stack_result r = run(args, past_key_values);
        r.out.last_hidden_state = to_host_tensor(r.pass, r.hidden, {r.batch, r.seq, cfg_.hidden_size});
        return std::move(r.out);
    }

    void save_pretrained(const std::filesystem::path& dir, save_dtype dt = save_dtype::f32) const {
        save_weights(dir, *weights_, cfg_, "DeepseekV2Model", dt);
    }

    // --- used by the heads ---------------------------------------------------------------------
    struct stack_result {
        forward_pass pass;    // the forward's state on the backend (keeps the device to itself)
        hidden_type hidden;   // [B·S, H] after the final norm
        std::int64_t batch = 0, seq = 0;
        model_output out;     // hidden_states / attentions when asked for
    };

    /// Embeddings, every layer and the final norm.
    stack_result run(const forward_args& args, cache_type* cache = nullptr) const {
        const std::int64_t P = cache ? cache->length() : 0;
        const auto [B, S] = detail::check_forward_args(cfg_, args, P);
        if (cache) cache->identity().check(weights_.get(), B);
        stack_result r{runtime_->begin(make_forward_batch(args, B, S, P)), {}, B, S, {}};
        runtime_->visit_weights([&](const auto& w) { run_layers(r, w, args, cache); });
        return r;
    }

    /// [R, out] host logits of a head on rows `rows` (b·S + s) of the final hidden states:
    /// lm_head (or the tied embeddings) for causal_lm, score for sequence_classification.
    cpu::matrix head_logits(const stack_result& r, const std::vector<std::int64_t>& rows, model_head head) const {
        return runtime_->visit_weights([&](const auto& w) -> cpu::matrix {
            if (head == model_head::causal_lm) return project_rows(r.pass, r.hidden, rows, w.output_embeddings());
            if (!w.score) throw checkpoint_error("score.weight", "missing");
            return project_rows(r.pass, r.hidden, rows, *w.score);
        });
    }

    static tensor<float> to_tensor(const cpu::matrix& m, shape_t shape) {
        return tensor<float>(std::move(shape), std::vector<float>(m.data(), m.data() + m.size()));
    }

    /// Validates cfg (the shared math's rules) and lets the spec's router check its fields.
    static DeepseekV2Config checked(DeepseekV2Config cfg) {
        cfg.validate();
        if (cfg.num_moe_layers() > 0) router::check(cfg);
        return cfg;
    }

    static std::pair<DeepseekV2Config, std::shared_ptr<const weights_type>> load_pretrained(
        const std::filesystem::path& dir, model_head head, const load_options& options = {}) {
        if (is_gguf_path(dir)) {
            auto [cfg, file] = open_gguf_model(dir, head);
            cfg = checked(std::move(cfg));
            auto w = std::make_shared<weights_type>(weights_type::allocate(cfg, head));
            load_gguf_weights(*w, cfg, std::move(file), options);
            return {std::move(cfg), std::move(w)};
        }
        DeepseekV2Config cfg = checked(load_config(dir));
        auto ckpt = std::make_shared<const io::checkpoint>(io::checkpoint::open(dir));
        auto w = std::make_shared<weights_type>(weights_type::allocate(cfg, head));
        load_weights(*w, cfg, std::move(ckpt), options);
        return {std::move(cfg), std::move(w)};
    }

    static std::pair<DeepseekV2Config, std::shared_ptr<const weights_type>> random_weights(
        DeepseekV2Config cfg, model_head head, std::uint64_t seed, dtype storage = dtype::f32) {
        auto w = std::make_shared<weights_type>(weights_type::allocate(cfg, head));
        init_random_weights(*w, cfg, seed, storage);
        return {std::move(cfg), std::move(w)};
    }

private:
    /// x = embed; per layer x += attn(norm(x)), x += ffn(norm(x)); norm(x) — on the backend's
    /// weights `w` (the host weights, or their device copy).
    template <class Weights>
    void run_layers(stack_result& r, const Weights& w, const forward_args& args, cache_type* cache) const {
        const forward_pass& pass = r.pass;
        const std::int64_t B = r.batch, S = r.seq, P = pass.batch.past, H = cfg_.hidden_size;
        const double eps = cfg_.rms_norm_eps;

        hidden_type x = embed(pass, w.embed_tokens, args.input_ids, args.inputs_embeds);  // [B·S, H]
        if (args.output_hidden_states) r.out.hidden_states.push_back(to_host_tensor(pass, x, {B, S, H}));

        for (std::int64_t i = 0; i < cfg_.num_hidden_layers; ++i) {
            const auto& L = w.layers[static_cast<std::size_t>(i)];
            tensor<float>* probs = nullptr;
            if (args.output_attentions) probs = &r.out.attentions.emplace_back(shape_t{B, plan_.attention.heads, S, P + S});

            hidden_type h = normed(pass, x, L.input_layernorm, eps);
            add_residual(pass, x,
                         attention_impl<attention, backend>::forward(pass, L.self_attn, plan_,
                                                                     cache ? &cache->layer(i) : nullptr, probs, h));

            h = normed(pass, x, L.post_attention_layernorm, eps);
            hidden_type y;
            if (const auto* moe = std::get_if<1>(&L.mlp))
                moe_forward(pass, *moe, plan_.routing, plan_.act, h, y);
            else
                expert_mlp_impl<gated_mlp_experts, backend>::forward(pass, std::get<0>(L.mlp), plan_.act, h, y);
            add_residual(pass, x, y);

            if (args.output_hidden_states && i + 1 < cfg_.num_hidden_layers)
                r.out.hidden_states.push_back(to_host_tensor(pass, x, {B, S, H}));
        }
        normalize_inplace(pass, x, w.norm, eps);
        if (args.output_hidden_states) r.out.hidden_states.push_back(to_host_tensor(pass, x, {B, S, H}));
        r.hidden = std::move(x);
    }

    DeepseekV2Config cfg_;
    decoder_plan plan_;
    std::shared_ptr<const weights_type> weights_;
    std::shared_ptr<const runtime_type> runtime_;
};

}  // namespace dsv2
