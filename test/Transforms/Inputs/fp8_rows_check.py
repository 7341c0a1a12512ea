"""mla.kv_cache_append into an fp8-row cache (scale_group) and
mla.kv_cache_gather out of it, run through mla-lower-to-cpu and mlir-runner
on random rows (heavy-tailed, an all-zero group, subnormal codes, NaN and
-NaN rope values), over
bytes already in the cache, against the package's own
encoder: every byte written must be mla.fp8.encode_rows of the row (exact),
every value gathered mla.fp8.decode_rows of the bytes (exact, rounded to
the result type for bf16), and rows not written must keep their bytes.

usage: fp8_rows_check.py MLA_OPT MLIR_RUNNER C_RUNNER_UTILS SRC_PYTHON_DIR
"""

import sys

import numpy as np

from mlir_run import Runner, lit

R = Runner(*sys.argv[1:4])
run, check = R.run, R.check
sys.path.insert(0, sys.argv[4])
from mla import fp8  # noqa: E402
from mla._dtypes import from_bf16, to_bf16  # noqa: E402

rng = np.random.default_rng(3)


# (B, S, d_c, d_r, G, block size, dtype)
grid = [(2, 1, 32, 8, 16, 4, "f32"), (1, 3, 64, 16, 32, 2, "bf16"),
        (3, 2, 128, 0, 128, 8, "f32"), (1, 1, 512, 64, 128, 4, "bf16")]
