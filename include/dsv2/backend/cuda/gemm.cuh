#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/gemm.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// Matrix products on cuBLAS, row-major as the rest of dsv2: y [T, out] = x [T, in] · W [out, in]ᵀ
// for a PyTorch Linear weight W, accumulated in fp32 (CUBLAS_COMPUTE_32F: never TF32, never a
// reduced-precision accumulator).
//
// Row-major on column-major cuBLAS: a row-major [r, c] matrix is a column-major [c, r] one, so
//   y_colmajor [out, T] = op_T(W_colmajor [in, out]) · x_colmajor [in, T]     ("TN" GEMM).
//
// Weights in fp32 or bf16, activations always fp32 in and out:
//  - fp32 weights: an fp32 GEMM (cublasGemmEx, all operands CUDA_R_32F).
//  - bf16 weights: cuBLAS has no GEMM with one bf16 and one fp32 input, so the activations are
//    rounded to bf16 (round to nearest even) in a scratch buffer and the product runs with bf16
//    inputs, fp32 accumulation and an fp32 output (what vLLM does). The only error beyond an fp32
//    GEMM's is that rounding, at most 2^-8 relative per activation, so per output element
//        |y − y_fp32| ≤ (2^-8 + γ_K) · Σ_k |x_k·w_k|,   γ_K = K·2^-24 / (1 − K·2^-24),
//    where y_fp32 is the fp32 product of the same bf16 weights (tests/cuda/test_cuda_gemm.cu).
//    Keeping fp32 copies of bf16 weights instead would double the bytes decode reads.
//
// A cublas_handle belongs to one thread at a time (cuBLAS's rule); every call binds it to the
// stream it is given, so one handle serves any number of streams in turn.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <climits>
#include <cstdint>
#include <string>
#include <utility>

#include "dsv2/backend/cuda/cuda.cuh"
#include "dsv2/backend/cuda/elementwise.cuh"
#include "dsv2/backend/cuda/error.cuh"
#include "dsv2/backend/cuda/memory.cuh"

