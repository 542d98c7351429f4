# Runs the dsv2 executable once and checks its exit status and output (a CTest helper: CTest's own
# PASS_REGULAR_EXPRESSION ignores the exit status and accepts any one of several patterns).
#   cmake -DDSV2=<exe> -DARGS=<a|b|...> -DEXPECT_RC=<n>
#         [-DSTDOUT_HAS=<s1|s2|...>] [-DSTDOUT_LACKS=<s1|...>] [-DSTDERR_HAS=<s1|...>] [-DSTDERR_ONE_LINE=ON]
#         -P check_cli.cmake
# Strings are matched literally; '|' separates list items.
cmake_minimum_required(VERSION 3.25)

string(REPLACE "|" ";" _args "${ARGS}")
execute_process(COMMAND "${DSV2}" ${_args}
                RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)

set(_failures "")
if(NOT "${_rc}" STREQUAL "${EXPECT_RC}")
  string(APPEND _failures "exit status ${_rc}, expected ${EXPECT_RC}\n")
endif()
foreach(_stream out err)
  if(_stream STREQUAL "out")
    set(_wanted "${STDOUT_HAS}")
  else()
    set(_wanted "${STDERR_HAS}")
  endif()
  if(NOT "${_wanted}" STREQUAL "")
    string(REPLACE "|" ";" _wanted "${_wanted}")
    foreach(_s IN LISTS _wanted)
      string(FIND "${_${_stream}}" "${_s}" _pos)
      if(_pos EQUAL -1)
        string(APPEND _failures "std${_stream} lacks '${_s}'\n")
      endif()
    endforeach()
  endif()
endforeach()
if(NOT "${STDOUT_LACKS}" STREQUAL "")
  string(REPLACE "|" ";" _unwanted "${STDOUT_LACKS}")
  foreach(_s IN LISTS _unwanted)
    string(FIND "${_out}" "${_s}" _pos)
    if(NOT _pos EQUAL -1)
      string(APPEND _failures "stdout has '${_s}'\n")
    endif()
  endforeach()
endif()
if(STDERR_ONE_LINE)
  if(NOT _err MATCHES "^dsv2: error: [^\n]+\n$")
    string(APPEND _failures "stderr is not exactly one 'dsv2: error: ...' line\n")
  endif()
  if(NOT "${_out}" STREQUAL "")
    string(APPEND _failures "stdout is not empty on failure\n")
  endif()
endif()

if(NOT _failures STREQUAL "")
  message(FATAL_ERROR "dsv2 ${ARGS}\n${_failures}--- stdout ---\n${_out}--- stderr ---\n${_err}")
endif()
message(STATUS "dsv2 ${ARGS}: ok\n${_out}${_err}")
