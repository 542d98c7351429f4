// Filling model weights: from a Hugging Face checkpoint, at random from a seed, and back to disk.
//
// Checkpoint names are transformers' (see visit_parameters). Routed experts are read either one by
// one (`mlp.experts.E.gate_proj.weight`, ...) or fused (`mlp.experts.gate_up_proj` [E, 2I, H] with
// the gate rows first, `mlp.experts.down_proj` [E, H, I]). Matrices keep the checkpoint's bf16
// (mapped in place) unless load_options say otherwise; a parameter typed fp32_kept (weights/) and
// every F16 tensor become fp32. Every function here is generic over the host weights tree.
#pragma once

#include <cstring>
#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "dsv2/io/checkpoint.hpp"
#include "dsv2/io/config_json.hpp"
#include "dsv2/io/safetensors.hpp"
#include "dsv2/backend/cpu/storage.hpp"
#include "dsv2/core/tensor.hpp"
#include "dsv2/weights/model.hpp"

namespace dsv2 {

namespace detail {

/// "model.layers.3.mlp.experts.7.up_proj.weight" -> {layer 3, expert 7, "up_proj"}; false otherwise.
inline bool parse_expert_name(const std::string& name, const std::string& prefix, std::int64_t& layer,
                              std::int64_t& expert, std::string& part) {
    const std::string head = prefix + "layers.";
    if (name.rfind(head, 0) != 0) return false;
    std::size_t pos = head.size();
    const std::size_t dot = name.find('.', pos);
    if (dot == std::string::npos) return false;
    const std::string rest = name.substr(dot);
    const std::string marker = ".mlp.experts.";
    if (rest.rfind(marker, 0) != 0) return false;
    layer = std::stoll(name.substr(pos, dot - pos));
    pos = dot + marker.size();
    const std::size_t dot2 = name.find('.', pos);
    if (dot2 == std::string::npos) return false;
    const std::string e = name.substr(pos, dot2 - pos);
    if (e.empty() || e.find_first_not_of("0123456789") != std::string::npos) return false;
    expert = std::stoll(e);
    const std::size_t dot3 = name.find('.', dot2 + 1);
    part = name.substr(dot2 + 1, dot3 - dot2 - 1);
    return true;
}

/// The elements [first, first + count) of `view` as a view of their own.
inline io::tensor_view slice_view(const io::tensor_view& view, std::int64_t first, std::int64_t count) {
    io::tensor_view slice = view;
    const auto elem = static_cast<std::int64_t>(size_of(view.type));
    slice.bytes = view.bytes.subspan(static_cast<std::size_t>(first * elem), static_cast<std::size_t>(count * elem));
    slice.shape = {count};
    return slice;
}

/// The prefix under which the decoder's tensors are stored: "model." for checkpoints of models with
/// a head (and for ours), "" for a bare DeepseekV2Model saved by transformers.
inline std::string decoder_prefix(const io::checkpoint& ckpt) {
    if (ckpt.contains("model.embed_tokens.weight")) return "model.";
    if (ckpt.contains("embed_tokens.weight")) return "";
    throw checkpoint_error(ckpt.files().empty() ? std::string("checkpoint") : ckpt.files().front().parent_path().string(),
                           "tensor 'model.embed_tokens.weight' is missing");
}

}  // namespace detail

/// Options of from_pretrained.
struct load_options {
    /// Storage of the weight matrices: absent keeps the checkpoint's dtype (bf16 stays bf16, mapped
    /// from the file without a copy; f16 becomes f32); f32 or bf16 converts. Norms, biases and the
    /// matrices the weights tree types fp32_kept (kv_b_proj, the router gate) are always fp32.
    std::optional<dtype> weight_dtype{};
    /// Called after each tensor with the bytes read so far and the checkpoint's total (for a
    /// progress bar while loading a large checkpoint).
    std::function<void(std::uint64_t done_bytes, std::uint64_t total_bytes)> progress{};
    /// Quantise the weight matrices at load (q8_0, q4_k, q6_k, q5_0, q4_0): for a safetensors
    /// checkpoint without a GGUF file. Each as_loaded matrix is quantised row by row with ggml's
    /// reference quantiser; a row width that is not a whole number of the type's blocks falls back
    /// as llama.cpp does (q4_k → q5_0, q6_k → q8_0; else bf16). Parameters typed fp32_kept stay fp32.
    /// Ignored for GGUF files (their own types are kept; weight_dtype converts them).
    std::optional<ggml_type> quantize{};
    /// Map every page of the weights viewed in place while loading (io::populate): loading then
    /// reads the whole checkpoint and the first forward pays no page faults (measured: the first
    /// prefill of the 4.5 GB bench checkpoint otherwise spends ~1 s in them). false: pages are
    /// mapped on first use, which suits a checkpoint larger than memory.
    bool populate = true;
};

namespace detail {

/// A matrix parameter from checkpoint data: a view of the mapped file when the stored dtype is the
/// one wanted (and aligned), otherwise an owned conversion.
inline cpu_weight weight_from(const io::tensor_view& v, std::int64_t rows, std::int64_t cols, dtype wanted,
                              const std::shared_ptr<const void>& owner, bool populate) {
    const auto address = reinterpret_cast<std::uintptr_t>(v.bytes.data());
    const bool view_bf16 = wanted == dtype::bf16 && v.type == dtype::bf16 && address % 2 == 0;
    const bool view_f32 = wanted == dtype::f32 && v.type == dtype::f32 && address % alignof(float) == 0;
    if ((view_bf16 || view_f32) && populate) io::populate(v.bytes);
    if (view_bf16) return cpu_weight::bf16_view(rows, cols, v.bytes.data(), owner);
    if (view_f32) return cpu_weight::f32_view(rows, cols, v.bytes.data(), owner);
    if (wanted == dtype::bf16) {
        std::vector<float> f = io::to_float(v);
        std::vector<std::uint16_t> bits(f.size());
        for (std::size_t i = 0; i < f.size(); ++i) bits[i] = float_to_bf16(f[i]);
        return cpu_weight::bf16_owned(rows, cols, std::move(bits));
    }
    cpu_weight w = cpu_weight::zeros(rows, cols);
    io::to_float(v, std::span<float>(w.mutable_f32(), static_cast<std::size_t>(rows * cols)));
    return w;
}

/// `w` quantised to `type` row by row (llama.cpp's fallback when its rows are not whole blocks:
/// q4_k → q5_0, q6_k → q8_0, then bf16).
inline cpu_weight quantized(const cpu_weight& w, ggml_type type) {
    if (!is_block_quantized(type) || !is_supported_weight_type(type))
        throw unsupported_error("load_options::quantize: " + std::string(name_of(type)) +
                                " is not a quantised type dsv2 computes with (q8_0, q4_0, q5_0, q4_K, q6_K)");
    const auto cols = static_cast<std::uint64_t>(w.cols());
    if (!row_bytes(type, cols)) {
        if (type == ggml_type::q4_k) type = ggml_type::q5_0;
        else if (type == ggml_type::q6_k) type = ggml_type::q8_0;
    }
    if (!row_bytes(type, cols)) {  // not whole blocks of 32 either: bf16
        if (w.format() == ggml_type::bf16) return w;
        std::vector<std::uint16_t> bits(static_cast<std::size_t>(w.rows() * w.cols()));
        std::vector<float> row(static_cast<std::size_t>(w.cols()));
        for (std::int64_t r = 0; r < w.rows(); ++r) {
            w.row_to_f32(r, row.data());
            for (std::int64_t c = 0; c < w.cols(); ++c) bits[static_cast<std::size_t>(r * w.cols() + c)] = float_to_bf16(row[static_cast<std::size_t>(c)]);
        }
        return cpu_weight::bf16_owned(w.rows(), w.cols(), std::move(bits));
    }
    std::vector<std::byte> bytes(static_cast<std::size_t>(*row_bytes(type, cols)) * static_cast<std::size_t>(w.rows()));
    quantize_rows(type, w.rows(), w.cols(), [&w](std::int64_t r, float* out) { w.row_to_f32(r, out); }, bytes.data());
    return cpu_weight::format_owned(type, w.rows(), w.cols(), std::move(bytes));
}

/// Whether a host matrix parameter is typed fp32 (matrix_t<host_storage, fp32_kept>).
template <class Param>
inline constexpr bool fp32_typed = std::is_same_v<std::remove_cvref_t<Param>, fp32_weight>;

}  // namespace detail

/// Fills `w` (allocated for `cfg`) from the checkpoint, which `ckpt` keeps mapped for as long as a
/// weight views it. Missing tensors and wrong shapes are checkpoint_errors naming the tensor (and
/// both shapes).
template <class Weights>
void load_weights(Weights& w, const DeepseekV2Config& cfg, std::shared_ptr<const io::checkpoint> ckpt,
                  const load_options& options = {}) {
    const std::string prefix = detail::decoder_prefix(*ckpt);
    const std::shared_ptr<const void> owner = ckpt;
    std::uint64_t total = 0, done = 0;
    for (const auto& [type, bytes] : ckpt->bytes_by_dtype()) total += bytes;
    auto tick = [&](std::uint64_t bytes) {
        done += bytes;
        if (options.progress) options.progress(std::min(done, total), total);
    };
    visit_parameters(prefix, [&](const std::string& name, parameter_kind, auto& param) {
        using param_type = std::remove_cvref_t<decltype(param)>;
        std::string wanted = name;
        if (prefix.empty() && name.rfind("model.", 0) == 0) wanted = name.substr(6);
        if constexpr (std::is_same_v<param_type, cpu::vector>) {
            const auto view = ckpt->get(wanted, shape_t{static_cast<std::int64_t>(param.size())});
            io::to_float(view, std::span<float>(param.data(), static_cast<std::size_t>(param.size())));
            tick(view.bytes.size());
        } else {
            const std::int64_t rows = param.rows(), cols = param.cols();
            auto storage_for = [&](dtype stored) {
                if constexpr (detail::fp32_typed<param_type>) return dtype::f32;
                if (options.weight_dtype) return *options.weight_dtype;
                return stored == dtype::bf16 ? dtype::bf16 : dtype::f32;
            };
            // the weight as stored (or converted), then quantised when asked
            auto finish = [&](cpu_weight w) {
                if constexpr (!detail::fp32_typed<param_type>)
                    if (options.quantize) w = detail::quantized(w, *options.quantize);
                param = param_type(std::move(w));
            };
            if (ckpt->contains(wanted)) {
                const auto view = ckpt->get(wanted, shape_t{rows, cols});
                finish(detail::weight_from(view, rows, cols, storage_for(view.type), owner, options.populate && !options.quantize));
                tick(view.bytes.size());
                return;
            }
            std::int64_t layer = 0, expert = 0;
            std::string part;
            if (detail::parse_expert_name(name, "model.", layer, expert, part)) {
                const std::string fused = prefix + "layers." + std::to_string(layer) + ".mlp.experts.";
                const std::int64_t E = cfg.n_routed_experts, I = cfg.moe_intermediate_size, H = cfg.hidden_size;
                if (part == "down_proj" && ckpt->contains(fused + "down_proj")) {
                    const auto v = detail::slice_view(ckpt->get(fused + "down_proj", shape_t{E, H, I}), expert * H * I, H * I);
                    finish(detail::weight_from(v, rows, cols, storage_for(v.type), owner, options.populate && !options.quantize));
                    tick(v.bytes.size());
                    return;
                }
                if ((part == "gate_proj" || part == "up_proj") && ckpt->contains(fused + "gate_up_proj")) {
                    const std::int64_t first = expert * 2 * I * H + (part == "up_proj" ? I * H : 0);
                    const auto v = detail::slice_view(ckpt->get(fused + "gate_up_proj", shape_t{E, 2 * I, H}), first, I * H);
                    finish(detail::weight_from(v, rows, cols, storage_for(v.type), owner, options.populate && !options.quantize));
                    tick(v.bytes.size());
                    return;
                }
            }
            ckpt->get(wanted);  // throws checkpoint_error naming the missing tensor
        }
    }, w);
}

/// Random weights as transformers initialises them: normal(0, initializer_range) for Linear and
/// embedding weights, ones for norms, zeros for biases. Matrices are stored as `storage` (fp32, or
/// bf16 for benchmarks of real-size models); the same seed gives the same weights.
template <class Weights>
void init_random_weights(Weights& w, const DeepseekV2Config& cfg, std::uint64_t seed, dtype storage = dtype::f32) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, static_cast<float>(cfg.initializer_range));
    visit_parameters("model.", [&](const std::string&, parameter_kind kind, auto& param) {
        using param_type = std::remove_cvref_t<decltype(param)>;
        if constexpr (std::is_same_v<param_type, cpu::vector>) {
            param.setConstant(kind == parameter_kind::norm ? 1.0f : 0.0f);
        } else {
            const std::int64_t n = param.rows() * param.cols();
            if (storage == dtype::bf16 && !detail::fp32_typed<param_type>) {
                std::vector<std::uint16_t> bits(static_cast<std::size_t>(n));
                for (auto& b : bits) b = float_to_bf16(normal(rng));
                param = param_type(cpu_weight::bf16_owned(param.rows(), param.cols(), std::move(bits)));
            } else {
                param = param_type(cpu_weight::zeros(param.rows(), param.cols()));
                float* data = param.mutable_f32();
                for (std::int64_t i = 0; i < n; ++i) data[i] = normal(rng);
            }
        }
    }, w);
}

