#!/usr/bin/env bash
# The fuzz smoke run CI does: builds the libFuzzer targets with clang (ASan + UBSan) in
# build-fuzz and runs each for LIVESYNC_FUZZ_SECONDS (5 s by default) over its seed
# corpus and the regressions in test/fuzz/findings. Longer runs: docs/security.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${LIVESYNC_FUZZ_BUILD_DIR:-$root/build-fuzz}"
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -DLIVESYNC_FUZZ=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target fuzz_client_frame fuzz_decode_batch fuzz_parse_filter fuzz_token_verifier
# Every past finding first: a fixed crash must stay fixed.
"$build/fuzz_client_frame" "$root"/test/fuzz/findings/client_msgpack_* 2>&1 | tail -n 1
"$build/fuzz_decode_batch" "$root"/test/fuzz/findings/decode_batch_* 2>&1 | tail -n 1
ctest --test-dir "$build" -R '^fuzz\.' --output-on-failure
