// libFuzzer target: safetensors_file::parse on arbitrary bytes, then every floating tensor converted.
// A dsv2::error is the expected way to refuse input; any other exception escapes and aborts the run
// (libFuzzer reports it as a crash), as do sanitizer findings.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dsv2/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::byte> bytes(size);
    for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>(data[i]);
    try {
        const auto file = dsv2::io::safetensors_file::parse(std::move(bytes), "fuzz.safetensors");
        for (const auto& e : file.entries()) {
            const dsv2::io::tensor_view v = file.view(e.name);
            if (dsv2::is_floating(v.type)) {
                const std::vector<float> f = dsv2::io::to_float(v);
                if (f.size() != static_cast<std::size_t>(v.numel())) __builtin_trap();
            } else {  // a BOOL byte other than 0/1 throws safetensors_error: fine
                const std::vector<std::int64_t> n = dsv2::io::to_int64(v);
                if (n.size() != static_cast<std::size_t>(v.numel())) __builtin_trap();
            }
        }
    } catch (const dsv2::error&) {
        // refused: fine
    }
    return 0;
}