for n, (B, S, dc, dr, G, BS, ety) in enumerate(grid):
    W = fp8.row_bytes(dc, dr, G)
    MB = 2
    NB = B * MB
    lens = rng.integers(S, MB * BS + 1, size=B)
    lat = rng.standard_normal((B, S, dc)) * np.exp(rng.standard_normal((B, S, dc)))
    lat[0, 0, :G] = 0.0                                   # an all-zero group
    lat[-1, -1, 1] = 1e-7                                 # subnormal codes
    if dr:
        rope_nan = [np.nan, -np.nan]                      # written as 0x7FC0
    rope = rng.standard_normal((B, S, dr)) * 4
    if ety == "bf16":
        lat, rope = from_bf16(to_bf16(lat)), from_bf16(to_bf16(rope))
    lat, rope = lat.astype(np.float32), rope.astype(np.float32)
    if dr:
        rope[0, 0, :2] = rope_nan
    old = rng.integers(-128, 128, size=(NB, BS, W))       # bytes already there
    bt = rng.permutation(NB).reshape(B, MB)
    ft = lambda sh: "tensor<" + "x".join(str(d) for d in sh) + f"x{ety}>"  # noqa: E731
    it = lambda sh, e="i8": "tensor<" + "x".join(str(d) for d in sh) + f"x{e}>"  # noqa: E731
    T = MB * BS
    fn = (f"func.func @f(%l: {ft((B, S, dc))}, %r: {ft((B, S, dr))}, %c: {it((NB, BS, W))}, "
          f"%bt: {it((B, MB), 'i32')}, %n: {it((B,), 'i32')}) -> ({it((NB, BS, W))}, "
          f"{ft((B, T, dc))}, {ft((B, T, dr))}) {{\n"
          f"  %c2 = mla.kv_cache_append %l, %r into %c[%bt, %n] {{scale_group = {G} : i64}} : "
          f"{ft((B, S, dc))}, {ft((B, S, dr))} into {it((NB, BS, W))}[{it((B, MB), 'i32')}, "
          f"{it((B,), 'i32')}]\n"
          f"  %g, %gr = mla.kv_cache_gather %c2[%bt] {{scale_group = {G} : i64}} : "
          f"{it((NB, BS, W))}[{it((B, MB), 'i32')}] -> {ft((B, T, dc))}, {ft((B, T, dr))}\n"
          f"  return %c2, %g, %gr : {it((NB, BS, W))}, {ft((B, T, dc))}, {ft((B, T, dr))}\n}}\n")
    main = ("func.func @main() {\n  %z = arith.constant 0 : index\n"
            f"  %l = arith.constant {lit(lat, ety)} : {ft((B, S, dc))}\n"
            f"  %r = arith.constant {lit(rope, ety)} : {ft((B, S, dr))}\n"
            f"  %c = arith.constant {lit(old, 'i8')} : {it((NB, BS, W))}\n"
            f"  %bt = arith.constant {lit(bt, 'i32')} : {it((B, MB), 'i32')}\n"
            f"  %n = arith.constant {lit(lens, 'i32')} : {it((B,), 'i32')}\n"
            f"  %c2, %g, %gr = func.call @f(%l, %r, %c, %bt, %n) : ({ft((B, S, dc))}, "
            f"{ft((B, S, dr))}, {it((NB, BS, W))}, {it((B, MB), 'i32')}, {it((B,), 'i32')}) -> "
            f"({it((NB, BS, W))}, {ft((B, T, dc))}, {ft((B, T, dr))})\n"
            "  %p8 = arith.constant 0 : i8\n")
    main += (f"  %vc = vector.transfer_read %c2[%z, %z, %z], %p8 {{in_bounds = [true, true, true]}}"
             f" : {it((NB, BS, W))}, vector<{NB}x{BS}x{W}xi8>\n"
             f"  %vc32 = arith.extsi %vc : vector<{NB}x{BS}x{W}xi8> to vector<{NB}x{BS}x{W}xi32>\n"
             f"  vector.print %vc32 : vector<{NB}x{BS}x{W}xi32>\n")
    pf = "%pb" if ety == "bf16" else "%pf"
    main += f"  {pf} = arith.constant 0.0 : {ety}\n"
    for name, sh in (("g", (B, T, dc)), ("gr", (B, T, dr))):
        if sh[-1] == 0:
            continue
        vt = "vector<" + "x".join(map(str, sh))
        main += (f"  %v{name} = vector.transfer_read %{name}[%z, %z, %z], {pf} {{in_bounds = "
                 f"[true, true, true]}} : {ft(sh)}, {vt}x{ety}>\n")
        # Printed as the bits of the f32 values, so that they compare exactly.
        src = f"%v{name}"
        if ety == "bf16":
            main += f"  %w{name} = arith.extf %v{name} : {vt}xbf16> to {vt}xf32>\n"
            src = f"%w{name}"
        main += f"  %b{name} = arith.bitcast {src} : {vt}xf32> to {vt}xi32>\n"
        main += f"  vector.print %b{name} : {vt}xi32>\n"
    main += "  return\n}\n"
    outs = run(fn + main)
    got = (outs[0].astype(np.int64) & 0xFF).reshape(NB, BS, W).astype(np.uint8)
    want = (old & 0xFF).astype(np.uint8).copy()
    rows = np.concatenate([lat, rope], axis=-1)
    enc = fp8.encode_rows(rows, dc, G)
    for b in range(B):
        for s in range(S):
            p = lens[b] - S + s
            want[bt[b, p // BS], p % BS] = enc[b, s]
    check(f"append #{n} bytes", np.array_equal(got, want),
          f"{int((got != want).sum())} bytes differ")
    with np.errstate(over="ignore", invalid="ignore"):  # rows of random bytes
        dec = fp8.decode_rows(got, dc, dr, G)            # [NB, BS, dc + dr]
    ref = np.stack([np.concatenate([dec[bt[b, t // BS], t % BS] for t in range(T)])
                    .reshape(T, dc + dr) for b in range(B)])
    if ety == "bf16":
        ref = from_bf16(to_bf16(ref))
    bits = lambda o: o.astype(np.int64).astype(np.uint32).view(np.float32)  # noqa: E731
    outs[1:] = [bits(o) for o in outs[1:]]
    g = outs[1].reshape(B, T, dc)
    same = np.array_equal(g, ref[..., :dc], equal_nan=True)
    if dr:
        same = same and np.array_equal(outs[2].reshape(B, T, dr), ref[..., dc:],
                                       equal_nan=True)
    if not same:
        bad = ~np.isclose(g, ref[..., :dc], rtol=0, atol=0, equal_nan=True)
        idx = np.argwhere(bad)[:3]
        print("first differing", [(tuple(i), g[tuple(i)], ref[..., :dc][tuple(i)]) for i in idx])
    check(f"gather #{n} values", same)
    print(f"fp8 rows #{n}: B={B} S={S} d_c={dc} d_r={dr} G={G} pages of {BS} {ety}: "
          f"{W} bytes a row, bytes {'exact' if np.array_equal(got, want) else 'DIFFER'}, "
          f"values {'exact' if same else 'DIFFER'}")

R.finish("fp8 row")
