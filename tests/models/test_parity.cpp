// Parity with transformers on the CPU: every forward case of every fixture variant — logits, every
// hidden state at real positions, attention weights where recorded, and losses — within the fp32
// parity bounds (the body is tests/support/parity.hpp, which the GPU test runs as well).
#include <catch2/catch.hpp>

#include <dsv2/model.hpp>

#include "support/parity.hpp"

TEST_CASE("parity with transformers on every fixture", "[parity]") {
    dsv2_test::check_parity_on_every_fixture<dsv2::default_spec>([](const auto&) { return dsv2_test::tolerance{}; });
}
