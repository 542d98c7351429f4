// dsv2 generate MODEL_DIR (--prompt TEXT | --ids "1,2,3") [--max-new-tokens N] [--temperature T]
//               [--top-k K] [--top-p P] [--min-p P] [--repetition-penalty R] [--seed S]
//               [--cache latent|expanded] [--print-ids]
// Streams the continuation as it is produced (text for byte-level models, ids otherwise), then
// prints prefill and decode speeds. --temperature 0 is greedy.
#include <cstdio>
#include <iostream>
#include <unistd.h>

#include <dsv2/model.hpp>

#include "cli.hpp"
#include "options.hpp"

namespace dsv2::cli {
namespace {

/// A model trained on raw bytes: ids 0..255 are bytes, bos/eos follow (the demo model's vocabulary).
bool is_byte_level(const DeepseekV2Config& cfg) {
    return cfg.vocab_size >= 258 && cfg.vocab_size <= 264 && cfg.bos_token_id == 256;
}

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

template <class Spec>
int generate_with(const std::filesystem::path& dir, const parsed_options& opts, generation_config gc) {
    const auto lm = DeepseekV2ForCausalLM<Spec>::from_pretrained(dir, progress_bar());
    const auto& cfg = lm.config();
    const bool bytes = is_byte_level(cfg);
    byte_tokenizer tok;
    if (bytes) {
        tok.bos_id = cfg.bos_token_id.value_or(256);
        tok.eos_id = cfg.eos_token_id.empty() ? 257 : cfg.eos_token_id.front();
        tok.pad_id = cfg.pad_token_id.value_or(258);
    }
    tensor<std::int64_t> ids;
    if (auto prompt = opts.get("--prompt")) {
        if (!bytes) throw usage_error("--prompt needs a byte-level model (this one has vocab_size " + std::to_string(cfg.vocab_size) + "); pass --ids");
        auto v = tok.encode(*prompt);
        const auto n = static_cast<std::int64_t>(v.size());
        ids = tensor<std::int64_t>({1, n}, std::move(v));
        std::cout << *prompt;
    } else {
        ids = parse_matrix(*opts.get("--ids"), "--ids");
        if (ids.dim(0) != 1) throw usage_error("--ids: give one prompt (one row)");
    }
    std::cout.flush();
    std::vector<std::int64_t> produced;
    const auto out = generate(lm, ids, nullptr, gc, [&](const generation_step& st) {
        const std::int64_t t = st.tokens[0];
        produced.push_back(t);
        if (bytes) std::cout << tok.decode_one(t);
        else std::cout << (produced.size() > 1 ? " " : "") << t;
        std::cout.flush();
    });
    std::cout << "\n";
    if (opts.has("--print-ids")) {
        for (std::size_t i = 0; i < produced.size(); ++i) std::cout << (i ? " " : "") << produced[i];
        std::cout << "\n";
    }
    const std::int64_t decoded = out.new_tokens - 1;
    std::printf("[prefill %lld tokens, %.1f tok/s | decode %lld tokens, %.1f tok/s | %s cache %.1f KiB]\n",
                static_cast<long long>(out.prompt_tokens), out.prefill_seconds > 0 ? double(out.prompt_tokens) / out.prefill_seconds : 0.0,
                static_cast<long long>(decoded), out.decode_seconds > 0 ? double(decoded) / out.decode_seconds : 0.0,
                spec_cache_t<Spec>::name, double(out.cache_bytes) / 1024.0);
    return 0;
}

}  // namespace

int run_generate(args_t args) {
    const auto opts = parse_options(args,
                                    {"--prompt", "--ids", "--max-new-tokens", "--temperature", "--top-k", "--top-p",
                                     "--min-p", "--repetition-penalty", "--seed", "--cache"},
                                    {"--print-ids"});
    if (opts.positional.size() != 1) throw usage_error(opts.positional.empty() ? "missing MODEL_DIR" : "expected one MODEL_DIR");
    if (opts.has("--prompt") == opts.has("--ids")) throw usage_error("give exactly one of --prompt TEXT and --ids \"1,2,3\"");
    generation_config gc;
    gc.max_new_tokens = parse_number<std::int64_t>(opts.get("--max-new-tokens").value_or("64"), "--max-new-tokens");
    gc.temperature = parse_number<float>(opts.get("--temperature").value_or("1"), "--temperature");
    gc.do_sample = gc.temperature > 0.0f;
    gc.top_k = parse_number<std::int64_t>(opts.get("--top-k").value_or("0"), "--top-k");
    gc.top_p = parse_number<float>(opts.get("--top-p").value_or("1"), "--top-p");
    gc.min_p = parse_number<float>(opts.get("--min-p").value_or("0"), "--min-p");
    gc.repetition_penalty = parse_number<float>(opts.get("--repetition-penalty").value_or("1"), "--repetition-penalty");
    gc.seed = parse_number<std::uint64_t>(opts.get("--seed").value_or("0"), "--seed");
    gc.validate();  // before loading a large checkpoint
    const std::string cache = opts.get("--cache").value_or("latent");
    const std::filesystem::path dir(opts.positional[0]);
    if (cache == "latent") return generate_with<default_spec>(dir, opts, gc);
    if (cache == "expanded") return generate_with<expanded_cache_spec>(dir, opts, gc);
    throw usage_error("--cache: '" + cache + "' is neither latent nor expanded");
}

}  // namespace dsv2::cli
