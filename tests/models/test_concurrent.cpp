// One model, several threads: weights are shared read-only and each forward owns its scratch
// memory and cache, so concurrent forwards give exactly the sequential results. CI runs this file's
// tests under ThreadSanitizer too (ctest -R concurrent).
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include <dsv2/generation/generate.hpp>

#include "support/fixtures.hpp"

TEST_CASE("concurrent forwards and generations on one model", "[concurrent]") {
    const auto lm = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(dsv2_test::fixture_dir() / "v2");
    constexpr int threads = 4;
    std::vector<dsv2::tensor<std::int64_t>> inputs;
    for (int t = 0; t < threads; ++t) {
        dsv2::tensor<std::int64_t> ids({2, 24});
        for (std::int64_t i = 0; i < ids.numel(); ++i) ids.data()[i] = (i * 7 + t * 13) % lm.config().vocab_size;
        inputs.push_back(std::move(ids));
    }
    std::vector<dsv2::tensor<float>> sequential, parallel(threads);
    std::vector<dsv2::tensor<std::int64_t>> seq_gen, par_gen(threads);
    const dsv2::generation_config gc{.max_new_tokens = 6, .eos_token_id = std::vector<std::int64_t>{}};
    for (int t = 0; t < threads; ++t) {
        sequential.push_back(lm.forward({.input_ids = &inputs[static_cast<std::size_t>(t)]}).logits);
        seq_gen.push_back(dsv2::generate(lm, inputs[static_cast<std::size_t>(t)], nullptr, gc).sequences);
    }
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            const auto i = static_cast<std::size_t>(t);
            parallel[i] = lm.forward({.input_ids = &inputs[i]}).logits;
            par_gen[i] = dsv2::generate(lm, inputs[i], nullptr, gc).sequences;
        });
    for (auto& th : pool) th.join();
    for (std::size_t t = 0; t < threads; ++t) {
        CHECK(std::equal(parallel[t].values().begin(), parallel[t].values().end(), sequential[t].values().begin()));
        CHECK(std::equal(par_gen[t].values().begin(), par_gen[t].values().end(), seq_gen[t].values().begin()));
    }
}
