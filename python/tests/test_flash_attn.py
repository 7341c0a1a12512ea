"""mla.flash_attn_with_kvcache: flash-attn's paged decode call, against
PyTorch's attention written out in float64 (keys and values repeated per
query head), and its refusals."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import mla  # noqa: E402


def _case(rng, batch=3, q_len=2, heads=8, kv_heads=2, d=64, bs=16, pages=5,
          dtype=torch.float32):
    lens = torch.tensor([q_len, 37, bs * pages][:batch], dtype=torch.int32)
    table = torch.from_numpy(rng.permutation(batch * pages).astype(np.int32)
                             .reshape(batch, pages))
    def rand(*shape):
        return torch.from_numpy(rng.uniform(-1, 1, shape).astype(np.float32)).to(dtype)
    q = rand(batch, q_len, heads, d)
    k = rand(batch * pages, bs, kv_heads, d)
    v = rand(batch * pages, bs, kv_heads, d)
    return q, k, v, lens, table


def _reference(q, k, v, lens, table, scale, causal, left):
    """float64, sequence by sequence: gather, repeat the KV heads, mask."""
    batch, q_len, heads, d = q.shape
    bs, kv_heads = k.shape[1], k.shape[2]
    out = torch.zeros(batch, q_len, heads, d, dtype=torch.float64)
    for b in range(batch):
        n = int(lens[b])
        rows = [int(table[b, t // bs]) * bs + t % bs for t in range(n)]
        kk = k.double().reshape(-1, kv_heads, d)[rows].repeat_interleave(heads // kv_heads, 1)
        vv = v.double().reshape(-1, kv_heads, d)[rows].repeat_interleave(heads // kv_heads, 1)
        s = torch.einsum("ihd,thd->hit", q[b].double(), kk) * scale
        pos = torch.arange(n)
        p = n - q_len + torch.arange(q_len)
        allowed = torch.ones(q_len, n, dtype=torch.bool)
        if causal:
            allowed &= pos[None, :] <= p[:, None]
        if left >= 0:
            allowed &= pos[None, :] >= (p - left)[:, None]
        s = s.masked_fill(~allowed, float("-inf"))
        w = torch.softmax(s, dim=-1).nan_to_num(0.0)
        out[b] = torch.einsum("hit,thd->ihd", w, vv)
    return out


@pytest.mark.parametrize("causal, window_size", [(True, (-1, -1)), (True, (20, 0)),
                                                  (False, (-1, -1))])
def test_matches_reference(codegen, causal, window_size):
    rng = np.random.default_rng(5)
    q, k, v, lens, table = _case(rng)
    out, lse = mla.flash_attn_with_kvcache(q, k, v, cache_seqlens=lens, block_table=table,
                                           causal=causal, window_size=window_size,
                                           return_softmax_lse=True)
    want = _reference(q, k, v, lens, table, 64 ** -0.5, causal, window_size[0])
    torch.testing.assert_close(out.double(), want, rtol=2e-5, atol=2e-5)
    assert lse.shape == (3, 8, 2) and lse.dtype == torch.float32
    # The same kernel again for the same sizes; a plain output without lse.
    again = mla.flash_attn_with_kvcache(q, k, v, cache_seqlens=lens, block_table=table,
                                        causal=causal, window_size=window_size)
    torch.testing.assert_close(again, out, rtol=0, atol=0)


def test_bf16(codegen):
    rng = np.random.default_rng(6)
    q, k, v, lens, table = _case(rng, q_len=1, heads=4, kv_heads=1, d=128,
                                 dtype=torch.bfloat16)
    out = mla.flash_attn_with_kvcache(q, k, v, cache_seqlens=lens, block_table=table,
                                      softmax_scale=0.1)
    assert out.dtype == torch.bfloat16
    want = _reference(q, k, v, lens, table, 0.1, False, -1)
    torch.testing.assert_close(out.double(), want, rtol=1e-2, atol=4e-3)


def test_refusals(codegen):
    rng = np.random.default_rng(7)
    q, k, v, lens, table = _case(rng)
    with pytest.raises(NotImplementedError, match="only paged caches"):
        mla.flash_attn_with_kvcache(q, k, v, cache_seqlens=lens)
    with pytest.raises(NotImplementedError, match="rotary_cos"):
        mla.flash_attn_with_kvcache(q, k, v, cache_seqlens=lens, block_table=table,
                                    rotary_cos=torch.zeros(1))
    with pytest.raises(NotImplementedError, match="window_size"):
        mla.flash_attn_with_kvcache(q, k, v, cache_seqlens=lens, block_table=table,
                                    window_size=(4, 4))
    with pytest.raises(ValueError, match="v_cache: shape"):
        mla.flash_attn_with_kvcache(q, k, v[:, :, :1], cache_seqlens=lens, block_table=table)
