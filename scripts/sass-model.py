#!/usr/bin/env python3
"""A static model of the GPU partial kernels from their SASS (issue 15).

For each configuration, mla-codegen generates the kernel, nvdisasm (the
venv's nvidia-cuda-nvdisasm) disassembles its cubin, and the tile loop is
found: of the natural loops of the control-flow graph that hold the tensor
instructions (HGMMA for wgmma, HMMA for mma.sync) and lie in no other such
loop, the smallest (the wgmma form runs the tiles every row sees whole in a
loop without masks, between masked loops for a split's edge tiles). Its
instructions,
counted once each (conditional blocks included; a loop inside it that holds
tensor instructions as many times as the tile's tensor work per warp needs;
the TMA issue, which one thread runs for the CTA, once for all warps), are
what every warp issues per tile. Per tile and CTA, on one SM:

  issue   = instructions x warps / 4            (4 schedulers, 1 issue/clk)
  tensor  = 2 x M x tile x (d_c + d_r + d_c) / R (M: rows padded to the
            instruction's M, 64 for wgmma, 16 for mma.sync; R the SM's
            dense bf16 rate: 4096 FLOP/clk for wgmma on sm_90, 2/3 of it
            for mma.sync there, 2048 on sm_80)
  memory  = tile x (d_c + d_r) x 2 bytes / groups / B  (HBM per SM and
            clock: H200 4.8 TB/s, A100 2.0 TB/s, at 1.83 / 1.41 GHz over
            132 / 108 SMs; a tile read by several row groups comes once
            from HBM, the others from L2; with token indices the groups
            of one query token's index row share its tiles, fp8 rows
            are their cache_row_bytes and e4m3 codes a byte a value)

and the predicted time per tile is max(memory, issue + tensor) with no
tensor work hidden (serialized), max(memory, issue, tensor) with all of it
hidden (overlapped), and, for the wgmma form, max(memory, the timeline of
the loop: its instructions in order, HGMMAs queued on the tensor cores
beside the issue, each wgmma wait honoured) (sched), also without the
lazily rescaled accumulators that most tiles skip (steady). The prediction
is the fraction of the roofline (the larger of the useful tensor time, real
rows only, and the memory time) over it.

Usage: scripts/sass-model.py [--codegen=build/bin/mla-codegen]
           [--target=sm_90a] [--heads=16,128] [--q-len=1,2]
           [--kv-lora-rank=512 --qk-rope-head-dim=64 --block-size=64]
           [--kv-heads=N --head-dim=D] [--topk=N]
           [--cache-scales=row_groups --scale-group=G | --cache-scales=per_tensor]
           [--json]
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

# Per SM and clock: dense bf16 FLOPs of wgmma / mma.sync, HBM bytes.
MACHINES = {
    "sm_90a": {"name": "H200", "wgmma": 4096, "mma": 4096 * 2 / 3,
               "hbm": 4.8e12 / 132 / 1.83e9},
    "sm_80": {"name": "A100", "wgmma": None, "mma": 2048,
              "hbm": 2.0e12 / 108 / 1.41e9},
}

CLASSES = [
    ("tensor", r"^(HGMMA|HMMA)"),
    ("shared", r"^(LDS|LDSM|STS|STSM)"),
    ("global", r"^(LDG|STG|LDGSTS|UTMALDG|UTMASTG|RED|ATOM)"),
    ("fp32", r"^(FFMA|FMUL|FADD|FMNMX|FSETP|FSEL|F2F|F2FP|FCHK)"),
    ("mufu", r"^MUFU"),
    ("shuffle", r"^SHFL"),
    ("sync", r"^(BAR|SYNCS|WARPSYNC|WARPGROUP|DEPBAR|MEMBAR|FENCE)"),
]


def nvdisasm():
    here = os.path.dirname(os.path.abspath(__file__))
    found = glob.glob(os.path.join(here, "..", ".venv", "lib", "python3*",
                                   "site-packages", "nvidia", "cu*", "bin",
                                   "nvdisasm"))
    for path in found + ["/usr/local/cuda/bin/nvdisasm"]:
        if os.path.exists(path):
            return path
    sys.exit("sass-model.py: no nvdisasm (bash scripts/install.sh puts one "
             "in .venv)")


def partial_sass(cubin):
    """The partial kernel's instructions: (address, label or None, text)."""
    out = subprocess.run([nvdisasm(), "-c", cubin], check=True,
                         capture_output=True, text=True).stdout
    body = out.split(".text.partial:", 1)[1]
    insts, label = [], None
    for line in body.splitlines():
        if line.startswith(".L_"):
            label = line.rstrip(":")
            continue
        m = re.match(r"\s*/\*([0-9a-f]+)\*/\s+(.*?)\s*;", line)
        if m:
            insts.append((int(m.group(1), 16), label, m.group(2)))
            label = None
    return insts


