"""Calling generated kernels on numpy arrays and torch tensors.

`DecodeKernel` wraps `NAME` (decode attention over the paged latent cache)
and `LayerKernel` wraps `NAME_layer` (one whole decode step of a layer).
Both are thin: `_Entry` reads the C function's arguments from NAME.json and
does every check there is a description for (framework, device, dtype,
shape against the fixed and named dimensions, contiguity, writability),
fills the scalar arguments that are dimensions (batch, max_blocks_per_seq,
num_blocks) from the arrays, and maps a nonzero return code to KernelError
with the name and meaning NAME.json gives it. Checking in Python first
matters because the C side cannot see shapes: a wrong one would read or
write out of bounds instead of failing.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from . import _arrays
from ._abi import ABIError, Arg, Function, KernelABI

_INT32_MAX = 2 ** 31 - 1


class KernelError(RuntimeError):
    """A kernel returned a nonzero code: `code`, `name` and `meaning` are
    NAME.json's entry for it (nothing was written to the outputs)."""

    def __init__(self, symbol: str, code: int, name: str, meaning: str):
        self.symbol, self.code, self.name, self.meaning = symbol, code, name, meaning
        super().__init__(f"{symbol} returned {code} ({name}): {meaning}")


# --- loading -----------------------------------------------------------------

_libraries: Dict[str, ctypes.CDLL] = {}
_libraries_lock = threading.Lock()


def _float32_scale(kv_scale) -> float:
    """kv_scale as the C entries take it (a float32), refused unless it is
    a real number that stays finite and positive there."""
    try:
        if isinstance(kv_scale, (str, bytes, bool)):
            raise TypeError
        value = float(kv_scale)  # a number, numpy scalar or 0-d tensor
    except (TypeError, ValueError):
        raise ValueError(f"kv_scale = {kv_scale!r}: expected a number") from None
    from .fp8 import _float32_scale as checked
    return float(checked(value))


def _load_library(abi: KernelABI) -> ctypes.CDLL:
    """libNAME.so, loaded once per process. Loading is deferred to the first
    call so that a GPU kernel can be generated, inspected and refused with a
    clear argument error on a machine without the CUDA driver."""
    with _libraries_lock:
        lib = _libraries.get(abi.library)
        if lib is None:
            try:
                lib = ctypes.CDLL(abi.library)
            except OSError as e:
                hint = (" (GPU kernels need the CUDA driver, libcuda.so.1)"
                        if abi.is_gpu else "")
                raise OSError(f"cannot load {abi.library}{hint}: {e}") from e
            _libraries[abi.library] = lib
        return lib


# --- one C entry point ---------------------------------------------------------

