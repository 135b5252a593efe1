# ctest entries beyond the unit tests: one per pg_regress file, one per integration
# test file. They start their own Postgres / Redis / livesyncd on free loopback ports.
# python3 on PATH (find_package(Python3) probes every Python version: 10 s of a 19 s
# configure on a busy machine, paid by every first build and by the demo).
find_program(Python3_EXECUTABLE python3 REQUIRED)

file(GLOB regress_files ${CMAKE_SOURCE_DIR}/test/sql/*.sql)
foreach(file ${regress_files})
  get_filename_component(name ${file} NAME_WE)
  add_test(NAME regress.${name} COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/test/run_regress.py ${name})
endforeach()

file(GLOB integration_files ${CMAKE_SOURCE_DIR}/test/integration/test_*.py)
foreach(file ${integration_files})
  get_filename_component(name ${file} NAME_WE)
  string(REGEX REPLACE "^test_" "" name ${name})
  add_test(NAME integration.${name} COMMAND ${Python3_EXECUTABLE} ${file})
  set_tests_properties(integration.${name} PROPERTIES
    ENVIRONMENT "LIVESYNC_BUILD_DIR=${CMAKE_BINARY_DIR};NODE_PATH=/usr/share/nodejs"
    TIMEOUT 600)
endforeach()
# Packages what this build holds (scripts/build-packages.sh --reuse-build), installs and
# purges it; opt-in: LIVESYNC_PACKAGE_TEST=1 (.ci/run sets it), as it writes into the
# system's PostgreSQL directories (and restores them).
if(TEST integration.packages)
  set_tests_properties(integration.packages PROPERTIES TIMEOUT 900)
endif()

# libFuzzer smoke run (builds its own clang + sanitizer tree in build-fuzz).
if(NOT LIVESYNC_FUZZ)
  add_test(NAME fuzz.smoke COMMAND ${CMAKE_SOURCE_DIR}/test/fuzz/run_smoke.sh)
  set_tests_properties(fuzz.smoke PROPERTIES TIMEOUT 900)
endif()
