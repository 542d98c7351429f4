#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/storage.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// cuda_storage<W>: the weights tree (weights/) in device memory — the twin of host_storage
// (backend/cpu/storage.hpp). W = float or __nv_bfloat16 is the storage of as_loaded matrices;
// fp32_kept matrices (kv_b_proj, the router gate) are always fp32; vectors (norms, biases) fp32.
//
//   cuda_matrix<W>   [rows, cols] row-major in a device_buffer<W> (a PyTorch Linear [out, in])
//   cuda_vector      [n] fp32 in a device_buffer<float>
// shape_only / vector_of give a shape and no device memory: the upload allocates and fills.
//
// The upload of a tree: cuda_upload(stream, host, device, source) walks any subtree with a static
// visit(name, f, trees...) (linear, gated_mlp, mla_weights, moe_weights, model_weights) over the
// host tree and its device twin in lockstep, and gives each device parameter storage: host values
// converted to the device type (fp32 -> bf16 rounds to nearest even, as dsv2::float_to_bf16;
// bf16 -> fp32 is exact), or, with a random cuda_matrix_source, normal values made on the device
// from a hash (benchmarks of real-size models: no host storage needed, no upload).
// cuda_upload_model<W>(s, cfg, host) allocates HostWeights::rebind<cuda_storage<W>> for `cfg` and
// fills it in ONE visit_parameters pass.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "dsv2/backend/cpu/storage.hpp"
#include "dsv2/backend/cpu/weight.hpp"
#include "dsv2/backend/cuda/cuda.cuh"
#include "dsv2/backend/cuda/error.cuh"
#include "dsv2/backend/cuda/memory.cuh"
#include "dsv2/backend/cuda/reduce.cuh"
#include "dsv2/config.hpp"
#include "dsv2/core/dtype.hpp"
#include "dsv2/core/error.hpp"
#include "dsv2/weights/model.hpp"
#include "dsv2/weights/storage.hpp"

namespace dsv2 {

template <class W>
concept cuda_weight_type = std::is_same_v<W, float> || std::is_same_v<W, __nv_bfloat16>;

/// A weight matrix [rows, cols] on the device, W = float or bf16.
template <cuda_weight_type W>
class cuda_matrix {
public:
    using value_type = W;

    cuda_matrix() = default;
    /// A shape, no device memory yet.
    static cuda_matrix shape_only(std::int64_t rows, std::int64_t cols) {
        cuda_matrix m;
        m.rows_ = rows;
        m.cols_ = cols;
        return m;
    }
    /// Device memory of its shape on `s` (contents uninitialised until filled).
    void allocate(cudaStream_t s) { values_ = device_buffer<W>(static_cast<std::size_t>(rows_ * cols_), s); }

    std::int64_t rows() const noexcept { return rows_; }
    std::int64_t cols() const noexcept { return cols_; }
    std::int64_t size() const noexcept { return rows_ * cols_; }
    bool has_storage() const noexcept { return !values_.empty() || size() == 0; }
    W* data() noexcept { return values_.data(); }
    const W* data() const noexcept { return values_.data(); }
    std::size_t bytes() const noexcept { return values_.bytes(); }

private:
    device_buffer<W> values_;
    std::int64_t rows_ = 0, cols_ = 0;
};

/// An fp32 vector [n] on the device (norm weights, biases).
class cuda_vector {
public:
    cuda_vector() = default;
    static cuda_vector shape_only(std::int64_t n) {
        cuda_vector v;
        v.n_ = n;
        return v;
    }

    /// Device memory holding `host` (its size must be the shape's).
    void assign(cudaStream_t s, std::span<const float> host) {
        if (static_cast<std::int64_t>(host.size()) != n_)
            throw input_error("cuda_vector", "got " + std::to_string(host.size()) + " values for a vector of " +
                                                 std::to_string(n_));
        values_ = upload(s, host);
    }

