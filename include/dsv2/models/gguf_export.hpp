// Writing a model as a deepseek2 GGUF file that llama.cpp loads: the inverse of gguf_weights.hpp,
// with the tensor types of a chosen file type.
//
// Layout: llama.cpp's current one (what its convert_hf_to_gguf.py writes): routed experts fused
// into ffn_{gate,up,down}_exps {in, out, E}; kv_b_proj split into attn_k_b {d_nope, C, H} (each
// head's nope rows, transposed) and attn_v_b {C, d_v, H}, with attention.key_length_mla /
// value_length_mla; norms and the router gate (ffn_gate_inp) in F32.
//
// File types (gguf_file_type), per tensor:
//   f32, bf16, q8_0   every matrix in that type (1-D tensors and ffn_gate_inp F32), as
//                     llama.cpp's converter writes --outtype f32/bf16/q8_0.
//   q4_k_m            llama.cpp's LLAMA_FTYPE_MOSTLY_Q4_K_M rules for this architecture (read from
//                     its src/llama-quant.cpp): Q4_K by default; output.weight Q6_K; every
//                     ffn_down* tensor (dense, _exps, _shexp) of layer i Q6_K when use_more_bits(i, L)
//                     — i < L/8, or i ≥ 7L/8, or (i − L/8) mod 3 = 2 — else Q4_K. A row width that is
//                     not a whole number of 256-value blocks falls back as llama.cpp does: Q4_K → Q5_0,
//                     Q6_K → Q8_0, and a width that is not a multiple of 32 either → F16.
// The weights are re-quantised from their fp32 values (dequantised first when the model holds
// quantised weights), with ggml's reference quantisers (quant/quantize.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <span>
#include <stdexcept>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dsv2/config.hpp"
#include "dsv2/core/error.hpp"
#include "dsv2/models/gguf_weights.hpp"
#include "dsv2/quant/ggml_type.hpp"
#include "dsv2/quant/quantize.hpp"
#include "dsv2/io/gguf_vocab.hpp"
#include "dsv2/io/gguf_writer.hpp"

