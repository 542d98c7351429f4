// DeepseekV2Model: embeddings -> L decoder layers -> final RMSNorm.
#pragma once

#include <filesystem>
#include <memory>

#include "dsv2/models/input_checks.hpp"
#include "dsv2/models/pretrained.hpp"
#include "dsv2/models/spec.hpp"

namespace dsv2 {

/// The run-time pieces every forward needs, derived once from the (validated) config.
struct decoder_plan {
    mla_dims attention;
    rope_table rope;
    routing_params routing;
    activation act;

    static decoder_plan from_config(const DeepseekV2Config& cfg) {
        return {mla_dims::from_config(cfg), rope_table::from_config(cfg), routing_params::from_config(cfg),
                parse_activation(cfg.hidden_act)};
    }
};

template <model_spec Spec = default_spec>
class DeepseekV2Model {
public:
    using spec = Spec;
    using backend = typename Spec::backend;
    using router = typename Spec::router;
    using cache_type = typename Spec::cache;

    /// Takes a config and weights allocated for it (see allocate_weights). Validates the config and
    /// checks it against the spec's fixed policies.
    DeepseekV2Model(DeepseekV2Config cfg, std::shared_ptr<const cpu_model_weights> weights)
        : cfg_(checked(std::move(cfg))), plan_(decoder_plan::from_config(cfg_)), weights_(std::move(weights)) {}

    /// config.json + safetensors (single or sharded) from a Hugging Face model directory.
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
    const cpu_model_weights& weights() const noexcept { return *weights_; }
    std::shared_ptr<const cpu_model_weights> shared_weights() const noexcept { return weights_; }
    const decoder_plan& plan() const noexcept { return plan_; }

    /// An empty cache of the spec's layout for `batch` rows; it grows with use.
    cache_type make_cache(std::int64_t batch) const { return cache_type(cfg_, batch, weights_.get()); }

    /// With a cache, the new tokens are appended to it and attend to everything it holds; the
    /// attention mask then covers the cached slots too ([B, P + S]).
    model_output forward(const forward_args& args, cache_type* past_key_values = nullptr) const {
        if (args.labels) throw input_error("labels", "DeepseekV2Model has no head; use a ForCausalLM or ForSequenceClassification model");
        stack_result r = run(args, past_key_values);
        r.out.last_hidden_state = to_tensor(r.hidden, {r.batch, r.seq, cfg_.hidden_size});
        return std::move(r.out);
    }

    void save_pretrained(const std::filesystem::path& dir, save_dtype dt = save_dtype::f32) const {
        save_weights(dir, *weights_, cfg_, "DeepseekV2Model", dt);
    }

    // --- used by the heads ---------------------------------------------------------------------
    struct stack_result {
        cpu::matrix hidden;  // [B·S, H] after the final norm
        std::int64_t batch = 0, seq = 0;
        model_output out;    // hidden_states / attentions when asked for
    };

    /// Embeddings, every layer and the final norm.
    stack_result run(const forward_args& args, cache_type* cache = nullptr) const {
        const std::int64_t P = cache ? cache->length() : 0;
        const auto [B, S] = detail::check_forward_args(cfg_, args, P);
        if (cache) cache->identity().check(weights_.get(), B);
        const std::int64_t H = cfg_.hidden_size;
        stack_result r;
        r.batch = B;
        r.seq = S;

        // positions: given, or P .. P+S-1 for every row (transformers' default)
        tensor<std::int64_t> positions({B, S});
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t s = 0; s < S; ++s) positions(b, s) = args.position_ids ? (*args.position_ids)(b, s) : P + s;
        tensor<std::int64_t> mask = args.attention_mask ? *args.attention_mask : tensor<std::int64_t>({B, P + S}, 1);
        const attention_batch ab{B, S, P, positions.data(), mask.data()};

        cpu::matrix x(B * S, H);  // [B·S, H]
        if (args.input_ids) {
            for (std::int64_t t = 0; t < B * S; ++t) weights_->embed_tokens.row_to_f32(args.input_ids->data()[t], x.row(t).data());
        } else {
            x = cpu::const_matrix_map(args.inputs_embeds->data(), B * S, H);
        }
        if (args.output_hidden_states) r.out.hidden_states.push_back(to_tensor(x, {B, S, H}));

        for (std::int64_t i = 0; i < cfg_.num_hidden_layers; ++i) {
            const auto& L = weights_->layers[static_cast<std::size_t>(i)];
            tensor<float>* probs = nullptr;
            if (args.output_attentions) probs = &r.out.attentions.emplace_back(shape_t{B, plan_.attention.heads, S, P + S});

            cpu::matrix h = rmsnorm(backend{}, x, L.input_layernorm, cfg_.rms_norm_eps);
            x += mla_forward(backend{}, typename Spec::attention{}, L.self_attn, plan_.attention, plan_.rope, h, ab,
                             cache ? &cache->layer(i) : nullptr, probs);

            h = x;
            rmsnorm_inplace(backend{}, h, L.post_attention_layernorm, cfg_.rms_norm_eps);
            cpu::matrix y;
            if (const auto* moe = std::get_if<cpu_moe_weights>(&L.mlp))
                moe_forward(backend{}, router{}, *moe, plan_.routing, plan_.act, h, y);
            else
                gated_mlp_forward(backend{}, std::get<cpu_gated_mlp>(L.mlp), plan_.act, h, y);
            x += y;

            if (args.output_hidden_states && i + 1 < cfg_.num_hidden_layers)
                r.out.hidden_states.push_back(to_tensor(x, {B, S, H}));
        }
        rmsnorm_inplace(backend{}, x, weights_->norm, cfg_.rms_norm_eps);
        if (args.output_hidden_states) r.out.hidden_states.push_back(to_tensor(x, {B, S, H}));
        r.hidden = std::move(x);
        return r;
    }

    static tensor<float> to_tensor(const cpu::matrix& m, shape_t shape) {
        return tensor<float>(std::move(shape), std::vector<float>(m.data(), m.data() + m.size()));
    }

    /// Validates cfg and checks it against the spec's fixed router.
    static DeepseekV2Config checked(DeepseekV2Config cfg) {
        cfg.validate();
        if (cfg.n_routed_experts > 0) router::check(cfg);
        return cfg;
    }

    static std::pair<DeepseekV2Config, std::shared_ptr<const cpu_model_weights>> load_pretrained(
        const std::filesystem::path& dir, model_head head, const load_options& options = {}) {
        DeepseekV2Config cfg = checked(load_config(dir));
        auto ckpt = std::make_shared<const io::checkpoint>(io::checkpoint::open(dir));
        auto w = std::make_shared<cpu_model_weights>(allocate_weights(cfg, head));
        load_weights(*w, cfg, std::move(ckpt), options);
        return {std::move(cfg), std::move(w)};
    }

    static std::pair<DeepseekV2Config, std::shared_ptr<const cpu_model_weights>> random_weights(
        DeepseekV2Config cfg, model_head head, std::uint64_t seed, dtype storage = dtype::f32) {
        auto w = std::make_shared<cpu_model_weights>(allocate_weights(cfg, head));
        init_random_weights(*w, cfg, seed, storage);
        return {std::move(cfg), std::move(w)};
    }

private:
    DeepseekV2Config cfg_;
    decoder_plan plan_;
    std::shared_ptr<const cpu_model_weights> weights_;
};

}  // namespace dsv2
