#if !defined(__CUDACC__)
#error "dsv2/backend/cuda/memory.cuh: compile this header with nvcc (CUDA backend); CPU-only code includes <dsv2/model.hpp>"
#endif
// Device memory and streams of the CUDA backend.
//
//   dsv2::device_available(&why)   is there a usable device? (false, with the reason, otherwise)
//   dsv2::stream                   an owned, non-blocking cudaStream_t (move-only)
//   dsv2::device_buffer<T>         stream-ordered device memory (cudaMallocAsync / cudaFreeAsync)
//   dsv2::upload / download        host <-> device copies on a stream
//
// Ordering rules. A device_buffer is allocated and freed on the stream it was made with: work on
// that stream may use it, and its destruction is ordered after that work (no synchronisation).
// Work on another stream must be ordered with events by the caller. The stream must outlive every
// buffer made on it: declare the `stream` before the buffers (destruction runs in reverse).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dsv2/backend/cuda/cuda.cuh"
#include "dsv2/backend/cuda/error.cuh"

namespace dsv2 {

/// True when a CUDA device is usable: the driver answers, a device exists, and device 0 supports
/// stream-ordered allocation. Otherwise false, and `reason` (when given) says why, e.g.
/// "cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version"
/// or "cudaErrorNoDevice: no CUDA-capable device is detected". On success `reason` names the device.
inline bool device_available(std::string* reason = nullptr) {
    auto fail = [&](cudaError_t err, const std::string& what) {
        if (reason) *reason = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err) + what;
        (void)cudaGetLastError();  // leave no error state behind
        return false;
    };
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) return fail(err, "");
    if (count == 0) return fail(cudaErrorNoDevice, " (cudaGetDeviceCount returned 0)");
    int device = 0;
    if ((err = cudaGetDevice(&device)) != cudaSuccess) return fail(err, " (cudaGetDevice)");
    int pools = 0;
    if ((err = cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device)) != cudaSuccess)
        return fail(err, " (cudaDeviceGetAttribute)");
    if (!pools) {
        if (reason) *reason = "device " + std::to_string(device) + " does not support cudaMallocAsync (memory pools)";
        return false;
    }
    cudaDeviceProp prop{};
    if ((err = cudaGetDeviceProperties(&prop, device)) != cudaSuccess) return fail(err, " (cudaGetDeviceProperties)");
    if (reason)
        *reason = "device " + std::to_string(device) + " of " + std::to_string(count) + ": " + prop.name + ", sm_" +
                  std::to_string(prop.major) + std::to_string(prop.minor);
    return true;
}

/// An owned CUDA stream (cudaStreamNonBlocking: it does not synchronise with the legacy default
/// stream). Move-only; destroying it does not wait for its work (the runtime finishes it).
class stream {
public:
    stream() { DSV2_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
    ~stream() {
        if (s_) (void)cudaStreamDestroy(s_);
    }
    stream(stream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    stream& operator=(stream&& o) noexcept {
        if (this != &o) {
            if (s_) (void)cudaStreamDestroy(s_);
            s_ = std::exchange(o.s_, nullptr);
        }
        return *this;
    }
    stream(const stream&) = delete;
    stream& operator=(const stream&) = delete;

    cudaStream_t get() const noexcept { return s_; }
    operator cudaStream_t() const noexcept { return s_; }
    /// Waits for all work queued so far; throws cuda_error for an asynchronous failure.
    void synchronize() const { DSV2_CUDA_CHECK(cudaStreamSynchronize(s_)); }

private:
    cudaStream_t s_ = nullptr;
};

/// `count` elements of T in device memory, allocated with cudaMallocAsync on `stream` and freed
/// with cudaFreeAsync on the same stream (see the ordering rules above). Move-only. Contents are
/// uninitialised until written (zero() fills with zero bytes).
template <class T>
class device_buffer {
    static_assert(std::is_trivially_copyable_v<T>, "device_buffer holds trivially copyable elements");

public:
    using value_type = T;

    device_buffer() = default;
    device_buffer(std::size_t count, cudaStream_t stream) : stream_(stream) { allocate(count); }
    ~device_buffer() { reset(); }

    device_buffer(device_buffer&& o) noexcept
        : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)), stream_(o.stream_) {}
    device_buffer& operator=(device_buffer&& o) noexcept {
        if (this != &o) {
            reset();
            ptr_ = std::exchange(o.ptr_, nullptr);
            count_ = std::exchange(o.count_, 0);
            stream_ = o.stream_;
        }
        return *this;
    }
    device_buffer(const device_buffer&) = delete;
    device_buffer& operator=(const device_buffer&) = delete;

