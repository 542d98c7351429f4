// checkpoint: the weights of a Hugging Face model directory, single-file or sharded.
//
// checkpoint::open(dir) looks, in this order (the order transformers uses), for
//   1. dir/model.safetensors (one file);
//   2. dir/model.safetensors.index.json + the shards its weight_map names;
//   3. else a single *.safetensors.index.json in dir (a checkpoint written with another prefix);
//   4. else a single *.safetensors file in dir.
// A path to a .safetensors file, or to a *.safetensors.index.json, is accepted too. Nothing found,
// or several candidates and no way to choose, is a checkpoint_error that lists what the folder holds
// (and says so when it holds only pytorch_model*.bin weights, which dsv2 does not read).
//
// A sharded checkpoint is checked strictly against its index (each failure a checkpoint_error
// naming the file and the tensor): the index is JSON without repeated keys; its "weight_map" is an
// object of tensor -> shard file name (a plain name inside dir; "metadata", if present, is an
// object; its total_size is informative and not checked); every shard named exists (the error
// names the shard and a tensor it should hold) and is a valid safetensors file (else the
// safetensors_error of that file); no tensor lives in two shards; every tensor of the index is in
// the shard it is listed for; every tensor of a shard is listed, for that shard. Shards that the
// index does not name are ignored.
//
// Views returned by get() point into the mapped files: they stay valid while the checkpoint lives.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsv2/core/dtype.hpp"
#include "dsv2/core/error.hpp"
#include "dsv2/io/mapped_file.hpp"
#include "dsv2/io/safetensors.hpp"

namespace dsv2::io {

/// The tensors of one model checkpoint (one safetensors file, or an index and its shards).
class checkpoint {
public:
    /// Opens a model directory (or a .safetensors / .safetensors.index.json file) and validates it.
    static checkpoint open(const std::filesystem::path& path) {
        namespace fs = std::filesystem;
        std::error_code ec;
        if (fs::is_regular_file(path, ec)) {
            const std::string name = path.filename().string();
            if (ends_with(name, ".safetensors.index.json")) return from_index(path, path);
            return from_single(path, path);
        }
        if (!fs::is_directory(path, ec)) throw checkpoint_error(path.string(), "no such file or directory");

        if (fs::is_regular_file(path / "model.safetensors", ec))
            return from_single(path, path / "model.safetensors");
        if (fs::is_regular_file(path / "model.safetensors.index.json", ec))
            return from_index(path, path / "model.safetensors.index.json");

        std::vector<fs::path> indexes, singles, others;
        for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
            std::error_code type_ec;
            if (!it->is_regular_file(type_ec)) continue;  // follows symlinks (the hub cache uses them)
            const std::string name = it->path().filename().string();
            if (ends_with(name, ".safetensors.index.json"))
                indexes.push_back(it->path());
            else if (ends_with(name, ".safetensors"))
                singles.push_back(it->path());
            else if (ends_with(name, ".bin") || ends_with(name, ".pt") || ends_with(name, ".pth") ||
                     ends_with(name, ".gguf"))
                others.push_back(it->path());
        }
        if (ec) throw checkpoint_error(path.string(), "cannot list the directory: " + ec.message());
        std::sort(indexes.begin(), indexes.end());
        std::sort(singles.begin(), singles.end());
        std::sort(others.begin(), others.end());
        if (indexes.size() == 1) return from_index(path, indexes.front());
        if (indexes.empty() && singles.size() == 1) return from_single(path, singles.front());

        std::string what;
        if (indexes.size() > 1)
            what = "several safetensors indexes and no model.safetensors.index.json: " + list(indexes);
        else if (singles.size() > 1)
            what = "several .safetensors files, no model.safetensors and no index: " + list(singles);
        else {
            what =
                "no safetensors weights (looked for model.safetensors, model.safetensors.index.json, "
                "*.safetensors.index.json, *.safetensors)";
            if (!others.empty())
                what += "; found only " + list(others) + ", which dsv2 does not read: convert to safetensors";
        }
        throw checkpoint_error(path.string(), what);
    }

    /// Whether the checkpoint holds a tensor of that name.
    bool contains(std::string_view name) const { return where_.find(name) != where_.end(); }

    /// A zero-copy view of a tensor. Missing -> checkpoint_error naming the tensor and the checkpoint.
    tensor_view get(std::string_view name) const {
        const auto it = where_.find(name);
        if (it == where_.end())
            throw checkpoint_error(root_.string(), "tensor '" + std::string(name) +
                                                       "' not found (the checkpoint holds " +
                                                       std::to_string(where_.size()) + " tensors in " +
                                                       std::to_string(files_.size()) + " file(s))");
        return shards_[it->second].view(name);
    }

    /// As get(name), and checks the shape: a mismatch is a checkpoint_error naming the tensor, its
    /// file, the expected and the actual shape ("[64, 32] expected, file has [64, 33]").
    tensor_view get(std::string_view name, std::span<const std::int64_t> expected_shape) const {
        tensor_view v = get(name);
        if (!std::equal(v.shape.begin(), v.shape.end(), expected_shape.begin(), expected_shape.end()))
            throw checkpoint_error(v.file, "tensor '" + v.name + "': shape " + shape_string(expected_shape) +
                                               " expected, file has " + shape_string(v.shape));
        return v;
    }

