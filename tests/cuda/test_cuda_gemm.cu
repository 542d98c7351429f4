// cuBLAS products against the CPU backend's linear layer (Eigen / dsv2::matmul_nt).
//
// Bounds (see cuda_test_support.cuh). Tensor cores may accumulate fp32 with truncation instead of
// rounding to nearest (Fasi et al., "Numerical behavior of NVIDIA tensor cores", 2021): up to 2u
// per step, so the device side gets 2γ_K and the CPU side γ_K:
//  - fp32 weights: each output is a length-K dot product on both sides, so
//      |y_gpu − y_cpu| ≤ 3γ_K·Σ_k |x_k·w_k|                        (element-wise, rigorous)
//      ‖y_gpu − y_cpu‖ / ‖y_cpu‖ ≤ 32·FLT_EPSILON·√K               (Frobenius, random signs)
//  - bf16 weights (CPU: fp32 activations × the bf16 values in fp32; GPU: activations rounded to
//    bf16 first): x̂_k = x_k(1 + δ_k), |δ_k| ≤ 2^-8, so
//      |y_gpu − y_cpu| ≤ (2^-8 + 3γ_K)·Σ_k |x_k·w_k|               (element-wise, rigorous)
//      ‖y_gpu − y_cpu‖ / ‖y_cpu‖ ≤ 2·2^-8                          (the δ_k are uniform-like with
//                                                                   rms 2^-8/√3: ≈ 3.5× margin)
//    and with activations that are already bf16 values the bf16 path must meet the fp32 bound:
//    that checks the accumulation is fp32 (a bf16 accumulator would be off by ~2^-8).
#include "cuda_test_support.cuh"

using namespace dsv2_cuda_test;

namespace {

/// Σ_k |x[t,k]·w[o,k]| for every output (t, o), in double.
std::vector<double> abs_products(const dsv2::cpu::matrix& x, const dsv2::cpu_weight& w) {
    std::vector<double> s(static_cast<std::size_t>(x.rows() * w.rows()), 0.0);
    for (Eigen::Index t = 0; t < x.rows(); ++t)
        for (std::int64_t o = 0; o < w.rows(); ++o) {
            double acc = 0.0;
            for (std::int64_t k = 0; k < w.cols(); ++k) acc += std::abs(double(x(t, k)) * w.at(o, k));
            s[static_cast<std::size_t>(t * w.rows() + o)] = acc;
        }
    return s;
}

std::vector<float> vec(const dsv2::cpu::matrix& m) { return {m.data(), m.data() + m.size()}; }

struct shape {
    std::int64_t T, in, out;
};

}  // namespace

TEST_CASE("gemm_nt fp32 equals the CPU linear within the fp32 dot-product bound", "[cuda][gemm]") {
    device_context ctx;
    std::mt19937 rng(10);
    for (const shape sh : {shape{1, 64, 48}, shape{7, 129, 33}, shape{64, 512, 300}, shape{3, 2048, 17}}) {
        INFO("T " << sh.T << ", in " << sh.in << ", out " << sh.out);
        const dsv2::cpu::matrix x = random_matrix(sh.T, sh.in, rng);
        const host_linear lin = random_linear(sh.out, sh.in, rng, false);
        const dsv2::cpu::matrix ref = dsv2::linear_forward(dsv2::cpu{}, x, lin);

        const auto dx = to_device(ctx.s(), x);
        const auto dw = to_device<float>(ctx.s(), lin);
        dsv2::device_buffer<float> dy(static_cast<std::size_t>(sh.T * sh.out), ctx.s());
        dsv2::gemm_nt(dsv2::cuda{}, ctx.blas, ctx.s(), dx.data(), dw.weight.data(), dy.data(), sh.T, sh.in, sh.out);
        const std::vector<float> got = dsv2::download(ctx.s(), dy);

        const std::vector<double> sabs = abs_products(x, lin.weight);
        std::vector<double> bound(sabs.size());
        for (std::size_t i = 0; i < bound.size(); ++i) bound[i] = 3.0 * gamma_n(double(sh.in)) * sabs[i];
        const comparison c = compare_to_bounds(got, vec(ref), bound);
        INFO(c.report());
        CHECK(c.violations == 0);
        CHECK(c.rel_frobenius <= frobenius_bound(double(sh.in)));
    }
}

