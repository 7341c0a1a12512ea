"""Generated kernels called with torch tensors: results, checks, the
mla::decode custom op under torch.compile and opcheck."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (the mla package works "
                            "without it; these tests need it)")

import mla  # noqa: E402
from conftest import GRID, assert_matches, grid_id, layer_inputs, make_case, to_torch  # noqa: E402
from test_kernel import EXAMPLE  # noqa: E402

HAVE_PTXAS = os.path.exists("/usr/local/cuda/bin/ptxas") or shutil.which("ptxas") is not None


@pytest.mark.parametrize("params", GRID, ids=grid_id)
def test_matches_reference(codegen, rng, params):
    kernel = mla.compile_decode(**params)
    case = make_case(rng, kernel)
    q, kv, table, lens = case.tensors()
    scale = 1.3 * kernel.head_dim ** -0.5
    out, lse = kernel(q, kv, table, lens, softmax_scale=scale)
    assert isinstance(out, torch.Tensor) and out.dtype == q.dtype and lse.dtype == torch.float32
    assert out.shape == (len(case.seq_lens), kernel.q_len, kernel.num_heads, kernel.kv_lora_rank)
    assert_matches(out, lse, *case.reference(scale, kernel.causal), kernel.dtype)


def test_outputs_given_are_written(codegen, rng):
    kernel = mla.compile_decode(**GRID[0])  # bf16
    case = make_case(rng, kernel)
    q, kv, table, lens = case.tensors()
    out = torch.full((7, 1, 16, 512), 5.0, dtype=torch.bfloat16)
    lse = torch.empty((7, 16, 1))
    got = kernel(q, kv, table, lens, out=out, lse=lse)
    assert got[0] is out and got[1] is lse
    assert_matches(out, lse, *case.reference(kernel.default_softmax_scale, False), "bf16")


def test_bf16_helpers_agree_with_torch():
    x = np.random.default_rng(3).standard_normal(4096).astype(np.float32) * 100
    x[:4] = [1 + 2 ** -8, 1 + 3 * 2 ** -8, np.inf, -0.0]
    ours = mla.to_bf16(x)
    theirs = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(mla.from_bf16(ours),
                                  to_torch(ours).float().numpy())


def test_checks(codegen, rng):
    kernel = mla.compile_decode(**GRID[1])  # f32
    q, kv, table, lens = make_case(rng, kernel).tensors()
    with pytest.raises(TypeError, match=r"block_table: expected dtype i32 \(torch.int32\), got "
                       r"torch.int64 on cpu"):
        kernel(q, kv, table.long(), lens)
    with pytest.raises(TypeError, match=r"q: expected dtype f32 \(torch.float32\), got "
                       r"torch.bfloat16"):
        kernel(q.bfloat16(), kv, table, lens)
    with pytest.raises(ValueError, match=r"kv_cache: must be contiguous"):
        kernel(q, kv.transpose(0, 1).contiguous().transpose(0, 1), table, lens)
    with pytest.raises(ValueError, match=r"q: expected shape \[batch, 1, 16, 576\]"):
        kernel(q[:, :, :8].contiguous(), kv, table, lens)
    # numpy and CPU tensors mix on the CPU; outputs follow q.
    out, _ = kernel(q, kv.numpy(), table, lens.numpy())
    assert isinstance(out, torch.Tensor)


@pytest.mark.skipif(not HAVE_PTXAS, reason="no ptxas (CUDA toolkit) to assemble GPU kernels")
def test_gpu_kernel_refuses_cpu_tensors(codegen, rng):
    kernel = mla.compile_decode(16, dtype="bf16", target="sm_90a")
    q, kv, table, lens = make_case(rng, kernel).tensors()
    with pytest.raises(ValueError, match=r"q: the \w+ kernel \(sm_90a\) reads device memory: "
                       r"expected a CUDA torch tensor, got a CPU tensor"):
        kernel(q, kv, table, lens)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a GPU")
def test_cpu_kernel_refuses_other_devices(codegen, rng):
    kernel = mla.compile_decode(**GRID[1])
    q, kv, table, lens = make_case(rng, kernel).tensors()
    with pytest.raises(ValueError, match=r"q: the \w+ kernel \(cpu\) reads host memory: expected "
                       r"a numpy array or a CPU tensor, got a tensor on meta"):
        kernel.run(q.to("meta"), kv, table, lens)


def test_custom_op_fake_shapes(codegen, rng):
    from torch._subclasses.fake_tensor import FakeTensorMode
    kernel = mla.compile_decode(**GRID[2])  # q_len 2, 1 head, 256/32
    q, kv, table, lens = make_case(rng, kernel).tensors()
    with FakeTensorMode() as mode:
        args = [mode.from_tensor(t) for t in (q, kv, table, lens)]
        out, lse = torch.ops.mla.decode(*args, kernel.key, 0.1)
    assert out.shape == (7, 2, 1, 256) and out.dtype == torch.float32
    assert lse.shape == (7, 1, 2) and lse.dtype == torch.float32


def test_opcheck(codegen, rng):
    kernel = mla.compile_decode(**GRID[3])  # bf16, q_len 2 causal
    q, kv, table, lens = make_case(rng, kernel).tensors()
    torch.library.opcheck(torch.ops.mla.decode.default, (q, kv, table, lens, kernel.key, 0.05))


def test_torch_compile_fullgraph(codegen, rng):
    kernel = mla.compile_decode(**GRID[4])  # f32, q_len 2 causal
    case = make_case(rng, kernel)
    q, kv, table, lens = case.tensors()

    def step(q, kv, table, lens):
        out, lse = kernel(q * 2, kv, table, lens, softmax_scale=0.03)
        return out.sum(-1), torch.where(torch.isinf(lse), 0.0, lse)

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    got = compiled(q, kv, table, lens)
    want = step(q, kv, table, lens)
    torch.testing.assert_close(got, want)
    # The compiled function called the kernel: compare with the reference.
    ref_out, ref_lse = mla_reference(case, q * 2, 0.03, kernel.causal)
    np.testing.assert_allclose(got[0].numpy(), ref_out.sum(-1), rtol=1e-4, atol=1e-3)


def mla_reference(case, q, scale, causal):
    from conftest import reference_decode
    return reference_decode(q.double().numpy(), case.ref_cache, case.block_table,
                            case.seq_lens, scale, case.d_c, causal)


def test_torch_compile_dynamic_batch(codegen, rng):
    kernel = mla.compile_decode(**GRID[1])
    q, kv, table, lens = make_case(rng, kernel).tensors()
    compiled = torch.compile(lambda *a: kernel(*a)[0], fullgraph=True, backend="aot_eager",
                             dynamic=True)
    for batch in (7, 3):
        torch.testing.assert_close(compiled(q[:batch], kv, table[:batch], lens[:batch]),
                                   kernel(q[:batch], kv, table[:batch], lens[:batch])[0])


def test_layer_op(codegen, rng):
    """NAME_layer through mla::layer: eager and under torch.compile it
    returns the ctypes call's output and writes the same cache rows."""
    layer = mla.compile(EXAMPLE, layer=True).layer
    args = [to_torch(a) for a in layer_inputs(rng, layer)[:5]]
    weights = [to_torch(w) for w in layer_inputs(rng, layer)[5]]
    hidden, positions, cache, table, lens = args
    want_cache = cache.clone()
    want = layer.run(hidden, positions, want_cache, table, lens, weights)
    assert not torch.equal(want_cache, cache)

    eager_cache = cache.clone()
    torch.testing.assert_close(layer(hidden, positions, eager_cache, table, lens, weights), want,
                               rtol=0, atol=0)
    assert torch.equal(eager_cache, want_cache)

    step = torch.compile(lambda h, p, c, t, n, *w: layer(h, p, c, t, n, w).float() * 2,
                         fullgraph=True, backend="aot_eager")
    compiled_cache = cache.clone()
    got = step(hidden, positions, compiled_cache, table, lens, *weights)
    torch.testing.assert_close(got, want.float() * 2, rtol=0, atol=0)
    assert torch.equal(compiled_cache, want_cache)