namespace dsv2 {

enum class gguf_file_type { f32, bf16, q8_0, q4_k_m };

/// "f32", "bf16", "q8_0", "q4_k_m" (case-insensitive); nullopt otherwise.
inline std::optional<gguf_file_type> parse_gguf_file_type(std::string_view s) {
    std::string t(s);
    for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (t == "f32") return gguf_file_type::f32;
    if (t == "bf16") return gguf_file_type::bf16;
    if (t == "q8_0") return gguf_file_type::q8_0;
    if (t == "q4_k_m") return gguf_file_type::q4_k_m;
    return std::nullopt;
}

/// llama.cpp's general.file_type ids (enum llama_ftype) of the types above.
constexpr std::uint32_t llama_ftype_of(gguf_file_type t) noexcept {
    switch (t) {
        case gguf_file_type::f32: return 0;      // LLAMA_FTYPE_ALL_F32
        case gguf_file_type::bf16: return 32;    // LLAMA_FTYPE_MOSTLY_BF16
        case gguf_file_type::q8_0: return 7;     // LLAMA_FTYPE_MOSTLY_Q8_0
        case gguf_file_type::q4_k_m: return 15;  // LLAMA_FTYPE_MOSTLY_Q4_K_M
    }
    return 0;
}

namespace detail::gguf_export {

/// llama.cpp's fallback for a row width that is not a whole number of `type`'s blocks.
inline ggml_type with_fallback(ggml_type type, std::uint64_t cols) {
    if (row_bytes(type, cols)) return type;
    ggml_type fallback = type;
    if (type == ggml_type::q4_k) fallback = ggml_type::q5_0;
    else if (type == ggml_type::q6_k) fallback = ggml_type::q8_0;
    if (row_bytes(fallback, cols)) return fallback;
    return ggml_type::f16;
}

inline bool use_more_bits(std::int64_t i, std::int64_t n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/// The layer of "blk.N.…", or -1.
inline std::int64_t layer_of(const std::string& name) {
    if (name.rfind("blk.", 0) != 0) return -1;
    const std::size_t dot = name.find('.', 4);
    return std::stoll(name.substr(4, dot - 4));
}

}  // namespace detail::gguf_export

/// The type of GGUF tensor `name` (a matrix whose rows hold `cols` values) in a file of type `t`,
/// for a model of `layers` layers (see the table at the top).
inline ggml_type gguf_tensor_type(gguf_file_type t, const std::string& name, std::uint64_t cols, std::int64_t layers) {
    namespace ge = detail::gguf_export;
    if (name.find("ffn_gate_inp") != std::string::npos || name.find("_norm.") != std::string::npos ||
        name.find(".bias") != std::string::npos)
        return ggml_type::f32;
    switch (t) {
        case gguf_file_type::f32: return ggml_type::f32;
        case gguf_file_type::bf16: return ggml_type::bf16;
        case gguf_file_type::q8_0: return ge::with_fallback(ggml_type::q8_0, cols);
        case gguf_file_type::q4_k_m: {
            if (name == "output.weight") return ge::with_fallback(ggml_type::q6_k, cols);
            if (name.find("ffn_down") != std::string::npos && ge::use_more_bits(ge::layer_of(name), layers))
                return ge::with_fallback(ggml_type::q6_k, cols);
            return ge::with_fallback(ggml_type::q4_k, cols);
        }
    }
    return ggml_type::f32;
}

/// One tensor of the file: name, GGUF dims (fastest first), type, and a producer that writes its
/// bytes (row_bytes(type, dims[0]) · rows) into the span it is given.
struct gguf_export_tensor {
    std::string name;
    std::vector<std::uint64_t> dims;
    ggml_type type = ggml_type::f32;
    std::function<void(std::span<std::byte>)> write;

