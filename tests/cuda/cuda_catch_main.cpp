// The Catch2 v2 main of dsv2's CUDA test executables (see dsv2_add_cuda_test in cmake/dsv2Cuda.cmake).
// Without a usable CUDA device it prints the reason and exits 77, which CTest reports as SKIPPED.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cuda_runtime_api.h>

#include <cstdio>

int main(int argc, char* argv[]) {
    int devices = 0;
    const cudaError_t err = cudaGetDeviceCount(&devices);
    if (err != cudaSuccess || devices == 0) {
        std::printf("SKIPPED: no CUDA device (%s: %s)\n", cudaGetErrorName(err), cudaGetErrorString(err));
        return 77;
    }
    return Catch::Session().run(argc, argv);
}
