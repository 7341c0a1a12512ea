"""The absorbed decode in PyTorch on the CPU, timed next to the generated
kernel, call by call in one process.

What a PyTorch user writes for MLA decode over a paged latent cache: gather
each sequence's pages, S = q K^T as a batched matmul (K = [c_kv ; k_rope]),
the causal and window masks, softmax in float32, O = P c_kv as a second
matmul. bf16 matmuls go to oneDNN (AMX on CPUs that have it), f32 to MKL or
oneDNN. With --kernel-lib/--kernel-name the generated kernel (the contract's C
symbol, through ctypes) runs on the same tensors; the two are timed
alternately, a call each, so that a loaded machine slows both alike. Both
are checked against the same math in float64. Called by `mla-bench
--impl=torch`; prints one line: PyTorch's median ms, the kernel's median ms
(-1 without one), PyTorch's and the kernel's max |err| against float64, and
the median of the per-pair ratios torch / kernel (-1 without a kernel).

With --kv-heads=G the problem is GQA/MQA/MHA decode over paged key and
value caches [pages, block_size, G, --dc] (vLLM's layout) instead, and
PyTorch's version is what its users write: gather the pages, then
torch.nn.functional.scaled_dot_product_attention with enable_gqa (the
flash or math CPU kernel, oneDNN underneath). Its check is math written out
in float64 (keys and values repeated per query head, two matmuls, softmax).

With --topk=K the problem is sparse decode (DeepSeek-V3.2's attention after
its indexer): each query token attends to K distinct positions of its
sequence's seq_len tokens, named by cache row in indices [batch, q_len, K].
PyTorch's version gathers the rows (one index_select) and runs the same two
matmuls and softmax; the kernel is mla-codegen --topk's.

With --fp8 the latent cache holds fp8 rows with a scale a group of 128
values (FlashMLA's "FP8 with scale" row, DeepSeek-V3.2's cache; written by
the mla package's mla.fp8.encode_rows): PyTorch gathers the rows' bytes and
dequantizes them (float8_e4m3fn to float, times the scales; the rope part
bf16) before the same matmuls, and float64 reads the same dequantized values.
With --fp8-tensor it holds e4m3 codes with one scale (amax / 448; vLLM's fp8
cache, mla.fp8.encode_tensor): PyTorch gathers the codes and dequantizes them
(float8_e4m3fn to float, times the scale), and the kernel takes the scale as
its kv_scale argument.

With --gemm-peak it prints instead the GFLOP/s of a 4096^3 matmul in
--dtype (oneDNN's bf16 GEMM: AMX where the CPU has it), median of --reps.
"""

import argparse
import ctypes
import os
import sys
import time

# Two OpenMP runtimes share the cores in this process, PyTorch's and the
# generated kernel's (LLVM's libomp), their calls alternating: threads that
# spin after a parallel region would hold the cores the other needs. Both
# read these when they start (PyTorch's at the import below).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("KMP_BLOCKTIME", "0")

import torch  # noqa: E402