    /// Every tensor name, sorted.
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        out.reserve(where_.size());
        for (const auto& [name, shard] : where_) out.push_back(name);
        return out;
    }

    std::size_t tensor_count() const noexcept { return where_.size(); }

    /// Bytes of tensor data per dtype.
    std::map<dtype, std::uint64_t> bytes_by_dtype() const {
        std::map<dtype, std::uint64_t> out;
        for (const auto& f : shards_)
            for (const auto& e : f.entries()) out[e.type] += e.end - e.begin;
        return out;
    }

    /// Elements per dtype (a scalar counts 1).
    std::map<dtype, std::uint64_t> elements_by_dtype() const {
        std::map<dtype, std::uint64_t> out;
        for (const auto& f : shards_)
            for (const auto& e : f.entries()) out[e.type] += (e.end - e.begin) / size_of(e.type);
        return out;
    }

    /// The safetensors files read, in shard order (one file for a single-file checkpoint).
    const std::vector<std::filesystem::path>& files() const noexcept { return files_; }

    /// The directory or file the checkpoint was opened from.
    const std::filesystem::path& root() const noexcept { return root_; }

private:
    static bool ends_with(std::string_view s, std::string_view suffix) noexcept {
        return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
    }

    static std::string list(const std::vector<std::filesystem::path>& paths) {
        std::string s;
        for (const auto& p : paths) s += (s.empty() ? "" : ", ") + p.filename().string();
        return s;
    }

    static checkpoint from_single(const std::filesystem::path& root, const std::filesystem::path& file) {
        checkpoint c;
        c.root_ = root;
        c.shards_.push_back(safetensors_file::open(file));
        c.files_.push_back(file);
        for (const auto& e : c.shards_.front().entries()) c.where_.emplace(e.name, 0);
        return c;
    }

    static checkpoint from_index(const std::filesystem::path& root, const std::filesystem::path& index_path) {
        namespace fs = std::filesystem;
        const std::string ip = index_path.string();
        auto fail = [&](const std::string& what) -> void { throw checkpoint_error(ip, what); };

        const mapped_file raw = mapped_file::open(index_path);
        const std::string_view text(reinterpret_cast<const char*>(raw.bytes().data()), raw.bytes().size());
        if (const auto nul = text.find('\0'); nul != std::string_view::npos)  // nlohmann would stop there
            fail("index: not valid JSON: NUL byte at offset " + std::to_string(nul));
        const nlohmann::json index = detail::safetensors::parse_json_strict(
            text, 1 << 20, [&](const std::string&, const std::string& what) { fail("index: " + what); });
        if (!index.is_object())
            fail(std::string("index is not a JSON object (it is ") + index.type_name() + ")");
        if (const auto m = index.find("metadata"); m != index.end() && !m->is_object())
            fail(std::string("index 'metadata' must be an object, got ") + m->type_name());
        const auto wm = index.find("weight_map");
        if (wm == index.end()) fail("index lacks 'weight_map'");
        if (!wm->is_object())
            fail(std::string("index 'weight_map' must be an object, got ") + wm->type_name());

        // shard file name -> the tensors the index puts there
        std::map<std::string, std::vector<std::string>> listed;
        for (const auto& [tensor, shard] : wm->items()) {
            if (!shard.is_string())
                fail("weight_map: tensor '" + tensor + "' maps to " + shard.type_name() + " " +
                     detail::safetensors::clip_json(shard) + ", not a file name");
            const auto& s = shard.get_ref<const std::string&>();
            if (s.empty() || s == "." || s == ".." || s.find_first_of("/\\") != std::string::npos ||
                s.find('\0') != std::string::npos)
                fail("weight_map: tensor '" + tensor + "' maps to '" + detail::safetensors::clip(s) +
                     "', which is not a plain file name in the checkpoint's folder");
            listed[s].push_back(tensor);
        }

        checkpoint c;
        c.root_ = root;
        const fs::path dir = index_path.parent_path();
        for (const auto& [shard, tensors] : listed) {
            const fs::path p = dir / shard;
            std::error_code ec;
            if (!fs::exists(p, ec))
                throw checkpoint_error(
                    p.string(),
                    "shard missing: " + index_path.filename().string() + " lists it as holding tensor '" +
                        tensors.front() + "'" +
                        (tensors.size() > 1 ? " and " + std::to_string(tensors.size() - 1) + " more"
                                            : std::string()));
            c.shards_.push_back(safetensors_file::open(p));
            c.files_.push_back(p);
        }

        // Where each tensor really is; no tensor in two shards.
        std::map<std::string, std::size_t, std::less<>> found;
        for (std::size_t i = 0; i < c.shards_.size(); ++i)
            for (const auto& e : c.shards_[i].entries()) {
                const auto [it, fresh] = found.emplace(e.name, i);
                if (!fresh)
                    throw checkpoint_error(ip, "tensor '" + e.name + "' is present in two shards: " +
                                                   c.files_[it->second].filename().string() + " and " +
                                                   c.files_[i].filename().string());
            }
        // The index and the shards agree.
        std::size_t shard_no = 0;
        for (const auto& [shard, tensors] : listed) {
            for (const auto& t : tensors) {
                const auto it = found.find(t);
                if (it == found.end())
                    throw checkpoint_error(
                        ip, "tensor '" + t + "' is listed for shard " + shard +
                                " but is absent from it (and from every other shard of the index)");
                if (it->second != shard_no)
                    throw checkpoint_error(ip, "tensor '" + t + "' is listed for shard " + shard +
                                                   " but found in shard " +
                                                   c.files_[it->second].filename().string());
            }
            ++shard_no;
        }
        for (const auto& [name, shard] : found) {
            if (!wm->contains(name))
                throw checkpoint_error(ip, "tensor '" + name + "' of shard " +
                                               c.files_[shard].filename().string() +
                                               " is not listed in the index's weight_map");
        }
        c.where_ = std::move(found);
        return c;
    }

    std::filesystem::path root_;
    std::vector<std::filesystem::path> files_;
    std::vector<safetensors_file> shards_;                   // parallel to files_
    std::map<std::string, std::size_t, std::less<>> where_;  // tensor -> index into shards_
};

}  // namespace dsv2::io
