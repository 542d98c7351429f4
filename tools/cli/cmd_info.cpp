// dsv2 info PATH: what a model directory (or a config.json) holds: the config in the paper's terms,
// parameter counts, KV-cache sizes per token and, when there are weights, the checkpoint's tensors.
#include <charconv>
#include <cstdio>
#include <map>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

#include <dsv2/config.hpp>
#include <dsv2/core/dtype.hpp>
#include <dsv2/io/checkpoint.hpp>
#include <dsv2/io/config_json.hpp>
#include <dsv2/models/gguf_model.hpp>
#include <dsv2/models/parameter_count.hpp>
#include <dsv2/quant/ggml_type.hpp>

#include "cli.hpp"

namespace dsv2::cli {
namespace {

namespace fs = std::filesystem;

/// The shortest text that reads back as v.
std::string num(double v) {
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, res.ptr);
}

std::string opt(const std::optional<std::int64_t>& v, const char* unset = "none") {
    return v ? std::to_string(*v) : std::string(unset);
}

std::string yes_no(bool b) { return b ? "true" : "false"; }

/// Whether `dir` holds safetensors weights (what checkpoint::open would look for).
bool has_weights(const fs::path& dir) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json")) return true;
    }
    return false;
}

void print_config(std::ostream& out, const DeepseekV2Config& c) {
    const std::int64_t moe_layers = c.num_moe_layers(), dense_layers = c.num_hidden_layers - moe_layers;
    out << "layers       " << c.num_hidden_layers << ": " << dense_layers << " dense";
    if (dense_layers > 0) out << " (intermediate_size " << c.intermediate_size << ")";
    out << ", " << moe_layers << " MoE (first_k_dense_replace " << c.first_k_dense_replace << ", moe_layer_freq "
        << c.moe_layer_freq << ")\n";
    out << "hidden       " << c.hidden_size << ", vocab " << c.vocab_size << ", hidden_act " << c.hidden_act
        << ", rms_norm_eps " << num(c.rms_norm_eps) << ", tie_word_embeddings " << yes_no(c.tie_word_embeddings) << "\n";
    out << "attention    MLA, " << c.num_attention_heads << " heads; q_lora_rank "
        << (c.q_lora_rank ? std::to_string(*c.q_lora_rank) : std::string("none (plain q_proj)")) << "; kv_lora_rank "
        << c.kv_lora_rank << "\n";
    out << "             d_nope " << c.qk_nope_head_dim << " + d_rope " << c.qk_rope_head_dim << " = d_qk "
        << c.qk_head_dim() << ", d_v " << c.v_head_dim << "; attention_bias " << yes_no(c.attention_bias) << "\n";
    if (moe_layers > 0) {
        out << "experts      " << c.n_routed_experts << " routed + " << c.n_shared_experts.value_or(0) << " shared, top-"
            << *c.num_experts_per_tok << ", moe_intermediate_size " << c.moe_intermediate_size << " (shared width "
            << c.shared_intermediate_size() << ")\n";
        out << "routing      " << c.topk_method << ", n_group " << opt(c.n_group, "null") << ", topk_group "
            << opt(c.topk_group, "null") << ", scoring " << c.scoring_func << ", routed_scaling_factor "
            << num(c.routed_scaling_factor) << ", norm_topk_prob " << yes_no(c.norm_topk_prob) << "\n";
    } else {
        out << "experts      none (a dense model)\n";
    }
    const RopeParameters& r = c.rope_parameters;
    out << "rope         " << r.rope_type << ", theta " << num(r.rope_theta);
    if (r.rope_type == "yarn") {
        out << ", factor " << num(c.yarn_factor()) << (r.factor ? "" : " (derived)");
        out << ", original_max_position_embeddings " << opt(r.original_max_position_embeddings, "unset");
        out << ", beta_fast " << num(r.beta_fast.value_or(32.0)) << ", beta_slow " << num(r.beta_slow.value_or(1.0));
        if (r.mscale) out << ", mscale " << num(*r.mscale);
        if (r.mscale_all_dim) out << ", mscale_all_dim " << num(*r.mscale_all_dim);
        if (r.attention_factor) out << ", attention_factor " << num(*r.attention_factor);
        if (r.truncate) out << ", truncate " << yes_no(*r.truncate);
    }
    out << "\n";
    const double plain_scale = 1.0 / std::sqrt(static_cast<double>(c.qk_head_dim()));
    out << "softmax      scale " << num(c.softmax_scale());
    if (c.softmax_scale() != plain_scale)
        out << " (d_qk^-1/2 = " << num(plain_scale) << " times yarn m^2 = " << num(c.softmax_scale() / plain_scale) << ")";
    else
        out << " (d_qk^-1/2)";
    out << "\n";
    out << "positions    max_position_embeddings " << c.max_position_embeddings << "\n";
    out << "tokens       bos " << opt(c.bos_token_id) << ", eos ";
    if (c.eos_token_id.empty()) out << "none";
    for (std::size_t i = 0; i < c.eos_token_id.size(); ++i) out << (i ? "," : "") << c.eos_token_id[i];
    out << ", pad " << opt(c.pad_token_id) << "\n";
    out << "dtype        " << c.torch_dtype.value_or("unset") << "\n";
}