TEST_CASE("gemm_nt accumulates into y (beta = 1) with row strides", "[cuda][gemm]") {
    device_context ctx;
    std::mt19937 rng(11);
    const std::int64_t T = 5, in = 96, out = 40, ldx = 100, ldy = 64;
    const dsv2::cpu::matrix xs = random_matrix(T, ldx, rng);  // x is the first `in` columns
    const dsv2::cpu::matrix y0 = random_matrix(T, ldy, rng);
    const host_linear lin = random_linear(out, in, rng, false);
    const dsv2::cpu::matrix x = xs.leftCols(in);
    const dsv2::cpu::matrix prod = dsv2::linear_forward(dsv2::cpu{}, x, lin);

    const auto dx = to_device(ctx.s(), xs);
    auto dy = to_device(ctx.s(), y0);
    const auto dw = to_device<float>(ctx.s(), lin);
    dsv2::gemm_nt(dsv2::cuda{}, ctx.blas, ctx.s(), dx.data(), dw.weight.data(), dy.data(), T, in, out, 1.0f, ldx, ldy);
    const std::vector<float> got = dsv2::download(ctx.s(), dy);

    const std::vector<double> sabs = abs_products(x, lin.weight);
    std::size_t bad = 0;
    for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t c = 0; c < ldy; ++c) {
            const float g = got[static_cast<std::size_t>(t * ldy + c)];
            if (c >= out) {  // untouched columns
                bad += g != y0(t, c);
                continue;
            }
            const double expect = double(y0(t, c)) + prod(t, c);
            const double b = 3.0 * gamma_n(double(in)) * sabs[static_cast<std::size_t>(t * out + c)] +
                             2.0 * u32 * (std::abs(double(y0(t, c))) + std::abs(double(prod(t, c))));
            bad += std::abs(g - expect) > b;
        }
    CHECK(bad == 0);
}

TEST_CASE("gemm_nt with bf16 weights: fp32 accumulation, bf16-rounded activations", "[cuda][gemm]") {
    device_context ctx;
    std::mt19937 rng(12);
    for (const shape sh : {shape{1, 2048, 64}, shape{9, 512, 129}, shape{80, 1408, 96}}) {
        INFO("T " << sh.T << ", in " << sh.in << ", out " << sh.out);
        const dsv2::cpu::matrix x = random_matrix(sh.T, sh.in, rng);
        const host_linear lin = random_linear(sh.out, sh.in, rng, /*bf16=*/true);
        REQUIRE(lin.weight.format() == dsv2::ggml_type::bf16);
        const dsv2::cpu::matrix ref = dsv2::linear_forward(dsv2::cpu{}, x, lin);  // fp32 x · bf16 W, fp32

        const auto dx = to_device(ctx.s(), x);
        const auto dw = to_device<__nv_bfloat16>(ctx.s(), lin);
        dsv2::device_buffer<float> dy(static_cast<std::size_t>(sh.T * sh.out), ctx.s());
        dsv2::gemm_nt(dsv2::cuda{}, ctx.blas, ctx.s(), dx.data(), dw.weight.data(), dy.data(), sh.T, sh.in, sh.out);
        const std::vector<float> got = dsv2::download(ctx.s(), dy);

        const std::vector<double> sabs = abs_products(x, lin.weight);
        std::vector<double> bound(sabs.size());
        for (std::size_t i = 0; i < bound.size(); ++i) bound[i] = (u_bf16 + 3.0 * gamma_n(double(sh.in))) * sabs[i];
        const comparison c = compare_to_bounds(got, vec(ref), bound);
        INFO(c.report());
        CHECK(c.violations == 0);
        CHECK(c.rel_frobenius <= 2.0 * u_bf16);

        // activations that are bf16 values already: the fp32 bound must hold
        dsv2::cpu::matrix xr = x;
        for (Eigen::Index i = 0; i < xr.size(); ++i) xr.data()[i] = dsv2::bf16_to_float(dsv2::float_to_bf16(xr.data()[i]));
        const dsv2::cpu::matrix ref_r = dsv2::linear_forward(dsv2::cpu{}, xr, lin);
        const auto dxr = to_device(ctx.s(), xr);
        dsv2::gemm_nt(dsv2::cuda{}, ctx.blas, ctx.s(), dxr.data(), dw.weight.data(), dy.data(), sh.T, sh.in, sh.out);
        const std::vector<float> got_r = dsv2::download(ctx.s(), dy);
        const std::vector<double> sabs_r = abs_products(xr, lin.weight);
        for (std::size_t i = 0; i < bound.size(); ++i) bound[i] = 3.0 * gamma_n(double(sh.in)) * sabs_r[i];
        const comparison cr = compare_to_bounds(got_r, vec(ref_r), bound);
        INFO("bf16-exact activations: " << cr.report());
        CHECK(cr.violations == 0);
    }
}

