// dsv2 tokenize MODEL_DIR|TOKENIZER_JSON|MODEL.gguf (--text T | --file F) [--no-special]
//   prints the ids of the text on one line, separated by single spaces. Special tokens are added as
//   HF tokenizers adds them (encode(text, add_special_tokens=True): what the post-processor adds —
//   nothing for the DeepSeek files, whose BOS comes from generate/chat, see docs/text.md) unless
//   --no-special.
// dsv2 detokenize MODEL_DIR|TOKENIZER_JSON|MODEL.gguf --ids "1,2,3" [--skip-special]
//   prints the text of the ids (special tokens left out with --skip-special).
//
// The path is a tokenizer.json file, a GGUF file (its tokenizer.ggml.* keys, else the byte codec of
// a byte-level model), or a model directory: its tokenizer.json, else the byte codec of a
// byte-level model (text_io.hpp).
#include <filesystem>
#include <iostream>

#include <dsv2/io/config_json.hpp>
#include <dsv2/models/gguf_model.hpp>

#include "cli.hpp"
#include "options.hpp"
#include "text_io.hpp"

namespace dsv2::cli {
namespace {

std::unique_ptr<text_codec> codec_of(const std::filesystem::path& path) {
    if (!std::filesystem::exists(path)) throw io_error(path.string(), "no such file or directory");
    if (is_gguf_path(path)) {
        // the tokenizer alone (a --vocab-only file has no model keys); else a byte-level model's codec
        std::string why;
        if (gguf_has_tokenizer(io::gguf_file::open(path))) {
            if (auto codec = load_gguf_text_codec(path, nullptr, &why)) return codec;
            throw unsupported_error(why);  // names the file, the key and its value
        }
        const DeepseekV2Config cfg = load_model_config(path);
        if (auto codec = load_gguf_text_codec(path, &cfg, &why)) return codec;
        throw io_error(path.string(), "carries no tokenizer (tokenizer.ggml.model is absent or \"none\"), and the model "
                                      "is not byte-level (vocab_size " + std::to_string(cfg.vocab_size) + ")");
    }
    if (!std::filesystem::is_directory(path)) return load_tokenizer_json(path);
    if (std::filesystem::is_regular_file(path / "tokenizer.json")) return load_tokenizer_json(path / "tokenizer.json");
    if (!std::filesystem::is_regular_file(path / "config.json"))
        throw io_error((path / "tokenizer.json").string(), "no such file (and no config.json of a byte-level model)");
    const DeepseekV2Config cfg = load_config(path);
    auto codec = load_text_codec(path, cfg);
    if (!codec)
        throw io_error((path / "tokenizer.json").string(), "no such file, and the model is not byte-level (vocab_size " +
                                                               std::to_string(cfg.vocab_size) + ")");
    return codec;
}

std::string one_path(const parsed_options& opts, const char* what) {
    if (opts.positional.size() != 1)
        throw usage_error(opts.positional.empty() ? std::string("missing ") + what : std::string("expected one ") + what);
    return std::string(opts.positional[0]);
}

}  // namespace

int run_tokenize(args_t args) {
    const auto opts = parse_options(args, {"--text", "--file"}, {"--no-special"});
    const std::string path = one_path(opts, "MODEL_DIR, tokenizer.json or GGUF file");
    if (opts.has("--text") == opts.has("--file")) throw usage_error("give exactly one of --text TEXT and --file FILE");
    const auto codec = codec_of(path);
    const std::string text = opts.has("--text") ? *opts.get("--text") : read_text_file(*opts.get("--file"));
    const auto ids = codec->encode(text, !opts.has("--no-special"));
    for (std::size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
    return 0;
}

int run_detokenize(args_t args) {
    const auto opts = parse_options(args, {"--ids"}, {"--skip-special"});
    const std::string path = one_path(opts, "MODEL_DIR, tokenizer.json or GGUF file");
    if (!opts.has("--ids")) throw usage_error("missing --ids \"1,2,3\"");
    const auto ids = parse_matrix(*opts.get("--ids"), "--ids");
    if (ids.dim(0) != 1) throw usage_error("--ids: give one row of ids (no ';')");
    const auto codec = codec_of(path);
    std::cout << codec->decode(std::span<const std::int64_t>(ids.data(), static_cast<std::size_t>(ids.dim(1))),
                               opts.has("--skip-special"))
              << "\n";
    return 0;
}

}  // namespace dsv2::cli
