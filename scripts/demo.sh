#!/usr/bin/env bash
# The main job on a bundled example (DeepSeek-V3):
#  1. the KV-cache report of the layer, for 8 sequences of 32768 tokens over
#     its 61 layers;
#  2. its decode kernel for one GPU's share of the heads at tensor parallel 8
#     (128 / 8 = 16 heads), generated for this CPU from the dialect file;
#  3. that kernel on random data (batch 4, 4096 tokens, bf16), checked
#     against the double-precision reference, with the error and GFLOP/s
#     next to an OpenBLAS-based implementation and the machine's FMA peak.
set -euo pipefail
cd "$(dirname "$0")/.."
./build/bin/mla-opt examples/deepseek-v3.mlir -o /dev/null \
  --mla-kv-cache-report="batch=8 context=32768 layers=61"
out=build/demo
./build/bin/mla-codegen examples/deepseek-v3.mlir --target=cpu \
  --tensor-parallel=8 --name=deepseek_v3_tp8 -o "$out"
echo "generated $out/deepseek_v3_tp8.h and $out/libdeepseek_v3_tp8.so"
./build/bin/mla-bench --kernel-lib="$out/libdeepseek_v3_tp8.so" \
  --heads=16 --dc=512 --dr=64 --q-len=1 --block-size=64 --dtype=bf16 \
  --batch=4 --seq-len=4096 --threads=all --impl=kernel,openblas --reps=5
