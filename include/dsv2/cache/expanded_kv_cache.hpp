// Cache layout `expanded_kv_cache`: per layer the per-head keys [k_nope | k_pe] (n_h·d_qk) and
// values (n_h·d_v) of every token, as transformers cached them until 2026.
// n_h·(d_qk + d_v) fp32 values per token per layer.
#pragma once

#include <vector>

#include "dsv2/cache/cache_identity.hpp"
#include "dsv2/cache/token_rows.hpp"

namespace dsv2 {

class expanded_kv_cache {
public:
    static constexpr const char* name = "expanded";

    struct layer_cache {
        token_rows keys;    // [B, T, n_h·d_qk]
        token_rows values;  // [B, T, n_h·d_v]
    };

    expanded_kv_cache(const DeepseekV2Config& cfg, std::int64_t batch, const void* model)
        : identity_{model, batch} {
        layers_.reserve(static_cast<std::size_t>(cfg.num_hidden_layers));
        for (std::int64_t i = 0; i < cfg.num_hidden_layers; ++i)
            layers_.push_back({token_rows(batch, cfg.num_attention_heads * cfg.qk_head_dim()),
                               token_rows(batch, cfg.num_attention_heads * cfg.v_head_dim)});
    }

    /// Tokens cached per row (the past length P of the next forward).
    std::int64_t length() const noexcept { return layers_.empty() ? 0 : layers_.back().keys.length(); }
    std::int64_t batch() const noexcept { return identity_.batch; }
    const cache_identity& identity() const noexcept { return identity_; }
    layer_cache& layer(std::int64_t i) { return layers_[static_cast<std::size_t>(i)]; }

    /// fp32 values stored per token, summed over layers (and over the batch: × batch()).
    std::size_t bytes_per_token() const noexcept {
        std::size_t w = 0;
        for (const auto& l : layers_) w += static_cast<std::size_t>(l.keys.width() + l.values.width());
        return w * sizeof(float);
    }
    /// Bytes allocated right now.
    std::size_t bytes() const noexcept {
        std::size_t n = 0;
        for (const auto& l : layers_) n += l.keys.bytes() + l.values.bytes();
        return n;
    }

    void reserve(std::int64_t tokens) {
        for (auto& l : layers_) { l.keys.reserve(tokens); l.values.reserve(tokens); }
    }
    /// Forgets every token; keeps the memory for reuse.
    void reset() noexcept {
        for (auto& l : layers_) { l.keys.clear(); l.values.clear(); }
    }
    /// Keeps the first `tokens` slots of every row.
    void crop(std::int64_t tokens) {
        if (tokens < 0) throw cache_error("crop: length " + std::to_string(tokens) + " is negative");
        for (auto& l : layers_) { l.keys.crop(tokens); l.values.crop(tokens); }
    }

private:
    cache_identity identity_;
    std::vector<layer_cache> layers_;
};

}  // namespace dsv2