class _Entry:
    """One C function of a kernel library, called as NAME.json describes it."""

    def __init__(self, abi: KernelABI, fn: Function):
        self.abi, self.fn = abi, fn
        self._cfn = None

    def arrays(self, direction: Optional[str] = None) -> Tuple[Arg, ...]:
        return tuple(a for a in self.fn.args if a.kind == "array"
                     and (direction is None or a.direction == direction))

    def require_arrays(self, names: Sequence[str]) -> None:
        """ABIError unless the function's arrays are exactly `names`, the
        ones the Python signature supplies (a differently named NAME.json
        is refused when loaded, not at the first call)."""
        have = {a.name for a in self.arrays()}
        if have != set(names):
            raise ABIError(f"{self.fn.symbol}: NAME.json lists arrays {sorted(have)}, "
                           f"this package passes {sorted(names)}")

    # checks -------------------------------------------------------------------

    def _check_device(self, name: str, x, first: Optional[Tuple[str, str]]) -> str:
        where = _arrays.device_of(x)
        abi = self.abi
        if abi.is_gpu:
            if where == "cpu":
                got = "a numpy array" if not _arrays.is_torch(x) else "a CPU tensor"
                raise ValueError(
                    f"{name}: the {abi.symbol} kernel ({abi.target}) reads device memory: "
                    f"expected a CUDA torch tensor, got {got}")
            if not where.startswith("cuda"):
                raise ValueError(f"{name}: expected a CUDA tensor, got one on {where}")
        elif where != "cpu":
            raise ValueError(
                f"{name}: the {abi.symbol} kernel ({abi.target}) reads host memory: "
                f"expected a numpy array or a CPU tensor, got a tensor on {where}")
        if first is not None and first[1] != where:
            raise ValueError(f"{name} is on {where}, {first[0]} on {first[1]}: "
                             "all arrays of a call must be on one device")
        return where

    def check(self, arrays: Mapping[str, Any], skip: Sequence[str] = ()) -> Dict[str, int]:
        """Check every array argument given (by name) against NAME.json and
        return the named dimensions' sizes. Arrays in `skip` may be absent
        (outputs to allocate)."""
        bindings: Dict[str, int] = {}
        source: Dict[str, str] = {}
        first = None
        for arg in self.arrays():
            if arg.name not in arrays or arrays[arg.name] is None:
                if arg.name in skip:
                    continue
                raise TypeError(f"{self.fn.symbol}: argument {arg.name} is missing")
            x = arrays[arg.name]
            _arrays.framework(x, arg.name)
            where = self._check_device(arg.name, x, first)
            first = first or (arg.name, where)
            self._check_dtype(arg.name, x, arg.dtype)
            self._check_shape(arg, x, bindings, source)
            if not _arrays.is_contiguous(x):
                raise ValueError(
                    f"{arg.name}: must be contiguous (row-major), got strides "
                    f"{_arrays.strides_of(x)} (elements) for shape {tuple(x.shape)}; use "
                    "np.ascontiguousarray(...) or .contiguous()")
            if arg.direction in ("out", "inout") and not _arrays.is_writeable(x):
                raise ValueError(f"{arg.name}: the kernel writes it, but the array is read-only")
        for dim, value in bindings.items():
            if value > _INT32_MAX:
                raise ValueError(f"{source[dim]}: {dim} = {value} exceeds the C ABI's int32_t")
        return bindings

    def _check_dtype(self, name: str, x, abi_dtype: str) -> None:
        if not _arrays.dtype_matches(x, abi_dtype):
            raise TypeError(f"{name}: expected dtype {_arrays.expected_dtype(x, abi_dtype)}, "
                            f"got {_arrays.describe(x)}")

    def _check_shape(self, arg: Arg, x, bindings: Dict[str, int], source: Dict[str, str]) -> None:
        got = _arrays.shape_of(x)
        dims = arg.dims or tuple(str(s) for s in arg.shape)
        want = f"{arg.describe_shape()} ({', '.join(dims)})"
        if len(got) != len(arg.shape):
            raise ValueError(f"{arg.name}: expected shape {want}, got {got} "
                             f"({len(got)} dimensions instead of {len(arg.shape)})")
        for i, (size, dim, n) in enumerate(zip(arg.shape, dims, got)):
            if isinstance(size, int):
                if n != size:
                    raise ValueError(f"{arg.name}: expected shape {want}, got {got}: "
                                     f"dimension {i} ({dim}) must be {size}, is {n}")
            elif size in bindings and bindings[size] != n:
                raise ValueError(f"{arg.name}: expected shape {want}, got {got}: "
                                 f"dimension {i} ({size}) is {n}, but {source[size]} has "
                                 f"{size} = {bindings[size]}")
            elif size not in bindings:
                bindings[size], source[size] = n, arg.name

    def shape(self, arg: Arg, bindings: Mapping[str, int]) -> Tuple[int, ...]:
        """An array's shape with its named dimensions resolved."""
        return tuple(s if isinstance(s, int) else bindings[s] for s in arg.shape)

    def allocate(self, arrays: Dict[str, Any], bindings: Mapping[str, int], like) -> None:
        """Allocate the missing outputs next to `like` (same framework, device)."""
        for arg in self.arrays("out"):
            if arrays.get(arg.name) is None:
                arrays[arg.name] = _arrays.empty_like_framework(
                    like, self.shape(arg, bindings), arg.dtype)

    # the call -----------------------------------------------------------------

    def _function(self):
        if self._cfn is None:
            self._cfn = self.fn.bind(_load_library(self.abi))
        return self._cfn

    def call(self, arrays: Mapping[str, Any], bindings: Mapping[str, int],
             scalars: Mapping[str, Any] = {}, lists: Mapping[str, Sequence[Any]] = {},
             stream: Optional[int] = None) -> None:
        """Call the C function; KernelError for a nonzero return code."""
        keep = []  # ctypes arrays that must outlive the call
        values = []
        for arg in self.fn.args:
            if arg.kind == "array":
                values.append(_arrays.data_ptr(arrays[arg.name]))
            elif arg.kind == "array_list":
                ptrs = (ctypes.c_void_p * max(1, len(lists[arg.name])))(
                    *[_arrays.data_ptr(x) for x in lists[arg.name]])
                keep.append(ptrs)
                values.append(ctypes.addressof(ptrs))
            elif arg.kind == "scalar":
                if arg.name in scalars:
                    values.append(scalars[arg.name])
                elif arg.name in bindings:
                    values.append(bindings[arg.name])
                else:
                    raise ABIError(f"{self.fn.symbol}: no value for argument {arg.name} "
                                   f"({arg.meaning}); this package does not know it")
            elif arg.kind == "handle" and arg.name == "stream":
                values.append(stream)
            else:
                raise ABIError(f"{self.fn.symbol}: argument {arg.name} of kind {arg.kind} "
                               "is not known to this package")
        code = self._function()(*values)
        if code != 0:
            rc = self.fn.return_codes.get(code)
            if rc is None:
                raise KernelError(self.fn.symbol, code, "UNKNOWN",
                                  "a code NAME.json does not list")
            raise KernelError(self.fn.symbol, code, rc.name, rc.meaning)


def _stream_and_device(abi: KernelABI, like):
    """(stream handle, device context manager) for a call: NULL and nothing
    on the CPU; the current torch stream of the tensors' device on a GPU."""
    if not abi.is_gpu:
        return None, _NullContext()
    import torch
    device = like.device
    return torch.cuda.current_stream(device).cuda_stream, torch.cuda.device(device)


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _check_pages(block_table, seq_lens, num_blocks: int, block_size: int) -> None:
    """ValueError for a page id beyond kv_cache in a used slot of block_table.

    The kernel cannot check this (the cache size is not one of its
    arguments) and would read outside the cache; here the cache's shape is
    known. Host memory only: on a GPU it would cost a copy and a sync.
    Invalid seq_lens are left to the kernel's own check (ERR_SEQ_LEN).
    """
    table = block_table if isinstance(block_table, np.ndarray) else block_table.numpy()
    lens = seq_lens if isinstance(seq_lens, np.ndarray) else seq_lens.numpy()
    if table.size == 0:
        return
    pages = (np.clip(lens, 0, table.shape[1] * block_size) + block_size - 1) // block_size
    used = np.arange(table.shape[1])[None, :] < pages[:, None]
    bad = np.argwhere(used & (table >= num_blocks))
    if len(bad):
        b, j = bad[0]
        raise ValueError(f"block_table[{b}, {j}] = {table[b, j]} is not a page of kv_cache "
                         f"(num_blocks = {num_blocks}); sequence {b} uses {pages[b]} pages "
                         f"for seq_len {lens[b]}")


