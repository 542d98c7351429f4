// Kernels and machine limits: y = x·Wᵀ for fp32 and bf16 weights at 1..512 rows (the decode
// GEMV and the prefill GEMM), Eigen's sgemm rate, and memory read bandwidth — the numbers the
// roofline fractions in docs/performance.md are taken against.
#include <numeric>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "bench_common.hpp"

namespace {

/// W [N, K] in `type` times x [rows, K]; counters: GFLOP/s and weight GB/s.
void matmul(benchmark::State& state, dsv2::dtype type) {
    const std::int64_t rows = state.range(0), N = state.range(1), K = state.range(2);
    const auto wf = dsv2_bench::random_matrix(N, K, 3);
    dsv2::cpu_weight w;
    if (type == dsv2::dtype::f32) {
        w = dsv2::cpu_weight::zeros(N, K);
        std::copy(wf.data(), wf.data() + wf.size(), w.mutable_f32());
    } else {
        std::vector<std::uint16_t> bits(static_cast<std::size_t>(N * K));
        for (std::size_t i = 0; i < bits.size(); ++i) bits[i] = dsv2::float_to_bf16(wf.data()[i]);
        w = dsv2::cpu_weight::bf16_owned(N, K, std::move(bits));
    }
    const auto x = dsv2_bench::random_matrix(rows, K, 4);
    dsv2::cpu::matrix y;
    for (auto _ : state) {
        dsv2::matmul_nt(dsv2::cpu{}, x, w, y);
        benchmark::DoNotOptimize(y.data());
    }
    const double calls = static_cast<double>(state.iterations());
    state.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(rows * N * K) * calls / 1e9, benchmark::Counter::kIsRate);
    state.counters["weight_GB/s"] = benchmark::Counter(double(w.bytes()) * calls / 1e9, benchmark::Counter::kIsRate);
}

void rows_sweep(benchmark::internal::Benchmark* b) {
    for (std::int64_t rows : {1, 2, 4, 8, 9, 16, 24, 32, 33, 64, 128, 256, 512}) b->Args({rows, 1408, 2048});
    b->Args({1, 102400, 2048});  // the lm_head of a decode step
    b->Args({512, 10944, 2048});  // the dense MLP of a prefill
    b->UseRealTime();
}

/// The previous prefill path for bf16 weights (still the one without AVX-512): W widened to fp32
/// in panels, then Eigen's GEMM — against which gemm_bf16's tiles were chosen.
void matmul_widened_panels(benchmark::State& state) {
    const std::int64_t rows = state.range(0), N = state.range(1), K = state.range(2);
    const auto wf = dsv2_bench::random_matrix(N, K, 3);
    std::vector<std::uint16_t> bits(static_cast<std::size_t>(N * K));
    for (std::size_t i = 0; i < bits.size(); ++i) bits[i] = dsv2::float_to_bf16(wf.data()[i]);
    const auto x = dsv2_bench::random_matrix(rows, K, 4);
    dsv2::cpu::matrix y(rows, N);
    for (auto _ : state) {
        dsv2::detail::gemm_bf16_panels(bits.data(), N, K, x, y);
        benchmark::DoNotOptimize(y.data());
    }
    state.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(rows * N * K) * double(state.iterations()) / 1e9,
                                                   benchmark::Counter::kIsRate);
}

/// Eigen sgemm 1024³ fp32: the machine's GEMM rate that prefill is measured against.
void sgemm_1024(benchmark::State& state) {
    const auto a = dsv2_bench::random_matrix(1024, 1024, 5), bm = dsv2_bench::random_matrix(1024, 1024, 6);
    dsv2::cpu::matrix c(1024, 1024);
    for (auto _ : state) {
        c.noalias() = a * bm;
        benchmark::DoNotOptimize(c.data());
    }
    state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 1024.0 * 1024.0 * 1024.0 * double(state.iterations()) / 1e9,
                                                   benchmark::Counter::kIsRate);
}

