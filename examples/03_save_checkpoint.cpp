// 03 — Load a checkpoint and save it again with dsv2's writer.
//
//     03_save_checkpoint MODEL_DIR OUT_DIR [f32|bf16]
//
// Converts any layout dsv2 reads (sharded, fused expert names, F16/BF16/F32) into one
// model.safetensors with transformers' per-expert names and a transformers-v5 config.json, which
// transformers' from_pretrained loads (scripts/verify-save-with-transformers checks that it
// reproduces the original logits).
#include <cstdio>
#include <string>

#include <dsv2/model.hpp>

int main(int argc, char** argv) try {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s MODEL_DIR OUT_DIR [f32|bf16]\n", argv[0]);
        return 2;
    }
    const std::string dtype = argc > 3 ? argv[3] : "f32";
    if (dtype != "f32" && dtype != "bf16") {
        std::fprintf(stderr, "error: dtype must be f32 or bf16, got '%s'\n", dtype.c_str());
        return 2;
    }
    const auto lm = dsv2::DeepseekV2ForCausalLM<>::from_pretrained(argv[1]);
    lm.save_pretrained(argv[2], dtype == "bf16" ? dsv2::save_dtype::bf16 : dsv2::save_dtype::f32);
    std::printf("saved %s -> %s (%s)\n", argv[1], argv[2], dtype.c_str());
    return 0;
} catch (const dsv2::error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