def _register_with_torch(kernel) -> None:
    """Register a new kernel with its torch op when torch is in use, so that
    torch.compile finds it without tracing the registration. A torch too old
    for custom ops is no reason to refuse the kernel (run() still works)."""
    if _arrays.torch_module() is None:
        return
    try:
        from . import torch_ops
    except ImportError:
        return
    torch_ops.register(kernel)


# --- decode attention ----------------------------------------------------------

class DecodeKernel:
    """Decode attention over a paged latent cache (DESIGN.md's contract).

    `kernel(q, kv_cache, block_table, seq_lens)` returns `(out, lse)`:
    q [batch, q_len, num_heads, d_c + d_r], kv_cache [num_blocks, block_size,
    d_c + d_r], block_table int32 [batch, max_blocks_per_seq], seq_lens int32
    [batch] (the new tokens included); out [batch, q_len, num_heads, d_c] in
    the kernel's dtype and lse float32 [batch, num_heads, q_len] (natural log;
    -inf and zeros in `out` for a query row that sees no position).

    numpy arrays or CPU tensors for CPU kernels, CUDA tensors for sm_* ones
    (launched on the current torch stream). bf16 numpy arrays are
    ml_dtypes.bfloat16 or uint16 bit patterns (`mla.to_bf16`).

    A kernel generated with sinks (`kernel.sinks`) takes `sinks`, float32
    [num_heads]: head h's logit joins the softmax denominator of its rows and
    their lse, without a value (a row that sees nothing: zeros, lse = the
    sink). Such calls with torch tensors run eagerly (not the custom op).
    """

    _INPUTS = ("q", "kv_cache", "block_table", "seq_lens")
    _OUTPUTS = ("out", "lse")

    def __init__(self, abi: KernelABI, key: Optional[str] = None):
        self.abi = abi
        self._entry = _Entry(abi, abi.decode)
        with_sinks = ("sinks",) if abi.params.get("sinks") else ()
        self._entry.require_arrays(self._INPUTS + with_sinks + self._OUTPUTS)
        self._splits = _Entry(abi, abi.num_splits) if abi.num_splits else None
        # With the cache's page count, the C entry checks page ids itself.
        self._checked = _Entry(abi, abi.checked) if abi.checked else None
        #: Identifies the kernel in this process (the compile cache key, or
        #: the directory); the torch op refers to kernels by it.
        self.key = key or abi.directory
        p = abi.params
        self.symbol: str = abi.symbol
        self.target: str = abi.target
        self.num_heads: int = p["num_heads"]
        self.q_len: int = p["q_len"]
        self.kv_lora_rank: int = p["kv_lora_rank"]
        self.qk_rope_head_dim: int = p["qk_rope_head_dim"]
        self.block_size: int = p["block_size"]
        self.dtype: str = p["dtype"]
        self.causal: bool = bool(p["causal"])
        # A sliding window of positions, or None (older NAME.json: none).
        self.window: Optional[int] = p.get("window")
        # Whether calls take per-head sink logits (`sinks`, float32 [H]).
        self.sinks: bool = bool(p.get("sinks", False))
        # fp8 rows with group scales ("row_groups", mla.fp8), e4m3 codes
        # with one scale ("per_tensor": calls take kv_scale), or None: the
        # cache holds `dtype`.
        self.cache_scales: Optional[str] = p.get("cache_scales")
        self.scale_group: Optional[int] = p.get("scale_group")
        _register_with_torch(self)

    @property
    def head_dim(self) -> int:
        """d_c + d_r: the width of q and of a cache row."""
        return self.kv_lora_rank + self.qk_rope_head_dim

    @property
    def default_softmax_scale(self) -> float:
        """The scale used when none is given: NAME.json's `softmax_scale`
        when it has one, else FlashMLA's default q.shape[-1] ** -0.5, i.e.
        1/sqrt(d_c + d_r). A layer's real scale (1/sqrt(qk_nope + d_r), YaRN
        mscale) differs: pass it explicitly for model outputs."""
        given = self.abi.params.get("softmax_scale")
        return float(given) if given is not None else self.head_dim ** -0.5

    def _encoding(self) -> str:
        """The cache's encoding for __repr__ ("" when it holds `dtype`)."""
        if self.cache_scales == "per_tensor":
            return ", fp8 / kv_scale"
        return f", fp8 rows / {self.scale_group}" if self.cache_scales else ""

    def __repr__(self) -> str:
        return (f"DecodeKernel({self.symbol}: target={self.target}, heads={self.num_heads}, "
                f"q_len={self.q_len}, d_c={self.kv_lora_rank}, d_r={self.qk_rope_head_dim}, "
                f"block_size={self.block_size}, dtype={self.dtype}, causal={self.causal}"
                + (f", window={self.window}" if self.window else "")
                + (", sinks" if self.sinks else "") + self._encoding() + ")")

    def _scalars(self, softmax_scale, kv_scale) -> Dict[str, float]:
        """The call's float scalars: softmax_scale (its default when None)
        and, for a cache of e4m3 codes with one scale, kv_scale (required;
        refused by other kernels)."""
        scale = self.default_softmax_scale if softmax_scale is None else float(softmax_scale)
        if self.cache_scales != "per_tensor":
            if kv_scale is not None:
                raise ValueError(f"{self.symbol}: kv_scale is only taken by a kernel whose "
                                 "cache has one fp8 scale (cache_scales='per_tensor')")
            return {"softmax_scale": scale}
        if kv_scale is None:
            raise ValueError(f"{self.symbol} reads e4m3 codes with one scale: pass kv_scale "
                             "(value = code * kv_scale)")
        kv = _float32_scale(kv_scale)
        return {"softmax_scale": scale, "kv_scale": kv}

    def __call__(self, q, kv_cache, block_table, seq_lens, softmax_scale: Optional[float] = None,
                 out=None, lse=None, sinks=None, kv_scale: Optional[float] = None):
        """(out, lse) of decode attention; see the class docstring. With torch
        tensors and no `out`/`lse`, this goes through the `mla::decode` custom
        op, so torch.compile traces it; with `out`/`lse` it writes them.
        `kv_scale`: the cache's scale, for a kernel generated with
        cache_scales="per_tensor" (eager calls only)."""
        if (out is None and lse is None and not self.sinks and kv_scale is None
                and self.cache_scales != "per_tensor" and _arrays.is_torch(q)
                and _arrays.is_torch(kv_cache) and _arrays.is_torch(block_table)
                and _arrays.is_torch(seq_lens)):
            from . import torch_ops
            return torch_ops.decode(self, q, kv_cache, block_table, seq_lens, softmax_scale)
        return self.run(q, kv_cache, block_table, seq_lens, softmax_scale, out, lse, sinks,
                        kv_scale)

    def prepare(self, q, kv_cache, block_table, seq_lens, out=None, lse=None, sinks=None):
        """Check the arguments and allocate missing outputs; returns the
        arrays by name and the named dimensions. Touches no data, so it
        also runs on torch.compile's fake tensors."""
        return self._prepare(dict(q=q, kv_cache=kv_cache, block_table=block_table,
                                  seq_lens=seq_lens, out=out, lse=lse), sinks)

    def _prepare(self, arrays: dict, sinks) -> Tuple[dict, Dict[str, int]]:
        """prepare() on the arrays by name (the inputs and out/lse or None)."""
        if self.sinks:
            if sinks is None:
                raise ValueError(f"{self.symbol} was generated with sinks: pass sinks, "
                                 f"float32 [{self.num_heads}]")
            arrays["sinks"] = sinks
        elif sinks is not None:
            raise ValueError(f"{self.symbol} was generated without sinks "
                             "(mla.compile_decode(..., sinks=True) makes one with them)")
        bindings = self._entry.check(arrays, skip=self._OUTPUTS)
        self._entry.allocate(arrays, bindings, like=arrays["q"])
        return arrays, bindings

    def run(self, q, kv_cache, block_table, seq_lens, softmax_scale=None, out=None, lse=None,
            sinks=None, kv_scale=None):
        """The eager call: check, allocate, run, return (out, lse)."""
        arrays, bindings = self.prepare(q, kv_cache, block_table, seq_lens, out, lse, sinks)
        return self._run(arrays, bindings, softmax_scale, kv_scale)

    def _run(self, arrays: dict, bindings: Dict[str, int], softmax_scale, kv_scale=None):
        """run() on prepared arrays."""
        block_table, seq_lens = arrays["block_table"], arrays["seq_lens"]
        scalars = self._scalars(softmax_scale, kv_scale)
        if not self.abi.is_gpu and self._checked is None:
            _check_pages(block_table, seq_lens, bindings["num_blocks"], self.block_size)
        if bindings["batch"] > 0:  # an empty batch is a no-op (outputs may be NULL-sized)
            stream, device = _stream_and_device(self.abi, arrays["q"])
            entry = self._checked or self._entry
            with device:
                try:
                    entry.call(arrays, bindings, scalars=scalars, stream=stream)
                except KernelError as e:
                    # Say which slot, when it is a page beyond the cache.
                    if e.name == "ERR_BLOCK_ID" and self._checked is not None:
                        _check_pages(block_table, seq_lens, bindings["num_blocks"],
                                     self.block_size)
                    raise
        return arrays["out"], arrays["lse"]

    def num_splits(self, *args: int, **kwargs: int) -> int:
        """The KV split count the kernel would use (NAME_num_splits): its
        arguments by position or name as NAME.json lists them, e.g.
        (batch, max_seq_len, threads) on the CPU, (batch, max_seq_len, sms)
        on a GPU."""
        if self._splits is None:
            raise ABIError(f"{self.symbol}: NAME.json has no num_splits entry")
        fn = self._splits.fn
        names = [a.name for a in fn.args]
        if len(args) > len(names):
            raise TypeError(f"{fn.symbol} takes {len(names)} arguments ({', '.join(names)})")
        values = dict(zip(names, args))
        for k, v in kwargs.items():
            if k not in names or k in values:
                raise TypeError(f"{fn.symbol}: unexpected or repeated argument {k!r} "
                                f"(takes {', '.join(names)})")
            values[k] = v
        missing = [n for n in names if n not in values]
        if missing:
            raise TypeError(f"{fn.symbol}: missing {', '.join(missing)}")
        return int(self._splits._function()(*[values[n] for n in names]))


