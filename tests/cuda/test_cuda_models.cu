// The model classes on the CUDA backend (cuda_spec, cuda_expanded_cache_spec) — SKIPPED without a
// device (the shared Catch2 main exits 77):
//  1. the CPU parity test's body on the GPU: every forward case of every fixture
//     (tests/fixtures/manifest.json) — logits, hidden states, attention weights, losses;
//  2. CPU vs GPU on random small configs (both routers, q_lora on/off, dense + MoE layers) from the
//     same host weights;
//  3. incremental decoding with both device cache layouts equals the full forward; cache bytes,
//     growth and misuse as on the CPU.
//
// Bounds. fp32 weights: the fixture parity bounds of tests/support/fixtures.hpp (relative
// Frobenius ≤ 84·FLT_EPSILON ≈ 1e-5, max-abs ≤ 1e-4), the same as the CPU meets against
// transformers: the GPU differs only in the order of fp32 sums (cuBLAS, block reductions).
// bf16 weights: cuBLAS has no bf16×fp32 GEMM, so each GEMM rounds its fp32 activations to bf16
// (unit roundoff u = 2^-8, see backend/cuda/gemm.cuh): one rounding perturbs a product by about
// u/√3 relative (rms of a uniform rounding error, random signs), and a model chains
// g = 5·L + 1 such GEMM stages (q, kv_a, kv_b, o, MLP gate/up + down per layer; the head), whose
// errors add like a random walk: √g·u/√3. The bound is 4× that, in relative Frobenius norm;
// max-abs is not bounded there (a single element may sit on a large value).
#include "cuda_test_support.cuh"

#include <dsv2/models/cuda/model.cuh>

#include "../support/incremental.hpp"

using namespace dsv2_cuda_test;

namespace {

using dsv2_test::case_file;
using dsv2_test::check_incremental;
using dsv2_test::columns;

/// Relative Frobenius bound of a model with bf16 matrices on the device (see the top of the file).
double bf16_model_bound(const dsv2::DeepseekV2Config& cfg) {
    const double stages = 5.0 * static_cast<double>(cfg.num_hidden_layers) + 1.0;
    return 4.0 * std::sqrt(stages) * u_bf16 / std::sqrt(3.0);
}

/// The bounds on the device: fp32 parity, or the bf16 bound (relative Frobenius only) when the
/// matrices are bf16.
dsv2_test::tolerance device_tolerance(bool bf16, const dsv2::DeepseekV2Config& cfg) {
    if (!bf16) return {};
    const double bound = bf16_model_bound(cfg);
    return {.rel_frobenius = bound, .max_abs = std::nullopt, .loss = bound, .why = "bf16 weights on the device"};
}

template <class Model>
dsv2_test::tolerance device_tolerance(const Model& model) {
    return device_tolerance(model.runtime().storage() == dsv2::dtype::bf16, model.config());
}

void require_close(const std::string& what, const dsv2_test::errors& e, bool bf16, const dsv2::DeepseekV2Config& cfg) {
    device_tolerance(bf16, cfg).require(what, e);
}

/// A small random config: MLA with or without query LoRA, a dense first layer, then MoE layers.
dsv2::DeepseekV2Config random_config(const std::string& topk_method, bool q_lora) {
    dsv2::DeepseekV2Config cfg{
        .vocab_size = 300,
        .hidden_size = 64,
        .intermediate_size = 96,
        .num_hidden_layers = 3,
        .num_attention_heads = 4,
        .max_position_embeddings = 2048,
        .first_k_dense_replace = 1,
        .kv_lora_rank = 32,
        .q_lora_rank = q_lora ? std::optional<std::int64_t>(48) : std::nullopt,
        .n_group = 4,
        .n_routed_experts = 8,
        .n_shared_experts = 1,
        .qk_nope_head_dim = 16,
        .qk_rope_head_dim = 8,
        .routed_scaling_factor = 1.5,
        .topk_group = 2,
        .topk_method = topk_method,
        .v_head_dim = 16,
        .num_experts_per_tok = 2,
        .moe_intermediate_size = 32,
    };
    cfg.rope_parameters = {.rope_type = "yarn", .factor = 4.0, .original_max_position_embeddings = 256,
                           .mscale = 0.707, .mscale_all_dim = 0.707};
    return cfg;
}

dsv2::tensor<std::int64_t> random_ids(std::int64_t B, std::int64_t S, std::int64_t vocab, std::mt19937& rng) {
    std::uniform_int_distribution<std::int64_t> d(0, vocab - 1);
    dsv2::tensor<std::int64_t> ids({B, S});
    for (auto& v : ids.values()) v = d(rng);
    return ids;
}

}  // namespace

TEST_CASE("GPU parity with transformers on every fixture", "[cuda][parity]") {
    dsv2_test::check_parity_on_every_fixture<dsv2::cuda_spec>([](const auto& model) { return device_tolerance(model); });
}

