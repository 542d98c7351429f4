// What a KV cache remembers about the model and batch it was made for, so that using it with
// another one is a clear cache_error rather than silent garbage.
#pragma once

#include <cstdint>
#include <string>

#include "dsv2/config.hpp"

namespace dsv2 {

struct cache_identity {
    const void* model = nullptr;  // the weights the cache was made for
    std::int64_t batch = 0;

    void check(const void* weights, std::int64_t batch_size) const {
        if (weights != model)
            throw cache_error("past_key_values: the cache was made for another model (make one with model.make_cache())");
        if (batch_size != batch)
            throw cache_error("past_key_values: the cache holds batch " + std::to_string(batch) +
                              " but the input has batch " + std::to_string(batch_size));
    }
};

}  // namespace dsv2
