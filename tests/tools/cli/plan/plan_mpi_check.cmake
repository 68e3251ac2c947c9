cmake_minimum_required(VERSION 3.25)
# Runs `trainmem ARGS` once as one process and once under `mpiexec -np NP --oversubscribe`, from the source
# root, and requires the same exit code and byte-identical stdout (the split search merges to one answer).
#   -DTRAINMEM=<exe> -DMPIEXEC=<mpiexec> -DSOURCE_DIR=<root> -DNP=<ranks> -DARGS=<arguments joined by "|">
string(REPLACE "|" ";" ARGS "${ARGS}")
execute_process(COMMAND ${TRAINMEM} ${ARGS} WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE single ERROR_VARIABLE single_err RESULT_VARIABLE single_rc)
execute_process(COMMAND ${MPIEXEC} -np ${NP} --oversubscribe ${TRAINMEM} ${ARGS} WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE split ERROR_VARIABLE split_err RESULT_VARIABLE split_rc)
if(NOT single_rc STREQUAL split_rc)
  message(FATAL_ERROR "exit ${single_rc} alone, ${split_rc} under mpiexec -np ${NP}\n${single_err}\n${split_err}")
endif()
if(single STREQUAL "")
  message(FATAL_ERROR "no output from ${TRAINMEM} ${ARGS}: ${single_err}")
endif()
if(NOT single STREQUAL split)
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/plan_single.json "${single}")
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/plan_split.json "${split}")
  execute_process(COMMAND diff -u ${CMAKE_CURRENT_BINARY_DIR}/plan_single.json ${CMAKE_CURRENT_BINARY_DIR}/plan_split.json
                  OUTPUT_VARIABLE d)
  message(FATAL_ERROR "mpiexec -np ${NP} output differs from one process:\n${d}\n${split_err}")
endif()
string(LENGTH "${single}" n)
message(STATUS "identical output (${n} bytes) alone and under mpiexec -np ${NP}")
