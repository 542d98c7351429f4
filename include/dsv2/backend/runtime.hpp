// backend_runtime<Backend, Weights>: what a model keeps on its backend, and what every backend
// must provide (checked by backend_runtime_for, so a missing piece is a compile error naming it).
//
//   backend_runtime<cpu, W>   nothing beyond the loaded host weights W (backend/cpu/runtime.hpp)
//   backend_runtime<cuda, W>  W uploaded once to the device (W::rebind<cuda_storage<·>>), a stream
//                             and a cuBLAS handle (backend/cuda/runtime.cuh, nvcc only)
//
// A runtime provides
//   R(cfg, shared_ptr<const W>)         from the loaded host weights
//   visit_weights(f)                   f(the weights on the backend: a model_weights<S, ...>)
//   begin(forward_batch) -> pass       one forward's state on the backend; pass::hidden is the
//                                      [B·S, H] activations there
//   make_cache<Cache>(cfg, B, model)   an empty cache of a layout that lives on the backend
// and these primitives, overloaded on the pass type:
//   embed(pass, table, ids*, embeds*) -> hidden       normed(pass, x, w, eps) -> hidden
//   normalize_inplace(pass, x, w, eps)                add_residual(pass, x, y)
//   to_host_tensor(pass, x, shape) -> tensor<float>   project_rows(pass, x, rows, matrix) -> cpu::matrix
// The blocks (attention, routers, expert MLPs) are not here: they are the policies' hooks.
#pragma once

#include <concepts>
#include <cstdint>
#include <vector>

#include "dsv2/backend/cpu/cpu.hpp"
#include "dsv2/core/forward_batch.hpp"
#include "dsv2/core/tensor.hpp"

namespace dsv2 {

template <class Backend, class Weights>
class backend_runtime;

/// A backend tag: a type with a name; its runtime is backend_runtime<Backend, W>.
template <class B>
concept backend_tag = requires {
    { B::name } -> std::convertible_to<const char*>;
};

/// What a backend's forward pass must support (the decoder's calls besides the policy hooks).
template <class Runtime, class Pass>
concept backend_runtime_for = requires(const Runtime& rt, forward_batch fb, const Pass& pass,
                                       typename Pass::hidden& x, const typename Pass::hidden& y,
                                       const std::vector<std::int64_t>& rows, shape_t shape) {
    typename Runtime::forward_pass;
    typename Pass::backend;
    { rt.begin(std::move(fb)) } -> std::same_as<Pass>;
    add_residual(pass, x, y);
    { to_host_tensor(pass, y, shape) } -> std::same_as<tensor<float>>;
};

}  // namespace dsv2
