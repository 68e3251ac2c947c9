# Runs `trainmem ARGS...` from the source root and compares its stdout with a golden file byte for byte,
# and its exit code with EXPECTED_EXIT. With TRAINMEM_UPDATE_GOLDEN=1 in the environment it rewrites the
# golden instead (review the diff before committing: goldens guard against regressions, correctness is
# checked by the derivation tests).
#   -DTRAINMEM=<exe> -DSOURCE_DIR=<root> -DGOLDEN=<path from root> -DEXPECTED_EXIT=<n> -DARGS=<arguments joined by "|">
string(REPLACE "|" ";" ARGS "${ARGS}")
execute_process(COMMAND ${TRAINMEM} ${ARGS} WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(DEFINED ENV{TRAINMEM_UPDATE_GOLDEN} AND "$ENV{TRAINMEM_UPDATE_GOLDEN}" STREQUAL "1")
  file(WRITE ${SOURCE_DIR}/${GOLDEN} "${out}")
  message(STATUS "updated ${GOLDEN} (exit ${rc})")
  return()
endif()
if(NOT rc STREQUAL EXPECTED_EXIT)
  message(FATAL_ERROR "trainmem ${ARGS}: exit ${rc}, expected ${EXPECTED_EXIT}\nstderr:\n${err}\nstdout:\n${out}")
endif()
if(NOT EXISTS ${SOURCE_DIR}/${GOLDEN})
  message(FATAL_ERROR "missing golden ${GOLDEN} (create it with TRAINMEM_UPDATE_GOLDEN=1 ctest -R <test>)")
endif()
file(READ ${SOURCE_DIR}/${GOLDEN} expected)
if(NOT out STREQUAL expected)
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/actual.out "${out}")
  execute_process(COMMAND diff -u ${SOURCE_DIR}/${GOLDEN} ${CMAKE_CURRENT_BINARY_DIR}/actual.out OUTPUT_VARIABLE d)
  message(FATAL_ERROR "trainmem ${ARGS}: output differs from ${GOLDEN}:\n${d}")
endif()
