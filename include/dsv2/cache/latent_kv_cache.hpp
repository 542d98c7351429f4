// Cache layout `latent_kv_cache` (the MLA paper's): per layer and token one row
// [k_pe (rotated, d_rope) | c_n (normed latent, d_c)] — d_rope + d_c values, shared by all heads.
// Decode reads it directly through weight absorption (attention/mla_absorbed.hpp). k_pe first
// keeps the rotated part at the front, where a context shift would re-rotate it in place.
#pragma once

#include <vector>

#include "dsv2/cache/cache_identity.hpp"
#include "dsv2/cache/token_rows.hpp"

namespace dsv2 {

class latent_kv_cache {
public:
    static constexpr const char* name = "latent";

    struct layer_cache {
        token_rows latents;  // [B, T, d_rope + d_c]
    };

    latent_kv_cache(const DeepseekV2Config& cfg, std::int64_t batch, const void* model)
        : identity_{model, batch} {
        layers_.assign(static_cast<std::size_t>(cfg.num_hidden_layers),
                       layer_cache{token_rows(batch, cfg.qk_rope_head_dim + cfg.kv_lora_rank)});
    }

    std::int64_t length() const noexcept { return layers_.empty() ? 0 : layers_.back().latents.length(); }
    std::int64_t batch() const noexcept { return identity_.batch; }
    const cache_identity& identity() const noexcept { return identity_; }
    layer_cache& layer(std::int64_t i) { return layers_[static_cast<std::size_t>(i)]; }

    std::size_t bytes_per_token() const noexcept {
        std::size_t w = 0;
        for (const auto& l : layers_) w += static_cast<std::size_t>(l.latents.width());
        return w * sizeof(float);
    }
    std::size_t bytes() const noexcept {
        std::size_t n = 0;
        for (const auto& l : layers_) n += l.latents.bytes();
        return n;
    }

    void reserve(std::int64_t tokens) {
        for (auto& l : layers_) l.latents.reserve(tokens);
    }
    void reset() noexcept {
        for (auto& l : layers_) l.latents.clear();
    }
    void crop(std::int64_t tokens) {
        if (tokens < 0) throw cache_error("crop: length " + std::to_string(tokens) + " is negative");
        for (auto& l : layers_) l.latents.crop(tokens);
    }

private:
    cache_identity identity_;
    std::vector<layer_cache> layers_;
};

}  // namespace dsv2
