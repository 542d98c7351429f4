// DeepseekV2ForSequenceClassification: the decoder, `score` (H -> num_labels, no bias) on the final
// normed hidden states, pooled at the rightmost token that is not pad_token_id (transformers' rule).
#pragma once

#include "dsv2/models/decoder.hpp"
#include "dsv2/models/losses.hpp"

namespace dsv2 {

template <model_spec Spec = default_spec>
class DeepseekV2ForSequenceClassification {
public:
    using model_type = DeepseekV2Model<Spec>;

    DeepseekV2ForSequenceClassification(DeepseekV2Config cfg, std::shared_ptr<const typename model_type::weights_type> weights)
        : model(std::move(cfg), std::move(weights)) {
        check_head();
    }

    /// With a backend runtime made elsewhere (see DeepseekV2Model).
    DeepseekV2ForSequenceClassification(DeepseekV2Config cfg, std::shared_ptr<const typename model_type::weights_type> weights,
                                        std::shared_ptr<const typename model_type::runtime_type> runtime)
        : model(std::move(cfg), std::move(weights), std::move(runtime)) {
        check_head();
    }

    static DeepseekV2ForSequenceClassification from_pretrained(const std::filesystem::path& dir, const load_options& options = {}) {
        auto [cfg, w] = model_type::load_pretrained(dir, model_head::sequence_classification, options);
        return DeepseekV2ForSequenceClassification(std::move(cfg), std::move(w));
    }

    static DeepseekV2ForSequenceClassification from_config(DeepseekV2Config cfg, std::uint64_t seed, dtype storage = dtype::f32) {
        auto [c, w] = model_type::random_weights(model_type::checked(std::move(cfg)), model_head::sequence_classification, seed, storage);
        return DeepseekV2ForSequenceClassification(std::move(c), std::move(w));
    }

    const DeepseekV2Config& config() const noexcept { return model.config(); }

    void save_pretrained(const std::filesystem::path& dir, save_dtype dt = save_dtype::f32) const {
        save_weights(dir, model.weights(), config(), "DeepseekV2ForSequenceClassification", dt);
    }

    /// The position each row is pooled at.
    std::vector<std::int64_t> pooled_positions(const forward_args& args, std::int64_t B, std::int64_t S) const {
        std::vector<std::int64_t> pos(static_cast<std::size_t>(B), S - 1);
        if (!args.input_ids) return pos;  // embeddings only: the last position
        const auto& pad = config().pad_token_id;
        if (!pad) {
            if (B != 1)
                throw input_error("pad_token_id", "is not set in the config, so batches of more than one row cannot be "
                                                  "pooled (got batch " + std::to_string(B) + ")");
            return pos;
        }
        for (std::int64_t b = 0; b < B; ++b) {
            std::int64_t last = 0;  // all pad: index 0, as transformers' argmax gives
            for (std::int64_t s = 0; s < S; ++s)
                if ((*args.input_ids)(b, s) != *pad) last = s;
            pos[static_cast<std::size_t>(b)] = last;
        }
        return pos;
    }

    using cache_type = typename model_type::cache_type;

    /// An empty cache of the spec's layout for `batch` rows (see DeepseekV2Model::forward).
    cache_type make_cache(std::int64_t batch) const { return model.make_cache(batch); }

    sequence_classifier_output forward(const forward_args& args, cache_type* past_key_values = nullptr) const {
        auto r = model.run(args, past_key_values);
        const std::int64_t B = r.batch, S = r.seq, N = config().num_labels;
        const auto pos = pooled_positions(args, B, S);
        std::vector<std::int64_t> rows(static_cast<std::size_t>(B));  // the pooled hidden rows
        for (std::int64_t b = 0; b < B; ++b) rows[static_cast<std::size_t>(b)] = b * S + pos[static_cast<std::size_t>(b)];
        const cpu::matrix logits = model.head_logits(r, rows, model_head::sequence_classification);  // [B, num_labels]

        sequence_classifier_output out;
        out.logits = model_type::to_tensor(logits, {B, N});
        out.hidden_states = std::move(r.out.hidden_states);
        out.attentions = std::move(r.out.attentions);
        if (args.labels) out.loss = loss(*args.labels, logits, B);
        return out;
    }

    /// problem_type as transformers infers it when the config leaves it unset.
    std::string problem_type(const labels_t& labels) const {
        if (config().problem_type) return *config().problem_type;
        if (config().num_labels == 1) return "regression";
        return std::holds_alternative<tensor<std::int64_t>>(labels) ? "single_label_classification"
                                                                    : "multi_label_classification";
    }

    model_type model;

private:
    void check_head() const {
        const auto& w = model.weights();
        if (!w.score) throw checkpoint_error("score.weight", "missing");
        if (w.score->rows() != config().num_labels || w.score->cols() != config().hidden_size)
            throw checkpoint_error("score.weight", "shape [" + std::to_string(w.score->rows()) + ", " +
                                                       std::to_string(w.score->cols()) + "] does not match num_labels " +
                                                       std::to_string(config().num_labels) + " x hidden_size " +
                                                       std::to_string(config().hidden_size));
    }

    float loss(const labels_t& labels, const cpu::matrix& logits, std::int64_t B) const {
        const std::int64_t N = config().num_labels;
        const std::string kind = problem_type(labels);
        if (kind == "single_label_classification") {
            const auto* ids = std::get_if<tensor<std::int64_t>>(&labels);
            if (!ids) throw input_error("labels", "single_label_classification needs integer class ids, got floats");
            if (ids->numel() != B)
                throw input_error("labels", "needs one class id per row (" + std::to_string(B) + "), got shape " +
                                                to_string(ids->shape()));
            for (std::int64_t b = 0; b < B; ++b) {
                const std::int64_t c = ids->data()[b];
                if (c != ignore_index && (c < 0 || c >= N))
                    throw input_error("labels", "class id " + std::to_string(c) + " at [" + std::to_string(b) +
                                                    "] is outside [0, " + std::to_string(N) + ")");
            }
            return cross_entropy_mean(logits.data(), B, N, ids->data());
        }
        const auto targets = float_targets(labels);
        if (kind == "regression") {
            if (static_cast<std::int64_t>(targets.size()) != B * N)
                throw input_error("labels", "regression needs " + std::to_string(B * N) + " values, got " +
                                                std::to_string(targets.size()));
            return mse_mean(logits.data(), targets.data(), B * N);
        }
        if (kind == "multi_label_classification") {
            const shape_t& shape = std::visit([](const auto& t) -> const shape_t& { return t.shape(); }, labels);
            if (shape != shape_t{B, N})
                throw input_error("labels", "multi_label_classification needs shape " + to_string(shape_t{B, N}) +
                                                ", got " + to_string(shape));
            return bce_with_logits_mean(logits.data(), targets.data(), B * N);
        }
        throw config_error("problem_type", "'" + kind + "' is not one of regression, single_label_classification, "
                                                        "multi_label_classification");
    }

    static std::vector<float> float_targets(const labels_t& labels) {
        return std::visit(
            [](const auto& t) {
                std::vector<float> v(static_cast<std::size_t>(t.numel()));
                for (std::int64_t i = 0; i < t.numel(); ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(t.data()[i]);
                return v;
            },
            labels);
    }
};

}  // namespace dsv2
