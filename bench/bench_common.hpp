// What the benchmarks share: DeepSeek-V2-Lite-shaped configs, random inputs, byte counts.
#pragma once

#include <benchmark/benchmark.h>

#include <random>

#include <dsv2/model.hpp>

namespace dsv2_bench {

/// DeepSeek-V2-Lite's shapes with `layers` layers (layer 0 dense, the rest MoE) and `vocab` tokens.
inline dsv2::DeepseekV2Config lite_shaped(std::int64_t layers, std::int64_t vocab) {
    auto cfg = dsv2::presets::deepseek_v2_lite();
    cfg.num_hidden_layers = layers;
    cfg.vocab_size = vocab;
    if (vocab <= *cfg.bos_token_id) {  // a small vocabulary for block benchmarks
        cfg.bos_token_id = 0;
        cfg.eos_token_id = {1};
    }
    return cfg;
}

inline dsv2::cpu::matrix random_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed = 1) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    dsv2::cpu::matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = nd(rng);
    return m;
}

/// Weight bytes one decoded token reads (batch 1): every matrix except the embedding table (one row)
/// and the routed experts a token does not pick (k of E per MoE layer).
template <class Weights>
double decode_weight_bytes(const Weights& w, const dsv2::DeepseekV2Config& cfg) {
    double bytes = 0;
    dsv2::visit_parameters("model.", [&](const std::string& name, dsv2::parameter_kind, const auto& p) {
        if constexpr (std::is_base_of_v<dsv2::cpu_weight, std::remove_cvref_t<decltype(p)>>) {
            if (name.find("embed_tokens") != std::string::npos) return;
            double b = static_cast<double>(p.bytes());
            if (name.find("mlp.experts.") != std::string::npos)
                b *= static_cast<double>(*cfg.num_experts_per_tok) / static_cast<double>(cfg.n_routed_experts);
            bytes += b;
        } else {
            bytes += static_cast<double>(p.size()) * sizeof(float);
        }
    }, w);
    if (cfg.tie_word_embeddings) bytes += static_cast<double>(w.embed_tokens.bytes());
    return bytes;
}

}  // namespace dsv2_bench
