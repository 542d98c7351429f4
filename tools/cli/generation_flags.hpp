// What generate and chat share: the progress bar while a checkpoint loads, and the generation flags
// over generation_config.json (see cmd_generate.cpp for the priorities).
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include <dsv2/generation/generation_config.hpp>
#include <dsv2/models/pretrained.hpp>

#include "cli.hpp"
#include "options.hpp"

namespace dsv2::cli {

/// A progress bar on stderr while a checkpoint of 64 MiB or more loads.
inline load_options progress_bar() {
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

/// The load options of generate and chat: the progress bar, and --quantize q8_0|q4_k (quantise a
/// safetensors checkpoint's matrices at load; GGUF files keep their own types).
inline load_options model_load_options(const parsed_options& opts) {
    load_options o = progress_bar();
    if (auto q = opts.get("--quantize")) {
        const auto t = ggml_type_from_name(*q);
        if (!t || (*t != ggml_type::q8_0 && *t != ggml_type::q4_k && *t != ggml_type::q6_k))
            throw usage_error("--quantize: '" + std::string(*q) + "' is none of q8_0, q4_k, q6_k");
        o.quantize = *t;
    }
    return o;
}

/// Greedy or sampling, from the flags alone: nullopt when no flag decides (the file, else greedy).
inline std::optional<bool> sampling_from_flags(const parsed_options& opts) {
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
inline void apply_flags(const parsed_options& opts, generation_config& gc) {
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

}  // namespace dsv2::cli
