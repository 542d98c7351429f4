// DeepseekV2ForCausalLM: the decoder, then logits = hidden · lm_headᵀ (fp32) and the shifted
// next-token loss.
#pragma once

#include "dsv2/models/decoder.hpp"
#include "dsv2/models/losses.hpp"

namespace dsv2 {

template <model_spec Spec = default_spec>
class DeepseekV2ForCausalLM {
public:
    using model_type = DeepseekV2Model<Spec>;

    DeepseekV2ForCausalLM(DeepseekV2Config cfg, std::shared_ptr<const typename model_type::weights_type> weights)
        : model(std::move(cfg), std::move(weights)) {
        check_head();
    }

    /// With a backend runtime made elsewhere (see DeepseekV2Model).
    DeepseekV2ForCausalLM(DeepseekV2Config cfg, std::shared_ptr<const typename model_type::weights_type> weights,
                          std::shared_ptr<const typename model_type::runtime_type> runtime)
        : model(std::move(cfg), std::move(weights), std::move(runtime)) {
        check_head();
    }

    static DeepseekV2ForCausalLM from_pretrained(const std::filesystem::path& dir, const load_options& options = {}) {
        auto [cfg, w] = model_type::load_pretrained(dir, model_head::causal_lm, options);
        return DeepseekV2ForCausalLM(std::move(cfg), std::move(w));
    }

    static DeepseekV2ForCausalLM from_config(DeepseekV2Config cfg, std::uint64_t seed, dtype storage = dtype::f32) {
        auto [c, w] = model_type::random_weights(model_type::checked(std::move(cfg)), model_head::causal_lm, seed, storage);
        return DeepseekV2ForCausalLM(std::move(c), std::move(w));
    }

    const DeepseekV2Config& config() const noexcept { return model.config(); }

    void save_pretrained(const std::filesystem::path& dir, save_dtype dt = save_dtype::f32) const {
        save_weights(dir, model.weights(), config(), "DeepseekV2ForCausalLM", dt);
    }

    using cache_type = typename model_type::cache_type;

    /// An empty cache of the spec's layout for `batch` rows (see DeepseekV2Model::forward).
    cache_type make_cache(std::int64_t batch) const { return model.make_cache(batch); }

    causal_lm_output forward(const forward_args& args, cache_type* past_key_values = nullptr) const {
        auto r = model.run(args, past_key_values);
        const std::int64_t B = r.batch, S = r.seq, V = config().vocab_size;
        const std::vector<std::int64_t> kept = kept_positions(args.logits_to_keep, S);
        const auto K = static_cast<std::int64_t>(kept.size());

        std::vector<std::int64_t> rows(static_cast<std::size_t>(B * K));  // the hidden rows the head runs on
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t k = 0; k < K; ++k) rows[static_cast<std::size_t>(b * K + k)] = b * S + kept[static_cast<std::size_t>(k)];
        const cpu::matrix logits = model.head_logits(r, rows, model_head::causal_lm);  // [B·K, V] on the host

        causal_lm_output out;
        out.logits = model_type::to_tensor(logits, {B, K, V});
        out.hidden_states = std::move(r.out.hidden_states);
        out.attentions = std::move(r.out.attentions);
        if (args.labels) out.loss = loss(*args.labels, logits, kept, B, S);
        return out;
    }

    model_type model;  // the decoder (transformers' `model.model`)

private:
    void check_head() const {
        const auto& w = model.weights();
        if (!w.lm_head && !model.config().tie_word_embeddings)
            throw checkpoint_error("lm_head.weight", "missing, and tie_word_embeddings is false");
    }

    static std::vector<std::int64_t> kept_positions(const logits_to_keep_t& keep, std::int64_t S) {
        std::vector<std::int64_t> kept;
        if (const auto* n = std::get_if<std::int64_t>(&keep)) {
            if (*n < 0) throw input_error("logits_to_keep", "must be ≥ 0, got " + std::to_string(*n));
            const std::int64_t first = (*n == 0 || *n >= S) ? 0 : S - *n;
            for (std::int64_t s = first; s < S; ++s) kept.push_back(s);
        } else {
            kept = std::get<std::vector<std::int64_t>>(keep);
            if (kept.empty()) throw input_error("logits_to_keep", "the list of positions is empty");
            for (std::size_t i = 0; i < kept.size(); ++i) {
                if (kept[i] < 0) kept[i] += S;  // negative positions count from the end, as in PyTorch indexing
                if (kept[i] < 0 || kept[i] >= S)
                    throw input_error("logits_to_keep", "position at index " + std::to_string(i) + " is outside [0, " +
                                                            std::to_string(S) + ")");
            }
        }
        return kept;
    }

    /// Shifted cross-entropy: the target of position t is labels[t+1]; needs all S logits.
    float loss(const labels_t& labels, const cpu::matrix& logits, const std::vector<std::int64_t>& kept,
               std::int64_t B, std::int64_t S) const {
        const auto* ids = std::get_if<tensor<std::int64_t>>(&labels);
        if (!ids) throw input_error("labels", "must be integer token ids for a causal LM, got float values");
        if (ids->shape() != shape_t{B, S})
            throw input_error("labels", "shape " + to_string(ids->shape()) + " differs from the input's " +
                                            to_string(shape_t{B, S}));
        if (static_cast<std::int64_t>(kept.size()) != S)
            throw input_error("labels", "a loss needs the logits of every position (logits_to_keep = 0)");
        const std::int64_t V = config().vocab_size;
        std::vector<std::int64_t> targets(static_cast<std::size_t>(B * S), ignore_index);
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t s = 0; s + 1 < S; ++s) {
                const std::int64_t t = (*ids)(b, s + 1);
                if (t != ignore_index && (t < 0 || t >= V))
                    throw input_error("labels", "token id " + std::to_string(t) + " at " + detail::index_string(b, s + 1) +
                                                    " is outside [0, " + std::to_string(V) + ") and is not -100");
                targets[static_cast<std::size_t>(b * S + s)] = t;
            }
        return cross_entropy_mean(logits.data(), B * S, V, targets.data());
    }
};

}  // namespace dsv2
