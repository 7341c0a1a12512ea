"""Runs mla.index_score, mla.topk and mla.layer_norm through mla-lower-to-cpu
and mlir-runner over a grid of shapes on random inputs, and compares every
value with a float64 numpy evaluation of the ops' definitions (MLAOps.td).

Tolerances: scores |got - ref| <= 1e-5 * max|ref| + 1e-6 (f32 accumulation
of exact inputs: bf16 inputs are rounded before both sides see them);
top-k exact against the reference order of the scores the kernel computed
(so that a near-tie decided by rounding is not a failure), and its scores
must be the reference's top-k within the score tolerance; layer_norm
1e-5 (f32) or one bf16 rounding, 2^-8 relative, plus 1e-6.

usage: indexer_check.py MLA_OPT MLIR_RUNNER C_RUNNER_UTILS
"""

import sys

import numpy as np

from mlir_run import Runner, dyn, lit, ttype

R = Runner(*sys.argv[1:4])
run, check = R.run, R.check
rng = np.random.default_rng(7)


def bf16(x):
    """x rounded to bfloat16 (nearest even), as float64."""
    b = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16 << 16
    return (b.astype(np.uint32)).view(np.float32).astype(np.float64)


def printer(name, shape, ety):
    """IR printing `name` (a dynamic tensor of `shape`) in one vector."""
    n = len(shape)
    z = ", ".join(["%c0"] * n)
    pad = "%pf" if ety == "f32" else "%pi"
    st = ttype(shape, ety)
    vt = "vector<" + "x".join(str(d) for d in shape) + f"x{ety}>"
    return (f"  %{name}_s = tensor.cast %{name} : {{t}} to {st}\n"
            f"  %{name}_v = vector.transfer_read %{name}_s[{z}], {pad} "
            f"{{in_bounds = [{', '.join(['true'] * n)}]}} : {st}, {vt}\n"
            f"  vector.print %{name}_v : {vt}\n")


def topk_module(s, K):
    """A module printing mla.topk {k = K} of the constant scores s [B, S, T]."""
    B, S, T = s.shape
    st, it = f"tensor<?x{S}x?xf32>", f"tensor<?x{S}x{K}xi32>"
    return (f"func.func @f(%s: {st}) -> {it} {{\n"
            f"  %i = mla.topk %s {{k = {K}}} : {st} -> {it}\n"
            f"  return %i : {it}\n}}\n"
            "func.func @main() {\n  %c0 = arith.constant 0 : index\n"
            "  %pi = arith.constant 0 : i32\n"
            f"  %s_c = arith.constant {lit(s, 'f32')} : {ttype((B, S, T), 'f32')}\n"
            f"  %s_d = tensor.cast %s_c : {ttype((B, S, T), 'f32')} to {st}\n"
            f"  %i = func.call @f(%s_d) : ({st}) -> {it}\n"
            + printer("i", (B, S, K), "i32").replace("{t}", it)
            + "  return\n}\n")


def score_ref(q, k, w, qr, kr, lens, scale, causal):
    B, S, H, _ = q.shape
    T = k.shape[1]
    dots = np.einsum("bshd,btd->bsht", q, k)
    if qr is not None:
        dots += np.einsum("bshd,btd->bsht", qr, kr)
    s = scale * np.einsum("bsh,bsht->bst", w, np.maximum(dots, 0.0))
    for b in range(B):
        L = T if lens is None else lens[b]
        for i in range(S):
            for t in range(T):
                if t >= L or (causal and t > L - S + i):
                    s[b, i, t] = -np.inf
    return s


def topk_ref(s, k):
    """Positions of the k largest finite scores, ties to the lower position."""
    B, S, T = s.shape
    out = -np.ones((B, S, k), np.int64)
    for b in range(B):
        for i in range(S):
            cand = [t for t in range(T) if s[b, i, t] > -np.inf]
            cand.sort(key=lambda t: (-s[b, i, t], t))
            cand = cand[:k]
            out[b, i, :len(cand)] = cand
    return out