    T* data() noexcept { return ptr_; }
    const T* data() const noexcept { return ptr_; }
    std::size_t size() const noexcept { return count_; }
    std::size_t bytes() const noexcept { return count_ * sizeof(T); }
    bool empty() const noexcept { return count_ == 0; }
    cudaStream_t stream() const noexcept { return stream_; }

    /// Frees the memory (stream-ordered) and leaves the buffer empty.
    void reset() noexcept {
        if (ptr_) (void)cudaFreeAsync(ptr_, stream_);
        ptr_ = nullptr;
        count_ = 0;
    }

    /// At least `count` elements, old contents discarded (reallocates only when it must grow).
    void reserve_discard(std::size_t count) {
        if (count <= count_) return;
        reset();
        allocate(count);
    }

    /// Fills every byte with zero, on the buffer's stream.
    void zero() {
        if (count_) DSV2_CUDA_CHECK(cudaMemsetAsync(ptr_, 0, bytes(), stream_));
    }

private:
    void allocate(std::size_t count) {
        if (count == 0) return;
        if (count > std::numeric_limits<std::size_t>::max() / sizeof(T))
            throw input_error("device_buffer", std::to_string(count) + " elements overflow size_t bytes");
        void* p = nullptr;
        DSV2_CUDA_CHECK(cudaMallocAsync(&p, count * sizeof(T), stream_));
        ptr_ = static_cast<T*>(p);
        count_ = count;
    }

    T* ptr_ = nullptr;
    std::size_t count_ = 0;
    cudaStream_t stream_ = nullptr;
};

/// Copies host values to device memory at `dst` (stream-ordered; the host memory may be reused as
/// soon as this returns: pageable copies are staged by the runtime).
template <class T>
void upload(cudaStream_t s, std::span<const T> host, T* dst) {
    if (!host.empty())
        DSV2_CUDA_CHECK(cudaMemcpyAsync(dst, host.data(), host.size_bytes(), cudaMemcpyHostToDevice, s));
}

/// A new device buffer holding the host values.
template <class T>
device_buffer<T> upload(cudaStream_t s, std::span<const T> host) {
    device_buffer<T> d(host.size(), s);
    upload(s, host, d.data());
    return d;
}
template <class T>
device_buffer<T> upload(cudaStream_t s, const std::vector<T>& host) {
    return upload(s, std::span<const T>(host));
}

/// bf16 values given as raw bit patterns (dsv2::float_to_bf16, a checkpoint's BF16 data).
inline device_buffer<__nv_bfloat16> upload_bf16_bits(cudaStream_t s, std::span<const std::uint16_t> bits) {
    static_assert(sizeof(__nv_bfloat16) == sizeof(std::uint16_t));
    device_buffer<__nv_bfloat16> d(bits.size(), s);
    if (!bits.empty()) DSV2_CUDA_CHECK(cudaMemcpyAsync(d.data(), bits.data(), bits.size_bytes(), cudaMemcpyHostToDevice, s));
    return d;
}

/// Copies `count` device values to the host; waits for the stream (so earlier work has finished
/// and its asynchronous errors are reported here).
template <class T>
std::vector<T> download(cudaStream_t s, const T* src, std::size_t count) {
    std::vector<T> host(count);
    if (count) DSV2_CUDA_CHECK(cudaMemcpyAsync(host.data(), src, count * sizeof(T), cudaMemcpyDeviceToHost, s));
    DSV2_CUDA_CHECK(cudaStreamSynchronize(s));
    return host;
}
template <class T>
std::vector<T> download(cudaStream_t s, const device_buffer<T>& src) {
    return download(s, src.data(), src.size());
}

}  // namespace dsv2
