"""The decode-attention contract in PyTorch, timed on the GPU.

What a PyTorch user writes for MLA decode over a paged latent cache: gather
each sequence's pages, scores = q K^T (K = [c_kv ; k_rope]), causal mask,
softmax, out = P c_kv. Called by `mla-bench --target=cuda`; prints the
median milliseconds of --reps runs (CUDA events).
"""

import argparse

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seq-len", type=int, default=4096)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--q-len", type=int, default=1)
    p.add_argument("--reps", type=int, default=20)
    a = p.parse_args()
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

    step()
    torch.cuda.synchronize()
    times = []
    for _ in range(a.reps):
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    times.sort()
    print(times[len(times) // 2])


if __name__ == "__main__":
    main()
