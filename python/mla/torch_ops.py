"""The decode kernels as a torch custom op, `torch.ops.mla.decode`.

torch.compile cannot trace a ctypes call, but it can treat a custom op as
one opaque node if it knows the op's output shapes: `register_fake` gives
them (from NAME.json, through DecodeKernel.prepare, on fake tensors). The op
must be a function of tensors, ints, floats and strings, so kernels are
registered here under their key (`DecodeKernel.key`) and the op takes that
string. It returns new tensors and mutates nothing, so functionalization
and CUDA graphs need nothing special.

Importing this module imports torch; `mla` itself does so only when a
kernel is called with tensors.
"""

from __future__ import annotations

import threading
from typing import Dict, Optional, Tuple

import torch

from .kernel import DecodeKernel

_kernels: Dict[str, DecodeKernel] = {}
_lock = threading.Lock()


def register(kernel: DecodeKernel) -> str:
    """Make `kernel` reachable from the op by its key; returns the key."""
    with _lock:
        _kernels.setdefault(kernel.key, kernel)
    return kernel.key


def _lookup(key: str) -> DecodeKernel:
    try:
        return _kernels[key]
    except KeyError:
        raise RuntimeError(f"mla::decode: no kernel registered under {key!r} in this process "
                           "(compile it first: mla.compile_decode / mla.compile)") from None


@torch.library.custom_op("mla::decode", mutates_args=())
def _decode_op(q: torch.Tensor, kv_cache: torch.Tensor, block_table: torch.Tensor,
               seq_lens: torch.Tensor, kernel: str,
               softmax_scale: float) -> Tuple[torch.Tensor, torch.Tensor]:
    return _lookup(kernel).run(q, kv_cache, block_table, seq_lens, softmax_scale)


@_decode_op.register_fake
def _decode_fake(q, kv_cache, block_table, seq_lens, kernel, softmax_scale):
    arrays, _ = _lookup(kernel).prepare(q, kv_cache, block_table, seq_lens)
    return arrays["out"], arrays["lse"]


def decode(kernel: DecodeKernel, q: torch.Tensor, kv_cache: torch.Tensor,
           block_table: torch.Tensor, seq_lens: torch.Tensor,
           softmax_scale: Optional[float] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """(out, lse) of `kernel` through the custom op (what DecodeKernel does
    for tensors when no out/lse is given)."""
    if softmax_scale is None:
        softmax_scale = kernel.default_softmax_scale
    if kernel.key not in _kernels:  # a plain read when torch.compile traces this
        register(kernel)
    return torch.ops.mla.decode(q, kv_cache, block_table, seq_lens, kernel.key,
                                float(softmax_scale))
