// Parity with transformers: every forward case of every fixture variant (tests/fixtures/manifest.json,
// made by tools/fixtures/make_fixtures.py) — logits, every hidden state at real positions,
// attention weights where recorded, and losses.
#include <catch2/catch.hpp>

#include <dsv2/model.hpp>

#include "support/fixtures.hpp"

namespace {

using dsv2_test::case_file;

/// The mask rows of the kept logits positions.
dsv2::tensor<std::int64_t> kept_mask(const dsv2::tensor<std::int64_t>& mask, std::int64_t kept) {
    const std::int64_t B = mask.dim(0), S = mask.dim(1);
    dsv2::tensor<std::int64_t> m({B, kept});
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t k = 0; k < kept; ++k) m(b, k) = mask(b, S - kept + k);
    return m;
}

std::optional<dsv2::labels_t> read_labels(const case_file& c) {
    if (!c.has("labels")) return std::nullopt;
    const auto type = c.file.view("labels").type;
    if (type == dsv2::dtype::i64 || type == dsv2::dtype::i32) return dsv2::labels_t{c.i64("labels")};
    return dsv2::labels_t{c.f32("labels")};
}

template <class Output>
void check_hidden_and_attentions(const case_file& c, const Output& out, const dsv2::tensor<std::int64_t>& mask) {
    std::size_t n_hidden = 0;
    while (c.has("hidden_states." + std::to_string(n_hidden))) ++n_hidden;
    REQUIRE(out.hidden_states.size() == n_hidden);
    for (std::size_t i = 0; i < n_hidden; ++i)
        dsv2_test::require_parity("hidden_states." + std::to_string(i),
                                  dsv2_test::compare_masked(out.hidden_states[i], c.f32("hidden_states." + std::to_string(i)), &mask));
    for (std::size_t i = 0; c.has("attentions." + std::to_string(i)); ++i) {
        REQUIRE(i < out.attentions.size());
        const auto want = c.f32("attentions." + std::to_string(i));  // [B, n_h, S, S]
        const std::int64_t B = want.dim(0), nh = want.dim(1), S = want.dim(2);
        dsv2::tensor<std::int64_t> rows({B, nh, S});  // compare rows of real queries
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t h = 0; h < nh; ++h)
                for (std::int64_t s = 0; s < S; ++s) rows(b, h, s) = mask(b, s);
        dsv2_test::require_parity("attentions." + std::to_string(i), dsv2_test::compare_masked(out.attentions[i], want, &rows));
    }
}

void check_loss(const case_file& c, const std::optional<float>& loss) {
    REQUIRE(loss.has_value());
    const double want = c.f32("loss").data()[0];
    INFO("loss " << *loss << " vs transformers " << want);
    CHECK(std::abs(*loss - want) <= dsv2_test::loss_rel * std::abs(want));
}

}  // namespace

TEST_CASE("parity with transformers on every fixture", "[parity]") {
    const auto manifest = dsv2_test::manifest();
    REQUIRE(manifest["variants"].size() >= 11);
    for (const auto& variant : manifest["variants"]) {
        const std::string name = variant["name"];
        const auto dir = dsv2_test::fixture_dir() / variant["dir"].get<std::string>();
        const bool lm = variant["head"] == "causal-lm";
        DYNAMIC_SECTION("variant " << name) {
            std::optional<dsv2::DeepseekV2ForCausalLM<>> causal;
            std::optional<dsv2::DeepseekV2ForSequenceClassification<>> classifier;
            if (lm)
                causal.emplace(dsv2::DeepseekV2ForCausalLM<>::from_pretrained(dir));
            else
                classifier.emplace(dsv2::DeepseekV2ForSequenceClassification<>::from_pretrained(dir));
            for (const auto& cs : variant["cases"]) {
                if (cs["kind"] != "forward") continue;
                const std::string case_name = cs["name"];
                INFO("variant " << name << ", case " << case_name);
                const case_file c{dsv2::io::safetensors_file::open(dir / cs["file"].get<std::string>())};
                const auto ids = c.i64("input_ids");
                const auto mask = c.i64("attention_mask");
                std::optional<dsv2::tensor<std::int64_t>> positions;
                if (c.has("position_ids")) positions = c.i64("position_ids");
                const auto labels = read_labels(c);
                dsv2::forward_args args{.input_ids = &ids,
                                        .attention_mask = &mask,
                                        .position_ids = positions ? &*positions : nullptr,
                                        .output_hidden_states = true,
                                        .output_attentions = c.has("attentions.0"),
                                        .labels = labels ? &*labels : nullptr};
                const auto want_logits = c.f32("logits");
                if (lm) {
                    const std::int64_t keep = cs.value("logits_to_keep", std::int64_t{0});
                    args.logits_to_keep = keep;
                    const auto out = causal->forward(args);
                    const auto m = keep > 0 ? kept_mask(mask, keep) : mask;
                    dsv2_test::require_parity("logits", dsv2_test::compare_masked(out.logits, want_logits, &m));
                    check_hidden_and_attentions(c, out, mask);
                    if (cs.value("has_loss", false)) check_loss(c, out.loss);
                } else {
                    const auto out = classifier->forward(args);
                    dsv2_test::require_parity("logits", dsv2_test::compare_masked(out.logits, want_logits, nullptr));
                    check_hidden_and_attentions(c, out, mask);
                    if (cs.value("has_loss", false)) check_loss(c, out.loss);
                }
            }
        }
    }
}