# (B, S, H, d, d_r, T, K, causal, kv_lens, dtype)
grid = [
    (1, 1, 1, 4, 0, 5, 3, False, None, "f32"),
    (2, 1, 4, 8, 4, 17, 8, True, [17, 9], "f32"),
    (2, 3, 2, 16, 8, 12, 16, True, [12, 3], "f32"),
    (3, 2, 8, 32, 0, 33, 5, False, [0, 20, 33], "bf16"),
    (1, 4, 4, 16, 16, 40, 40, True, [40], "bf16"),
    (2, 2, 64, 8, 4, 9, 4, True, [9, 1], "f32"),
]
for n, (B, S, H, d, dr, T, K, causal, lens, ety) in enumerate(grid):
    rnd = (lambda *sh: bf16(rng.standard_normal(sh))) if ety == "bf16" else \
        (lambda *sh: rng.standard_normal(sh).astype(np.float32).astype(np.float64))
    q, k, w = rnd(B, S, H, d), rnd(B, T, d), rnd(B, S, H)
    qr = rnd(B, S, H, dr) if dr else None
    kr = rnd(B, T, dr) if dr else None
    scale = 0.125
    args = [("q", q, ety, {0}), ("k", k, ety, {0, 1}), ("w", w, ety, {0})]
    if dr:
        args += [("qr", qr, ety, {0}), ("kr", kr, ety, {0, 1})]
    if lens is not None:
        args += [("l", np.array(lens), "i32", {0})]
    sig = ", ".join(f"%{a}: {dyn(v.shape, e, dd)}" for a, v, e, dd in args)
    rope = f" rope(%qr, %kr)" if dr else ""
    ropet = (f" rope({dyn(qr.shape, ety, {0})}, {dyn(kr.shape, ety, {0, 1})})"
             if dr else "")
    kl = " kv_lens(%l)" if lens is not None else ""
    klt = f" kv_lens({dyn((B,), 'i32', {0})})" if lens is not None else ""
    st = dyn((B, S, T), "f32", {0, 2})
    it = dyn((B, S, K), "i32", {0})
    fn = (f"func.func @f({sig}) -> ({st}, {it}) {{\n"
          f"  %s = mla.index_score %q, %k weights(%w){rope}{kl} "
          f"{{scale = {scale} : f32{', causal' if causal else ''}}} : "
          f"{dyn(q.shape, ety, {0})}, {dyn(k.shape, ety, {0, 1})} "
          f"weights({dyn(w.shape, ety, {0})}){ropet}{klt} -> {st}\n"
          f"  %i = mla.topk %s {{k = {K}}} : {st} -> {it}\n"
          f"  return %s, %i : {st}, {it}\n}}\n")
    main = "func.func @main() {\n  %c0 = arith.constant 0 : index\n" \
           "  %pf = arith.constant 0.0 : f32\n  %pi = arith.constant 0 : i32\n"
    for a, v, e, dd in args:
        main += f"  %{a}_c = arith.constant {lit(v, e)} : {ttype(v.shape, e)}\n"
        main += f"  %{a}_d = tensor.cast %{a}_c : {ttype(v.shape, e)} to {dyn(v.shape, e, dd)}\n"
    main += (f"  %s, %i = func.call @f({', '.join(f'%{a}_d' for a, *_ in args)}) : "
             f"({', '.join(dyn(v.shape, e, dd) for _, v, e, dd in args)}) -> ({st}, {it})\n")
    main += printer("s", (B, S, T), "f32").replace("{t}", st)
    main += printer("i", (B, S, K), "i32").replace("{t}", it)
    main += "  return\n}\n"
    got_s, got_i = run(fn + main)
    got_s = got_s.reshape(B, S, T)
    got_i = got_i.reshape(B, S, K).astype(np.int64)
    ref_s = score_ref(q, k, w, qr, kr, lens, scale, causal)
    fin = np.isfinite(ref_s)
    check(f"index_score #{n} mask", np.array_equal(fin, np.isfinite(got_s)))
    tol = 1e-5 * np.abs(ref_s[fin]).max(initial=0) + 1e-6
    err = np.abs(got_s[fin] - ref_s[fin]).max(initial=0)
    check(f"index_score #{n}", err <= tol, f"err {err:.3g} > {tol:.3g}")
    check(f"topk #{n} order", np.array_equal(got_i, topk_ref(got_s, K)))
    # The chosen scores are the reference's best K, within the tolerance.
    ref_i = topk_ref(ref_s, K)
    for b in range(B):
        for i in range(S):
            g = [ref_s[b, i, t] for t in got_i[b, i] if t >= 0]
            r = [ref_s[b, i, t] for t in ref_i[b, i] if t >= 0]
            check(f"topk #{n} values", len(g) == len(r) and
                  np.allclose(sorted(g), sorted(r), rtol=0, atol=2 * tol))
    print(f"index_score + topk #{n}: B={B} S={S} H={H} d={d} d_r={dr} T={T} k={K} "
          f"causal={causal} kv_lens={lens} {ety}: max err {err:.2e} (tol {tol:.2e})")

