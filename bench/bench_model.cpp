// End to end on a DeepSeek-V2-Lite-shaped model with fewer layers (1 dense + 3 MoE, the full
// 102,400-token vocabulary, random bf16 weights): prefill of 512 tokens, and decode steps after
// 512 and 4096 tokens of context with the latent cache. Decode's GB/s counts the weight bytes one
// token reads; compare with memory_read in bench_kernels for the roofline fraction.
#include "bench_common.hpp"

namespace {

const dsv2::DeepseekV2ForCausalLM<>& bench_model() {
    static const auto model = dsv2::DeepseekV2ForCausalLM<>::from_config(dsv2_bench::lite_shaped(4, 102400), 11, dsv2::dtype::bf16);
    return model;
}

dsv2::tensor<std::int64_t> random_ids(std::int64_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::int64_t> id(0, 102399);
    dsv2::tensor<std::int64_t> ids({1, n});
    for (auto& v : ids.values()) v = id(rng);
    return ids;
}

void prefill(benchmark::State& state) {
    const auto& lm = bench_model();
    const std::int64_t S = state.range(0);
    const auto ids = random_ids(S, 1);
    for (auto _ : state) {
        auto out = lm.forward({.input_ids = &ids, .logits_to_keep = std::int64_t{1}});
        benchmark::DoNotOptimize(out.logits.data());
    }
    // multiply-adds of the weights one token goes through, lm_head only once (logits_to_keep = 1)
    const auto& w = lm.model.weights();
    const double per_token = dsv2_bench::decode_weight_bytes(w, lm.config()) / 2.0 - double(w.output_embeddings().bytes()) / 2.0;
    const double flops = 2.0 * (per_token * double(S) + double(w.output_embeddings().bytes()) / 2.0);
    state.SetItemsProcessed(state.iterations() * S);
    state.counters["GFLOP/s"] = benchmark::Counter(flops * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

void decode(benchmark::State& state) {
    const auto& lm = bench_model();
    const std::int64_t context = state.range(0);
    auto cache = lm.make_cache(1);
    cache.reserve(context + 1);
    const auto prompt = random_ids(context, 2);
    for (std::int64_t done = 0; done < context; done += 512) {  // fill the cache in chunks
        const std::int64_t n = std::min<std::int64_t>(512, context - done);
        dsv2::tensor<std::int64_t> chunk({1, n});
        std::copy_n(prompt.data() + done, n, chunk.data());
        lm.forward({.input_ids = &chunk, .logits_to_keep = std::int64_t{1}}, &cache);
    }
    const auto one = random_ids(1, 3);
    for (auto _ : state) {
        auto out = lm.forward({.input_ids = &one}, &cache);
        benchmark::DoNotOptimize(out.logits.data());
        cache.crop(context);
    }
    const double bytes = dsv2_bench::decode_weight_bytes(lm.model.weights(), lm.config());
    state.SetItemsProcessed(state.iterations());
    state.counters["weight_GB/s"] = benchmark::Counter(bytes * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
    state.counters["GB_per_token"] = bytes / 1e9;
}

}  // namespace

BENCHMARK(prefill)->Arg(512)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(decode)->Arg(512)->Arg(4096)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK_MAIN();