def gemm_peak(dtype, reps):
    n = 4096
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.matmul(a, b)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        times.append(time.perf_counter() - t0)
    times.sort()
    return 2.0 * n ** 3 / times[len(times) // 2] * 1e-9


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seq-len", type=int, default=4096)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--q-len", type=int, default=1)
    p.add_argument("--dc", type=int, default=512)
    p.add_argument("--dr", type=int, default=64)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--window", type=int, default=0)
    p.add_argument("--dtype", default="bf16")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--kernel-lib", default="")
    p.add_argument("--kernel-name", default="")
    p.add_argument("--gemm-peak", action="store_true")
    p.add_argument("--kv-heads", type=int, default=0)
    p.add_argument("--topk", type=int, default=0)
    p.add_argument("--fp8", action="store_true")
    p.add_argument("--fp8-tensor", action="store_true")
    p.add_argument("--seq-lens", default="",
                   help="each sequence's length (comma list; mla-bench --var-len)")
    a = p.parse_args()
    a.kv_scale = None  # set with --fp8-tensor, from the cache
    # The generated kernel's OpenMP runtime (LLVM's libomp, loaded with the
    # library below) reads this when it starts: without it the kernel would
    # take every core while PyTorch takes --threads.
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    torch.set_num_threads(a.threads)
    dt = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    if a.gemm_peak:
        print(f"{gemm_peak(dt, a.reps):.1f}")
        return

    torch.manual_seed(a.seed)
    if a.kv_heads:
        return heads_main(a, dt)
    if a.topk:
        return sparse_main(a, dt)
    if a.seq_lens:
        return varlen_main(a, dt)
    dc, dr, bs, w = a.dc, a.dr, a.block_size, a.dc + a.dr
    pages = (a.seq_len + bs - 1) // bs
    q = torch.rand(a.batch, a.q_len, a.heads, w).mul(2).sub(1).to(dt)
    cache = torch.rand(a.batch * pages, bs, w).mul(2).sub(1).to(dt)
    table = torch.randperm(a.batch * pages).view(a.batch, pages)
    scale = w ** -0.5
    # Positions some query sees: from the first query's window start, whole
    # pages (the rest is never read, as in the kernel).
    first = max(0, a.seq_len - a.q_len - a.window + 1) if a.window else 0
    page0 = first // bs
    pos = torch.arange(page0 * bs, pages * bs)
    ends = a.seq_len - a.q_len + torch.arange(a.q_len)  # last position seen
    mask = pos[None, :] > ends[:, None]
    if a.window:
        mask |= pos[None, :] < (ends - a.window + 1)[:, None]
    mask = mask[None, :, None, :].expand(a.batch, a.q_len, a.heads, -1)
    mask = mask.reshape(a.batch, a.q_len * a.heads, -1)

    if a.fp8:
        cache = fp8_rows(cache, dc)
    if a.fp8_tensor:
        cache = fp8_codes(a, cache)

    def gathered(cc, out_dtype):  # [b, T, w]
        if a.fp8:
            raw = cc[table[:, page0:]].reshape(-1, cc.shape[-1])
            return dequantize(raw, dc, out_dtype).view(a.batch, -1, w)
        if a.fp8_tensor:
            raw = cc[table[:, page0:]].reshape(a.batch, -1, w)
            return dequantize_codes(raw, a.kv_scale, out_dtype)
        return cc[table[:, page0:]].reshape(a.batch, -1, w)

    def step(qq, cc, out_dtype):
        kv = gathered(cc, out_dtype)
        s = torch.matmul(qq.reshape(a.batch, a.q_len * a.heads, w),
                         kv.transpose(1, 2)).float() * scale
        s = s.masked_fill(mask, float("-inf"))
        lse = torch.logsumexp(s, dim=-1)
        prob = torch.softmax(s, dim=-1).to(out_dtype)
        o = torch.matmul(prob, kv[..., :dc])
        return o.reshape(a.batch, a.q_len, a.heads, dc), lse

    check_and_time(a, dt, step, q, cache, table, pages, scale)


