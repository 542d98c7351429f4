#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/moe.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// DeepSeekMoE on the device (the CUDA twin of moe/moe_layer.hpp):
//
//  1. router logits x·gateᵀ, fp32 (the router weight is always held in fp32: bf16 activations
//     there could change which experts win);
//  2. router kernel, one warp per token: softmax in fp32 (max, e^(z−max), the sum taken in expert
//     order as softmax_inplace does, then a division), then greedy top-k or group-limited greedy
//     (group score = max inside the group; the topk_group best groups stay, the rest become 0),
//     ties to the lower index, k picks in descending order exactly as top_k_indices orders them;
//     weights × routed_scaling_factor, or renormalised with norm_topk_prob (finish_weights);
//  3. the (token, slot) pairs sorted by expert with cub::DeviceRadixSort (stable: within an
//     expert, slots keep the CPU's ascending order), counts per expert (one small download);
//  4. the tokens' rows gathered per expert; per expert, one batched gated MLP on its rows (cuBLAS
//     per expert: the first version; a grouped GEMM is the next step);
//  5. per token, the weighted sum of its k expert outputs in fp32, in ascending expert order as on
//     the CPU, without atomics (deterministic); then the shared experts added.
#pragma once

#include <cub/device/device_radix_sort.cuh>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "dsv2/backend/cuda/activation.cuh"
#include "dsv2/backend/cuda/elementwise.cuh"
#include "dsv2/backend/cuda/error.cuh"
#include "dsv2/backend/cuda/gemm.cuh"
#include "dsv2/backend/cuda/linear.cuh"
#include "dsv2/backend/cuda/memory.cuh"
#include "dsv2/backend/cuda/reduce.cuh"
#include "dsv2/moe/moe_layer.hpp"
#include "dsv2/moe/router_from_config.hpp"

