// Attention policy `mla_expanded`: MLA computed in expanded form — K [k_nope | k_pe] and V per
// head — cached in the expanded layout, as transformers cached until 2026. Implementations:
// cpu.hpp (expanded_kv_cache), cuda.cuh (cuda_expanded_kv_cache).
#pragma once

namespace dsv2 {

struct mla_expanded {
    static constexpr const char* name = "mla_expanded";
};

}  // namespace dsv2