def opcode(text):
    """The opcode of an instruction without its predicate."""
    words = text.split()
    if words and words[0].startswith("@"):
        words = words[1:]
    return words[0] if words else ""


def blocks_of(insts):
    """Basic blocks (lists of instruction indices) and their successors."""
    starts = {0}
    where = {lab: i for i, (_, lab, _) in enumerate(insts) if lab}
    for i, (_, lab, text) in enumerate(insts):
        if lab:
            starts.add(i)
        if re.search(r"\b(BRA|EXIT|RET|BRX|JMP)\b", text):
            starts.add(i + 1)
    order = sorted(x for x in starts if x < len(insts))
    block_of, blocks = {}, []
    for n, first in enumerate(order):
        last = order[n + 1] if n + 1 < len(order) else len(insts)
        blocks.append(list(range(first, last)))
        for i in range(first, last):
            block_of[i] = n
    succ = []
    for n, b in enumerate(blocks):
        text = insts[b[-1]][2]
        out = set()
        m = re.search(r"\bBRA(\.[A-Z.]+)?\b[^`]*`\((\.L_x_\d+)\)", text)
        if m and m.group(2) in where:
            out.add(block_of[where[m.group(2)]])
        # BRA.DIV branches only when the warp has diverged.
        unconditional = (re.search(r"\b(EXIT|RET)\b", text) or
                         (m and not text.lstrip().startswith("@") and
                          m.group(1) != ".DIV"))
        if not unconditional and n + 1 < len(blocks):
            out.add(n + 1)
        succ.append(out)
    return blocks, succ


def natural_loops(insts):
    """The natural loops (a back edge to a block that dominates its source,
    and every block that reaches it without passing that header), as
    (header, blocks), with the blocks' instruction indices."""
    blocks, succ = blocks_of(insts)
    pred = [set() for _ in blocks]
    for n, out in enumerate(succ):
        for t in out:
            pred[t].add(n)
    # Dominators (iterative) over the blocks reachable from the entry.
    reach, work = {0}, [0]
    while work:
        for t in succ[work.pop()]:
            if t not in reach:
                reach.add(t)
                work.append(t)
    pred = [p & reach for p in pred]
    every = set(range(len(blocks)))
    dom = [every for _ in blocks]
    dom[0] = {0}
    changed = True
    while changed:
        changed = False
        for n in range(1, len(blocks)):
            new = set.intersection(*(dom[p] for p in pred[n])) if pred[n] \
                else set()
            new = new | {n}
            if new != dom[n]:
                dom[n], changed = new, True
    loops = {}
    for src, out in enumerate(succ):
        for head in out:
            if src not in reach or head not in dom[src]:
                continue  # a jump back into code, not a loop
            loop, work = {head, src}, [src] if src != head else []
            while work:
                for p in pred[work.pop()]:
                    if p not in loop:
                        loop.add(p)
                        work.append(p)
            loops.setdefault(head, set()).update(loop)
    return [(h, sorted(i for n in bl for i in blocks[n]))
            for h, bl in loops.items()]


def tensor_flops(text):
    """FLOPs of one tensor instruction: HGMMA.64xNx16, HMMA.16816/1688."""
    op = opcode(text)
    m = re.match(r"HGMMA\.(\d+)x(\d+)x(\d+)", op)
    if m:
        return 2 * int(m.group(1)) * int(m.group(2)) * int(m.group(3))
    m = re.match(r"HMMA\.(\d\d)(\d)(\d+)", op)
    if m:
        return 2 * int(m.group(1)) * int(m.group(2)) * int(m.group(3))
    return 0


