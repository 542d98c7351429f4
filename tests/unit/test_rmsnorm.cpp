// RMSNorm on hand-checkable rows, including the effect of eps.
#include <catch2/catch.hpp>

#include <cmath>

#include <dsv2/backend/cpu/rmsnorm.hpp>

using Catch::Matchers::WithinRel;

TEST_CASE("rmsnorm: y = w * x / sqrt(mean(x^2) + eps)", "[rmsnorm]") {
    dsv2::cpu::matrix x(2, 2);
    x << 3, 4, 0, 0;
    dsv2::cpu::vector w(2);
    w << 1, 2;
    const auto y = dsv2::rmsnorm(dsv2::cpu{}, x, w, 1e-6);
    const double r = std::sqrt(12.5 + 1e-6);
    CHECK_THAT(y(0, 0), WithinRel(static_cast<float>(3 / r), 1e-6f));
    CHECK_THAT(y(0, 1), WithinRel(static_cast<float>(8 / r), 1e-6f));
    CHECK(y(1, 0) == 0.0f);  // a zero row stays finite thanks to eps
    const auto y2 = dsv2::rmsnorm(dsv2::cpu{}, x, w, 0.5);  // eps matters
    CHECK_THAT(y2(0, 0), WithinRel(static_cast<float>(3 / std::sqrt(13.0)), 1e-6f));
}
