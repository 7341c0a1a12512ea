"""mla-bench's CPU PyTorch baseline (tools/mla-bench/torch_mla_cpu.py) runs
against a generated kernel: one line of five numbers (PyTorch's and the
kernel's median ms, their max |err| against float64, the paired ratio), both
errors within f32 rounding, for the absorbed MLA decode, for GQA over
paged key and value caches (SDPA) and for sparse decode (token indices:
gather and matmuls), also on fp8 rows (dequantized after the gather); and
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


def main() -> int:
    python, codegen, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run([codegen, "--target=cpu", "--num-heads=2", "--kv-lora-rank=64",
                    "--qk-rope-head-dim=16", "--q-len=2", "--block-size=16",
                    "--dtype=f32", "--window=40", "--name=tcpu", "-o", work],
                   check=True)
    out = subprocess.run(
        [python, SCRIPT, "--batch=2", "--seq-len=100", "--heads=2", "--q-len=2",
         "--dc=64", "--dr=16", "--block-size=16", "--window=40", "--dtype=f32",
         "--reps=3", f"--kernel-lib={work}/libtcpu.so", "--kernel-name=tcpu"],
        check=True, capture_output=True, text=True).stdout.split()
    torch_ms, kernel_ms, torch_err, kernel_err, ratio = map(float, out)
    assert torch_ms > 0 and kernel_ms > 0 and ratio > 0, out
    assert 0 <= torch_err < 1e-5 and 0 <= kernel_err < 1e-5, out
    # GQA over paged key and value caches: SDPA (enable_gqa) against the
    # kernel, 6 heads on 2 KV heads.
    subprocess.run([codegen, "--target=cpu", "--num-heads=6", "--num-kv-heads=2",
                    "--head-dim=64", "--q-len=2", "--block-size=16", "--dtype=f32",
                    "--window=40", "--name=tgqa", "-o", work + "/gqa"], check=True)
    out = subprocess.run(
        [python, SCRIPT, "--batch=2", "--seq-len=100", "--heads=6", "--kv-heads=2",
         "--q-len=2", "--dc=64", "--dr=0", "--block-size=16", "--window=40",
         "--dtype=f32", "--reps=3", f"--kernel-lib={work}/gqa/libtgqa.so",
         "--kernel-name=tgqa"],
        check=True, capture_output=True, text=True).stdout.split()
    g_torch_ms, g_kernel_ms, g_torch_err, g_kernel_err, g_ratio = map(float, out)
    assert g_torch_ms > 0 and g_kernel_ms > 0 and g_ratio > 0, out
    assert 0 <= g_torch_err < 1e-5 and 0 <= g_kernel_err < 1e-5, out
    # Sparse decode: 40 of each sequence's 100 tokens a query.
    subprocess.run([codegen, "--target=cpu", "--num-heads=4", "--kv-lora-rank=64",
                    "--qk-rope-head-dim=16", "--q-len=2", "--block-size=16",
                    "--dtype=f32", "--topk=40", "--name=tsp", "-o", work + "/sp"],
                   check=True)
    out = subprocess.run(
        [python, SCRIPT, "--batch=2", "--seq-len=100", "--heads=4", "--q-len=2",
         "--dc=64", "--dr=16", "--block-size=16", "--topk=40", "--dtype=f32",
         "--reps=3", f"--kernel-lib={work}/sp/libtsp.so", "--kernel-name=tsp"],
        check=True, capture_output=True, text=True).stdout.split()
    s_torch_ms, s_kernel_ms, s_torch_err, s_kernel_err, s_ratio = map(float, out)
    assert s_torch_ms > 0 and s_kernel_ms > 0 and s_ratio > 0, out
    assert 0 <= s_torch_err < 1e-5 and 0 <= s_kernel_err < 1e-5, out
    # fp8 rows (row_groups): PyTorch dequantizes what it gathers.
    subprocess.run([codegen, "--target=cpu", "--num-heads=4", "--kv-lora-rank=128",
                    "--qk-rope-head-dim=16", "--q-len=1", "--block-size=16",
                    "--dtype=f32", "--topk=40", "--cache-scales=row_groups", "--name=tf8",
                    "-o", work + "/f8"], check=True)
    out = subprocess.run(
        [python, SCRIPT, "--batch=2", "--seq-len=100", "--heads=4", "--q-len=1",
         "--dc=128", "--dr=16", "--block-size=16", "--topk=40", "--fp8", "--dtype=f32",
         "--reps=3", f"--kernel-lib={work}/f8/libtf8.so", "--kernel-name=tf8"],
        check=True, capture_output=True, text=True).stdout.split()
    f_torch_ms, f_kernel_ms, f_torch_err, f_kernel_err, f_ratio = map(float, out)
    assert f_torch_ms > 0 and f_kernel_ms > 0 and f_ratio > 0, out
    assert 0 <= f_torch_err < 1e-5 and 0 <= f_kernel_err < 1e-5, out
    peak = subprocess.run([python, SCRIPT, "--gemm-peak", "--dtype=bf16", "--reps=1"],
                          check=True, capture_output=True, text=True).stdout.split()
    assert len(peak) == 1 and float(peak[0]) > 0, peak
    print(f"torch {torch_ms} ms, kernel {kernel_ms} ms, errors {torch_err:.1e} / "
          f"{kernel_err:.1e}; GQA: SDPA {g_torch_ms} ms, kernel {g_kernel_ms} ms, errors "
          f"{g_torch_err:.1e} / {g_kernel_err:.1e}; sparse: torch {s_torch_ms} ms, kernel "
          f"{s_kernel_ms} ms, errors {s_torch_err:.1e} / {s_kernel_err:.1e}; bf16 GEMM "
          f"{peak[0]} GFLOP/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
