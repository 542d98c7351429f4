// dsv2 chat MODEL_DIR [--system TEXT] [--message TEXT]... [--max-new-tokens N] [--min-new-tokens N]
//           [--stop STR]... [--greedy | --sample] [--temperature T] [--top-k K] [--top-p P] [--min-p P]
//           [--seed S] [--repetition-penalty R] [--threads N]
//
// A multi-turn conversation with the model's chat template (MODEL_DIR/tokenizer_config.json's
// `chat_template`, or a GGUF file's tokenizer.chat_template, rendered by dsv2::chat_template with
// its bos/eos tokens). Each user line is a
// turn: the whole conversation is rendered (add_generation_prompt), encoded (text_io.hpp's codec,
// without special tokens — the template writes them — then the BOS rule of prompt_bos), and the
// answer streams as it is produced, followed by a speed line. Generation stops at an eos id
// (generation_config.json's, else config.json's, plus tokenizer_config.json's eos_token), a --stop
// string or --max-new-tokens (default 512); the eos token's text is never printed.
//
// Input: the --message values in order, when given (non-interactive; "/reset" works there too);
// else lines from stdin until EOF (Ctrl-D) or "/exit". "/reset" forgets the conversation (the
// --system message stays). Settings as in `dsv2 generate`: defaults, then generation_config.json,
// then the flags.
//
// The latent KV cache lives across turns, so only the new turn's tokens are prefilled (see
// chat_session::ask). generate() is one-shot (it makes its own cache), so the session drives
// lm.forward(..., &cache) itself and picks tokens with generation/logits_processing.hpp's
// next_token and stop_strings.hpp's matcher, as generate() does.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <limits>
#include <random>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <dsv2/generation/logits_processing.hpp>
#include <dsv2/generation/stop_strings.hpp>
#include <dsv2/io/generation_config_json.hpp>
#include <dsv2/model.hpp>
#include <dsv2/text/chat_template.hpp>

#include "cli.hpp"
#include "generation_flags.hpp"
#include "options.hpp"
#include "text_io.hpp"

