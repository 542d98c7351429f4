// The CPU kernels of backend/cpu/quant against a double-precision dequantise-then-multiply
// reference (W by dequantize_row, which test_quantize_rows.cpp checks bit for bit against gguf-py).
//
// Error bounds (u = 2^-24, the fp32 unit roundoff):
//  * A dot product of a weight row with QUANTISED activations x̂ = d_x·q_x: every block's integer
//    sum is exact (int32), then scaled (≤ 2 roundings: d_w·d_x, ·isum; q4_K's min term 2 more and
//    a subtraction) and summed over nb blocks in fp32 (≤ nb roundings in any order, also for the
//    8-lane AVX2 sums), so |err| ≤ (nb + 8)·u·M with M = Σ_k m_k·|x̂_k|, m_k = |w_k| (q4_K: |w_k| +
//    2·dmin·m_j ≥ |d·sc_j·q_k| + |dmin·m_j|, the two terms before they cancel).
//  * matmul_nt_quant on the int8 path against UN-quantised x: add the activation quantisation,
//    |Σ w_k·(x_k − x̂_k)| ≤ Σ |w_k|·|x_k − x̂_k|, where |x_k − x̂_k| ≤ d/2 + 127·2^-11·d
//    (rounding to the level, f16 rounding of d for q8_0); the test sums the actual |x_k − x̂_k|.
//  * the dequantised-panel path (Eigen's fp32 GEMM of the exactly dequantised W): |err| ≤ K·u·Σ|w||x|.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <dsv2/backend/cpu/quant/activation_quant.hpp>
#include <dsv2/backend/cpu/quant/dot_k_quants.hpp>
#include <dsv2/backend/cpu/quant/dot_q8_0.hpp>
#include <dsv2/backend/cpu/quant/matmul_quant.hpp>
#include <dsv2/quant/dequantize.hpp>
#include <dsv2/quant/quantize.hpp>

using dsv2::ggml_type;
namespace q = dsv2::quant;

namespace {

constexpr double unit_roundoff = 1.0 / 16777216.0;  // 2^-24

std::vector<float> random_floats(std::int64_t n, std::uint64_t seed, float scale = 1.0f) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, scale);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = normal(rng);
    // a few outliers, as activations have
    for (std::size_t i = 0; i < v.size(); i += 97) v[i] *= 20.0f;
    return v;
}

/// W [N, K] in `type`: rows quantised from normal values, every fifth row random bytes (every
/// quant value reachable, e.g. q8_0's −128) with finite scales.
std::vector<unsigned char> random_weight(ggml_type type, std::int64_t N, std::int64_t K, std::uint64_t seed) {
    const std::size_t row = dsv2::row_bytes(type, static_cast<std::uint64_t>(K)).value();
    std::vector<unsigned char> w(row * static_cast<std::size_t>(N));
    std::mt19937_64 rng(seed);
    for (std::int64_t n = 0; n < N; ++n) {
        unsigned char* dst = w.data() + static_cast<std::size_t>(n) * row;
        if (n % 5 != 4) {
            const auto values = random_floats(K, seed * 1000 + static_cast<std::uint64_t>(n), 0.05f);
            dsv2::quantize_row(type, values.data(), dst, K);
            continue;
        }
        for (std::size_t i = 0; i < row; ++i) dst[i] = static_cast<unsigned char>(rng());
        const auto block_bytes = dsv2::traits_of(type).block_bytes;
        auto set_half = [&](std::size_t at, float v) {
            const std::uint16_t h = dsv2::float_to_f16(v);
            std::memcpy(dst + at, &h, 2);
        };
        for (std::size_t b = 0; b < row; b += block_bytes) {
            switch (type) {
                case ggml_type::q8_0: case ggml_type::q4_0: case ggml_type::q5_0: set_half(b, 0.003f); break;
                case ggml_type::q4_k: set_half(b, 0.0005f); set_half(b + 2, 0.001f); break;
                case ggml_type::q6_k: set_half(b + 208, -0.0002f); break;
                default: break;
            }
        }
    }
    return w;
}

std::vector<float> dequantized(ggml_type type, const std::vector<unsigned char>& w, std::int64_t N, std::int64_t K) {
    std::vector<float> out(static_cast<std::size_t>(N * K));
    const std::size_t row = dsv2::row_bytes(type, static_cast<std::uint64_t>(K)).value();
    for (std::int64_t n = 0; n < N; ++n)
        dsv2::dequantize_row(type, w.data() + static_cast<std::size_t>(n) * row, out.data() + n * K, K);
    return out;
}