void print_sizes(std::ostream& out, const DeepseekV2Config& c, model_head head, const parameter_count& p) {
    out << "parameters   total " << p.total << " (" << short_count(p.total) << ") with "
        << (head == model_head::causal_lm ? std::string("the causal-LM head (lm_head") +
                                                (c.tie_word_embeddings ? ", tied)" : ")")
                                          : "the sequence-classification head (score, " +
                                                std::to_string(c.num_labels) + " labels)")
        << "\n";
    out << "             active per token " << p.active_per_token << " (" << short_count(p.active_per_token) << ")";
    if (c.num_moe_layers() > 0)
        out << ": " << *c.num_experts_per_tok << " of " << c.n_routed_experts << " routed experts";
    out << "; the embedding lookup table not counted\n";

    const std::int64_t latent2 = kv_cache_bytes_per_token_latent(c, 2), latent4 = kv_cache_bytes_per_token_latent(c, 4);
    const std::int64_t expanded2 = kv_cache_bytes_per_token_expanded(c, 2);
    const std::int64_t expanded4 = kv_cache_bytes_per_token_expanded(c, 4);
    std::ostringstream ratio;
    ratio.precision(2);
    ratio << std::fixed << static_cast<double>(expanded2) / static_cast<double>(latent2);
    out << "kv cache     bytes per token, all " << c.num_hidden_layers << " layers:\n";
    out << "             latent   (kv_lora_rank + d_rope)     " << latent2 << " bf16 (--cache latent-bf16), " << latent4
        << " fp32 (--cache latent)\n";
    out << "             expanded (heads x (d_qk + d_v))      " << expanded2 << " bf16, " << expanded4 << " fp32 ("
        << ratio.str() << "x latent; --cache expanded holds fp32)\n";
}

void print_checkpoint(std::ostream& out, const fs::path& dir, const std::optional<io::checkpoint>& checkpoint,
                      const parameter_count& p) {
    if (!checkpoint) {
        out << "checkpoint   none (no safetensors weights in " << dir.string() << ")\n";
        return;
    }
    const io::checkpoint& ck = *checkpoint;
    out << "checkpoint   " << ck.tensor_count() << " tensors in " << ck.files().size() << " file(s)\n";
    const auto bytes = ck.bytes_by_dtype();
    const auto elements = ck.elements_by_dtype();
    std::uint64_t all_elements = 0;
    for (const auto& [type, n] : elements) {
        all_elements += n;
        const auto b = bytes.find(type);
        out << "             " << safetensors_name(type) << ": " << n << " elements, "
            << (b == bytes.end() ? 0 : b->second) << " bytes\n";
    }
    const auto total = static_cast<std::uint64_t>(p.total);
    out << "             " << all_elements << " elements: ";
    if (all_elements == total)
        out << "matches the config's parameter count\n";
    else
        out << "differs from the config's parameter count " << total << " by "
            << (all_elements > total ? "+" + std::to_string(all_elements - total) : "-" + std::to_string(total - all_elements))
            << "\n";
}

/// "1.23 GB", "4.56 MB", "789 kB" (decimal units, 3 significant digits).
std::string bytes_text(std::uint64_t n) {
    const double v = static_cast<double>(n);
    char buf[32];
    if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.3g GB", v / 1e9);
    else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.3g MB", v / 1e6);
    else std::snprintf(buf, sizeof buf, "%.3g kB", v / 1e3);
    return buf;
}

