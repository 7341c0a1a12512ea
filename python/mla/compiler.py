"""Generating kernels with mla-codegen, through an on-disk cache.

Generating a kernel costs about a second of CPU (a GPU one also runs
ptxas), so each result is kept in a cache directory keyed by everything that
decides its content: the source text or parameters, every mla-codegen
option, mla-codegen's `--version` and a hash of its binary and of the
prebuilt runtimes next to it, and for CPU kernels the host CPU (they are
built for -mcpu=native). A kernel is generated into a temporary directory
inside the cache and renamed into place, so concurrent processes never see
a half-written entry; the first rename wins and the others reuse it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

from . import _dtypes
from ._abi import KernelABI, load_abi
from .kernel import DecodeKernel, LayerKernel, decode_kernel, layer_kernel

#: Bumped when the cache's layout or key changes.
_CACHE_FORMAT = 1
TARGETS = ("cpu", "sm_80", "sm_86", "sm_89", "sm_90a")


class CompileError(RuntimeError):
    """mla-codegen failed (or could not be found): `stderr` holds its
    diagnostics, `command` the command line."""

    def __init__(self, message: str, command: Optional[Sequence[str]] = None,
                 stderr: str = "", returncode: Optional[int] = None):
        self.command = list(command) if command else None
        self.stderr = stderr
        self.returncode = returncode
        super().__init__(message + (f"\n{stderr.rstrip()}" if stderr.strip() else ""))


# --- finding mla-codegen ---------------------------------------------------------

def _dev_tree_codegen() -> str:
    """build/bin/mla-codegen of the source tree this package sits in
    (python/mla/../../build/bin), for a checkout used without installing."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "build", "bin", "mla-codegen"))


def find_codegen() -> str:
    """mla-codegen: $MLA_CODEGEN, else `mla-codegen` on PATH, else the
    development tree's build/bin/mla-codegen."""
    env = os.environ.get("MLA_CODEGEN")
    if env:
        if os.path.isfile(env) and os.access(env, os.X_OK):
            return os.path.abspath(env)
        raise CompileError(f"MLA_CODEGEN={env} is not an executable file")
    on_path = shutil.which("mla-codegen")
    if on_path:
        return on_path
    dev = _dev_tree_codegen()
    if os.path.isfile(dev) and os.access(dev, os.X_OK):
        return dev
    raise CompileError(
        "mla-codegen not found: set MLA_CODEGEN to its path, put it on PATH, or (in a "
        f"source checkout) build the project so that {dev} exists")


# --- the cache key ---------------------------------------------------------------

_identities: Dict[tuple, str] = {}