/// |w_k| per element, plus 2·dmin·m_j for q4_K (the bound's m_k, see the top of the file).
std::vector<double> term_magnitudes(ggml_type type, const std::vector<unsigned char>& w, const std::vector<float>& wd,
                                    std::int64_t N, std::int64_t K) {
    std::vector<double> m(wd.size());
    for (std::size_t i = 0; i < wd.size(); ++i) m[i] = std::fabs(double(wd[i]));
    if (type == ggml_type::q4_k) {
        const auto* blocks = reinterpret_cast<const q::block_q4_k*>(w.data());
        for (std::int64_t n = 0; n < N; ++n)
            for (std::int64_t k = 0; k < K; ++k) {
                const auto& b = blocks[(n * K + k) / q::qk_k];
                std::uint8_t sc, mn;
                q::q4_k_scale_min(static_cast<int>((k % q::qk_k) / 32), b.scales, sc, mn);
                m[static_cast<std::size_t>(n * K + k)] += 2.0 * double(dsv2::f16_to_float(b.dmin)) * mn;
            }
    }
    return m;
}

/// The activations as the kernels see them (x̂), [T, K].
std::vector<float> quantized_activations(ggml_type wtype, const std::vector<float>& x, std::int64_t T, std::int64_t K) {
    std::vector<float> out(static_cast<std::size_t>(T * K));
    if (wtype == ggml_type::q4_k || wtype == ggml_type::q6_k) {
        q::q8_k_activations a;
        q::quantize_activations(x.data(), T, K, a);
        for (std::int64_t i = 0; i < T * K; ++i) {
            const auto& b = a.blocks[static_cast<std::size_t>(i / q::qk_k)];
            out[static_cast<std::size_t>(i)] = b.d * b.qs[i % q::qk_k];
        }
    } else {
        q::q8_0_activations a;
        q::quantize_activations(x.data(), T, K, a);
        for (std::int64_t i = 0; i < T * K; ++i)
            out[static_cast<std::size_t>(i)] = a.scales[static_cast<std::size_t>(i / q::qk32)] * a.blocks[static_cast<std::size_t>(i / q::qk32)].qs[i % q::qk32];
    }
    return out;
}

const ggml_type quantised_types[] = {ggml_type::q8_0, ggml_type::q4_0, ggml_type::q5_0, ggml_type::q4_k, ggml_type::q6_k};

enum class kernel_path { scalar, fastest, avx2, vnni };

/// Calls the dot_rows of `type` on `path` for `tokens` activation rows. false: `path` not built.
bool dot_rows_on(kernel_path path, ggml_type type, const unsigned char* w, std::int64_t K, const std::vector<float>& x,
                 std::int64_t tokens, float* out) {
    const int t = static_cast<int>(tokens);
    auto call = [&](const auto* wb, const auto& a, auto... scales) {
        const std::int64_t nb = a.blocks_per_row;
        switch (path) {
            case kernel_path::scalar: q::dot_rows_ref(wb, a.blocks.data(), scales..., nb, nb, t, out); return true;
            case kernel_path::fastest: q::dot_rows(wb, a.blocks.data(), scales..., nb, nb, t, out); return true;
            case kernel_path::avx2:
#if defined(__AVX2__) && defined(__FMA__)
                q::dot_rows_avx2(wb, a.blocks.data(), scales..., nb, nb, t, out);
                return true;
#else
                return false;
#endif
            case kernel_path::vnni:
#if defined(DSV2_QUANT_VNNI)
                q::dot_rows_vnni(wb, a.blocks.data(), scales..., nb, nb, t, out);
                return true;
#else
                return false;
#endif
        }
        return false;
    };
    if (type == ggml_type::q4_k || type == ggml_type::q6_k) {
        q::q8_k_activations a;
        q::quantize_activations(x.data(), tokens, K, a);
        if (type == ggml_type::q4_k) return call(reinterpret_cast<const q::block_q4_k*>(w), a);
        return call(reinterpret_cast<const q::block_q6_k*>(w), a);
    }
    q::q8_0_activations a;
    q::quantize_activations(x.data(), tokens, K, a);
    if (type == ggml_type::q8_0) return call(reinterpret_cast<const q::block_q8_0*>(w), a, a.scales.data());
    if (type == ggml_type::q4_0) return call(reinterpret_cast<const q::block_q4_0*>(w), a, a.scales.data());
    return call(reinterpret_cast<const q::block_q5_0*>(w), a, a.scales.data());
}

