// dsv2::tensor<T>: a dense, row-major, owning host tensor with a run-time shape.
//
// It is the currency of the public API (ids, masks, embeddings, logits, hidden states). Inside the
// blocks, tensors are viewed as Eigen matrices without copies (see backend/cpu/cpu.hpp).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dsv2/core/error.hpp"

namespace dsv2 {

using shape_t = std::vector<std::int64_t>;

/// "[2, 3, 4]"
inline std::string to_string(const shape_t& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

template <class T>
class tensor {
public:
    using value_type = T;

    tensor() = default;
    /// A tensor of `shape`, every element `fill`. Negative dimensions are an input_error.
    explicit tensor(shape_t shape, T fill = T{}) : shape_(std::move(shape)) {
        data_.assign(static_cast<std::size_t>(count(shape_)), fill);
    }
    /// A tensor of `shape` holding `data` (row-major); the sizes must agree.
    tensor(shape_t shape, std::vector<T> data) : shape_(std::move(shape)), data_(std::move(data)) {
        if (static_cast<std::int64_t>(data_.size()) != count(shape_))
            throw input_error("tensor", "shape " + to_string(shape_) + " needs " + std::to_string(count(shape_)) +
                                            " values, got " + std::to_string(data_.size()));
    }
    /// A 2-D tensor from nested rows: tensor<int64_t>::rows({{1, 2}, {3, 4}}). Rows must have one length.
    static tensor rows(std::initializer_list<std::initializer_list<T>> r) {
        std::vector<T> d;
        const std::int64_t cols = r.size() ? static_cast<std::int64_t>(r.begin()->size()) : 0;
        for (const auto& row : r) {
            if (static_cast<std::int64_t>(row.size()) != cols)
                throw input_error("tensor::rows", "rows have different lengths");
            d.insert(d.end(), row.begin(), row.end());
        }
        return tensor({static_cast<std::int64_t>(r.size()), cols}, std::move(d));
    }

    const shape_t& shape() const noexcept { return shape_; }
    int rank() const noexcept { return static_cast<int>(shape_.size()); }
    std::int64_t dim(int i) const { return shape_.at(static_cast<std::size_t>(i < 0 ? i + rank() : i)); }
    std::int64_t numel() const noexcept { return static_cast<std::int64_t>(data_.size()); }
    bool empty() const noexcept { return data_.empty() && shape_.empty(); }

    T* data() noexcept { return data_.data(); }
    const T* data() const noexcept { return data_.data(); }
    std::span<T> values() noexcept { return data_; }
    std::span<const T> values() const noexcept { return data_; }
    std::vector<T>& storage() noexcept { return data_; }

    /// Element access by full index, row-major (no bounds check beyond the debug assert of vector).
    template <class... I>
    T& operator()(I... idx) noexcept { return data_[offset(idx...)]; }
    template <class... I>
    const T& operator()(I... idx) const noexcept { return data_[offset(idx...)]; }

    /// Pointer to the first element of row `i` of the leading dimension.
    T* row(std::int64_t i) noexcept { return data_.data() + i * (numel() / shape_[0]); }
    const T* row(std::int64_t i) const noexcept { return data_.data() + i * (numel() / shape_[0]); }

    static std::int64_t count(const shape_t& s) {
        std::int64_t n = 1;
        for (auto d : s) {
            if (d < 0) throw input_error("tensor", "negative dimension in shape " + to_string(s));
            n *= d;
        }
        return n;
    }

private:
    template <class... I>
    std::size_t offset(I... idx) const noexcept {
        const std::int64_t ii[] = {static_cast<std::int64_t>(idx)...};
        std::int64_t off = 0;
        for (std::size_t k = 0; k < sizeof...(I); ++k) off = off * shape_[k] + ii[k];
        return static_cast<std::size_t>(off);
    }

    shape_t shape_;
    std::vector<T> data_;
};

}  // namespace dsv2
