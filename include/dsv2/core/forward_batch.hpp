// forward_batch: the batch of one forward on the host — rotary positions of the new tokens and the
// key mask over cached + new slots — owned, so a forward pass can keep it as long as it runs.
#pragma once

#include <cstdint>

#include "dsv2/core/attention_batch.hpp"
#include "dsv2/core/tensor.hpp"

namespace dsv2 {

struct forward_batch {
    std::int64_t batch = 0;       // B
    std::int64_t new_tokens = 0;  // S
    std::int64_t past = 0;        // P
    tensor<std::int64_t> positions;  // [B, S]
    tensor<std::int64_t> key_mask;   // [B, P + S], 1 = a real token

    /// The attention_batch view of it (valid while this object lives and is not modified).
    attention_batch view() const noexcept { return {batch, new_tokens, past, positions.data(), key_mask.data()}; }
};

}  // namespace dsv2
