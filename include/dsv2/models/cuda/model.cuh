#if !defined(__CUDACC__)
#error "dsv2/models/cuda/model.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// The model classes on the CUDA backend: everything <dsv2/model.hpp> offers, plus cuda_spec and
// cuda_expanded_cache_spec (link CUDA::cudart, CUDA::cublas and CCCL::CCCL) — the backend's
// runtime (backend/cuda/runtime.cuh) and the policies' CUDA hooks (attention/<policy>/cuda.cuh,
// moe/routers/<policy>/cuda.cuh, moe/experts/<policy>/cuda.cuh, moe/moe_layer.cuh).
//
//     auto lm = dsv2::DeepseekV2ForCausalLM<dsv2::cuda_spec>::from_pretrained(dir);
//     auto out = lm.forward({.input_ids = &ids});   // host tensors in and out
#pragma once

#include "dsv2/model.hpp"
#include "dsv2/models/cuda/spec.cuh"
