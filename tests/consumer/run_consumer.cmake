# Consumer test driver: builds a tiny project that uses dsv2 the way a host application would, and
# runs it.   cmake -DMODE=<find_package|add_subdirectory|cuda> -DDSV2_SOURCE_DIR=<dsv2 checkout>
#                  -DWORK_DIR=<scratch dir> [-DGENERATOR=Ninja] [-DMAKE_PROGRAM=...]
#                  [-DCXX_COMPILER=g++] [-DBUILD_TYPE=Release] [-DEXPECT_VERSION=x.y.z]
#                  [-DCUDA_COMPILER=/usr/local/cuda/bin/nvcc] [-DCUDA_ARCHITECTURES=90 or 80,90]
#                  -P run_consumer.cmake
#  find_package:     configure dsv2 alone (tests etc. off), install it into WORK_DIR/prefix, build
#                    tests/consumer/find_package against that prefix (CMAKE_PREFIX_PATH).
#  add_subdirectory: build tests/consumer/add_subdirectory, which add_subdirectory()s the checkout.
#  cuda:             like find_package, with a project that mixes a .cu and a .cpp (needs nvcc).
# WORK_DIR is wiped first; nothing is written into the source tree.
cmake_minimum_required(VERSION 3.25)

foreach(_req MODE DSV2_SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${_req} OR "${${_req}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${_req}=... is required")
  endif()
endforeach()
if(NOT MODE MATCHES "^(find_package|add_subdirectory|cuda)$")
  message(FATAL_ERROR "run_consumer.cmake: unknown MODE '${MODE}'")
endif()
if(NOT BUILD_TYPE)
  set(BUILD_TYPE Release)
endif()

# Options shared by every configure step.
set(_common -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
if(GENERATOR)
  list(APPEND _common -G "${GENERATOR}")
endif()
if(MAKE_PROGRAM)
  list(APPEND _common "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(CXX_COMPILER)
  list(APPEND _common "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
if(MODE STREQUAL "cuda")
  if(CUDA_COMPILER)
    list(APPEND _common "-DCMAKE_CUDA_COMPILER=${CUDA_COMPILER}")
  endif()
  if(NOT CUDA_ARCHITECTURES)
    set(CUDA_ARCHITECTURES 90)
  endif()
  string(REPLACE "," ";" CUDA_ARCHITECTURES "${CUDA_ARCHITECTURES}")  # 80,90 -> 80;90
  list(APPEND _common "-DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES}")
endif()

function(_step what)
  message(STATUS "[consumer.${MODE}] ${what}: ${ARGN}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
  message("${_out}")
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "[consumer.${MODE}] ${what} failed (${_rc})")
  endif()
  set(_step_output "${_out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(_project "${DSV2_SOURCE_DIR}/tests/consumer/${MODE}")
set(_build "${WORK_DIR}/consumer-build")

if(MODE STREQUAL "add_subdirectory")
  _step("configure" "${CMAKE_COMMAND}" -S "${_project}" -B "${_build}" ${_common}
        "-DDSV2_SOURCE_DIR=${DSV2_SOURCE_DIR}")
else()
  # Install dsv2 alone, as a package would: its own tests/examples/tools/benchmarks off.
  set(_prefix "${WORK_DIR}/prefix")
  _step("configure dsv2" "${CMAKE_COMMAND}" -S "${DSV2_SOURCE_DIR}" -B "${WORK_DIR}/dsv2-build" ${_common}
        -DDSV2_BUILD_TESTS=OFF -DDSV2_BUILD_EXAMPLES=OFF -DDSV2_BUILD_BENCH=OFF -DDSV2_BUILD_TOOLS=OFF
        -DDSV2_BUILD_FUZZERS=OFF -DDSV2_ENABLE_CUDA=OFF "-DCMAKE_INSTALL_PREFIX=${_prefix}")
  _step("build dsv2" "${CMAKE_COMMAND}" --build "${WORK_DIR}/dsv2-build")
  _step("install dsv2" "${CMAKE_COMMAND}" --install "${WORK_DIR}/dsv2-build")
  file(GLOB _config "${_prefix}/share/dsv2/cmake/dsv2Config.cmake")
  if(NOT EXISTS "${_prefix}/include/dsv2/model.hpp" OR NOT _config)
    message(FATAL_ERROR "[consumer.${MODE}] the install prefix lacks include/dsv2/model.hpp or dsv2Config.cmake")
  endif()
  _step("configure" "${CMAKE_COMMAND}" -S "${_project}" -B "${_build}" ${_common}
        "-DCMAKE_PREFIX_PATH=${_prefix}")
  # The package must come from the prefix just installed, not from anywhere else on the machine.
  string(FIND "${_step_output}" "in ${_prefix}/share/dsv2/cmake" _at)
  if(_at EQUAL -1)
    message(FATAL_ERROR "[consumer.${MODE}] dsv2 was not found in ${_prefix}")
  endif()
endif()

_step("build" "${CMAKE_COMMAND}" --build "${_build}")
_step("run" "${_build}/consumer")
if(EXPECT_VERSION)
  string(FIND "${_step_output}" "dsv2 ${EXPECT_VERSION}:" _at)
  if(_at EQUAL -1)
    message(FATAL_ERROR "[consumer.${MODE}] the program did not report dsv2 ${EXPECT_VERSION}")
  endif()
endif()
message(STATUS "[consumer.${MODE}] OK")
