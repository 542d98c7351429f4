# Runs one libFuzzer binary for a bounded time, starting from a seed corpus.
#   cmake -DFUZZER=<binary> -DSEEDS=<seed dir> -DWORK_DIR=<scratch dir> [-DSECONDS=60] -P run_fuzzer.cmake
# The seeds are copied into WORK_DIR/corpus (libFuzzer adds new inputs there), crash/leak/timeout
# artifacts land in WORK_DIR/artifacts/; the seed directory in the repository stays untouched.
cmake_minimum_required(VERSION 3.25)
foreach(_req FUZZER SEEDS WORK_DIR)
  if(NOT DEFINED ${_req})
    message(FATAL_ERROR "run_fuzzer.cmake: -D${_req}=... is required")
  endif()
endforeach()
if(NOT SECONDS)
  set(SECONDS 60)
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}/corpus" "${WORK_DIR}/artifacts")
if(IS_DIRECTORY "${SEEDS}")
  file(GLOB _seeds LIST_DIRECTORIES false "${SEEDS}/*")
  list(LENGTH _seeds _n)
  if(_seeds)
    file(COPY ${_seeds} DESTINATION "${WORK_DIR}/corpus")
  endif()
  message(STATUS "${FUZZER}: ${_n} seeds from ${SEEDS}, ${SECONDS} s")
else()
  message(WARNING "no seed corpus at ${SEEDS}: fuzzing from scratch")
endif()

execute_process(
  COMMAND "${FUZZER}" -max_total_time=${SECONDS} -timeout=20 -rss_limit_mb=4096 -print_final_stats=1
          "-artifact_prefix=${WORK_DIR}/artifacts/" "${WORK_DIR}/corpus"
  WORKING_DIRECTORY "${WORK_DIR}"
  RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  file(GLOB _artifacts "${WORK_DIR}/artifacts/*")
  message(FATAL_ERROR "${FUZZER} failed (${_rc}); reproduce with: ${FUZZER} <artifact>\n  ${_artifacts}")
endif()
