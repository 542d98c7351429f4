// Threading on the CPU: OpenMP when the build has it (-fopenmp), otherwise serial. Each parallel
// loop names the work below which it stays serial, so tiny test models pay no threading overhead.
#pragma once

#include <cstdint>

namespace dsv2 {

/// Multiply-adds below which a loop is not worth splitting across threads (≈ 20 µs of work on one
/// core: the fork/join of an OpenMP region costs a few µs).
inline constexpr std::int64_t parallel_min_work = std::int64_t{1} << 18;

}  // namespace dsv2
