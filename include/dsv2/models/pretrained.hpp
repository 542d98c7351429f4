// Filling model weights: from a Hugging Face checkpoint, at random from a seed, and back to disk.
//
// Checkpoint names are transformers' (see visit_parameters). Routed experts are read either one by
// one (`mlp.experts.E.gate_proj.weight`, ...) or fused (`mlp.experts.gate_up_proj` [E, 2I, H] with
// the gate rows first, `mlp.experts.down_proj` [E, H, I]). F32, BF16 and F16 are converted to fp32.
#pragma once

#include <cstring>
#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "dsv2/io/checkpoint.hpp"
#include "dsv2/io/config_json.hpp"
#include "dsv2/io/safetensors.hpp"
#include "dsv2/models/model_weights.hpp"

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

/// `count` elements of `view` starting at element `first`, converted to fp32.
inline void convert_slice(const io::tensor_view& view, std::int64_t first, std::int64_t count, float* out) {
    io::tensor_view slice = view;
    const auto elem = static_cast<std::int64_t>(size_of(view.type));
    slice.bytes = view.bytes.subspan(static_cast<std::size_t>(first * elem), static_cast<std::size_t>(count * elem));
    slice.shape = {count};
    io::to_float(slice, std::span<float>(out, static_cast<std::size_t>(count)));
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

/// Options of from_pretrained: a progress callback, called after each tensor with the bytes read so
/// far and the checkpoint's total (for a progress bar while loading a large checkpoint).
struct load_options {
    std::function<void(std::uint64_t done_bytes, std::uint64_t total_bytes)> progress{};
};

/// Fills `w` (allocated for `cfg`) from the checkpoint. Missing tensors and wrong shapes are
/// checkpoint_errors naming the tensor (and both shapes).
inline void load_weights(cpu_model_weights& w, const DeepseekV2Config& cfg, const io::checkpoint& ckpt,
                         const load_options& options = {}) {
    const std::string prefix = detail::decoder_prefix(ckpt);
    std::uint64_t total = 0, done = 0;
    for (const auto& [type, bytes] : ckpt.bytes_by_dtype()) total += bytes;
    visit_parameters(w, cfg, prefix, [&](const std::string& name, float* data, const shape_t& shape, parameter_kind) {
        const std::int64_t n = tensor<float>::count(shape);
        auto tick = [&](std::uint64_t bytes) {
            done += bytes;
            if (options.progress) options.progress(std::min(done, total), total);
        };
        std::string wanted = name;
        if (prefix.empty() && name.rfind("model.", 0) == 0) wanted = name.substr(6);
        if (ckpt.contains(wanted)) {
            const auto view = ckpt.get(wanted, shape);
            io::to_float(view, std::span<float>(data, static_cast<std::size_t>(n)));
            tick(view.bytes.size());
            return;
        }
        std::int64_t layer = 0, expert = 0;
        std::string part;
        if (detail::parse_expert_name(name, "model.", layer, expert, part)) {
            const std::string fused = prefix + "layers." + std::to_string(layer) + ".mlp.experts.";
            const std::int64_t E = cfg.n_routed_experts, I = cfg.moe_intermediate_size, H = cfg.hidden_size;
            if (part == "down_proj" && ckpt.contains(fused + "down_proj")) {
                const auto v = ckpt.get(fused + "down_proj", shape_t{E, H, I});
                detail::convert_slice(v, expert * H * I, H * I, data);
                tick(static_cast<std::uint64_t>(H * I) * size_of(v.type));
                return;
            }
            if ((part == "gate_proj" || part == "up_proj") && ckpt.contains(fused + "gate_up_proj")) {
                const auto v = ckpt.get(fused + "gate_up_proj", shape_t{E, 2 * I, H});
                const std::int64_t first = expert * 2 * I * H + (part == "up_proj" ? I * H : 0);
                detail::convert_slice(v, first, I * H, data);
                tick(static_cast<std::uint64_t>(I * H) * size_of(v.type));
                return;
            }
        }
        ckpt.get(wanted);  // throws checkpoint_error naming the missing tensor
    });
}

/// Random weights as transformers initialises them: normal(0, initializer_range) for Linear and
/// embedding weights, ones for norms, zeros for biases. The same seed gives the same weights.
inline void init_random_weights(cpu_model_weights& w, const DeepseekV2Config& cfg, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, static_cast<float>(cfg.initializer_range));
    visit_parameters(w, cfg, "model.", [&](const std::string&, float* data, const shape_t& shape, parameter_kind kind) {
        const std::int64_t n = tensor<float>::count(shape);
        for (std::int64_t i = 0; i < n; ++i)
            data[i] = kind == parameter_kind::weight ? normal(rng) : (kind == parameter_kind::norm ? 1.0f : 0.0f);
    });
}

/// The weight dtype a checkpoint is written in.
enum class save_dtype { f32, bf16 };

/// Writes config.json (transformers v5 spelling, with `architectures`) and model.safetensors
/// (per-expert names) into `dir`, which transformers' from_pretrained loads.
inline void save_weights(const std::filesystem::path& dir, const cpu_model_weights& w, const DeepseekV2Config& cfg,
                         const std::string& architecture, save_dtype dt = save_dtype::f32) {
    std::filesystem::create_directories(dir);
    std::vector<io::tensor_to_write> entries;
    std::vector<std::vector<std::uint16_t>> bf16_buffers;
    visit_parameters(w, cfg, "model.", [&](const std::string& name, const float* data, const shape_t& shape, parameter_kind) {
        const auto n = static_cast<std::size_t>(tensor<float>::count(shape));
        if (dt == save_dtype::bf16) {
            auto& buf = bf16_buffers.emplace_back(n);
            for (std::size_t i = 0; i < n; ++i) buf[i] = float_to_bf16(data[i]);
            entries.push_back({name, dtype::bf16, shape, std::as_bytes(std::span<const std::uint16_t>(buf))});
        } else {
            entries.push_back({name, dtype::f32, shape, std::as_bytes(std::span<const float>(data, n))});
        }
    });
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
