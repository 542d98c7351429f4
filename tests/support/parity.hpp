// The parity test's body, shared by every backend: every forward case of every fixture variant
// (tests/fixtures/manifest.json, made by tools/fixtures/make_fixtures.py) — logits, every hidden
// state at real positions, attention weights where recorded, and losses — for the model classes of
// one spec. tests/models/test_parity.cpp runs it on the CPU, tests/cuda/test_cuda_models.cu on
// the GPU; each says how close its backend must come (a `tolerance` per model).
#pragma once

#include <cmath>
#include <optional>
#include <string>

#include "fixtures.hpp"

namespace dsv2_test {

/// How close a result must be to transformers': relative Frobenius error, optionally max-abs error,
/// and the relative error of a loss. The defaults are the fp32 parity bounds of fixtures.hpp.
struct tolerance {
    double rel_frobenius = parity_rel_frobenius;
    std::optional<double> max_abs = parity_max_abs;  // nullopt: not bounded
    double loss = loss_rel;
    std::string why = "fp32 parity";

    void require(const std::string& what, const errors& e) const {
        INFO(what << " (" << why << "): rel Frobenius " << e.rel_frobenius << " (bound " << rel_frobenius
                  << "), max abs " << e.max_abs << " over " << e.compared << " values");
        CHECK(e.compared > 0);
        CHECK(e.rel_frobenius <= rel_frobenius);
        if (max_abs) CHECK(e.max_abs <= *max_abs);
    }
};

namespace parity_detail {

/// The mask rows of the kept logits positions.
inline dsv2::tensor<std::int64_t> kept_mask(const dsv2::tensor<std::int64_t>& mask, std::int64_t kept) {
    const std::int64_t B = mask.dim(0), S = mask.dim(1);
    dsv2::tensor<std::int64_t> m({B, kept});
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t k = 0; k < kept; ++k) m(b, k) = mask(b, S - kept + k);
    return m;
}

inline std::optional<dsv2::labels_t> read_labels(const case_file& c) {
    if (!c.has("labels")) return std::nullopt;
    const auto type = c.file.view("labels").type;
    if (type == dsv2::dtype::i64 || type == dsv2::dtype::i32) return dsv2::labels_t{c.i64("labels")};
    return dsv2::labels_t{c.f32("labels")};
}

template <class Output>
void check_hidden_and_attentions(const case_file& c, const Output& out, const dsv2::tensor<std::int64_t>& mask,
                                 const tolerance& tol) {
    std::size_t n_hidden = 0;
    while (c.has("hidden_states." + std::to_string(n_hidden))) ++n_hidden;
    REQUIRE(out.hidden_states.size() == n_hidden);
    for (std::size_t i = 0; i < n_hidden; ++i)
        tol.require("hidden_states." + std::to_string(i),
                    compare_masked(out.hidden_states[i], c.f32("hidden_states." + std::to_string(i)), &mask));
    for (std::size_t i = 0; c.has("attentions." + std::to_string(i)); ++i) {
        REQUIRE(i < out.attentions.size());
        const auto want = c.f32("attentions." + std::to_string(i));  // [B, n_h, S, S]
        const std::int64_t B = want.dim(0), nh = want.dim(1), S = want.dim(2);
        dsv2::tensor<std::int64_t> rows({B, nh, S});  // compare rows of real queries
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t h = 0; h < nh; ++h)
                for (std::int64_t s = 0; s < S; ++s) rows(b, h, s) = mask(b, s);
        tol.require("attentions." + std::to_string(i), compare_masked(out.attentions[i], want, &rows));
    }
}

inline void check_loss(const case_file& c, const std::optional<float>& loss, const tolerance& tol) {
    REQUIRE(loss.has_value());
    const double want = c.f32("loss").data()[0];
    INFO("loss " << *loss << " vs transformers " << want << ", relative bound " << tol.loss << " (" << tol.why << ")");
    CHECK(std::abs(*loss - want) <= tol.loss * std::abs(want));
}

}  // namespace parity_detail

/// Every forward case of every fixture with DeepseekV2ForCausalLM<Spec> /
/// DeepseekV2ForSequenceClassification<Spec>; tolerance_of(decoder model) gives the bounds.
template <class Spec, class ToleranceOf>
void check_parity_on_every_fixture(ToleranceOf&& tolerance_of) {
    using namespace parity_detail;
    const auto all = manifest();
    REQUIRE(all["variants"].size() >= 11);
    for (const auto& variant : all["variants"]) {
        const std::string name = variant["name"];
        const auto dir = fixture_dir() / variant["dir"].get<std::string>();
        const bool lm = variant["head"] == "causal-lm";
        DYNAMIC_SECTION("variant " << name) {
            std::optional<dsv2::DeepseekV2ForCausalLM<Spec>> causal;
            std::optional<dsv2::DeepseekV2ForSequenceClassification<Spec>> classifier;
            if (lm)
                causal.emplace(dsv2::DeepseekV2ForCausalLM<Spec>::from_pretrained(dir));
            else
                classifier.emplace(dsv2::DeepseekV2ForSequenceClassification<Spec>::from_pretrained(dir));
            const tolerance tol = tolerance_of(lm ? causal->model : classifier->model);
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
                    tol.require("logits", compare_masked(out.logits, want_logits, &m));
                    check_hidden_and_attentions(c, out, mask, tol);
                    if (cs.value("has_loss", false)) check_loss(c, out.loss, tol);
                } else {
                    const auto out = classifier->forward(args);
                    tol.require("logits", compare_masked(out.logits, want_logits, nullptr));
                    check_hidden_and_attentions(c, out, mask, tol);
                    if (cs.value("has_loss", false)) check_loss(c, out.loss, tol);
                }
            }
        }
    }
}

}  // namespace dsv2_test
