#if !defined(__CUDACC__)
#error "dsv2/models/cuda/kv_cache.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// KV caches on the device: the two layouts of dsv2/cache/ with the same interface and rules.
//
//   cuda_token_rows          one layer's rows [B, C, width] fp32 in device memory, C = capacity;
//                            row b's slot j at data() + (b·C + j)·width (batch stride C·width)
//   cuda_latent_kv_cache     per layer [k_pe | c_n] (d_rope + d_c)           (latent_kv_cache)
//   cuda_expanded_kv_cache   per layer keys n_h·d_qk and values n_h·d_v      (expanded_kv_cache)
//
// Growth, reserve, reset, crop and bytes() follow cache/token_rows.hpp exactly: capacity grows
// ×1.5 in whole blocks of 16 tokens unless reserve() sized it, never from max_position_embeddings.
// Every allocation and copy is ordered on the model's stream (cuda_device_context), which the
// cache keeps alive. Misuse is a cache_error, as on the CPU.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dsv2/backend/cuda/error.cuh"
#include "dsv2/backend/cuda/memory.cuh"
#include "dsv2/cache/expanded_kv_cache.hpp"
#include "dsv2/cache/latent_kv_cache.hpp"
#include "dsv2/config.hpp"
#include "dsv2/models/cuda/context.cuh"

namespace dsv2 {

class cuda_token_rows {
public:
    static constexpr std::int64_t block_tokens = 16;

    cuda_token_rows(std::int64_t batch, std::int64_t width, cudaStream_t s) : batch_(batch), width_(width), stream_(s) {}

    std::int64_t batch() const noexcept { return batch_; }
    std::int64_t width() const noexcept { return width_; }
    std::int64_t length() const noexcept { return length_; }
    std::int64_t capacity() const noexcept { return capacity_; }
    std::size_t bytes() const noexcept { return data_.bytes(); }
    /// Elements between row b's slot 0 and row b+1's slot 0.
    std::int64_t batch_stride() const noexcept { return capacity_ * width_; }
    float* data() noexcept { return data_.data(); }
    const float* data() const noexcept { return data_.data(); }

    void reserve(std::int64_t tokens) {
        if (tokens > capacity_) regrow(round_up(tokens));
    }

    /// Appends S new slots to every row from device rows [B·S, width] (row b·S + s is slot
    /// length()+s of row b). Stream-ordered.
    void append(const float* rows, std::int64_t S) {
        if (S <= 0) return;
        if (length_ + S > capacity_) regrow(std::max(round_up(length_ + S), round_up(capacity_ + capacity_ / 2)));
        const std::size_t row_bytes = static_cast<std::size_t>(width_) * sizeof(float);
        DSV2_CUDA_CHECK(cudaMemcpy2DAsync(data_.data() + length_ * width_, static_cast<std::size_t>(capacity_) * row_bytes,
                                          rows, static_cast<std::size_t>(S) * row_bytes,
                                          static_cast<std::size_t>(S) * row_bytes, static_cast<std::size_t>(batch_),
                                          cudaMemcpyDeviceToDevice, stream_));
        length_ += S;
    }

    void crop(std::int64_t length) { length_ = std::min(length_, length); }
    void clear() noexcept { length_ = 0; }

private:
    static std::int64_t round_up(std::int64_t tokens) { return (tokens + block_tokens - 1) / block_tokens * block_tokens; }

    void regrow(std::int64_t capacity) {
        device_buffer<float> next(static_cast<std::size_t>(batch_ * capacity * width_), stream_);
        if (length_ > 0 && batch_ > 0) {
            const std::size_t row_bytes = static_cast<std::size_t>(width_) * sizeof(float);
            DSV2_CUDA_CHECK(cudaMemcpy2DAsync(next.data(), static_cast<std::size_t>(capacity) * row_bytes, data_.data(),
                                              static_cast<std::size_t>(capacity_) * row_bytes,
                                              static_cast<std::size_t>(length_) * row_bytes,
                                              static_cast<std::size_t>(batch_), cudaMemcpyDeviceToDevice, stream_));
        }
        data_ = std::move(next);  // the old buffer is freed after the copy, in stream order
        capacity_ = capacity;
    }

    std::int64_t batch_ = 0, width_ = 0, length_ = 0, capacity_ = 0;
    cudaStream_t stream_ = nullptr;
    device_buffer<float> data_;
};

/// The model's device context, held by a cache as its first base: the stream its rows are
/// allocated and freed on outlives them.
struct cuda_cache_context {
    std::shared_ptr<cuda_device_context> context;

    cuda_cache_context(std::shared_ptr<cuda_device_context> c, const char* layout) : context(std::move(c)) {
        if (!context) throw cache_error(std::string(layout) + ": no device context (make it with model.make_cache())");
    }
};

/// The latent layout (cache/latent_kv_cache.hpp) in device memory.
class cuda_latent_kv_cache : private cuda_cache_context, public basic_latent_kv_cache<cuda_token_rows> {
public:
    cuda_latent_kv_cache(const DeepseekV2Config& cfg, std::int64_t batch, const void* model,
                         std::shared_ptr<cuda_device_context> context)
        : cuda_cache_context(std::move(context), "cuda_latent_kv_cache"),
          basic_latent_kv_cache(cfg, batch, model, [&](std::int64_t width) {
              return cuda_token_rows(batch, width, this->context->get());
          }) {}
};

/// The expanded layout (cache/expanded_kv_cache.hpp) in device memory.
class cuda_expanded_kv_cache : private cuda_cache_context, public basic_expanded_kv_cache<cuda_token_rows> {
public:
    cuda_expanded_kv_cache(const DeepseekV2Config& cfg, std::int64_t batch, const void* model,
                           std::shared_ptr<cuda_device_context> context)
        : cuda_cache_context(std::move(context), "cuda_expanded_kv_cache"),
          basic_expanded_kv_cache(cfg, batch, model, [&](std::int64_t width) {
              return cuda_token_rows(batch, width, this->context->get());
          }) {}
};

}  // namespace dsv2