void dot_rows_of(ggml_type type, bool scalar, const unsigned char* w, std::int64_t K, const std::vector<float>& x,
                 std::int64_t tokens, float* out) {
    dot_rows_on(scalar ? kernel_path::scalar : kernel_path::fastest, type, w, K, x, tokens, out);
}

}  // namespace

TEST_CASE("kernel path: the SIMD path this executable was built with", "[quant][kernels]") {
    INFO("quant_kernel_isa " << q::quant_kernel_isa);
#if defined(DSV2_EXPECT_QUANT_ISA)
    CHECK(std::string(q::quant_kernel_isa) == DSV2_EXPECT_QUANT_ISA);  // the ISA test executables
#endif
    CHECK(std::string(q::quant_kernel_isa).size() > 0);
}

TEST_CASE("activation quantisers: ggml's q8_0 bytes, and q8_K within half a level with exact bsums", "[quant][kernels]") {
    const std::int64_t T = 3, K = 512;
    auto x = random_floats(T * K, 11);
    x[5] = 0.5f;  // a few exact values
    std::fill(x.begin() + 256, x.begin() + 288, 0.0f);  // an all-zero q8_0 block
    q::q8_0_activations a0;
    q::quantize_activations(x.data(), T, K, a0);
    std::vector<unsigned char> ref(dsv2::row_bytes(ggml_type::q8_0, T * K).value());
    dsv2::quantize_row(ggml_type::q8_0, x.data(), ref.data(), T * K);
    CHECK(std::memcmp(a0.blocks.data(), ref.data(), ref.size()) == 0);
    for (std::size_t b = 0; b < a0.scales.size(); ++b) CHECK(a0.scales[b] == dsv2::f16_to_float(a0.blocks[b].d));

    q::q8_k_activations ak;
    q::quantize_activations(x.data(), T, K, ak);
    REQUIRE(ak.blocks.size() == static_cast<std::size_t>(T * K / 256));
    for (std::size_t b = 0; b < ak.blocks.size(); ++b) {
        const auto& blk = ak.blocks[b];
        for (int j = 0; j < 16; ++j) {
            int sum = 0;
            for (int i = 0; i < 16; ++i) sum += blk.qs[16 * j + i];
            CHECK(blk.bsums[j] == sum);
        }
        for (int i = 0; i < 256; ++i) {
            const double xi = x[b * 256 + static_cast<std::size_t>(i)];
            // d = max/127 (fp32 rounded): half a level plus the rounding of d times the level
            CHECK(std::fabs(xi - double(blk.d) * blk.qs[i]) <= std::fabs(blk.d) * (0.5 + 127 * 2 * unit_roundoff) + 1e-30);
        }
    }
    // a non-finite activation makes its block's scale NaN (the outputs NaN), never UB
    x[40] = std::numeric_limits<float>::infinity();
    q::quantize_activations(x.data(), T, K, a0);
    q::quantize_activations(x.data(), T, K, ak);
    CHECK(std::isnan(a0.scales[1]));
    CHECK(std::isnan(ak.blocks[0].d));
    CHECK_FALSE(std::isnan(a0.scales[0]));
}

TEST_CASE("dot_rows: scalar, AVX2 and the fastest path against the double reference on quantised activations", "[quant][kernels]") {
    for (ggml_type type : quantised_types) {
        const bool k_quant = type == ggml_type::q4_k || type == ggml_type::q6_k;
        for (std::int64_t K : k_quant ? std::vector<std::int64_t>{256, 768, 2048} : std::vector<std::int64_t>{32, 96, 1408}) {
            const std::int64_t N = 5, nb = K / (k_quant ? 256 : 32);
            const auto w = random_weight(type, N, K, 3 + static_cast<std::uint64_t>(K));
            const auto wd = dequantized(type, w, N, K);
            const auto mag = term_magnitudes(type, w, wd, N, K);
            const std::size_t row = dsv2::row_bytes(type, static_cast<std::uint64_t>(K)).value();
            for (std::int64_t tokens = 1; tokens <= q::max_dot_tokens; ++tokens) {
                const auto x = random_floats(tokens * K, 100 + static_cast<std::uint64_t>(tokens));
                const auto xq = quantized_activations(type, x, tokens, K);
                for (std::int64_t n = 0; n < N; ++n) {
                    float scalar[q::max_dot_tokens], fast[q::max_dot_tokens], avx2[q::max_dot_tokens];
                    const unsigned char* wr = w.data() + static_cast<std::size_t>(n) * row;
                    dot_rows_of(type, true, wr, K, x, tokens, scalar);
                    dot_rows_of(type, false, wr, K, x, tokens, fast);
                    // the AVX2 path too where it is not the fastest (checked on its own where built)
                    const bool have_avx2 = dot_rows_on(kernel_path::avx2, type, wr, K, x, tokens, avx2);
                    for (std::int64_t t = 0; t < tokens; ++t) {
                        double exact = 0, m = 0;
                        for (std::int64_t k = 0; k < K; ++k) {
                            exact += double(wd[n * K + k]) * xq[t * K + k];
                            m += mag[n * K + k] * std::fabs(double(xq[t * K + k]));
                        }
                        const double bound = double(nb + 8) * unit_roundoff * m;
                        INFO(dsv2::name_of(type) << " K " << K << " row " << n << " token " << t << " of " << tokens
                                                 << ": exact " << exact << " bound " << bound);
                        CHECK(std::fabs(scalar[t] - exact) <= bound);
                        CHECK(std::fabs(fast[t] - exact) <= bound);
                        CHECK(std::fabs(double(fast[t]) - scalar[t]) <= 2 * bound);
                        if (have_avx2) CHECK(std::fabs(avx2[t] - exact) <= bound);
                    }
                }
            }
        }
    }
}

