# Flags for dsv2's own targets (tests, examples, tools, benchmarks, fuzzers) — never for consumers
# of dsv2::dsv2: the exported target carries only its usage requirements (C++20, Eigen, json).
include_guard(GLOBAL)

# -march=native makes Eigen use AVX2/AVX-512 (benchmarks run at SSE2 speed without it), but the
# binaries then only run on CPUs like the build machine's: opt-in, on by the release/bench presets.
option(DSV2_NATIVE_ARCH "Build dsv2's own targets with -march=native (never applied to consumers)" OFF)

# OpenMP threads dsv2's CPU kernels (backend/cpu/threading.hpp); without it they run serially.
# Like the arch flags it applies to dsv2's own targets only: a consumer links OpenMP::OpenMP_CXX
# itself to get threads. ThreadSanitizer builds turn it off (libgomp is not instrumented).
option(DSV2_OPENMP "Build dsv2's own targets with OpenMP threading" ON)
if(DSV2_OPENMP)
  find_package(OpenMP COMPONENTS CXX)
endif()

# dsv2_target_flags(<target>): warnings, -Werror, sanitizers and arch flags for one of our targets.
# The compile options apply to C++ sources only, so mixed C++/CUDA targets may use it as well
# (their CUDA sources get theirs from dsv2_cuda_target_flags() in dsv2Cuda.cmake).
function(dsv2_target_flags target)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    return()
  endif()
  set(_opts -Wall -Wextra)
  if(DSV2_WARNINGS_AS_ERRORS)
    list(APPEND _opts -Werror)
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # False positives of g++ 12 at -O2+: GCC bug 105593 inside Eigen's AVX-512 code (even for system
    # headers), and on std::string members of designated-initialised aggregates; GCC bug 105651
    # (-Wrestrict on std::string's memcpy in libstdc++ 12).
    list(APPEND _opts -Wno-maybe-uninitialized -Wno-uninitialized -Wno-array-bounds -Wno-restrict)
  endif()
  if(DSV2_NATIVE_ARCH)
    list(APPEND _opts ${DSV2_NATIVE_ARCH_FLAGS})
  endif()
  if(DSV2_SANITIZE)
    list(APPEND _opts -fsanitize=${DSV2_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${DSV2_SANITIZE})
  endif()
  target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:${_opts}>")
  if(DSV2_OPENMP AND OpenMP_CXX_FOUND)
    target_link_libraries(${target} PRIVATE OpenMP::OpenMP_CXX)
  endif()
endfunction()

# The arch flags themselves. g++ 12 does not know Zen 5: plain -march=native tunes for Zen 3 and
# loses ~25% in Eigen's GEMM, so older GCCs get -mtune=generic as well.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  set(DSV2_NATIVE_ARCH_FLAGS -march=native -mtune=generic)
elseif(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set(DSV2_NATIVE_ARCH_FLAGS -march=native)
else()
  set(DSV2_NATIVE_ARCH_FLAGS "")
endif()
if(DSV2_NATIVE_ARCH AND DSV2_NATIVE_ARCH_FLAGS)
  list(JOIN DSV2_NATIVE_ARCH_FLAGS " " _dsv2_arch)
  message(STATUS "dsv2: own targets built with ${_dsv2_arch} (DSV2_NATIVE_ARCH=ON)")
endif()