def rescale_blocks(insts, tile):
    """The lazily rescaled accumulators: forward branches in the tile loop
    on a predicate that a VOTE.ANY in the loop set, which skip only FMULs
    (32 or more). A warp takes them only on a tile where one of its rows'
    max rose past the threshold (rare after a sequence's first tiles).
    Returns their instructions' indices."""
    where = {lab: i for i, (_, lab, _) in enumerate(insts) if lab}
    voted = {m.group(1) for i in tile
             for m in [re.match(r"VOTE\.ANY (P\d)", insts[i][2])] if m}
    out = set()
    for i in tile:
        m = re.match(r"@!?(P\d) BRA `\((\.L_x_\d+)\)", insts[i][2])
        if not m or m.group(1) not in voted or m.group(2) not in where:
            continue
        j = where[m.group(2)]
        body = range(i + 1, j)
        ops = [opcode(insts[k][2]) for k in body]
        if j > i and len(ops) >= 32 and all(o == "FMUL" for o in ops):
            out.update(body)
    return out


def tile_loop(insts, tensor_per_warp, warps, skip_rescale=False):
    """What each warp issues per tile: the instructions of the tile loop (of
    the natural loops holding tensor instructions and in no other such loop,
    the smallest; exit paths placed inside its
    address range are not in it; the retry loops placed after the function
    are), each once, except that loops inside it holding tensor
    instructions count as many times as the tile's tensor work per warp
    (`tensor_per_warp` FLOPs) needs, and the TMA issue, which one thread
    runs for the CTA (a branch's side that holds UTMALDG and comes back to
    the branch's other side), counts 1 / warps; `skip_rescale` leaves out
    the lazily rescaled accumulators (rescale_blocks). Returns
    [(weight, text)]."""
    loops = natural_loops(insts)
    holds = [(h, idx) for h, idx in loops
             if any(tensor_flops(insts[i][2]) for i in idx)]
    # The tile loops: those inside no other loop holding tensor
    # instructions. A kernel with several (the wgmma form: masked tiles at a
    # window's start and at the split's end, the tiles every row sees whole
    # between them) runs all but a tile or two of a sequence in the one
    # without masks, its smallest.
    top = [(h, idx) for h, idx in holds
           if not any(set(idx) < set(other) for _, other in holds)]
    head, tile = min(top, key=lambda x: len(x[1]))
    inner = [set(idx) for h, idx in holds
             if h != head and set(idx) < set(tile)]
    # Innermost first: an instruction belongs to its smallest such loop.
    inner.sort(key=len)
    owner = {}
    for n, idx in enumerate(inner):
        for i in idx:
            owner.setdefault(i, n)
    outside = sum(tensor_flops(insts[i][2]) for i in tile if i not in owner)
    per_iter = [sum(tensor_flops(insts[i][2]) for i in idx
                    if owner.get(i) == n) for n, idx in enumerate(inner)]
    left = max(tensor_per_warp - outside, 0)
    total = sum(per_iter)
    trips = [max(1, round(left / total)) if total else 1 for _ in inner]
    weight = {i: (trips[owner[i]] if i in owner else 1) for i in tile}
    for i in single_warp_regions(insts, set(tile)):
        weight[i] /= warps
    skip = rescale_blocks(insts, tile) if skip_rescale else set()
    return [(weight[i], insts[i][2]) for i in tile if i not in skip]


def single_warp_regions(insts, tile):
    """Instructions of the tile loop's TMA issue: for a conditional branch
    inside the loop, the blocks reached from one successor without passing
    the other, when they hold UTMALDG, no tensor instruction, and all come
    back to that other successor inside the loop."""
    blocks, succ = blocks_of(insts)
    in_tile = [n for n, b in enumerate(blocks) if b[0] in tile]
    out = set()
    for n in in_tile:
        if len(succ[n]) != 2:
            continue
        for entry, join in (sorted(succ[n]), sorted(succ[n])[::-1]):
            region, work, ok = {entry}, [entry], entry != join
            while work and ok:
                for t in succ[work.pop()]:
                    if t == join or t in region:
                        continue
                    if blocks[t][0] not in tile or t == n:
                        ok = False
                        break
                    region.add(t)
                    work.append(t)
            idx = [i for r in region for i in blocks[r]]
            ops = [opcode(insts[i][2]) for i in idx]
            if (ok and any(o.startswith("UTMALDG") for o in ops) and
                    not any(tensor_flops(insts[i][2]) for i in idx)):
                out.update(idx)
    return out


