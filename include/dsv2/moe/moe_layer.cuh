#if !defined(__CUDACC__)
#error "dsv2/moe/moe_layer.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// DeepSeekMoE on the device (the CUDA twin of moe/moe_layer.hpp):
//
//  1-2. routing by the router policy's hook, router_impl<Router, cuda> (device expert ids and
//     weights [T, k]);
//  3. the (token, slot) pairs sorted by expert with cub::DeviceRadixSort (stable: within an
//     expert, slots keep the CPU's ascending order), counts per expert (one small download);
//  4. the tokens' rows gathered per expert; per expert, the expert-MLP policy's hook
//     expert_mlp_impl<ExpertMLP, cuda>::forward_rows on its rows (one cuBLAS call per product and
//     expert; a grouped GEMM is the next step);
//  5. per token, the weighted sum of its k expert outputs in fp32, in ascending expert order as on
//     the CPU, without atomics (deterministic); then the shared experts added.
#pragma once

#include <cub/device/device_radix_sort.cuh>
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "dsv2/backend/cuda/elementwise.cuh"
#include "dsv2/backend/cuda/error.cuh"
#include "dsv2/backend/cuda/memory.cuh"
#include "dsv2/backend/cuda/runtime.cuh"
#include "dsv2/backend/cuda/storage.cuh"
#include "dsv2/core/activation.hpp"
#include "dsv2/moe/expert_mlp_impl.hpp"
#include "dsv2/moe/experts/gated_mlp/cuda.cuh"
#include "dsv2/moe/router_impl.hpp"
#include "dsv2/moe/routing.hpp"
#include "dsv2/weights/moe.hpp"