# topk alone: ties, -inf, NaN, k past the finite count.
s = np.array([[[1.0, 3.0, 3.0, -np.inf, np.nan, 1.0, 2.0],
               [-np.inf] * 7],
              [[0.0, -0.0, -1.0, 5.0, np.nan, np.nan, -np.inf],
               [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]]])
for K in (1, 4, 9):
    fn = topk_module(s, K)
    got = run(fn)[0].reshape(2, 2, K).astype(np.int64)
    ref = topk_ref(np.where(np.isnan(s), -np.inf, s), K)
    check(f"topk special k={K}", np.array_equal(got, ref), f"{got.tolist()} != {ref.tolist()}")
    print(f"topk ties/-inf/NaN k={K}: {got.tolist()}")

# topk on tie-heavy rows (a few distinct values, -0 beside +0, -inf and NaN),
# where the threshold falls among equal scores, k below, at and past T.
for n, (B, S, T, K) in enumerate([(2, 3, 50, 7), (1, 2, 300, 64), (2, 1, 40, 40),
                                  (1, 3, 17, 400), (3, 1, 1, 1)]):
    vals = np.array([-2.0, -0.0, 0.0, 0.5, 1.0, 3.0, -np.inf, np.nan, 1e30, -1e-30])
    s = vals[rng.integers(0, len(vals), size=(B, S, T))]
    fn = topk_module(s, K)
    got = run(fn)[0].reshape(B, S, K).astype(np.int64)
    ref = topk_ref(np.where(np.isnan(s), -np.inf, s), K)
    check(f"topk ties #{n}", np.array_equal(got, ref))
    print(f"topk ties #{n}: B={B} S={S} T={T} k={K}: "
          f"{'exact' if np.array_equal(got, ref) else 'MISMATCH'}")

# layer_norm over the last dimension, rank 2 and 3.
for n, (shape, ety) in enumerate([((3, 16), "f32"), ((2, 3, 128), "bf16"),
                                  ((1, 2, 64), "f32")]):
    r = bf16 if ety == "bf16" else (lambda x: x.astype(np.float32).astype(np.float64))
    x = r(rng.standard_normal(shape) * 3 + 10)  # far from zero: a one-pass variance would cancel
    g, be = r(rng.standard_normal(shape[-1])), r(rng.standard_normal(shape[-1]))
    dd = {0}
    xt = dyn(shape, ety, dd)
    vt = ttype((shape[-1],), ety)
    fn = (f"func.func @f(%x: {xt}, %g: {vt}, %b: {vt}) -> {xt} {{\n"
          f"  %y = mla.layer_norm %x, %g, %b {{epsilon = 1.0e-06 : f32}} : {xt}, {vt}, {vt}\n"
          f"  return %y : {xt}\n}}\n")
    pad = "  %pf = arith.constant 0.0 : f32\n"
    main = ("func.func @main() {\n  %c0 = arith.constant 0 : index\n"
            f"  %x_c = arith.constant {lit(x, ety)} : {ttype(shape, ety)}\n"
            f"  %x_d = tensor.cast %x_c : {ttype(shape, ety)} to {xt}\n"
            f"  %g = arith.constant {lit(g, ety)} : {vt}\n"
            f"  %b = arith.constant {lit(be, ety)} : {vt}\n"
            f"  %y = func.call @f(%x_d, %g, %b) : ({xt}, {vt}, {vt}) -> {xt}\n")
    if ety == "bf16":
        st, vt16 = ttype(shape, "bf16"), "vector<" + "x".join(map(str, shape))
        z = ", ".join(["%c0"] * len(shape))
        main += (f"  %pb = arith.constant 0.0 : bf16\n"
                 f"  %y_s = tensor.cast %y : {xt} to {st}\n"
                 f"  %y_v = vector.transfer_read %y_s[{z}], %pb {{in_bounds = "
                 f"[{', '.join(['true'] * len(shape))}]}} : {st}, {vt16}xbf16>\n"
                 f"  %y_w = arith.extf %y_v : {vt16}xbf16> to {vt16}xf32>\n"
                 f"  vector.print %y_w : {vt16}xf32>\n")
    else:
        main += pad + printer("y", shape, "f32").replace("{t}", xt)
    main += "  return\n}\n"
    got = run(fn + main)[0].reshape(shape)
    mu = x.mean(-1, keepdims=True)
    ref = (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-6) * g + be
    rel = 2.0 ** -8 if ety == "bf16" else 1e-5
    err = np.abs(got - ref) - (rel * np.abs(ref) + 1e-5)
    check(f"layer_norm #{n}", err.max() <= 0, f"excess {err.max():.3g}")
    print(f"layer_norm #{n} {shape} {ety}: max err {np.abs(got - ref).max():.2e}")

