// dsv2 perplexity MODEL (--text FILE | --ids FILE) [--reference REF_MODEL] [--ctx N] [--chunks K]
//                  [--quantize q8_0|q4_k|q6_k] [--threads T] [--no-bos] [--json OUT.json]
//                  [--dump-positions OUT.tsv]
//
// llama.cpp's `llama-perplexity` method: the token stream is cut into K chunks of N tokens; each
// chunk is one causal forward from an empty cache; the first token of each chunk is replaced by
// the BOS id (config bos_token_id; --no-bos keeps it); positions N/2 .. N−2 are scored, each
// predicting the next token of the chunk (N − 1 − N/2 per chunk, as llama.cpp). The perplexity is
// exp(mean nll) with its standard error.
//
// With --reference, the reference model runs on the same chunks, and the output adds the KL
// divergence KL(reference ‖ model) per position (mean ± se, median, 99 %, 99.9 %, max), top-1
// agreement, RMS Δp (of the next token's probability, as llama.cpp; and of the reference's top
// token) and the reference's perplexity. All statistics are computed in double from the fp32
// logits over the whole vocabulary (dsv2/eval/perplexity_stats.hpp); --quantize applies to MODEL
// only.
//
// --dump-positions writes one line per scored position (chunk, position in the chunk, next token,
// nll, and with --reference the reference's nll, KL, Δp, same top), e.g. to find the positions
// behind a large maximum KL.
//
// Text: MODEL's tokenizer (tokenizer.json, or byte-level; else the reference's), encoded without
// special tokens. --ids reads whitespace-separated ids (e.g. `dsv2 tokenize ... > ids.txt`).
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <dsv2/eval/perplexity_stats.hpp>
#include <dsv2/model.hpp>

#include "cli.hpp"
#include "generation_flags.hpp"
#include "options.hpp"
#include "text_io.hpp"

