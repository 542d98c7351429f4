// The host side of the CUDA backend's headers, which needs no device and therefore runs (and
// passes or fails) on every machine, GPU or not: the error checks throw dsv2::cuda_error with the
// call, the status name and description, and file:line; device_available() agrees with the
// runtime and says why not; RAII wrappers without a device fail with cuda_error, never crash.
// Its own main (no Catch2): a machine without a GPU must still run these checks.
#include <dsv2/backend/cuda/all.cuh>

#include <cstdio>
#include <string>

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
    std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
    if (!ok) ++failures;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

cudaError_t returns(cudaError_t e) { return e; }
cublasStatus_t returns_status(cublasStatus_t s) { return s; }

void error_checks() {
    try {
        DSV2_CUDA_CHECK(returns(cudaErrorInvalidValue));
        check(false, "DSV2_CUDA_CHECK throws on an error");
    } catch (const dsv2::cuda_error& e) {
        const std::string m = e.what();
        check(contains(m, "returns(cudaErrorInvalidValue)"), "cuda_error names the call: " + m);
        check(e.status() == "cudaErrorInvalidValue", "cuda_error::status() is the error's name");
        check(contains(m, "invalid argument"), "cuda_error carries cudaGetErrorString");
        check(contains(e.where(), "test_cuda_host.cu:"), "cuda_error::where() is file:line: " + e.where());
    }
    try {
        DSV2_CUDA_CHECK(returns(cudaSuccess));
        check(true, "DSV2_CUDA_CHECK is silent on cudaSuccess");
    } catch (...) {
        check(false, "DSV2_CUDA_CHECK is silent on cudaSuccess");
    }
    try {
        DSV2_CUBLAS_CHECK(returns_status(CUBLAS_STATUS_INVALID_VALUE));
        check(false, "DSV2_CUBLAS_CHECK throws on an error");
    } catch (const dsv2::error& e) {  // the base class of every dsv2 exception
        const std::string m = e.what();
        check(dynamic_cast<const dsv2::cuda_error*>(&e) != nullptr, "cuBLAS failures are cuda_error");
        check(contains(m, "CUBLAS_STATUS_INVALID_VALUE") && contains(m, "returns_status"),
              "the cuBLAS message names the status and the call: " + m);
    }
    try {
        (void)dsv2::detail::cublas_int(std::int64_t{1} << 31, "K");
        check(false, "sizes beyond int are refused for cuBLAS");
    } catch (const dsv2::unsupported_error& e) {
        check(contains(e.what(), "K = 2147483648"), std::string("sizes beyond int are refused for cuBLAS: ") + e.what());
    }
    check(dsv2::detail::cuda_launch::grid_for(0, 256) == 1 && dsv2::detail::cuda_launch::grid_for(257, 256) == 2 &&
              dsv2::detail::cuda_launch::grid_for(std::int64_t{1} << 40, 256) == (1u << 20),
          "grid_for covers n with at least one block and at most 2^20");
}

void device_checks() {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    (void)cudaGetLastError();
    std::string reason;
    const bool available = dsv2::device_available(&reason);
    std::printf("device_available() = %s (%s)\n", available ? "true" : "false", reason.c_str());
    check(!reason.empty(), "device_available() gives a reason");
    if (err != cudaSuccess) {
        check(!available && contains(reason, cudaGetErrorName(err)),
              "without a driver/device, device_available() is false and names the runtime's error");
    } else if (count == 0) {
        check(!available, "with no device, device_available() is false");
    } else {
        check(available == contains(reason, "sm_"), "with a device, the reason names it (or why it is unusable)");
    }
    check(dsv2::device_available(nullptr) == available, "device_available() without a reason string agrees");

    // buffers without memory need no device; moves leave the source empty
    dsv2::device_buffer<float> empty(0, nullptr);
    dsv2::device_buffer<float> moved(std::move(empty));
    check(empty.empty() && moved.empty() && moved.data() == nullptr, "an empty device_buffer needs no device");
    if (!available) {
        bool threw = false;
        try {
            dsv2::stream s;
        } catch (const dsv2::cuda_error& e) {
            threw = true;
            std::printf("  (stream without a device: %s)\n", e.what());
        }
        check(threw, "without a device, creating a stream throws cuda_error");
    }
}

}  // namespace

int main() {
    error_checks();
    device_checks();
    std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
