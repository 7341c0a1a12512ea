"""FlashMLA's Python entry points over generated kernels.

Code written against FlashMLA (`get_mla_metadata` then
`flash_mla_with_kvcache`) runs unchanged with `from mla import
flash_mla_with_kvcache, get_mla_metadata`: the kernel for the call's sizes
(H = h_q, d_c = head_dim_v, d_r = d - head_dim_v, page size, dtype,
causal, and the target of the tensors' device) is generated on first use,
memoized per process and kept in the compile cache.

Differences from FlashMLA, both deliberate:
- a query row that sees no cache position gets lse = -inf (FlashMLA: +inf);
  `out` is zeros in both;
- the tile scheduler metadata is not needed (the kernels choose their KV
  splits per call), so `get_mla_metadata` returns placeholders and
  `flash_mla_with_kvcache` ignores what it is given.
Sparse attention (`indices`) and the "FP8 with scale" cache
(`is_fp8_kvcache`: rows of d_c e4m3 values, d_c / 128 float32 scales, d_r
bf16 values; mla.fp8), DeepSeek-V3.2's, are served on the CPU and on the
GPUs (sm_80 to sm_90a, by the mma.sync kernels).
"""

from __future__ import annotations

import threading
from typing import Dict, Optional, Tuple

import numpy as np

from . import _arrays
from .compiler import compile_decode
from .kernel import DecodeKernel

_kernels: Dict[tuple, DecodeKernel] = {}
_lock = threading.Lock()


def get_mla_metadata(cache_seqlens=None, num_q_tokens_per_head_k=None, num_heads_k=None,
                     *args, **kwargs) -> Tuple[None, None]:
    """FlashMLA's scheduler metadata: (tile_scheduler_metadata, num_splits).
    The generated kernels split the KV range per call, so both are None."""
    return None, None


def _dtype_name(x) -> str:
    s = str(x.dtype)
    for abi, names in (("bf16", ("bfloat16", "uint16")), ("f16", ("float16",)),
                       ("f32", ("float32",))):
        if any(s.endswith(n) for n in names):
            return abi
    raise TypeError(f"q: dtype {x.dtype} is not supported (expected bfloat16, float16 "
                    "or float32)")


def _target(device: str) -> str:
    """The kernel target for a device ('cpu', 'cuda:0')."""
    if device == "cpu":
        return "cpu"
    import torch
    major, minor = torch.cuda.get_device_capability(torch.device(device))
    if major == 9 and minor == 0:
        return "sm_90a"
    if major == 8:
        # 8.6, 8.7 and 8.9 give a CTA at most 99 KB of shared memory: their
        # kernels are sized for it (an sm_86 cubin runs on all three).
        return "sm_80" if minor == 0 else "sm_86"
    raise NotImplementedError(f"no kernel target for {device} (compute capability "
                              f"{major}.{minor}); mla-codegen generates sm_80, sm_86, sm_89 "
                              "and sm_90a")


def _config(q, k_cache, head_dim_v: int, causal: bool) -> tuple:
    """What selects the kernel: (h_q, s_q, d_c, d_r, page size, dtype,
    causal, device)."""
    _, s_q, h_q, d = _arrays.shape_of(q)
    block_size = _arrays.shape_of(k_cache)[1]
    causal = bool(causal) and s_q > 1  # one query row: the same kernel either way
    return (h_q, s_q, head_dim_v, d - head_dim_v, block_size, _dtype_name(q), causal,
            _arrays.device_of(q))


def _compiled(config: tuple, topk: Optional[int] = None, fp8: bool = False) -> DecodeKernel:
    """The kernel of a `_config` (sparse with `topk`, on fp8 rows with
    `fp8`), generated (or read from the cache) once per process."""
    config = config + (topk, fp8)
    kernel = _kernels.get(config)
    if kernel is None:
        with _lock:
            kernel = _kernels.get(config)
            if kernel is None:
                h_q, s_q, dv, dr, block_size, dtype, causal, device, _, _ = config
                kernel = compile_decode(h_q, kv_lora_rank=dv, qk_rope_head_dim=dr, q_len=s_q,
                                        block_size=block_size, dtype=dtype, causal=causal,
                                        target=_target(device), topk=topk,
                                        cache_scales="row_groups" if fp8 else None)
                _kernels[config] = kernel
    return kernel


def kernel_for(q, k_cache, head_dim_v: int, causal: bool = False) -> DecodeKernel:
    """The kernel flash_mla_with_kvcache uses for these arguments.
    q [batch, s_q, h_q, d], k_cache [num_blocks, page_block_size, (1,) d]."""
    return _compiled(_config(q, k_cache, head_dim_v, causal))


