#if !defined(__CUDACC__)
#error "dsv2/moe/routers/softmax_topk.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// DeepSeek-V2's softmax routers on the device, shared by router_impl<router_greedy |
// router_group_limited_greedy | router_from_config, cuda> (moe/routers/<policy>/cuda.cuh):
//
//  1. router logits x·gateᵀ, fp32 (the router weight is fp32_kept: bf16 activations there could
//     change which experts win);
//  2. router kernel, one warp per token: softmax in fp32 (max, e^(z−max), the sum taken in expert
//     order as softmax_inplace does, then a division), then greedy top-k or group-limited greedy
//     (group score = max inside the group; the topk_group best groups stay, the rest become 0),
//     ties to the lower index, k picks in descending order exactly as top_k_indices orders them;
//     weights × routed_scaling_factor, or renormalised with norm_topk_prob (finish_weights).
//
// softmax_topk_router<Rule> is router_impl<R, cuda> for such a router, Rule naming its selection
// rule (fixed_routing<m>, or routing_from_params: the rule params() read from the config):
//
//     template <> struct dsv2::router_impl<my_router, dsv2::cuda>
//         : dsv2::softmax_topk_router<dsv2::fixed_routing<dsv2::routing_method::greedy>> {};
#pragma once

#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <string>

#include "dsv2/backend/cuda/error.cuh"
#include "dsv2/backend/cuda/gemm.cuh"
#include "dsv2/backend/cuda/memory.cuh"
#include "dsv2/backend/cuda/reduce.cuh"
#include "dsv2/backend/cuda/runtime.cuh"
#include "dsv2/backend/cuda/storage.cuh"
#include "dsv2/moe/routing.hpp"
#include "dsv2/weights/moe.hpp"

namespace dsv2 {

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

}  // namespace detail::cuda_kernels

namespace detail {

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

/// Routing of T tokens from their router logits [T, E] (device) by `method`: expert [T, k] (int32)
/// and weight [T, k], as the CPU's router computes them after its GEMM.
inline void softmax_topk(cuda, cudaStream_t s, routing_method method, const routing_params& p, const float* logits,
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

/// Router logits and routing of x [T, H] (device) with the fp32 router weight gate [E, H] on the
/// device, by `method`. `logits`, when given, receives [T, E] (else a scratch buffer is used).
inline void route_softmax_topk(const cuda_forward_pass& pass, const cuda_matrix<float>& gate, routing_method method,
                               const routing_params& p, const float* x, std::int64_t T, std::int32_t* expert,
                               float* weight, float* logits = nullptr) {
    if (T <= 0) return;
    if (gate.rows() != p.experts)
        throw input_error("routing_params.experts", std::to_string(p.experts) + " != the router's " +
                                                        std::to_string(gate.rows()) + " rows");
    const cudaStream_t s = pass.stream();
    device_buffer<float> scratch;
    if (!logits) {
        scratch = device_buffer<float>(static_cast<std::size_t>(T * p.experts), s);
        logits = scratch.data();
    }
    gemm_nt(cuda{}, pass.blas(), s, x, gate.data(), logits, T, gate.cols(), p.experts);
    softmax_topk(cuda{}, s, method, p, logits, T, expert, weight);
}

/// A router's selection rule: always `M`.
template <routing_method M>
struct fixed_routing {
    static routing_method of(const routing_params&) noexcept { return M; }
};
/// A router's selection rule: the one its params name (router_from_config).
struct routing_from_params {
    static routing_method of(const routing_params& p) noexcept { return p.method; }
};

/// router_impl<R, cuda> of a softmax router whose selection rule is Rule::of(params).
template <class Rule>
struct softmax_topk_router {
    /// The selection rule the kernel runs for `p`.
    static routing_method method(const routing_params& p) noexcept { return Rule::of(p); }

    /// x [T, H] (device) -> expert [T, k] (int32) and weight [T, k] on the device; logits [T, E]
    /// when given.
    template <class S>
    static void route(const cuda_forward_pass& pass, const router_gate<S>& w, const routing_params& p, const float* x,
                      std::int64_t T, std::int32_t* expert, float* weight, float* logits = nullptr) {
        route_softmax_topk(pass, w.weight, method(p), p, x, T, expert, weight, logits);
    }
};

}  // namespace dsv2
