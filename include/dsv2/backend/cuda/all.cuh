#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/all.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// Every primitive of the CUDA backend (link CUDA::cudart, CUDA::cublas and CCCL::CCCL):
//   cuda.cuh        the tag `dsv2::cuda`
//   error.cuh       dsv2::cuda_error, DSV2_CUDA_CHECK, DSV2_CUBLAS_CHECK, DSV2_CUDA_CHECK_LAUNCH
//   memory.cuh      device_available, stream, device_buffer<T>, upload, download
//   gemm.cuh        cublas_handle, gemm_nt (fp32; bf16 weights with fp32 accumulation), gemm_batched
//   elementwise.cuh convert (fp32 <-> bf16), add_inplace, add_bias_rows, copy_rows
//   embedding.cuh   embedding gather
//   rmsnorm.cuh     rmsnorm
//   rope.cuh        cuda_rope_table, rope (adjacent pairs)
//   activation.cuh  gate_activation (silu, gelu, gelu_tanh, relu)
//   attention.cuh   cuda_attention_batch, attention (strided, masked, online softmax)
//   storage.cuh     cuda_matrix, cuda_vector, cuda_storage<W>, cuda_upload, cuda_upload_model
//   linear.cuh      linear_forward (any layer with .weight and .bias)
//   rows.cuh        cuda_token_rows (the device rows of a KV cache)
//   context.cuh     cuda_device_context (stream, cuBLAS, lock)
//   runtime.cuh     cuda_forward_pass and its primitives, backend_runtime<cuda, W>, cuda_random_init
// The blocks (MLA, routers, experts, the MoE layer) are the policies' hooks, in the policy folders.
#pragma once

#include "dsv2/backend/cuda/activation.cuh"
#include "dsv2/backend/cuda/attention.cuh"
#include "dsv2/backend/cuda/context.cuh"
#include "dsv2/backend/cuda/cuda.cuh"
#include "dsv2/backend/cuda/elementwise.cuh"
#include "dsv2/backend/cuda/embedding.cuh"
#include "dsv2/backend/cuda/error.cuh"
#include "dsv2/backend/cuda/gemm.cuh"
#include "dsv2/backend/cuda/linear.cuh"
#include "dsv2/backend/cuda/memory.cuh"
#include "dsv2/backend/cuda/rmsnorm.cuh"
#include "dsv2/backend/cuda/rope.cuh"
#include "dsv2/backend/cuda/rows.cuh"
#include "dsv2/backend/cuda/runtime.cuh"
#include "dsv2/backend/cuda/storage.cuh"
