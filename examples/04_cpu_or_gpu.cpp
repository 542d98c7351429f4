// 04 — One source for the CPU or the GPU: compiled by g++ it runs on the CPU, compiled by nvcc
// (the `cuda` preset builds it as 04_cpu_or_gpu_cuda) on the GPU, with the same API. The only
// difference is dsv2::native_spec (dsv2/native.hpp): default_spec, or cuda_spec under nvcc.
//
// Loads the demo model (examples/models/shakespeare, or the directory given), continues a prompt
// greedily, and prints the text and the speed. Exits 77 (SKIPPED) when the backend cannot run here
// (a CUDA build on a machine without a GPU).
#include <cstdio>
#include <string>

#include <dsv2/native.hpp>

int main(int argc, char** argv) try {
    std::string why;
    if (!dsv2::native_backend_available(&why)) {
        std::printf("SKIPPED: the %s backend cannot run here (%s)\n", dsv2::native_backend_name, why.c_str());
        return 77;
    }
    const std::string dir = argc > 1 ? argv[1] : DSV2_EXAMPLE_DEMO_MODEL_DIR;
    const auto lm = dsv2::DeepseekV2ForCausalLM<dsv2::native_spec>::from_pretrained(dir);

    const dsv2::byte_tokenizer tok;
    const auto prompt = tok.encode("ROMEO:\n");
    const dsv2::tensor<std::int64_t> ids({1, static_cast<std::int64_t>(prompt.size())}, prompt);
    const auto out = dsv2::generate(lm, ids, nullptr, {.max_new_tokens = 48, .eos_token_id = std::vector<std::int64_t>{}});

    std::vector<std::int64_t> text(out.sequences.data(), out.sequences.data() + out.sequences.numel());
    std::printf("backend %s (%s)\n%s\n", dsv2::native_backend_name, why.c_str(), tok.decode(text).c_str());
    std::printf("%lld new tokens, decode %.1f tokens/s\n", static_cast<long long>(out.new_tokens),
                out.decode_seconds > 0 ? static_cast<double>(out.new_tokens - 1) / out.decode_seconds : 0.0);
    return 0;
} catch (const dsv2::error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
