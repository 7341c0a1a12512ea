"""Shared pieces of the mla package tests: a temporary kernel cache for the
session, the naive float64 reference of DESIGN.md's decode contract, and
random paged-cache cases in numpy or torch.

Every test that needs mla-codegen asks for the `codegen` fixture, which
skips (with the reason) when none can be found.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import mla


@pytest.fixture(scope="session", autouse=True)
def mla_cache_dir(tmp_path_factory):
    """Kernels of this session go to a fresh cache (also for code that does
    not take a cache_dir, like flash_mla_with_kvcache)."""
    path = tmp_path_factory.mktemp("mla-cache")
    old = os.environ.get("MLA_CACHE_DIR")
    os.environ["MLA_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("MLA_CACHE_DIR", None)
    else:
        os.environ["MLA_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def codegen():
    try:
        return mla.find_codegen()
    except mla.CompileError as e:
        pytest.skip(f"no mla-codegen: {e}")


def reference_decode(q, kv_cache, block_table, seq_lens, softmax_scale, d_c, causal,
                     window=None, sinks=None):
    """DESIGN.md's contract, naively in float64: gather each sequence's rows
    through its pages; query i of s_q sees positions 0 .. seq_len - s_q + i
    when causal, all seq_len otherwise, and with a window W none before
    seq_len - s_q + i - W + 1; a row that sees nothing gets zeros and lse
    -inf; lse is the natural log of the sum of exp of the scaled scores.
    sinks [heads] join each row's denominator (and lse) without a value."""
    q = np.asarray(q, np.float64)
    cache = np.asarray(kv_cache, np.float64)
    batch, s_q, heads, width = q.shape
    block_size = cache.shape[1]
    out = np.zeros((batch, s_q, heads, d_c))
    lse = np.full((batch, heads, s_q), -np.inf)
    for b in range(batch):
        length = int(seq_lens[b])
        pages = block_table[b, :math.ceil(length / block_size)]
        rows = cache[pages].reshape(-1, width)[:length]
        for i in range(s_q):
            end = length - s_q + i + 1 if causal else length
            start = max(0, length - s_q + i - window + 1) if window else 0
            seen = rows[start:max(start, end)]
            scores = q[b, i] @ seen.T * softmax_scale  # [heads, end - start]
            if sinks is None and not len(seen):
                continue
            extra = np.zeros((heads, 0)) if sinks is None else np.asarray(
                sinks, np.float64)[:, None]
            top = np.concatenate([scores, extra], axis=1).max(axis=1, keepdims=True)
            p = np.exp(scores - top)
            total = p.sum(axis=1) + (0 if sinks is None else np.exp(extra - top)[:, 0])
            out[b, i] = (p @ seen[:, :d_c]) / total[:, None]
            lse[b, :, i] = top[:, 0] + np.log(total)
    return out, lse


