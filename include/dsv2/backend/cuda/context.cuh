#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/context.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// cuda_device_context: the stream and cuBLAS handle a CUDA model runs on, shared (shared_ptr) by the
// model's runtime and every cache made from it, so that the stream outlives every buffer made on it
// whatever order they are destroyed in.
//
// One forward at a time: a forward pass locks `mutex` from its start to the end of its head (a
// cuBLAS handle belongs to one thread at a time). Forwards from several threads on one CUDA model
// are therefore safe and serialised; for parallel work, make several models.
#pragma once

#include <mutex>

#include "dsv2/backend/cuda/gemm.cuh"
#include "dsv2/backend/cuda/memory.cuh"
#include "dsv2/backend/cuda/rope.cuh"

namespace dsv2 {

struct cuda_device_context {
    stream device_stream;  // declared first: destroyed last
    cublas_handle blas;
    std::mutex mutex;
    /// Rotary frequencies on the device, uploaded by the first forward that needs them (under
    /// `mutex`; the attention side says which, see attention/mla/cuda.cuh).
    cuda_rope_table rope;

    cudaStream_t get() const noexcept { return device_stream.get(); }
};

}  // namespace dsv2
