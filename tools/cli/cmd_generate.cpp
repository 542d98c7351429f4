// dsv2 generate MODEL_DIR (--prompt TEXT | --ids "1,2,3") [--max-new-tokens N] [--min-new-tokens N]
//               [--stop STR]... [--greedy | --sample] [--temperature T] [--top-k K] [--top-p P]
//               [--min-p P] [--seed S] [--repetition-penalty R] [--cache latent|expanded]
//               [--threads N] [--print-ids]
// Streams the continuation as it is produced (text when the model has a text codec, see
// text_io.hpp; ids otherwise), then prints prefill and decode speeds and why generation stopped.
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
#include "text_io.hpp"

namespace dsv2::cli {
namespace {

/// A progress bar on stderr while a checkpoint of 64 MiB or more loads.
load_options progress_bar() {
    load_options o;
    o.progress = [last = -1](std::uint64_t done, std::uint64_t total) mutable {
        if (total < (64u << 20)) return;
        const int pct = static_cast<int>(done * 100 / total);
        if (pct == last) return;
        last = pct;
        const int width = 40, filled = pct * width / 100;
        std::fprintf(stderr, "\rloading [%s%s] %3d%% of %.1f GB", std::string(static_cast<std::size_t>(filled), '#').c_str(),
                     std::string(static_cast<std::size_t>(width - filled), ' ').c_str(), pct, double(total) / 1e9);
        if (pct == 100) std::fprintf(stderr, "\n");
        std::fflush(stderr);
    };
    return o;
}

/// Greedy or sampling, from the flags alone: nullopt when no flag decides (the file, else greedy).
std::optional<bool> sampling_from_flags(const parsed_options& opts) {
    std::optional<float> temperature;
    if (auto t = opts.get("--temperature")) temperature = parse_number<float>(*t, "--temperature");
    const bool greedy = opts.has("--greedy") || temperature == 0.0f;
    std::string sampling_flags;  // the flags that ask for sampling
    for (const char* f : {"--temperature", "--top-k", "--top-p", "--min-p", "--seed"}) {
        if (!opts.has(f) || (std::string_view(f) == "--temperature" && temperature == 0.0f)) continue;
        sampling_flags += (sampling_flags.empty() ? "" : ", ") + std::string(f);
    }
    if (opts.has("--greedy") && opts.has("--sample")) throw usage_error("--greedy and --sample: give one of them");
    const std::string greedy_by = opts.has("--greedy") ? "--greedy" : "--temperature 0";
    if (greedy && opts.has("--sample")) throw usage_error("--sample conflicts with " + greedy_by);
    if (greedy && !sampling_flags.empty())
        throw usage_error(sampling_flags + ": sampling options given with " + greedy_by +
                          " (drop them, or sample with --sample)");
    if (greedy) return false;
    if (opts.has("--sample") || !sampling_flags.empty()) return true;
    return std::nullopt;
}

/// The flags given, over what `gc` holds (the defaults and the file).
void apply_flags(const parsed_options& opts, generation_config& gc) {
    if (auto v = opts.get("--max-new-tokens")) gc.max_new_tokens = parse_number<std::int64_t>(*v, "--max-new-tokens");
    if (auto v = opts.get("--min-new-tokens")) gc.min_new_tokens = parse_number<std::int64_t>(*v, "--min-new-tokens");
    if (auto v = opts.get("--temperature")) gc.temperature = parse_number<float>(*v, "--temperature");
    if (auto v = opts.get("--top-k")) gc.top_k = parse_number<std::int64_t>(*v, "--top-k");
    if (auto v = opts.get("--top-p")) gc.top_p = parse_number<float>(*v, "--top-p");
    if (auto v = opts.get("--min-p")) gc.min_p = parse_number<float>(*v, "--min-p");
    if (auto v = opts.get("--repetition-penalty")) gc.repetition_penalty = parse_number<float>(*v, "--repetition-penalty");
    if (auto v = opts.get("--seed")) gc.seed = parse_number<std::uint64_t>(*v, "--seed");
    if (auto s = sampling_from_flags(opts)) gc.do_sample = *s;
    gc.stop_strings = opts.get_all("--stop");
}

template <class Spec>
int generate_with(const std::filesystem::path& dir, const parsed_options& opts, const tensor<std::int64_t>& ids,
                  const generation_config& gc, const text_codec* codec) {
    const auto lm = DeepseekV2ForCausalLM<Spec>::from_pretrained(dir, progress_bar());
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
        codec ? codec->text_decoders() : text_decoder_factory{});
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
                                     "--top-p", "--min-p", "--repetition-penalty", "--seed", "--cache", "--threads"},
                                    {"--print-ids", "--greedy", "--sample"}, {"--stop"});
    if (opts.positional.size() != 1) throw usage_error(opts.positional.empty() ? "missing MODEL_DIR" : "expected one MODEL_DIR");
    if (opts.has("--prompt") == opts.has("--ids")) throw usage_error("give exactly one of --prompt TEXT and --ids \"1,2,3\"");
    const std::string cache = opts.get("--cache").value_or("latent");
    if (cache != "latent" && cache != "expanded") throw usage_error("--cache: '" + cache + "' is neither latent nor expanded");
    apply_threads(opts);
    generation_config flags_only;
    apply_flags(opts, flags_only);  // usage errors before reading anything

    // everything but the weights: cheap, so that errors come before loading a large checkpoint
    const std::filesystem::path dir(opts.positional[0]);
    const DeepseekV2Config cfg = load_config(dir);
    const auto file = load_generation_config(dir);
    const auto codec = load_text_codec(dir, cfg);
    const std::string no_codec = "this model has no text codec (it is not byte-level, vocab_size " +
                                 std::to_string(cfg.vocab_size) + ", and tokenizer.json is not supported yet)";
    if (!codec && opts.has("--stop")) throw usage_error("--stop needs decoded text: " + no_codec);

    tensor<std::int64_t> ids;
    if (auto prompt = opts.get("--prompt")) {
        if (!codec) throw usage_error("--prompt needs a text codec: " + no_codec + "; pass --ids");
        const auto bos = file && file->bos_token_id ? file->bos_token_id : cfg.bos_token_id;
        auto v = codec->encode(*prompt, bos);
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
    return generate_with<expanded_cache_spec>(dir, opts, ids, gc, codec.get());
}

}  // namespace dsv2::cli