TEST_CASE("dot_rows: the VNNI path is bit-identical to the AVX2 path", "[quant][kernels]") {
    // Both compute the same exact integers per block (q8_0 family: the same int32 lanes; K-quants:
    // the same super-block sums) followed by the same fp32 instructions in the same order.
    std::int64_t compared = 0;
    for (ggml_type type : quantised_types) {
        const bool k_quant = type == ggml_type::q4_k || type == ggml_type::q6_k;
        for (std::int64_t K : k_quant ? std::vector<std::int64_t>{256, 768, 2048} : std::vector<std::int64_t>{32, 96, 1408}) {
            const std::int64_t N = 10;
            const auto w = random_weight(type, N, K, 7 + static_cast<std::uint64_t>(K));
            const std::size_t row = dsv2::row_bytes(type, static_cast<std::uint64_t>(K)).value();
            for (std::int64_t tokens = 1; tokens <= q::max_dot_tokens; ++tokens) {
                const auto x = random_floats(tokens * K, 200 + static_cast<std::uint64_t>(tokens));
                for (std::int64_t n = 0; n < N; ++n) {
                    float avx2[q::max_dot_tokens], vnni[q::max_dot_tokens];
                    const unsigned char* wr = w.data() + static_cast<std::size_t>(n) * row;
                    if (!dot_rows_on(kernel_path::avx2, type, wr, K, x, tokens, avx2) ||
                        !dot_rows_on(kernel_path::vnni, type, wr, K, x, tokens, vnni))
                        continue;
                    INFO(dsv2::name_of(type) << " K " << K << " row " << n << " tokens " << tokens);
                    CHECK(std::memcmp(avx2, vnni, sizeof(float) * static_cast<std::size_t>(tokens)) == 0);
                    ++compared;
                }
            }
        }
    }
#if defined(DSV2_QUANT_VNNI)
    CHECK(compared == 5 * 3 * 8 * 10);
#else
    WARN("no VNNI path in this build (" << q::quant_kernel_isa << "): nothing to compare");
#endif
}

TEST_CASE("matmul_nt_quant: f32/f16/bf16 weights take the dequantised-panel path at every T", "[quant][kernels]") {
    // at T ≤ quant_int8_max_rows the int8 path would quantise x: the result must instead be the panel
    // GEMM's, bit for bit (same code, same shapes)
    const std::int64_t K = 320, N = 21;
    for (ggml_type type : {ggml_type::f32, ggml_type::f16, ggml_type::bf16}) {
        const auto values = random_floats(N * K, 31, 0.05f);
        std::vector<unsigned char> w(dsv2::row_bytes(type, static_cast<std::uint64_t>(N * K)).value());
        dsv2::quantize_row(type, values.data(), w.data(), N * K);
        for (std::int64_t T : {std::int64_t{1}, std::int64_t{8}, dsv2::quant_int8_max_rows}) {
            const auto x = random_floats(T * K, 60 + static_cast<std::uint64_t>(T));
            std::vector<float> y(static_cast<std::size_t>(T * N)), panel(y.size());
            dsv2::matmul_nt_quant(x.data(), T, K, type, w.data(), N, y.data());
            q::detail::dequantized_gemm(x.data(), T, K, type, w.data(), N, panel.data());
            INFO(dsv2::name_of(type) << " T " << T);
            CHECK(std::memcmp(y.data(), panel.data(), sizeof(float) * y.size()) == 0);
        }
    }
}

