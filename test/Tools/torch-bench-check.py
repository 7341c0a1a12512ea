"""mla-bench's CPU PyTorch baseline (tools/mla-bench/torch_mla_cpu.py) runs
against a generated kernel: one line of five numbers (PyTorch's and the
kernel's median ms, their max |err| against float64, the paired ratio), both
errors within f32 rounding, for the absorbed MLA decode (also on sequences of
their own lengths), for GQA over
paged key and value caches (SDPA) and for sparse decode (token indices:
gather and matmuls), also on fp8 rows and on e4m3 codes with one scale
(dequantized after the gather; the kernel takes the scale); and
its bf16 GEMM peak is one positive number.
Not a lit test: the sanitizer build's libraries cannot load into Python.

usage: torch-bench-check.py PYTHON MLA_CODEGEN WORK_DIR
"""

import os
import shutil
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "tools", "mla-bench", "torch_mla_cpu.py")


def run(python, codegen, work, name, codegen_args, script_args):
    """Generates kernel `name`, runs the script against it; returns its five
    numbers after checking them."""
    out_dir = os.path.join(work, name)
    subprocess.run([codegen, "--target=cpu", *codegen_args, f"--name={name}", "-o", out_dir],
                   check=True)
    out = subprocess.run(
        [python, SCRIPT, *script_args, "--reps=3", f"--kernel-lib={out_dir}/lib{name}.so",
         f"--kernel-name={name}"],
        check=True, capture_output=True, text=True).stdout.split()
    torch_ms, kernel_ms, torch_err, kernel_err, ratio = map(float, out)
    assert torch_ms > 0 and kernel_ms > 0 and ratio > 0, (name, out)
    assert 0 <= torch_err < 1e-5 and 0 <= kernel_err < 1e-5, (name, out)
    return torch_ms, kernel_ms, torch_err, kernel_err


def main() -> int:
    python, codegen, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    lines = []
    # The absorbed decode with a window; GQA over paged key and value caches
    # (SDPA with enable_gqa, 6 heads on 2 KV heads); sparse decode (40 of
    # each sequence's 100 tokens a query); fp8 rows (PyTorch dequantizes
    # what it gathers); sequences of their own lengths (mla-bench --var-len:
    # PyTorch sequence by sequence, the kernel's split plan on the batch).
    for what, name, codegen_args, script_args in [
        ("MLA", "tcpu",
         ["--num-heads=2", "--kv-lora-rank=64", "--qk-rope-head-dim=16", "--q-len=2",
          "--block-size=16", "--dtype=f32", "--window=40"],
         ["--batch=2", "--seq-len=100", "--heads=2", "--q-len=2", "--dc=64", "--dr=16",
          "--block-size=16", "--window=40", "--dtype=f32"]),
        ("GQA", "tgqa",
         ["--num-heads=6", "--num-kv-heads=2", "--head-dim=64", "--q-len=2",
          "--block-size=16", "--dtype=f32", "--window=40"],
         ["--batch=2", "--seq-len=100", "--heads=6", "--kv-heads=2", "--q-len=2",
          "--dc=64", "--dr=0", "--block-size=16", "--window=40", "--dtype=f32"]),
        ("sparse", "tsp",
         ["--num-heads=4", "--kv-lora-rank=64", "--qk-rope-head-dim=16", "--q-len=2",
          "--block-size=16", "--dtype=f32", "--topk=40"],
         ["--batch=2", "--seq-len=100", "--heads=4", "--q-len=2", "--dc=64", "--dr=16",
          "--block-size=16", "--topk=40", "--dtype=f32"]),
        ("fp8 sparse", "tf8",
         ["--num-heads=4", "--kv-lora-rank=128", "--qk-rope-head-dim=16", "--q-len=1",
          "--block-size=16", "--dtype=f32", "--topk=40", "--cache-scales=row_groups"],
         ["--batch=2", "--seq-len=100", "--heads=4", "--q-len=1", "--dc=128", "--dr=16",
          "--block-size=16", "--topk=40", "--fp8", "--dtype=f32"]),
        ("fp8 codes, one scale", "tf8t",
         ["--num-heads=4", "--kv-lora-rank=64", "--qk-rope-head-dim=16", "--q-len=2",
          "--block-size=16", "--dtype=f32", "--cache-scales=per_tensor"],
         ["--batch=2", "--seq-len=100", "--heads=4", "--q-len=2", "--dc=64", "--dr=16",
          "--block-size=16", "--fp8-tensor", "--dtype=f32"]),
        ("variable lengths", "tvar",
         ["--num-heads=3", "--kv-lora-rank=64", "--qk-rope-head-dim=16", "--q-len=2",
          "--block-size=16", "--dtype=f32"],
         ["--batch=4", "--heads=3", "--q-len=2", "--dc=64", "--dr=16", "--block-size=16",
          "--seq-lens=1500,2,37,300", "--dtype=f32"]),
        ("fp8 codes sparse", "tf8ts",
         ["--num-heads=4", "--kv-lora-rank=64", "--qk-rope-head-dim=16", "--q-len=1",
          "--block-size=16", "--dtype=f32", "--topk=40", "--cache-scales=per_tensor"],
         ["--batch=2", "--seq-len=100", "--heads=4", "--q-len=1", "--dc=64", "--dr=16",
          "--block-size=16", "--topk=40", "--fp8-tensor", "--dtype=f32"]),
    ]:
        t, k, te, ke = run(python, codegen, work, name, codegen_args, script_args)
        lines.append(f"{what}: torch {t} ms, kernel {k} ms, errors {te:.1e} / {ke:.1e}")
    peak = subprocess.run([python, SCRIPT, "--gemm-peak", "--dtype=bf16", "--reps=1"],
                          check=True, capture_output=True, text=True).stdout.split()
    assert len(peak) == 1 and float(peak[0]) > 0, peak
    print("; ".join(lines) + f"; bf16 GEMM {peak[0]} GFLOP/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