/// A GGUF file's tensors by storage format: count, bytes, and bits per weight.
/// The tokenizer keys of a GGUF file, summarised (not validated: dsv2 tokenize/generate do that).
void print_gguf_tokenizer(std::ostream& out, const io::gguf_file& f) {
    std::ostringstream line;
    try {
        const auto model = f.get_string_opt("tokenizer.ggml.model");
        if (!model || *model == "none") {
            out << "tokenizer    none (tokenizer.ggml.model " << (model ? "\"none\"" : "absent") << "): token ids only\n";
            return;
        }
        line << io::detail::gguf::display(*model) << ", pre " << io::detail::gguf::display(f.get_string_opt("tokenizer.ggml.pre").value_or("(absent)"));
        if (const auto* tokens = f.get_array_opt("tokenizer.ggml.tokens")) {
            line << ", " << tokens->size() << " tokens";
            if (const auto* types = f.get_array_opt("tokenizer.ggml.token_type")) {
                std::map<std::int64_t, std::size_t> count;
                for (auto t : types->to_i64_vector()) ++count[t];
                static const char* names[] = {"undefined", "normal", "unknown", "control", "user-defined", "unused", "byte"};
                std::string parts;
                for (const auto& [t, n] : count)
                    parts += (parts.empty() ? "" : ", ") + std::to_string(n) + " " + (t >= 0 && t <= 6 ? names[t] : "type " + std::to_string(t));
                line << " (" << parts << ")";
            }
        }
        if (const auto* merges = f.get_array_opt("tokenizer.ggml.merges")) line << ", " << merges->size() << " merges";
        for (const char* k : {"bos", "eos", "padding"})
            if (const auto id = f.get_uint_opt(std::string("tokenizer.ggml.") + k + "_token_id")) line << ", " << k << " " << *id;
        if (const auto add = f.get_bool_opt("tokenizer.ggml.add_bos_token")) line << ", add_bos " << (*add ? "true" : "false");
        if (const auto t = f.get_string_opt("tokenizer.chat_template")) line << ", chat template (" << t->size() << " bytes)";
    } catch (const gguf_error& e) {
        out << "tokenizer    malformed: " << e.what() << "\n";
        return;
    }
    out << "tokenizer    " << line.str() << "\n";
}

void print_gguf(std::ostream& out, const io::gguf_file& f, const parameter_count& p) {
    struct tally {
        std::uint64_t tensors = 0, elements = 0, bytes = 0;
    };
    std::map<std::string, tally> by_type;
    std::uint64_t all_bytes = 0, all_elements = 0;
    for (const auto& t : f.tensors()) {
        std::uint64_t n = 1;
        for (auto d : t.dims) n *= d;
        auto& k = by_type[std::string(name_of(t.type))];
        ++k.tensors;
        k.elements += n;
        k.bytes += t.bytes;
        all_bytes += t.bytes;
        all_elements += n;
    }
    std::error_code ec;
    out << "gguf         " << f.path() << ": version " << f.version() << ", " << f.tensors().size() << " tensors, "
        << bytes_text(all_bytes) << " of tensor data (" << bytes_text(fs::file_size(f.path(), ec)) << " file), "
        << num(std::round(8.0 * double(all_bytes) / double(std::max<std::uint64_t>(all_elements, 1)) * 100) / 100)
        << " bits per weight\n";
    for (const auto& [name, k] : by_type)
        out << "             " << name << ": " << k.tensors << " tensors, " << k.elements << " elements, "
            << bytes_text(k.bytes) << "\n";
    print_gguf_tokenizer(out, f);
    const auto total = static_cast<std::uint64_t>(p.total);
    out << "             " << all_elements << " elements"
        << (all_elements == total ? ": matches the config's parameter count\n"
                                  : " (the config's parameter count is " + std::to_string(total) +
                                        "; kv_b_proj may be split into attn_k_b/attn_v_b)\n");
}

}  // namespace

int run_info(args_t args) {
    if (args.empty()) throw usage_error("info: missing PATH (a model directory or a config.json)");
    if (args.size() > 1) throw usage_error("info: expected one PATH, got " + std::to_string(args.size()) + " arguments");
    const fs::path path{std::string(args[0])};
    std::error_code ec;
    if (!fs::exists(path, ec)) throw std::runtime_error(path.string() + ": no such file or directory");
    if (is_gguf_path(path)) {
        auto [c, file] = open_gguf_model(path, model_head::causal_lm);
        const parameter_count p = count_parameters(c, model_head::causal_lm);
        std::ostringstream out;
        out << "config       " << path.string() << " (GGUF metadata)\n";
        print_config(out, c);
        print_sizes(out, c, model_head::causal_lm, p);
        print_gguf(out, *file, p);
        std::cout << out.str();
        return 0;
    }
    const bool is_dir = fs::is_directory(path, ec);
    const fs::path config_file = is_dir ? path / "config.json" : path;
    const fs::path dir = is_dir ? path : (path.has_parent_path() ? path.parent_path() : fs::path("."));

    DeepseekV2Config c;
    try {
        c = load_config(config_file);
    } catch (const config_error& e) {  // io_error already names the file
        throw std::runtime_error(config_file.string() + ": " + e.what());
    }
    std::optional<io::checkpoint> checkpoint;
    if (has_weights(dir)) checkpoint.emplace(io::checkpoint::open(dir));
    // a DeepseekV2ForSequenceClassification checkpoint has a score head instead of the lm_head
    const model_head head =
        checkpoint && checkpoint->contains("score.weight") ? model_head::sequence_classification : model_head::causal_lm;
    const parameter_count p = count_parameters(c, head);

    std::ostringstream out;  // printed only once everything succeeded
    out << "config       " << config_file.string() << "\n";
    print_config(out, c);
    print_sizes(out, c, head, p);
    print_checkpoint(out, dir, checkpoint, p);
    std::cout << out.str();
    return 0;
}

}  // namespace dsv2::cli