def test_head_caches_ops(codegen, rng):
    """GQA over head caches through mla::decode_heads: opcheck, fake shapes,
    and torch.compile(fullgraph) giving the eager call's values."""
    kernel = mla.compile_decode(8, num_kv_heads=2, head_dim=64, q_len=2, block_size=16,
                                dtype="f32", causal=True)
    bs, pages = kernel.block_size, 6
    lens = torch.tensor([0, 3, 40, 90], dtype=torch.int32)
    table = torch.from_numpy(rng.permutation(4 * pages).astype(np.int32).reshape(4, pages))
    k = torch.from_numpy(rng.uniform(-1, 1, (4 * pages, bs, 2, 64)).astype(np.float32))
    v = torch.from_numpy(rng.uniform(-1, 1, (4 * pages, bs, 2, 64)).astype(np.float32))
    q = torch.from_numpy(rng.uniform(-1, 1, (4, 2, 8, 64)).astype(np.float32))
    torch.library.opcheck(torch.ops.mla.decode_heads.default,
                          (q, k, v, table, lens, kernel.key, 0.1))
    want = kernel.run(q, k, v, table, lens, 0.1)
    got = kernel(q, k, v, table, lens, softmax_scale=0.1)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    compiled = torch.compile(lambda *a: kernel(*a, softmax_scale=0.1)[0] * 2, fullgraph=True,
                             backend="aot_eager")
    torch.testing.assert_close(compiled(q, k, v, table, lens), want[0] * 2, rtol=0, atol=0)


