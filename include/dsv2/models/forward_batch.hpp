// forward_batch: the batch of one forward on the host — rotary positions of the new tokens and the
// key mask over cached + new slots — owned, so a forward pass can keep it as long as it runs.
#pragma once

#include <cstdint>

#include "dsv2/attention/attention_batch.hpp"
#include "dsv2/core/tensor.hpp"
#include "dsv2/models/forward_args.hpp"

namespace dsv2 {

struct forward_batch {
    std::int64_t batch = 0;       // B
    std::int64_t new_tokens = 0;  // S
    std::int64_t past = 0;        // P
    tensor<std::int64_t> positions;  // [B, S]
    tensor<std::int64_t> key_mask;   // [B, P + S], 1 = a real token

    /// From checked forward arguments: positions given, or P .. P+S-1 for every row (transformers'
    /// default); the mask given, or all ones.
    static forward_batch make(const forward_args& args, std::int64_t B, std::int64_t S, std::int64_t P) {
        forward_batch fb{B, S, P, tensor<std::int64_t>({B, S}), {}};
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t s = 0; s < S; ++s) fb.positions(b, s) = args.position_ids ? (*args.position_ids)(b, s) : P + s;
        fb.key_mask = args.attention_mask ? *args.attention_mask : tensor<std::int64_t>({B, P + S}, 1);
        return fb;
    }

    /// The attention_batch view of it (valid while this object lives and is not modified).
    attention_batch view() const noexcept { return {batch, new_tokens, past, positions.data(), key_mask.data()}; }
};

}  // namespace dsv2