TEST_CASE("matmul_nt_quant: every type and shape against the double reference", "[quant][kernels]") {
    const ggml_type all_types[] = {ggml_type::f32, ggml_type::f16, ggml_type::bf16, ggml_type::q8_0,
                                   ggml_type::q4_0, ggml_type::q5_0, ggml_type::q4_k, ggml_type::q6_k};
    for (ggml_type type : all_types) {
        const bool k_quant = type == ggml_type::q4_k || type == ggml_type::q6_k;
        const bool int8 = dsv2::is_block_quantized(type);
        const std::int64_t K = k_quant ? 768 : 1440;  // 3 super-blocks / 45 blocks: not a multiple of 8·32 or 16
        const std::int64_t N = 37;                    // odd, not a multiple of the 16-row tasks
        std::vector<unsigned char> w;
        if (int8) {
            w = random_weight(type, N, K, 9);
        } else {
            const auto values = random_floats(N * K, 9, 0.05f);
            w.resize(dsv2::row_bytes(type, static_cast<std::uint64_t>(N * K)).value());
            dsv2::quantize_row(type, values.data(), w.data(), N * K);
        }
        const auto wd = dequantized(type, w, N, K);
        const auto mag = term_magnitudes(type, w, wd, N, K);
        for (std::int64_t T : {1, 3, 8, 33, 64, 65, 100}) {
            const auto x = random_floats(T * K, 50 + static_cast<std::uint64_t>(T));
            const bool int8_path = int8 && T <= dsv2::quant_int8_max_rows;
            const auto xq = int8_path ? quantized_activations(type, x, T, K) : x;
            std::vector<float> y(static_cast<std::size_t>(T * N), -1.0f);
            dsv2::matmul_nt_quant(x.data(), T, K, type, w.data(), N, y.data());
            std::int64_t failures = 0;
            double worst_ratio = 0;
            for (std::int64_t t = 0; t < T; ++t)
                for (std::int64_t n = 0; n < N; ++n) {
                    double exact = 0, m = 0, activation_error = 0;
                    for (std::int64_t k = 0; k < K; ++k) {
                        const double wk = wd[n * K + k], xk = x[t * K + k], xqk = xq[t * K + k];
                        exact += wk * xk;
                        m += mag[n * K + k] * std::fabs(xqk);
                        activation_error += std::fabs(wk) * std::fabs(xk - xqk);
                    }
                    const double accumulation = (int8_path ? double(K / (k_quant ? 256 : 32) + 8) : double(K)) * unit_roundoff * m;
                    const double bound = activation_error + accumulation;
                    const double err = std::fabs(y[static_cast<std::size_t>(t * N + n)] - exact);
                    worst_ratio = std::max(worst_ratio, err / bound);
                    failures += !(err <= bound);
                }
            INFO(dsv2::name_of(type) << " T " << T << " (" << (int8_path ? "int8" : "panel") << " path), worst err/bound " << worst_ratio);
            CHECK(failures == 0);
        }
    }
}

TEST_CASE("matmul_nt_quant: bad arguments are typed errors naming them", "[quant][kernels][errors]") {
    std::vector<float> x(512, 1.0f), y(512);
    std::vector<unsigned char> w(4096);
    CHECK_THROWS_WITH(dsv2::matmul_nt_quant(x.data(), 1, 300, ggml_type::q4_k, w.data(), 1, y.data()),
                      Catch::Contains("K") && Catch::Contains("300") && Catch::Contains("q4_K"));
    CHECK_THROWS_AS(dsv2::matmul_nt_quant(x.data(), 1, 48, ggml_type::q8_0, w.data(), 1, y.data()), dsv2::input_error);
    CHECK_THROWS_WITH(dsv2::matmul_nt_quant(x.data(), 1, 256, ggml_type::iq4_xs, w.data(), 1, y.data()),
                      Catch::Contains("iq4_xs"));
    CHECK_THROWS_AS(dsv2::matmul_nt_quant(x.data(), -1, 32, ggml_type::q8_0, w.data(), 1, y.data()), dsv2::input_error);
    // empty shapes do nothing; K = 0 gives zeros
    dsv2::matmul_nt_quant(x.data(), 2, 0, ggml_type::q8_0, w.data(), 3, y.data());
    CHECK(y[0] == 0.0f);
    CHECK(y[5] == 0.0f);
}
