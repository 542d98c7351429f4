// Token ids back to text while generating, one row at a time — what stop strings are matched on
// and what a streaming caller prints. generate() stays tokenizer-agnostic: it takes a factory of
// per-row incremental decoders, and any type with `std::string push(std::int64_t id)` plugs in
// (byte_tokenizer's byte_text_decoder, dsv2::tokenizer's incremental_decoder):
//
//     auto decoders = dsv2::text_decoders([&tok] { return dsv2::incremental_decoder{tok}; });
//
// push(id) returns the text that id completes: "" while a UTF-8 character is still incomplete, and
// "" for special tokens the decoder skips.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace dsv2 {

/// One row's incremental detokenizer.
class incremental_text_decoder {
public:
    virtual ~incremental_text_decoder() = default;
    /// The text completed by `id`.
    virtual std::string push(std::int64_t id) = 0;
};

/// Makes a fresh decoder for one row; generate() calls it once per row of the batch.
using text_decoder_factory = std::function<std::unique_ptr<incremental_text_decoder>()>;

/// Any type with `push(id) -> std::string`.
template <class D>
concept pushes_text = requires(D d, std::int64_t id) {
    { d.push(id) } -> std::convertible_to<std::string>;
};

namespace detail {
template <pushes_text D>
class text_decoder_adaptor final : public incremental_text_decoder {
public:
    explicit text_decoder_adaptor(D d) : d_(std::move(d)) {}
    std::string push(std::int64_t id) override { return d_.push(id); }

private:
    D d_;
};
}  // namespace detail

/// A factory from `make`, a callable returning a fresh decoder (any pushes_text type) on each call.
template <class Make>
    requires pushes_text<std::invoke_result_t<Make&>>
text_decoder_factory text_decoders(Make make) {
    return [make = std::move(make)]() mutable -> std::unique_ptr<incremental_text_decoder> {
        using D = std::invoke_result_t<Make&>;
        return std::make_unique<detail::text_decoder_adaptor<D>>(make());
    };
}

}  // namespace dsv2
