// Cache layout `latent_kv_cache` (the MLA paper's): per layer and token one row
// [k_pe (rotated, d_rope) | c_n (normed latent, d_c)] — d_rope + d_c values, shared by all heads.
// Decode reads it directly through weight absorption (attention/mla_absorbed.hpp). k_pe first
// keeps the rotated part at the front, where a context shift would re-rotate it in place.
#pragma once

#include "dsv2/cache/layer_caches.hpp"
#include "dsv2/backend/cpu/rows.hpp"

namespace dsv2 {

/// One layer of the latent layout, over rows of type Rows (host or device).
template <class Rows>
struct latent_layer {
    Rows latents;  // [B, T, d_rope + d_c]

    template <class F>
    void for_each_rows(F&& f) { f(latents); }
    template <class F>
    void for_each_rows(F&& f) const { f(latents); }
};

/// The latent layout over any row storage: make_rows(width) gives empty rows [B, 0, width].
template <class Rows>
class basic_latent_kv_cache : public layer_caches<latent_layer<Rows>> {
public:
    static constexpr const char* name = "latent";

    template <class MakeRows>
    basic_latent_kv_cache(const DeepseekV2Config& cfg, std::int64_t batch, const void* model, MakeRows&& make_rows)
        : layer_caches<latent_layer<Rows>>(model, batch) {
        this->layers_.reserve(static_cast<std::size_t>(cfg.num_hidden_layers));
        for (std::int64_t i = 0; i < cfg.num_hidden_layers; ++i)
            this->layers_.push_back({make_rows(cfg.qk_rope_head_dim + cfg.kv_lora_rank)});
    }
};

/// The latent layout in host memory.
class latent_kv_cache : public basic_latent_kv_cache<token_rows> {
public:
    latent_kv_cache(const DeepseekV2Config& cfg, std::int64_t batch, const void* model)
        : basic_latent_kv_cache(cfg, batch, model, [batch](std::int64_t width) { return token_rows(batch, width); }) {}
};

/// The latent layout in host memory with the rows rounded to bf16: half the bytes per token
/// (V2-Lite: 27 · 576 · 2 = 31 kB instead of 62 kB). Attention reads them widened to fp32 in
/// registers or in cache-sized chunks (attention/mla_absorbed/cpu.hpp); the rounding (relative
/// 2^-9 per cached value) is the only numerical difference from latent_kv_cache.
class latent_kv_cache_bf16 : public basic_latent_kv_cache<token_rows_bf16> {
public:
    static constexpr const char* name = "latent-bf16";

    latent_kv_cache_bf16(const DeepseekV2Config& cfg, std::int64_t batch, const void* model)
        : basic_latent_kv_cache(cfg, batch, model, [batch](std::int64_t width) { return token_rows_bf16(batch, width); }) {}
};

}  // namespace dsv2
