// The `dsv2` command-line tool: what the subcommands share.
//
// Adding a subcommand (e.g. `forward`): write cmd_forward.cpp defining `int run_forward(args_t)`,
// declare it below, add a row to `commands` below and the file to tools/cli/CMakeLists.txt.
//
// Conventions: a subcommand writes its results to stdout and returns 0. It reports a bad command
// line by throwing usage_error (exit status 2) and any other failure by throwing (dsv2::error or a
// std::exception: exit status 1); main prints exactly one line, "dsv2: error: <message>", on stderr.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace dsv2::cli {

using args_t = std::span<const std::string_view>;  ///< the arguments after the subcommand's name

/// A malformed command line (exit status 2).
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// "15.7B", "2.4B", "840.0M", "12.3K", "999": truncated (not rounded) to one decimal, as the model
/// cards write them (15,706,484,224 -> 15.7B; 2,451,435,008 -> 2.4B).
inline std::string short_count(std::int64_t n) {
    struct unit {
        std::int64_t size;
        char suffix;
    };
    constexpr unit units[] = {{1'000'000'000'000, 'T'}, {1'000'000'000, 'B'}, {1'000'000, 'M'}, {1'000, 'K'}};
    for (const unit& u : units) {
        if (n >= u.size) {
            const std::int64_t tenths = n / (u.size / 10);
            return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + u.suffix;
        }
    }
    return std::to_string(n);
}

// --- subcommands ----------------------------------------------------------------------------------
int run_info(args_t args);
int run_forward(args_t args);
int run_generate(args_t args);
int run_convert(args_t args);
int run_perplexity(args_t args);
int run_chat(args_t args);
int run_tokenize(args_t args);
int run_detokenize(args_t args);

struct command {
    std::string_view name;
    std::string_view usage;    ///< the arguments, as `dsv2 <name> <usage>`
    std::string_view summary;  ///< one line for `dsv2 --help`
    int (*run)(args_t);
};

inline constexpr command commands[] = {
    {"info", "PATH",
     "config summary, parameter counts, KV-cache sizes and checkpoint contents of a model directory, a "
     "config.json or a GGUF file",
     run_info},
    {"forward", "MODEL --ids \"1,2;3,4\" [--mask M] [--positions P] [--head causal-lm|classification] [--hidden-states] "
                "[--threads N] --out OUT.safetensors",
     "run one forward and write logits (and hidden states) to a safetensors file", run_forward},
    {"generate", "MODEL (--prompt TEXT | --ids \"1,2,3\") [--max-new-tokens N] [--min-new-tokens N] [--stop STR]... "
                 "[--greedy | --sample] [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--seed S] "
                 "[--repetition-penalty R] [--cache latent|latent-bf16|expanded] [--quantize q8_0|q4_k|q6_k] [--threads N] "
                 "[--print-ids]",
     "stream a continuation, then prefill/decode tokens/s; defaults from MODEL_DIR/generation_config.json, "
     "else greedy; flags win",
     run_generate},
    {"chat", "MODEL [--system TEXT] [--message TEXT]... [--max-new-tokens N] [--min-new-tokens N] [--stop STR]... "
             "[--greedy | --sample] [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--seed S] "
             "[--repetition-penalty R] [--quantize q8_0|q4_k|q6_k] [--threads N]",
     "multi-turn chat with the model's chat template (tokenizer_config.json, or a GGUF file's "
     "tokenizer.chat_template), the KV cache kept across turns; "
     "lines from stdin (/reset, Ctrl-D to end) or the --message values",
     run_chat},
    {"convert", "MODEL OUT.gguf [--type bf16|f32|q8_0|q4_k_m] [--threads N]",
     "write a model directory (or GGUF file) as a deepseek2 GGUF file that llama.cpp loads; q8_0 and q4_k_m "
     "quantise as llama.cpp does",
     run_convert},
    {"perplexity", "MODEL (--text FILE | --ids FILE) [--reference REF_MODEL] [--ctx N] [--chunks K] "
                   "[--quantize q8_0|q4_k|q6_k] [--no-bos] [--threads N] [--json OUT.json] [--dump-positions OUT.tsv]",
     "perplexity over chunks of N tokens as llama-perplexity computes it; with --reference, KL divergence, top-1 "
     "agreement and RMS Δp against a reference model (e.g. a quantised model against its bf16 original)",
     run_perplexity},
    {"tokenize", "MODEL_DIR|TOKENIZER_JSON|MODEL.gguf (--text TEXT | --file FILE) [--no-special]",
     "print the token ids of a text (tokenizer.json or a GGUF file's tokenizer as HF tokenizers encodes it, or a "
     "byte-level model)",
     run_tokenize},
    {"detokenize", "MODEL_DIR|TOKENIZER_JSON|MODEL.gguf --ids \"1,2,3\" [--skip-special]", "print the text of token ids",
     run_detokenize},
};

}  // namespace dsv2::cli
