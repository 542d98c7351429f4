// Attention policy `mla_absorbed`: MLA over a cache of latents [k_pe | c_n] (576 values per token
// for V2), decoding by weight absorption and prefilling in expanded form. Implementations:
// cpu.hpp (latent_kv_cache), cuda.cuh (cuda_latent_kv_cache).
#pragma once

#include <cstdint>

namespace dsv2 {

struct mla_absorbed {
    static constexpr const char* name = "mla_absorbed";

    /// New tokens per forward from which the expanded form is used (prefill). Absorbed attention
    /// costs n_h·(d_rope + 2·d_c) per query-key pair, expanded n_h·(d_qk + d_v) plus expanding every
    /// cached latent once, so the crossing depends on S, not on the context: measured on a
    /// Lite-shaped layer after 512 cached tokens (bench_blocks mla_latent_switch, one thread):
    /// 128 new tokens 71.7 ms absorbed vs 73.8 ms expanded, 256 new tokens 155 vs 129 ms (with the
    /// bf16 tile GEMM; the earlier kernels gave 183/190 and 361/314 ms — the same crossing).
    /// See docs/performance.md, "MLA switch point".
    static constexpr std::int64_t expanded_from_new_tokens = 192;
};

}  // namespace dsv2