    std::int64_t size() const noexcept { return n_; }
    float* data() noexcept { return values_.data(); }
    const float* data() const noexcept { return values_.data(); }

private:
    device_buffer<float> values_;
    std::int64_t n_ = 0;
};

template <cuda_weight_type W>
struct cuda_storage {
    using weight_type = W;
    template <class Precision>
    using matrix = std::conditional_t<std::is_same_v<Precision, fp32_kept>, cuda_matrix<float>, cuda_matrix<W>>;
    using vector = cuda_vector;

    template <class Precision>
    static matrix<Precision> shape_only(std::int64_t rows, std::int64_t cols) {
        return matrix<Precision>::shape_only(rows, cols);
    }
    /// A shape only: `value` is what the host side holds until loaded (ones, zeros); the upload
    /// copies the host's values.
    static vector vector_of(std::int64_t n, float /*value*/) { return cuda_vector::shape_only(n); }
};

static_assert(weight_storage<cuda_storage<float>>);
static_assert(weight_storage<cuda_storage<__nv_bfloat16>>);

namespace detail {

/// A CPU weight's values as W on the host (a copy, converted when the types differ). Block-quantised
/// weights (q8_0, q4_K, ... from a GGUF file) are dequantised here: the CUDA backend's first step
/// for quantised weights is to dequantise at upload (to bf16 when every matrix is bf16 or
/// quantised, see cuda_storage_of), and to multiply with its bf16/fp32 GEMMs.
template <cuda_weight_type W>
std::vector<W> host_values_as(const cpu_weight& w) {
    const auto n = static_cast<std::size_t>(w.rows() * w.cols());
    std::vector<W> out(n);
    if (n == 0) return out;
    if constexpr (std::is_same_v<W, float>) {
        if (w.format() == ggml_type::f32) {
            std::memcpy(out.data(), w.f32().data(), n * sizeof(float));
        } else {
            for (std::int64_t r = 0; r < w.rows(); ++r) w.row_to_f32(r, out.data() + r * w.cols());
        }
    } else {
        std::vector<std::uint16_t> bits(n);
        if (w.format() == ggml_type::bf16) {
            std::memcpy(bits.data(), w.bf16(), n * sizeof(std::uint16_t));
        } else {
            std::vector<float> row(static_cast<std::size_t>(w.cols()));
            for (std::int64_t r = 0; r < w.rows(); ++r) {
                w.row_to_f32(r, row.data());
                for (std::int64_t c = 0; c < w.cols(); ++c)
                    bits[static_cast<std::size_t>(r * w.cols() + c)] = float_to_bf16(row[static_cast<std::size_t>(c)]);
            }
        }
        std::memcpy(static_cast<void*>(out.data()), bits.data(), n * sizeof(std::uint16_t));
    }
    return out;
}

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
        const float u1 = (static_cast<float>(h >> 40) + 0.5f) * 0x1p-24f;       // (0, 1)
        const float u2 = static_cast<float>((h >> 16) & 0xffffffull) * 0x1p-24f;  // [0, 1)
        const float z = sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
        dst[i] = from_float<W>(z * stddev);
    }
}

}  // namespace cuda_kernels

}  // namespace detail

/// A CPU weight [rows, cols] on the device as W, at `dst` (rows·cols elements).
template <cuda_weight_type W>
void upload_weight(cudaStream_t s, const cpu_weight& w, W* dst) {
    const std::vector<W> v = detail::host_values_as<W>(w);
    upload(s, std::span<const W>(v), dst);
}

/// Where device matrices get their values: the host weights (upload), or a hash on the device.
struct cuda_matrix_source {
    bool random = false;
    std::uint64_t seed = 0;
    float stddev = 0.02f;
    mutable std::uint64_t next_tensor = 0;  // each random matrix gets its own stream of values

