#!/usr/bin/env bash
# Builds, then runs the whole test suite (lit + GoogleTest) through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd build
# One test per core: the kernel tests spend their time in mla-codegen.
ctest --output-on-failure -j"$(nproc)" "$@"
