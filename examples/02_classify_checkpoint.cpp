// 02 — Load a sequence-classification checkpoint directory and classify a batch.
//
//     02_classify_checkpoint [MODEL_DIR]
//
// MODEL_DIR is a Hugging Face directory (config.json + safetensors) of a
// DeepseekV2ForSequenceClassification; by default the 3-label test fixture.
#include <cstdio>
#include <string>

#include <dsv2/model.hpp>

int main(int argc, char** argv) try {
    const std::string dir = argc > 1 ? argv[1] : DSV2_EXAMPLE_CLASSIFIER_DIR;
    const auto model = dsv2::DeepseekV2ForSequenceClassification<>::from_pretrained(dir);
    const auto& cfg = model.config();
    const std::int64_t pad = cfg.pad_token_id.value_or(0);

    // Three sequences of different lengths, right-padded with pad_token_id.
    auto ids = dsv2::tensor<std::int64_t>::rows({{5, 17, 42, 8, 99, 3},
                                                 {7, 7, 21, pad, pad, pad},
                                                 {64, 1, 2, 3, 4, pad}});
    auto mask = dsv2::tensor<std::int64_t>::rows({{1, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0}, {1, 1, 1, 1, 1, 0}});
    for (auto& id : ids.values()) id %= cfg.vocab_size;

    const auto out = model.forward({.input_ids = &ids, .attention_mask = &mask});
    std::printf("%s: %lld labels\n", dir.c_str(), static_cast<long long>(cfg.num_labels));
    for (std::int64_t b = 0; b < out.logits.dim(0); ++b) {
        std::int64_t best = 0;
        std::printf("row %lld logits", static_cast<long long>(b));
        for (std::int64_t c = 0; c < cfg.num_labels; ++c) {
            std::printf(" %+.4f", static_cast<double>(out.logits(b, c)));
            if (out.logits(b, c) > out.logits(b, best)) best = c;
        }
        const auto label = cfg.id2label.count(best) ? cfg.id2label.at(best) : "LABEL_" + std::to_string(best);
        std::printf("  -> %s\n", label.c_str());
    }
    return 0;
} catch (const dsv2::error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