TEST_CASE("CPU and GPU agree on random configs", "[cuda][differential]") {
    std::mt19937 rng(2024);
    for (const std::string method : {"greedy", "group_limited_greedy"}) {
        for (const bool q_lora : {false, true}) {
            for (const auto storage : {dsv2::dtype::f32, dsv2::dtype::bf16}) {
                DYNAMIC_SECTION(method << (q_lora ? ", q_lora" : ", q_proj") << ", " << (storage == dsv2::dtype::bf16 ? "bf16" : "f32")) {
                    auto cfg = random_config(method, q_lora);
                    const bool bf16 = storage == dsv2::dtype::bf16;
                    if (bf16) {
                        // bf16 activations on the GPU perturb router logits by ~2^-8: every expert is
                        // chosen (k = E, all groups kept), so no token can switch experts between the
                        // two sides while the routed sum, its weights and the dispatch still run
                        cfg.num_experts_per_tok = cfg.n_routed_experts;
                        cfg.topk_group = cfg.n_group;
                    }
                    const auto cpu_lm = dsv2::DeepseekV2ForCausalLM<>::from_config(cfg, 7, storage);
                    // the same host weights, uploaded once
                    const dsv2::DeepseekV2ForCausalLM<dsv2::cuda_spec> gpu_lm(cfg, cpu_lm.model.shared_weights());
                    REQUIRE(gpu_lm.model.runtime().storage() == storage);

                    const std::int64_t B = 3, S = 11;
                    const auto ids = random_ids(B, S, cfg.vocab_size, rng);
                    auto mask = dsv2::tensor<std::int64_t>({B, S}, 1);
                    for (std::int64_t s = 0; s < 4; ++s) mask(1, s) = 0;  // row 1 left padded
                    const dsv2::forward_args args{.input_ids = &ids, .attention_mask = &mask,
                                                  .output_hidden_states = true, .output_attentions = true};
                    const auto want = cpu_lm.forward(args);
                    const auto got = gpu_lm.forward(args);
                    require_close("logits", dsv2_test::compare_masked(got.logits, want.logits, &mask), bf16, cfg);
                    REQUIRE(got.hidden_states.size() == want.hidden_states.size());
                    for (std::size_t i = 0; i < want.hidden_states.size(); ++i)
                        require_close("hidden_states." + std::to_string(i),
                                      dsv2_test::compare_masked(got.hidden_states[i], want.hidden_states[i], &mask), bf16, cfg);
                    REQUIRE(got.attentions.size() == want.attentions.size());
                    for (std::size_t i = 0; i < want.attentions.size(); ++i)
                        require_close("attentions." + std::to_string(i),
                                      dsv2_test::compare_masked(got.attentions[i], want.attentions[i], nullptr), bf16, cfg);

                    // embeddings in place of ids, and a head on the last position only
                    const auto embeds = got.hidden_states.front();
                    const auto by_embeds = gpu_lm.forward({.inputs_embeds = &embeds, .attention_mask = &mask,
                                                           .logits_to_keep = std::int64_t{1}});
                    const auto last = columns(want.logits, S - 1, S);
                    require_close("logits from inputs_embeds", dsv2_test::compare_masked(by_embeds.logits, last, nullptr), bf16, cfg);

                    // incremental decoding on the GPU against the GPU's own full forward
                    check_incremental(gpu_lm, ids, mask, {5}, device_tolerance(bf16, cfg));
                }
            }
        }
    }
}

TEMPLATE_TEST_CASE("GPU incremental decoding equals the full forward", "[cuda][cache]", dsv2::cuda_spec,
                   dsv2::cuda_expanded_cache_spec) {
    for (const char* variant : {"lite", "v2"}) {
        DYNAMIC_SECTION(variant) {
            const auto dir = dsv2_test::fixture_dir() / variant;
            const auto lm = dsv2::DeepseekV2ForCausalLM<TestType>::from_pretrained(dir);
            const case_file c{dsv2::io::safetensors_file::open(dir / "left_pad.safetensors")};
            const auto ids = c.i64("input_ids");  // batch 3, left padded
            const auto mask = c.i64("attention_mask");
            check_incremental(lm, ids, mask, {ids.dim(1) / 2});  // expanded prefill, then decode
            check_incremental(lm, ids, mask, {3, 5, 2});         // small chunks: absorbed throughout
            const auto long_ids = case_file{dsv2::io::safetensors_file::open(dir / "long.safetensors")}.i64("input_ids");
            const dsv2::tensor<std::int64_t> long_mask(long_ids.shape(), 1);
            // a prefill of ≥ mla_absorbed::expanded_from_new_tokens tokens takes the latent cache's
            // expanded branch when the fixture is long enough; then decode past it
            check_incremental(lm, long_ids, long_mask, {long_ids.dim(1) - 12});
        }
    }
}

