#!/usr/bin/env bash
# The sanitizer suite: a second build (build-asan/, clang-22 with
# AddressSanitizer and UndefinedBehaviorSanitizer, libFuzzer coverage), the
# lit and GoogleTest suites run under it, then the libFuzzer target over
# mla-opt's front end for a bounded time, seeded from examples/ and test/.
# Usage: scripts/sanitize.sh [fuzz runs, default 200000 (about 30 s)]
# The fuzzer's seed is fixed, so a run is reproducible (CI runs this).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200000}
if [ ! -f build-asan/build.ninja ]; then
  # LLVM_USE_SANITIZER also drops -Wl,-z,defs, which shared libraries with
  # the sanitizers' runtime references would fail; the coverage option adds
  # libFuzzer's instrumentation (-fsanitize=fuzzer-no-link).
  CC=clang-22 CXX=clang++-22 cmake -G Ninja -S . -B build-asan \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
    -DLLVM_USE_SANITIZER="Address;Undefined" -DLLVM_USE_SANITIZE_COVERAGE=ON \
    -DCMAKE_CXX_FLAGS="-fno-sanitize-recover=undefined" \
    -DMLA_BUILD_FUZZER=ON -DMLA_PYTHON="$PWD/.venv/bin/python" \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit
fi
ninja -C build-asan
# MLIR's own allocations live as long as the process: leaks are not checked.
# libMLIR/libLLVM are not instrumented, but LLVM's allocator headers inlined
# into our code poison slabs that libMLIR then allocates from unpoisoned:
# manual poisoning is off (allow_user_poisoning=0), real errors still show.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allow_user_poisoning=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd build-asan
# The fuzzer first: seeds are every dialect file of the repository; a crash
# is written to build-asan/fuzz-crashes/ and fails this script.
mkdir -p fuzz-corpus fuzz-crashes
find ../examples ../test -name '*.mlir' -exec cp {} fuzz-corpus/ \;
if ! ./bin/mla-opt-fuzzer -seed=1 -runs="$runs" -max_len=65536 -timeout=30 \
    -rss_limit_mb=4096 -artifact_prefix=fuzz-crashes/ fuzz-corpus > fuzz.log 2>&1; then
  tail -80 fuzz.log
  echo "sanitize.sh: the fuzzer found a crash: build-asan/fuzz-crashes/" >&2
  exit 1
fi
tail -2 fuzz.log
# Then the suites under the sanitizers.
ctest --output-on-failure -j"$(nproc)" -L "lit|unit|kernel"