    std::uint64_t bytes() const {
        std::uint64_t rows = 1;
        for (std::size_t i = 1; i < dims.size(); ++i) rows *= dims[i];
        return rows * row_bytes(type, dims[0]).value_or(0);
    }
};

namespace detail::gguf_export {

/// Writes rows [0, rows) of fp32 values produced by row_of(r, float*) as `type` (quantize_rows).
template <class RowOf>
void write_rows(std::span<std::byte> out, ggml_type type, std::int64_t rows, std::int64_t cols, RowOf&& row_of) {
    const std::size_t rb = static_cast<std::size_t>(row_bytes(type, static_cast<std::uint64_t>(cols)).value_or(0));
    if (out.size() != rb * static_cast<std::size_t>(rows))
        throw std::logic_error("gguf export: a tensor's byte count disagrees with its plan");
    quantize_rows(type, rows, cols, row_of, out.data());
}

}  // namespace detail::gguf_export

/// The tensors of a deepseek2 GGUF file of type `t` for host weights `w` (a causal LM's), in
/// llama.cpp's order (token_embd, layers, output_norm, output). The producers read `w`, which must
/// outlive the plan.
template <class Weights>
std::vector<gguf_export_tensor> plan_gguf_tensors(const Weights& w, const DeepseekV2Config& cfg, gguf_file_type t) {
    namespace ge = detail::gguf_export;
    namespace gw = detail::gguf_weights;
    auto U = [](std::int64_t v) { return static_cast<std::uint64_t>(v); };
    std::vector<gguf_export_tensor> plan;
    const std::int64_t L = cfg.num_hidden_layers, E = cfg.n_routed_experts;
    // fused experts: gathered per (layer, part) while visiting, emitted once complete
    struct fused {
        std::vector<const cpu_weight*> experts;
        std::int64_t rows = 0, cols = 0;
    };
    std::map<std::string, fused> fused_experts;

    visit_parameters("model.", [&](const std::string& name, parameter_kind, const auto& param) {
        using P = std::remove_cvref_t<decltype(param)>;
        const std::optional<gw::source> src = gw::source_of(name);
        if (!src)
            throw unsupported_error("GGUF export: parameter '" + name + "' has no place in a deepseek2 GGUF file "
                                    "(it holds a causal LM without biases)");
        if constexpr (std::is_same_v<P, cpu::vector>) {
            const cpu::vector* v = &param;
            plan.push_back({src->tensor, {U(param.size())}, ggml_type::f32, [v](std::span<std::byte> out) {
                                std::memcpy(out.data(), v->data(), static_cast<std::size_t>(v->size()) * sizeof(float));
                            }});
        } else {
            const cpu_weight* m = &param;
            const std::int64_t rows = m->rows(), cols = m->cols();
            if (src->kv_b) {  // split as llama.cpp's converter does
                const std::int64_t H = cfg.num_attention_heads, C = cfg.kv_lora_rank;
                const std::int64_t dn = cfg.qk_nope_head_dim, dv = cfg.v_head_dim, dkv = dn + dv;
                const std::string stem = src->tensor.substr(0, src->tensor.size() - std::string("attn_kv_b.weight").size());
                const ggml_type tk = gguf_tensor_type(t, stem + "attn_k_b.weight", U(dn), L);
                const ggml_type tv = gguf_tensor_type(t, stem + "attn_v_b.weight", U(C), L);
                plan.push_back({stem + "attn_k_b.weight", {U(dn), U(C), U(H)}, tk, [m, H, C, dn, dkv, tk](std::span<std::byte> out) {
                                    // row (h, c) = kv_b[h·dkv + i, c] for i < dn
                                    ge::write_rows(out, tk, H * C, dn, [&](std::int64_t r, float* dst) {
                                        const std::int64_t h = r / C, c = r % C;
                                        for (std::int64_t i = 0; i < dn; ++i) dst[i] = m->at(h * dkv + i, c);
                                    });
                                }});
                plan.push_back({stem + "attn_v_b.weight", {U(C), U(dv), U(H)}, tv, [m, H, dn, dv, dkv, tv, C](std::span<std::byte> out) {
                                    ge::write_rows(out, tv, H * dv, C, [&](std::int64_t r, float* dst) {
                                        const std::int64_t h = r / dv, j = r % dv;
                                        m->row_to_f32(h * dkv + dn + j, dst);
                                    });
                                }});
                return;
            }
            if (src->expert >= 0) {
                auto& f = fused_experts[src->tensor];
                if (f.experts.empty()) f.experts.assign(static_cast<std::size_t>(E), nullptr);
                f.experts[static_cast<std::size_t>(src->expert)] = m;
                f.rows = rows;
                f.cols = cols;
                if (std::find(f.experts.begin(), f.experts.end(), nullptr) == f.experts.end()) {
                    const ggml_type ty = gguf_tensor_type(t, src->tensor, U(cols), L);
                    std::vector<const cpu_weight*> experts = f.experts;
                    plan.push_back({src->tensor, {U(cols), U(rows), U(E)}, ty, [experts, rows, cols, ty](std::span<std::byte> out) {
                                        ge::write_rows(out, ty, rows * static_cast<std::int64_t>(experts.size()), cols,
                                                       [&](std::int64_t r, float* dst) {
                                                           experts[static_cast<std::size_t>(r / rows)]->row_to_f32(r % rows, dst);
                                                       });
                                    }});
                }
                return;
            }
            const ggml_type ty = gguf_tensor_type(t, src->tensor, U(cols), L);
            plan.push_back({src->tensor, {U(cols), U(rows)}, ty, [m, rows, cols, ty](std::span<std::byte> out) {
                                ge::write_rows(out, ty, rows, cols, [&](std::int64_t r, float* dst) { m->row_to_f32(r, dst); });
                            }});
        }
    }, w);
    return plan;
}

/// What save_gguf writes besides the tensors.
struct gguf_export_options {
    gguf_file_type type = gguf_file_type::bf16;
    std::string name = "DeepSeek-V2 (dsv2)";  ///< general.name
    /// The tokenizer keys (tokenizer.ggml.*, tokenizer.chat_template), e.g. io::gguf_vocab_from_hf
    /// of the checkpoint directory: what llama.cpp's converter writes for it.
    std::optional<io::gguf_vocab> vocab{};
    /// Extra metadata, called with the writer after the model's keys (and `vocab`'s): e.g. the
    /// tokenizer keys copied from another GGUF file. Without `vocab` and without it, the file says
    /// tokenizer.ggml.model "none" (llama.cpp then runs it on token ids only) and carries the
    /// config's bos/eos/pad ids.
    std::function<void(io::gguf_writer&)> extra_metadata{};
};

namespace detail::gguf_export {

/// The deepseek2.* keys of `cfg`; refuses what a deepseek2 GGUF file cannot say (naming the field).
inline void write_config(io::gguf_writer& out, const DeepseekV2Config& c) {
    auto refuse = [](const std::string& field, const std::string& why) {
        throw unsupported_error("GGUF export: " + field + ": " + why + " (llama.cpp's deepseek2 format cannot express it)");
    };
    if (c.hidden_act != "silu") refuse("hidden_act", "'" + c.hidden_act + "' is not silu");
    if (c.attention_bias || c.mlp_bias) refuse(c.attention_bias ? "attention_bias" : "mlp_bias", "biases are not part of the format");
    if (c.moe_layer_freq != 1) refuse("moe_layer_freq", "must be 1");
    if (c.topk_method != "greedy" && c.topk_method != "group_limited_greedy") refuse("topk_method", "'" + c.topk_method + "'");
    const auto& r = c.rope_parameters;
    if (r.rope_type == "yarn" && r.mscale.value_or(0) != r.mscale_all_dim.value_or(0))
        refuse("rope_parameters.mscale", "differs from mscale_all_dim (llama.cpp takes them equal)");
    if (r.rope_type == "yarn" && r.attention_factor) refuse("rope_parameters.attention_factor", "is set");
    auto U32 = [](std::int64_t v) { return static_cast<std::uint32_t>(v); };
    const std::string a = "deepseek2.";
    out.set_u32(a + "block_count", U32(c.num_hidden_layers));
    out.set_u32(a + "context_length", U32(c.max_position_embeddings));
    out.set_u32(a + "embedding_length", U32(c.hidden_size));
    out.set_u32(a + "feed_forward_length", U32(c.intermediate_size));
    out.set_u32(a + "attention.head_count", U32(c.num_attention_heads));
    out.set_u32(a + "attention.head_count_kv", 1);  // MLA as MQA over the latent, as llama.cpp writes
    out.set_f32(a + "rope.freq_base", static_cast<float>(r.rope_theta));
    out.set_f32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
    out.set_u32(a + "leading_dense_block_count", U32(c.n_routed_experts > 0 ? c.first_k_dense_replace : c.num_hidden_layers));
    out.set_u32(a + "vocab_size", U32(c.vocab_size));
    // 0 for "no q LoRA": llama.cpp's loader requires the key unless the model has 26/27 layers
    out.set_u32(a + "attention.q_lora_rank", U32(c.q_lora_rank.value_or(0)));
    out.set_u32(a + "attention.kv_lora_rank", U32(c.kv_lora_rank));
    out.set_u32(a + "attention.key_length", U32(c.kv_lora_rank + c.qk_rope_head_dim));
    out.set_u32(a + "attention.value_length", U32(c.kv_lora_rank));
    out.set_u32(a + "attention.key_length_mla", U32(c.qk_head_dim()));
    out.set_u32(a + "attention.value_length_mla", U32(c.v_head_dim));
    out.set_u32(a + "rope.dimension_count", U32(c.qk_rope_head_dim));
    if (c.n_routed_experts > 0) {
        out.set_u32(a + "expert_feed_forward_length", U32(c.moe_intermediate_size));
        out.set_u32(a + "expert_count", U32(c.n_routed_experts));
        out.set_u32(a + "expert_used_count", U32(*c.num_experts_per_tok));
        out.set_u32(a + "expert_shared_count", U32(c.n_shared_experts.value_or(0)));
        out.set_f32(a + "expert_weights_scale", static_cast<float>(c.routed_scaling_factor));
        if (c.norm_topk_prob) out.set_bool(a + "expert_weights_norm", true);
        out.set_u32(a + "expert_gating_func", c.scoring_func == "sigmoid" ? 2 : 1);
        if (c.n_group) {  // as llama.cpp's converter: whenever the config names groups
            out.set_u32(a + "expert_group_count", U32(*c.n_group));
            out.set_u32(a + "expert_group_used_count", U32(c.topk_group.value_or(*c.n_group)));
        }
    } else {
        out.set_u32(a + "expert_feed_forward_length", U32(c.intermediate_size));
        out.set_u32(a + "expert_shared_count", 0);
    }
    if (r.rope_type == "yarn") {
        out.set_string(a + "rope.scaling.type", "yarn");
        out.set_f32(a + "rope.scaling.factor", static_cast<float>(c.yarn_factor()));
        if (r.original_max_position_embeddings)
            out.set_u32(a + "rope.scaling.original_context_length", U32(*r.original_max_position_embeddings));
        out.set_f32(a + "rope.scaling.yarn_beta_fast", static_cast<float>(r.beta_fast.value_or(32.0)));
        out.set_f32(a + "rope.scaling.yarn_beta_slow", static_cast<float>(r.beta_slow.value_or(1.0)));
        if (r.mscale_all_dim) out.set_f32(a + "rope.scaling.yarn_log_multiplier", static_cast<float>(0.1 * *r.mscale_all_dim));
    }
}

}  // namespace detail::gguf_export

/// Writes host weights `w` of a causal LM (config `cfg`) as a deepseek2 GGUF file at `path`: the
/// keys llama.cpp reads, the tensors of plan_gguf_tensors, quantised tensor by tensor (one tensor in
/// memory at a time). The file appears complete or not at all (io::gguf_writer).
template <class Weights>
void save_gguf(const std::filesystem::path& path, const Weights& w, const DeepseekV2Config& cfg,
               const gguf_export_options& options = {}) {
    io::gguf_writer out(path);
    out.set_string("general.architecture", "deepseek2");
    out.set_string("general.type", "model");
    out.set_string("general.name", options.name);
    out.set_u32("general.file_type", llama_ftype_of(options.type));
    out.set_u32("general.quantization_version", 2);
    detail::gguf_export::write_config(out, cfg);
    if (options.vocab) options.vocab->write(out);
    if (options.extra_metadata) options.extra_metadata(out);
    if (!options.vocab && !options.extra_metadata) {
        out.set_string("tokenizer.ggml.model", "none");
        if (cfg.bos_token_id) out.set_u32("tokenizer.ggml.bos_token_id", static_cast<std::uint32_t>(*cfg.bos_token_id));
        if (!cfg.eos_token_id.empty())
            out.set_u32("tokenizer.ggml.eos_token_id", static_cast<std::uint32_t>(cfg.eos_token_id.front()));
        if (cfg.pad_token_id) out.set_u32("tokenizer.ggml.padding_token_id", static_cast<std::uint32_t>(*cfg.pad_token_id));
    }
    const std::vector<gguf_export_tensor> plan = plan_gguf_tensors(w, cfg, options.type);
    for (const auto& t : plan) out.add_tensor(t.name, t.dims, t.type);
    std::size_t next = 0;
    out.write([&](const io::gguf_tensor_plan& t, std::span<std::byte> bytes) {
        const gguf_export_tensor& p = plan[next++];
        if (p.name != t.name) throw std::logic_error("gguf export: tensors written out of order");
        p.write(bytes);
    });
}

}  // namespace dsv2
