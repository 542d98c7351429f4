// Device memory, streams, errors and the element-wise kernels (exact operations: compared bit for
// bit). Short and cuBLAS-free: scripts/gpu-check runs it under compute-sanitizer memcheck
// (without the [error] case).
#include "cuda_test_support.cuh"

#include <bit>
#include <cstring>
#include <limits>

using namespace dsv2_cuda_test;

TEST_CASE("device_available names the device", "[cuda][memory]") {
    std::string reason;
    REQUIRE(dsv2::device_available(&reason));
    INFO(reason);
    CHECK(reason.find("sm_") != std::string::npos);
}

TEST_CASE("device_buffer: stream-ordered allocation, upload, download, zero, move", "[cuda][memory]") {
    dsv2::stream s;
    std::mt19937 rng(1);
    const std::vector<float> host = random_values(1000, rng);
    dsv2::device_buffer<float> d = dsv2::upload(s.get(), host);
    CHECK(d.size() == host.size());
    CHECK(d.bytes() == host.size() * sizeof(float));
    CHECK(d.stream() == s.get());
    CHECK(dsv2::download(s.get(), d) == host);

    dsv2::device_buffer<float> moved(std::move(d));
    CHECK(d.empty());
    CHECK(d.data() == nullptr);
    CHECK(dsv2::download(s.get(), moved) == host);

    dsv2::device_buffer<float> assigned;
    assigned = std::move(moved);
    CHECK(dsv2::download(s.get(), assigned) == host);
    assigned.zero();
    CHECK(dsv2::download(s.get(), assigned) == std::vector<float>(host.size(), 0.0f));

    float* before = assigned.data();
    assigned.reserve_discard(10);  // smaller: kept
    CHECK(assigned.data() == before);
    assigned.reserve_discard(5000);
    CHECK(assigned.size() == 5000);
    assigned.reset();
    CHECK(assigned.empty());
    s.synchronize();
}

// Tagged [error]: it makes failing API calls on purpose, which compute-sanitizer reports, so
// scripts/gpu-check runs memcheck with "~[error]".
TEST_CASE("a failing runtime call throws cuda_error naming the call", "[cuda][memory][error]") {
    dsv2::stream s;
    std::vector<float> host(16), dev_src(16);
    try {  // an invalid copy direction is refused before anything is copied
        DSV2_CUDA_CHECK(cudaMemcpyAsync(host.data(), dev_src.data(), 64, static_cast<cudaMemcpyKind>(42), s.get()));
        FAIL("no exception");
    } catch (const dsv2::cuda_error& e) {
        INFO(e.what());
        CHECK(e.call().find("cudaMemcpyAsync") != std::string::npos);
        CHECK(e.status().rfind("cudaError", 0) == 0);
    }
    // a launch with 2048 threads per block is refused at launch
    try {
        dsv2::detail::cuda_kernels::add_inplace_kernel<float><<<1, 2048, 0, s.get()>>>(nullptr, nullptr, 0);
        DSV2_CUDA_CHECK_LAUNCH();
        FAIL("no exception");
    } catch (const dsv2::cuda_error& e) {
        INFO(e.what());
        CHECK(e.status() == "cudaErrorInvalidConfiguration");
    }
    s.synchronize();  // nothing sticky was left behind
}

TEST_CASE("bf16 conversion on the device equals dsv2::float_to_bf16 bit for bit", "[cuda][memory]") {
    dsv2::stream s;
    std::mt19937 rng(2);
    std::vector<float> v = random_values(4096, rng, -1000.0f, 1000.0f);
    // ties (round to even both ways), subnormals, zeros, infinities, extremes
    for (std::uint32_t bits : {0x3f808000u, 0x3f818000u, 0xbf808000u, 0x00000001u, 0x00400000u, 0x80000000u, 0x00000000u,
                               0x7f800000u, 0xff800000u, 0x7f7fffffu, 0x7f7f8000u, 0x3f80ffffu})
        v.push_back(std::bit_cast<float>(bits));
    const auto d = dsv2::upload(s.get(), v);
    dsv2::device_buffer<__nv_bfloat16> b(v.size(), s.get());
    dsv2::convert(dsv2::cuda{}, s.get(), d.data(), b.data(), static_cast<std::int64_t>(v.size()));
    const std::vector<__nv_bfloat16> got = dsv2::download(s.get(), b);
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        std::uint16_t g;
        std::memcpy(&g, &got[i], 2);
        if (g != dsv2::float_to_bf16(v[i])) ++mismatches;
    }
    CHECK(mismatches == 0);

    // and back, exactly
    dsv2::device_buffer<float> back(v.size(), s.get());
    dsv2::convert(dsv2::cuda{}, s.get(), static_cast<const __nv_bfloat16*>(b.data()), back.data(),
                  static_cast<std::int64_t>(v.size()));
    const std::vector<float> f = dsv2::download(s.get(), back);
    for (std::size_t i = 0; i < v.size(); ++i) {
        std::uint16_t g;
        std::memcpy(&g, &got[i], 2);
        const float expect = dsv2::bf16_to_float(g);
        if (std::bit_cast<std::uint32_t>(f[i]) != std::bit_cast<std::uint32_t>(expect)) ++mismatches;
    }
    CHECK(mismatches == 0);

    // upload of raw bits keeps them
    std::vector<std::uint16_t> bits = {0x3f80, 0xc040, 0x0001, 0x7f80};
    const auto ub = dsv2::upload_bf16_bits(s.get(), bits);
    const std::vector<__nv_bfloat16> ubh = dsv2::download(s.get(), ub);
    CHECK(std::memcmp(ubh.data(), bits.data(), bits.size() * 2) == 0);
}

TEST_CASE("residual add, bias add and row copies are exact", "[cuda][memory]") {
    dsv2::stream s;
    std::mt19937 rng(3);
    const std::int64_t rows = 37, cols = 101, ld = 128;
    const std::vector<float> y0 = random_values(static_cast<std::size_t>(rows * ld), rng);
    const std::vector<float> x = random_values(static_cast<std::size_t>(rows * ld), rng);
    const std::vector<float> bias = random_values(static_cast<std::size_t>(cols), rng);

    auto y = dsv2::upload(s.get(), y0);
    const auto dx = dsv2::upload(s.get(), x);
    const auto db = dsv2::upload(s.get(), bias);
    dsv2::add_inplace(dsv2::cuda{}, s.get(), y.data(), dx.data(), rows * ld);
    std::vector<float> expect = y0;
    for (std::size_t i = 0; i < expect.size(); ++i) expect[i] += x[i];
    CHECK(dsv2::download(s.get(), y) == expect);

    dsv2::add_bias_rows(dsv2::cuda{}, s.get(), y.data(), db.data(), rows, cols, ld);  // strided rows
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) expect[static_cast<std::size_t>(r * ld + c)] += bias[static_cast<std::size_t>(c)];
    CHECK(dsv2::download(s.get(), y) == expect);

    dsv2::device_buffer<float> dst(static_cast<std::size_t>(rows * 7), s.get());
    dsv2::copy_rows(dsv2::cuda{}, s.get(), dx.data() + 3, ld, dst.data(), 7, rows, 7);
    const std::vector<float> got = dsv2::download(s.get(), dst);
    bool same = true;
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < 7; ++c)
            same = same && got[static_cast<std::size_t>(r * 7 + c)] == x[static_cast<std::size_t>(r * ld + 3 + c)];
    CHECK(same);
}
