// What every attention call needs to know about the batch it works on.
#pragma once

#include <cstdint>

namespace dsv2 {

/// B rows of S new tokens after P cached ones. Query i of row b sits in key slot P + i; it may see
/// key slot j iff j ≤ P + i and key_mask[b, j] == 1.
struct attention_batch {
    std::int64_t batch = 0;       // B
    std::int64_t new_tokens = 0;  // S
    std::int64_t past = 0;        // P
    const std::int64_t* position_ids = nullptr;  // [B, S] rotary positions of the new tokens
    const std::int64_t* key_mask = nullptr;      // [B, P + S], 1 = a real token, 0 = padding

    std::int64_t total() const noexcept { return past + new_tokens; }
    bool visible(std::int64_t b, std::int64_t query, std::int64_t key) const noexcept {
        return key <= past + query && key_mask[b * total() + key] != 0;
    }
};

}  // namespace dsv2
