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


# --- fp8 rows with group scales (FlashMLA's "FP8 with scale" cache) ----------

def test_fp8_encoding_matches_ml_dtypes(rng):
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes is not installed")
    x = np.concatenate([rng.standard_normal(4096) * 100, [448.0, 500.0, -1e-3, 2.0 ** -10,
                                                          0.0, -0.0]]).astype(np.float32)
    ours = mla.fp8.to_e4m3(x)
    theirs = np.clip(x, -448, 448).astype(ml_dtypes.float8_e4m3fn).view(np.uint8)
    np.testing.assert_array_equal(ours, theirs)
    rows = rng.standard_normal((3, 576)).astype(np.float32)
    data = mla.fp8.encode_rows(rows, 512)
    assert data.shape == (3, 656)
    back = mla.fp8.decode_rows(data, 512, 64)
    scales = data[:, 512:528].copy().view(np.float32)
    np.testing.assert_allclose(scales, np.abs(rows[:, :512]).reshape(3, 4, 128).max(-1) / 448,
                               rtol=1e-7)
    # Within half an e4m3 step (2^-4 relative) of the value, or of the group's
    # smallest normal step below it.
    step = np.repeat(scales, 128, axis=-1) * 2.0 ** -9
    assert np.all(np.abs(back[:, :512] - rows[:, :512])
                  <= np.abs(rows[:, :512]) * 2.0 ** -4 + step)
    np.testing.assert_array_equal(back[:, 512:], to_float(mla.to_bf16(rows[:, 512:])))


@pytest.mark.parametrize("heads,s_q,topk,dtype", [(16, 1, 256, "bf16"), (4, 2, None, "f32")])
def test_fp8_rows(codegen, rng, heads, s_q, topk, dtype):
    """compile_decode(cache_scales="row_groups") and flash_mla's
    is_fp8_kvcache on encode_rows' bytes, dense and sparse, against float64
    on the decoded values in the query's type."""
    d_c, d_r, page = 512, 64, 64
    if topk:
        q, cache, indices, lens = make_case(rng, heads, s_q, d_c, d_r, page, topk,
                                            [topk, topk // 2, 1], "f32")
    else:
        num_blocks, lens = 4, np.asarray([100, 0, 256], np.int32)
        q = rng.standard_normal((3, s_q, heads, d_c + d_r)).astype(np.float32)
        cache = rng.standard_normal((num_blocks, page, d_c + d_r)).astype(np.float32)
        table = np.asarray([[2, 0, -1, -1], [-1] * 4, [1, 3, 0, 2]], np.int32)
    q = to_kernel(q, dtype)
    rows = np.nan_to_num(cache.reshape(-1, d_c + d_r), nan=0.0)
    data = mla.fp8.encode_rows(rows, d_c).reshape(-1, page, 656)
    values = mla.fp8.decode_rows(data, d_c, d_r).reshape(-1, d_c + d_r)
    # The kernels compute on the rows dequantized to the query's type.
    values = to_float(to_kernel(values, dtype))
    scale = (d_c + d_r) ** -0.5
    kernel = mla.compile_decode(heads, d_c, d_r, q_len=s_q, block_size=page, dtype=dtype,
                                topk=topk, causal=not topk and s_q > 1,
                                cache_scales="row_groups")
    assert kernel.cache_scales == "row_groups" and kernel.scale_group == 128
    if topk:
        out, lse = kernel(q, data, indices, lens, softmax_scale=scale)
        ref = sparse_reference(to_float(q), values.astype(np.float64), indices, lens, scale,
                               d_c)
        fl_out, fl_lse = mla.flash_mla_with_kvcache(q, data[:, :, None], None, None, d_c,
                                                    softmax_scale=scale, is_fp8_kvcache=True,
                                                    indices=indices, topk_length=lens)
    else:
        out, lse = kernel(q, data, table, lens, softmax_scale=scale)
        from conftest import reference_decode
        ref = reference_decode(to_float(q), values.reshape(-1, page, d_c + d_r).astype(
            np.float64), table, lens, scale, d_c, s_q > 1)
        fl_out, fl_lse = mla.flash_mla_with_kvcache(q, data[:, :, None], table, lens, d_c,
                                                    softmax_scale=scale, causal=s_q > 1,
                                                    is_fp8_kvcache=True)
    assert_matches(out, lse, *ref, dtype)
    assert_matches(fl_out, fl_lse, *ref, dtype)
    with pytest.raises(ValueError, match="fp8 rows of d_c = 512, d_r = 64 are 656 bytes"):
        mla.flash_mla_with_kvcache(q, data[:, :, :600], None, None, d_c, is_fp8_kvcache=True,
                                   indices=indices if topk else None)
