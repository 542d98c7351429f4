// dsv2::tokenizer from the vocabulary a GGUF file carries (tokenizer.ggml.*): the keys are read and
// validated by io::read_gguf_vocab, turned into the tokenizer.json they stand for
// (io::tokenizer_json_of: tokenizer.ggml.pre names the exact pre-tokenizer, control / user-defined
// tokens become added tokens with their ids, unused "[PAD<i>]" tokens are left out), and built by
// dsv2::tokenizer::from_json. For a file converted from a Hugging Face directory, the tokenizer
// encodes and decodes as that directory's tokenizer.json does (tests/text/test_gguf_tokenizer.cpp).
//
// Needs Oniguruma: link the dsv2::text CMake target.
#pragma once

#include <filesystem>
#include <string>

#include "dsv2/io/gguf.hpp"
#include "dsv2/io/gguf_vocab.hpp"
#include "dsv2/text/tokenizer.hpp"

namespace dsv2 {

/// The tokenizer of the keys `v` (read from a GGUF file named `source`).
inline tokenizer tokenizer_from_gguf_vocab(const io::gguf_vocab& v, std::string source) {
    return tokenizer::from_json(io::tokenizer_json_of(v), std::move(source));
}

/// The tokenizer of GGUF file `f`. A missing or malformed key is a gguf_error naming the file, the
/// key and the index; a tokenizer.ggml.model other than "gpt2" or a tokenizer.ggml.pre dsv2 does not
/// know is an unsupported_error naming the key and the value (io/gguf_vocab.hpp).
inline tokenizer tokenizer_from_gguf(const io::gguf_file& f) { return tokenizer_from_gguf_vocab(io::read_gguf_vocab(f), f.path()); }

/// Opens `path` (io::gguf_file::open) and reads its tokenizer.
inline tokenizer tokenizer_from_gguf(const std::filesystem::path& path) { return tokenizer_from_gguf(io::gguf_file::open(path)); }

}  // namespace dsv2
