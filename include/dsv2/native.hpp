// dsv2::native_spec: the CUDA spec when the translation unit is compiled by nvcc, the CPU's
// default_spec otherwise — so one source builds for either with the same API:
//
//     #include <dsv2/native.hpp>
//     auto lm = dsv2::DeepseekV2ForCausalLM<dsv2::native_spec>::from_pretrained(dir);
//
// Under nvcc this includes the CUDA model headers (link CUDA::cudart, CUDA::cublas, CCCL::CCCL).
#pragma once

#include <string>

#include "dsv2/model.hpp"

#if defined(__CUDACC__)
#include "dsv2/models/cuda/model.cuh"
namespace dsv2 {
using native_spec = cuda_spec;
inline constexpr const char* native_backend_name = "cuda";
/// Whether the native backend can run here; `reason` says why not (or names the device).
inline bool native_backend_available(std::string* reason = nullptr) { return device_available(reason); }
}  // namespace dsv2
#else
namespace dsv2 {
using native_spec = default_spec;
inline constexpr const char* native_backend_name = "cpu";
/// Whether the native backend can run here; `reason` says why not (or names the device).
inline bool native_backend_available(std::string* reason = nullptr) {
    if (reason) *reason = "the CPU";
    return true;
}
}  // namespace dsv2
#endif
