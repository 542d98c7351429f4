// libFuzzer target: bytes -> JSON -> config_from_json -> validate -> to_json round trip -> counts.
// Only dsv2::error may escape config_from_json/validate; anything else (another exception type, a
// crash, a sanitizer report, a round trip that changes the config) is a bug.
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
//       -Iinclude tests/fuzz/fuzz_config_json.cpp -o build-fuzz/fuzz_config_json
//   build-fuzz/fuzz_config_json -max_total_time=60 tests/fuzz/corpus/config_json
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include <dsv2/io/config_json.hpp>
#include <dsv2/models/parameter_count.hpp>

namespace {

/// Whether every double of `c` is finite (a JSON number too large for a double reads as inf, and
/// to_json writes a non-finite double as null, so only finite configs must round-trip exactly).
bool all_finite(const dsv2::DeepseekV2Config& c) {
    const auto& r = c.rope_parameters;
    for (double v : {c.initializer_range, c.rms_norm_eps, c.attention_dropout, c.routed_scaling_factor,
                     c.aux_loss_alpha, r.rope_theta})
        if (!std::isfinite(v)) return false;
    for (const auto& v : {r.factor, r.beta_fast, r.beta_slow, r.mscale, r.mscale_all_dim, r.attention_factor})
        if (v && !std::isfinite(*v)) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The parse step: without exceptions, a malformed text is a discarded value.
    const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return 0;

    dsv2::DeepseekV2Config c;
    try {
        c = dsv2::config_from_json(j);
    } catch (const dsv2::error&) {
        return 0;
    }

    // Whatever was read must survive a round trip in both spellings, valid or not, through text.
    if (all_finite(c)) {
        for (const auto spelling : {dsv2::config_spelling::transformers_v5, dsv2::config_spelling::hub}) {
            const std::string text = dsv2::to_json(c, spelling).dump();
            if (!(dsv2::config_from_json(nlohmann::json::parse(text)) == c)) std::abort();
        }
    }

    try {
        c.validate();
    } catch (const dsv2::error&) {
        return 0;
    }
    // A valid config has counts (or a clean overflow error) and a finite softmax scale.
    try {
        (void)dsv2::count_parameters(c);
        (void)dsv2::kv_cache_bytes_per_token_latent(c, 2);
        (void)dsv2::kv_cache_bytes_per_token_expanded(c, 4);
    } catch (const dsv2::error&) {
    }
    if (!std::isfinite(c.softmax_scale())) std::abort();
    return 0;
}
