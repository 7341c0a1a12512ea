"""The kernels as torch custom ops, `torch.ops.mla.decode` and `mla.layer`.

torch.compile cannot trace a ctypes call, but it can treat a custom op as
one opaque node if it knows the op's output shapes: `register_fake` gives
them (from NAME.json, through DecodeKernel.prepare, on fake tensors). The op
must be a function of tensors, ints, floats and strings, so kernels are
registered here under their key (`DecodeKernel.key`) and the op takes that
string. `mla::decode` returns new tensors and mutates nothing, so
functionalization and CUDA graphs need nothing special; `mla::layer`
declares that it writes kv_cache (the new tokens' rows, in place, as the C
function does) and returns the layer's output.

Importing this module imports torch; `mla` itself does so only when a
kernel is called with tensors.
"""

# No `from __future__ import annotations`: custom_op reads the annotations
# to infer the op's schema.
import threading
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from .kernel import DecodeKernel, LayerKernel

_kernels: Dict[str, DecodeKernel] = {}
_layers: Dict[str, LayerKernel] = {}
_lock = threading.Lock()


def register(kernel: Union[DecodeKernel, LayerKernel]) -> str:
    """Make `kernel` reachable from its op by its key; returns the key."""
    table = _layers if isinstance(kernel, LayerKernel) else _kernels
    with _lock:
        table.setdefault(kernel.key, kernel)
    return kernel.key


def _lookup(key: str, table=None):
    table = _kernels if table is None else table
    try:
        return table[key]
    except KeyError:
        op = "mla::layer" if table is _layers else "mla::decode"
        raise RuntimeError(f"{op}: no kernel registered under {key!r} in this process "
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


@torch.library.custom_op("mla::layer", mutates_args=("kv_cache",))
def _layer_op(hidden: torch.Tensor, positions: torch.Tensor, kv_cache: torch.Tensor,
              block_table: torch.Tensor, seq_lens: torch.Tensor, weights: List[torch.Tensor],
              kernel: str) -> torch.Tensor:
    return _lookup(kernel, _layers).run(hidden, positions, kv_cache, block_table, seq_lens,
                                        weights)


@_layer_op.register_fake
def _layer_fake(hidden, positions, kv_cache, block_table, seq_lens, weights, kernel):
    arrays, _ = _lookup(kernel, _layers).prepare(hidden, positions, kv_cache, block_table,
                                                 seq_lens, weights)
    return arrays["out"]


def layer(kernel: LayerKernel, hidden: torch.Tensor, positions: torch.Tensor,
          kv_cache: torch.Tensor, block_table: torch.Tensor, seq_lens: torch.Tensor,
          weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """The layer's output through the custom op; kv_cache is updated in place."""
    if kernel.key not in _layers:
        register(kernel)
    return torch.ops.mla.layer(hidden, positions, kv_cache, block_table, seq_lens,
                               list(weights), kernel.key)