TEST_CASE("GPU caches: bytes, growth, crop, reset and misuse as on the CPU", "[cuda][cache]") {
    const auto dir = dsv2_test::fixture_dir() / "v2";
    const auto cpu_latent = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(dir);
    const dsv2::DeepseekV2ForCausalLM<dsv2::cuda_spec> latent_lm(cpu_latent.config(), cpu_latent.model.shared_weights());
    const dsv2::DeepseekV2ForCausalLM<dsv2::cuda_expanded_cache_spec> expanded_lm(cpu_latent.config(),
                                                                                  cpu_latent.model.shared_weights());
    const std::int64_t B = 2, T = 64;
    auto latent = latent_lm.make_cache(B);
    auto expanded = expanded_lm.make_cache(B);
    auto cpu_cache = cpu_latent.make_cache(B);
    CHECK(latent.bytes() == 0);
    CHECK(expanded.bytes() == 0);
    CHECK(latent.bytes_per_token() == cpu_cache.bytes_per_token());
    const auto& cfg = latent_lm.config();
    CHECK(expanded.bytes_per_token() ==
          static_cast<std::size_t>(cfg.num_attention_heads * (cfg.qk_head_dim() + cfg.v_head_dim) * cfg.num_hidden_layers) *
              sizeof(float));

    dsv2::tensor<std::int64_t> ids({B, T}, 5);
    latent.reserve(T);
    expanded.reserve(T);
    latent_lm.forward({.input_ids = &ids}, &latent);
    expanded_lm.forward({.input_ids = &ids}, &expanded);
    CHECK(latent.bytes() == latent.bytes_per_token() * static_cast<std::size_t>(B * T));
    CHECK(expanded.bytes() == expanded.bytes_per_token() * static_cast<std::size_t>(B * T));

    dsv2::tensor<std::int64_t> one({B, 1}, 7);
    latent_lm.forward({.input_ids = &one}, &latent);  // grows past the reservation, keeping the rows
    CHECK(latent.length() == T + 1);
    CHECK(latent.bytes() <= latent.bytes_per_token() * static_cast<std::size_t>(B) * static_cast<std::size_t>(T + T / 2 + 16));

    latent.crop(10);
    CHECK(latent.length() == 10);
    CHECK_THROWS_AS(latent.crop(-1), dsv2::cache_error);
    latent.reset();
    CHECK(latent.length() == 0);

    // misuse: another model's cache, another batch, a stale mask
    const dsv2::DeepseekV2ForCausalLM<dsv2::cuda_spec> other(cpu_latent.config(),
                                                             dsv2::DeepseekV2ForCausalLM<>::from_pretrained(dir).model.shared_weights());
    dsv2::tensor<std::int64_t> ids2({2, 4}, 3);
    CHECK_THROWS_WITH(other.forward({.input_ids = &ids2}, &latent), Catch::Contains("another model"));
    auto cache3 = latent_lm.make_cache(3);
    CHECK_THROWS_WITH(latent_lm.forward({.input_ids = &ids2}, &cache3), Catch::Contains("batch 3") && Catch::Contains("batch 2"));
    latent_lm.forward({.input_ids = &ids2}, &latent);
    latent.crop(2);
    const dsv2::tensor<std::int64_t> stale_mask({2, 5}, 1);
    CHECK_THROWS_AS(latent_lm.forward({.input_ids = &one, .attention_mask = &stale_mask}, &latent), dsv2::cache_error);
    const dsv2::tensor<std::int64_t> fitting_mask({2, 3}, 1);
    CHECK_NOTHROW(latent_lm.forward({.input_ids = &one, .attention_mask = &fitting_mask}, &latent));
    CHECK(latent.length() == 3);
}

TEST_CASE("generate() runs a CUDA model and matches the CPU's greedy tokens", "[cuda][generate]") {
    const auto dir = dsv2_test::fixture_dir() / "lite";
    const auto cpu_lm = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(dir);
    const dsv2::DeepseekV2ForCausalLM<dsv2::cuda_spec> gpu_lm(cpu_lm.config(), cpu_lm.model.shared_weights());
    const case_file c{dsv2::io::safetensors_file::open(dir / "left_pad.safetensors")};
    const auto ids = c.i64("input_ids");
    const auto mask = c.i64("attention_mask");
    const dsv2::generation_config gc{.max_new_tokens = 8, .eos_token_id = std::vector<std::int64_t>{}};
    const auto want = dsv2::generate(cpu_lm, ids, &mask, gc);
    const auto got = dsv2::generate(gpu_lm, ids, &mask, gc);
    // greedy choices agree unless two logits are closer than the fp32 differences: compare the
    // first step (argmax margins of a random tiny model are far larger than 1e-4)
    REQUIRE(got.sequences.shape() == want.sequences.shape());
    const std::int64_t S = ids.dim(1);
    for (std::int64_t b = 0; b < ids.dim(0); ++b) CHECK(got.sequences(b, S) == want.sequences(b, S));
    CHECK(got.cache_bytes > 0);
}
