// host_storage: the weights tree (weights/) in host memory. Matrices are cpu_weight (fp32 or bf16,
// owned or mapped from the checkpoint; fp32_weight where the tree keeps fp32), vectors Eigen.
#pragma once

#include <type_traits>

#include "dsv2/backend/cpu/weight.hpp"
#include "dsv2/weights/storage.hpp"

namespace dsv2 {

struct host_storage {
    template <class Precision>
    using matrix = std::conditional_t<std::is_same_v<Precision, fp32_kept>, fp32_weight, cpu_weight>;
    using vector = cpu::vector;

    template <class Precision>
    static matrix<Precision> shape_only(std::int64_t rows, std::int64_t cols) {
        matrix<Precision> m;
        static_cast<cpu_weight&>(m) = cpu_weight::shape_only(rows, cols);
        return m;
    }
    static vector vector_of(std::int64_t n, float value) { return vector::Constant(n, value); }
};

static_assert(weight_storage<host_storage>);

}  // namespace dsv2
