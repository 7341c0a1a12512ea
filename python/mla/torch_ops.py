"""The kernels as torch custom ops: `mla::decode`, `mla::layer` and
`mla::flash_decode`, and on head caches (GQA/MQA/MHA) `mla::decode_heads`
and `mla::layer_heads`.

torch.compile cannot trace a ctypes call, but it can treat a custom op as
one opaque node if it knows the op's output shapes: `register_fake` gives
them (from NAME.json, through DecodeKernel.prepare / LayerKernel.prepare,
on fake tensors). An op must be a function of tensors, ints, floats and
strings, so kernels are registered here under their key (`.key`) and the op
takes that string. `mla::decode` returns new tensors and mutates nothing,
so functionalization and CUDA graphs need nothing special; `mla::layer`
declares that it writes kv_cache (the new tokens' rows, in place, as the C
function does) and returns the layer's output. `mla::flash_decode` serves
flash_mla_with_kvcache: it picks (and on first use generates) its kernel
from the shapes when it runs, so tracing never generates one.

Importing this module imports torch; `mla` itself does so only when a
kernel is called with tensors.
"""

# No `from __future__ import annotations`: custom_op reads the annotations
# to infer the op's schema.
import threading
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from .kernel import DecodeKernel, LayerKernel

if not hasattr(torch.library, "custom_op"):
    raise ImportError(f"mla's torch ops need torch >= 2.4 (torch.library.custom_op), this is "
                      f"torch {torch.__version__}; DecodeKernel.run / LayerKernel.run call "
                      "the kernels on tensors without them")

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


@torch.library.custom_op("mla::flash_decode", mutates_args=())
def _flash_op(q: torch.Tensor, k_cache: torch.Tensor, block_table: torch.Tensor,
              cache_seqlens: torch.Tensor, head_dim_v: int, softmax_scale: float,
              causal: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    from .flash_mla import kernel_for
    return kernel_for(q, k_cache, head_dim_v, causal).run(q, k_cache, block_table,
                                                          cache_seqlens, softmax_scale)


@_flash_op.register_fake
def _flash_fake(q, k_cache, block_table, cache_seqlens, head_dim_v, softmax_scale, causal):
    # FlashMLA's shapes; the kernel checks the rest when it runs.
    batch, s_q, h_q, _ = q.shape
    return (q.new_empty((batch, s_q, h_q, head_dim_v)),
            q.new_empty((batch, h_q, s_q), dtype=torch.float32))


def flash_decode(q: torch.Tensor, k_cache: torch.Tensor, block_table: torch.Tensor,
                 cache_seqlens: torch.Tensor, head_dim_v: int, softmax_scale: float,
                 causal: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """flash_mla_with_kvcache on tensors (k_cache 3-d): `mla::flash_decode`,
    which compiles its kernel (once per process) when it first runs rather
    than when torch.compile traces it, so no kernel key is needed."""
    return torch.ops.mla.flash_decode(q, k_cache, block_table, cache_seqlens, int(head_dim_v),
                                      float(softmax_scale), bool(causal))


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


@torch.library.custom_op("mla::decode_heads", mutates_args=())
def _decode_heads_op(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                     block_table: torch.Tensor, seq_lens: torch.Tensor, kernel: str,
                     softmax_scale: float) -> Tuple[torch.Tensor, torch.Tensor]:
    return _lookup(kernel).run(q, k_cache, v_cache, block_table, seq_lens, softmax_scale)


@_decode_heads_op.register_fake
def _decode_heads_fake(q, k_cache, v_cache, block_table, seq_lens, kernel, softmax_scale):
    arrays, _ = _lookup(kernel).prepare(q, k_cache, v_cache, block_table, seq_lens)
    return arrays["out"], arrays["lse"]


def decode_heads(kernel: DecodeKernel, q: torch.Tensor, k_cache: torch.Tensor,
                 v_cache: torch.Tensor, block_table: torch.Tensor, seq_lens: torch.Tensor,
                 softmax_scale: Optional[float] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """(out, lse) of a HeadsDecodeKernel through `mla::decode_heads`."""
    if softmax_scale is None:
        softmax_scale = kernel.default_softmax_scale
    if kernel.key not in _kernels:
        register(kernel)
    return torch.ops.mla.decode_heads(q, k_cache, v_cache, block_table, seq_lens, kernel.key,
                                      float(softmax_scale))


@torch.library.custom_op("mla::layer_heads", mutates_args=("k_cache", "v_cache"))
def _layer_heads_op(hidden: torch.Tensor, positions: torch.Tensor, k_cache: torch.Tensor,
                    v_cache: torch.Tensor, block_table: torch.Tensor, seq_lens: torch.Tensor,
                    weights: List[torch.Tensor], kernel: str) -> torch.Tensor:
    return _lookup(kernel, _layers).run(hidden, positions, k_cache, v_cache, block_table,
                                        seq_lens, weights)


@_layer_heads_op.register_fake
def _layer_heads_fake(hidden, positions, k_cache, v_cache, block_table, seq_lens, weights,
                      kernel):
    arrays, _ = _lookup(kernel, _layers).prepare(hidden, positions, k_cache, v_cache,
                                                 block_table, seq_lens, weights)
    return arrays["out"]


def layer_heads(kernel: LayerKernel, hidden: torch.Tensor, positions: torch.Tensor,
                k_cache: torch.Tensor, v_cache: torch.Tensor, block_table: torch.Tensor,
                seq_lens: torch.Tensor, weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """A HeadsLayerKernel's output through `mla::layer_heads`; k_cache and
    v_cache are updated in place."""
    if kernel.key not in _layers:
        register(kernel)
    return torch.ops.mla.layer_heads(hidden, positions, k_cache, v_cache, block_table,
                                     seq_lens, list(weights), kernel.key)


def layer(kernel: LayerKernel, hidden: torch.Tensor, positions: torch.Tensor,
          kv_cache: torch.Tensor, block_table: torch.Tensor, seq_lens: torch.Tensor,
          weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """The layer's output through the custom op; kv_cache is updated in place."""
    if kernel.key not in _layers:
        register(kernel)
    return torch.ops.mla.layer(hidden, positions, kv_cache, block_table, seq_lens,
                               list(weights), kernel.key)
