"""scripts/sass-model.py on the kernels this build generates: the tile loop it
finds holds the tensor instructions the design issues per tile, and its
prediction is a fraction of the roofline.

sm_90a, 512/64: each warp issues its warpgroup's 18 wgmma m64n32k16 (QK^T, half
of the 576-wide reduction in steps of k 16)
and 2 m64n256k16 (P V, 32 tokens in 2 steps of k 16): 20 HGMMA a warp, the
QK^T of the next tile overlapping the softmax of this one (the timeline), and
the accumulators' rescale a branch that a warp takes only when a row's max
moved (the steady timeline leaves it out).
The TMA issue, one thread's, counts once for the CTA's warps.
sm_80, 512/64, 16 heads, q_len 1: the mma.sync form's 32-token tile.
Without the CUDA toolkit (no ptxas) it reports itself skipped (77).
Usage: sass-model-check.py PYTHON SCRIPT CODEGEN CUDA_PATH
"""

import json
import os
import subprocess
import sys

python, script, codegen, cuda = sys.argv[1:5]
if not os.path.exists(os.path.join(cuda, "bin", "ptxas")):
    print(f"sass-model-check: no ptxas under {cuda}; skipped")
    sys.exit(77)


def run(*args):
    out = subprocess.run([python, script, f"--codegen={codegen}", "--json",
                          *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


failures = []
for r in run("--target=sm_90a", "--heads=16,128", "--q-len=1"):
    c = r["instructions"]
    if r["form"] != "wgmma_tma" or r["tile"] != 32 or c["tensor"] != 20:
        failures.append(f"sm_90a {r['config']}: {r['form']}, tile "
                        f"{r['tile']}, {c['tensor']} HGMMA (want 20)")
    if not 0 < r["predicted"] <= r["predicted_overlapped"] <= 1:
        failures.append(f"sm_90a {r['config']}: predictions "
                        f"{r['predicted']}, {r['predicted_overlapped']}")
    if c["total"] < 200 or c["fp32"] < 128:
        failures.append(f"sm_90a {r['config']}: {c} is not a whole tile")
    # The 9 TMA copies a tile (one a 64-column box), issued by one thread,
    # count once for the CTA's 8 warps.
    if c["global"] > 2:
        failures.append(f"sm_90a {r['config']}: {c['global']} global "
                        "instructions a warp: the TMA issue counted per warp")
    want = "memory" if r["config"] == "h16_q1" else "tensor"
    if r["bound"] != want:
        failures.append(f"sm_90a {r['config']}: {r['bound']}-bound")
    # The next tile's QK^T runs beside this tile's softmax: the timeline
    # lies strictly between the serialized and the overlapped bounds (a
    # wait for it before the softmax would put it on the serialized one).
    sched = r["predicted_scheduled"]
    if sched is None or not (r["predicted"] < sched
                             <= r["predicted_overlapped"]):
        failures.append(f"sm_90a {r['config']}: timeline {sched} not between "
                        f"{r['predicted']} and {r['predicted_overlapped']}")
    # The accumulators' rescale is a branch a warp skips unless one of its
    # rows' max moved (lazy rescaling): the model finds the 128 FMULs a
    # thread it skips (d_c 512 over 2 warpgroups: 256 columns, 128 a
    # thread).
    skipped = c["total"] - r["steady_instructions"]
    if r["predicted_steady"] is None or skipped != 128:
        failures.append(f"sm_90a {r['config']}: {skipped} instructions in "
                        "the lazily rescaled block (want 128)")
for r in run("--target=sm_80", "--heads=16", "--q-len=1"):
    c = r["instructions"]
    if r["form"] != "mma_sync" or c["tensor"] == 0 or c["shared"] == 0:
        failures.append(f"sm_80 {r['config']}: {r['form']}, {c}")
print("\n".join(failures) or "sass-model-check: passed")
sys.exit(1 if failures else 0)
