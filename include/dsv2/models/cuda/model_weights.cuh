#if !defined(__CUDACC__)
#error "dsv2/models/cuda/model_weights.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// cuda_model_weights<W>: a model's weights on the device, uploaded once from the cpu_model_weights the
// loader made (models/pretrained.hpp), or initialised on the device (benchmarks of real-size models).
//
// Storage: W = __nv_bfloat16 when every matrix the loader may keep in bf16 is bf16 on the host (a
// bf16 checkpoint as stored, or from_config(..., dtype::bf16)): bf16 stays bf16. Otherwise W = float
// and bf16 matrices, if any, are widened exactly. Always fp32, as on the CPU: norms, biases,
// kv_b_proj (absorbed attention reads it per head) and the router weight (moe.cuh).
#pragma once

#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "dsv2/backend/cuda/linear.cuh"
#include "dsv2/backend/cuda/memory.cuh"
#include "dsv2/backend/cuda/moe.cuh"
#include "dsv2/backend/cuda/reduce.cuh"
#include "dsv2/models/model_weights.hpp"
#include "dsv2/models/pretrained.hpp"

namespace dsv2 {

/// A weight matrix [rows, cols] on the device (embeddings, lm_head, score).
template <cuda_weight_type W>
struct cuda_matrix {
    device_buffer<W> data;  // [rows, cols]
    std::int64_t rows = 0, cols = 0;
};

template <cuda_weight_type W>
struct cuda_mla_weights {
    std::optional<cuda_linear<W>> q_proj;    // [n_h·d_qk, H]        (q_lora_rank null)
    std::optional<cuda_linear<W>> q_a_proj;  // [d_cq, H]            (q_lora_rank set)
    device_buffer<float> q_a_layernorm;      // [d_cq]
    std::optional<cuda_linear<W>> q_b_proj;  // [n_h·d_qk, d_cq]
    cuda_linear<W> kv_a_proj_with_mqa;       // [d_c + d_rope, H]
    device_buffer<float> kv_a_layernorm;     // [d_c]
    cuda_linear<float> kv_b_proj;            // [n_h·(d_nope + d_v), d_c], fp32
    cuda_linear<W> o_proj;                   // [H, n_h·d_v]
};

template <cuda_weight_type W>
struct cuda_decoder_layer_weights {
    device_buffer<float> input_layernorm;           // [H]
    device_buffer<float> post_attention_layernorm;  // [H]
    cuda_mla_weights<W> self_attn;
    std::variant<cuda_gated_mlp<W>, cuda_moe_weights<W>> mlp;  // dense, or MoE
};

template <cuda_weight_type W>
struct cuda_model_weights {
    cuda_matrix<W> embed_tokens;  // [vocab, H]
    std::vector<cuda_decoder_layer_weights<W>> layers;
    device_buffer<float> norm;               // [H]
    std::optional<cuda_matrix<W>> lm_head;   // [vocab, H]; absent when tied or for other heads
    std::optional<cuda_matrix<W>> score;     // [num_labels, H]

    const cuda_matrix<W>& output_embeddings() const noexcept { return lm_head ? *lm_head : embed_tokens; }
};

/// The device storage type of a model's matrices (see the top of this file): bf16 or f32.
inline dtype cuda_storage_of(const cpu_model_weights& w) {
    bool any = false, all_bf16 = true;
    visit_parameters(w, DeepseekV2Config{}, "model.", [&](const std::string& name, const auto& p, parameter_kind) {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(p)>, cpu_weight>) {
            if (detail::ends_with(name, "kv_b_proj.weight") || detail::ends_with(name, "mlp.gate.weight")) return;
            any = true;
            all_bf16 = all_bf16 && p.type() == dtype::bf16;
        }
    });
    return any && all_bf16 ? dtype::bf16 : dtype::f32;
}

namespace detail {

namespace cuda_kernels {

__device__ __forceinline__ std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/// dst[i] = stddev · z_i, z_i a standard normal drawn (Box–Muller) from a hash of (seed, i): the
/// same seed gives the same weights on any device and grid.
template <class W>
__global__ void hash_normal_kernel(W* dst, std::int64_t n, std::uint64_t seed, float stddev) {
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
        const std::uint64_t h = splitmix64(seed ^ splitmix64(static_cast<std::uint64_t>(i)));
        const float u1 = (static_cast<float>(h >> 40) + 0.5f) * 0x1p-24f;                // (0, 1)
        const float u2 = static_cast<float>((h >> 16) & 0xffffffull) * 0x1p-24f;           // [0, 1)
        const float z = sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
        dst[i] = from_float<W>(z * stddev);
    }
}

}  // namespace cuda_kernels

