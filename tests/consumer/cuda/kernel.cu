#include "kernel.hpp"

#include <dsv2/backend/cuda/all.cuh>
#include <dsv2/model.hpp>

#include <cuda_runtime.h>

#include <cmath>
#include <stdexcept>
#include <vector>

namespace {

__global__ void scale_kernel(float* x, int n, float s) {
    const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    if (i < n) x[i] = static_cast<float>(i) * s;
}

void check(cudaError_t err, const char* what) {
    if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

}  // namespace

bool scale_on_device(const dsv2::DeepseekV2Config& cfg, int n, std::string& why) {
    if (!dsv2::device_available(&why)) return false;
    const auto s = static_cast<float>(cfg.softmax_scale());
    float* d = nullptr;
    check(cudaMalloc(&d, static_cast<size_t>(n) * sizeof(float)), "cudaMalloc");
    scale_kernel<<<(n + 127) / 128, 128>>>(d, n, s);
    check(cudaGetLastError(), "launch");
    std::vector<float> h(static_cast<size_t>(n));
    check(cudaMemcpy(h.data(), d, h.size() * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
    check(cudaFree(d), "cudaFree");
    for (int i = 0; i < n; ++i)
        if (std::fabs(h[static_cast<size_t>(i)] - static_cast<float>(i) * s) > 1e-5f * static_cast<float>(i + 1))
            throw std::runtime_error("wrong device result at " + std::to_string(i));
    return true;
}
