// The weights tree is written once, generic over a storage S that says how a matrix and a vector
// are held: host_storage (backend/cpu/storage.hpp: fp32 or bf16, owned or mapped from the
// checkpoint) or cuda_storage<W> (backend/cuda/storage.cuh: device buffers of W = float or bf16).
//
// The precision a parameter must keep is part of its type: matrix_t<S, as_loaded> is what the
// loader chooses (the checkpoint's dtype, or load_options::weight_dtype), matrix_t<S, fp32_kept>
// is always fp32 — kv_b_proj (absorbed attention reads it per head), the router gate. A loader,
// initialiser or uploader reads the precision off the parameter's type, never off its name.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>

namespace dsv2 {

/// Precision tags of a matrix parameter.
struct as_loaded {};  ///< the loader's choice: bf16 stays bf16 (mapped in place), else fp32
struct fp32_kept {};  ///< always fp32

/// What a parameter is, for initialisation: Linear/embedding weights are drawn from
/// normal(0, initializer_range), norm weights are 1, biases 0.
enum class parameter_kind { weight, norm, bias };

template <class S, class Precision = as_loaded>
using matrix_t = typename S::template matrix<Precision>;
template <class S>
using vector_t = typename S::vector;

/// A storage: its matrix and vector types, and parameters with a shape but no values yet
/// (a loader, initialiser or upload gives them storage).
template <class S>
concept weight_storage = requires(std::int64_t n, float value) {
    typename S::vector;
    typename S::template matrix<as_loaded>;
    typename S::template matrix<fp32_kept>;
    { S::template shape_only<as_loaded>(n, n) } -> std::same_as<matrix_t<S, as_loaded>>;
    { S::template shape_only<fp32_kept>(n, n) } -> std::same_as<matrix_t<S, fp32_kept>>;
    { S::vector_of(n, value) } -> std::same_as<vector_t<S>>;
};

namespace detail {
/// The first of a pack of trees (all of one shape): the one whose optionals/variants are read.
template <class T, class... Rest>
constexpr T& first_tree(T& t, Rest&...) noexcept {
    return t;
}
}  // namespace detail

}  // namespace dsv2