def flash_mla_with_kvcache(q, k_cache, block_table, cache_seqlens, head_dim_v: int,
                           tile_scheduler_metadata=None, num_splits=None,
                           softmax_scale: Optional[float] = None, causal: bool = False,
                           is_fp8_kvcache: bool = False, indices=None, topk_length=None):
    """FlashMLA-compatible decode attention.

    q [batch, s_q, h_q, d]; k_cache [num_blocks, page_block_size, h_kv = 1, d]
    (or without the h_kv axis); block_table int32 [batch, max_blocks];
    cache_seqlens int32 [batch]; head_dim_v = d_c, the value width (512 for
    DeepSeek). softmax_scale defaults to d ** -0.5 as in FlashMLA. Returns
    (out [batch, s_q, h_q, head_dim_v], lse float32 [batch, h_q, s_q]);
    rows with nothing visible: zeros and lse -inf (FlashMLA: +inf).

    Sparse attention: indices int32 [batch, s_q, topk], each slot a
    cache row page * page_block_size + offset or -1, in place of the block
    table (block_table and cache_seqlens are then not read); topk_length
    int32 [batch] (optional): the valid slots of each sequence's rows. Not
    causal: each query attends to the rows its index row names.

    is_fp8_kvcache: k_cache holds rows of d_c = head_dim_v e4m3 values,
    d_c / 128 float32 scales and d_r bf16 values (656 bytes at 512/64,
    mla.fp8.encode_rows writes them), as uint8 or float8_e4m3fn bytes.
    """
    _arrays.framework(q, "q")
    _arrays.framework(k_cache, "k_cache")
    qs, ks = _arrays.shape_of(q), _arrays.shape_of(k_cache)
    if len(qs) != 4:
        raise ValueError(f"q: expected shape [batch, s_q, h_q, d], got {qs}")
    d = qs[3]
    if len(ks) == 4:
        if ks[2] != 1:
            raise ValueError(f"k_cache: h_kv = {ks[2]}; MLA has one latent KV head (h_kv = 1)")
        if not _arrays.is_contiguous(k_cache):
            raise ValueError("k_cache: must be contiguous (row-major)")
        k_cache = k_cache.reshape(ks[0], ks[1], ks[3])
    elif len(ks) != 3:
        raise ValueError(f"k_cache: expected shape [num_blocks, page_block_size, 1, d] or "
                         f"[num_blocks, page_block_size, d], got {ks}")
    if not 0 < head_dim_v <= d:
        raise ValueError(f"head_dim_v = {head_dim_v} must be in 1 .. d = {d}")
    if is_fp8_kvcache:
        from .fp8 import row_bytes
        want = row_bytes(head_dim_v, d - head_dim_v)
        width = _arrays.shape_of(k_cache)[2]
        if width != want:
            raise ValueError(f"k_cache: fp8 rows of d_c = {head_dim_v}, d_r = "
                             f"{d - head_dim_v} are {want} bytes, got {width}")
        if isinstance(k_cache, np.ndarray):
            k_cache = k_cache.view(np.uint8)
        else:
            import torch
            k_cache = k_cache.view(torch.uint8)
    if softmax_scale is None:
        softmax_scale = d ** -0.5
    if indices is not None:
        shape = _arrays.shape_of(indices)
        if len(shape) != 3:
            raise ValueError(f"indices: expected shape [batch, s_q, topk], got {shape}")
        kernel = _compiled(_config(q, k_cache, head_dim_v, False), topk=shape[2],
                           fp8=is_fp8_kvcache)
        return kernel(q, k_cache, indices, topk_length, softmax_scale=softmax_scale)
    if is_fp8_kvcache:
        kernel = _compiled(_config(q, k_cache, head_dim_v, causal), fp8=True)
        return kernel(q, k_cache, block_table, cache_seqlens, softmax_scale=softmax_scale)
    if all(_arrays.is_torch(x) for x in (q, k_cache, block_table, cache_seqlens)):
        # An op that picks the kernel when it runs, so that torch.compile
        # traces it without generating anything (and with dynamic shapes).
        from . import torch_ops
        return torch_ops.flash_decode(q, k_cache, block_table, cache_seqlens, head_dim_v,
                                      softmax_scale, causal)
    kernel = kernel_for(q, k_cache, head_dim_v, causal)
    return kernel(q, k_cache, block_table, cache_seqlens, softmax_scale=softmax_scale)