    template <cuda_weight_type W>
    void fill(cudaStream_t s, const std::string& name, const cpu_weight& host, W* dst) const {
        const std::int64_t n = host.rows() * host.cols();
        if (n == 0) return;
        if (!random) {
            if (!host.has_storage())
                throw checkpoint_error(name, "a matrix [" + std::to_string(host.rows()) + ", " +
                                                 std::to_string(host.cols()) + "] has no storage to upload");
            upload_weight<W>(s, host, dst);
            return;
        }
        const std::uint64_t tensor_seed = seed * 0x9e3779b97f4a7c15ull + (++next_tensor) * 0xd1b54a32d192ed03ull;
        detail::cuda_kernels::hash_normal_kernel<<<detail::cuda_launch::grid_for(n, 256), 256, 0, s>>>(dst, n, tensor_seed,
                                                                                                       stddev);
        DSV2_CUDA_CHECK_LAUNCH();
    }
};

/// Gives every parameter of `device` (shapes only, as allocate() makes them) storage from the
/// parameter of `host` at the same place: host → device, or random values (see the top). `Tree`
/// is the host subtree's type (anything with a static visit(name, f, trees...)).
template <class HostTree, class DeviceTree>
void cuda_upload(cudaStream_t s, const HostTree& host, DeviceTree& device, const cuda_matrix_source& src = {},
                 const std::string& prefix = "") {
    HostTree::visit(prefix, [&](const std::string& name, parameter_kind, const auto& h, auto& d) {
        using device_type = std::remove_cvref_t<decltype(d)>;
        if constexpr (std::is_same_v<device_type, cuda_vector>) {
            if (static_cast<std::int64_t>(h.size()) != d.size())
                throw checkpoint_error(name, "has " + std::to_string(h.size()) + " values, expected " + std::to_string(d.size()));
            d.assign(s, std::span<const float>(h.data(), static_cast<std::size_t>(h.size())));
        } else {
            if (h.rows() != d.rows() || h.cols() != d.cols())
                throw checkpoint_error(name, "has shape [" + std::to_string(h.rows()) + ", " + std::to_string(h.cols()) +
                                                 "], expected [" + std::to_string(d.rows()) + ", " +
                                                 std::to_string(d.cols()) + "]");
            d.allocate(s);
            src.fill(s, name, static_cast<const cpu_weight&>(h), d.data());
        }
    }, host, device);
}

/// The device storage type of a model's as_loaded matrices: bf16 when every one of them is bf16 or
/// block-quantised on the host (a bf16 checkpoint as stored, from_config(..., dtype::bf16), a
/// quantised GGUF: dequantised to bf16 at upload), else f32 (bf16 ones, if any, widened exactly).
/// fp32_kept matrices are fp32 whatever this says.
template <class HostWeights>
dtype cuda_storage_of(const HostWeights& w) {
    bool any = false, all_bf16 = true;
    visit_parameters("model.", [&](const std::string&, parameter_kind, const auto& p) {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(p)>, matrix_t<host_storage, as_loaded>>) {
            any = true;
            all_bf16 = all_bf16 && (p.format() == ggml_type::bf16 || p.is_block_quantized());
        }
    }, w);
    return any && all_bf16 ? dtype::bf16 : dtype::f32;
}

/// The device copy of a model's host weights `host` (model_weights<host_storage, R, E>) as
/// W: HostWeights::rebind<cuda_storage<W>> allocated for `cfg` and filled in one pass.
template <cuda_weight_type W, class HostWeights>
auto cuda_upload_model(cudaStream_t s, const DeepseekV2Config& cfg, const HostWeights& host,
                       const cuda_matrix_source& src = {}) {
    using device_type = typename HostWeights::template rebind<cuda_storage<W>>;
    const model_head head = host.score     ? model_head::sequence_classification
                            : host.lm_head ? model_head::causal_lm
                                           : model_head::none;
    device_type d = device_type::allocate(cfg, head);
    if (d.layers.size() != host.layers.size())
        throw checkpoint_error("model.layers", "the host weights have " + std::to_string(host.layers.size()) +
                                                   " layers, the config " + std::to_string(d.layers.size()));
    cuda_upload(s, host, d, src, "model.");
    return d;
}

}  // namespace dsv2
