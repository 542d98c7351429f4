// libFuzzer target: arbitrary bytes -> encode with the real DeepSeek-V3 tokenizer (loaded once)
// -> decode, and the streaming decoder over the same ids. Invalid UTF-8 must give input_error;
// valid input must round-trip through decode when it has no added-token text; only dsv2::error
// may escape.
//   build/fuzz/tests/fuzz/fuzz_tokenizer_encode -max_total_time=60 <scratch dir> tests/fuzz/corpus/tokenizer_encode
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <dsv2/text/tokenizer.hpp>

#ifndef DSV2_FIXTURE_DIR
#error "DSV2_FIXTURE_DIR must name tests/fixtures"
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const dsv2::tokenizer tok =
        dsv2::tokenizer::from_directory(std::string(DSV2_FIXTURE_DIR) + "/tokenizers/deepseek-v3");
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const bool valid = !dsv2::text::utf8_first_invalid(text);
    std::vector<std::int64_t> ids;
    try {
        ids = tok.encode(text, true);
    } catch (const dsv2::input_error&) {
        if (valid) std::abort();  // valid UTF-8 is always encodable
        return 0;
    }
    if (!valid) std::abort();
    for (auto id : ids) {
        if (id < 0 || id >= tok.vocab_size()) std::abort();
    }
    const std::string back = tok.decode(ids);
    // The DeepSeek-V3 pipeline is lossless (byte-level, no normalizer).
    if (back != text) std::abort();
    dsv2::incremental_decoder stream(tok);
    std::string streamed;
    for (auto id : ids) {
        const std::string piece = stream.push(id);
        if (dsv2::text::utf8_first_invalid(piece)) std::abort();
        streamed += piece;
    }
    streamed += stream.flush();
    if (streamed != back) std::abort();
    (void)tok.decode(ids, true);
    return 0;
}
