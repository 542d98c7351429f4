// The CPU backend: a tag type plus the storage it uses (Eigen, row-major like PyTorch weights).
//
// Blocks take the backend tag as their first argument; the CPU overloads live beside each block's
// math, the CUDA ones in backend/cuda/. Nothing here knows about DeepSeek-V2.
#pragma once

#include <Eigen/Core>
#include <cstdint>

namespace dsv2 {

struct cpu {
    static constexpr const char* name = "cpu";

    /// [rows, cols], row-major: a PyTorch Linear weight [out, in] keeps its memory layout.
    using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using vector = Eigen::Matrix<float, Eigen::Dynamic, 1>;
    using matrix_map = Eigen::Map<matrix>;
    using const_matrix_map = Eigen::Map<const matrix>;
    using vector_map = Eigen::Map<vector>;
    using const_vector_map = Eigen::Map<const vector>;
};

}  // namespace dsv2