def varlen_main(a, dt):
    """Sequences of their own lengths (--seq-lens): PyTorch's step runs
    sequence by sequence on its own pages (no padding to the longest, which
    a padded batch with a mask would compute), the kernel on the batch."""
    lens = [int(x) for x in a.seq_lens.split(",")]
    if len(lens) != a.batch or min(lens) < a.q_len:
        raise SystemExit("--seq-lens: batch lengths of at least q_len")
    dc, dr, bs, w = a.dc, a.dr, a.block_size, a.dc + a.dr
    pages = (max(lens) + bs - 1) // bs
    q = torch.rand(a.batch, a.q_len, a.heads, w).mul(2).sub(1).to(dt)
    cache = torch.rand(a.batch * pages, bs, w).mul(2).sub(1).to(dt)
    table = torch.randperm(a.batch * pages).view(a.batch, pages)
    scale = w ** -0.5
    # Per sequence: its pages and the mask of query i (ends at n - q_len + i).
    seqs = []
    for b, n in enumerate(lens):
        pos = torch.arange(n)
        ends = n - a.q_len + torch.arange(a.q_len)
        mask = (pos[None, :] > ends[:, None]).repeat_interleave(a.heads, dim=0)
        seqs.append((table[b, :(n + bs - 1) // bs], n, mask))

    def step(qq, cc, out_dtype):
        outs, lses = [], []
        for b, (pg, n, mask) in enumerate(seqs):
            kv = cc[pg].reshape(-1, w)[:n]
            s = torch.matmul(qq[b].reshape(a.q_len * a.heads, w), kv.t()).float() * scale
            s = s.masked_fill(mask, float("-inf"))
            lses.append(torch.logsumexp(s, dim=-1))
            prob = torch.softmax(s, dim=-1).to(out_dtype)
            outs.append(torch.matmul(prob, kv[:, :dc]).reshape(a.q_len, a.heads, dc))
        return torch.stack(outs), torch.stack(lses)

    check_and_time(a, dt, step, q, cache, table, pages, scale, seq_len=lens)


def fp8_rows(cache, dc):
    """The uint8 rows [..., row bytes] of a float cache [..., dc + dr]."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "python"))
    from mla import fp8
    return torch.from_numpy(fp8.encode_rows(cache.float().numpy(), dc))


def fp8_codes(a, cache):
    """The uint8 e4m3 codes of a float cache, with one scale (amax / 448),
    which it records as a.kv_scale."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "python"))
    from mla import fp8
    values = cache.float().numpy()
    a.kv_scale = fp8.tensor_scale(values)
    return torch.from_numpy(fp8.encode_tensor(values, a.kv_scale))


def dequantize_codes(raw, kv_scale, dtype):
    """The values in `dtype` of e4m3 codes `raw` with one scale."""
    return (raw.contiguous().view(torch.float8_e4m3fn).to(torch.float32)
            * kv_scale).to(dtype)


def dequantize(raw, dc, dtype):
    """The values [n, dc + dr] in `dtype` of fp8 rows raw [n, row bytes]."""
    groups = dc // 128
    vals = raw[:, :dc].contiguous().view(torch.float8_e4m3fn).float()
    scales = raw[:, dc:dc + 4 * groups].contiguous().view(torch.float32)
    latent = (vals.view(-1, groups, 128) * scales[:, :, None]).view(-1, dc)
    rope = raw[:, dc + 4 * groups:].contiguous().view(torch.bfloat16).float()
    return torch.cat([latent, rope], dim=1).to(dtype)


def check_and_time(a, dt, step, q, cache, table, pages, scale, seq_len=None):
    """PyTorch's `step` in `dt` and the kernel (on `table`, `pages`), each
    checked against `step` in float64 (on the same fp8 bytes with --fp8),
    then timed; prints the line mla-bench reads."""
    encoded = a.fp8 or a.fp8_tensor
    ref_out, _ = step(q.double(), cache if encoded else cache.double(), torch.float64)
    out_t, _ = step(q, cache, dt)
    torch_err = (out_t.double() - ref_out).abs().max().item()
    out = torch.empty(a.batch, a.q_len, a.heads, a.dc, dtype=dt)
    kernel = kernel_call(a, q, [cache], table, pages, out, scale, seq_len)
    report(a, lambda: step(q, cache, dt), kernel, torch_err,
           lambda: (out.double() - ref_out).abs().max().item())


def kernel_call(a, q, caches, table, pages, out, scale, seq_len=None):
    """The generated kernel (--kernel-lib) on these tensors as a call, or
    None without one: its C signature takes q, the `caches` (kv_cache, or
    k_cache and v_cache), block_table (sparse: indices), seq_lens (each
    `seq_len`, or its list, default --seq-len), out and lse, then batch and `pages`
    (max_blocks_per_seq; sparse: topk)."""
    if not a.kernel_lib:
        return None
    fn = getattr(ctypes.CDLL(a.kernel_lib), a.kernel_name)
    fn.restype = ctypes.c_int32
    # One fp8 scale: kv_scale after softmax_scale.
    scales = [scale] if a.kv_scale is None else [scale, a.kv_scale]
    fn.argtypes = [ctypes.c_void_p] * (5 + len(caches)) + [
        ctypes.c_int32, ctypes.c_int32] + [ctypes.c_float] * len(scales) + [ctypes.c_void_p]
    table32 = table.to(torch.int32).contiguous()
    if isinstance(seq_len, list):
        lens = torch.tensor(seq_len, dtype=torch.int32)
    else:
        lens = torch.full((a.batch,), a.seq_len if seq_len is None else seq_len,
                          dtype=torch.int32)
    lse = torch.empty(a.batch, a.heads, a.q_len, dtype=torch.float32)
    # The tensors themselves, so that they live as long as the call.
    tensors = [q, *caches, table32, lens, out, lse]

    def call():
        rc = fn(*(t.data_ptr() for t in tensors), a.batch, pages, *scales, None)
        if rc != 0:
            raise SystemExit(f"the kernel returned {rc}")
    return call


def report(a, torch_fn, kernel, torch_err, kernel_err_fn):
    """Times torch_fn and kernel alternately, a call each, and prints the
    line mla-bench reads."""
    def timed(fn):
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3

    torch_fn()
    if kernel:
        kernel()
    torch_ms, kernel_ms, ratios = [], [], []
    for _ in range(a.reps):
        t = timed(torch_fn)
        torch_ms.append(t)
        if kernel:
            k = timed(kernel)
            kernel_ms.append(k)
            ratios.append(t / k)
    kernel_err = kernel_err_fn() if kernel else -1.0

    def median(v):
        v = sorted(v)
        return v[len(v) // 2] if v else -1.0

    print(f"{median(torch_ms):.4f} {median(kernel_ms):.4f} {torch_err:.3e} "
          f"{kernel_err:.3e} {median(ratios):.4f}")


def sparse_main(a, dt):
    """Sparse decode over a latent cache: PyTorch's gather and matmuls
    against the generated kernel (see the module docstring)."""
    dc, bs, w, k = a.dc, a.block_size, a.dc + a.dr, a.topk
    pages = (a.seq_len + bs - 1) // bs
    q = torch.rand(a.batch, a.q_len, a.heads, w).mul(2).sub(1).to(dt)
    cache = torch.rand(a.batch * pages, bs, w).mul(2).sub(1).to(dt)
    table = torch.randperm(a.batch * pages).view(a.batch, pages)
    # K distinct positions a query, as the indexer's top-k picks them, as
    # cache rows page * block_size + offset.
    pos = torch.stack([torch.randperm(a.seq_len)[:k]
                       for _ in range(a.batch * a.q_len)]).view(a.batch, a.q_len, k)
    rows = table.gather(1, (pos // bs).view(a.batch, -1)).view_as(pos) * bs + pos % bs
    indices = rows.to(torch.int32).contiguous()
    flat_rows = rows.reshape(-1)
    scale = w ** -0.5
    bq = a.batch * a.q_len

    if a.fp8:
        cache = fp8_rows(cache, dc)
    if a.fp8_tensor:
        cache = fp8_codes(a, cache)

    def step(qq, cc, out_dtype):
        if a.fp8:
            raw = cc.view(-1, cc.shape[-1]).index_select(0, flat_rows)
            kv = dequantize(raw, dc, out_dtype).view(bq, k, w)
        elif a.fp8_tensor:
            raw = cc.view(-1, w).index_select(0, flat_rows)
            kv = dequantize_codes(raw, a.kv_scale, out_dtype).view(bq, k, w)
        else:
            kv = cc.view(-1, w).index_select(0, flat_rows).view(bq, k, w)
        s = torch.matmul(qq.reshape(bq, a.heads, w), kv.transpose(1, 2)).float() * scale
        lse = torch.logsumexp(s, dim=-1)
        prob = torch.softmax(s, dim=-1).to(out_dtype)
        o = torch.matmul(prob, kv[..., :dc])
        return o.reshape(a.batch, a.q_len, a.heads, dc), lse

    check_and_time(a, dt, step, q, cache, indices, k, scale, seq_len=k)


def heads_main(a, dt):
    """GQA/MQA/MHA decode over paged key and value caches: SDPA against the
    generated kernel (see the module docstring)."""
    import torch.nn.functional as F
    heads, g, d, bs = a.heads, a.kv_heads, a.dc, a.block_size
    pages = (a.seq_len + bs - 1) // bs
    q = torch.rand(a.batch, a.q_len, heads, d).mul(2).sub(1).to(dt)
    k_cache = torch.rand(a.batch * pages, bs, g, d).mul(2).sub(1).to(dt)
    v_cache = torch.rand(a.batch * pages, bs, g, d).mul(2).sub(1).to(dt)
    table = torch.randperm(a.batch * pages).view(a.batch, pages)
    scale = d ** -0.5
    first = max(0, a.seq_len - a.q_len - a.window + 1) if a.window else 0
    page0 = first // bs
    pos = torch.arange(page0 * bs, pages * bs)
    ends = a.seq_len - a.q_len + torch.arange(a.q_len)
    hidden = pos[None, :] > ends[:, None]
    if a.window:
        hidden |= pos[None, :] < (ends - a.window + 1)[:, None]
    allowed = ~hidden  # [q_len, T]: True where a query attends

    def gather(cache):  # [b, G, T, d]
        return cache[table[:, page0:]].reshape(a.batch, -1, g, d).transpose(1, 2)

    def sdpa(qq, kc, vc):
        o = F.scaled_dot_product_attention(qq.transpose(1, 2), gather(kc), gather(vc),
                                           attn_mask=allowed, scale=scale, enable_gqa=True)
        return o.transpose(1, 2)  # [b, q_len, H, d]

    def reference():
        kk = gather(k_cache.double()).repeat_interleave(heads // g, dim=1)
        vv = gather(v_cache.double()).repeat_interleave(heads // g, dim=1)
        s = q.double().transpose(1, 2) @ kk.transpose(2, 3) * scale
        s = s.masked_fill(hidden, float("-inf"))
        return (torch.softmax(s, dim=-1) @ vv).transpose(1, 2)

    ref_out = reference()
    torch_err = (sdpa(q, k_cache, v_cache).double() - ref_out).abs().max().item()

    out = torch.empty(a.batch, a.q_len, heads, d, dtype=dt)
    kernel = kernel_call(a, q, [k_cache, v_cache], table, pages, out, scale)

    report(a, lambda: sdpa(q, k_cache, v_cache), kernel, torch_err,
           lambda: (out.double() - ref_out).abs().max().item())


if __name__ == "__main__":
    main()
