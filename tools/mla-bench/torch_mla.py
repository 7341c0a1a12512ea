"""The decode-attention contract in PyTorch, timed on the GPU next to the
generated kernel, in one process.

What a PyTorch user writes for MLA decode over a paged latent cache: gather
each sequence's pages, scores = q K^T (K = [c_kv ; k_rope]), causal mask,
softmax, out = P c_kv. With --kernel-lib/--kernel-name, the generated kernel
(the contract's C symbol, through ctypes) runs on the same torch tensors and
the same stream, and is checked against the PyTorch result. Called by
`mla-bench --target=cuda`; prints the median milliseconds of --reps runs
(CUDA events) of PyTorch, then of the kernel, then the kernel's max |err|
against PyTorch's float32 math (-1 for both without a kernel). With --peak,
prints the bf16 matmul throughput instead (mla-gpu-check's peak).
"""

import argparse
import ctypes

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seq-len", type=int, default=4096)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--q-len", type=int, default=1)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--kernel-lib", default="")
    p.add_argument("--kernel-name", default="")
    p.add_argument("--peak", action="store_true",
                   help="print the bf16 matmul TFLOP/s and exit")
    a = p.parse_args()

    def timed(fn):
        fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(a.reps):
            start = torch.cuda.Event(enable_timing=True)
            stop = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop))
        times.sort()
        return times[len(times) // 2]

    if a.peak:
        # The bf16 tensor-core peak a user gets from PyTorch (cuBLAS).
        n = 8192
        x = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        y = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        ms = timed(lambda: x @ y)
        print(f"  PyTorch bf16 matmul {n}^3: {2 * n**3 / (ms * 1e-3) / 1e12:.0f}"
              " TFLOP/s (median of --reps)")
        return
    dc, dr, bs = 512, 64, 64
    dev, dt = "cuda", torch.bfloat16
    pages = (a.seq_len + bs - 1) // bs
    q = torch.randn(a.batch, a.q_len, a.heads, dc + dr, device=dev, dtype=dt)
    cache = torch.randn(a.batch * pages, bs, dc + dr, device=dev, dtype=dt)
    table = torch.randperm(a.batch * pages, device=dev).view(a.batch, pages)
    scale = (dc + dr) ** -0.5
    pos = torch.arange(pages * bs, device=dev)
    limit = a.seq_len - a.q_len + torch.arange(a.q_len, device=dev)

    def step():
        kv = cache[table].view(a.batch, pages * bs, dc + dr)  # [b, T, w]
        s = torch.einsum("bshw,btw->bsht", q, kv).float() * scale
        mask = pos[None, :] > limit[:, None]  # [s, T]
        s = s.masked_fill(mask[None, :, None, :], float("-inf"))
        p_ = torch.softmax(s, dim=-1).to(dt)
        return torch.einsum("bsht,btc->bshc", p_, kv[..., :dc])

    torch_ms = timed(step)
    kernel_ms, err = -1.0, -1.0
    if a.kernel_lib:
        fn = getattr(ctypes.CDLL(a.kernel_lib), a.kernel_name)
        fn.restype = ctypes.c_int32
        fn.argtypes = [ctypes.c_void_p] * 6 + [
            ctypes.c_int32, ctypes.c_int32, ctypes.c_float, ctypes.c_void_p]
        table32 = table.to(torch.int32).contiguous()
        lens = torch.full((a.batch,), a.seq_len, device=dev, dtype=torch.int32)
        out = torch.empty(a.batch, a.q_len, a.heads, dc, device=dev, dtype=dt)
        lse = torch.empty(a.batch, a.heads, a.q_len, device=dev,
                          dtype=torch.float32)

        def kernel():
            rc = fn(q.data_ptr(), cache.data_ptr(), table32.data_ptr(),
                    lens.data_ptr(), out.data_ptr(), lse.data_ptr(), a.batch,
                    pages, scale, torch.cuda.current_stream().cuda_stream)
            if rc != 0:
                raise RuntimeError(f"{a.kernel_name} returned {rc}")

        kernel_ms = timed(kernel)
        err = (out.float() - step().float()).abs().max().item()
    print(torch_ms, kernel_ms, err)


if __name__ == "__main__":
    main()
