#!/usr/bin/env bash
# The GPU runner, tested where there is no GPU: mla-gpu-check --host runs the
# same checks on CPU kernels (host memory, the same C ABI). The bundle of
# test/gpu/host.grid must pass; a copy whose manifest misdescribes three
# kernels (a non-causal kernel said causal, two windows changed)
# must fail, naming each of them, while the others still pass. (The lies keep
# the buffer sizes and the entry's signature, so that the kernels' reads and
# writes stay within what the runner allocated.)
# Usage: runner-host.sh BUILD_DIR
set -euo pipefail
build="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
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
[ "$(grep -c '^PASS ' <<< "$log")" = 3 ] ||
  { echo "runner-host.sh: the three correct kernels did not pass"; exit 1; }
echo "runner-host.sh: passed"