class HeadsDecodeKernel(DecodeKernel):
    """Decode attention over paged key and value caches of heads (GQA; MQA
    with one KV head, MHA with as many as query heads), the layout of vLLM's
    and FlashInfer's paged caches.

    `kernel(q, k_cache, v_cache, block_table, seq_lens)` returns
    `(out, lse)`: q [batch, q_len, num_heads, head_dim], k_cache and v_cache
    [num_blocks, block_size, num_kv_heads, head_dim], block_table int32
    [batch, max_blocks_per_seq], seq_lens int32 [batch] (the new tokens
    included); query head h reads KV head h // (num_heads // num_kv_heads).
    out [batch, q_len, num_heads, head_dim], lse float32 [batch, num_heads,
    q_len]. Windows and sinks as for DecodeKernel; torch tensors without
    out/lse go through the `mla::decode_heads` custom op (torch.compile).
    """

    _INPUTS = ("q", "k_cache", "v_cache", "block_table", "seq_lens")

    def __init__(self, abi: KernelABI, key: Optional[str] = None):
        super().__init__(abi, key)
        p = abi.params
        self.num_kv_heads: int = p["num_kv_heads"]

    @property
    def head_dim(self) -> int:
        return self.kv_lora_rank

    def __repr__(self) -> str:
        return (f"HeadsDecodeKernel({self.symbol}: target={self.target}, "
                f"heads={self.num_heads}, kv_heads={self.num_kv_heads}, "
                f"head_dim={self.head_dim}, q_len={self.q_len}, "
                f"block_size={self.block_size}, dtype={self.dtype}, causal={self.causal}"
                + (f", window={self.window}" if self.window else "")
                + (", sinks" if self.sinks else "") + ")")

    def __call__(self, q, k_cache, v_cache, block_table, seq_lens,
                 softmax_scale: Optional[float] = None, out=None, lse=None, sinks=None):
        """(out, lse); see the class docstring."""
        if (out is None and lse is None and not self.sinks
                and all(_arrays.is_torch(t) for t in (q, k_cache, v_cache, block_table,
                                                      seq_lens))):
            from . import torch_ops
            return torch_ops.decode_heads(self, q, k_cache, v_cache, block_table, seq_lens,
                                          softmax_scale)
        return self.run(q, k_cache, v_cache, block_table, seq_lens, softmax_scale, out, lse,
                        sinks)

    def prepare(self, q, k_cache, v_cache, block_table, seq_lens, out=None, lse=None,
                sinks=None):
        """Check the arguments and allocate missing outputs (see
        DecodeKernel.prepare)."""
        return self._prepare(dict(q=q, k_cache=k_cache, v_cache=v_cache,
                                  block_table=block_table, seq_lens=seq_lens, out=out,
                                  lse=lse), sinks)

    def run(self, q, k_cache, v_cache, block_table, seq_lens, softmax_scale=None, out=None,
            lse=None, sinks=None):
        """The eager call: check, allocate, run, return (out, lse)."""
        arrays, bindings = self.prepare(q, k_cache, v_cache, block_table, seq_lens, out, lse,
                                        sinks)
        return self._run(arrays, bindings, softmax_scale)


