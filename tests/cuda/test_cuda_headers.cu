// dsv2's public headers inside nvcc, under dsv2's own CUDA flags (warnings as errors, Eigen included),
// through dsv2_add_cuda_test's Catch2 main: SKIPPED (exit 77) without a CUDA device.
#include <catch2/catch.hpp>

#include <dsv2/model.hpp>

#include <cuda_runtime.h>

#include <vector>

namespace {

__global__ void scale_kernel(float* x, int n, float s) {
    const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    if (i < n) x[i] = static_cast<float>(i) * s;
}

}  // namespace

TEST_CASE("a kernel in a translation unit that includes <dsv2/model.hpp>", "[cuda]") {
    dsv2::DeepseekV2Config cfg{.qk_nope_head_dim = 16, .qk_rope_head_dim = 8};
    const auto s = static_cast<float>(cfg.softmax_scale());
    constexpr int n = 257;
    float* d = nullptr;
    REQUIRE(cudaMalloc(&d, n * sizeof(float)) == cudaSuccess);
    scale_kernel<<<(n + 63) / 64, 64>>>(d, n, s);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    std::vector<float> h(n);
    REQUIRE(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
    REQUIRE(cudaFree(d) == cudaSuccess);
    for (int i = 0; i < n; ++i) CHECK(h[static_cast<size_t>(i)] == Approx(static_cast<float>(i) * s));
}
