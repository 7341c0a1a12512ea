#!/usr/bin/env bash
# The main job on a bundled example: the KV-cache report of a DeepSeek-V3
# layer serving 8 sequences of 32768 tokens over its 61 layers.
set -euo pipefail
cd "$(dirname "$0")/.."
./build/bin/mla-opt examples/deepseek-v3.mlir -o /dev/null \
  --mla-kv-cache-report="batch=8 context=32768 layers=61"
