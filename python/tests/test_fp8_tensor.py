"""One fp8 scale for the whole latent cache (compile_decode(cache_scales=
"per_tensor")): the cache holds e4m3fn codes, rope included, uint8
[num_blocks, block_size, d_c + d_r], and every call takes kv_scale (value =
code * kv_scale). Dense (block table) and sparse (token indices) kernels
against the float64 references of conftest.py and test_sparse.py, computed
on mla.fp8.decode_tensor's exact values; the kv_scale argument checks; the
mla.fp8 per-tensor encoding; and the GPU kernels' compiles."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

import mla
from conftest import Case, assert_matches, reference_decode, seq_lens_for, to_float, to_kernel
from test_sparse import make_case as sparse_case, sparse_reference

HAVE_PTXAS = os.path.exists("/usr/local/cuda/bin/ptxas") or shutil.which("ptxas") is not None

HEADS, D_C, D_R, PAGE, TOPK = 16, 128, 32, 16, 48

# The kv_scales each kernel runs with: the data's own (amax / 448), one that
# sends most codes to the subnormals (|x| / 64 < 2^-6 for |x| < 1) or to
# zero, and one that saturates every |x| above 448 * 0.004 = 1.792.
SCALES = {"tensor": None, "subnormal": 64.0, "saturating": 0.004}


def _kv_scale(which, rows):
    return mla.fp8.tensor_scale(rows) if SCALES[which] is None else SCALES[which]


# --- kernels (compiled once for the module) -------------------------------------------

@pytest.fixture(scope="module")
def dense_kernels(codegen):
    """{dtype: per_tensor dense kernel}: bf16 q_len 1, f32 q_len 2 causal."""
    return {
        "bf16": mla.compile_decode(HEADS, D_C, D_R, q_len=1, block_size=PAGE, dtype="bf16",
                                   cache_scales="per_tensor"),
        "f32": mla.compile_decode(HEADS, D_C, D_R, q_len=2, block_size=PAGE, dtype="f32",
                                  causal=True, cache_scales="per_tensor"),
    }


@pytest.fixture(scope="module")
def sparse_kernels(codegen):
    """{dtype: per_tensor sparse kernel}: bf16 q_len 1, f32 q_len 2."""
    return {
        "bf16": mla.compile_decode(HEADS, D_C, D_R, q_len=1, block_size=PAGE, dtype="bf16",
                                   topk=TOPK, cache_scales="per_tensor"),
        "f32": mla.compile_decode(HEADS, D_C, D_R, q_len=2, block_size=PAGE, dtype="f32",
                                  topk=TOPK, cache_scales="per_tensor"),
    }


@pytest.fixture(scope="module")
def plain_kernel(codegen):
    """The dense f32 kernel of the same sizes on an f32 cache (no scale)."""
    return mla.compile_decode(HEADS, D_C, D_R, q_len=2, block_size=PAGE, dtype="f32",
                              causal=True)


def _dense_case(kernel, seed=7):
    """A conftest Case (NaN in every row no query may see) whose cache is
    then encoded: (case, float rows [num_blocks, block_size, width])."""
    rng = np.random.default_rng(seed)
    case = Case(rng, kernel.num_heads, kernel.q_len, D_C, D_R, PAGE,
                seq_lens_for(kernel.q_len, PAGE), "f32")
    return case, case.kv_cache


# --- results ----------------------------------------------------------------------------

def test_kernel_description(dense_kernels, sparse_kernels):
    for kernel in (*dense_kernels.values(), *sparse_kernels.values()):
        assert kernel.cache_scales == "per_tensor" and kernel.scale_group is None
        assert kernel.abi.params["cache_scales"] == "per_tensor"
        args = {a.name: a for a in kernel.abi.decode.args}
        assert args["kv_cache"].dtype == "u8"
        assert args["kv_cache"].shape == ("num_blocks", PAGE, D_C + D_R)
        assert args["kv_scale"].kind == "scalar" and args["kv_scale"].dtype == "f32"
        names = [a.name for a in kernel.abi.decode.args]
        assert names.index("kv_scale") == names.index("softmax_scale") + 1
        assert "fp8 / kv_scale" in repr(kernel)
    assert isinstance(sparse_kernels["f32"], mla.SparseDecodeKernel)
    assert sparse_kernels["f32"].topk == TOPK
    assert not isinstance(dense_kernels["f32"], mla.SparseDecodeKernel)


@pytest.mark.parametrize("which", list(SCALES))
@pytest.mark.parametrize("dtype", ["bf16", "f32"])
def test_dense_matches_reference(dense_kernels, dtype, which):
    """Block-table decode over encode_tensor's codes, against float64 on
    decode_tensor's values (the codes' exact values; NaN codes in every row
    no query may see)."""
    kernel = dense_kernels[dtype]
    case, rows = _dense_case(kernel)
    kv_scale = _kv_scale(which, rows)
    codes = mla.fp8.encode_tensor(rows, kv_scale)
    assert codes.dtype == np.uint8 and codes.shape == rows.shape
    values = mla.fp8.decode_tensor(codes, kv_scale).astype(np.float64)
    assert np.array_equal(np.isnan(values), np.isnan(rows))
    q = to_kernel(case.q, dtype)
    scale = 0.7 * kernel.head_dim ** -0.5
    out, lse = kernel(q, codes, case.block_table, case.seq_lens, softmax_scale=scale,
                      kv_scale=kv_scale)
    batch = len(case.seq_lens)
    assert out.shape == (batch, kernel.q_len, HEADS, D_C) and out.dtype == q.dtype
    assert lse.shape == (batch, HEADS, kernel.q_len) and lse.dtype == np.float32
    ref = reference_decode(to_float(q), values, case.block_table, case.seq_lens, scale, D_C,
                           kernel.causal)
    assert_matches(out, lse, *ref, dtype)
    # Sequence 0 is empty: zeros and -inf.
    assert np.all(to_float(out)[0] == 0) and np.all(np.isneginf(lse[0]))


def test_codes_are_scaled(dense_kernels):
    """The same codes under kv_scale s and 2s: the scores double (so lse
    and out differ), and a softmax_scale halved with 2s gives the same
    probabilities, so out is exactly twice (up to rounding) and lse equal."""
    kernel = dense_kernels["f32"]
    case, rows = _dense_case(kernel, seed=11)
    s = mla.fp8.tensor_scale(rows)
    codes = mla.fp8.encode_tensor(rows, s)
    scale = kernel.head_dim ** -0.5
    out1, lse1 = kernel(case.q, codes, case.block_table, case.seq_lens, softmax_scale=scale,
                        kv_scale=s)
    out2, lse2 = kernel(case.q, codes, case.block_table, case.seq_lens,
                        softmax_scale=scale / 2, kv_scale=2 * s)
    np.testing.assert_allclose(out2, 2 * out1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lse2, lse1, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("which", ["tensor", "subnormal"])
@pytest.mark.parametrize("dtype", ["bf16", "f32"])
def test_sparse_matches_reference(sparse_kernels, dtype, which):
    """Token-index decode (-1 slots, repeats, one query row with no token,
    garbage past each sequence's valid slots) over the codes."""
    kernel = sparse_kernels[dtype]
    rng = np.random.default_rng(5)
    valid = [TOPK, TOPK // 2, 0, 1]
    q, cache, indices, lens = sparse_case(rng, HEADS, kernel.q_len, D_C, D_R, PAGE, TOPK,
                                          valid, "f32")
    q = to_kernel(q, dtype)
    kv_scale = _kv_scale(which, cache)
    codes = mla.fp8.encode_tensor(cache, kv_scale)
    values = mla.fp8.decode_tensor(codes, kv_scale).astype(np.float64)
    scale = (D_C + D_R) ** -0.5
    out, lse = kernel(q, codes, indices, lens, softmax_scale=scale, kv_scale=kv_scale)
    ref = sparse_reference(to_float(q), values.reshape(-1, D_C + D_R), indices, lens, scale,
                           D_C)
    assert_matches(out, lse, *ref, dtype)
    s_q = kernel.q_len
    assert np.all(np.isneginf(lse[0, :, s_q - 1])) and np.all(to_float(out)[0, s_q - 1] == 0)
    # seq_lens None: every slot valid (those past `valid` must name real rows).
    full = indices.copy()
    for b, n in enumerate(valid):
        full[b, :, n:] = -1
    out, lse = kernel(q, codes, full, softmax_scale=scale, kv_scale=kv_scale)
    ref = sparse_reference(to_float(q), values.reshape(-1, D_C + D_R), full,
                           np.full(len(valid), TOPK, np.int32), scale, D_C)
    assert_matches(out, lse, *ref, dtype)


def test_torch_tensors(dense_kernels):
    """CPU tensors with kv_scale run eagerly (no custom op) and match numpy."""
    torch = pytest.importorskip("torch", reason="torch is not installed")
    kernel = dense_kernels["f32"]
    case, rows = _dense_case(kernel)
    kv_scale = mla.fp8.tensor_scale(rows)
    codes = mla.fp8.encode_tensor(rows, kv_scale)
    out, lse = kernel(case.q, codes, case.block_table, case.seq_lens, kv_scale=kv_scale)
    t_out, t_lse = kernel(*(torch.from_numpy(a) for a in (case.q, codes, case.block_table,
                                                          case.seq_lens)),
                          kv_scale=kv_scale)
    assert isinstance(t_out, torch.Tensor) and isinstance(t_lse, torch.Tensor)
    np.testing.assert_array_equal(t_out.numpy(), out)
    np.testing.assert_array_equal(t_lse.numpy(), lse)
    with pytest.raises(ValueError, match="pass kv_scale"):
        kernel(*(torch.from_numpy(a) for a in (case.q, codes, case.block_table,
                                               case.seq_lens)))


# --- argument checks ------------------------------------------------------------------

BAD_SCALES = [0.0, -0.0, -1.0, float("inf"), float("-inf"), float("nan")]


@pytest.mark.parametrize("bad", BAD_SCALES, ids=repr)
def test_bad_kv_scale_refused(dense_kernels, sparse_kernels, bad):
    """kv_scale 0, negative, infinite or NaN: ValueError before the C call,
    outputs given untouched."""
    kernel = dense_kernels["f32"]
    case, rows = _dense_case(kernel)
    codes = mla.fp8.encode_tensor(rows, 1.0)
    out = np.full((len(case.seq_lens), kernel.q_len, HEADS, D_C), 3.0, np.float32)
    with pytest.raises(ValueError, match=r"kv_scale = .*: must be finite and positive"):
        kernel(case.q, codes, case.block_table, case.seq_lens, kv_scale=bad, out=out)
    assert np.all(out == 3.0)
    sparse = sparse_kernels["f32"]
    q, cache, indices, lens = sparse_case(np.random.default_rng(0), HEADS, sparse.q_len,
                                          D_C, D_R, PAGE, TOPK, [TOPK, 1], "f32")
    with pytest.raises(ValueError, match=r"kv_scale = .*: must be finite and positive"):
        sparse(q, mla.fp8.encode_tensor(cache, 1.0), indices, lens, kv_scale=bad)
    with pytest.raises(ValueError, match="must be finite and positive"):
        mla.fp8.encode_tensor(rows, bad)


def test_kv_scale_required(dense_kernels, sparse_kernels):
    kernel = dense_kernels["bf16"]
    case, rows = _dense_case(kernel)
    codes = mla.fp8.encode_tensor(rows, 1.0)
    q = to_kernel(case.q, "bf16")
    with pytest.raises(ValueError, match=r"reads e4m3 codes with one scale: pass kv_scale"):
        kernel(q, codes, case.block_table, case.seq_lens)
    with pytest.raises(ValueError, match=r"pass kv_scale"):
        kernel.run(q, codes, case.block_table, case.seq_lens)
    sparse = sparse_kernels["bf16"]
    q, cache, indices, lens = sparse_case(np.random.default_rng(0), HEADS, 1, D_C, D_R, PAGE,
                                          TOPK, [TOPK], "f32")
    with pytest.raises(ValueError, match=r"pass kv_scale"):
        sparse(to_kernel(q, "bf16"), mla.fp8.encode_tensor(cache, 1.0), indices, lens)


def test_kv_scale_refused_without_per_tensor(plain_kernel, dense_kernels):
    """A kernel on a cache of its dtype takes no kv_scale; a per_tensor
    kernel takes codes, not floats."""
    case, rows = _dense_case(plain_kernel)
    with pytest.raises(ValueError, match=r"kv_scale is only taken by a kernel whose cache "
                       r"has one fp8 scale \(cache_scales='per_tensor'\)"):
        plain_kernel(*case.arrays(), kv_scale=1.0)
    with pytest.raises(ValueError, match="kv_scale is only taken"):
        plain_kernel.run(*case.arrays(), kv_scale=0.5)
    plain_kernel(*case.arrays())  # and runs without one
    with pytest.raises(TypeError, match=r"kv_cache: expected dtype"):
        dense_kernels["f32"](case.q, rows, case.block_table, case.seq_lens, kv_scale=1.0)
    codes = mla.fp8.encode_tensor(rows, 1.0)
    with pytest.raises(ValueError, match=r"kv_cache: expected shape"):
        dense_kernels["f32"](case.q, codes[:, :, :D_C], case.block_table, case.seq_lens,
                             kv_scale=1.0)


def test_product_of_scales_not_finite(dense_kernels):
    """kv_scale and softmax_scale finite each but their product overflowing
    float: the C runtime's ERR_SCALE (code 6), nothing written."""
    kernel = dense_kernels["f32"]
    case, rows = _dense_case(kernel)
    codes = mla.fp8.encode_tensor(rows, 1.0)
    out = np.full((len(case.seq_lens), kernel.q_len, HEADS, D_C), 3.0, np.float32)
    with pytest.raises(mla.KernelError, match="ERR_SCALE") as e:
        kernel(case.q, codes, case.block_table, case.seq_lens, softmax_scale=1e30,
               kv_scale=1e30, out=out)
    assert e.value.code == 6
    assert np.all(out == 3.0), "the kernel wrote although it refused the call"


@pytest.mark.parametrize("bad", [1e39, 1e-50], ids=repr)
def test_kv_scale_beyond_float_refused(dense_kernels, bad):
    """A Python float that is finite and positive but inf or 0 as the C
    ABI's float32: refused by Python before the call, nothing written (and
    encode_tensor refuses it too)."""
    kernel = dense_kernels["f32"]
    case, rows = _dense_case(kernel)
    codes = mla.fp8.encode_tensor(rows, 1.0)
    out = np.full((len(case.seq_lens), kernel.q_len, HEADS, D_C), 3.0, np.float32)
    with pytest.raises(ValueError, match="float32"):
        kernel(case.q, codes, case.block_table, case.seq_lens, kv_scale=bad, out=out)
    assert np.all(out == 3.0)
    with pytest.raises(ValueError, match="float32"):
        mla.fp8.encode_tensor(rows, bad)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")], ids=repr)
def test_runtime_refuses_bad_kv_scale(dense_kernels, bad):
    """Past Python's check (the C entry called directly): ERR_SCALE."""
    kernel = dense_kernels["f32"]
    case, rows = _dense_case(kernel)
    codes = mla.fp8.encode_tensor(rows, 1.0)
    arrays, bindings = kernel.prepare(case.q, codes, case.block_table, case.seq_lens)
    with pytest.raises(mla.KernelError, match="ERR_SCALE") as e:
        kernel._entry.call(arrays, bindings,
                           scalars={"softmax_scale": kernel.default_softmax_scale,
                                    "kv_scale": bad}, stream=None)
    assert e.value.code == 6


def test_cache_scales_refused_by_compile_decode():
    for bad in ("per_row", "PER_TENSOR", "tensor", 1):
        with pytest.raises(ValueError, match=r"cache_scales = .*: expected None, 'none', "
                           r"'per_tensor' or 'row_groups'"):
            mla.compile_decode(HEADS, D_C, D_R, block_size=PAGE, cache_scales=bad)


# --- mla.fp8's per-tensor encoding ------------------------------------------------------

def _e4m3_table():
    """Every code's value, from the format's definition (bias 7, 3 mantissa
    bits, no infinities, s1111111 NaN)."""
    table = np.empty(256)
    for code in range(256):
        sign = -1.0 if code & 0x80 else 1.0
        e, m = (code >> 3) & 0xF, code & 7
        if code & 0x7F == 0x7F:
            table[code] = np.nan
        elif e == 0:
            table[code] = sign * m * 2.0 ** -9
        else:
            table[code] = sign * (1 + m / 8) * 2.0 ** (e - 7)
    return table


def test_decode_tensor_table():
    table = _e4m3_table()
    codes = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for s in (1.0, 0.25, 3.0e-3):
        got = mla.fp8.decode_tensor(codes, s)
        assert got.dtype == np.float32 and got.shape == (16, 16)
        np.testing.assert_array_equal(got.ravel(), (table * np.float32(s)).astype(np.float32))
    assert np.nanmax(table) == 448.0 and table[0x7E] == 448.0 and table[1] == 2.0 ** -9


def test_encode_tensor_round_trip(rng):
    table = _e4m3_table()
    x = (rng.standard_normal((3, 5, 160)) * np.exp(rng.standard_normal((3, 5, 160)))
         ).astype(np.float32)
    s = mla.fp8.tensor_scale(x)
    assert s == pytest.approx(float(np.abs(x).max()) / 448.0, rel=1e-7)
    codes = mla.fp8.encode_tensor(x, s)
    assert codes.dtype == np.uint8 and codes.shape == x.shape
    np.testing.assert_array_equal(codes, mla.fp8.to_e4m3(x / np.float32(s)))
    # The largest |x| is the largest code; nothing saturates.
    assert np.max(codes & 0x7F) == 0x7E
    back = mla.fp8.decode_tensor(codes, s)
    # Nearest: within half a step of the code (2^-4 relative among the
    # normals, 2^-10 absolute among the subnormals), times s.
    assert np.all(np.abs(back - x) <= (np.abs(x) * 2.0 ** -4 + 2.0 ** -10 * s) * (1 + 1e-6))
    # Every code is a nearest table value to x / s (a tie takes the even code).
    y = np.abs(x.astype(np.float64) / np.float32(s))
    dist = np.abs(y[..., None] - table[:127])  # codes 0 .. 126
    chosen = np.abs(np.abs(table[codes]) - y)
    assert np.all(chosen <= dist.min(axis=-1))
    ties = np.sum(dist == dist.min(axis=-1, keepdims=True), axis=-1) > 1
    assert np.all((codes[ties] & 1) == 0)
    # Codes decode to themselves.
    again = mla.fp8.encode_tensor(back, s)
    np.testing.assert_array_equal(again, codes)


def test_encode_tensor_matches_ml_dtypes(rng):
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes is not installed")
    x = np.concatenate([rng.standard_normal(4096) * 3, [0.0, -0.0, 1e-6, -2.0 ** -12]]
                       ).astype(np.float32)
    for s in (mla.fp8.tensor_scale(x), 0.5, 64.0):
        y = x / np.float32(s)
        theirs = np.clip(y, -448, 448).astype(ml_dtypes.float8_e4m3fn).view(np.uint8)
        np.testing.assert_array_equal(mla.fp8.encode_tensor(x, s), theirs)
        np.testing.assert_array_equal(
            mla.fp8.decode_tensor(theirs, s),
            theirs.view(ml_dtypes.float8_e4m3fn).astype(np.float32) * np.float32(s))


def test_encode_tensor_saturates_and_keeps_nan():
    s = 0.5
    x = np.array([448 * s, 448 * s * 1.03, 464 * s, 1e30, np.inf, -448 * s, -1e30, -np.inf,
                  np.nan, -np.nan, 0.0, -0.0], np.float32)
    codes = mla.fp8.encode_tensor(x, s)
    np.testing.assert_array_equal(codes[:5], [0x7E] * 5)
    np.testing.assert_array_equal(codes[5:8], [0xFE] * 3)
    assert codes[8] & 0x7F == 0x7F and codes[9] & 0x7F == 0x7F
    np.testing.assert_array_equal(codes[10:], [0x00, 0x80])
    back = mla.fp8.decode_tensor(codes, s)
    np.testing.assert_array_equal(back[:5], 448 * s)
    np.testing.assert_array_equal(back[5:8], -448 * s)
    assert np.all(np.isnan(back[8:10]))
    assert back[10] == 0 and back[11] == 0 and np.signbit(back[11])
    # Subnormal codes: the smallest is 2^-9 * s; below half of it, zero.
    tiny = np.array([2.0 ** -9 * s, 2.0 ** -10 * s, 2.0 ** -10 * s * 1.01, 2.0 ** -11 * s],
                    np.float32)
    np.testing.assert_array_equal(mla.fp8.encode_tensor(tiny, s), [1, 0, 1, 0])


def test_tensor_scale():
    assert mla.fp8.tensor_scale(np.zeros((2, 3))) == 1.0
    assert mla.fp8.tensor_scale(np.zeros((0, 3))) == 1.0
    assert mla.fp8.tensor_scale(np.array([1.0, -896.0, np.nan])) == pytest.approx(2.0)
    x = np.array([[0.25, -3.5], [1.0, 2.0]], np.float32)
    assert mla.fp8.tensor_scale(x) == pytest.approx(3.5 / 448)


# --- GPU kernels without a GPU --------------------------------------------------------

@pytest.mark.skipif(not HAVE_PTXAS, reason="no ptxas (CUDA toolkit) to assemble GPU kernels")
@pytest.mark.parametrize("topk", [None, 2048])
def test_gpu_per_tensor_kernel(codegen, topk):
    """DeepSeek's decode (128 heads, 512/64, pages of 64; dense and top
    2048) over e4m3 codes with one scale compiles for a GPU: a kernel on
    device memory taking u8 rows of 576 codes and kv_scale."""
    kernel = mla.compile_decode(128, dtype="bf16", target="sm_90a", topk=topk,
                                cache_scales="per_tensor")
    assert isinstance(kernel, mla.SparseDecodeKernel) == bool(topk)
    assert kernel.abi.memory == "device" and kernel.target == "sm_90a"
    assert kernel.cache_scales == "per_tensor"
    args = {a.name: a for a in kernel.abi.decode.args}
    assert args["kv_cache"].dtype == "u8" and args["kv_cache"].shape == ("num_blocks", 64, 576)
    assert args["kv_scale"].dtype == "f32"
    assert kernel.abi.kernel["form"] == "mma_sync"
    if topk:
        assert kernel.topk == 2048
    # Host arrays are refused before kv_scale is looked at (no driver needed).
    q = np.zeros((1, 1, 128, 576), np.uint16)
    codes = np.zeros((1, 64, 576), np.uint8)
    keys = (np.zeros((1, 1, 2048), np.int32) if topk else np.zeros((1, 1), np.int32))
    with pytest.raises(ValueError, match=r"reads device memory"):
        kernel(q, codes, keys, np.ones(1, np.int32), kv_scale=1.0)