def _file_hash(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _codegen_identity(codegen: str) -> str:
    """What identifies one build of mla-codegen: its --version, the hash of
    its binary and of the runtimes its libraries link against (PREFIX/lib
    next to PREFIX/bin). Hashed once per process per (path, size, mtime)."""
    real = os.path.realpath(codegen)
    st = os.stat(real)
    memo_key = (real, st.st_size, st.st_mtime_ns, st.st_ino)
    if memo_key not in _identities:
        version = subprocess.run([real, "--version"], capture_output=True, text=True).stdout
        parts = [version, _file_hash(real)]
        libdir = os.path.join(os.path.dirname(os.path.dirname(real)), "lib")
        for lib in ("libmla_cpu_runtime.so", "libmla_cuda_runtime.so"):
            p = os.path.join(libdir, lib)
            parts.append(_file_hash(p) if os.path.isfile(p) else "-")
        _identities[memo_key] = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return _identities[memo_key]


_host: Optional[str] = None


def _host_identity() -> str:
    """The host CPU as -mcpu=native sees it: machine, model and feature flags."""
    global _host
    if _host is None:
        text = platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith(("model name", "flags", "Features", "CPU part")):
                        text += "\n" + line.strip()
                    elif not line.strip():
                        break  # the first processor is enough
        except OSError:
            text += "\n" + platform.processor()
        _host = hashlib.sha256(text.encode()).hexdigest()
    return _host


def cache_dir(path: Optional[str] = None) -> str:
    """The cache directory: `path`, else $MLA_CACHE_DIR, else
    $XDG_CACHE_HOME/mla, else ~/.cache/mla."""
    if path:
        return os.path.abspath(os.fspath(path))
    if os.environ.get("MLA_CACHE_DIR"):
        return os.path.abspath(os.environ["MLA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mla")


# --- results ---------------------------------------------------------------------

@dataclass
class CompiledKernels:
    """One generated kernel directory: `decode` (always) and `layer` (when
    generated from a dialect file with layer=True)."""
    directory: str
    abi: KernelABI
    decode: DecodeKernel
    layer: Optional[LayerKernel]
    key: str


def load(path, key: Optional[str] = None) -> CompiledKernels:
    """Open a kernel directory mla-codegen wrote (or its NAME.json) without
    generating anything, e.g. one built by hand or shipped prebuilt."""
    abi = load_abi(path)
    key = key or abi.directory
    layer = layer_kernel(abi, key) if abi.layer is not None else None
    return CompiledKernels(abi.directory, abi, decode_kernel(abi, key), layer, key)


_memo: Dict[str, CompiledKernels] = {}
_locks: Dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _identifier(text: str) -> str:
    """A C identifier from any text ('DeepSeek-V3' -> 'DeepSeek_V3')."""
    s = re.sub(r"\W", "_", text)
    return s if s and not s[0].isdigit() else "_" + s


def _build(codegen: str, options: list, name: str, source: Optional[str],
           source_path: Optional[str], target: str, directory: Optional[str]) -> CompiledKernels:
    """The cached kernel for these options, generating it on a miss."""
    root = cache_dir(directory)
    material = {
        "format": _CACHE_FORMAT,
        "codegen": _codegen_identity(codegen),
        "host": _host_identity() if target == "cpu" else None,
        "options": options,
        "source": hashlib.sha256(source.encode()).hexdigest() if source is not None else None,
    }
    key = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        final = os.path.join(root, f"{name}-{key[:32]}")
        hit = _memo.get(final)
        if hit is not None:
            return hit
        json_path = os.path.join(final, name + ".json")
        if not os.path.isfile(json_path):
            _generate(codegen, options, name, source, source_path, root, final, material)
        result = load(json_path, key=key)
        _memo[final] = result
        return result


def _generate(codegen, options, name, source, source_path, root, final, material) -> None:
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root)
    try:
        os.chmod(tmp, 0o755)  # mkdtemp's 0700 would keep a shared cache private
        inputs = []
        if source is not None:
            if source_path is None:
                source_path = os.path.join(tmp, name + ".mlir")
                with open(source_path, "w") as f:
                    f.write(source)
            inputs = [source_path]
        command = [codegen, *inputs, *options, "-o", tmp]
        r = subprocess.run(command, capture_output=True, text=True)
        if r.returncode != 0 or not os.path.isfile(os.path.join(tmp, name + ".json")):
            stderr = r.stderr
            if source_path and source_path.startswith(tmp):
                stderr = stderr.replace(source_path, "<mlir source>")
            raise CompileError(f"mla-codegen failed (exit code {r.returncode})",
                               command, stderr, r.returncode)
        with open(os.path.join(tmp, ".mla-cache.json"), "w") as f:
            json.dump({"command": command, **material}, f, indent=1, sort_keys=True)
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process renamed its copy first (the rename of a
            # directory onto a non-empty one fails): use that one, unless
            # what is there is not a complete entry.
            if not os.path.isfile(os.path.join(final, name + ".json")):
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_target(target: str) -> str:
    if target not in TARGETS:
        raise ValueError(f"target {target!r} is not supported (expected {', '.join(TARGETS)})")
    return target


def _positive(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} = {value!r} (must be an integer >= {minimum})")
    return int(value)


def compile_decode(num_heads: int, kv_lora_rank: Optional[int] = None,
                   qk_rope_head_dim: Optional[int] = None,
                   q_len: int = 1, block_size: int = 64, dtype: str = "bf16",
                   causal: bool = False, target: str = "cpu", tensor_parallel: int = 1,
                   name: Optional[str] = None, cache_dir: Optional[str] = None,
                   extra_args: Sequence[str] = (),
                   window: Optional[int] = None, sinks: bool = False,
                   num_kv_heads: Optional[int] = None,
                   head_dim: Optional[int] = None,
                   topk: Optional[int] = None, cache_scales: Optional[str] = None,
                   scale_group: int = 128) -> DecodeKernel:
    """The decode-attention kernel for these sizes (DESIGN.md's contract).

    On a latent cache (MLA): kv_lora_rank (default 512) and
    qk_rope_head_dim (default 64). On paged key and value caches of heads
    (GQA, MQA, MHA; a HeadsDecodeKernel): num_kv_heads and head_dim instead.
    num_heads (and num_kv_heads) are those of the whole layer; with
    tensor_parallel N the kernel serves one GPU's num_heads / N (and
    num_kv_heads / N). `causal` matters only for q_len > 1 (FlashMLA's
    default is False, and so is this one; mla-codegen's own default is
    causal). `window` W (a sliding window; None: none): query i, at position
    p = seq_len - q_len + i, sees no position before p - W + 1. `sinks`:
    calls take per-head sink logits (float32 [heads]) that join each row's
    softmax denominator. `topk` N: sparse decode, a SparseDecodeKernel
    whose calls take indices [batch, q_len, N] in place of the block table
    (not causal). `cache_scales="row_groups"`: the cache holds fp8 rows
    with a float32 scale a group of `scale_group` values (mla.fp8; FlashMLA's
    656-byte row at 512/64), uint8 [num_blocks, block_size, row bytes].
    `cache_scales="per_tensor"`: the cache holds e4m3 codes (rope included),
    uint8 [num_blocks, block_size, d_c + d_r], and calls take `kv_scale`
    (value = code * kv_scale; mla.fp8.to_e4m3(x / kv_scale) writes one).
    `extra_args` go to mla-codegen verbatim (e.g.
    ["--vector-width=8"]) and into the cache key.
    """
    tensor_parallel = _positive("tensor_parallel", tensor_parallel)

    def shard(name: str, count: int) -> int:
        """One rank's share of `count` heads."""
        count = _positive(name, count)
        if count % tensor_parallel:
            raise ValueError(f"tensor_parallel = {tensor_parallel} does not divide "
                             f"{name} = {count}")
        return count // tensor_parallel

    heads = shard("num_heads", num_heads)
    q_len = _positive("q_len", q_len)
    block_size = _positive("block_size", block_size)
    dtype = _dtypes.normalize(dtype)
    target = _check_target(target)
    causal = bool(causal)
    if window is not None:
        window = _positive("window", window)
    if cache_scales not in (None, "none", "row_groups", "per_tensor"):
        raise ValueError(f"cache_scales = {cache_scales!r}: expected None, 'none', "
                         "'per_tensor' or 'row_groups'")
    fp8 = cache_scales == "row_groups"
    fp8_tensor = cache_scales == "per_tensor"
    scale_group = _positive("scale_group", scale_group)
    if topk is not None:
        topk = _positive("topk", topk)
        if causal or window:
            raise ValueError("topk: sparse decode takes no causal mask or window (each "
                             "query attends to the rows of its index row)")
    if num_kv_heads is not None or head_dim is not None:
        if kv_lora_rank is not None or qk_rope_head_dim is not None:
            raise ValueError("kv_lora_rank and qk_rope_head_dim describe a latent cache; "
                             "head caches take num_kv_heads and head_dim")
        if num_kv_heads is None or head_dim is None:
            raise ValueError("head caches need both num_kv_heads and head_dim")
        kv_heads = shard("num_kv_heads", num_kv_heads)
        d = _positive("head_dim", head_dim)
        sizes = [f"--num-kv-heads={kv_heads}", f"--head-dim={d}"]
        tag = f"gqa_decode_h{heads}_kv{kv_heads}_q{q_len}_d{d}_b{block_size}_{dtype}"
    else:
        dc = _positive("kv_lora_rank", 512 if kv_lora_rank is None else kv_lora_rank)
        dr = _positive("qk_rope_head_dim", 64 if qk_rope_head_dim is None
                       else qk_rope_head_dim, minimum=0)
        sizes = [f"--kv-lora-rank={dc}", f"--qk-rope-head-dim={dr}"]
        tag = f"mla_decode_h{heads}_q{q_len}_c{dc}_r{dr}_b{block_size}_{dtype}"
    if name is None:
        name = (tag + ("_causal" if causal else "") + (f"_w{window}" if window else "")
                + ("_sinks" if sinks else "") + (f"_topk{topk}" if topk else "")
                + (f"_fp8g{scale_group}" if fp8 else "")
                + ("_fp8t" if fp8_tensor else ""))
    name = _identifier(name)
    options = [f"--target={target}", f"--num-heads={heads}", *sizes,
               f"--q-len={q_len}", f"--block-size={block_size}",
               f"--dtype={dtype}", f"--causal={'true' if causal else 'false'}",
               *([f"--window={window}"] if window else []),
               *(["--sinks"] if sinks else []),
               *([f"--topk={topk}"] if topk else []),
               *([f"--cache-scales=row_groups", f"--scale-group={scale_group}"]
                 if fp8 else []),
               *(["--cache-scales=per_tensor"] if fp8_tensor else []),
               f"--name={name}", *extra_args]
    return _build(find_codegen(), options, name, None, None, target, cache_dir).decode


def _read_source(source):
    """(text, file path or None, default name) of compile()'s `source`."""
    if hasattr(source, "to_mlir"):
        text = source.to_mlir()
        return text, None, getattr(source, "name", None)
    if isinstance(source, str) and ("func.func" in source or "\n" in source):
        return source, None, None
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"source: {path} is not a file (and not dialect text: "
                                    "no 'func.func')")
        with open(path) as f:
            text = f.read()
        stem = os.path.splitext(os.path.basename(path))[0]
        return text, os.path.abspath(path), stem
    raise TypeError("source: expected dialect text, a path to a .mlir file or an object "
                    f"with to_mlir(), got {type(source).__name__}")


def compile(source, target: str = "cpu", layer: bool = False, tensor_parallel: int = 1,
            name: Optional[str] = None, cache_dir: Optional[str] = None,
            extra_args: Sequence[str] = ()) -> CompiledKernels:
    """Kernels of a layer in the `mla` dialect: `.decode` always, `.layer`
    (the whole decode step, CPU only, tensor_parallel 1) when layer=True.

    `source` is dialect text, the path of a .mlir file, or an object with a
    `to_mlir()` method (and optionally `name`). The decode kernel takes its
    sizes and causality from the file; with tensor_parallel N it serves the
    heads of one GPU of N.
    """
    text, path, default_name = _read_source(source)
    target = _check_target(target)
    tensor_parallel = _positive("tensor_parallel", tensor_parallel)
    if layer and target != "cpu":
        raise ValueError(f"layer=True: the whole-layer function is generated for the CPU only, "
                         f"not target {target!r}")
    if layer and tensor_parallel != 1:
        raise ValueError("layer=True needs tensor_parallel = 1 (the layer function runs all "
                         "heads)")
    if name is None:
        name = default_name
        if name is None:
            m = re.search(r"func\.func\s+@([\w$.]+)", text)
            name = m.group(1) if m else "mla_kernel"
    name = _identifier(name)
    options = [f"--target={target}", f"--tensor-parallel={tensor_parallel}",
               f"--layer={'true' if layer else 'false'}", f"--name={name}", *extra_args]
    result = _build(find_codegen(), options, name, text, path, target, cache_dir)
    if layer and result.layer is None:
        raise CompileError(f"mla-codegen wrote no layer function into {result.directory}")
    return result
