// cpu_weight: a weight matrix [rows, cols] (a PyTorch Linear [out, in]) stored in fp32 or bf16.
//
// bf16 is how real checkpoints ship: keeping it halves the bytes decode reads per token, and the
// products are accumulated in fp32 (backend/cpu/matmul.hpp). Storage is either owned or a view
// into a memory-mapped checkpoint (`owner` keeps the mapping alive): then loading copies nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dsv2/backend/cpu/cpu.hpp"
#include "dsv2/core/dtype.hpp"
#include "dsv2/core/error.hpp"

namespace dsv2 {

class cpu_weight {
public:
    cpu_weight() = default;

    /// A weight with a shape and no storage yet: a loader or initialiser gives it one.
    static cpu_weight shape_only(std::int64_t rows, std::int64_t cols) {
        cpu_weight w;
        w.rows_ = rows;
        w.cols_ = cols;
        return w;
    }

    /// A read-only view of fp32 data that `owner` keeps alive (a mapped checkpoint; 4-byte aligned).
    static cpu_weight f32_view(std::int64_t rows, std::int64_t cols, const void* data, std::shared_ptr<const void> owner) {
        cpu_weight w;
        w.rows_ = rows;
        w.cols_ = cols;
        w.data_ = data;
        w.owner_ = std::move(owner);
        return w;
    }

    bool has_storage() const noexcept { return data_ != nullptr || rows_ * cols_ == 0; }

    /// An owned fp32 matrix of zeros.
    static cpu_weight zeros(std::int64_t rows, std::int64_t cols) {
        cpu_weight w;
        w.type_ = dtype::f32;
        w.rows_ = rows;
        w.cols_ = cols;
        auto buf = std::make_shared<std::vector<float>>(static_cast<std::size_t>(rows * cols), 0.0f);
        w.data_ = buf->data();
        w.mutable_ = buf->data();
        w.owner_ = std::move(buf);
        return w;
    }

    /// An owned bf16 matrix (raw bf16 bit patterns, row-major).
    static cpu_weight bf16_owned(std::int64_t rows, std::int64_t cols, std::vector<std::uint16_t> bits) {
        cpu_weight w;
        w.type_ = dtype::bf16;
        w.rows_ = rows;
        w.cols_ = cols;
        auto buf = std::make_shared<std::vector<std::uint16_t>>(std::move(bits));
        w.data_ = buf->data();
        w.owner_ = std::move(buf);
        return w;
    }

    /// A read-only view of bf16 data that `owner` keeps alive (a mapped checkpoint).
    static cpu_weight bf16_view(std::int64_t rows, std::int64_t cols, const void* data, std::shared_ptr<const void> owner) {
        cpu_weight w;
        w.type_ = dtype::bf16;
        w.rows_ = rows;
        w.cols_ = cols;
        w.data_ = data;
        w.owner_ = std::move(owner);
        return w;
    }

    dtype type() const noexcept { return type_; }
    std::int64_t rows() const noexcept { return rows_; }
    std::int64_t cols() const noexcept { return cols_; }
    std::size_t bytes() const noexcept { return static_cast<std::size_t>(rows_ * cols_) * size_of(type_); }

    /// The fp32 matrix (fp32 storage only).
    Eigen::Map<const cpu::matrix> f32() const {
        if (type_ != dtype::f32) throw unsupported_error("cpu_weight::f32(): the weight is stored as bf16");
        return Eigen::Map<const cpu::matrix>(static_cast<const float*>(data_), rows_, cols_);
    }
    /// Writable fp32 data (owned fp32 storage only): loaders and initialisers fill it.
    float* mutable_f32() {
        if (!mutable_) throw unsupported_error("cpu_weight::mutable_f32(): the weight is not owned fp32 storage");
        return mutable_;
    }
    /// Raw bf16 bits (bf16 storage only).
    const std::uint16_t* bf16() const {
        if (type_ != dtype::bf16) throw unsupported_error("cpu_weight::bf16(): the weight is stored as fp32");
        return static_cast<const std::uint16_t*>(data_);
    }

    /// Row r as fp32 into out[cols] (embedding lookups).
    void row_to_f32(std::int64_t r, float* out) const {
        if (type_ == dtype::f32) {
            const float* src = static_cast<const float*>(data_) + r * cols_;
            std::copy(src, src + cols_, out);
        } else {
            const std::uint16_t* src = bf16() + r * cols_;
            for (std::int64_t c = 0; c < cols_; ++c) out[c] = bf16_to_float(src[c]);
        }
    }

    /// Element (r, c) as fp32 (tests and tools; not for hot loops).
    float at(std::int64_t r, std::int64_t c) const {
        return type_ == dtype::f32 ? static_cast<const float*>(data_)[r * cols_ + c] : bf16_to_float(bf16()[r * cols_ + c]);
    }

private:
    dtype type_ = dtype::f32;
    std::int64_t rows_ = 0, cols_ = 0;
    const void* data_ = nullptr;
    float* mutable_ = nullptr;
    std::shared_ptr<const void> owner_;
};

/// A cpu_weight that is fp32 by type (matrix_t<host_storage, fp32_kept>): whoever gives it storage
/// must give fp32 (a loader converts; assigning bf16 storage is an unsupported_error).
class fp32_weight : public cpu_weight {
public:
    fp32_weight() = default;
    fp32_weight(cpu_weight w) : cpu_weight(std::move(w)) {  // NOLINT: implicit, as a loader assigns
        if (type() != dtype::f32) throw unsupported_error("fp32_weight: the parameter must be stored in fp32, got bf16");
    }
};

}  // namespace dsv2
