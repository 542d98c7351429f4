#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/cuda.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// The CUDA backend: its tag type, and the small launch helpers every kernel header shares.
//
// Like `dsv2::cpu`, the tag is the first argument of every block that runs on the device
// (`rmsnorm(cuda{}, stream, ...)`), so CUDA overloads sit beside the CPU ones without #ifdefs.
// Device data is plain row-major memory, laid out exactly as the CPU backend lays out its Eigen
// matrices (a PyTorch Linear weight [out, in]; activations [tokens, features], token b·S + s).
//
// The headers under dsv2/backend/cuda/ are .cuh files for nvcc only; nothing that CPU-only code
// includes (<dsv2/model.hpp> and everything under it) includes them.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace dsv2 {

struct cuda {
    static constexpr const char* name = "cuda";
};

namespace detail::cuda_launch {

/// Blocks for a grid-stride loop over n elements with `threads` per block (at least 1, at most
/// 2^20: the loop covers the rest).
inline unsigned grid_for(std::int64_t n, int threads) noexcept {
    const std::int64_t blocks = (n + threads - 1) / threads;
    return static_cast<unsigned>(std::clamp<std::int64_t>(blocks, 1, std::int64_t{1} << 20));
}

}  // namespace detail::cuda_launch

}  // namespace dsv2