class SparseDecodeKernel(DecodeKernel):
    """Sparse decode over a latent cache (token indices: FlashMLA's sparse
    decode, DeepSeek-V3.2's attention after its indexer).

    `kernel(q, kv_cache, indices, seq_lens=None)` returns `(out, lse)`: q and
    kv_cache as for DecodeKernel, indices int32 [batch, q_len, topk], each
    slot a cache row page * block_size + offset or -1 for no token; seq_lens
    int32 [batch], the valid slots of each sequence's index rows (later ones
    are not read; None: all topk, FlashMLA's topk_length). Query i of
    sequence b attends to the rows its row indices[b, i] names, once per
    slot, with no causal mask; a query with no valid slot gets zeros and
    lse = -inf. On the CPU, indices at or past the cache's rows are refused
    (ValueError) before anything is read. Eager calls only (no torch op).
    """

    _INPUTS = ("q", "kv_cache", "indices", "seq_lens")

    def __init__(self, abi: KernelABI, key: Optional[str] = None):
        super().__init__(abi, key)
        self.topk: int = abi.params["topk"]

    def __repr__(self) -> str:
        return (f"SparseDecodeKernel({self.symbol}: target={self.target}, "
                f"heads={self.num_heads}, q_len={self.q_len}, d_c={self.kv_lora_rank}, "
                f"d_r={self.qk_rope_head_dim}, block_size={self.block_size}, "
                f"topk={self.topk}, dtype={self.dtype}"
                + (", sinks" if self.sinks else "") + self._encoding() + ")")

    def __call__(self, q, kv_cache, indices, seq_lens=None,
                 softmax_scale: Optional[float] = None, out=None, lse=None, sinks=None,
                 kv_scale: Optional[float] = None):
        """(out, lse); see the class docstring."""
        return self.run(q, kv_cache, indices, seq_lens, softmax_scale, out, lse, sinks,
                        kv_scale)

    def prepare(self, q, kv_cache, indices, seq_lens=None, out=None, lse=None, sinks=None):
        """Check the arguments and allocate missing outputs (see
        DecodeKernel.prepare); seq_lens None becomes topk for every
        sequence."""
        if seq_lens is None:
            batch = _arrays.shape_of(indices)[0] if len(_arrays.shape_of(indices)) else 0
            seq_lens = _arrays.empty_like_framework(indices, (batch,), "i32")
            seq_lens[...] = self.topk
        return self._prepare(dict(q=q, kv_cache=kv_cache, indices=indices,
                                  seq_lens=seq_lens, out=out, lse=lse), sinks)

    def run(self, q, kv_cache, indices, seq_lens=None, softmax_scale=None, out=None, lse=None,
            sinks=None, kv_scale=None):
        """The eager call: check, allocate, run, return (out, lse)."""
        arrays, bindings = self.prepare(q, kv_cache, indices, seq_lens, out, lse, sinks)
        scalars = dict(self._scalars(softmax_scale, kv_scale), topk=self.topk)
        if bindings["batch"] > 0:
            stream, device = _stream_and_device(self.abi, arrays["q"])
            entry = self._checked or self._entry
            with device:
                try:
                    entry.call(arrays, bindings, scalars=scalars, stream=stream)
                except KernelError as e:
                    if e.name == "ERR_BLOCK_ID" and self._checked is not None:
                        raise ValueError(
                            f"indices: a valid slot holds an index below -1 or at or past "
                            f"the cache's {bindings['num_blocks'] * self.block_size} rows "
                            f"({e})") from e
                    raise
        return arrays["out"], arrays["lse"]


