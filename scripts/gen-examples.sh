#!/usr/bin/env bash
# Regenerates examples/*.mlir from examples/configs/*.json.
set -euo pipefail
cd "$(dirname "$0")/../examples"
# The project venv (scripts/install.sh) has numpy, which the package needs.
PY=${PYTHON:-../.venv/bin/python}
gen() { PYTHONPATH=../python "$PY" -m mla.layer "$@"; }
gen configs/deepseek-v3.json --name deepseek_v3_decode > deepseek-v3.mlir
gen configs/deepseek-v2-lite.json --name deepseek_v2_lite_decode > deepseek-v2-lite.mlir
gen configs/minicpm3-4b.json --name minicpm3_4b_decode > minicpm3-4b.mlir
gen configs/llama3-70b.json --name llama3_70b_decode > llama3-70b-gqa.mlir
gen configs/kimi-k2.json --name kimi_k2_decode > kimi-k2.mlir
gen configs/mistral-small-4.json --name mistral_small_4_decode > mistral-small-4.mlir
gen configs/deepseek-v3.2.json --name deepseek_v32_decode > deepseek-v32.mlir
