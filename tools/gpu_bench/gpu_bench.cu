// dsv2_gpu_bench — the model benchmark of scripts/gpu-check.
//
// Builds a DeepSeek-V2-Lite-shaped causal LM (presets::deepseek_v2_lite(): all 27 layers, 64
// routed experts, vocabulary 102400) with random bf16 weights generated ON THE DEVICE (a hash per
// element: no host memory, no upload), then measures
//   - device copy bandwidth: cudaMemcpyAsync device-to-device of 1 GiB, counted as bytes read +
//     bytes written (what the memory system moves);
//   - prefill: one forward of 512 tokens (batch 1) into an empty latent cache, tokens/s;
//   - decode: batch 1 and batch 16, single-token steps after a 64-token prompt, tokens/s;
// and prints them against the roofline: weight bytes read per decode step ÷ bandwidth. A step
// reads every attention, dense and shared-expert matrix, the router, the lm_head, and the routed
// experts its tokens chose: for batch B with uniform routing, E·(1 − (1 − k/E)^B) experts per MoE
// layer in expectation (6 of 64 at B = 1, ≈ 49.5 at B = 16).
//
//   dsv2_gpu_bench [--layers N] [--decode-steps N]     (defaults: 27 layers, 32 steps)
// Exit codes: 0 ran, 77 no CUDA device (SKIPPED), 1 error.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include <dsv2/models/cuda/model.cuh>

namespace {

using lm_type = dsv2::DeepseekV2ForCausalLM<dsv2::cuda_spec>;

/// Weight bytes one decode step reads, for `experts_touched` routed experts per MoE layer.
double weight_bytes_per_step(const dsv2::DeepseekV2Config& c, double experts_touched) {
    const double H = static_cast<double>(c.hidden_size), nh = static_cast<double>(c.num_attention_heads);
    const double dqk = static_cast<double>(c.qk_head_dim()), dn = static_cast<double>(c.qk_nope_head_dim);
    const double dv = static_cast<double>(c.v_head_dim), dc = static_cast<double>(c.kv_lora_rank);
    const double dr = static_cast<double>(c.qk_rope_head_dim), bf16 = 2.0, f32 = 4.0;
    double q = c.q_lora_rank ? (static_cast<double>(*c.q_lora_rank) * H + nh * dqk * static_cast<double>(*c.q_lora_rank))
                             : nh * dqk * H;
    const double attention = bf16 * (q + (dc + dr) * H + H * nh * dv) + f32 * nh * (dn + dv) * dc;  // kv_b_proj fp32
    const double dense = bf16 * 3.0 * H * static_cast<double>(c.intermediate_size);
    const double expert = bf16 * 3.0 * H * static_cast<double>(c.moe_intermediate_size);
    const double shared = bf16 * 3.0 * H * static_cast<double>(c.shared_intermediate_size());
    const double router = f32 * static_cast<double>(c.n_routed_experts) * H;
    double total = bf16 * static_cast<double>(c.vocab_size) * H;  // lm_head
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
        total += attention + (c.is_moe_layer(i) ? router + shared + experts_touched * expert : dense);
    return total;
}

double expected_experts(const dsv2::DeepseekV2Config& c, std::int64_t batch) {
    const double E = static_cast<double>(c.n_routed_experts), k = static_cast<double>(c.num_experts_per_tok.value_or(0));
    return E * (1.0 - std::pow(1.0 - k / E, static_cast<double>(batch)));
}

/// Device-to-device copy bandwidth in bytes/s (read + write), best of 5 runs of 4 copies.
double copy_bandwidth(cudaStream_t s) {
    const std::size_t bytes = std::size_t{1} << 30;
    dsv2::device_buffer<unsigned char> a(bytes, s), b(bytes, s);
    a.zero();
    cudaEvent_t start = nullptr, stop = nullptr;
    DSV2_CUDA_CHECK(cudaEventCreate(&start));
    DSV2_CUDA_CHECK(cudaEventCreate(&stop));
    double best = 0.0;
    for (int run = 0; run < 6; ++run) {
        DSV2_CUDA_CHECK(cudaEventRecord(start, s));
        for (int i = 0; i < 4; ++i) DSV2_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice, s));
        DSV2_CUDA_CHECK(cudaEventRecord(stop, s));
        DSV2_CUDA_CHECK(cudaEventSynchronize(stop));
        float ms = 0.0f;
        DSV2_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
        if (run > 0 && ms > 0.0f) best = std::max(best, 2.0 * 4.0 * static_cast<double>(bytes) / (ms * 1e-3));  // run 0 warms up
    }
    DSV2_CUDA_CHECK(cudaEventDestroy(start));
    DSV2_CUDA_CHECK(cudaEventDestroy(stop));
    return best;
}