namespace dsv2::cli {
namespace {

struct turn_stats {
    std::int64_t prefilled = 0, cached = 0, decoded = 0;  // decoded: one-token forwards after the prefill
    double prefill_seconds = 0, decode_seconds = 0;
    const char* stopped_by = "length";
};

std::string trimmed(const std::string& s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

template <class Spec>
class chat_session {
public:
    chat_session(const DeepseekV2ForCausalLM<Spec>& lm, const chat_template& tmpl, const text_codec& codec,
                 std::optional<std::int64_t> bos, std::vector<std::int64_t> eos, generation_config gc,
                 std::optional<std::string> system)
        : lm_(lm), tmpl_(tmpl), codec_(codec), bos_(bos), eos_(std::move(eos)), gc_(std::move(gc)),
          system_(std::move(system)), cache_(lm.make_cache(1)), rng_(gc_.seed) {
        reset();
    }

    /// Forgets the conversation (the system message stays) and empties the cache.
    void reset() {
        messages_ = nlohmann::ordered_json::array();
        if (system_) messages_.push_back({{"role", "system"}, {"content", *system_}});
        cache_.reset();
        fed_.clear();
    }

    /// One user turn: the answer streams to `out`; it joins the conversation.
    turn_stats ask(const std::string& user, std::ostream& out) {
        using clock = std::chrono::steady_clock;
        turn_stats st;
        messages_.push_back({{"role", "user"}, {"content", user}});
        std::vector<std::int64_t> ids;
        try {
            ids = prepend_bos(codec_.encode(tmpl_.render_ordered(messages_, true), false), bos_);
        } catch (...) {
            messages_.erase(messages_.size() - 1);
            throw;
        }
        const std::int64_t max_pos = lm_.config().max_position_embeddings;
        const auto n = static_cast<std::int64_t>(ids.size());
        if (n == 0 || n >= max_pos) {
            messages_.erase(messages_.size() - 1);
            throw input_error("conversation", n == 0 ? std::string("the chat template rendered no tokens")
                                                     : std::to_string(n) + " tokens reach max_position_embeddings " +
                                                           std::to_string(max_pos) + " (/reset starts again)");
        }

        // The cache holds the keys/values of fed_, the ids of the conversation so far. Usually the
        // new render starts with them and only the new turn's tokens are prefilled. It need not:
        // a template may render earlier turns differently once later ones exist, and the answer's
        // text may encode to other ids than the model produced (BPE merges across its end, the
        // whitespace trimmed from it). Then the cache is cut back to the longest common prefix
        // (crop; when the first ids differ, that is a reset and a full re-prefill) and the rest
        // is prefilled: slower, never wrong — the cache always matches the rendered conversation.
        auto keep = static_cast<std::size_t>(
            std::mismatch(fed_.begin(), fed_.end(), ids.begin(), ids.end()).first - fed_.begin());
        if (keep == ids.size()) --keep;  // at least one id must be fed: its logits give the next token
        if (keep < fed_.size()) {
            cache_.crop(static_cast<std::int64_t>(keep));
            fed_.resize(keep);
        }
        st.cached = static_cast<std::int64_t>(keep);
        std::vector<std::int64_t> feed(ids.begin() + static_cast<std::ptrdiff_t>(keep), ids.end());
        st.prefilled = static_cast<std::int64_t>(feed.size());
        const std::int64_t budget = std::min(gc_.max_new_tokens, max_pos - n);

        const auto decoder = codec_.text_decoders(/*skip_special_tokens=*/true)();
        stop_string_matcher stops(gc_.stop_strings);
        std::vector<std::int64_t> history = ids;  // the repetition penalty sees the whole conversation
        const std::int64_t V = lm_.config().vocab_size;
        std::vector<float> row(static_cast<std::size_t>(V));
        std::string answer;
        for (std::int64_t step = 0;; ++step) {
            const auto t0 = clock::now();
            const auto S = static_cast<std::int64_t>(feed.size());
            const tensor<std::int64_t> input({1, S}, std::vector<std::int64_t>(feed));
            // positions default to P .. P+S-1 after the P cached tokens; no padding, no mask
            const auto logits = lm_.forward({.input_ids = &input, .logits_to_keep = std::int64_t{1}}, &cache_).logits;
            fed_.insert(fed_.end(), feed.begin(), feed.end());
            std::copy_n(logits.data(), V, row.begin());
            if (step < gc_.min_new_tokens)  // transformers' MinNewTokensLengthLogitsProcessor
                for (std::int64_t id : eos_)
                    if (id >= 0 && id < V) row[static_cast<std::size_t>(id)] = -std::numeric_limits<float>::infinity();
            const std::int64_t token = next_token(row, history, gc_, rng_);
            (step == 0 ? st.prefill_seconds : st.decode_seconds) += std::chrono::duration<double>(clock::now() - t0).count();
            if (step > 0) ++st.decoded;
            if (std::find(eos_.begin(), eos_.end(), token) != eos_.end()) {
                st.stopped_by = "eos";  // its text is not printed, and it is not fed: the next render writes it
                break;
            }
            history.push_back(token);
            const std::string text = decoder->push(token);
            out << text << std::flush;
            answer += text;
            if (stops.push(text)) {
                st.stopped_by = "stop string";
                break;
            }
            if (step + 1 >= budget) break;
            feed.assign(1, token);
        }
        // the templates write their own separators around a message
        messages_.push_back({{"role", "assistant"}, {"content", trimmed(answer)}});
        return st;
    }

private:
    const DeepseekV2ForCausalLM<Spec>& lm_;
    const chat_template& tmpl_;
    const text_codec& codec_;
    std::optional<std::int64_t> bos_;
    std::vector<std::int64_t> eos_;
    generation_config gc_;
    std::optional<std::string> system_;
    nlohmann::ordered_json messages_;
    typename DeepseekV2ForCausalLM<Spec>::cache_type cache_;
    std::vector<std::int64_t> fed_;  // the ids whose keys/values are in cache_, in order
    std::mt19937_64 rng_;
};

void print_stats(const turn_stats& st) {
    std::printf("[prefill %lld tokens (%lld cached), %.1f tok/s | decode %lld tokens, %.1f tok/s | stopped by %s]\n",
                static_cast<long long>(st.prefilled), static_cast<long long>(st.cached),
                st.prefill_seconds > 0 ? double(st.prefilled) / st.prefill_seconds : 0.0, static_cast<long long>(st.decoded),
                st.decode_seconds > 0 ? double(st.decoded) / st.decode_seconds : 0.0, st.stopped_by);
    std::fflush(stdout);
}

}  // namespace

int run_chat(args_t args) {
    const auto opts = parse_options(args,
                                    {"--system", "--max-new-tokens", "--min-new-tokens", "--temperature", "--top-k", "--top-p",
                                     "--min-p", "--repetition-penalty", "--seed", "--threads", "--quantize"},
                                    {"--greedy", "--sample"}, {"--message", "--stop"});
    if (opts.positional.size() != 1) throw usage_error(opts.positional.empty() ? "missing MODEL_DIR" : "expected one MODEL_DIR");
    apply_threads(opts);
    (void)model_load_options(opts);  // --quantize errors before reading anything
    generation_config flags_only;
    apply_flags(opts, flags_only);  // usage errors before reading anything

    // everything but the weights first: errors come before loading a large checkpoint
    const std::filesystem::path dir(opts.positional[0]);
    const DeepseekV2Config cfg = load_model_config(dir);
    // a GGUF file has no side files (generation_config.json, tokenizer.json): its own metadata only
    const auto file = is_gguf_path(dir) ? std::nullopt : load_generation_config(dir);
    std::string no_codec;
    const auto codec = load_text_codec(dir, cfg, &no_codec);
    if (!codec && is_gguf_path(dir)) throw io_error(dir.string(), "chat needs text: " + no_codec);
    if (!codec)
        throw io_error((dir / "tokenizer.json").string(), "no such file, and the model is not byte-level (vocab_size " +
                                                              std::to_string(cfg.vocab_size) + "): chat needs text");
    const auto tc = load_tokenizer_config(dir);
    if (tc.gguf && !tc.chat_template)
        throw io_error(dir.string(), "no key 'tokenizer.chat_template': chat needs the model's chat template");
    if (!tc.exists)
        throw io_error(tc.path.string(), "no such file: chat needs the model's chat template (its \"chat_template\")");
    const auto tmpl = tc.gguf ? chat_template(*tc.chat_template, tc.bos_token.value_or(""), tc.eos_token.value_or(""),
                                              dir.string() + ": tokenizer.chat_template")
                              : chat_template::from_tokenizer_config(tc.path);

    generation_config gc;
    gc.max_new_tokens = 512;
    if (file) file->apply_to(gc, 0);
    apply_flags(opts, gc);
    gc.validate();
    std::vector<std::int64_t> eos = gc.eos_token_id.value_or(cfg.eos_token_id);
    if (tc.eos_token)
        if (auto id = codec->token_to_id(*tc.eos_token); id && std::find(eos.begin(), eos.end(), *id) == eos.end())
            eos.push_back(*id);

    const auto lm = DeepseekV2ForCausalLM<default_spec>::from_pretrained(dir, model_load_options(opts));
    chat_session<default_spec> session(lm, tmpl, *codec, prompt_bos(*codec, tc, file, cfg), std::move(eos), gc,
                                       opts.get("--system"));

    const bool scripted = opts.has("--message");
    const bool interactive = !scripted && isatty(STDIN_FILENO);
    if (interactive)
        std::cout << "dsv2 chat: " << dir.string() << " (" << (gc.greedy() ? "greedy" : "sampling")
                  << "). /reset forgets the conversation; Ctrl-D or /exit ends.\n";
    const auto messages = opts.get_all("--message");
    std::size_t next = 0;
    for (;;) {
        std::string line;
        if (scripted) {
            if (next == messages.size()) break;
            line = messages[next++];
        } else {
            if (interactive) std::cout << ">>> " << std::flush;
            if (!std::getline(std::cin, line)) break;
            if (!line.empty() && line.back() == '\r') line.pop_back();
        }
        if (!interactive) std::cout << ">>> " << line << "\n";
        if (line == "/exit" || line == "/quit") break;
        if (line == "/reset") {
            session.reset();
            std::cout << "[conversation reset]\n" << std::flush;
            continue;
        }
        if (trimmed(line).empty()) continue;
        const auto st = session.ask(line, std::cout);
        std::cout << "\n";
        print_stats(st);
    }
    if (interactive) std::cout << "\n";
    return 0;
}

}  // namespace dsv2::cli
