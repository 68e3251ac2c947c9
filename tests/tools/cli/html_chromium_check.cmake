# Renders `trainmem simulate --html` in headless Chromium (--dump-dom runs the page as a browser would) and
# checks that the DOM has one rank row per pipeline stage. Needs chromium-headless-shell (tools/dev installs it).
find_program(CHROMIUM NAMES chromium-headless-shell chromium)
if(NOT CHROMIUM)
  message(FATAL_ERROR "chromium-headless-shell not found (tools/dev setup installs it)")
endif()
set(html "${WORK_DIR}/chromium_check.html")
execute_process(COMMAND ${TRAINMEM} simulate --model gpt3-175b --tp 8 --pp 4 --dp 2 --sequence-parallel
                        --recompute-granularity selective --global-batch-size 16 --html ${html}
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "trainmem simulate failed: ${rc}")
endif()
execute_process(COMMAND ${CHROMIUM} --headless --no-sandbox --disable-gpu --disable-background-networking
                        --disable-component-update --no-first-run --user-data-dir=${WORK_DIR}/chromium-profile
                        --dump-dom file://${html}
                OUTPUT_VARIABLE dom ERROR_QUIET RESULT_VARIABLE rc TIMEOUT 60)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "chromium failed: ${rc}")
endif()
string(REGEX MATCHALL "class=\"rank-row\"" rows "${dom}")
list(LENGTH rows n)
if(NOT n EQUAL 4)
  message(FATAL_ERROR "expected 4 rank rows (one per stage) in the rendered DOM, found ${n}")
endif()
string(FIND "${dom}" "<svg" svg)
if(svg EQUAL -1)
  message(FATAL_ERROR "no SVG timeline in the rendered DOM")
endif()
message(STATUS "chromium rendered ${n} rank rows")