/// The weight dtype a checkpoint is written in.
enum class save_dtype { f32, bf16 };

/// Writes config.json (transformers v5 spelling, with `architectures`) and model.safetensors
/// (per-expert names) into `dir`, which transformers' from_pretrained loads.
template <class Weights>
void save_weights(const std::filesystem::path& dir, const Weights& w, const DeepseekV2Config& cfg,
                  const std::string& architecture, save_dtype dt = save_dtype::f32) {
    std::filesystem::create_directories(dir);
    std::vector<io::tensor_to_write> entries;
    std::vector<std::vector<std::uint16_t>> bf16_buffers;
    std::vector<std::vector<float>> f32_buffers;
    visit_parameters("model.", [&](const std::string& name, parameter_kind, const auto& param) {
        using param_type = std::remove_cvref_t<decltype(param)>;
        shape_t shape;
        std::vector<float> values;  // the parameter in fp32, unless it can be written as stored
        if constexpr (std::is_same_v<param_type, cpu::vector>) {
            shape = {static_cast<std::int64_t>(param.size())};
            values.assign(param.data(), param.data() + param.size());
        } else {
            shape = {param.rows(), param.cols()};
            const auto n = static_cast<std::size_t>(param.rows() * param.cols());
            if (param.format() == ggml_type::bf16 && dt == save_dtype::bf16) {  // as stored: no rounding twice
                entries.push_back({name, dtype::bf16, shape,
                                   std::as_bytes(std::span<const std::uint16_t>(param.bf16(), n))});
                return;
            }
            values.resize(n);
            for (std::int64_t r = 0; r < param.rows(); ++r) param.row_to_f32(r, values.data() + r * param.cols());
        }
        if (dt == save_dtype::bf16) {
            auto& buf = bf16_buffers.emplace_back(values.size());
            for (std::size_t i = 0; i < values.size(); ++i) buf[i] = float_to_bf16(values[i]);
            entries.push_back({name, dtype::bf16, shape, std::as_bytes(std::span<const std::uint16_t>(buf))});
        } else {
            auto& buf = f32_buffers.emplace_back(std::move(values));
            entries.push_back({name, dtype::f32, shape, std::as_bytes(std::span<const float>(buf))});
        }
    }, w);
    io::write_safetensors(dir / "model.safetensors", entries, {{"format", "pt"}});
    DeepseekV2Config out = cfg;
    out.torch_dtype = dt == save_dtype::bf16 ? "bfloat16" : "float32";
    auto j = to_json(out);
    j["architectures"] = nlohmann::json::array({architecture});
    std::ofstream f(dir / "config.json");
    if (!f) throw io_error((dir / "config.json").string(), "cannot be written");
    f << j.dump(2) << "\n";
    if (!f) throw io_error((dir / "config.json").string(), "write failed");
}

}  // namespace dsv2
