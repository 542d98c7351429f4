// Filling the host weights tree from a deepseek2 GGUF file (llama.cpp's layout), in place.
//
// Names. visit_parameters gives transformers' names; each maps to one GGUF tensor (llama.cpp's
// src/llama-arch.cpp names, N the layer):
//
//   model.embed_tokens.weight                       token_embd.weight
//   model.norm.weight / lm_head.weight              output_norm.weight / output.weight
//   model.layers.N.input_layernorm.weight           blk.N.attn_norm.weight
//   model.layers.N.post_attention_layernorm.weight  blk.N.ffn_norm.weight
//   ...self_attn.q_proj | q_a_proj | q_a_layernorm | q_b_proj   blk.N.attn_q | attn_q_a | attn_q_a_norm | attn_q_b
//   ...self_attn.kv_a_proj_with_mqa | kv_a_layernorm            blk.N.attn_kv_a_mqa | attn_kv_a_norm
//   ...self_attn.kv_b_proj                          blk.N.attn_kv_b, or split into attn_k_b + attn_v_b
//   ...self_attn.o_proj                             blk.N.attn_output
//   ...mlp.gate_proj | up_proj | down_proj (dense)  blk.N.ffn_gate | ffn_up | ffn_down
//   ...mlp.gate.weight (router)                     blk.N.ffn_gate_inp.weight
//   ...mlp.gate.e_score_correction_bias             blk.N.exp_probs_b.bias
//   ...mlp.shared_experts.{gate,up,down}_proj       blk.N.ffn_{gate,up,down}_shexp
//   ...mlp.experts.E.{gate,up,down}_proj            expert E of blk.N.ffn_{gate,up,down}_exps [E, out, in]
//                                                   (or of the fused ffn_gate_up_exps [E, 2·I, H], gate first)
//
// Shapes. GGUF lists dimensions fastest first: a Linear [out, in] is stored with dims {in, out},
// the fused experts with dims {in, out, E}; expert E's matrix is the E-th block of out rows.
//
// Storage. Matrices of the tree typed as_loaded keep the file's format and are views of the mapped
// file (f32, f16, bf16, and GGML's block formats: no copy, no dequantised copy);
// load_options::weight_dtype converts them instead (f32 or bf16). Parameters typed
// fp32_kept (kv_b_proj, the router gate) are dequantised to owned fp32 — kv_b_proj from the split
// attn_k_b [H, C, d_nope] (stored transposed per head) and attn_v_b [H, d_v, C] when the file has
// them. Norm weights are fp32 vectors (dequantised if stored otherwise).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "dsv2/backend/cpu/storage.hpp"
#include "dsv2/io/gguf.hpp"
#include "dsv2/io/mapped_file.hpp"
#include "dsv2/models/pretrained.hpp"
#include "dsv2/quant/dequantize.hpp"
#include "dsv2/quant/quantize.hpp"
#include "dsv2/weights/model.hpp"

