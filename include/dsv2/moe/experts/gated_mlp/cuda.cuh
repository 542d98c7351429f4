#if !defined(__CUDACC__)
#error "dsv2/moe/experts/gated_mlp/cuda.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// expert_mlp_impl<gated_mlp_experts, cuda>: y [n, H] = down( act(x·gateᵀ) ⊙ x·upᵀ ) on the device —
// one routed expert over the rows routed to it (moe/moe_layer.cuh), and (same weights type,
// gated_mlp<cuda_storage<W>>) a dense layer or the shared experts. fp32 accumulation; with bf16
// weights the activations are rounded to bf16 once per product input (x once for gate and up, the
// activated gate once for down; see backend/cuda/gemm.cuh).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>

#include "dsv2/backend/cuda/activation.cuh"
#include "dsv2/backend/cuda/elementwise.cuh"
#include "dsv2/backend/cuda/linear.cuh"
#include "dsv2/backend/cuda/runtime.cuh"
#include "dsv2/backend/cuda/storage.cuh"
#include "dsv2/moe/expert_mlp_impl.hpp"
#include "dsv2/moe/experts/gated_mlp/policy.hpp"

namespace dsv2 {

template <>
struct expert_mlp_impl<gated_mlp_experts, cuda> {
    /// y [n, H] = MLP(x [n, H]) (device arrays; y must not overlap x).
    template <cuda_weight_type W>
    static void forward_rows(const cuda_forward_pass& pass, const gated_mlp<cuda_storage<W>>& w, activation act,
                             const float* x, std::int64_t n, float* y) {
        if (n <= 0) return;
        const cudaStream_t s = pass.stream();
        cublas_handle& blas = pass.blas();
        const std::int64_t H = w.gate_proj.in_features(), I = w.intermediate_size();
        device_buffer<float> g(static_cast<std::size_t>(n * I), s), u(static_cast<std::size_t>(n * I), s);
        if constexpr (std::is_same_v<W, float>) {
            linear_forward(cuda{}, blas, s, x, w.gate_proj, g.data(), n);
            linear_forward(cuda{}, blas, s, x, w.up_proj, u.data(), n);
            gate_activation(cuda{}, s, act, g.data(), u.data(), n * I);
            linear_forward(cuda{}, blas, s, g.data(), w.down_proj, y, n);
        } else {
            device_buffer<__nv_bfloat16> xb(static_cast<std::size_t>(n * H), s);
            convert(cuda{}, s, x, xb.data(), n * H);
            linear_forward(cuda{}, blas, s, static_cast<const __nv_bfloat16*>(xb.data()), w.gate_proj, g.data(), n);
            linear_forward(cuda{}, blas, s, static_cast<const __nv_bfloat16*>(xb.data()), w.up_proj, u.data(), n);
            gate_activation(cuda{}, s, act, g.data(), u.data(), n * I);
            device_buffer<__nv_bfloat16> gb(static_cast<std::size_t>(n * I), s);
            convert(cuda{}, s, static_cast<const float*>(g.data()), gb.data(), n * I);
            linear_forward(cuda{}, blas, s, static_cast<const __nv_bfloat16*>(gb.data()), w.down_proj, y, n);
        }
    }

    /// The hook: y = MLP(x), x [n, H] on the device, y allocated [n, H].
    template <cuda_weight_type W>
    static void forward(const cuda_forward_pass& pass, const gated_mlp<cuda_storage<W>>& w, activation act,
                        const device_buffer<float>& x, device_buffer<float>& y) {
        const std::int64_t H = w.gate_proj.in_features();
        const std::int64_t n = H ? static_cast<std::int64_t>(x.size()) / H : 0;
        detail::cuda_expect_size(x.size(), n * H, "gated_mlp: x");
        y = device_buffer<float>(static_cast<std::size_t>(n * w.down_proj.out_features()), pass.stream());
        forward_rows(pass, w, act, x.data(), n, y.data());
    }
};

}  // namespace dsv2