def test_head_caches_layer_op(codegen, rng):
    """A Llama decode layer through mla::layer_heads: eager and compiled, the
    ctypes call's output and the same rows written to both caches."""
    from mla.layer import Layer
    from transformers import LlamaConfig
    config = LlamaConfig(hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                         head_dim=16, num_hidden_layers=1, vocab_size=128,
                         intermediate_size=64)
    layer_def = Layer.from_config(config, dtype="f32", block_size=4)
    layer = mla.compile(layer_def, layer=True).layer
    assert isinstance(layer, mla.HeadsLayerKernel)
    weights = [torch.from_numpy(rng.standard_normal(w.shape).astype(np.float32) * 0.1)
               for w in layer.weights]
    hidden = torch.from_numpy(rng.standard_normal((2, 1, 64)).astype(np.float32))
    positions = torch.tensor([[5], [2]], dtype=torch.int32)
    lens = torch.tensor([6, 3], dtype=torch.int32)
    table = torch.tensor([[0, 2], [1, -1]], dtype=torch.int32)
    k = torch.from_numpy(rng.uniform(-1, 1, (3, 4, 2, 16)).astype(np.float32))
    v = torch.from_numpy(rng.uniform(-1, 1, (3, 4, 2, 16)).astype(np.float32))
    want_k, want_v = k.clone(), v.clone()
    want = layer.run(hidden, positions, want_k, want_v, table, lens, weights)
    assert not torch.equal(want_k, k) and not torch.equal(want_v, v)
    for step in (layer, torch.compile(lambda *a: layer(*a[:6], a[6:]), fullgraph=True,
                                      backend="aot_eager")):
        kk, vv = k.clone(), v.clone()
        got = (step(hidden, positions, kk, vv, table, lens, weights) if step is layer
               else step(hidden, positions, kk, vv, table, lens, *weights))
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        assert torch.equal(kk, want_k) and torch.equal(vv, want_v)
