"""Mutation test of mla-codegen's options: seeded random option sets, each
option drawn from valid values, boundaries and nonsense (0, negatives, 2^32,
2^63-1, junk strings). Every run must end in exit 0 (a library that loaded
and answered mla-kernel-check, with NAME.h and NAME.json beside it) or exit 1
with a message on stderr: never a signal, a hang, exit 0 without the files,
or an error printed with exit 0.

usage: codegen-options-fuzz.py MLA_CODEGEN WORK_DIR [RUNS] [SEED]
"""

import os
import random
import shutil
import subprocess
import sys

BAD = ["0", "-1", "-16", "4294967296", "9223372036854775807", "x", ""]
# option: (values a kernel may be generated for, values that must be refused
# or that break assumptions: boundaries past the bounds, overflow, junk).
OPTIONS = {
    "--num-heads": (["1", "3", "16", "40", "128"], ["1024", "1025"] + BAD),
    "--kv-lora-rank": (["16", "64", "256", "512"], ["100", "8192"] + BAD),
    "--qk-rope-head-dim": (["0", "16", "32", "64"], ["36"] + BAD),
    "--q-len": (["1", "2", "4"], ["256", "257"] + BAD),
    "--block-size": (["1", "16", "64"], ["65536", "65537"] + BAD),
    "--dtype": (["f32", "bf16", "f16"], ["fp8", "i32", ""]),
    "--vector-width": (["4", "8", "16"], ["6", "32"] + BAD),
    "--tile-tokens": (["4", "16", "32"], ["7", "256", "1000000"] + BAD),
    "--tile-blocks": (["16,4,4,4,2", "8,4,4,4,2"], ["0,0,0,0,0", "3,5,7,9,11", "16,4,4", "a,b"]),
    "--causal": (["true", "false"], ["maybe"]),
    "--window": (["0", "1", "5", "128"], ["2147483648"] + BAD[1:]),
    "--sinks": (["true", "false"], ["maybe"]),
    "--topk": (["0", "37", "128", "2048"], ["1048577"] + BAD[1:]),
    "--mcpu": (["native", "haswell", "x86-64-v3", "skylake-avx512"], ["nonsense"]),
    "--name": (["k", "kernel_1"], ["memcpy", "x", "int", "a b", "_Z"]),
    "--target": (["cpu"], ["sm_70", "gpu"]),
}

# Head caches (GQA/MQA/MHA) in place of the latent dims, in a quarter of the
# runs (sometimes with a latent dim left in, which must be refused).
HEAD_OPTIONS = {
    "--num-kv-heads": (["1", "2", "8", "16"], ["3", "5"] + BAD),
    "--head-dim": (["64", "96", "128", "256"], ["100", "8192"] + BAD),
}


def main() -> int:
    codegen, work = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 60
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    failures, built = [], 0
    for i in range(runs):
        opts = {k: rng.choice(bad if rng.random() < 0.2 else good)
                for k, (good, bad) in OPTIONS.items() if rng.random() < 0.4}
        opts.setdefault("--num-heads", "16")
        if rng.random() < 0.25:
            if rng.random() < 0.8:
                opts.pop("--kv-lora-rank", None)
                opts.pop("--qk-rope-head-dim", None)
            for k, (good, bad) in HEAD_OPTIONS.items():
                opts[k] = rng.choice(bad if rng.random() < 0.2 else good)
        else:
            opts.setdefault("--kv-lora-rank", "64")
        out = os.path.join(work, f"run{i}")
        shutil.rmtree(out, ignore_errors=True)
        name = opts.get("--name", "mla_decode")
        argv = [codegen] + [f"{k}={v}" for k, v in opts.items()] + ["-o", out]
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            failures.append(f"{' '.join(argv[1:])}: no answer in 120 s")
            continue
        what = None
        if r.returncode < 0:
            what = f"killed by signal {-r.returncode}"
        elif r.returncode not in (0, 1):
            what = f"exit {r.returncode}"
        elif r.returncode == 1 and not r.stderr.strip():
            what = "exit 1 without a message"
        elif r.returncode == 0:
            missing = [f for f in (f"lib{name}.so", f"{name}.h", f"{name}.json")
                       if not os.path.exists(os.path.join(out, f))]
            if missing:
                what = f"exit 0 without {missing}"
            elif "error" in r.stderr.lower():
                what = "exit 0 with an error message"
            else:
                built += 1
        if what:
            failures.append(f"{' '.join(argv[1:])}: {what}\n{r.stderr[-800:]}")
        shutil.rmtree(out, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    print(f"{built} option sets built and checked, {runs - built - len(failures)} refused")
    print(f"{runs - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