def decode_kernel(abi: KernelABI, key: Optional[str] = None) -> DecodeKernel:
    """The decode kernel of a library: on head caches (NAME.json's
    num_kv_heads), on token indices (topk) or on a latent cache."""
    if abi.params.get("num_kv_heads"):
        return HeadsDecodeKernel(abi, key)
    if abi.params.get("topk"):
        return SparseDecodeKernel(abi, key)
    return DecodeKernel(abi, key)


# --- one layer's decode step ---------------------------------------------------

class LayerKernel:
    """One decode step of a whole layer (NAME_layer, CPU only): projections,
    norms, RoPE, the cache append IN PLACE, latent attention, W_UV and W_O.

    `layer(hidden, positions, kv_cache, block_table, seq_lens, weights)`
    returns `out` [batch, q_len, hidden_size]; seq_lens count the tokens after
    this step. `weights` is a sequence in NAME.json's order (`.weights` lists
    index, shape and dtype), or a mapping by name when NAME.json names them.
    """

    _INPUTS = ("hidden", "positions", "kv_cache", "block_table", "seq_lens")
    _OUTPUTS = ("out",)

    def __init__(self, abi: KernelABI, key: Optional[str] = None):
        if abi.layer is None:
            raise ABIError(f"{abi.symbol}: NAME.json has no layer entry")
        self.abi = abi
        self._entry = _Entry(abi, abi.layer)
        self._entry.require_arrays(self._INPUTS + self._OUTPUTS)
        lists = [a.name for a in abi.layer.args if a.kind == "array_list"]
        if lists != ["weights"]:
            raise ABIError(f"{abi.layer.symbol}: expected one array list 'weights', "
                           f"NAME.json has {lists}")
        self.key = key or abi.directory
        self.symbol: str = abi.layer.symbol
        self.weights = abi.weights
        # The weights a caller gives; the rest (merged by mla-absorb-weights)
        # come from prepare_weights.
        self.given_weights = tuple(w for w in abi.weights if not w.prepared)
        self._prepare_fn = None
        self._prepared_for = None  # (identity of the given weights, full list)
        raw = (abi.raw.get("layer") or {}).get("prepare_weights")
        if raw:
            fn = getattr(_load_library(abi), raw["symbol"])
            fn.restype = ctypes.c_int32
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
            self._prepare_fn = (fn, tuple(raw["inputs"]), tuple(raw["outputs"]))
        self.hidden_size: int = abi.dims.get("hidden_size")
        # A cache of e4m3 codes with one scale: calls take kv_scale.
        self.takes_kv_scale: bool = any(a.name == "kv_scale" for a in abi.layer.args)
        _register_with_torch(self)

    def prepare_weights(self, weights, refresh: bool = False) -> list:
        """The full weight list the layer takes: `weights` (the given ones,
        in order or by name) followed by the merged weights the compiler
        chose (NAME.json's `prepared`), computed once here. Calls with the
        same weight objects reuse the result (it holds them, so they stay
        the same objects); after changing a weight's contents in place, pass
        refresh=True. Passing the returned list skips even that lookup."""
        given = self._given_list(weights)
        if self._prepare_fn is None:
            return given
        ident = tuple((id(w), _arrays.data_ptr(w)) for w in given)
        if (not refresh and self._prepared_for is not None
                and self._prepared_for[0] == ident):
            return self._prepared_for[1]
        self._check_weights(given, given[0], self.given_weights)
        fn, _, outputs = self._prepare_fn
        prepared = [_arrays.empty_like_framework(given[0], self.weights[i].shape,
                                                 self.weights[i].dtype) for i in outputs]
        ins = (ctypes.c_void_p * len(given))(*[_arrays.data_ptr(w) for w in given])
        outs = (ctypes.c_void_p * len(prepared))(*[_arrays.data_ptr(w) for w in prepared])
        code = fn(ctypes.addressof(ins), ctypes.addressof(outs))
        if code != 0:
            rc = self.abi.layer.return_codes.get(code)
            raise KernelError(self.symbol + "_prepare_weights", code,
                              rc.name if rc else "UNKNOWN", rc.meaning if rc else "")
        full = list(given) + prepared
        self._prepared_for = (ident, full)
        return full

    def _given_list(self, weights) -> list:
        return self._in_order(weights, self.given_weights)

    def _in_order(self, weights, specs) -> list:
        """`weights` as a list in the order of `specs`: a sequence of that
        length, or a mapping by NAME.json's names."""
        if isinstance(weights, Mapping):
            names = [w.name for w in specs]
            if None in names:
                raise TypeError(f"{self.symbol}: NAME.json does not name the weights; "
                                "pass them as a sequence in the order of .weights")
            unknown = set(weights) - set(names)
            missing = [n for n in names if n not in weights]
            if unknown or missing:
                raise ValueError(f"weights: missing {missing}, unknown {sorted(unknown)}")
            return [weights[n] for n in names]
        weights = list(weights)
        if len(weights) != len(specs):
            raise ValueError(f"weights: expected {len(specs)} arrays, got {len(weights)}")
        return weights

    def __repr__(self) -> str:
        return (f"LayerKernel({self.symbol}: hidden_size={self.hidden_size}, "
                f"{len(self.weights)} weights)")

    def _weight_list(self, weights) -> list:
        if not isinstance(weights, Mapping):
            weights = list(weights)  # once: it may be an iterator
        if self._prepare_fn is not None and (
                isinstance(weights, Mapping) or len(weights) == len(self.given_weights)):
            return self.prepare_weights(weights)
        return self._in_order(weights, self.weights)

    def _check_weights(self, weights: list, like, specs=None) -> None:
        first = ("hidden", _arrays.device_of(like))
        for w, spec in zip(weights, specs or self.weights):
            label = f"weights[{spec.index}]" + (f" ({spec.name})" if spec.name else "")
            _arrays.framework(w, label)
            self._entry._check_device(label, w, first)
            self._entry._check_dtype(label, w, spec.dtype)
            if _arrays.shape_of(w) != tuple(spec.shape):
                raise ValueError(f"{label}: expected shape {list(spec.shape)}, got "
                                 f"{_arrays.shape_of(w)}")
            if not _arrays.is_contiguous(w):
                raise ValueError(f"{label}: must be contiguous (row-major)")

    def __call__(self, hidden, positions, kv_cache, block_table, seq_lens, weights, out=None,
                 kv_scale: Optional[float] = None):
        """The layer's output; kv_cache gets the new tokens' rows in place.
        With torch tensors and no `out`, through the `mla::layer` custom op
        (torch.compile traces it). `kv_scale`: the cache's scale, for a
        layer whose cache holds e4m3 codes with one scale (eager calls)."""
        if self._prepare_fn is not None:
            weights = self._weight_list(weights)
        if self.takes_kv_scale or kv_scale is not None:
            return self.run(hidden, positions, kv_cache, block_table, seq_lens, weights, out,
                            kv_scale)
        if out is None and not isinstance(weights, Mapping):
            weights = list(weights)
            tensors = [hidden, positions, kv_cache, block_table, seq_lens, *weights]
            if all(_arrays.is_torch(t) for t in tensors):
                from . import torch_ops
                return torch_ops.layer(self, hidden, positions, kv_cache, block_table,
                                       seq_lens, weights)
        return self.run(hidden, positions, kv_cache, block_table, seq_lens, weights, out)

    def prepare(self, hidden, positions, kv_cache, block_table, seq_lens, weights, out=None):
        """Check the arguments and allocate `out` if missing; returns the
        arrays by name and the named dimensions (no data touched)."""
        return self._prepare(dict(hidden=hidden, positions=positions, kv_cache=kv_cache,
                                  block_table=block_table, seq_lens=seq_lens, out=out),
                             weights)

    def _prepare_inputs(self, inputs, weights, out) -> Tuple[dict, Dict[str, int]]:
        """prepare() on the inputs in the order of _INPUTS."""
        return self._prepare(dict(zip(self._INPUTS, inputs), out=out), weights)

    def _prepare(self, arrays: dict, weights) -> Tuple[dict, Dict[str, int]]:
        """prepare() on the arrays by name (the inputs and out or None)."""
        bindings = self._entry.check(arrays, skip=self._OUTPUTS)
        arrays["weights"] = self._weight_list(weights)
        self._check_weights(arrays["weights"], arrays["hidden"])
        self._entry.allocate(arrays, bindings, like=arrays["hidden"])
        return arrays, bindings

    def run(self, hidden, positions, kv_cache, block_table, seq_lens, weights, out=None,
            kv_scale=None):
        """The eager call: check, allocate, run, return out."""
        arrays, bindings = self.prepare(hidden, positions, kv_cache, block_table, seq_lens,
                                        weights, out)
        return self._run(arrays, bindings, kv_scale)

    def _kv_scale(self, kv_scale) -> Dict[str, float]:
        """The call's kv_scale scalar: required by (and only by) a layer
        whose cache holds e4m3 codes with one scale."""
        if not self.takes_kv_scale:
            if kv_scale is not None:
                raise ValueError(f"{self.symbol}: kv_scale is only taken by a layer whose "
                                 "cache holds e4m3 codes with one scale")
            return {}
        if kv_scale is None:
            raise ValueError(f"{self.symbol} keeps e4m3 codes with one scale: pass kv_scale")
        kv = _float32_scale(kv_scale)
        return {"kv_scale": kv}

    def _run(self, arrays: dict, bindings: Dict[str, int], kv_scale=None):
        """run() on prepared arrays."""
        scalars = self._kv_scale(kv_scale)
        if bindings["batch"] > 0:
            self._entry.call(arrays, bindings, scalars=scalars,
                             lists={"weights": arrays["weights"]})
        return arrays["out"]


