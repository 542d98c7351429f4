// dequantize_row and quantize_row against gguf-py 0.19.0 (tests/fixtures/quant/rows.*): the values
// bit for bit, the bytes byte for byte where gguf-py quantises; q4_K/q6_K (which gguf-py cannot
// quantise) by their round-trip error bound. Bad input: typed errors naming it.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <dsv2/quant/dequantize.hpp>
#include <dsv2/quant/quantize.hpp>

#include "quant_fixture.hpp"

using dsv2::ggml_type;

namespace {
/// Bit equality (so that −0 ≠ +0 and inf compares): the fixtures hold no NaN.
bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }
}  // namespace

TEST_CASE("dequantize_row: bit-identical to gguf-py for every type and case", "[quant][dequantize]") {
    int checked = 0;
    for (const auto& c : quant_fixture::cases()) {
        if (c.dequantized.empty()) continue;
        INFO(c.label());
        REQUIRE(static_cast<std::int64_t>(c.dequantized.size()) == c.n);
        REQUIRE(c.quantized.size() == dsv2::row_bytes(c.type, static_cast<std::uint64_t>(c.n)).value());
        std::vector<float> out(static_cast<std::size_t>(c.n));
        dsv2::dequantize_row(c.type, c.quantized.data(), out.data(), c.n);
        std::int64_t mismatches = 0, first = -1;
        for (std::int64_t i = 0; i < c.n; ++i)
            if (!same_bits(out[i], c.dequantized[i])) {
                if (first < 0) first = i;
                ++mismatches;
            }
        INFO("first mismatch at " << first);
        CHECK(mismatches == 0);
        ++checked;
    }
    CHECK(checked >= 40);  // 6 quantised types × 8 rows + 5 random-byte cases
}

TEST_CASE("quantize_row: the bytes of gguf-py's quantisers (f32, f16, bf16, q8_0, q4_0, q5_0)", "[quant][quantize]") {
    int checked = 0;
    for (const auto& c : quant_fixture::cases()) {
        if (c.input.empty() || c.quantized.empty()) continue;
        INFO(c.label());
        std::vector<unsigned char> out(c.quantized.size() + 1, 0xAB);  // + a canary byte
        dsv2::quantize_row(c.type, c.input.data(), out.data() + 0, c.n);
        CHECK(out.back() == 0xAB);
        out.pop_back();
        std::size_t first = out.size();
        for (std::size_t i = 0; i < out.size(); ++i)
            if (out[i] != c.quantized[i]) { first = i; break; }
        INFO("first differing byte " << first << " of " << out.size());
        CHECK(first == out.size());
        ++checked;
    }
    CHECK(checked == 6 * 8);
}

