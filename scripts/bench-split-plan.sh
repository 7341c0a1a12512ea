#!/usr/bin/env bash
# The CPU runtime's split plan (lib/Runtime/SplitPlan.h) against one split
# count for every sequence (the rule before it, forced with
# MLA_CPU_NUM_SPLITS), interleaved on the same library and lengths:
#   scripts/bench-split-plan.sh [ROUNDS] [THREADS]
# Prints one line a case: the kernel's median ms with the plan and with the
# one count, each round, and the ratio of the medians over the rounds.
set -euo pipefail
rounds=${1:-3}
threads=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
bench=$root/build/bin/mla-bench
codegen=$root/build/bin/mla-codegen
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Lengths, and the count the rule before the plan gave them on 2 threads
# (uniformSplits: enough items for twice the threads, capped by length/256).
cases=(
  "4096 4"                                 # one sequence
  "16384,1024,1024,1024 1"                 # a long one among short ones
  "7000,1500 2"
  "8192,8192,512,512,512,512,512,512 1"
  "2246,5824,5554,474 1"                   # --var-len's draw at batch 4
)
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
for h in 16 128; do
  "$codegen" --kv-lora-rank=512 --qk-rope-head-dim=64 --block-size=64 \
    --target=cpu --dtype=bf16 --num-heads=$h --q-len=1 --name=k$h \
    -o "$work/h$h" >/dev/null
done
for c in "${cases[@]}"; do
  read -r lens uniform <<<"$c"
  for h in 16 128; do
    plan=() one=()
    for ((r = 0; r < rounds; ++r)); do
      for mode in plan one; do
        if [ $mode = one ]; then export MLA_CPU_NUM_SPLITS=$uniform
        else unset MLA_CPU_NUM_SPLITS; fi
        ms=$("$bench" --kernel-lib="$work/h$h/libk$h.so" --lens="$lens" \
               --heads=$h --q-len=1 --dtype=bf16 --threads="$threads" \
               --reps=9 --impl=kernel 2>/dev/null |
             awk '$7 == "kernel" {print $8}')
        if [ $mode = one ]; then one+=("$ms"); else plan+=("$ms"); fi
      done
    done
    unset MLA_CPU_NUM_SPLITS
    mp=$(printf '%s\n' "${plan[@]}" | median)
    mo=$(printf '%s\n' "${one[@]}" | median)
    echo "heads $h lens $lens: plan ${plan[*]} ms, one count ($uniform) ${one[*]} ms, speedup $(awk -v a="$mo" -v b="$mp" 'BEGIN {printf "%.2fx", a / b}')"
  done
done
