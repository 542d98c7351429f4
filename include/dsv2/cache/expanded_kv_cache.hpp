// Cache layout `expanded_kv_cache`: per layer the per-head keys [k_nope | k_pe] (n_h·d_qk) and
// values (n_h·d_v) of every token, as transformers cached them until 2026.
// n_h·(d_qk + d_v) fp32 values per token per layer.
#pragma once

#include "dsv2/cache/layer_caches.hpp"
#include "dsv2/backend/cpu/rows.hpp"

namespace dsv2 {

/// One layer of the expanded layout, over rows of type Rows (host or device).
template <class Rows>
struct expanded_layer {
    Rows keys;    // [B, T, n_h·d_qk]
    Rows values;  // [B, T, n_h·d_v]

    template <class F>
    void for_each_rows(F&& f) { f(keys); f(values); }
    template <class F>
    void for_each_rows(F&& f) const { f(keys); f(values); }
};

/// The expanded layout over any row storage: make_rows(width) gives empty rows [B, 0, width].
template <class Rows>
class basic_expanded_kv_cache : public layer_caches<expanded_layer<Rows>> {
public:
    static constexpr const char* name = "expanded";

    template <class MakeRows>
    basic_expanded_kv_cache(const DeepseekV2Config& cfg, std::int64_t batch, const void* model, MakeRows&& make_rows)
        : layer_caches<expanded_layer<Rows>>(model, batch) {
        this->layers_.reserve(static_cast<std::size_t>(cfg.num_hidden_layers));
        for (std::int64_t i = 0; i < cfg.num_hidden_layers; ++i)
            this->layers_.push_back({make_rows(cfg.num_attention_heads * cfg.qk_head_dim()),
                                     make_rows(cfg.num_attention_heads * cfg.v_head_dim)});
    }
};

/// The expanded layout in host memory.
class expanded_kv_cache : public basic_expanded_kv_cache<token_rows> {
public:
    expanded_kv_cache(const DeepseekV2Config& cfg, std::int64_t batch, const void* model)
        : basic_expanded_kv_cache(cfg, batch, model, [batch](std::int64_t width) { return token_rows(batch, width); }) {}
};

}  // namespace dsv2
