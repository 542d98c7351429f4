#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/error.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// Errors of the CUDA backend: dsv2::cuda_error, and the checks that throw it.
//
//   DSV2_CUDA_CHECK(cudaMemcpyAsync(...));   // any cudaError_t call
//   DSV2_CUBLAS_CHECK(cublasGemmEx(...));    // any cublasStatus_t call
//   DSV2_CUDA_CHECK_LAUNCH();                // after a <<<...>>> launch (cudaGetLastError)
//
// The message names the call as written, the status's name and description, and file:line:
//   "cuda: cudaMallocAsync(&p, bytes, s) failed: cudaErrorMemoryAllocation (out of memory) at memory.cuh:97"
#pragma once

#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include <string>

#include "dsv2/core/error.hpp"

namespace dsv2 {

/// A CUDA runtime or cuBLAS call failed. `call()` is the call as written, `status()` the name of
/// the status it returned (cudaErrorMemoryAllocation, CUBLAS_STATUS_INVALID_VALUE, ...), `where()`
/// file:line of the check.
class cuda_error : public error {
public:
    cuda_error(std::string call, std::string status, const std::string& description, std::string where)
        : error("cuda: " + call + " failed: " + status + " (" + description + ") at " + where),
          call_(std::move(call)),
          status_(std::move(status)),
          where_(std::move(where)) {}

    const std::string& call() const noexcept { return call_; }
    const std::string& status() const noexcept { return status_; }
    const std::string& where() const noexcept { return where_; }

private:
    std::string call_, status_, where_;
};

namespace detail {

inline std::string cuda_where(const char* file, int line) {
    std::string f = file ? file : "?";
    return f + ":" + std::to_string(line);
}

[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
    const char* name = cudaGetErrorName(status);
    const char* text = cudaGetErrorString(status);
    throw cuda_error(call, name ? name : "cudaError " + std::to_string(static_cast<int>(status)),
                     text ? text : "unknown error", cuda_where(file, line));
}

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
    const char* name = cublasGetStatusName(status);
    const char* text = cublasGetStatusString(status);
    throw cuda_error(call, name ? name : "cublasStatus " + std::to_string(static_cast<int>(status)),
                     text ? text : "unknown status", cuda_where(file, line));
}

}  // namespace detail
}  // namespace dsv2

/// Throws dsv2::cuda_error when the CUDA runtime call does not return cudaSuccess.
#define DSV2_CUDA_CHECK(call)                                                                 \
    do {                                                                                      \
        const cudaError_t dsv2_cuda_status_ = (call);                                         \
        if (dsv2_cuda_status_ != cudaSuccess)                                                 \
            ::dsv2::detail::throw_cuda_error(dsv2_cuda_status_, #call, __FILE__, __LINE__);   \
    } while (false)

/// Throws dsv2::cuda_error when the cuBLAS call does not return CUBLAS_STATUS_SUCCESS.
#define DSV2_CUBLAS_CHECK(call)                                                               \
    do {                                                                                      \
        const cublasStatus_t dsv2_cublas_status_ = (call);                                    \
        if (dsv2_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                     \
            ::dsv2::detail::throw_cublas_error(dsv2_cublas_status_, #call, __FILE__, __LINE__); \
    } while (false)

/// After a kernel launch: throws dsv2::cuda_error for a launch failure (bad configuration, no
/// kernel image for this device). Errors inside the kernel surface at the next synchronisation.
#define DSV2_CUDA_CHECK_LAUNCH() DSV2_CUDA_CHECK(cudaGetLastError())
