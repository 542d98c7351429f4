# dsv2_cuda_cxx20_workaround(): lets .cu sources use C++20 on CMake 3.25.0/3.25.1 (Debian 12).
#
# dsv2::dsv2 requires cxx_std_20. CMake before 3.25.2 does not know nvcc's -std=c++20, so any CUDA
# target that links dsv2::dsv2 fails with 'requires the language dialect "CUDA20"'. Call this macro
# after enable_language(CUDA), in the directory scope of your CUDA targets; it does nothing on newer
# CMake. find_package(dsv2) calls it for you when CUDA is already enabled at that point.
# (A macro, not a function: the variables must land in the caller's scope.)
include_guard(GLOBAL)

macro(dsv2_cuda_cxx20_workaround)
  if(CMAKE_VERSION VERSION_LESS 3.25.2 AND DEFINED CMAKE_CUDA_COMPILER_VERSION
     AND CMAKE_CUDA_COMPILER_ID STREQUAL "NVIDIA" AND CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL 12.0
     AND NOT "cuda_std_20" IN_LIST CMAKE_CUDA_COMPILE_FEATURES)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
    set(CMAKE_CUDA20_COMPILE_FEATURES cuda_std_20)
  endif()
endmacro()