/// Read bandwidth: sum of a 1 GiB array with every thread (what decode's weight streaming gets).
/// Integer words, so that the compiler vectorises the sum without reassociating floats.
void memory_read(benchmark::State& state) {
    const std::size_t n = (std::size_t{1} << 30) / sizeof(std::uint32_t);
    std::vector<std::uint32_t> data(n, 1u);
    for (auto _ : state) {
        std::uint32_t total = 0;
#if defined(_OPENMP)
#pragma omp parallel for reduction(+ : total) schedule(static)
#endif
        for (std::int64_t block = 0; block < static_cast<std::int64_t>(n / 4096); ++block) {
            const std::uint32_t* p = data.data() + block * 4096;
            std::uint32_t s = 0;
            for (int i = 0; i < 4096; ++i) s += p[i];
            total += s;
        }
        benchmark::DoNotOptimize(total);
    }
    state.counters["GB/s"] = benchmark::Counter(double(n * sizeof(std::uint32_t)) * double(state.iterations()) / 1e9,
                                                benchmark::Counter::kIsRate);
}

#if defined(__AVX512F__)
/// Peak arithmetic of one core: 24 independent accumulator chains of one instruction, so that
/// throughput, not latency, limits it. `fma`: vfmadd231ps zmm (16 fp32 multiply-adds); `dpbf16`:
/// vdpbf16ps zmm (32 bf16 products summed into 16 fp32 lanes), where the CPU has AVX512_BF16.
/// These decide the GEMM design: a bf16 dot-product kernel only pays if dpbf16 runs at the FMA's
/// instruction rate (see docs/performance.md "Kernels").
template <class Step>
void arithmetic_peak(benchmark::State& state, Step step, double flops_per_instruction) {
    constexpr int chains = 24;
    __m512 acc[chains];
    for (int i = 0; i < chains; ++i) acc[i] = _mm512_set1_ps(1e-3f * static_cast<float>(i));
    constexpr std::int64_t rounds = 1 << 16;
    for (auto _ : state) {
        for (std::int64_t r = 0; r < rounds; ++r) {
#pragma GCC unroll 24
            for (int i = 0; i < chains; ++i) acc[i] = step(acc[i]);
        }
        benchmark::DoNotOptimize(acc);
    }
    state.counters["GFLOP/s"] = benchmark::Counter(flops_per_instruction * chains * double(rounds) *
                                                       double(state.iterations()) / 1e9,
                                                   benchmark::Counter::kIsRate);
}

void peak_fma(benchmark::State& state) {
    const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-7f);
    arithmetic_peak(state, [&](__m512 c) { return _mm512_fmadd_ps(c, a, b); }, 32.0);
}
#if defined(__AVX512BF16__)
void peak_dpbf16(benchmark::State& state) {
    const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);
    arithmetic_peak(state, [&](__m512 c) { return _mm512_dpbf16_ps(c, a, b); }, 64.0);
}
#endif
#endif

}  // namespace

#if defined(__AVX512F__)
BENCHMARK(peak_fma);  // CPU time: what the core does while it runs, whatever the load
#if defined(__AVX512BF16__)
BENCHMARK(peak_dpbf16);
#endif
#endif
BENCHMARK_CAPTURE(matmul, f32, dsv2::dtype::f32)->Apply(rows_sweep);
BENCHMARK_CAPTURE(matmul, bf16, dsv2::dtype::bf16)->Apply(rows_sweep);
BENCHMARK(matmul_widened_panels)->Args({24, 1408, 2048})->Args({64, 1408, 2048})->Args({128, 1408, 2048})->Args({256, 1408, 2048})->Args({512, 1408, 2048})->Args({512, 10944, 2048})->UseRealTime();
BENCHMARK(sgemm_1024)->UseRealTime();
BENCHMARK(memory_read)->UseRealTime();
BENCHMARK_MAIN();
