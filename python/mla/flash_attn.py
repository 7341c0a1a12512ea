"""flash-attn's paged decode entry point over generated kernels.

`flash_attn_with_kvcache(q, k_cache, v_cache, cache_seqlens=...,
block_table=...)` with paged caches [num_blocks, page_block_size, nheads_k,
headdim] is what vLLM and other engines call for GQA/MQA/MHA decode; this
one runs the kernel generated for the call's sizes (heads, KV heads, head
dim, page size, q_len, dtype, causality, window, the tensors' device),
generated on first use, memoized per process and kept in the compile cache.

Served: paged caches (block_table), no new k/v to append (the engine has
written them; cache_seqlens counts them), causal or not, a left window
(window_size[1] must be -1 or 0), optional return of the lse. The query
rows are the last q_len positions of each sequence, as in flash-attn.
Not served: contiguous caches without a block table, k/v appends, rotary,
alibi, softcap, cache_batch_idx, a right window; each is refused by name.
"""

from __future__ import annotations

import threading
from typing import Dict, Optional, Tuple

from . import _arrays
from .compiler import compile_decode
from .flash_mla import _dtype_name, _target
from .kernel import DecodeKernel

_kernels: Dict[tuple, DecodeKernel] = {}
_lock = threading.Lock()


def kernel_for(q, k_cache, causal: bool = False, window: Optional[int] = None) -> DecodeKernel:
    """The kernel flash_attn_with_kvcache uses: q [batch, q_len, heads,
    head_dim], k_cache [num_blocks, page_block_size, kv_heads, head_dim]."""
    _, s_q, heads, d = _arrays.shape_of(q)
    _, block_size, kv_heads, _ = _arrays.shape_of(k_cache)
    config = (heads, kv_heads, d, s_q, block_size, _dtype_name(q), bool(causal) and s_q > 1,
              window, _arrays.device_of(q))
    kernel = _kernels.get(config)
    if kernel is None:
        with _lock:
            kernel = _kernels.get(config)
            if kernel is None:
                kernel = compile_decode(heads, num_kv_heads=kv_heads, head_dim=d, q_len=s_q,
                                        block_size=block_size, dtype=config[5],
                                        causal=config[6], window=window,
                                        target=_target(config[8]))
                _kernels[config] = kernel
    return kernel


def flash_attn_with_kvcache(q, k_cache, v_cache, k=None, v=None, rotary_cos=None,
                            rotary_sin=None, cache_seqlens=None, cache_batch_idx=None,
                            cache_leftpad=None, block_table=None,
                            softmax_scale: Optional[float] = None, causal: bool = False,
                            window_size: Tuple[int, int] = (-1, -1), softcap: float = 0.0,
                            rotary_interleaved: bool = True, alibi_slopes=None,
                            num_splits: int = 0, return_softmax_lse: bool = False):
    """flash-attn-compatible paged decode (see the module docstring).

    q [batch, q_len, heads, head_dim]; k_cache and v_cache [num_blocks,
    page_block_size, kv_heads, head_dim], heads a multiple of kv_heads;
    cache_seqlens int32 [batch] (the tokens in the cache, the queries'
    included); block_table int32 [batch, max_blocks]. softmax_scale defaults
    to head_dim ** -0.5. window_size = (left, -1 or 0): a query at position
    p sees p - left .. p. Returns out [batch, q_len, heads, head_dim], and
    (out, lse float32 [batch, heads, q_len]) with return_softmax_lse; a row
    that sees nothing: zeros and lse -inf.
    """
    refused = dict(k=k, v=v, rotary_cos=rotary_cos, rotary_sin=rotary_sin,
                   cache_batch_idx=cache_batch_idx, cache_leftpad=cache_leftpad,
                   alibi_slopes=alibi_slopes)
    for name, value in refused.items():
        if value is not None:
            raise NotImplementedError(f"flash_attn_with_kvcache: {name} is not served (the "
                                      "kernels read caches the engine has written)")
    if softcap:
        raise NotImplementedError("flash_attn_with_kvcache: softcap is not served")
    if block_table is None or cache_seqlens is None:
        raise NotImplementedError("flash_attn_with_kvcache: only paged caches are served: "
                                  "pass block_table and cache_seqlens")
    left, right = window_size
    if right not in (-1, 0) or left < -1:
        raise NotImplementedError(f"flash_attn_with_kvcache: window_size = {window_size}: "
                                  "only a left window (right -1 or 0) is served")
    for name, x in (("q", q), ("k_cache", k_cache), ("v_cache", v_cache)):
        _arrays.framework(x, name)
        if len(_arrays.shape_of(x)) != 4:
            raise ValueError(f"{name}: expected 4 dimensions, got {_arrays.shape_of(x)}")
    if _arrays.shape_of(k_cache) != _arrays.shape_of(v_cache):
        raise ValueError(f"v_cache: shape {_arrays.shape_of(v_cache)} differs from k_cache's "
                         f"{_arrays.shape_of(k_cache)}")
    d = _arrays.shape_of(q)[3]
    if softmax_scale is None:
        softmax_scale = d ** -0.5
    kernel = kernel_for(q, k_cache, causal, None if left < 0 else left + 1)
    out, lse = kernel(q, k_cache, v_cache, block_table, cache_seqlens,
                      softmax_scale=softmax_scale)
    return (out, lse) if return_softmax_lse else out
