// Quantised-weight matmul (backend/cpu/quant/matmul_quant.hpp): y = x·Wᵀ for W in q8_0, q4_0, q5_0,
// q4_K, q6_K on DeepSeek-V2-Lite shapes, at 1..512 rows of x. Counters: GFLOP/s and GB/s of weight
// bytes read (the decode GEMV is bandwidth bound: compare with bench_kernels' memory_read).
// The `path` argument forces the int8 dots (1) or the dequantised-panel GEMM (2); 0 is what
// matmul_nt_quant picks — the forced runs are how quant_int8_max_rows was chosen.
// N = 102400 (the vocabulary: output.weight, 100–220 MB) is larger than any L3, so its T=1 GEMV
// reads W from DRAM: compare its weight GB/s with bench_kernels' memory_read.
// bench_quant_avx2 is this program built with DSV2_QUANT_NO_VNNI (the AVX2 kernels), for
// comparing both paths on one machine; `quant_kernel_isa` in the context names the path.
//   build/release/bench/bench_quant --benchmark_min_time=0.2
#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include <dsv2/backend/cpu/quant/matmul_quant.hpp>

#include "bench_common.hpp"

namespace {

using dsv2::ggml_type;

/// W [N, K] quantised from normal values (quantize_row), made once per (type, N, K).
const std::vector<unsigned char>& weight(ggml_type type, std::int64_t N, std::int64_t K) {
    static std::map<std::tuple<ggml_type, std::int64_t, std::int64_t>, std::vector<unsigned char>> cache;
    auto& w = cache[{type, N, K}];
    if (w.empty()) {
        // at most 2048 distinct rows (quantising is slow), repeated for larger N
        const std::int64_t distinct = std::min<std::int64_t>(N, 2048);
        const auto values = dsv2_bench::random_matrix(distinct, K, 3);
        const std::size_t row = dsv2::row_bytes(type, static_cast<std::uint64_t>(K)).value();
        w.resize(row * static_cast<std::size_t>(N));
        for (std::int64_t n = 0; n < distinct; ++n)
            dsv2::quantize_row(type, values.data() + n * K, w.data() + static_cast<std::size_t>(n) * row, K);
        for (std::int64_t n = distinct; n < N; ++n)
            std::memcpy(w.data() + static_cast<std::size_t>(n) * row, w.data() + static_cast<std::size_t>(n % distinct) * row, row);
    }
    return w;
}

void quant_matmul(benchmark::State& state, ggml_type type) {
    const std::int64_t rows = state.range(0), N = state.range(1), K = state.range(2), path = state.range(3);
    const auto& w = weight(type, N, K);
    const auto x = dsv2_bench::random_matrix(rows, K, 4);
    dsv2::cpu::matrix y(rows, N);
    const bool k_quant = type == ggml_type::q4_k || type == ggml_type::q6_k;
    for (auto _ : state) {
        if (path == 1 && type == ggml_type::q4_k) {
            dsv2::quant::detail::int8_matmul<dsv2::quant::block_q4_k, dsv2::quant::q8_k_activations>(x.data(), rows, K, w.data(), N, y.data());
        } else if (path == 1 && k_quant) {
            dsv2::quant::detail::int8_matmul<dsv2::quant::block_q6_k, dsv2::quant::q8_k_activations>(x.data(), rows, K, w.data(), N, y.data());
        } else if (path == 1) {
            if (type == ggml_type::q8_0)
                dsv2::quant::detail::int8_matmul<dsv2::quant::block_q8_0, dsv2::quant::q8_0_activations>(x.data(), rows, K, w.data(), N, y.data());
            else if (type == ggml_type::q4_0)
                dsv2::quant::detail::int8_matmul<dsv2::quant::block_q4_0, dsv2::quant::q8_0_activations>(x.data(), rows, K, w.data(), N, y.data());
            else
                dsv2::quant::detail::int8_matmul<dsv2::quant::block_q5_0, dsv2::quant::q8_0_activations>(x.data(), rows, K, w.data(), N, y.data());
        } else if (path == 2) {
            dsv2::quant::detail::dequantized_gemm(x.data(), rows, K, type, w.data(), N, y.data());
        } else {
            dsv2::matmul_nt_quant(x.data(), rows, K, type, w.data(), N, y.data());
        }
        benchmark::DoNotOptimize(y.data());
    }
    const double calls = static_cast<double>(state.iterations());
    state.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(rows * N * K) * calls / 1e9, benchmark::Counter::kIsRate);
    state.counters["weight_GB/s"] = benchmark::Counter(double(w.size()) * calls / 1e9, benchmark::Counter::kIsRate);
}

/// Decode and small batches on the three Lite shapes (K = 1408 only for the 32-wide types).
void shapes(benchmark::internal::Benchmark* b, bool k_quant) {
    for (std::int64_t rows : {1, 4, 8, 16, 32, 64, 512}) {
        b->Args({rows, 2048, 2048, 0});
        b->Args({rows, 1408, 2048, 0});
        if (!k_quant) b->Args({rows, 2048, 1408, 0});
    }
    b->Args({1, 102400, 2048, 0});  // DRAM-sized
    // the crossover of the two prefill paths (expert up/gate shape)
    for (std::int64_t rows : {16, 32, 64, 128, 256}) {
        b->Args({rows, 1408, 2048, 1});
        b->Args({rows, 1408, 2048, 2});
    }
    b->UseRealTime();
}
void blocks32(benchmark::internal::Benchmark* b) { shapes(b, false); }
void blocks256(benchmark::internal::Benchmark* b) { shapes(b, true); }

}  // namespace

BENCHMARK_CAPTURE(quant_matmul, q8_0, ggml_type::q8_0)->Apply(blocks32);
BENCHMARK_CAPTURE(quant_matmul, q4_0, ggml_type::q4_0)->Apply(blocks32);
BENCHMARK_CAPTURE(quant_matmul, q5_0, ggml_type::q5_0)->Apply(blocks32);
BENCHMARK_CAPTURE(quant_matmul, q4_K, ggml_type::q4_k)->Apply(blocks256);
BENCHMARK_CAPTURE(quant_matmul, q6_K, ggml_type::q6_k)->Apply(blocks256);

int main(int argc, char** argv) {
    benchmark::AddCustomContext("quant_kernel_isa", dsv2::quant::quant_kernel_isa);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