namespace dsv2 {

/// An owned cuBLAS handle (move-only). Default math mode: fp32 GEMMs stay fp32 (no TF32).
class cublas_handle {
public:
    cublas_handle() {
        DSV2_CUBLAS_CHECK(cublasCreate(&h_));
        DSV2_CUBLAS_CHECK(cublasSetMathMode(h_, CUBLAS_DEFAULT_MATH));
    }
    ~cublas_handle() {
        if (h_) (void)cublasDestroy(h_);
    }
    cublas_handle(cublas_handle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    cublas_handle& operator=(cublas_handle&& o) noexcept {
        if (this != &o) {
            if (h_) (void)cublasDestroy(h_);
            h_ = std::exchange(o.h_, nullptr);
        }
        return *this;
    }
    cublas_handle(const cublas_handle&) = delete;
    cublas_handle& operator=(const cublas_handle&) = delete;

    cublasHandle_t get() const noexcept { return h_; }
    /// Binds the handle to `s` (every gemm call does this itself).
    void bind(cudaStream_t s) { DSV2_CUBLAS_CHECK(cublasSetStream(h_, s)); }

private:
    cublasHandle_t h_ = nullptr;
};

namespace detail {

template <class T>
struct cuda_data_type;
template <>
struct cuda_data_type<float> {
    static constexpr cudaDataType_t value = CUDA_R_32F;
};
template <>
struct cuda_data_type<__nv_bfloat16> {
    static constexpr cudaDataType_t value = CUDA_R_16BF;
};

/// cuBLAS takes int sizes: a larger one is an unsupported_error naming it.
inline int cublas_int(std::int64_t v, const char* what) {
    if (v < 0 || v > INT_MAX)
        throw unsupported_error(std::string("cuBLAS: ") + what + " = " + std::to_string(v) + " is outside [0, INT_MAX]");
    return static_cast<int>(v);
}

}  // namespace detail

/// Where one operand of a strided-batched product lives: `data` + i·`batch_stride` is matrix i,
/// row-major with row stride `ld` (elements).
template <class T>
struct batched_operand {
    const T* data;
    std::int64_t ld;
    std::int64_t batch_stride;
};

/// The general row-major product, fp32 accumulation, for `batch` matrices at once:
///   C_i [M, N] = alpha · op(A_i) · op(B_i) + beta · C_i,  op(X) = X or Xᵀ (trans_a / trans_b),
/// A_i is [M, K] (or [K, M] when trans_a), B_i is [K, N] (or [N, K] when trans_b). A and B share
/// one element type (float or bf16); C is fp32.
template <class T>
void gemm_batched(cuda, cublas_handle& blas, cudaStream_t s, bool trans_a, bool trans_b, std::int64_t M,
                  std::int64_t N, std::int64_t K, float alpha, batched_operand<T> A, batched_operand<T> B, float beta,
                  float* C, std::int64_t ldc, std::int64_t stride_c, std::int64_t batch) {
    if (M == 0 || N == 0 || batch == 0) return;
    blas.bind(s);
    // Row-major C = op(A)·op(B)  <=>  column-major Cᶜ [N, M] = op(B)ᶜ · op(A)ᶜ, where the
    // column-major view of a row-major X is Xᵀ: so B comes first, each with its own transposition.
    const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    constexpr cudaDataType_t t = detail::cuda_data_type<T>::value;
    const int m = detail::cublas_int(N, "N"), n = detail::cublas_int(M, "M"), k = detail::cublas_int(K, "K");
    const int ldb = detail::cublas_int(B.ld, "ldb"), lda = detail::cublas_int(A.ld, "lda"),
              ldcc = detail::cublas_int(ldc, "ldc");
    if (batch == 1) {
        DSV2_CUBLAS_CHECK(cublasGemmEx(blas.get(), op_b, op_a, m, n, k, &alpha, B.data, t, ldb, A.data, t, lda, &beta, C,
                                       CUDA_R_32F, ldcc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    } else {
        DSV2_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
            blas.get(), op_b, op_a, m, n, k, &alpha, B.data, t, ldb, B.batch_stride, A.data, t, lda, A.batch_stride, &beta,
            C, CUDA_R_32F, ldcc, stride_c, detail::cublas_int(batch, "batch"), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
}

/// y [T, out] (row stride ldy) = x [T, in] (row stride ldx) · W [out, in]ᵀ + beta · y, fp32 weights.
/// ldx / ldy default (0) to in / out.
inline void gemm_nt(cuda tag, cublas_handle& blas, cudaStream_t s, const float* x, const float* w, float* y,
                    std::int64_t T, std::int64_t in, std::int64_t out, float beta = 0.0f, std::int64_t ldx = 0,
                    std::int64_t ldy = 0) {
    gemm_batched<float>(tag, blas, s, false, true, T, out, in, 1.0f, {x, ldx ? ldx : in, 0}, {w, in, 0}, beta, y,
                        ldy ? ldy : out, 0, 1);
}

/// The same with bf16 activations and bf16 weights (fp32 accumulation and output).
inline void gemm_nt(cuda tag, cublas_handle& blas, cudaStream_t s, const __nv_bfloat16* x, const __nv_bfloat16* w,
                    float* y, std::int64_t T, std::int64_t in, std::int64_t out, float beta = 0.0f, std::int64_t ldx = 0,
                    std::int64_t ldy = 0) {
    gemm_batched<__nv_bfloat16>(tag, blas, s, false, true, T, out, in, 1.0f, {x, ldx ? ldx : in, 0}, {w, in, 0}, beta,
                                y, ldy ? ldy : out, 0, 1);
}

/// fp32 activations, bf16 weights: x is rounded to bf16 in a stream-ordered scratch buffer, then
/// the bf16 product above (see the header comment for the error bound).
inline void gemm_nt(cuda tag, cublas_handle& blas, cudaStream_t s, const float* x, const __nv_bfloat16* w, float* y,
                    std::int64_t T, std::int64_t in, std::int64_t out, float beta = 0.0f, std::int64_t ldx = 0,
                    std::int64_t ldy = 0) {
    if (T == 0 || out == 0) return;
    device_buffer<__nv_bfloat16> xb(static_cast<std::size_t>(T * in), s);
    if (!ldx || ldx == in) {
        convert(tag, s, x, xb.data(), T * in);
    } else {  // compact the rows first (rare: callers pass contiguous activations)
        device_buffer<float> compact(static_cast<std::size_t>(T * in), s);
        copy_rows(tag, s, x, ldx, compact.data(), in, T, in);
        convert(tag, s, compact.data(), xb.data(), T * in);
    }
    gemm_nt(tag, blas, s, static_cast<const __nv_bfloat16*>(xb.data()), w, y, T, in, out, beta, in, ldy);
}

}  // namespace dsv2