class HeadsLayerKernel(LayerKernel):
    """One decode step of a layer on paged key and value caches of heads
    (GQA/MQA/MHA; NAME_layer, CPU only): projections, RoPE, the new tokens'
    keys and values appended to k_cache and v_cache IN PLACE, attention,
    W_O. `layer(hidden, positions, k_cache, v_cache, block_table, seq_lens,
    weights)` returns `out` [batch, q_len, hidden_size]; k_cache and v_cache
    are [num_blocks, block_size, num_kv_heads, head_dim]. Torch tensors
    without `out` go through the `mla::layer_heads` custom op.
    """

    _INPUTS = ("hidden", "positions", "k_cache", "v_cache", "block_table", "seq_lens")

    def __init__(self, abi: KernelABI, key: Optional[str] = None):
        super().__init__(abi, key)
        self.num_kv_heads: int = abi.dims.get("num_kv_heads")
        self.head_dim: int = abi.dims.get("head_dim")

    def __repr__(self) -> str:
        return (f"HeadsLayerKernel({self.symbol}: hidden_size={self.hidden_size}, "
                f"kv_heads={self.num_kv_heads}, head_dim={self.head_dim}, "
                f"{len(self.weights)} weights)")

    def __call__(self, hidden, positions, k_cache, v_cache, block_table, seq_lens, weights,
                 out=None):
        """The layer's output; k_cache and v_cache get the new tokens' rows in
        place."""
        if self._prepare_fn is not None:
            weights = self._weight_list(weights)
        if out is None and not isinstance(weights, Mapping):
            weights = list(weights)
            tensors = [hidden, positions, k_cache, v_cache, block_table, seq_lens, *weights]
            if all(_arrays.is_torch(t) for t in tensors):
                from . import torch_ops
                return torch_ops.layer_heads(self, hidden, positions, k_cache, v_cache,
                                             block_table, seq_lens, weights)
        return self.run(hidden, positions, k_cache, v_cache, block_table, seq_lens, weights,
                        out)

    def prepare(self, hidden, positions, k_cache, v_cache, block_table, seq_lens, weights,
                out=None):
        """Check the arguments and allocate `out` if missing (see
        LayerKernel.prepare)."""
        return self._prepare_inputs((hidden, positions, k_cache, v_cache, block_table,
                                     seq_lens), weights, out)

    def run(self, hidden, positions, k_cache, v_cache, block_table, seq_lens, weights,
            out=None):
        """The eager call: check, allocate, run, return out."""
        return self._run(*self.prepare(hidden, positions, k_cache, v_cache, block_table,
                                       seq_lens, weights, out))