dsv2::tensor<std::int64_t> random_ids(std::int64_t B, std::int64_t S, std::int64_t vocab, std::mt19937_64& rng) {
    std::uniform_int_distribution<std::int64_t> d(0, vocab - 1);
    dsv2::tensor<std::int64_t> ids({B, S});
    for (auto& v : ids.values()) v = d(rng);
    return ids;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Prefill tokens/s: one forward of `S` tokens (batch 1) into an empty cache; best of 3 after a warm-up.
double prefill_tokens_per_second(const lm_type& lm, std::int64_t S, std::mt19937_64& rng) {
    const auto ids = random_ids(1, S, lm.config().vocab_size, rng);
    auto cache = lm.make_cache(1);
    cache.reserve(S);
    double best = 0.0;
    for (int run = 0; run < 4; ++run) {
        cache.reset();
        const auto t0 = std::chrono::steady_clock::now();
        (void)lm.forward({.input_ids = &ids, .logits_to_keep = std::int64_t{1}}, &cache);  // downloads: synchronised
        const double t = seconds_since(t0);
        if (run > 0) best = std::max(best, static_cast<double>(S) / t);
    }
    return best;
}

/// Decode tokens/s at batch B: `steps` single-token forwards after a `prompt`-token prefill.
double decode_tokens_per_second(const lm_type& lm, std::int64_t B, std::int64_t prompt, std::int64_t steps,
                                std::mt19937_64& rng) {
    const std::int64_t V = lm.config().vocab_size;
    auto cache = lm.make_cache(B);
    cache.reserve(prompt + steps + 2);
    const auto ids = random_ids(B, prompt, V, rng);
    (void)lm.forward({.input_ids = &ids, .logits_to_keep = std::int64_t{1}}, &cache);
    auto step = random_ids(B, 1, V, rng);
    (void)lm.forward({.input_ids = &step, .logits_to_keep = std::int64_t{1}}, &cache);  // warm-up step
    const auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t i = 0; i < steps; ++i) {
        const auto out = lm.forward({.input_ids = &step, .logits_to_keep = std::int64_t{1}}, &cache);  // [B, 1, V]
        for (std::int64_t b = 0; b < B; ++b) {  // greedy next token, as generate() would feed it
            const float* row = out.logits.data() + b * V;
            step(b, 0) = static_cast<std::int64_t>(std::max_element(row, row + V) - row);
        }
    }
    return static_cast<double>(B * steps) / seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) try {
    std::int64_t layers = 0, decode_steps = 32;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--layers") == 0) layers = std::atoll(argv[i + 1]);
        else if (std::strcmp(argv[i], "--decode-steps") == 0) decode_steps = std::atoll(argv[i + 1]);
        else {
            std::fprintf(stderr, "usage: %s [--layers N] [--decode-steps N]\n", argv[0]);
            return 1;
        }
    }
    std::string why;
    if (!dsv2::device_available(&why)) {
        std::printf("SKIPPED: no CUDA device (%s)\n", why.c_str());
        return 77;
    }
    std::printf("device: %s\n", why.c_str());

    dsv2::DeepseekV2Config cfg = dsv2::presets::deepseek_v2_lite();
    if (layers > 0) cfg.num_hidden_layers = layers;
    cfg.validate();

    // shapes on the host (no matrix storage), values made on the device
    auto t0 = std::chrono::steady_clock::now();
    using weights_type = lm_type::model_type::weights_type;
    auto shapes = std::make_shared<const weights_type>(weights_type::allocate(cfg, dsv2::model_head::causal_lm));
    auto runtime = std::make_shared<const lm_type::model_type::runtime_type>(
        cfg, *shapes, dsv2::cuda_random_init{.seed = 11, .storage = dsv2::dtype::bf16,
                                             .stddev = static_cast<float>(cfg.initializer_range)});
    const lm_type lm(cfg, shapes, runtime);
    std::printf("model: DeepSeek-V2-Lite shape, %lld layers, %lld routed experts, random bf16 weights made on the device in %.1f s\n",
                static_cast<long long>(cfg.num_hidden_layers), static_cast<long long>(cfg.n_routed_experts), seconds_since(t0));

    const double bandwidth = copy_bandwidth(runtime->stream());
    std::mt19937_64 rng(5);
    const double prefill = prefill_tokens_per_second(lm, 512, rng);
    const double decode1 = decode_tokens_per_second(lm, 1, 64, decode_steps, rng);
    const double decode16 = decode_tokens_per_second(lm, 16, 64, decode_steps, rng);

    const double bytes1 = weight_bytes_per_step(cfg, expected_experts(cfg, 1));
    const double bytes16 = weight_bytes_per_step(cfg, expected_experts(cfg, 16));
    const double roof1 = bandwidth / bytes1, roof16 = 16.0 * bandwidth / bytes16;

    std::printf("\ndevice copy bandwidth (D2D, read + write): %.0f GB/s\n\n", bandwidth / 1e9);
    std::printf("| measurement            | tokens/s | weight bytes / step | roofline tokens/s | fraction |\n");
    std::printf("|------------------------|----------|---------------------|-------------------|----------|\n");
    std::printf("| decode, batch 1        | %8.1f | %16.2f GB | %17.1f | %7.1f%% |\n", decode1, bytes1 / 1e9, roof1,
                100.0 * decode1 / roof1);
    std::printf("| decode, batch 16       | %8.1f | %16.2f GB | %17.1f | %7.1f%% |\n", decode16, bytes16 / 1e9, roof16,
                100.0 * decode16 / roof16);
    std::printf("| prefill, 512 tokens    | %8.1f |                   - |                 - |        - |\n", prefill);
    std::printf("\nroofline = batch x bandwidth / weight bytes read per step (bf16 matrices; kv_b_proj and the router in fp32;\n"
                "expected distinct routed experts per MoE layer: %.1f at batch 1, %.1f at batch 16)\n",
                expected_experts(cfg, 1), expected_experts(cfg, 16));
    return 0;
} catch (const dsv2::error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
