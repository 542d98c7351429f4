// libFuzzer target: bytes -> JSON -> dsv2::tokenizer::from_json -> encode/decode a few texts.
// Only dsv2::error may escape the loader, encode and decode; anything else (another exception
// type, a crash, a sanitizer report, a leak) is a bug.
//   build/fuzz/tests/fuzz/fuzz_tokenizer_json -max_total_time=60 <scratch dir> tests/fuzz/corpus/tokenizer_json
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <dsv2/text/tokenizer.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return 0;
    try {
        const auto tok = dsv2::tokenizer::from_json(j, "fuzz.json");
        for (const char* text : {"", "Hello world, 123 <s> x", "  \r\n\t中文 😀 é", "<special> word <L>"}) {
            try {
                const auto ids = tok.encode(text, true);
                (void)tok.decode(ids, false);
                (void)tok.decode(ids, true);
            } catch (const dsv2::error&) {
            }
        }
        const std::vector<std::int64_t> probe{0, 1, 2, tok.vocab_size() - 1, tok.vocab_size()};
        try {
            (void)tok.decode(probe);
        } catch (const dsv2::error&) {
        }
    } catch (const dsv2::error&) {
    }
    return 0;
}
