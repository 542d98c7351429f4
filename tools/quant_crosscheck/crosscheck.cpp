// dsv2's quantize_row against ggml's reference quantisers (quantize_row_*_ref of ggml-quants.c),
// byte for byte, on many random rows. ggml's C is compiled from a llama.cpp source tree outside
// this repository by crosscheck.sh (never committed, not in CI); this file only declares the
// functions it links against.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <dsv2/quant/quantize.hpp>

extern "C" {
// ggml-quants.c refers to these from paths the reference quantisers never take: stubs that stop.
[[noreturn]] void ggml_abort(const char*, int, const char*, ...) { std::abort(); }
std::size_t ggml_row_size(int, std::int64_t) { std::abort(); }
const char* ggml_type_name(int) { std::abort(); }
std::size_t ggml_type_size(int) { std::abort(); }

void quantize_row_q8_0_ref(const float* x, void* y, std::int64_t k);
void quantize_row_q4_0_ref(const float* x, void* y, std::int64_t k);
void quantize_row_q5_0_ref(const float* x, void* y, std::int64_t k);
void quantize_row_q4_K_ref(const float* x, void* y, std::int64_t k);
void quantize_row_q6_K_ref(const float* x, void* y, std::int64_t k);
}

int main() {
    using dsv2::ggml_type;
    struct entry { ggml_type type; void (*ref)(const float*, void*, std::int64_t); };
    const entry entries[] = {{ggml_type::q8_0, quantize_row_q8_0_ref}, {ggml_type::q4_0, quantize_row_q4_0_ref},
                             {ggml_type::q5_0, quantize_row_q5_0_ref}, {ggml_type::q4_k, quantize_row_q4_K_ref},
                             {ggml_type::q6_k, quantize_row_q6_K_ref}};
    std::mt19937_64 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    const std::int64_t n = 256 * 16;
    int failures = 0;
    for (const auto& e : entries) {
        std::int64_t rows = 0, differing_rows = 0, differing_bytes = 0;
        for (int trial = 0; trial < 2000; ++trial) {
            std::vector<float> x(static_cast<std::size_t>(n));
            const float scale = std::pow(10.0f, uniform(rng) * 6.0f);  // 1e-6 .. 1e6
            for (auto& v : x) {
                switch (trial % 5) {
                    case 0: v = normal(rng) * scale; break;
                    case 1: v = uniform(rng) * scale; break;
                    case 2: v = -std::fabs(normal(rng)) * scale; break;       // negative only
                    case 3: v = std::exp(uniform(rng) * 10.0f) * (uniform(rng) < 0 ? -1.0f : 1.0f); break;
                    default: v = (trial % 7 == 0) ? 0.0f : std::round(normal(rng) * 8.0f) * 0.5f; break;  // ties
                }
            }
            const std::size_t bytes = dsv2::row_bytes(e.type, static_cast<std::uint64_t>(n)).value();
            std::vector<unsigned char> ours(bytes), theirs(bytes);
            dsv2::quantize_row(e.type, x.data(), ours.data(), n);
            e.ref(x.data(), theirs.data(), n);
            ++rows;
            std::int64_t diff = 0;
            for (std::size_t i = 0; i < bytes; ++i) diff += ours[i] != theirs[i];
            if (diff) ++differing_rows;
            differing_bytes += diff;
        }
        std::printf("%-5s rows %lld of %lld values: %lld rows differ (%lld bytes)\n",
                    std::string(dsv2::name_of(e.type)).c_str(), static_cast<long long>(rows),
                    static_cast<long long>(n), static_cast<long long>(differing_rows),
                    static_cast<long long>(differing_bytes));
        failures += differing_rows != 0;
    }
    return failures == 0 ? 0 : 1;
}
