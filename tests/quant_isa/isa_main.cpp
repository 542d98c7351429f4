// Catch2 main of the per-ISA quant kernel test executables (dsv2_quant_kernels_avx512,
// dsv2_quant_kernels_avx2). Their test translation unit is built with explicit ISA flags, whatever
// the build machine; this one is not, and checks the CPU before any other code runs (a priority-101
// constructor precedes every ordinary static initialiser): without the instructions it exits 77,
// which CTest reports as skipped (SKIP_RETURN_CODE).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>

namespace {

bool cpu_has_required_isa() {
    __builtin_cpu_init();
    bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#if defined(DSV2_REQUIRE_AVX512VNNI)
    ok = ok && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#endif
    return ok;
}

__attribute__((constructor(101))) void skip_without_isa() {
    if (cpu_has_required_isa()) return;
    std::fputs("SKIP: this CPU lacks the instructions this test executable was built for\n", stderr);
    std::fflush(stderr);
    std::_Exit(77);
}

}  // namespace

int main(int argc, char* argv[]) { return Catch::Session().run(argc, argv); }
