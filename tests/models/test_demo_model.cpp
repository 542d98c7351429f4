// The demo model (examples/models/shakespeare, trained by tools/demo/train_demo.py): dsv2
// reproduces transformers' held-out loss within 1e-4 relative, and transformers' greedy generations
// with both cache layouts.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include <dsv2/model.hpp>

namespace {
const std::filesystem::path demo_dir = std::filesystem::path(DSV2_SOURCE_DIR) / "examples" / "models" / "shakespeare";

nlohmann::json read_json(const std::string& name) {
    std::ifstream f(demo_dir / name);
    REQUIRE(f.good());
    return nlohmann::json::parse(f);
}
}  // namespace

TEST_CASE("demo model: held-out loss equals transformers' within 1e-4 relative", "[demo]") {
    const auto heldout = read_json("heldout.json");
    const auto lm = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(demo_dir);
    const auto ids_v = heldout["input_ids"].get<std::vector<std::int64_t>>();
    const dsv2::tensor<std::int64_t> ids({1, static_cast<std::int64_t>(ids_v.size())}, ids_v);
    const dsv2::labels_t labels = ids;
    const auto out = lm.forward({.input_ids = &ids, .labels = &labels});
    const double want = heldout["loss"].get<double>();
    INFO("dsv2 " << *out.loss << " vs transformers " << want);
    CHECK(std::abs(*out.loss - want) <= 1e-4 * want);
    CHECK(want < 2.0);  // the model learned something: nats per byte, ln 256 = 5.5 for chance
}

TEMPLATE_TEST_CASE("demo model: greedy generation equals transformers", "[demo]", dsv2::default_spec, dsv2::expanded_cache_spec) {
    const auto gen = read_json("generate.json");
    const auto lm = dsv2::DeepseekV2ForCausalLM<TestType>::from_pretrained(demo_dir);
    const dsv2::byte_tokenizer tok;
    for (const auto& sample : gen["samples"]) {
        const auto prompt = sample["prompt"].get<std::string>();
        const auto ids_v = tok.encode(prompt);
        REQUIRE(ids_v == sample["input_ids"].get<std::vector<std::int64_t>>());
        const dsv2::tensor<std::int64_t> ids({1, static_cast<std::int64_t>(ids_v.size())}, ids_v);
        const auto out = dsv2::generate(lm, ids, nullptr, {.max_new_tokens = gen["max_new_tokens"].get<std::int64_t>()});
        const auto want = sample["output_ids"].get<std::vector<std::int64_t>>();
        const std::vector<std::int64_t> got(out.sequences.values().begin(), out.sequences.values().end());
        INFO("prompt " << prompt);
        CHECK(got == want);
    }
}
