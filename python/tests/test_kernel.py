"""Generated kernels called from numpy: results against the float64
reference, argument checks and their messages, return codes, the compile
cache, dialect sources and the layer function."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mla
import mla.compiler
from conftest import GRID, assert_matches, grid_id, layer_inputs, make_case

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "deepseek-v2-lite.mlir"
HAVE_PTXAS = os.path.exists("/usr/local/cuda/bin/ptxas") or shutil.which("ptxas") is not None


def f32_kernel():
    return mla.compile_decode(**GRID[1])


# --- results ----------------------------------------------------------------------

@pytest.mark.parametrize("params", GRID, ids=grid_id)
def test_matches_reference(codegen, rng, params):
    kernel = mla.compile_decode(**params)
    case = make_case(rng, kernel)
    scale = 0.7 * kernel.head_dim ** -0.5
    out, lse = kernel(*case.arrays(), softmax_scale=scale)
    batch = len(case.seq_lens)
    assert out.shape == (batch, kernel.q_len, kernel.num_heads, kernel.kv_lora_rank)
    assert out.dtype == case.q.dtype
    assert lse.shape == (batch, kernel.num_heads, kernel.q_len) and lse.dtype == np.float32
    assert_matches(out, lse, *case.reference(scale, kernel.causal), kernel.dtype)


@pytest.mark.parametrize("params", [
    dict(num_heads=16, q_len=1, kv_lora_rank=512, qk_rope_head_dim=64, block_size=64,
         dtype="bf16", window=40),
    dict(num_heads=3, q_len=2, kv_lora_rank=256, qk_rope_head_dim=32, block_size=16,
         dtype="f32", causal=True, window=5),
    dict(num_heads=1, q_len=2, kv_lora_rank=256, qk_rope_head_dim=32, block_size=16,
         dtype="f32", causal=False, window=1),
], ids=lambda p: grid_id(p) + f"-w{p['window']}")
def test_window_matches_reference(codegen, rng, params):
    """A sliding window: the kernel against the float64 reference, and the
    positions before every query's window set to NaN, which must not show."""
    kernel = mla.compile_decode(**params)
    assert kernel.window == params["window"]
    case = make_case(rng, kernel)  # NaN before every query's window
    scale = 0.7 * kernel.head_dim ** -0.5
    out, lse = kernel(*case.arrays(), softmax_scale=scale)
    assert_matches(out, lse, *case.reference(scale, kernel.causal, kernel.window),
                   kernel.dtype)


@pytest.mark.parametrize("params", [
    dict(num_heads=16, q_len=1, kv_lora_rank=512, qk_rope_head_dim=64, block_size=64,
         dtype="bf16"),
    dict(num_heads=3, q_len=2, kv_lora_rank=256, qk_rope_head_dim=32, block_size=16,
         dtype="f32", causal=True, window=5),
], ids=grid_id)
def test_sinks_match_reference(codegen, rng, params):
    """Per-head sinks: each joins its rows' denominators and lse (rows that
    see nothing: zeros, lse = the sink); a call without them is refused."""
    kernel = mla.compile_decode(**params, sinks=True)
    assert kernel.sinks
    case = make_case(rng, kernel)
    sinks = np.linspace(-2.0, 3.0, kernel.num_heads).astype(np.float32)
    scale = 0.7 * kernel.head_dim ** -0.5
    out, lse = kernel(*case.arrays(), softmax_scale=scale, sinks=sinks)
    assert_matches(out, lse, *case.reference(scale, kernel.causal, kernel.window, sinks),
                   kernel.dtype)
    with pytest.raises(ValueError, match="generated with sinks"):
        kernel(*case.arrays())
    with pytest.raises(ValueError, match="sinks: expected shape"):
        kernel(*case.arrays(), sinks=sinks[:-1] if kernel.num_heads > 1 else sinks[:0])
    plain = mla.compile_decode(**params)
    with pytest.raises(ValueError, match="without sinks"):
        plain(*case.arrays(), sinks=sinks)


