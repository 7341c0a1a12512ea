#!/usr/bin/env bash
# CPU time (user + system) of one mla-codegen run per configuration, median
# of N runs: the issue-9 target is under 0.7 s for a CPU kernel.
#   scripts/codegen-time.sh [MLA_CODEGEN] [N]
set -euo pipefail
codegen=${1:-build/bin/mla-codegen}
runs=${2:-5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
configs=(
  "--target=cpu --num-heads=16 --kv-lora-rank=512 --qk-rope-head-dim=64 --dtype=bf16"
  "--target=cpu --num-heads=128 --kv-lora-rank=512 --qk-rope-head-dim=64 --dtype=f32 --q-len=2"
  "--target=cpu --num-heads=40 --kv-lora-rank=256 --qk-rope-head-dim=32 --dtype=bf16 --block-size=16"
)
if [ -x /usr/local/cuda/bin/ptxas ]; then
  configs+=("--target=sm_90a --num-heads=16 --kv-lora-rank=512 --qk-rope-head-dim=64 --dtype=bf16")
fi
for cfg in "${configs[@]}"; do
  times=()
  for ((i = 0; i < runs; i++)); do
    # bash's `time`: user and system seconds of the child.
    # shellcheck disable=SC2086
    t=$( { TIMEFORMAT='%U %S'; time "$codegen" $cfg --name=k -o "$out/k" >/dev/null; } 2>&1 | tail -n1)
    times+=("$(awk '{printf "%.3f", $1 + $2}' <<<"$t")")
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
  echo "$median s CPU (runs: ${times[*]})  mla-codegen $cfg"
done
