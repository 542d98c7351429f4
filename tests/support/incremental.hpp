// Incremental decoding against the full forward, shared by the CPU and GPU tests: run a causal LM
// over ids in chunks with a cache and check every chunk's logits against the full forward's.
#pragma once

#include <algorithm>
#include <vector>

#include "parity.hpp"

namespace dsv2_test {

/// t[:, begin:end] of a tensor [B, S, ...].
template <class T>
dsv2::tensor<T> columns(const dsv2::tensor<T>& t, std::int64_t begin, std::int64_t end) {
    const std::int64_t B = t.dim(0), S = t.dim(1), W = t.numel() / (B * S);
    dsv2::shape_t shape = t.shape();
    shape[1] = end - begin;
    dsv2::tensor<T> out(shape);
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t s = begin; s < end; ++s)
            for (std::int64_t w = 0; w < W; ++w) out.data()[(b * (end - begin) + s - begin) * W + w] = t.data()[(b * S + s) * W + w];
    return out;
}

/// Runs `lm` over ids in chunks (sizes from `chunks`, then one token at a time) with a cache of the
/// model's layout and checks each chunk's logits against the full forward's within `tol`.
template <class LM>
void check_incremental(const LM& lm, const dsv2::tensor<std::int64_t>& ids, const dsv2::tensor<std::int64_t>& mask,
                       std::vector<std::int64_t> chunks, const tolerance& tol = {}) {
    const std::int64_t B = ids.dim(0), S = ids.dim(1);
    const auto full = lm.forward({.input_ids = &ids, .attention_mask = &mask});
    auto cache = lm.make_cache(B);
    std::int64_t done = 0;
    while (done < S) {
        const std::int64_t n = chunks.empty() ? 1 : std::min(chunks.front(), S - done);
        if (!chunks.empty()) chunks.erase(chunks.begin());
        const auto step_ids = columns(ids, done, done + n);
        const auto step_mask = columns(mask, 0, done + n);
        const auto out = lm.forward({.input_ids = &step_ids, .attention_mask = &step_mask}, &cache);
        REQUIRE(cache.length() == done + n);
        const auto want = columns(full.logits, done, done + n);
        const auto m = columns(mask, done, done + n);
        INFO("tokens " << done << " .. " << done + n);
        tol.require("step logits", compare_masked(out.logits, want, &m));
        done += n;
    }
}

}  // namespace dsv2_test