def timeline(span, warps, tensor):
    """SM cycles of one tile of the wgmma form, in program order: each
    instruction takes warps / 4 issue cycles; an HGMMA adds its share of the
    tile's `tensor` cycles to the tensor cores' queue, which runs beside the
    issue; `gsb0` closes a wgmma group, and WARPGROUP.DEPBAR.LE gsb0, N
    waits until all but the N newest groups are done. The loop's end waits
    for everything (the form waits for its last group before the back
    edge). None for forms without HGMMA (mma.sync is synchronous per warp:
    the serialized and overlapped bounds stand)."""
    total = sum(w * tensor_flops(t) for w, t in span
                if opcode(t).startswith("HGMMA"))
    if not total:
        return None
    t = busy = 0.0
    groups = []
    for w, text in span:
        op = opcode(text)
        if op == "NOP":
            continue
        t += w * warps / 4
        if op.startswith("HGMMA"):
            busy = max(busy, t) + w * tensor_flops(text) * tensor / total
            if "gsb0" in text:
                groups.append(busy)
        elif op.startswith("WARPGROUP.DEPBAR"):
            keep = int(text.split(",")[-1].strip(), 16)
            done = groups[:max(len(groups) - keep, 0)]
            if done:
                t = max(t, max(done))
            groups = groups[len(done):]
    return max(t, busy)


def count(span):
    """Instructions by class, each times its weight."""
    counts = {name: 0 for name, _ in CLASSES}
    counts["other"] = 0
    total = 0
    for weight, text in span:
        op = opcode(text)
        if op == "NOP":
            continue
        total += weight
        for name, pattern in CLASSES:
            if re.match(pattern, op):
                counts[name] += weight
                break
        else:
            counts["other"] += weight
    counts = {k: round(v) for k, v in counts.items()}
    counts["total"] = round(total)
    return counts


