"""FlashMLA-compatible entry points against the float64 reference, with
numpy arrays and (when installed) torch tensors."""

from __future__ import annotations

import numpy as np
import pytest

import mla
import mla.flash_mla
from conftest import Case, assert_matches, seq_lens_for

# (h_q, s_q, head_dim_v, d_r, page size, dtype, causal); the first two are
# also in the kernel grid, so their kernels come from the process memo.
CONFIGS = [
    (16, 1, 512, 64, 64, "bf16", False),
    (16, 2, 512, 64, 16, "f32", True),
]


def _case(rng, h_q, s_q, dv, dr, page, dtype):
    return Case(rng, h_q, s_q, dv, dr, page, seq_lens_for(s_q, page), dtype)


@pytest.mark.parametrize("h_q,s_q,dv,dr,page,dtype,causal", CONFIGS)
def test_numpy(codegen, rng, h_q, s_q, dv, dr, page, dtype, causal):
    c = _case(rng, h_q, s_q, dv, dr, page, dtype)
    k_cache = c.kv_cache[:, :, None, :]  # [num_blocks, page, h_kv = 1, d]
    meta, splits = mla.get_mla_metadata(c.seq_lens, s_q * h_q, 1)
    out, lse = mla.flash_mla_with_kvcache(c.q, k_cache, c.block_table, c.seq_lens, dv,
                                          meta, splits, causal=causal)
    assert out.shape == (len(c.seq_lens), s_q, h_q, dv) and lse.shape == (len(c.seq_lens), h_q, s_q)
    assert_matches(out, lse, *c.reference((dv + dr) ** -0.5, causal), dtype)
    # Rows with no visible position: lse -inf (FlashMLA: +inf), out zeros.
    assert np.all(np.isneginf(lse[0])) and np.all(out[0] == 0)


def test_three_dimensional_cache_and_memo(codegen, rng):
    h_q, s_q, dv, dr, page, dtype, causal = CONFIGS[1]
    c = _case(rng, h_q, s_q, dv, dr, page, dtype)
    out, lse = mla.flash_mla_with_kvcache(c.q, c.kv_cache, c.block_table, c.seq_lens, dv,
                                          causal=causal, softmax_scale=0.05)
    assert_matches(out, lse, *c.reference(0.05, causal), dtype)
    first = mla.flash_mla.kernel_for(c.q, c.kv_cache, dv, causal)
    assert mla.flash_mla.kernel_for(c.q, c.kv_cache, dv, causal) is first
    assert first is mla.compile_decode(h_q, dv, dr, s_q, page, dtype, causal)


def test_refusals(rng):
    c = _case(rng, 1, 1, 256, 32, 16, "f32")
    with pytest.raises(ValueError, match="h_kv = 2"):
        mla.flash_mla_with_kvcache(c.q, np.repeat(c.kv_cache[:, :, None], 2, axis=2),
                                   c.block_table, c.seq_lens, 256)
    with pytest.raises(ValueError, match="head_dim_v = 300 must be in 1 .. d = 288"):
        mla.flash_mla_with_kvcache(c.q, c.kv_cache, c.block_table, c.seq_lens, 300)
    # An fp8 cache is rows of bytes (test_sparse.py runs them).
    with pytest.raises(ValueError, match="fp8 rows of d_c = 256, d_r = 32 are 328 bytes"):
        mla.flash_mla_with_kvcache(c.q, c.kv_cache, c.block_table, c.seq_lens, 256,
                                   is_fp8_kvcache=True)
    with pytest.raises(TypeError, match="float64 is not supported"):
        mla.flash_mla_with_kvcache(c.q.astype(np.float64), c.kv_cache, c.block_table,
                                   c.seq_lens, 256)


@pytest.mark.parametrize("h_q,s_q,dv,dr,page,dtype,causal", CONFIGS)
def test_torch(codegen, rng, h_q, s_q, dv, dr, page, dtype, causal):
    torch = pytest.importorskip("torch", reason="torch is not installed")
    c = _case(rng, h_q, s_q, dv, dr, page, dtype)
    q, kv, table, lens = c.tensors()
    meta, splits = mla.get_mla_metadata(lens, s_q * h_q, 1)
    out, lse = mla.flash_mla_with_kvcache(q, kv.unsqueeze(2), table, lens, dv, meta, splits,
                                          causal=causal)
    assert isinstance(out, torch.Tensor) and out.dtype == q.dtype
    assert_matches(out, lse, *c.reference((dv + dr) ** -0.5, causal), dtype)


def test_torch_compile(codegen, rng):
    """A FlashMLA call site under torch.compile (fullgraph, dynamic batch):
    the op compiles its kernel when it runs, not while being traced."""
    torch = pytest.importorskip("torch", reason="torch is not installed")
    h_q, s_q, dv, dr, page, dtype, causal = CONFIGS[1]
    c = _case(rng, h_q, s_q, dv, dr, page, dtype)
    q, kv, table, lens = c.tensors()

    def attend(q, kv, table, lens):
        meta, splits = mla.get_mla_metadata(lens, s_q * h_q, 1)
        return mla.flash_mla_with_kvcache(q, kv.unsqueeze(2), table, lens, dv, meta, splits,
                                          causal=causal)

    step = torch.compile(attend, fullgraph=True, backend="aot_eager", dynamic=True)
    for batch in (7, 4):
        got = step(q[:batch], kv, table[:batch], lens[:batch])
        torch.testing.assert_close(got, attend(q[:batch], kv, table[:batch], lens[:batch]))
    ref = c.reference((dv + dr) ** -0.5, causal)
    assert_matches(*got, ref[0][:4], ref[1][:4], dtype)
