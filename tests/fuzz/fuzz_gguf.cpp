// libFuzzer target: gguf_file::parse on arbitrary bytes, then every metadata value read through
// every accessor and every tensor's data touched at both ends. A dsv2::error is the expected way
// to refuse input (also for an accessor asked for the wrong type); any other exception escapes and
// aborts the run (libFuzzer reports it as a crash), as do sanitizer findings. The tokenizer keys
// go through io::read_gguf_vocab's validation and, in a build with dsv2::text
// (DSV2_FUZZ_WITH_TEXT), through dsv2::tokenizer_from_gguf and one encode/decode.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dsv2/io/gguf.hpp"
#include "dsv2/io/gguf_vocab.hpp"
#ifdef DSV2_FUZZ_WITH_TEXT
#include "dsv2/text/gguf_tokenizer.hpp"
#endif

namespace {

volatile std::uint64_t sink;
volatile double float_sink;

void touch(const dsv2::io::gguf_value& v) {
    auto attempt = [](auto&& f) {
        try {
            f();
        } catch (const dsv2::error&) {
        }
    };
    attempt([&] { sink = v.as_u64(); });
    attempt([&] { sink = static_cast<std::uint64_t>(v.as_i64()); });
    attempt([&] { float_sink = v.as_f64(); });
    attempt([&] { sink = v.as_bool(); });
    attempt([&] { sink = v.as_string().size(); });
    if (!v.is_array()) return;
    for (std::size_t i = 0; i < v.size(); ++i) {
        attempt([&] { sink = v.u64_at(i); });
        attempt([&] { float_sink = v.f64_at(i); });
        attempt([&] { sink = v.string_at(i).size(); });
        attempt([&] { touch(v.array_at(i)); });
    }
    attempt([&] { sink = v.to_i64_vector().size(); });
    attempt([&] { (void)v.size(); (void)v.array_at(v.size()); });  // one past the end: must throw
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::byte> bytes(size);
    for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>(data[i]);
    try {
        const auto file = dsv2::io::gguf_file::parse(std::move(bytes), "fuzz.gguf");
        for (const auto& [key, value] : file.metadata()) {
            if (file.find(key) != &value) __builtin_trap();
            touch(value);
        }
        for (const auto& t : file.tensors()) {
            if (file.find_tensor(t.name) != &t || t.data.size() != t.bytes) __builtin_trap();
            if (t.dims.empty() || t.dims.size() > 4) __builtin_trap();
            if (!t.data.empty()) sink = std::to_integer<std::uint64_t>(t.data.front()) + std::to_integer<std::uint64_t>(t.data.back());
            if ((file.data_offset() + t.offset) % file.alignment() != 0) __builtin_trap();
        }
        if (file.find("tokenizer.ggml.model")) {
            const auto vocab = dsv2::io::read_gguf_vocab(file);
            if (vocab.token_types.size() != vocab.tokens.size()) __builtin_trap();
#ifdef DSV2_FUZZ_WITH_TEXT
            const auto tok = dsv2::tokenizer_from_gguf_vocab(vocab, file.path());
            const auto ids = tok.encode("Hello, world! 123 <|end|>", false);
            sink = tok.decode(ids).size();
#endif
        }
    } catch (const dsv2::error&) {
        // refused: fine
    }
    return 0;
}