namespace dsv2 {

/// The weights of one MoE layer on the device. Routed experts are stacked, so expert e's
/// matrices are one offset away: gate/up at e·I·H, down at e·H·I.
template <cuda_weight_type W>
struct cuda_moe_weights {
    device_buffer<float> gate;   // router [E, H], fp32
    device_buffer<W> experts_gate;  // [E, I, H]
    device_buffer<W> experts_up;    // [E, I, H]
    device_buffer<W> experts_down;  // [E, H, I]
    std::int64_t experts = 0, hidden = 0, intermediate = 0;
    std::optional<cuda_gated_mlp<W>> shared_experts;
};

/// A CPU MoE layer (any storage type) on the device as W, each matrix written by fill (see
/// to_device of a linear layer); the router stays fp32.
template <cuda_weight_type W, class Fill>
cuda_moe_weights<W> to_device(cudaStream_t s, const cpu_moe_weights& m, const Fill& fill) {
    cuda_moe_weights<W> d;
    d.experts = static_cast<std::int64_t>(m.experts.size());
    d.hidden = m.gate.cols();
    d.intermediate = d.experts ? m.experts.front().intermediate_size() : 0;
    const std::int64_t E = d.experts, H = d.hidden, I = d.intermediate;
    if (m.gate.rows() != E)
        throw input_error("cpu_moe_weights.gate", "has " + std::to_string(m.gate.rows()) + " rows for " +
                                                      std::to_string(E) + " experts");
    d.gate = device_buffer<float>(static_cast<std::size_t>(E * H), s);
    fill(m.gate, d.gate.data());
    d.experts_gate = device_buffer<W>(static_cast<std::size_t>(E * I * H), s);
    d.experts_up = device_buffer<W>(static_cast<std::size_t>(E * I * H), s);
    d.experts_down = device_buffer<W>(static_cast<std::size_t>(E * H * I), s);
    for (std::int64_t e = 0; e < E; ++e) {
        const cpu_gated_mlp& x = m.experts[static_cast<std::size_t>(e)];
        if (x.gate_proj.out_features() != I || x.gate_proj.in_features() != H || x.up_proj.out_features() != I ||
            x.up_proj.in_features() != H || x.down_proj.out_features() != H || x.down_proj.in_features() != I)
            throw input_error("cpu_moe_weights.experts", "expert " + std::to_string(e) + " has other shapes than expert 0");
        if (x.gate_proj.has_bias() || x.up_proj.has_bias() || x.down_proj.has_bias())
            throw unsupported_error("cuda MoE: routed experts with biases (DeepSeek-V2 has none)");
        fill(x.gate_proj.weight, d.experts_gate.data() + e * I * H);
        fill(x.up_proj.weight, d.experts_up.data() + e * I * H);
        fill(x.down_proj.weight, d.experts_down.data() + e * H * I);
    }
    if (m.shared_experts) d.shared_experts = to_device<W>(s, *m.shared_experts, fill);
    return d;
}

template <cuda_weight_type W>
cuda_moe_weights<W> to_device(cudaStream_t s, const cpu_moe_weights& m) {
    return to_device<W>(s, m, upload_values{s});
}

namespace detail::cuda_kernels {

struct router_config {
    int experts, top_k, n_group, topk_group;
    bool group_limited, norm_topk_prob;
    float routed_scaling_factor;
};

/// The best of values[0, n) by (value desc, index asc), over one warp; every lane gets it.
__device__ inline void warp_argmax(const float* values, int n, float& best_v, int& best_i) {
    const int lane = static_cast<int>(threadIdx.x) % warp_size;
    float bv = -INFINITY;
    int bi = INT_MAX;
    for (int e = lane; e < n; e += warp_size) {
        const float v = values[e];
        if (v > bv || (v == bv && e < bi)) {
            bv = v;
            bi = e;
        }
    }
    for (int offset = warp_size / 2; offset > 0; offset /= 2) {
        const float ov = __shfl_xor_sync(0xffffffffu, bv, offset);
        const int oi = __shfl_xor_sync(0xffffffffu, bi, offset);
        if (ov > bv || (ov == bv && oi < bi)) {
            bv = ov;
            bi = oi;
        }
    }
    best_v = bv;
    best_i = bi;
}

/// One warp (blockDim.x == 32) per token. Shared memory: 2·E + 2·n_group floats.
template <int = 0>
__global__ void router_kernel(const float* logits, std::int64_t tokens, router_config c, std::int32_t* idx,
                              float* weight) {
    extern __shared__ float sh[];
    const int E = c.experts;
    float* probs = sh;               // [E]
    float* work = probs + E;         // [E] candidates; a pick becomes −inf
    float* gscore = work + E;        // [n_group]
    float* gkeep = gscore + c.n_group;  // [n_group]
    const int lane = static_cast<int>(threadIdx.x);

    for (std::int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
        const float* row = logits + t * E;
        float mx = -INFINITY;
        for (int e = lane; e < E; e += warp_size) mx = fmaxf(mx, row[e]);
        mx = warp_max(mx);
        for (int e = lane; e < E; e += warp_size) probs[e] = expf(row[e] - mx);
        __syncwarp();
        float sum = 0.0f;
        if (lane == 0)
            for (int e = 0; e < E; ++e) sum += probs[e];  // expert order, as softmax_inplace
        sum = __shfl_sync(0xffffffffu, sum, 0);
        for (int e = lane; e < E; e += warp_size) probs[e] = probs[e] / sum;
        __syncwarp();

        if (c.group_limited) {
            const int per = E / c.n_group;
            for (int g = lane; g < c.n_group; g += warp_size) {
                float gm = probs[g * per];
                for (int e = 1; e < per; ++e) gm = fmaxf(gm, probs[g * per + e]);
                gscore[g] = gm;
                gkeep[g] = 0.0f;
            }
            __syncwarp();
            for (int r = 0; r < c.topk_group; ++r) {
                float bv;
                int bg;
                warp_argmax(gscore, c.n_group, bv, bg);
                if (lane == 0) {
                    gkeep[bg] = 1.0f;
                    gscore[bg] = -INFINITY;
                }
                __syncwarp();
            }
            for (int e = lane; e < E; e += warp_size) work[e] = gkeep[e / per] != 0.0f ? probs[e] : 0.0f;
        } else {
            for (int e = lane; e < E; e += warp_size) work[e] = probs[e];
        }
        __syncwarp();

        std::int32_t* ti = idx + t * c.top_k;
        float* tw = weight + t * c.top_k;
        for (int r = 0; r < c.top_k; ++r) {
            float bv;
            int be;
            warp_argmax(work, E, bv, be);
            if (lane == 0) {
                ti[r] = be;
                tw[r] = bv;  // the (masked) probability, as router_*::select takes it
                work[be] = -INFINITY;
            }
            __syncwarp();
        }
        if (lane == 0) {  // finish_weights
            if (c.norm_topk_prob && c.top_k > 1) {
                float s = 0.0f;
                for (int r = 0; r < c.top_k; ++r) s += tw[r];
                const float denominator = s + 1e-20f;
                for (int r = 0; r < c.top_k; ++r) tw[r] = tw[r] / denominator;
            } else {
                for (int r = 0; r < c.top_k; ++r) tw[r] = tw[r] * c.routed_scaling_factor;
            }
        }
        __syncwarp();
    }
}

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

namespace detail {

template <class Router>
routing_method cuda_routing_method(const routing_params& p) {
    if constexpr (std::is_same_v<Router, router_greedy>) {
        return routing_method::greedy;
    } else if constexpr (std::is_same_v<Router, router_group_limited_greedy>) {
        return routing_method::group_limited_greedy;
    } else {
        static_assert(std::is_same_v<Router, router_from_config>,
                      "the CUDA router kernel implements router_greedy, router_group_limited_greedy and router_from_config");
        return p.method;
    }
}

inline void check_routing(const routing_params& p, bool grouped) {
    if (p.experts <= 0 || p.experts > INT_MAX / 2) throw input_error("routing_params.experts", "must be in [1, 2^30)");
    if (p.top_k <= 0 || p.top_k > p.experts) throw input_error("routing_params.top_k", "must be in [1, experts]");
    if (!grouped) return;
    if (p.n_group <= 0 || p.experts % p.n_group != 0)
        throw input_error("routing_params.n_group", "must divide the number of experts");
    if (p.topk_group <= 0 || p.topk_group > p.n_group)
        throw input_error("routing_params.topk_group", "must be in [1, n_group]");
}

}  // namespace detail

/// Routing of T tokens from their router logits [T, E] (device): expert [T, k] (int32) and
/// weight [T, k], as route(cpu{}, ...) computes them after its GEMM.
inline void route_logits(cuda, cudaStream_t s, routing_method method, const routing_params& p, const float* logits,
                         std::int64_t T, std::int32_t* expert, float* weight) {
    if (T <= 0) return;
    const bool grouped = method == routing_method::group_limited_greedy;
    detail::check_routing(p, grouped);
    const detail::cuda_kernels::router_config c{static_cast<int>(p.experts), static_cast<int>(p.top_k),
                                                grouped ? static_cast<int>(p.n_group) : 1,
                                                grouped ? static_cast<int>(p.topk_group) : 1,
                                                grouped, p.norm_topk_prob, p.routed_scaling_factor};
    const std::size_t smem = sizeof(float) * (2 * static_cast<std::size_t>(c.experts) + 2 * static_cast<std::size_t>(c.n_group));
    if (smem > 48 * 1024)
        DSV2_CUDA_CHECK(cudaFuncSetAttribute(detail::cuda_kernels::router_kernel<0>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    const unsigned blocks = static_cast<unsigned>(T < (1 << 20) ? T : (1 << 20));
    detail::cuda_kernels::router_kernel<0><<<blocks, 32, smem, s>>>(logits, T, c, expert, weight);
    DSV2_CUDA_CHECK_LAUNCH();
}

/// Router logits and routing of x [T, H] with the fp32 router weight gate [E, H] (device).
/// `logits`, when given, receives [T, E] (else a scratch buffer is used).
template <router_policy Router>
void route(cuda tag, cublas_handle& blas, cudaStream_t s, Router, const float* gate, const routing_params& p,
           const float* x, std::int64_t T, std::int64_t H, std::int32_t* expert, float* weight, float* logits = nullptr) {
    if (T <= 0) return;
    device_buffer<float> scratch;
    if (!logits) {
        scratch = device_buffer<float>(static_cast<std::size_t>(T * p.experts), s);
        logits = scratch.data();
    }
    gemm_nt(tag, blas, s, x, gate, logits, T, H, p.experts);
    route_logits(tag, s, detail::cuda_routing_method<Router>(p), p, logits, T, expert, weight);
}

/// y [T, H] = MoE(x [T, H]) (device arrays; y must not overlap x). Synchronises the stream once,
/// to read the number of rows of each expert.
template <router_policy Router, cuda_weight_type W>
void moe_forward(cuda tag, cublas_handle& blas, cudaStream_t s, Router router, const cuda_moe_weights<W>& w,
                 const routing_params& p, activation act, const float* x, std::int64_t T, float* y) {
    namespace k = detail::cuda_kernels;
    using detail::cuda_launch::grid_for;
    if (T <= 0) return;
    if (p.experts != w.experts)
        throw input_error("routing_params.experts", std::to_string(p.experts) + " != the weights' " + std::to_string(w.experts));
    const std::int64_t H = w.hidden, I = w.intermediate, E = w.experts, K = p.top_k, N = T * K;
    if (N > INT_MAX) throw unsupported_error("cuda MoE: more than 2^31 (token, expert) pairs");

    // 1-2: routing
    device_buffer<std::int32_t> expert(static_cast<std::size_t>(N), s);
    device_buffer<float> weight(static_cast<std::size_t>(N), s);
    route(tag, blas, s, router, w.gate.data(), p, x, T, H, expert.data(), weight.data());

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

    // 4: rows gathered in expert order, one gated MLP per expert over its rows
    device_buffer<float> xe(static_cast<std::size_t>(N * H), s), ye(static_cast<std::size_t>(N * H), s);
    device_buffer<float> g(static_cast<std::size_t>(N * I), s), u(static_cast<std::size_t>(N * I), s);
    device_buffer<std::int32_t> position_of(static_cast<std::size_t>(N), s);
    k::gather_kernel<<<static_cast<unsigned>(N < (1 << 20) ? N : (1 << 20)), 128, 0, s>>>(
        x, H, sorted_slots.data(), N, static_cast<int>(K), xe.data(), position_of.data());
    DSV2_CUDA_CHECK_LAUNCH();

    auto for_each_expert = [&](auto&& body) {
        std::int64_t offset = 0;
        for (std::int64_t e = 0; e < E; ++e) {
            const std::int64_t n = rows_of[static_cast<std::size_t>(e)];
            if (n > 0) body(e, offset, n);
            offset += n;
        }
    };
    if constexpr (std::is_same_v<W, float>) {
        for_each_expert([&](std::int64_t e, std::int64_t off, std::int64_t n) {
            gemm_nt(tag, blas, s, xe.data() + off * H, w.experts_gate.data() + e * I * H, g.data() + off * I, n, H, I);
            gemm_nt(tag, blas, s, xe.data() + off * H, w.experts_up.data() + e * I * H, u.data() + off * I, n, H, I);
        });
        gate_activation(tag, s, act, g.data(), u.data(), N * I);
        for_each_expert([&](std::int64_t e, std::int64_t off, std::int64_t n) {
            gemm_nt(tag, blas, s, g.data() + off * I, w.experts_down.data() + e * H * I, ye.data() + off * H, n, I, H);
        });
    } else {  // bf16 weights: the activations rounded to bf16 once for all experts (see gemm.cuh)
        device_buffer<__nv_bfloat16> xb(static_cast<std::size_t>(N * H), s), gb(static_cast<std::size_t>(N * I), s);
        convert(tag, s, xe.data(), xb.data(), N * H);
        for_each_expert([&](std::int64_t e, std::int64_t off, std::int64_t n) {
            const __nv_bfloat16* xr = xb.data() + off * H;
            gemm_nt(tag, blas, s, xr, w.experts_gate.data() + e * I * H, g.data() + off * I, n, H, I);
            gemm_nt(tag, blas, s, xr, w.experts_up.data() + e * I * H, u.data() + off * I, n, H, I);
        });
        gate_activation(tag, s, act, g.data(), u.data(), N * I);
        convert(tag, s, g.data(), gb.data(), N * I);
        for_each_expert([&](std::int64_t e, std::int64_t off, std::int64_t n) {
            const __nv_bfloat16* gr = gb.data() + off * I;
            gemm_nt(tag, blas, s, gr, w.experts_down.data() + e * H * I, ye.data() + off * H, n, I, H);
        });
    }

    // 5: weighted fp32 sum per token, then the shared experts
    k::combine_kernel<0><<<static_cast<unsigned>(T < (1 << 20) ? T : (1 << 20)), 128, sizeof(int) * K, s>>>(
        ye.data(), H, expert.data(), weight.data(), position_of.data(), T, static_cast<int>(K), y);
    DSV2_CUDA_CHECK_LAUNCH();
    if (w.shared_experts) {
        device_buffer<float> shared(static_cast<std::size_t>(T * H), s);
        gated_mlp_forward(tag, blas, s, *w.shared_experts, act, x, T, shared.data());
        add_inplace(tag, s, y, shared.data(), T * H);
    }
}

}  // namespace dsv2