# Sparse attention as DeepSeek-V3.2 decodes: the indexer selects k positions
# of each query, attention in latent space over a paged cache sees only
# those; mla-fuse-decode-attention makes it the sparse decode kernel on the
# selected cache rows. The output must be attention over the positions the
# run returned (which must be the top-k of the scores it returned).
def sparse_case(n, B, S, H, dc, dr, BS, MB, Hi, Di, K, lens):
    NB = B * MB + 1
    f = lambda *sh: rng.standard_normal(sh).astype(np.float32).astype(np.float64)  # noqa: E731
    ql, qr = f(B, S, H, dc), f(B, S, H, dr)
    cache = f(NB, BS, dc + dr)
    bt = rng.permutation(NB)[:B * MB].reshape(B, MB)
    T = MB * BS
    iq, ik, iw = f(B, S, Hi, Di), f(B, T, Di), f(B, S, Hi)
    scale, iscale = 0.3, 0.1
    W = dc + dr
    ty = lambda shape, dd, e="f32": dyn(shape, e, dd)  # noqa: E731
    qlt, qrt = ty((B, S, H, dc), {0}), ty((B, S, H, dr), {0})
    ct, btt, lt = ty((NB, BS, W), {0}), ty((B, MB), {0}, "i32"), ty((B,), {0}, "i32")
    iqt, ikt, iwt = ty((B, S, Hi, Di), {0}), ty((B, T, Di), {0}), ty((B, S, Hi), {0})
    st, it, ot = ty((B, S, T), {0}), ty((B, S, K), {0}, "i32"), ty((B, S, H, dc), {0})
    fn = (f"func.func @f(%ql: {qlt}, %qr: {qrt}, %cache: {ct}, %bt: {btt}, %l: {lt}, "
          f"%iq: {iqt}, %ik: {ikt}, %iw: {iwt}) -> ({ot}, {it}, {st}) {{\n"
          f"  %c, %kr = mla.kv_cache_gather %cache[%bt] : {ct}[{btt}] -> "
          f"{ty((B, T, dc), {0})}, {ty((B, T, dr), {0})}\n"
          f"  %c0 = arith.constant 0 : index\n"
          f"  %b = tensor.dim %c, %c0 : {ty((B, T, dc), {0})}\n"
          f"  %kv = tensor.expand_shape %c [[0], [1], [2, 3]] output_shape [%b, {T}, 1, {dc}] : "
          f"{ty((B, T, dc), {0})} into {ty((B, T, 1, dc), {0})}\n"
          f"  %s = mla.index_score %iq, %ik weights(%iw) kv_lens(%l) {{scale = {iscale} : f32, causal}} : "
          f"{iqt}, {ikt} weights({iwt}) kv_lens({lt}) -> {st}\n"
          f"  %i = mla.topk %s {{k = {K}}} : {st} -> {it}\n"
          f"  %o = mla.attention %ql, %kv, %kv rope(%qr, %kr) kv_lens(%l) indices(%i) "
          f"{{scale = {scale} : f32, causal}} : {qlt}, {ty((B, T, 1, dc), {0})}, "
          f"{ty((B, T, 1, dc), {0})} rope({qrt}, {ty((B, T, dr), {0})}) kv_lens({lt}) "
          f"indices({it}) -> {ot}\n"
          f"  return %o, %i, %s : {ot}, {it}, {st}\n}}\n")
    args = [("ql", ql, "f32", {0}), ("qr", qr, "f32", {0}), ("cache", cache, "f32", {0}),
            ("bt", bt, "i32", {0}), ("l", np.array(lens), "i32", {0}),
            ("iq", iq, "f32", {0}), ("ik", ik, "f32", {0}), ("iw", iw, "f32", {0})]
    main = "func.func @main() {\n  %c0 = arith.constant 0 : index\n" \
           "  %pf = arith.constant 0.0 : f32\n  %pi = arith.constant 0 : i32\n"
    for a, v, e, dd in args:
        main += f"  %{a}_c = arith.constant {lit(v, e)} : {ttype(v.shape, e)}\n"
        main += f"  %{a}_d = tensor.cast %{a}_c : {ttype(v.shape, e)} to {dyn(v.shape, e, dd)}\n"
    main += (f"  %o, %i, %s = func.call @f({', '.join(f'%{a}_d' for a, *_ in args)}) : "
             f"({', '.join(dyn(v.shape, e, dd) for _, v, e, dd in args)}) -> ({ot}, {it}, {st})\n")
    main += printer("o", (B, S, H, dc), "f32").replace("{t}", ot)
    main += printer("i", (B, S, K), "i32").replace("{t}", it)
    main += printer("s", (B, S, T), "f32").replace("{t}", st)
    main += "  return\n}\n"
    fused = R.opt(fn + main, "--mla-fuse-decode-attention")
    if "mla.attention" in fused.split("func.func @main")[0]:
        sys.exit("mla-fuse-decode-attention did not fuse:\n" + fused)
    got_o, got_i, got_s = run(fused)
    got_o, got_i = got_o.reshape(B, S, H, dc), got_i.reshape(B, S, K).astype(np.int64)
    got_s = got_s.reshape(B, S, T)
    check(f"sparse #{n} selection", np.array_equal(got_i, topk_ref(got_s, K)))
    ref_s = score_ref(iq, ik, iw, None, None, lens, iscale, True)
    fin = np.isfinite(ref_s)
    check(f"sparse #{n} scores", np.array_equal(fin, np.isfinite(got_s)) and
          np.abs(got_s[fin] - ref_s[fin]).max(initial=0) <=
          1e-5 * np.abs(ref_s[fin]).max(initial=0) + 1e-6)
    ref = np.zeros((B, S, H, dc))
    for b in range(B):
        rows = np.array([cache[bt[b, t // BS], t % BS] for t in range(T)])
        for i in range(S):
            sel = sorted(set(int(t) for t in got_i[b, i] if t >= 0))
            if not sel:
                continue
            for h in range(H):
                qv = np.concatenate([ql[b, i, h], qr[b, i, h]])
                z = scale * rows[sel] @ qv
                p = np.exp(z - z.max())
                ref[b, i, h] = (p / p.sum()) @ rows[sel, :dc]
    err = np.abs(got_o - ref).max()
    tol = 1e-5 * np.abs(ref).max() + 1e-6
    check(f"sparse #{n} attention", err <= tol, f"err {err:.3g} > {tol:.3g}")
    print(f"sparse attention #{n}: B={B} S={S} H={H} d_c={dc} d_r={dr} pages of {BS} "
          f"k={K} kv_lens={lens}: max err {err:.2e} (tol {tol:.2e})")


sparse_case(0, 2, 1, 4, 16, 8, 4, 4, 2, 8, 5, [13, 3])
sparse_case(1, 3, 2, 2, 32, 8, 8, 2, 4, 16, 6, [16, 0, 7])
sparse_case(2, 1, 3, 16, 16, 16, 1, 12, 2, 8, 4, [12])

R.finish("indexer")
