// The quant kernel tests built with -mavx2 -mfma -mf16c -mno-avx512f and DSV2_QUANT_NO_VNNI
// (tests/CMakeLists.txt), so that the AVX2 path compiles and runs even where the build machine
// has AVX-512 or AVX-VNNI.
#include "../quant/test_quant_kernels.cpp"
