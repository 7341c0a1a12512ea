#!/usr/bin/env bash
# Brings a fresh Debian 12 machine to a buildable state. Safe to run twice.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ python3           # build
  python3-venv                             # the project venv (.venv)
  llvm-22-dev llvm-22-tools                # LLVM 22 (libLLVM, FileCheck, lit)
  libmlir-22-dev mlir-22-tools             # MLIR 22 (libMLIR.so, mlir-tblgen)
  clang-22                                 # the CPU kernels' host compiler
  libclang-rt-22-dev                       # ASan/UBSan/libFuzzer (scripts/sanitize.sh)
  libgtest-dev                             # unit tests
  libbenchmark-dev libopenblas-dev         # mla-bench and its BLAS baseline
  libomp-22-dev                            # threads of the CPU kernels
)

# The GPU targets also need the CUDA toolkit (12.0 or later for sm_90a:
# ptxas, cuda.h, the libcuda stub) at /usr/local/cuda, which Debian does not
# package at that version; without it the ptxas tests report themselves
# skipped and mla-codegen --target=sm_* stops at ptxas with a message.
if [ ! -x /usr/local/cuda/bin/ptxas ]; then
  echo "install.sh: note: no CUDA toolkit at /usr/local/cuda (GPU targets unavailable)"
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install.sh: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
else
  echo "install.sh: all packages present"
fi

# The Python package's venv: python/requirements.txt (pinned), then the
# package itself, editable, so that `import mla` follows the checkout. Skipped
# when the requirements have not changed since the last run.
cd "$(dirname "$0")/.."
stamp=.venv/.requirements.sha256
want=$(sha256sum python/requirements.txt python/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "install.sh: creating the Python venv .venv (python/requirements.txt)"
  python3 -m venv .venv
  .venv/bin/python -m pip install -q -r python/requirements.txt
  .venv/bin/python -m pip install -q --no-deps -e ./python
  echo "$want" > "$stamp"
else
  echo "install.sh: .venv up to date"
fi
