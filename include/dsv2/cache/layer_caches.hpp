// layer_caches<Layer>: what every KV cache layout does over its per-layer row sets — length, bytes,
// reserve, reset, crop and the model/batch identity — whichever rows the layers hold (host
// token_rows, or device rows on the CUDA backend). A Layer lists its row sets through
// for_each_rows(f); a layout derives from layer_caches and fills layers_ in its constructor.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "dsv2/cache/cache_identity.hpp"

namespace dsv2 {

template <class Layer>
class layer_caches {
public:
    using layer_cache = Layer;

    /// Tokens cached per row (the past length P of the next forward).
    std::int64_t length() const noexcept {
        std::int64_t n = 0;
        if (!layers_.empty()) layers_.back().for_each_rows([&](const auto& rows) { n = rows.length(); });
        return n;
    }
    std::int64_t batch() const noexcept { return identity_.batch; }
    const cache_identity& identity() const noexcept { return identity_; }
    layer_cache& layer(std::int64_t i) { return layers_[static_cast<std::size_t>(i)]; }

    /// Bytes stored per token (per batch row: × batch() for the whole batch), summed over layers.
    std::size_t bytes_per_token() const noexcept {
        std::size_t n = 0;
        for (const auto& l : layers_)
            l.for_each_rows([&](const auto& rows) {
                using elem = typename std::remove_cvref_t<decltype(rows)>::element;
                n += static_cast<std::size_t>(rows.width()) * sizeof(elem);
            });
        return n;
    }
    /// Bytes allocated right now.
    std::size_t bytes() const noexcept {
        std::size_t n = 0;
        for (const auto& l : layers_) l.for_each_rows([&](const auto& rows) { n += rows.bytes(); });
        return n;
    }

    void reserve(std::int64_t tokens) {
        for (auto& l : layers_) l.for_each_rows([&](auto& rows) { rows.reserve(tokens); });
    }
    /// Forgets every token; keeps the memory for reuse.
    void reset() noexcept {
        for (auto& l : layers_) l.for_each_rows([](auto& rows) { rows.clear(); });
    }
    /// Keeps the first `tokens` slots of every row.
    void crop(std::int64_t tokens) {
        if (tokens < 0) throw cache_error("crop: length " + std::to_string(tokens) + " is negative");
        for (auto& l : layers_) l.for_each_rows([&](auto& rows) { rows.crop(tokens); });
    }

protected:
    layer_caches(const void* model, std::int64_t batch) : identity_{model, batch} {}

    std::vector<layer_cache> layers_;

private:
    cache_identity identity_;
};

}  // namespace dsv2