namespace dsv2::cli {
namespace {

using clock_type = std::chrono::steady_clock;

/// Whitespace-separated token ids; a non-integer is a usage error naming it and its index.
std::vector<std::int64_t> read_ids_file(const std::filesystem::path& file) {
    const std::string text = read_text_file(file);
    std::istringstream in(text);
    std::vector<std::int64_t> ids;
    std::string item;
    while (in >> item) {
        std::int64_t v = 0;
        const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
        if (ec != std::errc() || ptr != item.data() + item.size())
            throw usage_error("--ids: '" + item + "' (item " + std::to_string(ids.size()) + " of " + file.string() +
                              ") is not an integer");
        ids.push_back(v);
    }
    return ids;
}

std::string model_label(const std::filesystem::path& path, const parsed_options& opts, bool quantize) {
    std::string s = path.string();
    if (quantize && opts.get("--quantize")) {
        s += is_gguf_path(path) ? " (--quantize ignored: a GGUF keeps its types)" : " (quantised to " + *opts.get("--quantize") + " at load)";
    }
    return s;
}

}  // namespace

int run_perplexity(args_t args) {
    const auto opts = parse_options(args, {"--text", "--ids", "--reference", "--ctx", "--chunks", "--quantize", "--threads", "--json",
                                     "--dump-positions"},
                                    {"--no-bos"});
    if (opts.positional.size() != 1) throw usage_error(opts.positional.empty() ? "missing MODEL" : "expected one MODEL");
    if (opts.has("--text") == opts.has("--ids")) throw usage_error("give exactly one of --text FILE and --ids FILE");
    apply_threads(opts);
    const load_options model_opts = model_load_options(opts);  // --quantize errors before reading anything
    std::optional<std::int64_t> ctx_flag, chunks_flag;
    if (auto c = opts.get("--ctx")) {
        ctx_flag = parse_number<std::int64_t>(*c, "--ctx");
        if (*ctx_flag < 4) throw usage_error("--ctx: must be ≥ 4, got " + *c);
    }
    if (auto k = opts.get("--chunks")) {
        chunks_flag = parse_number<std::int64_t>(*k, "--chunks");
        if (*chunks_flag < 1) throw usage_error("--chunks: must be ≥ 1, got " + *k);
    }

    // configs and tokens first: errors come before loading the weights
    const std::filesystem::path model_path(opts.positional[0]);
    const DeepseekV2Config cfg = load_model_config(model_path);
    std::optional<std::filesystem::path> ref_path;
    std::optional<DeepseekV2Config> ref_cfg;
    if (auto r = opts.get("--reference")) {
        ref_path = *r;
        ref_cfg = load_model_config(*ref_path);
        if (ref_cfg->vocab_size != cfg.vocab_size)
            throw input_error("--reference", ref_path->string() + " has vocab_size " + std::to_string(ref_cfg->vocab_size) +
                                                 ", the model " + std::to_string(cfg.vocab_size) +
                                                 ": the distributions cannot be compared");
    }
    std::int64_t max_pos = cfg.max_position_embeddings;
    if (ref_cfg) max_pos = std::min(max_pos, ref_cfg->max_position_embeddings);
    const std::int64_t N = ctx_flag.value_or(std::min<std::int64_t>(512, max_pos));
    if (N > max_pos)
        throw usage_error("--ctx: " + std::to_string(N) + " is more than max_position_embeddings " + std::to_string(max_pos) +
                          (ref_cfg ? " (of the model or the reference)" : ""));

    std::vector<std::int64_t> tokens;
    std::string source, tokenizer_name = "ids";
    if (auto ids_file = opts.get("--ids")) {
        tokens = read_ids_file(*ids_file);
        source = *ids_file;
    } else {
        const std::filesystem::path text_file(*opts.get("--text"));
        auto codec = load_text_codec(model_path, cfg);
        if (!codec && ref_path) codec = load_text_codec(*ref_path, *ref_cfg);
        if (!codec)
            throw usage_error("--text needs a tokenizer: " + model_path.string() +
                              (ref_path ? " and the reference have" : " has") +
                              " none (no tokenizer.json, not byte-level); tokenize with `dsv2 tokenize` and pass --ids");
        tokens = codec->encode(read_text_file(text_file), /*add_special_tokens=*/false);
        source = text_file.string();
        tokenizer_name = codec->name();
    }
    for (std::size_t i = 0; i < tokens.size(); ++i)
        if (tokens[i] < 0 || tokens[i] >= cfg.vocab_size)
            throw input_error(opts.has("--ids") ? "--ids" : "--text", "token id " + std::to_string(tokens[i]) + " at index " +
                                                                          std::to_string(i) + " is outside the vocabulary [0, " +
                                                                          std::to_string(cfg.vocab_size) + ")");
    const auto T = static_cast<std::int64_t>(tokens.size());
    const std::int64_t available = T / N;
    const std::string what = opts.has("--ids") ? "--ids" : "--text";
    if (available == 0)
        throw input_error(what, source + " has " + std::to_string(T) + " tokens, fewer than one chunk of --ctx " + std::to_string(N));
    if (chunks_flag && *chunks_flag > available)
        throw input_error(what, source + " has " + std::to_string(T) + " tokens: " + std::to_string(available) +
                                    " chunks of " + std::to_string(N) + ", fewer than --chunks " + std::to_string(*chunks_flag));
    const std::int64_t K = chunks_flag.value_or(available);
    const std::optional<std::int64_t> bos = opts.has("--no-bos") ? std::nullopt : cfg.bos_token_id;
    if (bos && (*bos < 0 || *bos >= cfg.vocab_size))
        throw input_error("bos_token_id", std::to_string(*bos) + " is outside the vocabulary; pass --no-bos");

    // scored positions of a chunk: first .. N-2, each predicting the token after it
    const std::int64_t first = N / 2, scored = N - 1 - first;
    std::vector<std::int64_t> kept(static_cast<std::size_t>(scored));
    for (std::int64_t k = 0; k < scored; ++k) kept[static_cast<std::size_t>(k)] = first + k;

    // output files are created before the (long) run, so that a bad path fails at once
    std::ofstream json_out;
    if (auto j = opts.get("--json")) {
        json_out.open(*j, std::ios::binary | std::ios::trunc);
        if (!json_out) throw io_error(*j, "cannot create the file");
    }
    std::ofstream dump;
    if (auto d = opts.get("--dump-positions")) {
        dump.open(*d, std::ios::binary | std::ios::trunc);
        if (!dump) throw io_error(*d, "cannot create the file");
        dump << (ref_path ? "chunk\tposition\ttarget\tnll\tnll_ref\tkl\tdp\tsame_top\n" : "chunk\tposition\ttarget\tnll\n");
        dump.precision(9);
    }

    const auto lm = DeepseekV2ForCausalLM<>::from_pretrained(model_path, model_opts);
    std::optional<DeepseekV2ForCausalLM<>> ref;
    if (ref_path) ref.emplace(DeepseekV2ForCausalLM<>::from_pretrained(*ref_path, progress_bar()));

    eval::perplexity_stats ppl;
    eval::kl_stats kl;
    double model_seconds = 0, ref_seconds = 0;
    const std::int64_t V = cfg.vocab_size;
    for (std::int64_t c = 0; c < K; ++c) {
        std::vector<std::int64_t> chunk(tokens.begin() + c * N, tokens.begin() + (c + 1) * N);
        if (bos) chunk[0] = *bos;
        const tensor<std::int64_t> ids({1, N}, std::vector<std::int64_t>(chunk));
        const forward_args fa{.input_ids = &ids, .logits_to_keep = kept};
        auto t0 = clock_type::now();
        const auto out = lm.forward(fa);
        model_seconds += std::chrono::duration<double>(clock_type::now() - t0).count();
        std::optional<causal_lm_output> ref_out;
        if (ref) {
            t0 = clock_type::now();
            ref_out = ref->forward(fa);
            ref_seconds += std::chrono::duration<double>(clock_type::now() - t0).count();
        }
        const auto logits = out.logits.values();
        for (std::int64_t k = 0; k < scored; ++k) {
            const std::int64_t target = chunk[static_cast<std::size_t>(first + k + 1)];
            const auto row = logits.subspan(static_cast<std::size_t>(k * V), static_cast<std::size_t>(V));
            if (ref_out) {
                const auto ref_row = ref_out->logits.values().subspan(static_cast<std::size_t>(k * V), static_cast<std::size_t>(V));
                const auto cmp = eval::compare_token(ref_row, row, target);
                kl.add(cmp);
                ppl.add(cmp.nll_model);
                if (dump.is_open())
                    dump << c << '\t' << first + k << '\t' << target << '\t' << cmp.nll_model << '\t' << cmp.nll_ref << '\t'
                         << cmp.kl << '\t' << cmp.dp << '\t' << (cmp.same_top ? 1 : 0) << '\n';
            } else {
                const double nll = eval::token_nll(row, target);
                ppl.add(nll);
                if (dump.is_open()) dump << c << '\t' << first + k << '\t' << target << '\t' << nll << '\n';
            }
        }
        std::fprintf(stderr, "[chunk %lld/%lld] perplexity %.4f", static_cast<long long>(c + 1), static_cast<long long>(K),
                     ppl.perplexity());
        if (ref) std::fprintf(stderr, ", mean KL %.6f, top-1 %.2f %%", kl.mean_kl(), 100 * kl.top1_agreement());
        std::fprintf(stderr, "\n");
    }

    const std::int64_t positions = ppl.count();
    const double tokens_run = static_cast<double>(K * N);
    std::printf("model          %s\n", model_label(model_path, opts, true).c_str());
    if (ref_path) std::printf("reference      %s\n", ref_path->string().c_str());
    std::printf("text           %s: %lld tokens (%s); %lld chunks of %lld, %lld scored positions (%lld per chunk, "
                "positions %lld..%lld)%s\n",
                source.c_str(), static_cast<long long>(T), tokenizer_name.c_str(), static_cast<long long>(K),
                static_cast<long long>(N), static_cast<long long>(positions), static_cast<long long>(scored),
                static_cast<long long>(first), static_cast<long long>(N - 2),
                bos ? (", BOS " + std::to_string(*bos) + " first").c_str() : ", no BOS");
    std::printf("perplexity     %.4f ± %.4f   (mean nll %.6f ± %.6f)\n", ppl.perplexity(), ppl.perplexity_se(), ppl.mean_nll(),
                ppl.mean_nll_se());
    if (ref) {
        std::printf("reference ppl  %.4f ± %.4f   (mean nll %.6f ± %.6f)\n", kl.reference.perplexity(), kl.reference.perplexity_se(),
                    kl.reference.mean_nll(), kl.reference.mean_nll_se());
        std::printf("KL(reference ‖ model), nats per position:\n");
        std::printf("  mean         %.6f ± %.6f\n", kl.mean_kl(), kl.mean_kl_se());
        std::printf("  median       %.6f\n", kl.median_kl());
        std::printf("  99 %%         %.6f\n", kl.kl_percentile(0.99));
        std::printf("  99.9 %%       %.6f\n", kl.kl_percentile(0.999));
        std::printf("  max          %.6f\n", kl.max_kl());
        std::printf("top-1 agree    %.3f ± %.3f %%\n", 100 * kl.top1_agreement(), 100 * kl.top1_agreement_se());
        std::printf("RMS Δp         %.4f ± %.4f %%   (next token's probability, as llama.cpp; max |Δp| %.4f %%)\n",
                    100 * kl.rms_dp(), 100 * kl.rms_dp_se(), 100 * kl.max_abs_dp());
        std::printf("RMS Δp top     %.4f ± %.4f %%   (the reference's top token)\n", 100 * kl.rms_dp_top(), 100 * kl.rms_dp_top_se());
    }
    std::printf("time           model %.1f s (%.1f tok/s)", model_seconds, model_seconds > 0 ? tokens_run / model_seconds : 0.0);
    if (ref) std::printf(", reference %.1f s (%.1f tok/s)", ref_seconds, ref_seconds > 0 ? tokens_run / ref_seconds : 0.0);
    std::printf("\n");

    if (dump.is_open()) {
        dump.flush();
        if (!dump) throw io_error(*opts.get("--dump-positions"), "write failed");
    }
    if (auto json_path = opts.get("--json")) {
        nlohmann::ordered_json j;
        j["model"] = model_path.string();
        if (auto q = opts.get("--quantize")) j["quantize"] = *q;
        j["source"] = source;
        j["tokens"] = T;
        j["ctx"] = N;
        j["chunks"] = K;
        j["scored_positions"] = positions;
        j["bos"] = bos ? nlohmann::ordered_json(*bos) : nlohmann::ordered_json();
        j["perplexity"] = ppl.perplexity();
        j["perplexity_se"] = ppl.perplexity_se();
        j["mean_nll"] = ppl.mean_nll();
        j["mean_nll_se"] = ppl.mean_nll_se();
        j["model_seconds"] = model_seconds;
        if (ref) {
            j["reference"] = ref_path->string();
            j["reference_perplexity"] = kl.reference.perplexity();
            j["reference_perplexity_se"] = kl.reference.perplexity_se();
            j["kl_mean"] = kl.mean_kl();
            j["kl_mean_se"] = kl.mean_kl_se();
            j["kl_median"] = kl.median_kl();
            j["kl_p99"] = kl.kl_percentile(0.99);
            j["kl_p999"] = kl.kl_percentile(0.999);
            j["kl_max"] = kl.max_kl();
            j["top1_agreement"] = kl.top1_agreement();
            j["top1_agreement_se"] = kl.top1_agreement_se();
            j["rms_dp"] = kl.rms_dp();
            j["rms_dp_se"] = kl.rms_dp_se();
            j["max_abs_dp"] = kl.max_abs_dp();
            j["rms_dp_top"] = kl.rms_dp_top();
            j["rms_dp_top_se"] = kl.rms_dp_top_se();
            j["reference_seconds"] = ref_seconds;
        }
        json_out << j.dump(2) << "\n";
        json_out.flush();
        if (!json_out) throw io_error(*json_path, "write failed");
    }
    return 0;
}

}  // namespace dsv2::cli
