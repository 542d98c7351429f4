// Checks the CUDA test convention without any dsv2 header: without a usable CUDA device, print the
// reason and exit 77 (CTest: SKIPPED); with one, run a tiny kernel and check its result.
#include <cuda_runtime.h>

#include <cstdio>

namespace {

__global__ void iota_kernel(int* out, int n) {
    const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    if (i < n) out[i] = 3 * i + 1;
}

bool check(cudaError_t err, const char* what) {
    if (err == cudaSuccess) return true;
    std::printf("FAILED: %s: %s (%s)\n", what, cudaGetErrorName(err), cudaGetErrorString(err));
    return false;
}

}  // namespace

int main() {
    int devices = 0;
    const cudaError_t err = cudaGetDeviceCount(&devices);
    if (err != cudaSuccess || devices == 0) {
        std::printf("SKIPPED: no CUDA device (%s: %s)\n", cudaGetErrorName(err), cudaGetErrorString(err));
        return 77;
    }
    cudaDeviceProp prop{};
    if (!check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties")) return 1;
    std::printf("device 0 of %d: %s, sm_%d%d\n", devices, prop.name, prop.major, prop.minor);

    constexpr int n = 1000;
    int* d = nullptr;
    if (!check(cudaMalloc(&d, n * sizeof(int)), "cudaMalloc")) return 1;
    iota_kernel<<<(n + 255) / 256, 256>>>(d, n);
    if (!check(cudaGetLastError(), "kernel launch")) return 1;
    static int h[n];
    if (!check(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost), "cudaMemcpy")) return 1;
    if (!check(cudaFree(d), "cudaFree")) return 1;
    for (int i = 0; i < n; ++i) {
        if (h[i] != 3 * i + 1) {
            std::printf("FAILED: out[%d] = %d, expected %d\n", i, h[i], 3 * i + 1);
            return 1;
        }
    }
    std::printf("PASSED: kernel ran on the device\n");
    return 0;
}
