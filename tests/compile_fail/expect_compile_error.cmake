# cmake -DBUILD_DIR=... -DTARGET=... -DEXPECT=... [-DEXPECT_SUCCESS=ON] -P expect_compile_error.cmake
# Builds one EXCLUDE_FROM_ALL target and checks that the build fails with EXPECT in its output (or,
# with EXPECT_SUCCESS, that it builds: the control case shows that the failures are the hooks').
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}"
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
set(all "${out}${err}")
if(EXPECT_SUCCESS)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${TARGET} should compile but failed:\n${all}")
  endif()
  return()
endif()
if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but it names an unimplemented (policy, backend) pair")
endif()
string(FIND "${all}" "${EXPECT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${TARGET} failed, but without the message '${EXPECT}':\n${all}")
endif()
message(STATUS "${TARGET}: failed to compile with '${EXPECT}', as it should")
