# CUDA support for dsv2's own targets (DSV2_ENABLE_CUDA=ON): nvcc, the CUDA toolkit, CCCL, the
# flags of our CUDA targets, and dsv2_add_cuda_test().
#
# Convention for CUDA tests: a test binary that finds no usable CUDA device prints the reason and
# exits with code 77; CTest maps 77 to SKIPPED (SKIP_RETURN_CODE), so a machine without a GPU shows
# the CUDA tests as skipped, never as passed.
include_guard(GLOBAL)

# sm_90 (H100/H200) unless the user says otherwise (-DCMAKE_CUDA_ARCHITECTURES=... or $CUDAARCHS).
# 'native' is a hard error on a machine without a GPU; CUDA 13 supports sm_75..sm_121.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
  set(CMAKE_CUDA_ARCHITECTURES 90 CACHE STRING "CUDA architectures for dsv2's CUDA targets")
endif()
# nvcc is usually not on PATH on Debian: fall back to the toolkit's default location.
if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS "/usr/local/cuda/bin/nvcc")
  find_program(_dsv2_nvcc nvcc)
  if(NOT _dsv2_nvcc)
    set(CMAKE_CUDA_COMPILER "/usr/local/cuda/bin/nvcc" CACHE FILEPATH "CUDA compiler")
  endif()
endif()

enable_language(CUDA)
include(dsv2CudaCxx20)
dsv2_cuda_cxx20_workaround()

# One cudart, the shared one (otherwise both flavours can get linked).
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)

find_package(CUDAToolkit REQUIRED)
find_package(CCCL CONFIG REQUIRED HINTS "${CUDAToolkit_LIBRARY_DIR}/cmake")
message(STATUS "dsv2: CUDA ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES}")

# dsv2_cuda_target_flags(<target>): nvcc options for the CUDA sources of one of our targets.
#  - Eigen inside .cu: --expt-relaxed-constexpr, and #20012 (__host__ __device__ on defaulted
#    functions) is reported even for -isystem headers: suppressed.
#  - warnings as errors, for nvcc and for the host compiler (no -Wpedantic: nvcc's own generated
#    code violates it). The C++ sources of a mixed target get theirs from dsv2_target_flags().
function(dsv2_cuda_target_flags target)
  set(_opts --expt-relaxed-constexpr -diag-suppress=20012)
  set(_host -Wall -Wextra)
  if(DSV2_WARNINGS_AS_ERRORS)
    list(APPEND _opts -Werror=all-warnings)
    list(APPEND _host -Werror)
  endif()
  if(CMAKE_CUDA_SIMULATE_ID STREQUAL "GNU" AND CMAKE_CUDA_SIMULATE_VERSION VERSION_LESS 13)
    # GCC bug 105593 (see dsv2Flags.cmake).
    list(APPEND _host -Wno-maybe-uninitialized -Wno-uninitialized -Wno-array-bounds -Wno-restrict)
  endif()
  if(DSV2_NATIVE_ARCH)
    list(APPEND _host -march=native)
  endif()
  list(JOIN _host "," _host)
  list(APPEND _opts "-Xcompiler=${_host}")
  target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CUDA>:${_opts}>")
endfunction()

# The aggregate target that builds every CUDA test (CI builds just this one in the cuda stage).
if(NOT TARGET dsv2_cuda_tests)
  add_custom_target(dsv2_cuda_tests)
endif()

# dsv2_add_cuda_test(<name> [NO_CATCH_MAIN] <sources...>)
# An executable of .cu/.cpp sources linking dsv2::dsv2, CUDA::cudart and CCCL::CCCL, registered as
# one CTest test <name> labelled 'cuda', with SKIP_RETURN_CODE 77.
#  - default: Catch2 test cases; the shared main (tests/cuda/cuda_catch_main.cpp) exits 77 when no
#    CUDA device is usable and otherwise runs every test case.
#  - NO_CATCH_MAIN: the sources bring their own main(), which must follow the exit-77 convention.
# Call it from the tests (DSV2_BUILD_TESTS=ON: Catch2 is found there).
function(dsv2_add_cuda_test name)
  cmake_parse_arguments(PARSE_ARGV 1 _arg "NO_CATCH_MAIN" "" "")
  set(_sources ${_arg_UNPARSED_ARGUMENTS})
  if(NOT _sources)
    message(FATAL_ERROR "dsv2_add_cuda_test(${name}): no sources")
  endif()
  add_executable(${name} ${_sources})
  target_link_libraries(${name} PRIVATE dsv2::dsv2 CUDA::cudart CCCL::CCCL)
  if(NOT _arg_NO_CATCH_MAIN)
    if(NOT TARGET dsv2_cuda_catch_main)
      add_library(dsv2_cuda_catch_main OBJECT "${PROJECT_SOURCE_DIR}/tests/cuda/cuda_catch_main.cpp")
      target_link_libraries(dsv2_cuda_catch_main PUBLIC Catch2::Catch2 CUDA::cudart)
      dsv2_target_flags(dsv2_cuda_catch_main)
    endif()
    target_sources(${name} PRIVATE $<TARGET_OBJECTS:dsv2_cuda_catch_main>)
    target_link_libraries(${name} PRIVATE Catch2::Catch2)
  endif()
  target_include_directories(${name} PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}")
  if(DEFINED DSV2_FIXTURE_DIR)
    target_compile_definitions(${name} PRIVATE DSV2_FIXTURE_DIR="${DSV2_FIXTURE_DIR}"
                                               DSV2_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  endif()
  dsv2_target_flags(${name})
  dsv2_cuda_target_flags(${name})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 LABELS cuda TIMEOUT 600)
  add_dependencies(dsv2_cuda_tests ${name})
endfunction()
