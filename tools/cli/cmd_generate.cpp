// dsv2 generate MODEL_DIR (--prompt TEXT | --ids "1,2,3") [--max-new-tokens N] [--min-new-tokens N]
//               [--stop STR]... [--greedy | --sample] [--temperature T] [--top-k K] [--top-p P]
//               [--min-p P] [--seed S] [--repetition-penalty R] [--cache latent|expanded]
//               [--threads N] [--print-ids]
// Streams the continuation as it is produced (text when the model has a text codec — tokenizer.json
// or byte-level, see text_io.hpp; ids otherwise), then prints prefill and decode speeds and why generation stopped.
//
// Settings, lowest to highest priority: the CLI's defaults (greedy, 64 new tokens), then
// MODEL_DIR/generation_config.json when present (do_sample, temperature, top_p, eos ids, ...), then
// the flags given. Sampling is chosen by --sample, or by any sampling flag (--temperature T > 0,
// --top-k, --top-p, --min-p, --seed); --greedy or --temperature 0 force greedy decoding, and a
// sampling flag given with either is a usage error (nothing is silently ignored).
#include <cstdio>
#include <iostream>
#include <unistd.h>

#include <dsv2/io/generation_config_json.hpp>
#include <dsv2/model.hpp>

#include "cli.hpp"
#include "options.hpp"
#include "generation_flags.hpp"
#include "text_io.hpp"

namespace dsv2::cli {
namespace {

template <class Spec>
int generate_with(const std::filesystem::path& dir, const parsed_options& opts, const tensor<std::int64_t>& ids,
                  const generation_config& gc, const text_codec* codec) {
    const auto lm = DeepseekV2ForCausalLM<Spec>::from_pretrained(dir, model_load_options(opts));
    std::vector<std::int64_t> produced;
    const auto out = generate(
        lm, ids, nullptr, gc,
        [&](const generation_step& st) {
            const std::int64_t t = st.tokens[0];
            produced.push_back(t);
            if (codec) std::cout << st.text[0];
            else std::cout << (produced.size() > 1 ? " " : "") << t;
            std::cout.flush();
        },
        codec ? codec->text_decoders(/*skip_special_tokens=*/true) : text_decoder_factory{});
    std::cout << "\n";
    if (opts.has("--print-ids")) {
        for (std::size_t i = 0; i < produced.size(); ++i) std::cout << (i ? " " : "") << produced[i];
        std::cout << "\n";
    }
    const std::int64_t decoded = out.new_tokens - 1;
    // tools/compare_pytorch parses this line: keep its form
    std::printf("[prefill %lld tokens, %.1f tok/s | decode %lld tokens, %.1f tok/s | %s cache %.1f KiB]\n",
                static_cast<long long>(out.prompt_tokens), out.prefill_seconds > 0 ? double(out.prompt_tokens) / out.prefill_seconds : 0.0,
                static_cast<long long>(decoded), out.decode_seconds > 0 ? double(decoded) / out.decode_seconds : 0.0,
                spec_cache_t<Spec>::name, double(out.cache_bytes) / 1024.0);
    std::printf("[%s, stopped by %s]\n", gc.greedy() ? "greedy" : "sampling", to_string(out.finish_reasons[0]));
    return 0;
}

}  // namespace

int run_generate(args_t args) {
    const auto opts = parse_options(args,
                                    {"--prompt", "--ids", "--max-new-tokens", "--min-new-tokens", "--temperature", "--top-k",
                                     "--top-p", "--min-p", "--repetition-penalty", "--seed", "--cache", "--threads", "--quantize"},
                                    {"--print-ids", "--greedy", "--sample"}, {"--stop"});
    if (opts.positional.size() != 1) throw usage_error(opts.positional.empty() ? "missing MODEL_DIR" : "expected one MODEL_DIR");
    if (opts.has("--prompt") == opts.has("--ids")) throw usage_error("give exactly one of --prompt TEXT and --ids \"1,2,3\"");
    const std::string cache = opts.get("--cache").value_or("latent");
    if (cache != "latent" && cache != "latent-bf16" && cache != "expanded")
        throw usage_error("--cache: '" + cache + "' is none of latent, latent-bf16, expanded");
    apply_threads(opts);
    (void)model_load_options(opts);  // --quantize errors before reading anything
    generation_config flags_only;
    apply_flags(opts, flags_only);  // usage errors before reading anything

    // everything but the weights: cheap, so that errors come before loading a large checkpoint
    const std::filesystem::path dir(opts.positional[0]);
    const DeepseekV2Config cfg = load_model_config(dir);
    // a GGUF file has no side files (generation_config.json, tokenizer.json): its own metadata only
    const auto file = is_gguf_path(dir) ? std::nullopt : load_generation_config(dir);
    std::string no_codec;
    const auto codec = load_text_codec(dir, cfg, &no_codec);
    if (!codec && opts.has("--stop")) throw usage_error("--stop needs decoded text: " + no_codec);

    tensor<std::int64_t> ids;
    if (auto prompt = opts.get("--prompt")) {
        if (!codec) throw usage_error("--prompt needs a text codec: " + no_codec + "; pass --ids");
        // HF tokenizers' encode (special tokens as the post-processor adds them), then the BOS
        // rule of text_io.hpp's prompt_bos (docs/text.md)
        auto v = prepend_bos(codec->encode(*prompt, true), prompt_bos(*codec, load_tokenizer_config(dir), file, cfg));
        const auto n = static_cast<std::int64_t>(v.size());
        ids = tensor<std::int64_t>({1, n}, std::move(v));
    } else {
        ids = parse_matrix(*opts.get("--ids"), "--ids");
        if (ids.dim(0) != 1) throw usage_error("--ids: give one prompt (one row)");
    }

    generation_config gc;
    gc.max_new_tokens = 64;
    if (file) file->apply_to(gc, ids.dim(1));
    apply_flags(opts, gc);
    gc.validate();
    if (auto prompt = opts.get("--prompt")) std::cout << *prompt;
    std::cout.flush();
    if (cache == "latent") return generate_with<default_spec>(dir, opts, ids, gc, codec.get());
    if (cache == "latent-bf16") return generate_with<latent_bf16_cache_spec>(dir, opts, ids, gc, codec.get());
    return generate_with<expanded_cache_spec>(dir, opts, ids, gc, codec.get());
}

}  // namespace dsv2::cli