def _heads_reference(q, k_cache, v_cache, table, lens, scale, causal, window):
    """GQA decode in float64 from its definition: query head h reads KV head
    h // (H // G) of the positions its query sees."""
    batch, q_len, heads, d = q.shape
    bs, kv_heads = k_cache.shape[1], k_cache.shape[2]
    out = np.zeros((batch, q_len, heads, d))
    lse = np.full((batch, heads, q_len), -np.inf)
    for b in range(batch):
        n = int(lens[b])
        rows = [int(table[b, t // bs]) * bs + t % bs for t in range(n)]
        keys = k_cache.reshape(-1, kv_heads, d)[rows].astype(np.float64)
        values = v_cache.reshape(-1, kv_heads, d)[rows].astype(np.float64)
        for i in range(q_len):
            end = n - q_len + i + 1 if causal else n
            start = max(0, n - q_len + i - window + 1) if window else 0
            if end <= start:
                continue
            for h in range(heads):
                g = h // (heads // kv_heads)
                s = scale * keys[start:end, g] @ q[b, i, h].astype(np.float64)
                m = s.max()
                p = np.exp(s - m)
                out[b, i, h] = p @ values[start:end, g] / p.sum()
                lse[b, h, i] = m + np.log(p.sum())
    return out, lse


@pytest.mark.parametrize("params", [
    dict(num_heads=8, num_kv_heads=2, head_dim=128, q_len=1, block_size=16, dtype="bf16"),
    dict(num_heads=8, num_kv_heads=1, head_dim=64, q_len=2, block_size=64, dtype="f32",
         causal=True),
    dict(num_heads=6, num_kv_heads=6, head_dim=64, q_len=1, block_size=1, dtype="f32"),
    dict(num_heads=12, num_kv_heads=4, head_dim=96, q_len=3, block_size=16, dtype="f32",
         causal=True, window=20),
], ids=lambda p: f"h{p['num_heads']}-kv{p['num_kv_heads']}-d{p['head_dim']}-q{p['q_len']}"
                 f"-b{p['block_size']}-{p['dtype']}" + (f"-w{p['window']}" if "window" in p
                                                         else ""))
def test_head_caches_match_reference(codegen, rng, params):
    """GQA/MQA/MHA over paged key and value caches: the kernel against a
    float64 evaluation, with NaN in every cache row no query sees."""
    kernel = mla.compile_decode(**params)
    assert isinstance(kernel, mla.HeadsDecodeKernel)
    assert (kernel.num_kv_heads, kernel.head_dim) == (params["num_kv_heads"],
                                                        params["head_dim"])
    bs, g, d = kernel.block_size, kernel.num_kv_heads, kernel.head_dim
    lens = np.array([0, 1, kernel.q_len, bs + 3, 3 * bs + 5], dtype=np.int32)
    pages_per_seq = (int(lens.max()) + bs - 1) // bs
    batch = len(lens)
    table = rng.permutation(batch * pages_per_seq).astype(np.int32).reshape(
        batch, pages_per_seq)
    shape = (batch * pages_per_seq, bs, g, d)
    k = rng.uniform(-1, 1, shape).astype(np.float32)
    v = rng.uniform(-1, 1, shape).astype(np.float32)
    q = rng.uniform(-1, 1, (batch, kernel.q_len, kernel.num_heads, d)).astype(np.float32)
    if kernel.dtype == "bf16":  # the reference sees the values the kernel reads
        q, k, v = (mla.from_bf16(mla.to_bf16(x)) for x in (q, k, v))
    seen = np.zeros(shape[:2], dtype=bool)
    for b in range(batch):
        first = max(0, lens[b] - kernel.q_len - (kernel.window or 1 << 30) + 1)
        for t in range(first, lens[b]):
            seen[table[b, t // bs], t % bs] = True
    k[~seen], v[~seen] = np.nan, np.nan
    scale = 0.7 * d ** -0.5
    store = (lambda x: mla.to_bf16(x)) if kernel.dtype == "bf16" else (lambda x: x)
    out, lse = kernel(store(q), store(k), store(v), table, lens, softmax_scale=scale)
    assert out.shape == (batch, kernel.q_len, kernel.num_heads, d)
    k[~seen], v[~seen] = 0, 0
    assert_matches(out, lse, *_heads_reference(q, k, v, table, lens, scale, kernel.causal,
                                               kernel.window), kernel.dtype)
    with pytest.raises(ValueError, match="v_cache"):
        kernel(store(q), store(k), store(v)[..., : d // 2], table, lens)


def test_head_caches_options_refused(codegen):
    with pytest.raises(ValueError, match="latent cache"):
        mla.compile_decode(8, kv_lora_rank=128, num_kv_heads=2, head_dim=128)
    with pytest.raises(ValueError, match="both num_kv_heads and head_dim"):
        mla.compile_decode(8, num_kv_heads=2)
    with pytest.raises(ValueError, match="does not divide num_kv_heads"):
        mla.compile_decode(8, num_kv_heads=2, head_dim=64, tensor_parallel=4)


def test_rows_that_see_nothing(codegen, rng):
    """seq_len 0, and a causal row of a sequence shorter than q_len: zeros
    and lse -inf (FlashMLA would write +inf)."""
    kernel = mla.compile_decode(**GRID[2])  # q_len 2, causal
    case = make_case(rng, kernel)
    out, lse = kernel(*case.arrays())
    assert np.all(out[0] == 0) and np.all(np.isneginf(lse[0]))
    assert np.all(out[1, 0] == 0) and np.all(np.isneginf(lse[1, :, 0]))  # seq_len 1
    assert np.all(np.isfinite(lse[1, :, 1]))


def test_default_scale_is_flashmla(codegen, rng):
    kernel = f32_kernel()
    assert kernel.default_softmax_scale == pytest.approx(576 ** -0.5)
    case = make_case(rng, kernel)
    out, lse = kernel(*case.arrays())
    assert_matches(out, lse, *case.reference(576 ** -0.5, False), "f32")


def test_outputs_given_are_written(codegen, rng):
    kernel = f32_kernel()
    case = make_case(rng, kernel)
    batch = len(case.seq_lens)
    out = np.full((batch, 1, 16, 512), 7.0, np.float32)
    lse = np.full((batch, 16, 1), 7.0, np.float32)
    got_out, got_lse = kernel(*case.arrays(), out=out, lse=lse)
    assert got_out is out and got_lse is lse
    assert_matches(out, lse, *case.reference(kernel.default_softmax_scale, False), "f32")


def test_empty_batch(codegen):
    kernel = f32_kernel()
    q = np.zeros((0, 1, 16, 576), np.float32)
    out, lse = kernel(q, np.zeros((1, 64, 576), np.float32), np.zeros((0, 1), np.int32),
                      np.zeros((0,), np.int32))
    assert out.shape == (0, 1, 16, 512) and lse.shape == (0, 16, 1)


def test_num_splits(codegen):
    kernel = f32_kernel()
    names = [a.name for a in kernel.abi.num_splits.args]
    assert names == ["batch", "max_seq_len", "threads"]
    assert kernel.num_splits(1, 1, 1) == 1
    assert kernel.num_splits(batch=1, max_seq_len=4096, threads=8) >= 1
    with pytest.raises(TypeError, match="missing threads"):
        kernel.num_splits(1, 2)


# --- bf16 helpers -------------------------------------------------------------------

def test_bf16_round_to_nearest_even():
    one = 1.0
    values = np.array([one, one + 2 ** -8, one + 3 * 2 ** -8, -2.5, 0.0, -0.0, np.inf, -np.inf,
                       3.4e38, 1e-40], np.float32)
    bits = mla.to_bf16(values)
    assert bits.dtype == np.uint16
    # 1 + 2^-8 is halfway between 1 and 1 + 2^-7: to even (1); 1 + 3*2^-8 up.
    assert list(bits[:6]) == [0x3F80, 0x3F80, 0x3F82, 0xC020, 0x0000, 0x8000]
    assert list(bits[6:8]) == [0x7F80, 0xFF80]
    assert bits[8] == 0x7F80  # beyond the bf16 range: infinity
    assert np.isnan(mla.from_bf16(mla.to_bf16(np.float32(np.nan))))
    back = mla.from_bf16(bits)
    assert back.dtype == np.float32 and back[2] == one + 2 ** -6
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    assert np.all(mla.from_bf16(mla.to_bf16(mla.from_bf16(mla.to_bf16(x)))) ==
                  mla.from_bf16(mla.to_bf16(x)))
    assert np.max(np.abs(mla.from_bf16(mla.to_bf16(x)) - x) / np.abs(x)) <= 2 ** -8


# --- argument checks --------------------------------------------------------------------

@pytest.fixture
def f32_case(codegen, rng):
    kernel = f32_kernel()
    return kernel, make_case(rng, kernel)


def test_wrong_shape(f32_case):
    kernel, c = f32_case
    q = np.zeros(c.q.shape[:-1] + (512,), np.float32)
    with pytest.raises(ValueError, match=r"q: expected shape \[batch, 1, 16, 576\] "
                       r"\(batch, q_len, num_heads, row_width\), got .*dimension 3 "
                       r"\(row_width\) must be 576, is 512"):
        kernel(q, c.kv_cache, c.block_table, c.seq_lens)
    with pytest.raises(ValueError, match=r"kv_cache: expected shape \[num_blocks, 64, 576\].*"
                       r"2 dimensions instead of 3"):
        kernel(c.q, c.kv_cache[0], c.block_table, c.seq_lens)
    with pytest.raises(ValueError, match=r"seq_lens: .*dimension 0 \(batch\) is 3, but q has "
                       r"batch = 7"):
        kernel(c.q, c.kv_cache, c.block_table, c.seq_lens[:3])
    with pytest.raises(ValueError, match=r"out: .*dimension 2 \(num_heads\) must be 16"):
        kernel(*c.arrays(), out=np.zeros((7, 1, 8, 512), np.float32))


def test_wrong_dtype(f32_case, codegen):
    kernel, c = f32_case
    with pytest.raises(TypeError, match=r"q: expected dtype f32 \(float32\), got numpy float64"):
        kernel(c.q.astype(np.float64), c.kv_cache, c.block_table, c.seq_lens)
    with pytest.raises(TypeError, match=r"block_table: expected dtype i32 \(int32\), got numpy "
                       r"int64"):
        kernel(c.q, c.kv_cache, c.block_table.astype(np.int64), c.seq_lens)
    with pytest.raises(TypeError, match=r"lse: expected dtype f32"):
        kernel(*c.arrays(), lse=np.zeros((7, 16, 1), np.float64))
    bf16 = mla.compile_decode(**GRID[0])
    with pytest.raises(TypeError, match=r"q: expected dtype bf16 \(numpy: .*uint16.*\), got "
                       r"numpy float32"):
        bf16(c.q, c.kv_cache, c.block_table, c.seq_lens)


def test_not_an_array(f32_case):
    kernel, c = f32_case
    with pytest.raises(TypeError, match="seq_lens: expected a numpy array or a torch tensor, "
                       "got list"):
        kernel(c.q, c.kv_cache, c.block_table, [1, 2, 3, 4, 5, 6, 7])


def test_non_contiguous(f32_case):
    kernel, c = f32_case
    spaced = np.repeat(c.kv_cache, 2, axis=0)[::2]
    assert spaced.shape == c.kv_cache.shape
    with pytest.raises(ValueError, match=r"kv_cache: must be contiguous \(row-major\)"):
        kernel(c.q, spaced, c.block_table, c.seq_lens)


def test_read_only_output(f32_case):
    kernel, c = f32_case
    out = np.zeros((7, 1, 16, 512), np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out: the kernel writes it, but the array is read-only"):
        kernel(*c.arrays(), out=out)


# --- return codes -------------------------------------------------------------------------

def _codes(kernel):
    return {rc.name: rc for rc in kernel.abi.decode.return_codes.values()}


def test_seq_len_beyond_table(f32_case):
    kernel, c = f32_case
    lens = c.seq_lens.copy()
    lens[-1] = c.block_table.shape[1] * kernel.block_size + 1
    out = np.full((7, 1, 16, 512), 3.0, np.float32)
    with pytest.raises(mla.KernelError) as e:
        kernel(c.q, c.kv_cache, c.block_table, lens, out=out)
    rc = _codes(kernel)["ERR_SEQ_LEN"]
    assert (e.value.code, e.value.name, e.value.meaning) == (rc.value, "ERR_SEQ_LEN", rc.meaning)
    assert f"returned {rc.value} (ERR_SEQ_LEN): {rc.meaning}" in str(e.value)
    assert np.all(out == 3.0), "the kernel wrote although it refused the call"


def test_negative_page_and_scale(f32_case):
    kernel, c = f32_case
    table = c.block_table.copy()
    table[1, 0] = -1  # sequence 1 has one token: a used slot
    with pytest.raises(mla.KernelError, match="ERR_BLOCK_ID"):
        kernel(c.q, c.kv_cache, table, c.seq_lens)
    with pytest.raises(mla.KernelError, match="ERR_SCALE"):
        kernel(*c.arrays(), softmax_scale=float("nan"))


def test_page_beyond_cache(f32_case):
    """The kernel cannot see the cache's size; the call checks page ids
    against kv_cache.shape[0] in the slots a sequence uses."""
    kernel, c = f32_case
    table = c.block_table.copy()
    pages = len(c.kv_cache)
    table[6, 2] = pages  # sequence 6 has 2 * 64 + 7 tokens: three pages
    with pytest.raises(ValueError, match=rf"block_table\[6, 2\] = {pages} is not a page of "
                       rf"kv_cache \(num_blocks = {pages}\); sequence 6 uses 3 pages"):
        kernel(c.q, c.kv_cache, table, c.seq_lens)
    table[6, 2], table[0, 0] = c.block_table[6, 2], 10 ** 6  # sequence 0 is empty: unused
    kernel(c.q, c.kv_cache, table, c.seq_lens)


# --- GPU kernels without a GPU ------------------------------------------------------------

@pytest.mark.skipif(not HAVE_PTXAS, reason="no ptxas (CUDA toolkit) to assemble GPU kernels")
def test_gpu_kernel_refuses_host_arrays(codegen, rng):
    kernel = mla.compile_decode(16, dtype="bf16", target="sm_90a")
    assert kernel.abi.memory == "device" and kernel.target == "sm_90a"
    c = make_case(rng, kernel)
    with pytest.raises(ValueError, match=r"q: the \w+ kernel \(sm_90a\) reads device memory: "
                       r"expected a CUDA torch tensor, got a numpy array"):
        kernel(*c.arrays())


@pytest.mark.skipif(not HAVE_PTXAS, reason="no ptxas (CUDA toolkit) to assemble GPU kernels")
def test_gpu_sparse_fp8_kernel(codegen):
    """DeepSeek-V3.2's decode (top 2048 over fp8 rows) compiles for a GPU: a
    SparseDecodeKernel on device memory with the 656-byte rows."""
    kernel = mla.compile_decode(128, dtype="bf16", target="sm_90a", topk=2048,
                                cache_scales="row_groups")
    assert isinstance(kernel, mla.SparseDecodeKernel)
    assert kernel.abi.memory == "device" and kernel.topk == 2048
    assert kernel.abi.params["cache_row_bytes"] == 656
    assert kernel.abi.kernel["form"] == "mma_sync"


@pytest.mark.skipif(not HAVE_PTXAS, reason="no ptxas (CUDA toolkit) to assemble GPU kernels")
def test_gpu_deepseek_v32_fp8_layer_decode(codegen):
    """The decode kernel of the DeepSeek-V3.2 layer that mla.layer writes
    (the indexer's top 2048 over fp8 rows) compiles for sm_80 and sm_90a."""
    config = json.loads((REPO / "examples" / "configs" / "deepseek-v3.2.json").read_text())
    layer = mla.Layer(mla.read_config(config), dtype="bf16", q_len=1, block_size=64,
                      kv_cache="fp8")
    for target in ("sm_80", "sm_90a"):
        decode = mla.compile(layer, target=target).decode
        assert isinstance(decode, mla.SparseDecodeKernel) and decode.topk == 2048
        assert decode.abi.params["cache_row_bytes"] == 656
        assert decode.abi.kernel["form"] == "mma_sync"


# --- the compile cache --------------------------------------------------------------------

SMALL = dict(num_heads=1, kv_lora_rank=256, qk_rope_head_dim=32, block_size=16, dtype="f32")


def _count_codegen_runs(monkeypatch):
    runs = []
    real = subprocess.run

    def counting(cmd, *args, **kwargs):
        if "-o" in cmd:
            runs.append(cmd)
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr(mla.compiler.subprocess, "run", counting)
    return runs


def test_cache_reuse(codegen, tmp_path, monkeypatch, rng):
    runs = _count_codegen_runs(monkeypatch)
    first = mla.compile_decode(**SMALL, cache_dir=tmp_path)
    assert len(runs) == 1
    monkeypatch.setattr(mla.compiler, "_memo", {})  # as a new process would
    again = mla.compile_decode(**SMALL, cache_dir=tmp_path)
    assert len(runs) == 1, "the cached kernel was generated again"
    assert again.abi.directory == first.abi.directory
    entries = os.listdir(tmp_path)
    assert len(entries) == 1 and not entries[0].startswith(".tmp")
    meta = json.loads((Path(first.abi.directory) / ".mla-cache.json").read_text())
    assert {"codegen", "host", "options", "source"} <= set(meta)
    assert "--block-size=16" in meta["options"]
    mla.compile_decode(**{**SMALL, "block_size": 32}, cache_dir=tmp_path)
    assert len(runs) == 2 and len(os.listdir(tmp_path)) == 2
    c = make_case(rng, again)
    assert_matches(*again(*c.arrays()), *c.reference(again.default_softmax_scale, False), "f32")


def test_concurrent_processes(codegen, tmp_path):
    """Two processes generating one kernel into one cache at once: both get
    it, one entry remains, no temporary directory is left."""
    script = textwrap.dedent("""
        import sys, mla
        k = mla.compile_decode(1, kv_lora_rank=256, qk_rope_head_dim=32, dtype="f32",
                               q_len=3, cache_dir=sys.argv[1])
        print(k.abi.directory)
    """)
    env = dict(os.environ, MLA_CODEGEN=codegen,
               PYTHONPATH=os.pathsep.join([str(REPO / "python"), os.environ.get("PYTHONPATH", "")]))
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
    assert results[0][0] == results[1][0]
    assert os.listdir(tmp_path) == [os.path.basename(results[0][0].strip())]


def test_compile_error(codegen, tmp_path):
    with pytest.raises(mla.CompileError, match=r"kv_lora_rank = 100") as e:
        mla.compile_decode(1, kv_lora_rank=100, qk_rope_head_dim=64, dtype="f32",
                           cache_dir=tmp_path)
    assert "kv_lora_rank = 100" in e.value.stderr and e.value.returncode != 0
    assert os.listdir(tmp_path) == []


def test_bad_parameters_refused_before_codegen():
    with pytest.raises(ValueError, match="dtype 'f64' is not supported"):
        mla.compile_decode(16, dtype="f64")
    with pytest.raises(ValueError, match="target 'sm_70'"):
        mla.compile_decode(16, target="sm_70")
    with pytest.raises(ValueError, match="tensor_parallel = 3 does not divide num_heads = 16"):
        mla.compile_decode(16, tensor_parallel=3)


def test_find_codegen(monkeypatch, tmp_path):
    monkeypatch.setenv("MLA_CODEGEN", str(tmp_path / "nothing"))
    with pytest.raises(mla.CompileError, match="MLA_CODEGEN=.*nothing is not an executable"):
        mla.find_codegen()
    monkeypatch.delenv("MLA_CODEGEN")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(mla.compiler, "_dev_tree_codegen", lambda: str(tmp_path / "build/x"))
    with pytest.raises(mla.CompileError) as e:
        mla.find_codegen()
    for where in ("MLA_CODEGEN", "PATH", str(tmp_path / "build/x")):
        assert where in str(e.value)


# --- dialect sources and the layer function -----------------------------------------------

class FakeLayer:
    """What the config side's Layer objects offer compile()."""
    name = "deepseek_v2_lite_decode"

    def to_mlir(self):
        return EXAMPLE.read_text()


def test_compile_text_and_objects(codegen, monkeypatch):
    compiled = mla.compile(FakeLayer(), tensor_parallel=2)
    assert compiled.layer is None
    assert compiled.decode.num_heads == 8 and compiled.decode.causal
    assert (compiled.decode.kv_lora_rank, compiled.decode.qk_rope_head_dim) == (512, 64)
    runs = _count_codegen_runs(monkeypatch)
    again = mla.compile(EXAMPLE.read_text(), tensor_parallel=2)  # the same text and name
    assert again.directory == compiled.directory and runs == []


def test_compile_errors_from_dialect(codegen):
    with pytest.raises(mla.CompileError, match="expected one mla.decode_attention") as e:
        mla.compile("func.func @nothing() {\n  return\n}\n")
    assert "<mlir source>" in e.value.stderr and ".tmp-" not in e.value.stderr
    with pytest.raises(ValueError, match="CPU only"):
        mla.compile(EXAMPLE, target="sm_90a", layer=True)
    with pytest.raises(FileNotFoundError):
        mla.compile("no/such/file.mlir")


def test_layer(codegen, rng):
    compiled = mla.compile(EXAMPLE, layer=True)
    layer, decode = compiled.layer, compiled.decode
    assert layer.hidden_size == 2048 and len(layer.weights) == 8
    assert decode.num_heads == 16 and decode.dtype == "bf16"
    hidden, positions, cache, table, seq_lens, weights = layer_inputs(rng, layer)
    batch = len(seq_lens)
    before = cache.copy()
    out = layer(hidden, positions, cache, table, seq_lens, weights)
    assert out.shape == (batch, 1, 2048) and out.dtype == np.uint16
    assert np.all(np.isfinite(mla.from_bf16(out)))
    # The new tokens' rows were appended in place, nothing else changed.
    written = [(3, 4), (2, 5)]  # (page, row) of positions 4 and 69
    changed = np.argwhere(np.any(cache != before, axis=-1))
    assert sorted(map(tuple, changed)) == sorted(written)
    with pytest.raises(ValueError, match="weights: expected 8 arrays, got 7"):
        layer(hidden, positions, cache, table, seq_lens, weights[:7])
    bad = list(weights)
    bad[7] = weights[7][:1024]
    # NAME.json names the weights (the dialect file's mla.name).
    assert [w.name for w in layer.weights][-1] == "w_o"
    with pytest.raises(ValueError, match=r"weights\[7\] \(w_o\): expected shape \[2048, 2048\], "
                       r"got \(1024, 2048\)"):
        layer(hidden, positions, cache, table, seq_lens, bad)
    with pytest.raises(mla.KernelError, match="ERR_BLOCK_ID"):
        layer(hidden, positions, cache, np.array([[3, -1], [0, 9]], np.int32), seq_lens,
              weights)


def test_load_existing_directory(codegen):
    kernel = f32_kernel()
    loaded = mla.load(kernel.abi.directory)
    assert loaded.decode.symbol == kernel.symbol and loaded.layer is None
    abi = mla.load_abi(Path(kernel.abi.directory) / f"{kernel.symbol}.json")
    assert abi.decode.args[0].name == "q" and abi.dims["row_width"] == 576


def test_import_without_torch():
    """The package and the numpy path never import torch."""
    code = ("import sys, mla, mla.compiler, mla.kernel, mla.flash_mla; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_ml_dtypes_bf16(codegen, rng):
    """With ml_dtypes, bf16 numpy arrays can be real bfloat16 arrays; the
    outputs then are too."""
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes is not installed")
    kernel = mla.compile_decode(**GRID[0])
    c = make_case(rng, kernel)
    q = c.q.view(ml_dtypes.bfloat16)
    out, lse = kernel(q, c.kv_cache.view(ml_dtypes.bfloat16), c.block_table, c.seq_lens)
    assert out.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(mla.to_bf16(q.astype(np.float32)), c.q)
    assert_matches(out.view(np.uint16), lse, *c.reference(kernel.default_softmax_scale, False),
                   "bf16")


def test_scratch_allocation_failure_is_a_code(codegen, tmp_path):
    """A split scratch that cannot be allocated is ERR_ALLOC (12), not an
    exception through the C entry that ends the process: 1000 sequences of
    4096 tokens (sharing 64 pages) forced to 256 splits need 8.4 GB of
    partials, in a process limited to 3 GiB of address space. The next,
    smaller call still works."""
    import subprocess
    import sys
    import textwrap
    kernel = mla.compile_decode(num_heads=16, kv_lora_rank=512, qk_rope_head_dim=64,
                                dtype="f32", block_size=64)
    script = textwrap.dedent(f"""
        import resource, numpy as np, mla
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
        k = mla.load({kernel.abi.directory!r}).decode
        batch = 1000
        q = np.zeros((batch, 1, 16, 576), np.float32)
        cache = np.zeros((64, 64, 576), np.float32)
        table = np.tile(np.arange(64, dtype=np.int32), (batch, 1))
        lens = np.full(batch, 4096, np.int32)
        try:
            k(q, cache, table, lens)
            print("no error")
        except mla.KernelError as e:
            print(e.name, e.code)
        out, lse = k(q[:2], cache, table[:2], lens[:2])
        print("small call", np.allclose(lse, np.log(4096)))
    """)
    env = dict(os.environ, MLA_CPU_NUM_SPLITS="256", OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split("\n")[:2] == ["ERR_ALLOC 12", "small call True"], r.stdout


def test_concurrent_calls_match_serial(codegen):
    """One kernel called from several threads at once (ctypes releases the
    GIL) gives each thread exactly its serial result: the split scratch is
    per thread, nothing else is shared (NAME.h says so)."""
    import threading
    kernel = mla.compile_decode(num_heads=16, kv_lora_rank=512, qk_rope_head_dim=64,
                                dtype="f32", block_size=64)
    rng = np.random.default_rng(5)
    cases = []
    for t in range(4):
        batch = 3 + t
        q = rng.standard_normal((batch, 1, 16, 576)).astype(np.float32)
        cache = rng.standard_normal((64, 64, 576)).astype(np.float32)
        table = rng.permutation(64)[:batch * 8].reshape(batch, 8).astype(np.int32)
        lens = rng.integers(1, 8 * 64, batch).astype(np.int32)
        cases.append((q, cache, table, lens))
    serial = [kernel(*c) for c in cases]
    results, errors = {}, []
    start = threading.Barrier(len(cases))

    def work(i):
        try:
            start.wait()
            results[i] = [kernel(*cases[i]) for _ in range(5)]
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cases))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    for i, (out, lse) in enumerate(serial):
        for o, l in results[i]:
            np.testing.assert_array_equal(o, out)
            np.testing.assert_array_equal(l, lse)
    header = Path(kernel.abi.directory, kernel.abi.raw["header"]).read_text()
    assert "Thread-safe" in header


def test_layer_allocation_failure_is_a_code(codegen, tmp_path):
    """The layer function's own buffers come from the generated code's
    mallocs, routed through NAME_layer_malloc: a failed one returns
    ERR_ALLOC (12) from NAME_layer instead of a null pointer written through.
    100000 one-token sequences need ~20 MB per intermediate; the process may
    grow by 16 MB. A small call afterwards still works."""
    import subprocess
    import sys
    import textwrap
    cfg = mla.read_config(dict(model_type="deepseek_v3", hidden_size=64, num_attention_heads=4,
                               q_lora_rank=48, kv_lora_rank=32, qk_nope_head_dim=16,
                               qk_rope_head_dim=16, v_head_dim=16))
    layer = mla.compile(mla.Layer(cfg, dtype="f32", q_len=1, block_size=4), layer=True).layer
    script = textwrap.dedent(f"""
        import resource, numpy as np, mla
        k = mla.load({layer.abi.directory!r}).layer
        rng = np.random.default_rng(0)
        weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.1 for w in k.weights]
        def inputs(batch):
            return (np.ones((batch, 1, 64), np.float32), np.zeros((batch, 1), np.int32),
                    np.zeros((1, 4, 48), np.float32), np.zeros((batch, 1), np.int32),
                    np.ones(batch, np.int32), weights)
        k(*inputs(2))  # loads the library (and what it links) before the limit
        big = 100000
        args = inputs(big)  # the inputs and the output exist before the limit
        out = np.zeros((big, 1, 64), np.float32)
        vm = int([l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1])
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, ((vm << 10) + (16 << 20), hard))
        try:
            k(*args, out=out)
            print("no error")
        except mla.KernelError as e:
            print(e.name, e.code)
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
        print("small call", bool(np.all(np.isfinite(k(*inputs(2))))))
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split("\n")[:2] == ["ERR_ALLOC 12", "small call True"], r.stdout


def test_checked_entry_refuses_pages_beyond_the_cache(codegen, rng):
    """NAME_checked (CPU) takes the cache's page count: a used page id at or
    beyond it is ERR_BLOCK_ID before anything is read, num_blocks < 0 is
    ERR_MAX_BLOCKS, and a valid call gives NAME's results."""
    import ctypes
    kernel = f32_kernel()
    assert kernel.abi.checked is not None
    lib = ctypes.CDLL(kernel.abi.library)
    checked = getattr(lib, kernel.abi.checked.symbol)
    plain = getattr(lib, kernel.abi.symbol)
    for fn, with_pages in ((checked, True), (plain, False)):
        fn.restype = ctypes.c_int32
        args = [ctypes.c_void_p, ctypes.c_void_p] + ([ctypes.c_int32] if with_pages else [])
        fn.argtypes = args + [ctypes.c_void_p] * 4 + [ctypes.c_int32, ctypes.c_int32,
                                                     ctypes.c_float, ctypes.c_void_p]
    p = kernel.abi.params
    H, q_len, dc, dr, bs = (p["num_heads"], p["q_len"], p["kv_lora_rank"],
                            p["qk_rope_head_dim"], p["block_size"])
    q = rng.standard_normal((2, q_len, H, dc + dr)).astype(np.float32)
    cache = rng.standard_normal((6, bs, dc + dr)).astype(np.float32)
    table = np.array([[0, 5, 2], [3, 1, 4]], np.int32)
    lens = np.array([2 * bs + 1, 3 * bs], np.int32)

    def call(fn, num_blocks=None, table=table):
        out = np.full((2, q_len, H, dc), 7.0, np.float32)
        lse = np.full((2, H, q_len), 7.0, np.float32)
        ptrs = [a.ctypes.data for a in (q, cache)]
        rest = [a.ctypes.data for a in (table, lens, out, lse)]
        extra = [num_blocks] if num_blocks is not None else []
        code = fn(*ptrs, *extra, *rest, 2, 3, 0.1, None)
        return code, out, lse

    code, out, lse = call(checked, 6)
    ref_code, ref_out, ref_lse = call(plain)
    assert code == ref_code == 0
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(lse, ref_lse)
    code, out, _ = call(checked, 5)  # page 5 of sequence 0 is beyond 5 pages
    assert code == 7 and np.all(out == 7.0)  # nothing written
    assert call(checked, -1)[0] == 3
    # An unused slot may hold anything.
    assert call(checked, 6, np.array([[0, 5, 2], [3, 1, 4000]], np.int32))[0] == 7
    lens[1] = 2 * bs
    assert call(checked, 6, np.array([[0, 5, 2], [3, 1, 4000]], np.int32))[0] == 0
    lens[1] = 3 * bs
