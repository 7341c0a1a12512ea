"""Sparse decode (token indices: FlashMLA's sparse decode, DeepSeek-V3.2)
through compile_decode(topk=...) and flash_mla_with_kvcache(indices=...),
against a float64 evaluation written here from the definition: query i of
sequence b attends to the cache rows its index row names in its valid
slots, once per slot, -1 naming none."""

from __future__ import annotations

import numpy as np
import pytest

import mla
from conftest import assert_matches, to_float, to_kernel, to_torch


def sparse_reference(q, cache_rows, indices, valid, scale, d_c):
    """float64 (out, lse): q [B, S, H, D], cache_rows [rows, D]."""
    batch, s_q, heads, _ = q.shape
    out = np.zeros((batch, s_q, heads, d_c))
    lse = np.full((batch, heads, s_q), -np.inf)
    for b in range(batch):
        for i in range(s_q):
            slots = [j for j in indices[b, i, :valid[b]] if j >= 0]
            if not slots:
                continue
            rows = cache_rows[slots]                      # [n, D]
            s = scale * q[b, i] @ rows.T                  # [H, n]
            m = s.max(axis=1, keepdims=True)
            p = np.exp(s - m)
            total = p.sum(axis=1, keepdims=True)
            out[b, i] = (p / total) @ rows[:, :d_c]
            lse[b, :, i] = (m + np.log(total))[:, 0]
    return out, lse


def make_case(rng, heads, s_q, d_c, d_r, page, topk, valid, dtype):
    """Random q and cache, indices with a fifth -1 and repeats, one query
    row without any token, garbage past the valid slots, NaN in every cache
    row no valid slot names."""
    width, batch = d_c + d_r, len(valid)
    num_blocks = (2 * topk) // page + 2
    rows = num_blocks * page
    indices = rng.integers(0, rows, size=(batch, s_q, topk)).astype(np.int32)
    indices[rng.random(indices.shape) < 0.2] = -1
    indices[0, s_q - 1] = -1
    seen = np.zeros(rows, bool)
    for b in range(batch):
        indices[b, :, valid[b]:] = rows + 7  # never read
        for j in indices[b, :, :valid[b]].ravel():
            if j >= 0:
                seen[j] = True
    cache = rng.standard_normal((rows, width)).astype(np.float32)
    cache[~seen] = np.nan
    q = rng.standard_normal((batch, s_q, heads, width)).astype(np.float32)
    q, cache = to_kernel(q, dtype), to_kernel(cache, dtype)
    return q, cache.reshape(num_blocks, page, width), indices, np.asarray(valid, np.int32)


@pytest.mark.parametrize("heads,s_q,d_c,d_r,page,topk,dtype", [
    (16, 1, 512, 64, 64, 256, "bf16"),
    (4, 2, 128, 32, 1, 37, "f32"),
])
def test_compile_decode_topk(codegen, rng, heads, s_q, d_c, d_r, page, topk, dtype):
    valid = [topk, topk // 2, 0, 1]
    q, cache, indices, lens = make_case(rng, heads, s_q, d_c, d_r, page, topk, valid, dtype)
    kernel = mla.compile_decode(heads, d_c, d_r, q_len=s_q, block_size=page, dtype=dtype,
                                topk=topk)
    assert isinstance(kernel, mla.SparseDecodeKernel) and kernel.topk == topk
    scale = (d_c + d_r) ** -0.5
    out, lse = kernel(q, cache, indices, lens, softmax_scale=scale)
    ref = sparse_reference(to_float(q), to_float(cache).reshape(-1, d_c + d_r), indices,
                           lens, scale, d_c)
    assert_matches(out, lse, *ref, dtype)
    assert np.all(np.isneginf(lse[0, :, s_q - 1])) and np.all(to_float(out)[0, s_q - 1] == 0)


def test_flash_mla_indices(codegen, rng):
    heads, s_q, d_c, d_r, page, topk = 16, 1, 512, 64, 64, 256
    q, cache, indices, lens = make_case(rng, heads, s_q, d_c, d_r, page, topk,
                                        [topk, topk, topk], "bf16")
    k_cache = cache[:, :, None, :]
    # Without topk_length every slot is valid.
    out, lse = mla.flash_mla_with_kvcache(q, k_cache, None, None, d_c, indices=indices)
    ref = sparse_reference(to_float(q), to_float(cache).reshape(-1, d_c + d_r), indices,
                           lens, (d_c + d_r) ** -0.5, d_c)
    assert_matches(out, lse, *ref, "bf16")
    short = np.asarray([3, 0, topk], np.int32)
    out, lse = mla.flash_mla_with_kvcache(q, k_cache, None, None, d_c, indices=indices,
                                          topk_length=short)
    ref = sparse_reference(to_float(q), to_float(cache).reshape(-1, d_c + d_r), indices,
                           short, (d_c + d_r) ** -0.5, d_c)
    assert_matches(out, lse, *ref, "bf16")


def test_torch_tensors(codegen, rng):
    torch = pytest.importorskip("torch", reason="torch is not installed")
    heads, s_q, d_c, d_r, page, topk = 4, 2, 128, 32, 1, 37
    q, cache, indices, lens = make_case(rng, heads, s_q, d_c, d_r, page, topk,
                                        [topk, 5], "f32")
    kernel = mla.compile_decode(heads, d_c, d_r, q_len=s_q, block_size=page, dtype="f32",
                                topk=topk)
    out, lse = kernel(torch.from_numpy(q), torch.from_numpy(cache), torch.from_numpy(indices),
                      torch.from_numpy(lens))
    assert isinstance(out, torch.Tensor)
    ref = sparse_reference(to_float(q), to_float(cache).reshape(-1, d_c + d_r), indices,
                           lens, (d_c + d_r) ** -0.5, d_c)
    assert_matches(out, lse, *ref, "f32")


def test_refusals(codegen, rng):
    heads, s_q, d_c, d_r, page, topk = 4, 2, 128, 32, 1, 37
    q, cache, indices, lens = make_case(rng, heads, s_q, d_c, d_r, page, topk,
                                        [topk, 5], "f32")
    kernel = mla.compile_decode(heads, d_c, d_r, q_len=s_q, block_size=page, dtype="f32",
                                topk=topk)
    bad = indices.copy()
    bad[1, 0, 2] = cache.shape[0] * page  # past the cache's rows
    with pytest.raises(ValueError, match="indices: a valid slot"):
        kernel(q, cache, bad, lens)
    with pytest.raises(ValueError, match="indices"):
        kernel(q, cache, indices[:, :, :10], lens)
    with pytest.raises(mla.KernelError, match="ERR_SEQ_LEN"):
        kernel(q, cache, indices, np.asarray([topk + 1, 0], np.int32))
    with pytest.raises(ValueError, match="no causal mask or window"):
        mla.compile_decode(heads, d_c, d_r, topk=topk, causal=True)
