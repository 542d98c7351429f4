// token_rows: one layer's cached rows for a batch, [B, T, width] in fp32, growing with use.
//
// Every batch row holds the same number of token slots T (left padding is expressed by the
// attention mask, as in transformers). Capacity grows geometrically (×1.5, rounded up to whole
// blocks) unless reserve() sized it for the request; it is never sized from max_position_embeddings.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dsv2/backend/cpu/cpu.hpp"
#include "dsv2/core/error.hpp"

namespace dsv2 {

class token_rows {
public:
    /// Growth granularity in tokens: capacity is always a multiple of it.
    static constexpr std::int64_t block_tokens = 16;

    token_rows() = default;
    token_rows(std::int64_t batch, std::int64_t width) : batch_(batch), width_(width) {}

    std::int64_t batch() const noexcept { return batch_; }
    std::int64_t width() const noexcept { return width_; }
    std::int64_t length() const noexcept { return length_; }
    std::int64_t capacity() const noexcept { return capacity_; }
    std::size_t bytes() const noexcept { return data_.capacity() * sizeof(float); }

    /// Makes room for `tokens` slots per row without over-allocating.
    void reserve(std::int64_t tokens) {
        if (tokens > capacity_) regrow(round_up(tokens));
    }

    /// Appends S new slots to every row: rows [B·S, width], row b·S + s is slot length()+s of row b.
    template <class Rows>
    void append(const Eigen::MatrixBase<Rows>& rows, std::int64_t S) {
        if (length_ + S > capacity_) regrow(std::max(round_up(length_ + S), round_up(capacity_ + capacity_ / 2)));
        for (std::int64_t b = 0; b < batch_; ++b)
            row_map(b).middleRows(length_, S) = rows.middleRows(b * S, S);
        length_ += S;
    }

    /// Row b's slots [0, length()) as a [T, width] matrix view.
    Eigen::Map<const cpu::matrix> rows(std::int64_t b) const {
        return Eigen::Map<const cpu::matrix>(data_.data() + b * capacity_ * width_, length_, width_);
    }

    void crop(std::int64_t length) { length_ = std::min(length_, length); }
    void clear() noexcept { length_ = 0; }

private:
    static std::int64_t round_up(std::int64_t tokens) { return (tokens + block_tokens - 1) / block_tokens * block_tokens; }

    Eigen::Map<cpu::matrix> row_map(std::int64_t b) {
        return Eigen::Map<cpu::matrix>(data_.data() + b * capacity_ * width_, capacity_, width_);
    }

    void regrow(std::int64_t capacity) {
        std::vector<float> next;
        next.reserve(static_cast<std::size_t>(batch_ * capacity * width_));  // exact: no hidden slack
        next.resize(static_cast<std::size_t>(batch_ * capacity * width_));
        if (length_ > 0)
            for (std::int64_t b = 0; b < batch_; ++b)
                std::memcpy(next.data() + b * capacity * width_, data_.data() + b * capacity_ * width_,
                            static_cast<std::size_t>(length_ * width_) * sizeof(float));
        data_.swap(next);
        capacity_ = capacity;
    }

    std::int64_t batch_ = 0, width_ = 0, length_ = 0, capacity_ = 0;
    std::vector<float> data_;
};

}  // namespace dsv2