// The round trip of q4_K and q6_K, whose quantisers gguf-py lacks (their bytes are checked against
// ggml's C by tools/quant_crosscheck, not in CI). The bound, per super-block of 256 values:
//   q6_K: levels d·sc_j·l, l ∈ [−32, 31], sc_j ∈ [−128, 127] with the largest sub-block scale at
//         |sc| = 128 ≈ amax/32 / |d|; an element inside its sub-block's range is off by at most half
//         a step, ≤ amax/64, and the search of make_qx_quants may trade clipping of the extreme
//         element (l = +32 is not a level) for a finer grid: at most one more step, so ≤ 3·amax/64
//         (amax = the super-block's max |x|), plus f16 rounding of d (2^-11 relative).
//   q4_K: levels d·sc_j·q − dmin·m_j, q ∈ [0, 15], 6-bit sc_j, m_j: the step of a sub-block is about
//         range_j/15 ≤ R/15 (R = max − min(0, min) of the super-block); inside the range the error is
//         ≤ half a step, the 6-bit min adds ≤ dmin/2 ≈ R/126, and the search may clip by a step, so
//         ≤ (1.5/15 + 1/126)·R ≈ 0.108·R.
// Both add the absolute quantum of the f16 super-scales: d (and dmin) round to f16 with an error of
// up to 2^-25 once they are subnormal (rows of ~1e-6), multiplied by the largest level: 128·32 for
// q6_K, 63·15 + 63 for q4_K.
TEST_CASE("quantize_row: q4_K and q6_K round trips stay within the format's bound", "[quant][quantize]") {
    int checked = 0;
    for (const auto& c : quant_fixture::cases()) {
        if (c.input.empty() || (c.type != ggml_type::q4_k && c.type != ggml_type::q6_k)) continue;
        INFO(c.label());
        std::vector<unsigned char> bytes(dsv2::row_bytes(c.type, static_cast<std::uint64_t>(c.n)).value());
        dsv2::quantize_row(c.type, c.input.data(), bytes.data(), c.n);
        std::vector<float> back(static_cast<std::size_t>(c.n));
        dsv2::dequantize_row(c.type, bytes.data(), back.data(), c.n);
        for (std::int64_t b0 = 0; b0 < c.n; b0 += 256) {
            float amax = 0, lo = 0, hi = 0;
            for (std::int64_t i = b0; i < b0 + 256; ++i) {
                amax = std::max(amax, std::fabs(c.input[i]));
                lo = std::min(lo, c.input[i]);
                hi = std::max(hi, c.input[i]);
            }
            const double f16_quantum = std::ldexp(1.0, -25);
            const double bound = c.type == ggml_type::q6_k
                                     ? (3.0 / 64.0) * amax * (1 + 1e-3) + f16_quantum * 128 * 32
                                     : (1.5 / 15.0 + 1.0 / 126.0) * (hi - lo) * (1 + 1e-3) + f16_quantum * (63 * 15 + 63);
            double worst = 0;
            for (std::int64_t i = b0; i < b0 + 256; ++i) worst = std::max(worst, std::fabs(double(back[i]) - c.input[i]));
            INFO("super-block at " << b0 << ": worst " << worst << " bound " << bound);
            CHECK(worst <= bound);
            if (amax == 0) CHECK(worst == 0);
        }
        ++checked;
    }
    CHECK(checked == 2 * 8);
}

TEST_CASE("quantize_row and dequantize_row: bad input is a typed error naming it", "[quant][errors]") {
    std::vector<float> x(64, 1.0f);
    std::vector<unsigned char> bytes(4096);
    // a row that is not whole blocks
    CHECK_THROWS_WITH(dsv2::quantize_row(ggml_type::q8_0, x.data(), bytes.data(), 48),
                      Catch::Contains("quantize_row: n") && Catch::Contains("48") && Catch::Contains("q8_0"));
    CHECK_THROWS_AS(dsv2::dequantize_row(ggml_type::q4_k, bytes.data(), x.data(), 64), dsv2::input_error);
    CHECK_THROWS_AS(dsv2::dequantize_row(ggml_type::q8_0, bytes.data(), x.data(), -32), dsv2::input_error);
    // a type dsv2 does not implement
    CHECK_THROWS_WITH(dsv2::dequantize_row(ggml_type::iq2_xs, bytes.data(), x.data(), 256), Catch::Contains("iq2_xs"));
    CHECK_THROWS_AS(dsv2::quantize_row(ggml_type::q5_k, x.data(), bytes.data(), 256), dsv2::unsupported_error);
    // non-finite values: the index is named and nothing is written
    x[37] = std::numeric_limits<float>::quiet_NaN();
    std::fill(bytes.begin(), bytes.end(), 0x5A);
    CHECK_THROWS_WITH(dsv2::quantize_row(ggml_type::q4_0, x.data(), bytes.data(), 64), Catch::Contains("src[37]"));
    CHECK(bytes[0] == 0x5A);
    x[37] = -std::numeric_limits<float>::infinity();
    CHECK_THROWS_AS(dsv2::quantize_row(ggml_type::bf16, x.data(), bytes.data(), 64), dsv2::input_error);
    // supported weight types
    for (ggml_type t : {ggml_type::f32, ggml_type::f16, ggml_type::bf16, ggml_type::q8_0, ggml_type::q4_0,
                        ggml_type::q5_0, ggml_type::q4_k, ggml_type::q6_k})
        CHECK(dsv2::is_supported_weight_type(t));
    for (ggml_type t : {ggml_type::q4_1, ggml_type::q5_k, ggml_type::q8_k, ggml_type::iq4_xs, ggml_type::i32})
        CHECK_FALSE(dsv2::is_supported_weight_type(t));
}
