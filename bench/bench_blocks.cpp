// Blocks of a DeepSeek-V2-Lite-shaped layer (bf16 weights): MLA prefill and decode in both cache
// layouts at contexts 256..16K, the prefill/decode switch of the latent policy, router, MoE layer,
// dense gated MLP, RMSNorm and RoPE. Counters in tokens/s (items_per_second), GB/s, GFLOP/s.
#include "bench_common.hpp"

namespace {

/// One model with a dense layer 0 and a MoE layer 1 in Lite shapes, built once.
const dsv2::DeepseekV2Model<>& lite_layers() {
    static const auto model = dsv2::DeepseekV2Model<>::from_config(dsv2_bench::lite_shaped(2, 1024), 7, dsv2::dtype::bf16);
    return model;
}

struct decode_inputs {
    dsv2::cpu::matrix h;
    std::vector<std::int64_t> position, mask;
    dsv2::attention_batch batch(std::int64_t context) {
        position.assign(1, context);
        mask.assign(static_cast<std::size_t>(context + 1), 1);
        return {1, 1, context, position.data(), mask.data()};
    }
};

/// One decode step of attention over `context` cached tokens, latent cache + absorbed attention.
void mla_decode_latent(benchmark::State& state) {
    const auto& m = lite_layers();
    const std::int64_t context = state.range(0);
    dsv2::latent_kv_cache cache(m.config(), 1, &m.weights());
    cache.reserve(context + 1);  // as generate() does: no regrowth inside the timed step
    cache.layer(0).latents.append(dsv2_bench::random_matrix(context, m.config().qk_rope_head_dim + m.config().kv_lora_rank), context);
    decode_inputs in{dsv2_bench::random_matrix(1, m.config().hidden_size), {}, {}};
    const auto ab = in.batch(context);
    for (auto _ : state) {
        auto out = dsv2::mla_forward_latent(dsv2::cpu{}, m.weights().layers[0].self_attn, m.plan().attention,
                                     m.plan().rope, in.h, ab, &cache.layer(0), nullptr,
                                     dsv2::mla_absorbed::expanded_from_new_tokens);
        benchmark::DoNotOptimize(out.data());
        cache.crop(context);
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["cache_MB"] = double(cache.layer(0).latents.bytes()) / 1e6;
}

/// The same step over an expanded cache.
void mla_decode_expanded(benchmark::State& state) {
    const auto& m = lite_layers();
    const auto& c = m.config();
    const std::int64_t context = state.range(0);
    dsv2::expanded_kv_cache cache(c, 1, &m.weights());
    cache.reserve(context + 1);
    cache.layer(0).keys.append(dsv2_bench::random_matrix(context, c.num_attention_heads * c.qk_head_dim()), context);
    cache.layer(0).values.append(dsv2_bench::random_matrix(context, c.num_attention_heads * c.v_head_dim), context);
    decode_inputs in{dsv2_bench::random_matrix(1, c.hidden_size), {}, {}};
    const auto ab = in.batch(context);
    for (auto _ : state) {
        auto out = dsv2::mla_forward_expanded(dsv2::cpu{}, m.weights().layers[0].self_attn, m.plan().attention,
                                     m.plan().rope, in.h, ab, &cache.layer(0), nullptr);
        benchmark::DoNotOptimize(out.data());
        cache.crop(context);
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["cache_MB"] = double(cache.layer(0).keys.bytes() + cache.layer(0).values.bytes()) / 1e6;
}

/// S new tokens after 512 cached ones on the latent cache: absorbed (arg 1 = 0) or expanded (1).
/// Where the two cross sets mla_absorbed::expanded_from_new_tokens.
void mla_latent_switch(benchmark::State& state) {
    const auto& m = lite_layers();
    const auto& c = m.config();
    const std::int64_t S = state.range(0), past = 512;
    const bool expanded = state.range(1) != 0;
    dsv2::latent_kv_cache cache(c, 1, &m.weights());
    cache.reserve(past + S);
    cache.layer(0).latents.append(dsv2_bench::random_matrix(past, c.qk_rope_head_dim + c.kv_lora_rank), past);
    const auto h = dsv2_bench::random_matrix(S, c.hidden_size);
    std::vector<std::int64_t> pos(static_cast<std::size_t>(S)), mask(static_cast<std::size_t>(past + S), 1);
    for (std::int64_t s = 0; s < S; ++s) pos[static_cast<std::size_t>(s)] = past + s;
    const dsv2::attention_batch ab{1, S, past, pos.data(), mask.data()};
    for (auto _ : state) {
        auto out = dsv2::mla_forward_latent(dsv2::cpu{}, m.weights().layers[0].self_attn, m.plan().attention, m.plan().rope, h,
                                            ab, &cache.layer(0), nullptr, expanded ? 1 : S + 1);
        benchmark::DoNotOptimize(out.data());
        cache.crop(past);
    }
    state.SetItemsProcessed(state.iterations() * S);
}

/// Prefill of 512 tokens through one attention layer (expanded form, no cache).
void mla_prefill(benchmark::State& state) {
    const auto& m = lite_layers();
    const std::int64_t S = state.range(0);
    const auto h = dsv2_bench::random_matrix(S, m.config().hidden_size);
    std::vector<std::int64_t> pos(static_cast<std::size_t>(S)), mask(static_cast<std::size_t>(S), 1);
    for (std::int64_t s = 0; s < S; ++s) pos[static_cast<std::size_t>(s)] = s;
    const dsv2::attention_batch ab{1, S, 0, pos.data(), mask.data()};
    for (auto _ : state) {
        auto out = dsv2::mla_forward_latent(dsv2::cpu{}, m.weights().layers[0].self_attn, m.plan().attention,
                                     m.plan().rope, h, ab, static_cast<dsv2::latent_kv_cache::layer_cache*>(nullptr), nullptr,
                                     dsv2::mla_absorbed::expanded_from_new_tokens);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * S);
}

void moe_layer(benchmark::State& state) {
    const auto& m = lite_layers();
    const std::int64_t T = state.range(0);
    const auto& moe = std::get<1>(m.weights().layers[1].mlp);
    const auto x = dsv2_bench::random_matrix(T, m.config().hidden_size);
    dsv2::cpu::matrix y;
    for (auto _ : state) {
        dsv2::moe_forward(dsv2::cpu_forward_pass{}, moe, m.plan().routing, m.plan().act, x, y);
        benchmark::DoNotOptimize(y.data());
    }
    state.SetItemsProcessed(state.iterations() * T);
}

void router(benchmark::State& state) {
    const auto& m = lite_layers();
    const std::int64_t T = state.range(0);
    const auto& moe = std::get<1>(m.weights().layers[1].mlp);
    const auto x = dsv2_bench::random_matrix(T, m.config().hidden_size);
    for (auto _ : state) {
        auto r = dsv2::router_impl<dsv2::router_from_config, dsv2::cpu>::route(dsv2::cpu_forward_pass{}, moe.gate, m.plan().routing, x);
        benchmark::DoNotOptimize(r.expert.data());
    }
    state.SetItemsProcessed(state.iterations() * T);
}

void gated_mlp_dense(benchmark::State& state) {
    const auto& m = lite_layers();
    const std::int64_t T = state.range(0);
    const auto& mlp = std::get<0>(m.weights().layers[0].mlp);
    const auto x = dsv2_bench::random_matrix(T, m.config().hidden_size);
    dsv2::cpu::matrix y;
    for (auto _ : state) {
        dsv2::expert_mlp_impl<dsv2::gated_mlp_experts, dsv2::cpu>::forward(dsv2::cpu_forward_pass{}, mlp, m.plan().act, x, y);
        benchmark::DoNotOptimize(y.data());
    }
    const double bytes = double(mlp.gate_proj.weight.bytes() * 3);
    state.SetItemsProcessed(state.iterations() * T);
    state.counters["weight_GB/s"] = benchmark::Counter(bytes * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
    state.counters["GFLOP/s"] = benchmark::Counter(6.0 * double(T) * double(mlp.gate_proj.weight.rows() * mlp.gate_proj.weight.cols()) *
                                                       double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

void rmsnorm(benchmark::State& state) {
    const auto& m = lite_layers();
    auto x = dsv2_bench::random_matrix(state.range(0), m.config().hidden_size);
    for (auto _ : state) {
        dsv2::rmsnorm_inplace(dsv2::cpu{}, x, m.weights().norm, 1e-6);
        benchmark::DoNotOptimize(x.data());
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}

void rope(benchmark::State& state) {
    const auto& m = lite_layers();
    const std::int64_t T = state.range(0), heads = m.config().num_attention_heads, d = m.config().qk_rope_head_dim;
    auto q = dsv2_bench::random_matrix(T, heads * d);
    std::vector<float> c(static_cast<std::size_t>(d / 2)), s(c.size());
    for (auto _ : state) {
        for (std::int64_t t = 0; t < T; ++t) {
            m.plan().rope.cos_sin(1000 + t, c.data(), s.data());
            for (std::int64_t h = 0; h < heads; ++h) dsv2::rope_table::rotate(q.row(t).data() + h * d, c.data(), s.data(), c.size());
        }
        benchmark::DoNotOptimize(q.data());
    }
    state.SetItemsProcessed(state.iterations() * T);
}

}  // namespace

BENCHMARK(mla_decode_latent)->Arg(256)->Arg(1024)->Arg(4096)->Arg(16384)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(mla_decode_expanded)->Arg(256)->Arg(1024)->Arg(4096)->Arg(16384)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(mla_latent_switch)->ArgsProduct({{1, 4, 16, 64, 128, 256, 512}, {0, 1}})->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(mla_prefill)->Arg(512)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(moe_layer)->Arg(1)->Arg(512)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(router)->Arg(1)->Arg(512)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(gated_mlp_dense)->Arg(1)->Arg(512)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(rmsnorm)->Arg(1)->Arg(512)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(rope)->Arg(1)->Arg(512)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
