// The quant kernel tests built with -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512vnni
// (tests/CMakeLists.txt), so that the AVX-512 VNNI path compiles and runs whatever the build machine.
#include "../quant/test_quant_kernels.cpp"