/// Where matrices come from: the host weights (upload), or a hash on the device (random).
struct cuda_matrix_source {
    bool random = false;
    std::uint64_t seed = 0;
    float stddev = 0.02f;
    mutable std::uint64_t next_tensor = 0;  // each random matrix gets its own stream of values

    template <cuda_weight_type W>
    void fill(cudaStream_t s, const cpu_weight& host, W* dst) const {
        const std::int64_t n = host.rows() * host.cols();
        if (n == 0) return;
        if (!random) {
            if (!host.has_storage())
                throw checkpoint_error("weights", "a matrix [" + std::to_string(host.rows()) + ", " +
                                                      std::to_string(host.cols()) + "] has no storage to upload");
            upload_weight<W>(s, host, dst);
            return;
        }
        const std::uint64_t tensor_seed = seed * 0x9e3779b97f4a7c15ull + (++next_tensor) * 0xd1b54a32d192ed03ull;
        cuda_kernels::hash_normal_kernel<<<cuda_launch::grid_for(n, 256), 256, 0, s>>>(dst, n, tensor_seed, stddev);
        DSV2_CUDA_CHECK_LAUNCH();
    }
};

inline device_buffer<float> upload_vector(cudaStream_t s, const cpu::vector& v) {
    return upload(s, std::span<const float>(v.data(), static_cast<std::size_t>(v.size())));
}

template <cuda_weight_type W>
cuda_matrix<W> make_cuda_matrix(cudaStream_t s, const cpu_weight& w, const cuda_matrix_source& src) {
    cuda_matrix<W> m;
    m.rows = w.rows();
    m.cols = w.cols();
    m.data = device_buffer<W>(static_cast<std::size_t>(m.rows * m.cols), s);
    src.fill<W>(s, w, m.data.data());
    return m;
}

}  // namespace detail

/// The device copy of `w` (shapes and host values; with a random `src`, shapes only) as W.
template <cuda_weight_type W>
cuda_model_weights<W> make_cuda_model_weights(cudaStream_t s, const cpu_model_weights& w,
                                              const detail::cuda_matrix_source& src) {
    using namespace detail;
    const auto fill = [&](const cpu_weight& host, auto* dst) { src.fill(s, host, dst); };
    cuda_model_weights<W> d;
    d.embed_tokens = make_cuda_matrix<W>(s, w.embed_tokens, src);
    d.norm = upload_vector(s, w.norm);
    d.layers.reserve(w.layers.size());
    for (const auto& L : w.layers) {
        cuda_decoder_layer_weights<W> dl;
        dl.input_layernorm = upload_vector(s, L.input_layernorm);
        dl.post_attention_layernorm = upload_vector(s, L.post_attention_layernorm);
        const auto& a = L.self_attn;
        auto& da = dl.self_attn;
        if (a.q_proj) da.q_proj = to_device<W>(s, *a.q_proj, fill);
        if (a.q_a_proj) da.q_a_proj = to_device<W>(s, *a.q_a_proj, fill);
        if (a.q_b_proj) da.q_b_proj = to_device<W>(s, *a.q_b_proj, fill);
        da.q_a_layernorm = upload_vector(s, a.q_a_layernorm);
        da.kv_a_proj_with_mqa = to_device<W>(s, a.kv_a_proj_with_mqa, fill);
        da.kv_a_layernorm = upload_vector(s, a.kv_a_layernorm);
        da.kv_b_proj = to_device<float>(s, a.kv_b_proj, fill);
        da.o_proj = to_device<W>(s, a.o_proj, fill);
        if (const auto* moe = std::get_if<cpu_moe_weights>(&L.mlp))
            dl.mlp = to_device<W>(s, *moe, fill);
        else
            dl.mlp = to_device<W>(s, std::get<cpu_gated_mlp>(L.mlp), fill);
        d.layers.push_back(std::move(dl));
    }
    if (w.lm_head) d.lm_head = make_cuda_matrix<W>(s, *w.lm_head, src);
    if (w.score) d.score = make_cuda_matrix<W>(s, *w.score, src);
    return d;
}

}  // namespace dsv2
