#!/usr/bin/env bash
# The GPU runner, tested where there is no GPU: mla-gpu-check --host runs the
# same checks on CPU kernels (host memory, the same C ABI). The bundle of
# test/gpu/host.grid must pass; a copy whose manifest misdescribes three
# kernels (a non-causal kernel said causal, two windows changed)
# must fail, naming each of them, while the others still pass. (The lies keep
# the buffer sizes and the entry's signature, so that the kernels' reads and
# writes stay within what the runner allocated.) Then a bundle with a kernel
# that hangs and one that crashes, and the phase time limit and its grace.
# Usage: runner-host.sh BUILD_DIR
set -euo pipefail
build="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
# The kernels of host.grid (lines that are neither comments nor blank).
total=$(grep -cv '^[[:space:]]*\(#\|$\)' "$root/test/gpu/host.grid")
out="$build/test/gpu-check-host"
export MLA_BUILD_DIR="$build"
bash "$root/scripts/gpu-check.sh" bundle --arch=cpu --no-bench \
  --check-grid="$root/test/gpu/host.grid" --out="$out"
bash "$root/scripts/gpu-check.sh" run --bundle="$out" --host --phase=check

lie="$out-misdescribed"
rm -rf "$lie"
cp -r "$out" "$lie"
sed -i -e '/_noncausal /s/--causal=false/--causal=true/' \
  -e '/_w5 /s/--window=5/--window=6/' \
  -e '/_sinks /s/--window=100/--window=90/' "$lie/manifest.txt"
set +e
log=$(bash "$root/scripts/gpu-check.sh" run --bundle="$lie" --host --phase=check)
rc=$?
set -e
echo "$log"
[ "$rc" = 1 ] || { echo "runner-host.sh: the misdescribed bundle exited $rc, not 1"; exit 1; }
for name in _noncausal _w5 _sinks; do
  grep -q "^FAIL .*$name " <<< "$log" ||
    { echo "runner-host.sh: no failure reported for $name"; exit 1; }
done
[ "$(grep -c '^PASS ' <<< "$log")" = $((total - 3)) ] ||
  { echo "runner-host.sh: the correct kernels did not all pass"; exit 1; }

# The watchdog: a kernel that never returns is killed and named TIMEOUT, one
# that dies of a signal is named CRASH, and the run goes on to the kernels
# after them.
faulty="$out-faulty"
rm -rf "$faulty"
cp -r "$out" "$faulty"
opts="--target=cpu --num-heads=3 --kv-lora-rank=64 --qk-rope-head-dim=32 --q-len=2 --block-size=16 --dtype=f32"
for kind in hang crash; do
  name="cpu_$kind"
  mkdir -p "$faulty/kernels/$name"
  # abort(), not a segfault: under ASan (scripts/sanitize.sh) a SIGSEGV
  # becomes a report and exit 1.
  if [ $kind = hang ]; then body="for (;;) pause();"; else body="abort();"; fi
  printf '#include <stdlib.h>\n#include <unistd.h>\nint %s(void) { %s return 0; }\n' \
    "$name" "$body" > "$faulty/$name.c"
  cc -shared -fPIC -o "$faulty/kernels/$name/lib$name.so" "$faulty/$name.c"
done
{ echo "check cpu_hang $opts"; echo "check cpu_crash $opts"; cat "$out/manifest.txt"; } \
  > "$faulty/manifest.txt"
set +e
log=$(bash "$root/scripts/gpu-check.sh" run --bundle="$faulty" --host --phase=check \
  --kernel-timeout=3)
rc=$?
set -e
echo "$log"
[ "$rc" = 1 ] || { echo "runner-host.sh: the faulty bundle exited $rc, not 1"; exit 1; }
grep -q "^TIMEOUT  cpu_hang " <<< "$log" || { echo "runner-host.sh: no TIMEOUT for the hang"; exit 1; }
grep -q "^CRASH (.*) cpu_crash " <<< "$log" || { echo "runner-host.sh: no CRASH for the crash"; exit 1; }
[ "$(grep -c '^PASS ' <<< "$log")" = "$total" ] ||
  { echo "runner-host.sh: the kernels after the faulty ones did not all pass"; exit 1; }
echo "runner-host.sh: the watchdog passed"

# The phase's time limit: after the hang spends it, nothing more starts, and
# what was not run is listed and fails the run.
set +e
log=$(bash "$root/scripts/gpu-check.sh" run --bundle="$faulty" --host --phase=check \
  --kernel-timeout=3 --phase-time=1)
rc=$?
set -e
echo "$log"
[ "$rc" = 1 ] && [ "$(grep -c '^NOT RUN ' <<< "$log")" = $((total + 1)) ] &&
  grep -q "0 passed, 1 failed, $((total + 1)) not run" <<< "$log" ||
  { echo "runner-host.sh: the phase limit did not stop the run"; exit 1; }

# A kernel still running when its phase's time and grace are spent is killed
# (TIMEOUT) even within its own --kernel-timeout.
set +e
log=$(bash "$root/scripts/gpu-check.sh" run --bundle="$faulty" --host --phase=check \
  --kernel-timeout=100 --phase-time=1 --grace=2)
rc=$?
set -e
echo "$log"
[ "$rc" = 1 ] && grep -q "^TIMEOUT  cpu_hang " <<< "$log" &&
  grep -q "0 passed, 1 failed, $((total + 1)) not run" <<< "$log" ||
  { echo "runner-host.sh: the phase's grace did not end the hang"; exit 1; }
echo "runner-host.sh: passed"
