# The chat's cache across turns gives what one prefill of the whole conversation gives: runs
# `dsv2 chat MODEL --message FIRST --message SECOND` (byte-level demo, greedy), rebuilds the
# conversation the second turn saw from the demo's chat template (examples/models/shakespeare/
# tokenizer_config.json: "FIRST\n" + answer + "\n\n" + "SECOND\n", bos first), feeds it to
# `dsv2 generate --ids` (a fresh cache) and compares the continuations.
#   cmake -DDSV2=<exe> -DMODEL=<dir> -DFIRST=<s> -DSECOND=<s> -DN=<max new tokens> -P check_chat_cache.cmake
cmake_minimum_required(VERSION 3.25)

execute_process(COMMAND "${DSV2}" chat "${MODEL}" --message "${FIRST}" --message "${SECOND}" --max-new-tokens ${N}
                RESULT_VARIABLE _rc OUTPUT_VARIABLE _chat ERROR_VARIABLE _err)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "dsv2 chat failed (${_rc}):\n${_chat}${_err}")
endif()
string(FIND "${_chat}" ">>> ${FIRST}\n" _a)
string(FIND "${_chat}" ">>> ${SECOND}\n" _b)
if(_a EQUAL -1 OR _b EQUAL -1)
  message(FATAL_ERROR "chat output lacks the turns:\n${_chat}")
endif()
string(LENGTH ">>> ${FIRST}\n" _la)
math(EXPR _a "${_a} + ${_la}")
math(EXPR _len "${_b} - ${_a}")
string(SUBSTRING "${_chat}" ${_a} ${_len} _turn1)  # answer, "\n", speed line, "\n"
string(FIND "${_turn1}" "\n[prefill" _end REVERSE)
string(SUBSTRING "${_turn1}" 0 ${_end} _answer1)
string(LENGTH ">>> ${SECOND}\n" _lb)
math(EXPR _b "${_b} + ${_lb}")
string(SUBSTRING "${_chat}" ${_b} -1 _turn2)
string(FIND "${_turn2}" "\n[prefill" _end REVERSE)
string(SUBSTRING "${_turn2}" 0 ${_end} _answer2)

string(STRIP "${_answer1}" _stored)  # chat stores answers trimmed
string(HEX "${FIRST}\n${_stored}\n\n${SECOND}\n" _hex)
set(_ids "256")
string(LENGTH "${_hex}" _n)
math(EXPR _last "${_n} - 2")
foreach(_i RANGE 0 ${_last} 2)
  string(SUBSTRING "${_hex}" ${_i} 2 _byte)
  math(EXPR _v "0x${_byte}")
  string(APPEND _ids ",${_v}")
endforeach()
execute_process(COMMAND "${DSV2}" generate "${MODEL}" --ids "${_ids}" --max-new-tokens ${N} --greedy
                RESULT_VARIABLE _rc OUTPUT_VARIABLE _gen ERROR_VARIABLE _err)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "dsv2 generate failed (${_rc}):\n${_gen}${_err}")
endif()
string(FIND "${_gen}" "\n[prefill" _end REVERSE)
string(SUBSTRING "${_gen}" 0 ${_end} _fresh)
if(NOT _fresh STREQUAL _answer2)
  message(FATAL_ERROR "the second answer differs from a fresh prefill of the conversation\n--- chat ---\n${_answer2}\n--- generate --ids ${_ids} ---\n${_fresh}\n--- chat output ---\n${_chat}")
endif()
message(STATUS "second answer = fresh prefill: ${_answer2}")