namespace dsv2 {

namespace detail::cuda_kernels {

template <class T>
__global__ void iota_kernel(T* out, std::int64_t n) {
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        out[i] = static_cast<T>(i);
}

template <class T>
__global__ void count_kernel(const T* keys, std::int64_t n, std::int32_t* counts) {
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        atomicAdd(counts + keys[i], 1);
}

/// Block per sorted position p: xe[p] = x[slot_p / k], position_of[slot_p] = p.
template <class T>
__global__ void gather_kernel(const float* x, std::int64_t hidden, const T* sorted_slots, std::int64_t n, int top_k,
                              float* xe, std::int32_t* position_of) {
    for (std::int64_t p = blockIdx.x; p < n; p += gridDim.x) {
        const std::int64_t slot = sorted_slots[p];
        if (threadIdx.x == 0) position_of[slot] = static_cast<std::int32_t>(p);
        const float* src = x + (slot / top_k) * hidden;
        float* dst = xe + p * hidden;
        for (std::int64_t c = threadIdx.x; c < hidden; c += blockDim.x) dst[c] = src[c];
    }
}

/// Block per token: y[t] = Σ_j w[t, j] · ye[position_of[t·k + j]], j in ascending expert order.
/// Shared memory: k ints (the order).
template <int = 0>
__global__ void combine_kernel(const float* ye, std::int64_t hidden, const std::int32_t* expert, const float* weight,
                               const std::int32_t* position_of, std::int64_t tokens, int top_k, float* y) {
    extern __shared__ int order[];
    for (std::int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
        const std::int32_t* te = expert + t * top_k;
        if (threadIdx.x == 0) {  // k is small: insertion sort of the slots by expert id
            for (int j = 0; j < top_k; ++j) {
                int pos = j;
                while (pos > 0 && te[order[pos - 1]] > te[j]) {
                    order[pos] = order[pos - 1];
                    --pos;
                }
                order[pos] = j;
            }
        }
        __syncthreads();
        float* yr = y + t * hidden;
        for (std::int64_t c = threadIdx.x; c < hidden; c += blockDim.x) {
            float acc = 0.0f;
            for (int r = 0; r < top_k; ++r) {
                const std::int64_t slot = t * top_k + order[r];
                acc = fmaf(weight[slot], ye[static_cast<std::int64_t>(position_of[slot]) * hidden + c], acc);
            }
            yr[c] = acc;
        }
        __syncthreads();  // order is rewritten for the next token
    }
}

}  // namespace detail::cuda_kernels

/// y [T, H] = MoE(x [T, H]) (device arrays; y must not overlap x). H is the router's input width
/// (its `weight` [E, H]). Synchronises the stream once, to read the number of rows of each expert.
template <cuda_weight_type W, class Router, class ExpertMLP>
void moe_forward_rows(const cuda_forward_pass& pass, const moe_weights<cuda_storage<W>, Router, ExpertMLP>& w,
                      const routing_params& p, activation act, const float* x, std::int64_t T, float* y) {
    namespace k = detail::cuda_kernels;
    using detail::cuda_launch::grid_for;
    if (T <= 0) return;
    const auto E = static_cast<std::int64_t>(w.experts.size());
    if (p.experts != E)
        throw input_error("routing_params.experts", std::to_string(p.experts) + " != the weights' " + std::to_string(E));
    const cudaStream_t s = pass.stream();
    const std::int64_t H = w.gate.weight.cols(), K = p.top_k, N = T * K;
    if (N > INT_MAX) throw unsupported_error("cuda MoE: more than 2^31 (token, expert) pairs");

    // 1-2: routing
    device_buffer<std::int32_t> expert(static_cast<std::size_t>(N), s);
    device_buffer<float> weight(static_cast<std::size_t>(N), s);
    router_impl<Router, cuda>::route(pass, w.gate, p, x, T, expert.data(), weight.data());

    // 3: (token, slot) pairs sorted by expert, stably; rows per expert
    device_buffer<std::int32_t> slots(static_cast<std::size_t>(N), s), sorted_experts(static_cast<std::size_t>(N), s),
        sorted_slots(static_cast<std::size_t>(N), s);
    k::iota_kernel<<<grid_for(N, 256), 256, 0, s>>>(slots.data(), N);
    DSV2_CUDA_CHECK_LAUNCH();
    int end_bit = 1;
    while ((std::int64_t{1} << end_bit) < E) ++end_bit;
    std::size_t temp_bytes = 0;
    DSV2_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, expert.data(), sorted_experts.data(),
                                                    slots.data(), sorted_slots.data(), N, 0, end_bit, s));
    device_buffer<unsigned char> temp(temp_bytes ? temp_bytes : 1, s);
    DSV2_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.data(), temp_bytes, expert.data(), sorted_experts.data(),
                                                    slots.data(), sorted_slots.data(), N, 0, end_bit, s));
    device_buffer<std::int32_t> counts(static_cast<std::size_t>(E), s);
    counts.zero();
    k::count_kernel<<<grid_for(N, 256), 256, 0, s>>>(expert.data(), N, counts.data());
    DSV2_CUDA_CHECK_LAUNCH();
    const std::vector<std::int32_t> rows_of = download(s, counts);  // synchronises s

    // 4: rows gathered in expert order, the expert MLP once per expert over its rows
    device_buffer<float> xe(static_cast<std::size_t>(N * H), s), ye(static_cast<std::size_t>(N * H), s);
    device_buffer<std::int32_t> position_of(static_cast<std::size_t>(N), s);
    k::gather_kernel<<<static_cast<unsigned>(N < (1 << 20) ? N : (1 << 20)), 128, 0, s>>>(
        x, H, sorted_slots.data(), N, static_cast<int>(K), xe.data(), position_of.data());
    DSV2_CUDA_CHECK_LAUNCH();
    std::int64_t offset = 0;
    for (std::int64_t e = 0; e < E; ++e) {
        const std::int64_t n = rows_of[static_cast<std::size_t>(e)];
        if (n > 0)
            expert_mlp_impl<ExpertMLP, cuda>::forward_rows(pass, w.experts[static_cast<std::size_t>(e)], act,
                                                           xe.data() + offset * H, n, ye.data() + offset * H);
        offset += n;
    }

    // 5: weighted fp32 sum per token, then the shared experts
    k::combine_kernel<0><<<static_cast<unsigned>(T < (1 << 20) ? T : (1 << 20)), 128, sizeof(int) * K, s>>>(
        ye.data(), H, expert.data(), weight.data(), position_of.data(), T, static_cast<int>(K), y);
    DSV2_CUDA_CHECK_LAUNCH();
    if (w.shared_experts) {
        device_buffer<float> shared(static_cast<std::size_t>(T * H), s);
        expert_mlp_impl<gated_mlp_experts, cuda>::forward_rows(pass, *w.shared_experts, act, x, T, shared.data());
        add_inplace(cuda{}, s, y, shared.data(), T * H);
    }
}

/// The decoder's call: y [T, H] = MoE(x [T, H]) on the device, y allocated here.
template <cuda_weight_type W, class Router, class ExpertMLP>
void moe_forward(const cuda_forward_pass& pass, const moe_weights<cuda_storage<W>, Router, ExpertMLP>& w,
                 const routing_params& p, activation act, const device_buffer<float>& x, device_buffer<float>& y) {
    const std::int64_t H = w.gate.weight.cols();
    const std::int64_t T = H ? static_cast<std::int64_t>(x.size()) / H : 0;
    detail::cuda_expect_size(x.size(), T * H, "moe_forward: x");
    y = device_buffer<float>(static_cast<std::size_t>(T * H), pass.stream());
    moe_forward_rows(pass, w, p, act, x.data(), T, y.data());
}

}  // namespace dsv2