TEST_CASE("cuda_upload converts weights between fp32 and bf16 as float_to_bf16 does", "[cuda][gemm]") {
    device_context ctx;
    std::mt19937 rng(13);
    const host_linear f = random_linear(8, 24, rng, false, /*bias=*/true);
    const host_linear b = random_linear(8, 24, rng, true);
    const auto fb = to_device<__nv_bfloat16>(ctx.s(), f);  // fp32 -> bf16
    const auto bf = to_device<float>(ctx.s(), b);           // bf16 -> fp32
    const std::vector<__nv_bfloat16> fbh = dsv2::download(ctx.s(), fb.weight.data(), static_cast<std::size_t>(fb.weight.size()));
    const std::vector<float> bfh = dsv2::download(ctx.s(), bf.weight.data(), static_cast<std::size_t>(bf.weight.size()));
    std::size_t bad = 0;
    for (std::int64_t r = 0; r < 8; ++r)
        for (std::int64_t c = 0; c < 24; ++c) {
            std::uint16_t bits;
            std::memcpy(&bits, &fbh[static_cast<std::size_t>(r * 24 + c)], 2);
            bad += bits != dsv2::float_to_bf16(f.weight.at(r, c));
            bad += bfh[static_cast<std::size_t>(r * 24 + c)] != b.weight.at(r, c);
        }
    CHECK(bad == 0);
    CHECK(fb.has_bias());
    CHECK(dsv2::download(ctx.s(), fb.bias.data(), static_cast<std::size_t>(fb.bias.size())) == std::vector<float>(f.bias.data(), f.bias.data() + 8));
    CHECK_FALSE(bf.has_bias());
}

TEST_CASE("gemm_batched: strided heads, all four transpositions", "[cuda][gemm]") {
    device_context ctx;
    std::mt19937 rng(14);
    const std::int64_t M = 6, N = 20, K = 33, batch = 3;
    for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb) {
            INFO("trans_a " << ta << ", trans_b " << tb);
            // A_i stored [M, K] or [K, M], B_i [K, N] or [N, K], inside wider rows with head strides
            const std::int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
            const dsv2::cpu::matrix A = random_matrix(ar, batch * ac + 5, rng);  // head i at column i·ac
            const dsv2::cpu::matrix B = random_matrix(br, batch * bc + 3, rng);
            const auto dA = to_device(ctx.s(), A);
            const auto dB = to_device(ctx.s(), B);
            const std::int64_t ldc = batch * N + 2;
            dsv2::device_buffer<float> dC(static_cast<std::size_t>(M * ldc), ctx.s());
            dC.zero();
            dsv2::gemm_batched<float>(dsv2::cuda{}, ctx.blas, ctx.s(), ta, tb, M, N, K, 1.0f, {dA.data(), A.cols(), ac},
                                      {dB.data(), B.cols(), bc}, 0.0f, dC.data(), ldc, N, batch);
            const std::vector<float> C = dsv2::download(ctx.s(), dC);
            std::size_t bad = 0;
            for (std::int64_t i = 0; i < batch; ++i) {
                const dsv2::cpu::matrix Ai = A.middleCols(i * ac, ac), Bi = B.middleCols(i * bc, bc);
                const dsv2::cpu::matrix opA = ta ? dsv2::cpu::matrix(Ai.transpose()) : Ai;
                const dsv2::cpu::matrix opB = tb ? dsv2::cpu::matrix(Bi.transpose()) : Bi;
                const dsv2::cpu::matrix ref = opA * opB;
                const dsv2::cpu::matrix absref = opA.cwiseAbs() * opB.cwiseAbs();
                for (std::int64_t m = 0; m < M; ++m)
                    for (std::int64_t n = 0; n < N; ++n) {
                        const double g = C[static_cast<std::size_t>(m * ldc + i * N + n)];
                        bad += std::abs(g - ref(m, n)) > 3.0 * gamma_n(double(K) + 1) * absref(m, n);
                    }
            }
            CHECK(bad == 0);
        }
}