def model(cfg, target):
    info = json.load(open(cfg["json"]))
    kern = info["kernel"]
    params = info["params"]
    form = kern["form"]
    machine = MACHINES["sm_90a" if target.startswith("sm_9") else "sm_80"]
    heads, q_len = params["num_heads"], params["q_len"]
    kv_heads = params.get("num_kv_heads") or 1
    # The sets of keys that groups of rows read: KV heads, or each query
    # token's index row (token indices).
    key_sets = q_len if params.get("topk") else kv_heads
    dc = params["kv_lora_rank"] if "kv_lora_rank" in params else params["head_dim"]
    width = info["dims"]["row_width"]
    tile = kern["tile_tokens"]
    rows = kern["rows_per_group"]
    warps = kern["threads"] // 32
    real_rows = min(rows, heads * q_len // key_sets)
    groups = -(-(heads * q_len // key_sets) // rows)
    m_inst = 64 if form == "wgmma_tma" else 16
    padded = -(-real_rows // m_inst) * m_inst
    rate = machine["wgmma"] if form == "wgmma_tma" else machine["mma"]
    value = width if kv_heads == 1 else dc  # a head cache's V is its own row
    flops = 2.0 * tile * (width + dc)
    per_warp = flops * padded / warps
    sass = partial_sass(cfg["cubin"])
    span = tile_loop(sass, per_warp, warps)
    counts = count(span)
    issue = counts["total"] * warps / 4
    tensor = flops * padded / rate
    scheduled = timeline(span, warps, tensor)
    # The same without the lazily rescaled accumulators: a tile on which no
    # row's max rose past the threshold (most of them).
    steady_span = tile_loop(sass, per_warp, warps, skip_rescale=True)
    steady = (timeline(steady_span, warps, tensor)
              if len(steady_span) < len(span) else None)
    useful = flops * real_rows / rate
    elem = 2 if params["dtype"] != "f32" else 4
    # fp8 rows carry their bytes; e4m3 codes with one scale are a byte each.
    code_bytes = 1 if params.get("cache_scales") == "per_tensor" else elem
    cache_bytes = tile * (params.get("cache_row_bytes") or
                          (width + (value if kv_heads > 1 else 0)) * code_bytes)
    memory = cache_bytes / groups / machine["hbm"]
    serial = max(memory, issue + tensor)
    overlap = max(memory, issue, tensor)
    sched = max(memory, scheduled) if scheduled else None
    steady = max(memory, steady) if steady else None
    roof = max(useful, memory)
    return {
        "config": cfg["name"], "form": form, "warps": warps, "tile": tile,
        "rows": real_rows, "instructions": counts, "issue": issue,
        "tensor": tensor, "memory": memory, "serialized": serial,
        "overlapped": overlap, "bound": "memory" if memory >= useful
        else "tensor", "predicted": roof / serial,
        "predicted_overlapped": roof / overlap, "machine": machine["name"],
        "scheduled": sched,
        "predicted_scheduled": roof / sched if sched else None,
        "steady_instructions": count(steady_span)["total"],
        "predicted_steady": roof / steady if steady else None,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--codegen", default=os.path.join(here, "..", "build",
                                                     "bin", "mla-codegen"))
    p.add_argument("--target", default="sm_90a")
    p.add_argument("--heads", default="16,128")
    p.add_argument("--q-len", default="1,2")
    p.add_argument("--kv-lora-rank", type=int, default=512)
    p.add_argument("--qk-rope-head-dim", type=int, default=64)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--kv-heads", type=int, default=0)
    p.add_argument("--head-dim", type=int, default=128)
    p.add_argument("--topk", type=int, default=0)
    p.add_argument("--cache-scales", default="none")
    p.add_argument("--scale-group", type=int, default=128)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for h in a.heads.split(","):
            for q in a.q_len.split(","):
                name = f"h{h}_q{q}"
                shape = ([f"--num-kv-heads={a.kv_heads}",
                          f"--head-dim={a.head_dim}"] if a.kv_heads else
                         [f"--kv-lora-rank={a.kv_lora_rank}",
                          f"--qk-rope-head-dim={a.qk_rope_head_dim}"])
                if a.topk:
                    shape += ["--causal=false", f"--topk={a.topk}"]
                if a.cache_scales == "row_groups":
                    shape += [f"--cache-scales={a.cache_scales}",
                              f"--scale-group={a.scale_group}"]
                elif a.cache_scales != "none":
                    shape += [f"--cache-scales={a.cache_scales}"]
                out = os.path.join(tmp, name)
                gen = subprocess.run([a.codegen, f"--target={a.target}",
                                      f"--num-heads={h}", f"--q-len={q}",
                                      f"--block-size={a.block_size}",
                                      "--dtype=bf16", f"--name={name}", "-o",
                                      out] + shape, capture_output=True,
                                     text=True)
                if gen.returncode != 0:
                    sys.exit(f"sass-model.py: mla-codegen failed for {name}:"
                             f"\n{gen.stderr}")
                rows.append(model({"name": name, "json": os.path.join(
                    out, name + ".json"), "cubin": os.path.join(
                        out, name + ".cubin")}, a.target))
    if a.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{a.target} ({rows[0]['machine']}), per tile and CTA, in SM "
          "cycles; instructions each warp issues per tile")
    print(f"{'config':10} {'form':9} {'warps':>5} {'tile':>4} {'instr':>6} "
          f"{'tensor':>6} {'shared':>6} {'fp32':>5} {'mufu':>5} {'sync':>5} "
          f"{'issue':>7} {'tensor':>7} {'HBM':>7} {'bound':>6} "
          f"{'serial':>7} {'overlap':>7} {'sched':>7} {'steady':>7}")
    for r in rows:
        c = r["instructions"]
        print(f"{r['config']:10} {r['form']:9} {r['warps']:5} {r['tile']:4} "
              f"{c['total']:6} {c['tensor']:6} {c['shared']:6} {c['fp32']:5} "
              f"{c['mufu']:5} {c['sync']:5} {r['issue']:7.0f} "
              f"{r['tensor']:7.0f} {r['memory']:7.0f} {r['bound']:>6} "
              f"{100 * r['predicted']:6.0f}% "
              f"{100 * r['predicted_overlapped']:6.0f}% " +
              (f"{100 * r['predicted_scheduled']:6.0f}%"
               if r["predicted_scheduled"] else f"{'-':>7}") + " " +
              (f"{100 * r['predicted_steady']:6.0f}%"
               if r["predicted_steady"] else f"{'-':>7}"))


if __name__ == "__main__":
    main()
