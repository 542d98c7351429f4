// cpu_weight: a weight matrix [rows, cols] (a PyTorch Linear [out, in]) stored in one of GGML's
// formats (quant/ggml_type.hpp): f32, bf16, or a block-quantised format (q8_0, q4_K, ...).
//
// bf16 is how real checkpoints ship: keeping it halves the bytes decode reads per token, and the
// products are accumulated in fp32 (backend/cpu/matmul.hpp). Block-quantised rows are GGML's blocks
// bit for bit (quant/blocks.hpp), so a GGUF tensor is used in place. Storage is either owned or a
// view into a memory-mapped file (`owner` keeps the mapping alive): then loading copies nothing.
// Rows are contiguous: row r starts at r · row_bytes() bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dsv2/backend/cpu/cpu.hpp"
#include "dsv2/core/dtype.hpp"
#include "dsv2/core/error.hpp"
#include "dsv2/quant/dequantize.hpp"
#include "dsv2/quant/ggml_type.hpp"
#include "dsv2/quant/quantize.hpp"

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
        w.format_ = ggml_type::f32;
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
        w.format_ = ggml_type::bf16;
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
        w.format_ = ggml_type::bf16;
        w.rows_ = rows;
        w.cols_ = cols;
        w.data_ = data;
        w.owner_ = std::move(owner);
        return w;
    }

    /// GGML-format rows [rows, cols] that `owner` keeps alive: a view of a GGUF tensor in place, or
    /// owned quantised bytes (`data` inside `owner`). `data` holds rows · row_bytes(format, cols)
    /// bytes; a row width that is not a whole number of blocks is an unsupported_error.
    static cpu_weight format_view(ggml_type format, std::int64_t rows, std::int64_t cols, const void* data,
                                  std::shared_ptr<const void> owner) {
        if (!is_supported_weight_type(format))
            throw unsupported_error("cpu_weight: weights stored as " + std::string(name_of(format)) + " are not supported");
        if (!dsv2::row_bytes(format, static_cast<std::uint64_t>(cols)))
            throw unsupported_error("cpu_weight: a row of " + std::to_string(cols) + " values is not a whole number of " +
                                    std::string(name_of(format)) + " blocks");
        cpu_weight w;
        w.format_ = format;
        w.rows_ = rows;
        w.cols_ = cols;
        w.data_ = data;
        w.owner_ = std::move(owner);
        return w;
    }

    /// Owned GGML-format rows (e.g. quantised at load).
    static cpu_weight format_owned(ggml_type format, std::int64_t rows, std::int64_t cols, std::vector<std::byte> bytes) {
        auto buf = std::make_shared<std::vector<std::byte>>(std::move(bytes));
        const void* data = buf->data();
        return format_view(format, rows, cols, data, std::move(buf));
    }

    /// How the values are stored.
    ggml_type format() const noexcept { return format_; }
    /// Stored as GGML blocks of more than one value (q8_0, q4_K, ...), not plain f32/bf16.
    bool is_block_quantized() const noexcept { return dsv2::is_block_quantized(format_); }
    std::int64_t rows() const noexcept { return rows_; }
    std::int64_t cols() const noexcept { return cols_; }
    /// Bytes of one row.
    std::size_t row_bytes() const noexcept {
        return static_cast<std::size_t>(dsv2::row_bytes(format_, static_cast<std::uint64_t>(cols_)).value_or(0));
    }
    std::size_t bytes() const noexcept { return static_cast<std::size_t>(rows_) * row_bytes(); }
    /// The stored bytes (any format).
    const void* data() const noexcept { return data_; }

    /// The fp32 matrix (fp32 storage only).
    Eigen::Map<const cpu::matrix> f32() const {
        if (format_ != ggml_type::f32)
            throw unsupported_error("cpu_weight::f32(): the weight is stored as " + std::string(name_of(format_)));
        return Eigen::Map<const cpu::matrix>(static_cast<const float*>(data_), rows_, cols_);
    }
    /// Writable fp32 data (owned fp32 storage only): loaders and initialisers fill it.
    float* mutable_f32() {
        if (!mutable_) throw unsupported_error("cpu_weight::mutable_f32(): the weight is not owned fp32 storage");
        return mutable_;
    }
    /// Raw bf16 bits (bf16 storage only).
    const std::uint16_t* bf16() const {
        if (format_ != ggml_type::bf16)
            throw unsupported_error("cpu_weight::bf16(): the weight is stored as " + std::string(name_of(format_)));
        return static_cast<const std::uint16_t*>(data_);
    }

    /// Row r as fp32 into out[cols] (embedding lookups; quantised rows are dequantised).
    void row_to_f32(std::int64_t r, float* out) const {
        const auto* row = static_cast<const std::byte*>(data_) + static_cast<std::size_t>(r) * row_bytes();
        dequantize_row(format_, row, out, cols_);
    }

    /// Element (r, c) as fp32 (tests and tools; not for hot loops: quantised formats decode the row).
    float at(std::int64_t r, std::int64_t c) const {
        if (format_ == ggml_type::f32) return static_cast<const float*>(data_)[r * cols_ + c];
        if (format_ == ggml_type::bf16) return bf16_to_float(bf16()[r * cols_ + c]);
        std::vector<float> row(static_cast<std::size_t>(cols_));
        row_to_f32(r, row.data());
        return row[static_cast<std::size_t>(c)];
    }

private:
    ggml_type format_ = ggml_type::f32;
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
        if (format() != ggml_type::f32)
            throw unsupported_error("fp32_weight: the parameter must be stored in fp32, got " + std::string(name_of(format())));
    }
};

}  // namespace dsv2