class Case:
    """A random decode call: pages in shuffled order, -1 in unused
    block-table slots, NaN in every cache row no query may see (page
    tails, spare pages, positions before every query's window), so reading
    one shows up as NaN in the output."""

    def __init__(self, rng, num_heads, q_len, d_c, d_r, block_size, seq_lens, dtype,
                 window=None):
        self.dtype, self.d_c = dtype, d_c
        width = d_c + d_r
        batch = len(seq_lens)
        pages = [math.ceil(n / block_size) for n in seq_lens]
        num_blocks = sum(pages) + 2
        order = rng.permutation(num_blocks).astype(np.int32)
        table = np.full((batch, max(pages + [0]) + 1), -1, np.int32)
        cache = np.full((num_blocks, block_size, width), np.nan, np.float32)
        used = 0
        for b, n in enumerate(seq_lens):
            table[b, :pages[b]] = order[used:used + pages[b]]
            used += pages[b]
            first = max(0, n - q_len - window + 1) if window else 0
            for t in range(first, n):
                cache[table[b, t // block_size], t % block_size] = rng.standard_normal(width)
        q = rng.standard_normal((batch, q_len, num_heads, width)).astype(np.float32)
        self.q, self.kv_cache = to_kernel(q, dtype), to_kernel(cache, dtype)
        self.ref_q, self.ref_cache = to_float(self.q), to_float(self.kv_cache)
        self.block_table = table
        self.seq_lens = np.asarray(seq_lens, np.int32)

    def arrays(self):
        return self.q, self.kv_cache, self.block_table, self.seq_lens

    def tensors(self):
        return tuple(to_torch(a) for a in self.arrays())

    def reference(self, softmax_scale, causal, window=None, sinks=None):
        return reference_decode(self.ref_q, self.ref_cache, self.block_table, self.seq_lens,
                                softmax_scale, self.d_c, causal, window, sinks)


def to_kernel(x, dtype):
    """float32 data as a kernel of `dtype` reads it from numpy."""
    if dtype == "bf16":
        return mla.to_bf16(x)
    return x.astype({"f32": np.float32, "f16": np.float16}[dtype])


def to_float(x):
    """float64 values of kernel data (numpy or torch)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().float().numpy()
    if x.dtype == np.uint16:
        return mla.from_bf16(x).astype(np.float64)
    return x.astype(np.float64)


def to_torch(a):
    import torch
    if a.dtype == np.uint16:  # bf16 bits
        return torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(a.copy())


TOLERANCE = {"f32": 1e-4, "f16": 5e-3, "bf16": 2e-2}


def assert_matches(out, lse, ref_out, ref_lse, dtype):
    """out within TOLERANCE[dtype] (relative and absolute) of the reference,
    lse within 1e-4 (f32) / 1e-3, -inf exactly where the reference has it,
    no NaN anywhere."""
    out, lse = to_float(out), to_float(lse)
    assert not np.isnan(out).any(), "NaN in out"
    assert not np.isnan(lse).any(), "NaN in lse"
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(out, ref_out, rtol=tol, atol=tol)
    np.testing.assert_array_equal(np.isneginf(lse), np.isneginf(ref_lse))
    finite = np.isfinite(ref_lse)
    lse_tol = 1e-4 if dtype == "f32" else 1e-3
    np.testing.assert_allclose(lse[finite], ref_lse[finite], rtol=lse_tol, atol=lse_tol)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def seq_lens_for(q_len, block_size):
    """A padded batch: empty, shorter than q_len, page edges, several pages."""
    return [0, 1, q_len, block_size - 1, block_size, block_size + 1, 2 * block_size + 7]


# Kernel configurations of the grid: every value of each axis appears
# (heads 1/16, q_len 1/2 causal and 2 not, block size 16/64, d_c/d_r
# 512/64 and 256/32, f32/bf16/f16) in few compiles.
GRID = [
    dict(num_heads=16, q_len=1, kv_lora_rank=512, qk_rope_head_dim=64, block_size=64, dtype="bf16"),
    dict(num_heads=16, q_len=1, kv_lora_rank=512, qk_rope_head_dim=64, block_size=64, dtype="f32"),
    dict(num_heads=1, q_len=2, kv_lora_rank=256, qk_rope_head_dim=32, block_size=16, dtype="f32",
         causal=True),
    dict(num_heads=16, q_len=2, kv_lora_rank=256, qk_rope_head_dim=32, block_size=16,
         dtype="bf16", causal=True),
    dict(num_heads=16, q_len=2, kv_lora_rank=512, qk_rope_head_dim=64, block_size=16, dtype="f32",
         causal=True),
    dict(num_heads=1, q_len=2, kv_lora_rank=512, qk_rope_head_dim=64, block_size=64, dtype="f32",
         causal=False),
    dict(num_heads=1, q_len=1, kv_lora_rank=256, qk_rope_head_dim=32, block_size=64, dtype="bf16"),
    dict(num_heads=16, q_len=1, kv_lora_rank=256, qk_rope_head_dim=32, block_size=16, dtype="f16"),
]


def grid_id(p):
    return (f"h{p['num_heads']}-q{p['q_len']}{'c' if p.get('causal') else ''}-"
            f"{p['kv_lora_rank']}x{p['qk_rope_head_dim']}-b{p['block_size']}-{p['dtype']}")


def layer_inputs(rng, layer):
    """Arguments of a DeepSeek-V2-Lite layer step (bf16 bits): two sequences
    of 5 and 70 tokens after the step, on pages [3] and [0, 2] of 4; small
    random weights in NAME.json's order. The new tokens land on (page 3,
    row 4) and (page 2, row 5)."""
    block_size, width = 64, 576
    seq_lens = np.array([5, 70], np.int32)
    table = np.array([[3, -1], [0, 2]], np.int32)
    cache = mla.to_bf16(rng.standard_normal((4, block_size, width)).astype(np.float32) * 0.5)
    weights = [mla.to_bf16(rng.standard_normal(w.shape).astype(np.float32) * 0.02)
               for w in layer.weights]
    hidden = mla.to_bf16(rng.standard_normal((2, 1, layer.hidden_size)).astype(np.float32))
    positions = (seq_lens - 1).reshape(2, 1).astype(np.int32)
    return hidden, positions, cache, table, seq_lens, weights


def make_case(rng, kernel):
    return Case(rng, kernel.num_heads, kernel.q_len, kernel.kv_lora_rank,
                kernel.qk_rope_head_dim, kernel.block_size,
                seq_lens_for(kernel.q_len, kernel.block_size), kernel.dtype,
                getattr(kernel, "window", None))
