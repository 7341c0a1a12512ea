#!/usr/bin/env bash
# The GPU check for a bare GPU machine (no LLVM/MLIR, no package registry).
#
# Here, where the compiler is:
#   bash scripts/gpu-check.sh bundle [--arch=sm_90a,sm_80,sm_86] [--out=DIR]
#                                    [--check-grid=FILE] [--bench-grid=FILE]
#                                    [--no-bench]
# generates every kernel of test/gpu/check.grid and test/gpu/bench.grid for
# each target into DIR (default build-gpu-check, under 64 MiB), with the
# runner (mla-gpu-check, which needs only libcuda), libmla_cuda_runtime.so and
# torch_mla.py.
#
# There, on the GPU machine, with DIR carried next to the source tree:
#   bash scripts/gpu-check.sh run [--bundle=DIR] [mla-gpu-check options]
# runs the correctness phase, then FlashMLA's benchmark grid, each within its
# time limit, and exits nonzero if anything failed, hung or was not run.
#
# For ctest (-L gpu): `test` probes the device (exit 77, a skip, without one),
# bundles the check grid for its target and runs it. MLA_BUILD_DIR names the
# build tree (default build/).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MLA_BUILD_DIR:-$root/build}"
cmd="${1:-}"
shift || true

bundle() {
  local arches="sm_90a" out="$root/build-gpu-check" bench=1
  local check_grid="$root/test/gpu/check.grid"
  local bench_grid="$root/test/gpu/bench.grid"
  for a in "$@"; do
    case "$a" in
      --arch=*) arches="${a#--arch=}" ;;
      --out=*) out="${a#--out=}" ;;
      --check-grid=*) check_grid="${a#--check-grid=}" ;;
      --bench-grid=*) bench_grid="${a#--bench-grid=}" ;;
      --no-bench) bench=0 ;;
      *) echo "gpu-check.sh bundle: unknown option $a" >&2; exit 2 ;;
    esac
  done
  local bin="$build/bin"
  if [ ! -x "$bin/mla-codegen" ] || [ ! -x "$bin/mla-gpu-check" ]; then
    bash "$root/scripts/build.sh"
  fi
  rm -rf "$out"
  mkdir -p "$out/bin" "$out/lib" "$out/kernels"
  cp "$bin/mla-gpu-check" "$out/bin/"
  for lib in libmla_cuda_runtime.so libmla_cpu_runtime.so; do
    if [ -f "$build/lib/$lib" ]; then cp "$build/lib/$lib" "$out/lib/"; fi
  done
  cp "$root/tools/mla-bench/torch_mla.py" "$out/"
  # One job line per kernel: phase, name, target, options.
  local jobs="$out/jobs.txt"
  : > "$jobs"
  local grids=("check:$check_grid")
  if [ "$bench" = 1 ]; then grids+=("bench:$bench_grid"); fi
  for arch in ${arches//,/ }; do
    for entry in "${grids[@]}"; do
      local phase="${entry%%:*}" grid="${entry#*:}"
      while read -r name opts; do
        case "$name" in ''|'#'*) continue ;; esac
        echo "$phase ${arch//_/}_$name --target=$arch $opts" >> "$jobs"
      done < "$grid"
    done
  done
  # mla-codegen takes its own options, not the runner's --bench-*.
  gen() {
    local phase="$1" name="$2"
    shift 2
    local opts=()
    for o in "$@"; do
      case "$o" in --bench-*) ;; *) opts+=("$o") ;; esac
    done
    if ! "$MLA_CODEGEN" "${opts[@]}" --name="$name" -o "$MLA_OUT/kernels/$name" \
        > "$MLA_OUT/kernels/$name.log" 2>&1; then
      echo "mla-codegen failed for $name:" >&2
      cat "$MLA_OUT/kernels/$name.log" >&2
      return 255
    fi
    # The runner needs the library; the JSON says what it is.
    find "$MLA_OUT/kernels/$name" -type f ! -name "lib$name.so" \
      ! -name "$name.json" -delete
    rm -f "$MLA_OUT/kernels/$name.log"
  }
  export -f gen
  export MLA_CODEGEN="$bin/mla-codegen" MLA_OUT="$out"
  echo "gpu-check.sh: generating $(wc -l < "$jobs") kernels for $arches"
  xargs -P "$(nproc)" -L 1 bash -c 'gen "$@"' _ < "$jobs"
  {
    echo "# phase name mla-codegen options [runner options]: written by"
    echo "# scripts/gpu-check.sh bundle at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
    cat "$jobs"
  } > "$out/manifest.txt"
  rm -f "$jobs"
  local bytes
  bytes=$(du -sb "$out" | cut -f1)
  echo "gpu-check.sh: bundle $out, $((bytes / 1024 / 1024)) MiB"
  if [ "$bytes" -gt $((64 * 1024 * 1024)) ]; then
    echo "gpu-check.sh: the bundle exceeds the 64 MiB a GPU machine takes" >&2
    exit 1
  fi
}

run() {
  local dir="$root/build-gpu-check" args=() timed=0
  for a in "$@"; do
    case "$a" in
      --bundle=*) dir="${a#--bundle=}" ;;
      --phase=*|--phase-time=*) timed=1; args+=("$a") ;;
      *) args+=("$a") ;;
    esac
  done
  # The check phase, then the bench: 120 + 250 s, each with the runner's 30 s
  # of grace for the kernels still running, within the 470 s below.
  if [ "$timed" = 0 ]; then args=(--phase-time=120,250 "${args[@]+"${args[@]}"}"); fi
  if [ ! -f "$dir/manifest.txt" ]; then
    echo "gpu-check.sh run: no bundle at $dir (run \`bash scripts/gpu-check.sh bundle\` where mla-codegen is built)" >&2
    exit 2
  fi
  # The kernels find libmla_cuda_runtime.so here wherever the tree was
  # copied; the whole run stays within 8 minutes (MLA_GPU_CHECK_LIMIT s).
  LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    timeout --signal=KILL "${MLA_GPU_CHECK_LIMIT:-470}" \
    "$dir/bin/mla-gpu-check" --bundle="$dir" \
    ${args[@]+"${args[@]}"}
}

case "$cmd" in
  bundle) bundle "$@" ;;
  run) run "$@" ;;
  test)
    target=$("$build/bin/mla-gpu-check" --probe) || exit 77
    out="$build/test/gpu-check-$target"
    bundle --arch="$target" --out="$out" --no-bench
    MLA_GPU_CHECK_LIMIT=1500 run --bundle="$out" --phase=check \
      --phase-time=1200 "$@"
    ;;
  *)
    echo "usage: bash scripts/gpu-check.sh bundle|run|test [options]" >&2
    exit 2
    ;;
esac
