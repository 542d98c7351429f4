// libFuzzer target: bytes -> chat_template (parse) -> render with a fixed small conversation.
// Only dsv2::error (syntax, render, limit, raise_exception, unsupported) may escape; anything else
// (another exception type, a crash, a sanitizer report, a hang past -timeout, memory past
// -rss_limit_mb) is a bug. The limits are lowered so that a hostile input fails fast.
//
//   cmake --preset fuzz && cmake --build --preset fuzz --target fuzz_chat_template
//   build/fuzz/tests/fuzz/fuzz_chat_template -max_total_time=60 <scratch dir> tests/fuzz/corpus/chat_template
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include <dsv2/text/chat_template.hpp>

namespace {

const nlohmann::ordered_json& conversation() {
    static const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(R"([
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi <｜User｜> {{ x }}"},
        {"role": "assistant", "content": "<think>hm</think>Hello", "tool_calls": [
            {"type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
        {"role": "tool", "content": "42"},
        {"role": "user", "content": ""}])");
    return messages;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string source(reinterpret_cast<const char*>(data), size);
    try {
        dsv2::chat_template t(source, "<s>", "</s>", "fuzz");
        t.set_limits(dsv2::jinja::limits{1 << 20, 20'000, 64});
        for (bool agp : {false, true}) {
            try {
                (void)t.render_ordered(conversation(), agp, nlohmann::ordered_json{{"thinking", agp}, {"n", 3}});
            } catch (const dsv2::error&) {
            }
        }
    } catch (const dsv2::error&) {
    }
    return 0;
}
