// token_rows: one layer's cached rows for a batch, [B, T, width] in fp32, growing with use;
// token_rows_bf16 the same rows rounded to bf16 (half the bytes; a cache layout may choose it).
//
// Every batch row holds the same number of token slots T (left padding is expressed by the
// attention mask, as in transformers). Capacity grows geometrically (×1.5, rounded up to whole
// blocks) unless reserve() sized it for the request; it is never sized from max_position_embeddings.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "dsv2/backend/cpu/cpu.hpp"
#include "dsv2/core/dtype.hpp"
#include "dsv2/core/error.hpp"

namespace dsv2 {

/// The element type of cached rows: fp32, or bf16 bits (rounded to nearest even on append).
struct bf16_bits {
    std::uint16_t bits;
};

template <class Elem>
class basic_token_rows {
    static_assert(std::is_same_v<Elem, float> || std::is_same_v<Elem, bf16_bits>, "token rows hold fp32 or bf16");

public:
    using element = Elem;
    /// Growth granularity in tokens: capacity is always a multiple of it.
    static constexpr std::int64_t block_tokens = 16;

    basic_token_rows() = default;
    basic_token_rows(std::int64_t batch, std::int64_t width) : batch_(batch), width_(width) {}

    std::int64_t batch() const noexcept { return batch_; }
    std::int64_t width() const noexcept { return width_; }
    std::int64_t length() const noexcept { return length_; }
    std::int64_t capacity() const noexcept { return capacity_; }
    std::size_t bytes() const noexcept { return data_.capacity() * sizeof(Elem); }

    /// Makes room for `tokens` slots per row without over-allocating.
    void reserve(std::int64_t tokens) {
        if (tokens > capacity_) regrow(round_up(tokens));
    }

    /// Appends S new slots to every row: rows [B·S, width], row b·S + s is slot length()+s of row b.
    template <class Rows>
    void append(const Eigen::MatrixBase<Rows>& rows, std::int64_t S) {
        if (length_ + S > capacity_) regrow(std::max(round_up(length_ + S), round_up(capacity_ + capacity_ / 2)));
        for (std::int64_t b = 0; b < batch_; ++b) {
            if constexpr (std::is_same_v<Elem, float>) {
                row_map(b).middleRows(length_, S) = rows.middleRows(b * S, S);
            } else {
                Elem* dst = data_.data() + (b * capacity_ + length_) * width_;
                for (std::int64_t s = 0; s < S; ++s)
                    for (std::int64_t c = 0; c < width_; ++c)
                        dst[s * width_ + c] = Elem{float_to_bf16(static_cast<float>(rows(b * S + s, c)))};
            }
        }
        length_ += S;
    }

    /// Row b's slots [0, length()) as a [T, width] matrix view (fp32 rows).
    Eigen::Map<const cpu::matrix> rows(std::int64_t b) const
        requires std::is_same_v<Elem, float>
    {
        return Eigen::Map<const cpu::matrix>(data_.data() + b * capacity_ * width_, length_, width_);
    }

    /// Row b's slots [0, length()): length() · width() elements, row-major.
    const Elem* data(std::int64_t b) const noexcept { return data_.data() + b * capacity_ * width_; }

    void crop(std::int64_t length) { length_ = std::min(length_, length); }
    void clear() noexcept { length_ = 0; }

private:
    static std::int64_t round_up(std::int64_t tokens) { return (tokens + block_tokens - 1) / block_tokens * block_tokens; }

    Eigen::Map<cpu::matrix> row_map(std::int64_t b)
        requires std::is_same_v<Elem, float>
    {
        return Eigen::Map<cpu::matrix>(data_.data() + b * capacity_ * width_, capacity_, width_);
    }

    void regrow(std::int64_t capacity) {
        std::vector<Elem> next;
        next.reserve(static_cast<std::size_t>(batch_ * capacity * width_));  // exact: no hidden slack
        next.resize(static_cast<std::size_t>(batch_ * capacity * width_));
        if (length_ > 0)
            for (std::int64_t b = 0; b < batch_; ++b)
                std::memcpy(next.data() + b * capacity * width_, data_.data() + b * capacity_ * width_,
                            static_cast<std::size_t>(length_ * width_) * sizeof(Elem));
        data_.swap(next);
        capacity_ = capacity;
    }

    std::int64_t batch_ = 0, width_ = 0, length_ = 0, capacity_ = 0;
    std::vector<Elem> data_;
};

using token_rows = basic_token_rows<float>;
using token_rows_bf16 = basic_token_rows<bf16_bits>;

}  // namespace dsv2
