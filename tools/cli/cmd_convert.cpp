// dsv2 convert MODEL OUT.gguf [--type bf16|f32|q8_0|q4_k_m]
//
// Writes a Hugging Face checkpoint (or a GGUF file, re-typed) as a deepseek2 GGUF file that
// llama.cpp and dsv2 load: llama.cpp's tensor layout (fused experts, split attn_k_b/attn_v_b) and
// file types; q4_k_m mixes Q4_K / Q6_K / fallbacks as llama.cpp's Q4_K_M does (models/gguf_export.hpp,
// docs/quantization.md). The weights are mapped, and each tensor is quantised and written in turn,
// so memory stays near one tensor beyond the mapped checkpoint. The output appears complete or
// not at all. The tokenizer: from a checkpoint directory, the tokenizer.ggml.* keys llama.cpp's
// converter writes for its tokenizer.json / tokenizer_config.json (io/gguf_vocab.hpp; byte-level
// BPE with a pre-tokenizer dsv2 can name, else a warning and tokenizer.ggml.model "none"); from a
// GGUF file, its tokenizer keys, copied.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include <dsv2/io/gguf.hpp>
#include <dsv2/io/gguf_vocab.hpp>
#include <dsv2/model.hpp>
#include <dsv2/models/gguf_export.hpp>

#include "cli.hpp"
#include "generation_flags.hpp"
#include "options.hpp"

namespace dsv2::cli {

int run_convert(args_t args) {
    const auto opts = parse_options(args, {"--type", "--threads"}, {});
    if (opts.positional.size() != 2)
        throw usage_error(opts.positional.size() < 2 ? "expected MODEL and OUT.gguf" : "expected only MODEL and OUT.gguf");
    const std::string type_text = opts.get("--type").value_or("bf16");
    const auto type = parse_gguf_file_type(type_text);
    if (!type) throw usage_error("--type: '" + type_text + "' is none of bf16, f32, q8_0, q4_k_m");
    apply_threads(opts);
    const std::filesystem::path in(opts.positional[0]), out(opts.positional[1]);
    if (!is_gguf_path(out)) throw usage_error("OUT: '" + out.string() + "' must end in .gguf");
    std::error_code ec;
    if (std::filesystem::equivalent(in, out, ec))
        throw usage_error("OUT: '" + out.string() + "' is the input file; write to another path");

    // the tokenizer first: its errors come before loading the weights
    gguf_export_options eo;
    eo.type = *type;
    std::optional<io::gguf_file> source;
    if (is_gguf_path(in)) {
        source = io::gguf_file::open(in);
        eo.extra_metadata = [&source](io::gguf_writer& w) {
            for (const auto& [key, value] : source->metadata())
                if (key.starts_with("tokenizer.")) w.set(key, value);
        };
    } else {
        auto vocab = io::gguf_vocab_from_hf(in, load_model_config(in).vocab_size);
        if (vocab.vocab) eo.vocab = std::move(vocab.vocab);
        else if (!vocab.not_written.empty())
            std::cerr << "warning: tokenizer not written (tokenizer.ggml.model \"none\": llama.cpp and dsv2 run the file on "
                         "token ids): " << vocab.not_written << "\n";
    }

    const auto start = std::chrono::steady_clock::now();
    load_options lo = progress_bar();
    lo.populate = false;  // each tensor is read once, in order
    const auto lm = DeepseekV2ForCausalLM<>::from_pretrained(in, lo);
    save_gguf(out, lm.model.weights(), lm.config(), eo);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("wrote %s (%s, %.2f GB) in %.1f s\n", out.string().c_str(), type_text.c_str(),
                static_cast<double>(std::filesystem::file_size(out)) / 1e9, seconds);
    return 0;
}

}  // namespace dsv2::cli