namespace dsv2 {

namespace detail::gguf_weights {

/// Where a transformers parameter lives in a deepseek2 GGUF file.
struct source {
    std::string tensor;         ///< GGUF tensor name
    std::int64_t expert = -1;   ///< the expert's block of a fused [.., E] tensor, or -1
    bool fused_up = false;      ///< the up half of ffn_gate_up_exps (else the gate half)
    bool kv_b = false;          ///< kv_b_proj: attn_kv_b, or attn_k_b + attn_v_b
};

/// The GGUF source of `name` (transformers' name under "model."), nullopt for a name GGUF files do
/// not hold (a classification head, biases).
inline std::optional<source> source_of(const std::string& name) {
    if (name == "model.embed_tokens.weight") return source{"token_embd.weight"};
    if (name == "model.norm.weight") return source{"output_norm.weight"};
    if (name == "lm_head.weight") return source{"output.weight"};
    const std::string head = "model.layers.";
    if (name.rfind(head, 0) != 0) return std::nullopt;
    const std::size_t dot = name.find('.', head.size());
    if (dot == std::string::npos) return std::nullopt;
    const std::string layer = name.substr(head.size(), dot - head.size());
    const std::string rest = name.substr(dot + 1);  // e.g. "self_attn.q_proj.weight"
    const std::string blk = "blk." + layer + ".";
    struct pair {
        const char* hf;
        const char* gguf;
    };
    static constexpr pair table[] = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.q_a_proj.weight", "attn_q_a.weight"},
        {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
        {"self_attn.q_b_proj.weight", "attn_q_b.weight"},
        {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"},
        {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"},
        {"self_attn.o_proj.weight", "attn_output.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},
        {"mlp.gate.weight", "ffn_gate_inp.weight"},
        {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias"},
        {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"},
        {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
        {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"},
    };
    for (const auto& p : table)
        if (rest == p.hf) return source{blk + p.gguf};
    if (rest == "self_attn.kv_b_proj.weight") return source{blk + "attn_kv_b.weight", -1, false, true};
    const std::string experts = "mlp.experts.";
    if (rest.rfind(experts, 0) == 0) {
        const std::size_t e_end = rest.find('.', experts.size());
        if (e_end == std::string::npos) return std::nullopt;
        const std::string e = rest.substr(experts.size(), e_end - experts.size());
        if (e.empty() || e.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
        const std::string part = rest.substr(e_end + 1);
        const std::int64_t expert = std::stoll(e);
        if (part == "gate_proj.weight") return source{blk + "ffn_gate_exps.weight", expert};
        if (part == "up_proj.weight") return source{blk + "ffn_up_exps.weight", expert};
        if (part == "down_proj.weight") return source{blk + "ffn_down_exps.weight", expert};
    }
    return std::nullopt;
}

/// GGUF dims from sizes (fastest first).
template <class... Sizes>
std::vector<std::uint64_t> dims_of(Sizes... sizes) {
    return std::vector<std::uint64_t>{static_cast<std::uint64_t>(sizes)...};
}

inline std::string dims_text(const std::vector<std::uint64_t>& dims) {
    std::string s = "{";
    for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "}";
}

/// The tensor `name` with GGUF dims `dims` (fastest first), or a checkpoint_error naming it.
inline const io::gguf_tensor_info& tensor(const io::gguf_file& f, const std::string& name,
                                          const std::vector<std::uint64_t>& dims) {
    const io::gguf_tensor_info* t = f.find_tensor(name);
    if (!t) throw checkpoint_error(f.path(), "tensor '" + name + "' is missing");
    if (t->dims != dims)
        throw checkpoint_error(f.path(), "tensor '" + name + "' has dims " + dims_text(t->dims) + ", the config needs " +
                                             dims_text(dims) + " (GGUF order: fastest first)");
    return *t;
}

/// Rows [first, first + rows) of a GGUF tensor whose rows hold `cols` values.
inline const std::byte* rows_at(const io::gguf_tensor_info& t, std::int64_t first, std::int64_t cols) {
    const std::uint64_t row = row_bytes(t.type, static_cast<std::uint64_t>(cols)).value_or(0);
    return t.data.data() + static_cast<std::size_t>(first) * row;
}

/// rows × cols values of type `type` at `data` as fp32 (row by row).
inline std::vector<float> to_f32(ggml_type type, const std::byte* data, std::int64_t rows, std::int64_t cols) {
    std::vector<float> out(static_cast<std::size_t>(rows * cols));
    const std::uint64_t row = row_bytes(type, static_cast<std::uint64_t>(cols)).value_or(0);
    for (std::int64_t r = 0; r < rows; ++r)
        dequantize_row(type, data + static_cast<std::size_t>(r) * row, out.data() + r * cols, cols);
    return out;
}

inline cpu_weight owned_f32(std::vector<float> values, std::int64_t rows, std::int64_t cols) {
    cpu_weight w = cpu_weight::zeros(rows, cols);
    std::copy(values.begin(), values.end(), w.mutable_f32());
    return w;
}

/// A matrix of the tree (as_loaded) from GGUF rows: in place when the format has kernels, else
/// converted (f16 → f32; load_options::weight_dtype → that dtype).
inline cpu_weight weight_from(const io::gguf_tensor_info& t, const std::byte* data, std::int64_t rows,
                              std::int64_t cols, const std::shared_ptr<const void>& owner, const load_options& options,
                              const std::string& path) {
    const auto convert_to = options.weight_dtype;
    if (!convert_to) {
        if (!is_supported_weight_type(t.type))
            throw unsupported_error(path + ": tensor '" + t.name + "' is stored as " + std::string(name_of(t.type)) +
                                    ", which dsv2 cannot compute with (supported: f32, f16, bf16, q8_0, q4_0, "
                                    "q5_0, q4_K, q6_K)");
        const std::size_t bytes = static_cast<std::size_t>(rows) * row_bytes(t.type, static_cast<std::uint64_t>(cols)).value_or(0);
        if (options.populate) io::populate(std::span<const std::byte>(data, bytes));
        return cpu_weight::format_view(t.type, rows, cols, data, owner);
    }
    if (!is_supported_weight_type(t.type))
        throw unsupported_error(path + ": tensor '" + t.name + "' is stored as " + std::string(name_of(t.type)) +
                                ", which dsv2 cannot read");
    std::vector<float> values = to_f32(t.type, data, rows, cols);
    if (convert_to && *convert_to == dtype::bf16) {
        std::vector<std::uint16_t> bits(values.size());
        for (std::size_t i = 0; i < values.size(); ++i) bits[i] = float_to_bf16(values[i]);
        return cpu_weight::bf16_owned(rows, cols, std::move(bits));
    }
    return owned_f32(std::move(values), rows, cols);
}

/// kv_b_proj [H·(d_nope + d_v), C] in fp32 from attn_kv_b, or from the split attn_k_b (per head
/// the transpose [C, d_nope] of kv_b's nope rows: dims {d_nope, C, H}) and attn_v_b ([d_v, C] per
/// head: dims {C, d_v, H}).
inline std::vector<float> kv_b_f32(const io::gguf_file& f, const std::string& kv_b_name, const DeepseekV2Config& cfg) {
    const std::int64_t H = cfg.num_attention_heads, C = cfg.kv_lora_rank;
    const std::int64_t dn = cfg.qk_nope_head_dim, dv = cfg.v_head_dim, dkv = dn + dv;
    if (f.find_tensor(kv_b_name)) {
        const auto& t = tensor(f, kv_b_name, dims_of(C, H * dkv));
        return to_f32(t.type, t.data.data(), H * dkv, C);
    }
    const std::string stem = kv_b_name.substr(0, kv_b_name.size() - std::string("attn_kv_b.weight").size());
    if (!f.find_tensor(stem + "attn_k_b.weight"))
        throw checkpoint_error(f.path(), "tensor '" + kv_b_name + "' is missing (and so is the split '" + stem +
                                             "attn_k_b.weight' / 'attn_v_b.weight')");
    const auto& kb = tensor(f, stem + "attn_k_b.weight", dims_of(dn, C, H));
    const auto& vb = tensor(f, stem + "attn_v_b.weight", dims_of(C, dv, H));
    const std::vector<float> k = to_f32(kb.type, kb.data.data(), H * C, dn);  // [H, C, dn]
    const std::vector<float> v = to_f32(vb.type, vb.data.data(), H * dv, C);  // [H, dv, C]
    std::vector<float> out(static_cast<std::size_t>(H * dkv * C));
    for (std::int64_t h = 0; h < H; ++h) {
        for (std::int64_t i = 0; i < dn; ++i)
            for (std::int64_t c = 0; c < C; ++c)
                out[static_cast<std::size_t>((h * dkv + i) * C + c)] = k[static_cast<std::size_t>((h * C + c) * dn + i)];
        for (std::int64_t j = 0; j < dv; ++j)
            for (std::int64_t c = 0; c < C; ++c)
                out[static_cast<std::size_t>((h * dkv + dn + j) * C + c)] = v[static_cast<std::size_t>((h * dv + j) * C + c)];
    }
    return out;
}

}  // namespace detail::gguf_weights

/// Fills `w` (allocated for `cfg`, from config_from_gguf) from a deepseek2 GGUF file, which `file`
/// keeps mapped for as long as a weight views it. Missing tensors and wrong dims are
/// checkpoint_errors naming the tensor; a format dsv2 has no kernel for is an unsupported_error
/// naming the tensor and the format.
template <class Weights>
void load_gguf_weights(Weights& w, const DeepseekV2Config& cfg, std::shared_ptr<const io::gguf_file> file,
                       const load_options& options = {}) {
    namespace gw = detail::gguf_weights;
    const io::gguf_file& f = *file;
    const std::shared_ptr<const void> owner = file;
    std::uint64_t total = 0, done = 0;
    for (const auto& t : f.tensors()) total += t.bytes;
    auto tick = [&](std::uint64_t bytes) {
        done += bytes;
        if (options.progress) options.progress(std::min(done, total), total);
    };
    auto U = [](std::int64_t v) { return static_cast<std::uint64_t>(v); };
    visit_parameters("model.", [&](const std::string& name, parameter_kind, auto& param) {
        using param_type = std::remove_cvref_t<decltype(param)>;
        const std::optional<gw::source> src = gw::source_of(name);
        if (!src)
            throw unsupported_error(f.path() + ": parameter '" + name +
                                    "' has no counterpart in deepseek2 GGUF files (they hold a causal LM without biases)");
        if constexpr (std::is_same_v<param_type, cpu::vector>) {
            const std::int64_t n = param.size();
            const auto& t = gw::tensor(f, src->tensor, gw::dims_of(n));
            const std::vector<float> v = gw::to_f32(t.type, t.data.data(), 1, n);
            std::copy(v.begin(), v.end(), param.data());
            tick(t.bytes);
        } else {
            const std::int64_t rows = param.rows(), cols = param.cols();
            if (src->kv_b) {  // fp32_kept in the tree, or as_loaded: either way assembled in fp32
                std::vector<float> v = gw::kv_b_f32(f, src->tensor, cfg);
                param = param_type(gw::owned_f32(std::move(v), rows, cols));
                tick(U(rows * cols) * 2);
                return;
            }
            const io::gguf_tensor_info* t = nullptr;
            const std::byte* data = nullptr;
            if (src->expert < 0) {
                t = &gw::tensor(f, src->tensor, gw::dims_of(cols, rows));
                data = t->data.data();
            } else {
                const std::int64_t E = cfg.n_routed_experts;
                const bool is_gate_or_up = src->tensor.find("ffn_down_exps") == std::string::npos;
                const std::string fused = src->tensor.substr(0, src->tensor.find("ffn_")) + "ffn_gate_up_exps.weight";
                if (is_gate_or_up && !f.find_tensor(src->tensor) && f.find_tensor(fused)) {
                    t = &gw::tensor(f, fused, gw::dims_of(cols, 2 * rows, E));
                    const bool up = src->tensor.find("ffn_up_exps") != std::string::npos;
                    data = gw::rows_at(*t, src->expert * 2 * rows + (up ? rows : 0), cols);
                } else {
                    t = &gw::tensor(f, src->tensor, gw::dims_of(cols, rows, E));
                    data = gw::rows_at(*t, src->expert * rows, cols);
                }
            }
            if constexpr (detail::fp32_typed<param_type>) {
                param = param_type(gw::owned_f32(gw::to_f32(t->type, data, rows, cols), rows, cols));
            } else {
                param = param_type(gw::weight_from(*t, data, rows, cols, owner, options, f.path()));
            }
            tick(U(rows) * row_bytes(t->type, U(cols)).value_or(0));
        }
    }, w);
}

}  // namespace dsv2
