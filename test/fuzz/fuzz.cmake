# libFuzzer targets for every parser of outside input (guarantee 5). Only with
# -DLIVESYNC_FUZZ=ON and clang, in a build directory of their own:
#   CC=clang-14 CXX=clang++-14 cmake -B build-fuzz -DLIVESYNC_FUZZ=ON && cmake --build build-fuzz -j2
# Everything is compiled with coverage, ASan and UBSan; each target gets a 5-second smoke
# run in ctest (ctest -R fuzz). The longer runs are in docs/security.md.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "LIVESYNC_FUZZ=ON needs clang (libFuzzer): CC=clang-14 CXX=clang++-14 cmake -B build-fuzz ...")
endif()
set(LIVESYNC_FUZZ_SECONDS 5 CACHE STRING "seconds of each fuzz smoke run in ctest")
foreach(target client_frame decode_batch parse_filter token_verifier)
  add_executable(fuzz_${target} ${CMAKE_SOURCE_DIR}/test/fuzz/fuzz_${target}.cpp)
  target_link_libraries(fuzz_${target} PRIVATE livesync_sidecar)
  target_link_options(fuzz_${target} PRIVATE -fsanitize=fuzzer,address,undefined)
  set(corpus ${CMAKE_BINARY_DIR}/fuzz-corpus/${target})
  file(MAKE_DIRECTORY ${corpus})
  add_test(NAME fuzz.${target}
           COMMAND fuzz_${target} -max_total_time=${LIVESYNC_FUZZ_SECONDS} -rss_limit_mb=1024 -timeout=10
                   ${corpus} ${CMAKE_SOURCE_DIR}/test/fuzz/corpus/${target})
  set_tests_properties(fuzz.${target} PROPERTIES TIMEOUT 120)
endforeach()
