"""Python side of the mla compiler: layers in, callable kernels out.

`python -m mla.layer CONFIG.json` writes an `mla` dialect file for a Hugging
Face config (`mla.layer.emit_layer` from Python).

Kernels: `mla.compile_decode(num_heads, ...)` generates the decode-attention
kernel of DESIGN.md's contract with mla-codegen (cached on disk) and returns
a `DecodeKernel`, callable on numpy arrays or torch tensors; `mla.compile(
source)` does the same for a layer in the dialect (`.decode`, and `.layer`,
the whole decode step, with layer=True). Signatures, shapes and return
codes come from the NAME.json each kernel ships with. FlashMLA call sites
work unchanged with `mla.flash_mla_with_kvcache` / `mla.get_mla_metadata`.
torch is optional and imported only when a kernel is called with tensors.
"""

from ._abi import ABIError, KernelABI, load_abi
from ._dtypes import from_bf16, to_bf16
from .compiler import (CompiledKernels, CompileError, cache_dir, compile, compile_decode,
                       find_codegen, load)
from .flash_attn import flash_attn_with_kvcache
from .flash_mla import flash_mla_with_kvcache, get_mla_metadata
from .kernel import (DecodeKernel, HeadsDecodeKernel, HeadsLayerKernel, IndexerLayerKernel,
                     KernelError, LayerKernel, SparseDecodeKernel)
from .config import ConfigError, load_config, read_config
from .weights import from_state_dict

__all__ = [
    "ABIError", "CompileError", "CompiledKernels", "DecodeKernel", "HeadsDecodeKernel",
    "HeadsLayerKernel", "IndexerLayerKernel", "KernelABI", "KernelError", "LayerKernel",
    "SparseDecodeKernel", "cache_dir", "compile",
    "compile_decode", "find_codegen", "flash_attn_with_kvcache", "flash_mla_with_kvcache",
    "from_bf16", "get_mla_metadata", "load", "load_abi", "to_bf16",
    "ConfigError", "Layer", "from_state_dict", "fp8", "load_config", "read_config",
]


def __getattr__(name):
    # mla.layer is also a script (python -m mla.layer): importing it here
    # would have runpy warn that it is imported twice.
    if name == "Layer":
        from .layer import Layer
        return Layer
    if name == "fp8":  # also a script (python -m mla.fp8)
        import importlib
        return importlib.import_module(".fp8", __name__)
    raise AttributeError(f"module 'mla' has no attribute {name!r}")
