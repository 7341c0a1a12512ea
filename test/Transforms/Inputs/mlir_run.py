"""What the numerics scripts of test/Transforms share: dense literals and
tensor types for generated IR, running a module through mla-lower-to-cpu and
mlir-runner and reading back what it printed, and counting failed checks."""

import re
import subprocess
import sys

import numpy as np


class Runner:
    def __init__(self, mla_opt, runner, utils):
        self.mla_opt, self.runner, self.utils = mla_opt, runner, utils
        self.failures = 0

    def opt(self, module, *passes):
        """mla-opt's output for `module` through `passes`."""
        low = subprocess.run([self.mla_opt, *passes], input=module, capture_output=True,
                             text=True)
        if low.returncode:
            sys.exit("mla-opt failed:\n" + low.stderr + module[:3000])
        return low.stdout

    def run(self, module):
        """The numbers each line of the run's output holds."""
        low = self.opt(module, "--mla-lower-to-cpu=kernel-name=k")
        out = subprocess.run([self.runner, "-e", "main", "-entry-point-result=void",
                              f"-shared-libs={self.utils}"], input=low,
                             capture_output=True, text=True)
        if out.returncode:
            sys.exit("mlir-runner failed:\n" + out.stderr)
        return [np.array([float(t) for t in
                          re.findall(r"-?nan|-?inf|-?[0-9][0-9.e+-]*", line)])
                for line in out.stdout.splitlines() if line.strip()]

    def check(self, what, ok, detail=""):
        if not ok:
            self.failures += 1
            print(f"FAIL {what} {detail}")

    def finish(self, what):
        if self.failures:
            sys.exit(f"{self.failures} check(s) failed")
        print(f"all {what} checks passed")


def lit(a, ety):
    """A dense literal of `a` (the exact decimal of each value; NaN and
    infinities as f32 bit patterns)."""
    integer = ety.startswith("i")

    def rec(x):
        if x.ndim == 0:
            if integer:
                return str(int(x))
            v = float(x)
            if np.isnan(v):  # its bits, sign included
                if ety == "bf16":
                    return "0xFFC0" if np.signbit(v) else "0x7FC0"
                return f"0x{int(np.float32(v).view(np.uint32)):08X}"
            if np.isinf(v):
                return "0xFF800000" if v < 0 else "0x7F800000"
            r = repr(v)
            # MLIR wants a mantissa with a point: 1e+30 -> 1.0e+30.
            return r.replace("e", ".0e", 1) if "e" in r and "." not in r else r
        return "[" + ", ".join(rec(y) for y in x) + "]"
    return f"dense<{rec(np.asarray(a))}>"


def ttype(shape, ety):
    return "tensor<" + "x".join(str(d) for d in shape) + f"x{ety}>"


def dyn(shape, ety, dyn_dims):
    """A tensor type with the dimensions in `dyn_dims` dynamic."""
    return "tensor<" + "x".join("?" if i in dyn_dims else str(d)
                                for i, d in enumerate(shape)) + f"x{ety}>"