class IndexerLayerKernel(LayerKernel):
    """One decode step of a DeepSeek-V3.2 layer (DeepSeek Sparse Attention;
    NAME_layer, CPU only): the new tokens' latent rows appended to kv_cache
    and their indexer keys to index_cache IN PLACE (pages of the same block
    table), the indexer's top-k positions of each query, latent attention
    over those only. `layer(hidden, positions, kv_cache, index_cache,
    block_table, seq_lens, weights)` returns `out` [batch, q_len,
    hidden_size]; index_cache is [num_blocks, block_size, index_head_dim].
    """

    _INPUTS = ("hidden", "positions", "kv_cache", "index_cache", "block_table", "seq_lens")

    def __init__(self, abi: KernelABI, key: Optional[str] = None):
        super().__init__(abi, key)
        self.index_head_dim: int = abi.dims.get("index_head_dim")

    def __repr__(self) -> str:
        return (f"IndexerLayerKernel({self.symbol}: hidden_size={self.hidden_size}, "
                f"index_head_dim={self.index_head_dim}, {len(self.weights)} weights)")

    def __call__(self, hidden, positions, kv_cache, index_cache, block_table, seq_lens,
                 weights, out=None, kv_scale: Optional[float] = None):
        """The layer's output; kv_cache and index_cache get the new tokens'
        rows in place (torch tensors run eagerly, not as a custom op)."""
        return self.run(hidden, positions, kv_cache, index_cache, block_table, seq_lens,
                        weights, out, kv_scale)

    def prepare(self, hidden, positions, kv_cache, index_cache, block_table, seq_lens,
                weights, out=None):
        """Check the arguments and allocate `out` if missing (see
        LayerKernel.prepare)."""
        return self._prepare_inputs((hidden, positions, kv_cache, index_cache, block_table,
                                     seq_lens), weights, out)

    def run(self, hidden, positions, kv_cache, index_cache, block_table, seq_lens, weights,
            out=None, kv_scale=None):
        """The eager call: check, allocate, run, return out."""
        return self._run(*self.prepare(hidden, positions, kv_cache, index_cache, block_table,
                                       seq_lens, weights, out), kv_scale)


def layer_kernel(abi: KernelABI, key: Optional[str] = None) -> LayerKernel:
    """The layer function of a library: on head caches, on a latent cache,
    or on a latent cache and an indexer's key cache."""
    if abi.dims.get("num_kv_heads"):
        return HeadsLayerKernel(abi, key)
    if abi.dims.get("index_head_dim"):
        return IndexerLayerKernel(abi, key)
    return LayerKernel(abi, key)

