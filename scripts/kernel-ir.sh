#!/usr/bin/env bash
# Writes the final kernel IR of every configuration of the test grids (the
# CPU grid of DecodeKernelTest, the GPU grid of GPUAssembleTest), one file a
# configuration, so that two compilers can be compared with
#   scripts/kernel-ir.sh OLD/mla-codegen /tmp/ir-old
#   scripts/kernel-ir.sh build/bin/mla-codegen /tmp/ir-new
#   diff -r /tmp/ir-old /tmp/ir-new
# CPU: the LLVM dialect after lowering (canonicalized, so the order in which
# an emitter creates constants does not show); GPU: the PTX.
set -euo pipefail
codegen=${1:?usage: kernel-ir.sh MLA_CODEGEN OUTDIR}
out=${2:?usage: kernel-ir.sh MLA_CODEGEN OUTDIR}
mkdir -p "$out"
jobs=()
k=0
for dc in 64 128 256 512; do for dr in 0 32 64; do for h in 1 3 16 40 128; do
  for dt in f32 bf16; do
    q=(1 2 4); bs=(1 16 64)
    ql=${q[$((k % 3))]}; b=${bs[$(((k / 3) % 3))]}
    causal=true; [ $((k % 7)) -eq 3 ] && causal=false
    jobs+=("cpu $dc $dr $h $ql $b $dt $causal")
    k=$((k + 1))
  done
done; done; done
k=0
for dc in 64 128 256 512; do for dr in 0 32 64; do for h in 1 3 16 40 64 128; do
  q=(1 2 3 4); bs=(1 16 64)
  ql=${q[$((k % 4))]}; b=${bs[$(((k / 2) % 3))]}
  dt=f32; [ $(((k / 3) % 2)) -eq 1 ] && dt=bf16
  for arch in sm_80 sm_90a; do jobs+=("$arch $dc $dr $h $ql $b $dt true"); done
  k=$((k + 1))
done; done; done
for arch in sm_80 sm_90a; do jobs+=("$arch 48 16 3 2 16 bf16 true"); done

one() {
  read -r target dc dr h ql b dt causal <<<"$1"
  local name="${target}_dc${dc}_dr${dr}_h${h}_q${ql}_bs${b}_${dt}_c${causal}"
  local stage='LLVM dialect'
  [ "$target" != cpu ] && stage='PTX'
  "$codegen" --target="$target" --num-heads="$h" --kv-lora-rank="$dc" \
    --qk-rope-head-dim="$dr" --q-len="$ql" --block-size="$b" --dtype="$dt" \
    --causal="$causal" --name=k --emit=mlir 2>&1 |
    awk -v s="// -----// $stage //----- //" '$0 == s {on = 1; next} on' \
    > "$out/$name.txt"
}
export -f one
export codegen out
printf '%s\n' "${jobs[@]}" | xargs -P "$(nproc)" -I{} bash -c 'one "$@"' _ {}
echo "kernel-ir.sh: ${#jobs[@]} configurations in $out"
