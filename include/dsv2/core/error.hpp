// The typed exceptions of dsv2. Every message names the culprit: the config field, the file and
// tensor, or the argument and index that broke a rule.
#pragma once

#include <stdexcept>
#include <string>

namespace dsv2 {

/// Base of every exception dsv2 throws on purpose.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A DeepseekV2Config value is missing, mistyped or breaks a rule (`field` names it).
class config_error : public error {
public:
    config_error(std::string field, const std::string& rule)
        : error("config: " + field + ": " + rule), field_(std::move(field)) {}
    const std::string& field() const noexcept { return field_; }

private:
    std::string field_;
};

/// A file could not be read or written, or its contents are malformed (`path` names the file).
class io_error : public error {
public:
    io_error(std::string path, const std::string& what)
        : error(path + ": " + what), path_(std::move(path)) {}
    const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
};

/// A safetensors file breaks the format (`tensor` names the entry, empty for the header itself).
class safetensors_error : public io_error {
public:
    safetensors_error(const std::string& path, std::string tensor, const std::string& what)
        : io_error(path, (tensor.empty() ? std::string() : "tensor '" + tensor + "': ") + what),
          tensor_(std::move(tensor)) {}
    const std::string& tensor() const noexcept { return tensor_; }

private:
    std::string tensor_;
};

/// A GGUF file breaks the format, or a value in it is not what the caller asked for
/// (`key_or_tensor` names the metadata key or the tensor; empty for the header itself). The message
/// says which of the two it is: "<path>: key 'k': ..." or "<path>: tensor 't': ...".
class gguf_error : public io_error {
public:
    enum class subject { file, key, tensor };
    gguf_error(const std::string& path, subject kind, std::string key_or_tensor, const std::string& what)
        : io_error(path, prefix(kind, key_or_tensor) + what), kind_(kind), name_(std::move(key_or_tensor)) {}
    const std::string& key_or_tensor() const noexcept { return name_; }
    subject kind() const noexcept { return kind_; }

private:
    static std::string prefix(subject kind, const std::string& name) {
        switch (kind) {
            case subject::key: return "key '" + name + "': ";
            case subject::tensor: return "tensor '" + name + "': ";
            default: return std::string();
        }
    }
    subject kind_;
    std::string name_;
};

/// A checkpoint lacks a tensor the model needs, or holds one of the wrong shape.
class checkpoint_error : public io_error {
public:
    using io_error::io_error;
};

/// A call's arguments are inconsistent: shapes, token ids, masks, labels, lengths.
class input_error : public error {
public:
    input_error(std::string argument, const std::string& what)
        : error(argument + ": " + what), argument_(std::move(argument)) {}
    const std::string& argument() const noexcept { return argument_; }

private:
    std::string argument_;
};

/// A cache is used with a model, batch or length it does not fit.
class cache_error : public error {
public:
    using error::error;
};

/// An option or combination that dsv2 does not implement (yet).
class unsupported_error : public error {
public:
    using error::error;
};

}  // namespace dsv2
