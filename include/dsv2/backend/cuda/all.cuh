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
//   linear.cuh      cuda_linear, cuda_gated_mlp, to_device, linear, gated_mlp_forward
//   attention.cuh   attention, mla_attend_expanded, mla_attend_absorbed
//   moe.cuh         cuda_moe_weights, route_logits, route, moe_forward
#pragma once

#include "dsv2/backend/cuda/activation.cuh"
#include "dsv2/backend/cuda/attention.cuh"
#include "dsv2/backend/cuda/cuda.cuh"
#include "dsv2/backend/cuda/elementwise.cuh"
#include "dsv2/backend/cuda/embedding.cuh"
#include "dsv2/backend/cuda/error.cuh"
#include "dsv2/backend/cuda/gemm.cuh"
#include "dsv2/backend/cuda/linear.cuh"
#include "dsv2/backend/cuda/memory.cuh"
#include "dsv2/backend/cuda/moe.cuh"
#include "dsv2/backend/cuda/rmsnorm.cuh"
#include "dsv2/backend/cuda/rope.cuh"
