#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/rows.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// cuda_token_rows: one layer's cached rows [B, C, width] fp32 in device memory, C = capacity; row
// b's slot j at data() + (b·C + j)·width (batch stride C·width) — the device twin of token_rows
// (backend/cpu/rows.hpp), over which the cache layouts of cache/ are written.
//
// Growth, reserve, crop and bytes() follow token_rows exactly: capacity grows ×1.5 in whole blocks
// of 16 tokens unless reserve() sized it, never from max_position_embeddings. Every allocation and
// copy is ordered on the stream given at construction, which must outlive the rows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

#include "dsv2/backend/cuda/error.cuh"
#include "dsv2/backend/cuda/memory.cuh"

namespace dsv2 {

class cuda_token_rows {
public:
    using element = float;  ///< fp32 rows (what layer_caches::bytes_per_token counts)
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

}  // namespace dsv2
