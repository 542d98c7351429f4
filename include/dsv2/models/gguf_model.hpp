// Opening a deepseek2 GGUF file as a model: which paths are GGUF files, and the config + mapped
// file that DeepseekV2Model::load_pretrained fills the weights tree from (models/gguf_weights.hpp).
#pragma once

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include "dsv2/config.hpp"
#include "dsv2/io/gguf.hpp"
#include "dsv2/io/config_json.hpp"
#include "dsv2/io/gguf_config.hpp"
#include "dsv2/models/gguf_weights.hpp"
#include "dsv2/models/model_head.hpp"

namespace dsv2 {

/// A path from_pretrained reads as a GGUF file: a name ending in ".gguf" (any case) that is not a
/// directory. (Whether it is a regular, readable GGUF file is gguf_file::open's to check, with
/// errors that name it.)
inline bool is_gguf_path(const std::filesystem::path& path) {
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::error_code ec;
    return ext == ".gguf" && !std::filesystem::is_directory(path, ec);
}

/// The config of a deepseek2 GGUF file and the file itself (mapped; weights view it in place). A
/// config rule a key breaks is reported as an io::gguf_error naming the file and the key.
inline std::pair<DeepseekV2Config, std::shared_ptr<const io::gguf_file>> open_gguf_model(const std::filesystem::path& path,
                                                                                         model_head head) {
    auto file = std::make_shared<const io::gguf_file>(io::gguf_file::open(path));
    if (head == model_head::sequence_classification)
        throw unsupported_error(file->path() + ": GGUF files hold a causal language model; a sequence-classification "
                                               "head needs a Hugging Face checkpoint with score.weight");
    DeepseekV2Config cfg;
    try {
        cfg = config_from_gguf(*file);
        cfg.validate();
    } catch (const config_error& e) {
        throw gguf_error(file->path(), gguf_error::subject::key, e.field(), e.what());
    }
    return {std::move(cfg), std::move(file)};
}

/// The config of a model path: a GGUF file's metadata, else config.json (load_config).
inline DeepseekV2Config load_model_config(const std::filesystem::path& path) {
    if (is_gguf_path(path)) return open_gguf_model(path, model_head::causal_lm).first;
    return load_config(path);
}

}  // namespace dsv2
