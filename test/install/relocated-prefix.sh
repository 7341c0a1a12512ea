#!/usr/bin/env bash
# The installed prefix works on its own, moved: `cmake --install` into a
# temporary directory, the prefix renamed, then from an unrelated directory
# its mla-codegen generates a CPU kernel (linked against the prefix's
# runtime, not the build tree's), a C program built against NAME.h calls it
# and checks the result, its mla-opt runs a named pipeline, and (with a CUDA
# toolkit) a GPU host library is linked against the prefix's CUDA runtime.
# Usage: relocated-prefix.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: relocated-prefix.sh BUILD_DIR}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/installed" >/dev/null
mv "$tmp/installed" "$tmp/moved"
prefix=$tmp/moved
mkdir -p "$tmp/work" && cd "$tmp/work"

"$prefix/bin/mla-codegen" --target=cpu --num-heads=4 --kv-lora-rank=64 \
  --qk-rope-head-dim=16 --q-len=1 --block-size=16 --dtype=f32 --name=k -o out
runpath=$(readelf -d out/libk.so | sed -n 's/.*RUNPATH.*\[\(.*\)\]/\1/p')
if [ "$runpath" != "$prefix/lib" ]; then
  echo "FAIL: libk.so's RUNPATH is '$runpath', not $prefix/lib"; exit 1
fi

# With q = 0 every score is 0: out is the mean of the visible value rows and
# lse = log(seq_len). Two sequences of 37 and 16 tokens over shuffled pages.
cat > main.c <<'C'
#include "k.h"
#include <math.h>
#include <stdio.h>
enum { H = 4, DC = 64, W = 80, BS = 16, MB = 3 };
static float q[2][H][W], cache[6][BS][W], out[2][H][DC], lse[2][H];
int main(void) {
  int32_t bt[2][MB] = {{4, 0, 2}, {5, -1, -1}}, lens[2] = {37, 16};
  for (int p = 0; p < 6; ++p)
    for (int r = 0; r < BS; ++r)
      for (int d = 0; d < W; ++d)
        cache[p][r][d] = (float)((p * 131 + r * 17 + d * 7) % 23) / 23.0f;
  int rc = k(q, cache, &bt[0][0], lens, out, &lse[0][0], 2, MB, 0.125f, 0);
  if (rc != K_OK) { printf("FAIL: returned %d\n", rc); return 1; }
  for (int b = 0; b < 2; ++b)
    for (int h = 0; h < H; ++h) {
      for (int d = 0; d < DC; ++d) {
        double mean = 0;
        for (int t = 0; t < lens[b]; ++t)
          mean += cache[bt[b][t / BS]][t % BS][d];
        mean /= lens[b];
        if (fabs(out[b][h][d] - mean) > 2e-5) {
          printf("FAIL: out[%d][%d][%d] = %g, want %g\n", b, h, d,
                 out[b][h][d], mean);
          return 1;
        }
      }
      if (fabs(lse[b][h] - log((double)lens[b])) > 2e-5) {
        printf("FAIL: lse[%d][%d] = %g\n", b, h, lse[b][h]);
        return 1;
      }
    }
  printf("kernel from the relocated prefix: ok\n");
  return 0;
}
C
cc -O1 -Iout main.c -Lout -lk -Wl,-rpath,"$tmp/work/out" -lm -o main
./main

help=$("$prefix/bin/mla-opt" --help)
grep -q -- "--mla-lower-to-cpu" <<<"$help" ||
  { echo "FAIL: mla-opt has no mla-lower-to-cpu"; exit 1; }

if [ -x /usr/local/cuda/bin/ptxas ]; then
  "$prefix/bin/mla-codegen" --target=sm_80 --num-heads=4 --kv-lora-rank=64 \
    --qk-rope-head-dim=16 --dtype=bf16 --name=g -o gout
  runpath=$(readelf -d gout/libg.so | sed -n 's/.*RUNPATH.*\[\(.*\)\]/\1/p')
  if [ "$runpath" != "$prefix/lib" ] || [ ! -f "$prefix/lib/libmla_cuda_runtime.so" ]; then
    echo "FAIL: libg.so's RUNPATH is '$runpath', not $prefix/lib"; exit 1
  fi
  echo "GPU host library from the relocated prefix: ok"
fi
echo "relocated prefix: ok"
