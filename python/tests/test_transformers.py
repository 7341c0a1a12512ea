"""Layers read from Hugging Face configs against transformers' own attention
classes: small random configs built with transformers' config classes (and
serialized the way config.json files are), random weights, a sequence run
through the transformers module at once (causal mask) and through our
compiled layer token by token over a paged latent cache (shuffled pages,
two sequences of different lengths in one batch). Every step's output must
match transformers' row for that position.

Also: tensor parallelism (the ranks' outputs sum to the whole layer's),
DeepSeek-V3 FP8 block-quantized weights, weight loading errors and
read_config's refusals.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
transformers = pytest.importorskip("transformers", reason="transformers is not installed")

import mla  # noqa: E402
from mla import ConfigError, Layer, from_state_dict, read_config  # noqa: E402
from mla.layer import emit_layer  # noqa: E402

F32_TOL = 1e-4
# bf16 kernels round inputs, weights, cache and intermediates to 8 bits of
# mantissa (relative step 2^-8 = 3.9e-3); errors accumulate over the
# projections, so 3e-2 of the largest output.
BF16_TOL = 3e-2
BLOCK = 4
# qk_rope_head_dim is 16, not 8: CPU kernels need d_r to be a multiple of
# the f32 vector width (16 lanes with AVX-512).

DIMS = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=4, kv_lora_rank=32,
            qk_rope_head_dim=16, qk_nope_head_dim=16, v_head_dim=16, num_hidden_layers=1,
            vocab_size=128, intermediate_size=64, pad_token_id=0, bos_token_id=1,
            eos_token_id=2)

# q_lora_rank 48: above d_nope * d_c / (d_c - d_nope) = 32, so the compiler
# keeps W_UQ and W_UK^T apart (test_merged_weights covers the merged form).
Q_LORA = 48

# A DeepSeek-V3 config.json of these sizes.
MLA_DICT = dict(DIMS, model_type="deepseek_v3", q_lora_rank=Q_LORA, rope_theta=10000.0)

# Largest relative error per case, printed at the end of the module (-s).
ERRORS = {}


def _models(name):
    import importlib
    return importlib.import_module(f"transformers.models.{name}.modeling_{name}")


# --- building transformers modules ---------------------------------------------------------

class Model:
    """A transformers attention module with random weights, its rotary
    embedding, and the config dict our reader sees."""

    def __init__(self, config, attention_cls, rotary_cls=None, seed=0):
        config._attn_implementation = "eager"
        self.config = config
        torch.manual_seed(seed)
        self.attn = attention_cls(config, layer_idx=0).float().eval()
        with torch.no_grad():
            for name, p in self.attn.named_parameters():
                if p.ndim == 2:
                    p.normal_(0.0, 1.0 / math.sqrt(p.shape[1]))
                else:  # RMSNorm gains
                    p.copy_(1.0 + 0.2 * torch.randn_like(p))
        self.rotary = rotary_cls(config) if rotary_cls is not None else None
        self.cfg = read_config(config.to_dict())

    def state_dict(self):
        return {k: v.detach().clone() for k, v in self.attn.state_dict().items()}

    def _call(self, x, pids, mask, cache=None):
        kw = dict(hidden_states=x, attention_mask=mask, position_ids=pids)
        if self.rotary is not None:
            kw["position_embeddings"] = self.rotary(x, pids)
        if cache is not None:
            kw["cache"] = cache
        return self.attn(**kw)[0]

    @torch.no_grad()
    def reference(self, hidden, positions):
        """transformers' output [T, D] for one sequence run at once with an
        explicit additive causal mask."""
        x = torch.from_numpy(np.asarray(hidden, np.float32))[None]
        pids = torch.tensor(np.asarray(positions), dtype=torch.long)[None]
        T = x.shape[1]
        mask = torch.full((T, T), torch.finfo(torch.float32).min).triu(1)[None, None]
        return self._call(x, pids, mask)[0].double().numpy()

    @torch.no_grad()
    def reference_incremental(self, hidden, positions):
        """transformers' output [T, D] decoding one token at a time through
        its DynamicCache, as generate() does after a one-token prompt."""
        from transformers import DynamicCache
        cache = DynamicCache(config=self.config)
        x = torch.from_numpy(np.asarray(hidden, np.float32))[None]
        rows = []
        for t, p in enumerate(positions):
            pids = torch.tensor([[int(p)]], dtype=torch.long)
            rows.append(self._call(x[:, t:t + 1], pids, None, cache)[0, 0])
        return torch.stack(rows).double().numpy()


def deepseek_v3(seed=0, **kw):
    from transformers import DeepseekV3Config
    m = _models("deepseek_v3")
    args = dict(DIMS, q_lora_rank=Q_LORA, moe_intermediate_size=32, n_routed_experts=4,
                num_experts_per_tok=2, n_group=1, topk_group=1, max_position_embeddings=163840)
    args.update(kw)
    return Model(DeepseekV3Config(**args), m.DeepseekV3Attention, m.DeepseekV3RotaryEmbedding,
                 seed)


def deepseek_v32(seed=0, **kw):
    """DeepSeek-V3.2 (DeepSeek Sparse Attention): the indexer keeps
    index_topk positions of each query; sequences longer than that attend
    to a strict subset."""
    from transformers import DeepseekV32Config
    m = _models("deepseek_v32")
    args = dict(DIMS, q_lora_rank=Q_LORA, moe_intermediate_size=32, n_routed_experts=4,
                num_experts_per_tok=2, n_group=1, topk_group=1, max_position_embeddings=163840,
                index_n_heads=4, index_head_dim=32, index_topk=4)
    args.update(kw)
    return Model(DeepseekV32Config(**args), m.DeepseekV32Attention,
                 m.DeepseekV32RotaryEmbedding, seed)


YARN = dict(type="yarn", factor=40.0, original_max_position_embeddings=4096, beta_fast=32,
            beta_slow=1, mscale=1.0, mscale_all_dim=0.8)


def yarn_v3(seed=0, **kw):
    """DeepSeek-V3's rope_scaling, with mscale != mscale_all_dim so that the
    cos/sin factor (mscale/mscale_all_dim) and the softmax factor
    (mscale_all_dim^2) both matter."""
    return deepseek_v3(seed, rope_scaling=dict(YARN), rope_theta=10000.0, **kw)


# --- running our layer ---------------------------------------------------------------------

def to_kernel(x, dtype):
    return mla.to_bf16(x) if dtype == "bf16" else np.ascontiguousarray(x, np.float32)


def kernel_values(x):
    """float64 values of kernel data (bf16 bits or float32)."""
    x = np.asarray(x)
    return (mla.from_bf16(x) if x.dtype == np.uint16 else x).astype(np.float64)


def run_layer(kernel, weights, seqs, width, dtype="f32", seed=0, block_size=BLOCK,
              return_cache=False, kv_scale=None):
    """Decode each sequence token by token through `kernel`.

    seqs: (hidden [T, D], positions [T], first step) per sequence; a
    sequence joins the batch at its first step, so lengths differ in every
    batch. Pages come in shuffled order, unused block-table slots are -1
    and every cache row not yet written is NaN. Returns [T, D] per
    sequence (and the latent cache after the last step if `return_cache`).
    `kv_scale`: the scale of a cache of e4m3 codes (kv_cache="fp8_tensor")."""
    rng = np.random.default_rng(seed)
    pages = [math.ceil(len(p) / block_size) for _, p, _ in seqs]
    num_blocks = sum(pages) + 2
    order = rng.permutation(num_blocks).astype(np.int32)
    tables, used = [], 0
    for n in pages:
        tables.append(order[used:used + n])
        used += n
    max_pages = max(pages) + 1
    # A latent cache of rows `width` wide, or (a HeadsLayerKernel) key and
    # value caches of [num_kv_heads, head_dim] rows.
    heads = isinstance(kernel, mla.HeadsLayerKernel)
    row = (kernel.num_kv_heads, kernel.head_dim) if heads else (width,)
    cache = to_kernel(np.full((num_blocks, block_size, *row), np.nan, np.float32), dtype)
    # fp8 rows (kv_cache="fp8"): `width` bytes a row, 0xFF (NaN codes and
    # scales) where nothing was written; e4m3 codes ("fp8_tensor") the same.
    if any(a.name == "kv_cache" and a.dtype == "u8" for a in kernel.abi.layer.args):
        cache = np.full((num_blocks, block_size, width), 0xFF, np.uint8)
    values = to_kernel(np.full(cache.shape, np.nan, np.float32), dtype) if heads else None
    # DeepSeek-V3.2: the indexer's keys in a second cache of the same pages.
    if isinstance(kernel, mla.IndexerLayerKernel):
        values = to_kernel(np.full((num_blocks, block_size, kernel.index_head_dim), np.nan,
                                   np.float32), dtype)
    outs = [np.zeros((len(p), h.shape[1])) for h, p, _ in seqs]
    steps = max(first + len(p) for _, p, first in seqs)
    for s in range(steps):
        active = [i for i, (_, p, first) in enumerate(seqs) if first <= s < first + len(p)]
        ts = [s - seqs[i][2] for i in active]
        hidden = np.stack([seqs[i][0][t] for i, t in zip(active, ts)])[:, None, :]
        positions = np.array([[seqs[i][1][t]] for i, t in zip(active, ts)], np.int32)
        table = np.full((len(active), max_pages), -1, np.int32)
        for row, i in enumerate(active):
            table[row, :pages[i]] = tables[i]
        seq_lens = np.array([t + 1 for t in ts], np.int32)
        caches = (cache,) if values is None else (cache, values)
        scale = {} if kv_scale is None else {"kv_scale": kv_scale}
        out = kernel(to_kernel(hidden, dtype), positions, *caches, table, seq_lens, weights,
                     **scale)
        out = kernel_values(out)
        for row, (i, t) in enumerate(zip(active, ts)):
            outs[i][t] = out[row, 0]
    return (outs, cache) if return_cache else outs


def rel_err(got, ref):
    return float(np.max(np.abs(np.asarray(got) - ref)) / np.max(np.abs(ref)))


_compiled = {}


def compiled(layer: Layer):
    """The layer kernel of `layer` (compiled once per module; mla.compile
    also caches by source text)."""
    text = layer.to_mlir()
    if text not in _compiled:
        _compiled[text] = mla.compile(layer, layer=True).layer
    return _compiled[text]


def inputs(model, lengths, positions=None, seed=1, scale=1.0):
    rng = np.random.default_rng(seed)
    D = model.cfg.hidden_size
    hidden = [rng.standard_normal((n, D)).astype(np.float32) * scale for n in lengths]
    if positions is None:
        positions = [np.arange(n) for n in lengths]
    return hidden, [np.asarray(p) for p in positions]


def check(label, model, lengths=(10, 6), positions=None, starts=None, dtype="f32",
          tol=F32_TOL, incremental=False, seed=1):
    """Our layer against transformers for sequences of `lengths` (batched,
    joining at `starts`); returns the largest relative error."""
    hidden, positions = inputs(model, lengths, positions, seed)
    if starts is None:  # all sequences end at the last step
        starts = [max(lengths) - n for n in lengths]
    layer = Layer(model.cfg, dtype=dtype, q_len=1, block_size=BLOCK)
    kernel = compiled(layer)
    weights = layer.weights(model.state_dict())
    width = (model.cfg.kv_lora_rank + model.cfg.qk_rope_head_dim if model.cfg.latent
             else None)
    if dtype == "bf16":  # the reference sees the same rounded inputs and weights
        hidden = [kernel_values(mla.to_bf16(h)).astype(np.float32) for h in hidden]
        model.attn.load_state_dict({k: v.to(torch.bfloat16).float()
                                    for k, v in model.state_dict().items()})
    outs = run_layer(kernel, weights, list(zip(hidden, positions, starts)), width, dtype)
    ref = model.reference_incremental if incremental else model.reference
    err = max(rel_err(o, ref(h, p)) for o, h, p in zip(outs, hidden, positions))
    ERRORS[label] = err
    assert not any(np.isnan(o).any() for o in outs), f"{label}: NaN in the output"
    assert err <= tol, f"{label}: max relative error {err:.3g} > {tol}"
    return err


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    if ERRORS:
        print("\nmax relative error vs transformers:")
        for k, v in ERRORS.items():
            print(f"  {k:48s} {v:.2e}")


@pytest.fixture(scope="module", autouse=True)
def _codegen(codegen):
    return codegen


# --- the models ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def v3():
    return yarn_v3()


def test_deepseek_v3_yarn(v3):
    cfg = v3.cfg
    assert cfg.rope_style == "interleaved" and cfg.rope_scaling.rope_type == "yarn"
    assert cfg.softmax_mscale == pytest.approx((0.1 * 0.8 * math.log(40.0) + 1.0) ** 2)
    assert cfg.softmax_scale == pytest.approx(v3.attn.scaling, rel=1e-12)
    # One sequence from 0, one from position 40 (YaRN's ramp moves the
    # frequencies of the low pairs; small positions keep transformers'
    # float32 angles exact enough for 1e-4).
    check("deepseek_v3 yarn (mscale != mscale_all_dim)", v3, lengths=(10, 7),
          positions=[np.arange(10), 40 + np.arange(7)])


@pytest.mark.parametrize("kw", [dict(), dict(rope_scaling=None, index_topk=7, index_n_heads=2,
                                               index_head_dim=48)],
                         ids=["yarn_topk4", "topk7"])
def test_deepseek_v32_sparse(kw):
    """DeepSeek-V3.2 against DeepseekV32Attention (eager: the indexer's
    top-k scattered into the causal mask): the indexer written as
    mla.index_score / mla.topk, attention over the selected positions fused
    into the sparse decode kernel. Sequences of 10 and 6 tokens with top-4
    (then 7) keep a strict subset once past k; the index keys are cached
    in index_cache, NaN where not written."""
    if "rope_scaling" not in kw:
        kw = dict(kw, rope_scaling=dict(YARN), rope_theta=10000.0)
    model = deepseek_v32(seed=5, **kw)
    cfg = model.cfg
    assert cfg.sparse and cfg.index_topk == model.config.index_topk
    assert cfg.rope_style == "interleaved"
    text = Layer(cfg, dtype="f32", q_len=1, block_size=BLOCK).to_mlir()
    assert "mla.topk" in text and "indices(%topk)" in text
    check(f"deepseek_v32 sparse {sorted(kw)}", model, lengths=(10, 6))


def test_deepseek_v32_bf16():
    model = deepseek_v32(seed=6, rope_theta=10000.0)
    check("deepseek_v32 sparse bf16", model, lengths=(9, 5), dtype="bf16", tol=BF16_TOL)


@pytest.mark.parametrize("model", ["deepseek_v3", "deepseek_v32"])
def test_fp8_cache_layer(model):
    """A layer keeping its latent cache as fp8 rows (kv_cache="fp8", groups
    of 16 here): mla.kv_cache_append encodes each new row, the fused decode
    reads the bytes (dense for V3, the indexer's top-k for V3.2). Every row
    written is exactly mla.fp8.encode_rows of the row the f32 layer writes
    (the same IR computes both), rows never written keep their 0xFF bytes,
    and the output is within the quantization error of transformers'
    unquantized layer (measured 2.5%, bound 5e-2)."""
    from mla import fp8
    m = (yarn_v3(seed=2) if model == "deepseek_v3"
         else deepseek_v32(seed=5, rope_scaling=dict(YARN), rope_theta=10000.0))
    cfg = m.cfg
    dc, dr, group = cfg.kv_lora_rank, cfg.qk_rope_head_dim, 16
    hidden, positions = inputs(m, (10, 6))
    seqs = list(zip(hidden, positions, [0, 4]))
    dense = Layer(cfg, dtype="f32", q_len=1, block_size=BLOCK)
    ref_outs, ref_cache = run_layer(compiled(dense), dense.weights(m.state_dict()), seqs,
                                    dc + dr, return_cache=True)
    layer = Layer(cfg, dtype="f32", q_len=1, block_size=BLOCK, kv_cache="fp8",
                  scale_group=group)
    assert "{scale_group = 16 : i64}" in layer.to_mlir()
    kernel = compiled(layer)
    outs, cache = run_layer(kernel, layer.weights(m.state_dict()), seqs,
                            fp8.row_bytes(dc, dr, group), return_cache=True)
    written = ~np.isnan(ref_cache).any(axis=-1)
    assert written.sum() == 16
    assert np.array_equal(cache[written], fp8.encode_rows(ref_cache[written], dc, group))
    assert (cache[~written] == 0xFF).all()
    err = max(rel_err(o, m.reference(h, p)) for o, (h, p, _) in zip(outs, seqs))
    ERRORS[f"{model} fp8 cache (groups of 16)"] = err
    assert err <= 5e-2, err
    assert max(rel_err(o, r) for o, r in zip(outs, ref_outs)) <= 5e-2


@pytest.mark.parametrize("model", ["deepseek_v3", "deepseek_v32"])
def test_fp8_tensor_cache_layer(model):
    """A layer keeping its latent cache as e4m3 codes with one scale
    (kv_cache="fp8_tensor", the layer's kv_scale argument): every row
    written is exactly mla.fp8.encode_tensor of the row the f32 layer
    writes, rope included, rows never written keep their 0xFF bytes, the
    fused decode reads the codes (dense for V3, the indexer's top-k for
    V3.2), and the output is within the quantization error of transformers'
    unquantized layer (bound 5e-2). A bad kv_scale is refused."""
    from mla import fp8
    m = (yarn_v3(seed=2) if model == "deepseek_v3"
         else deepseek_v32(seed=5, rope_scaling=dict(YARN), rope_theta=10000.0))
    cfg = m.cfg
    dc, dr = cfg.kv_lora_rank, cfg.qk_rope_head_dim
    hidden, positions = inputs(m, (10, 6))
    seqs = list(zip(hidden, positions, [0, 4]))
    dense = Layer(cfg, dtype="f32", q_len=1, block_size=BLOCK)
    ref_outs, ref_cache = run_layer(compiled(dense), dense.weights(m.state_dict()), seqs,
                                    dc + dr, return_cache=True)
    written = ~np.isnan(ref_cache).any(axis=-1)
    kv_scale = fp8.tensor_scale(ref_cache[written])
    layer = Layer(cfg, dtype="f32", q_len=1, block_size=BLOCK, kv_cache="fp8_tensor")
    assert "cache_scale(%kv_scale : tensor<f32>)" in layer.to_mlir()
    kernel = compiled(layer)
    assert kernel.takes_kv_scale
    weights = layer.weights(m.state_dict())
    outs, cache = run_layer(kernel, weights, seqs, dc + dr, return_cache=True,
                            kv_scale=kv_scale)
    assert written.sum() == 16
    assert np.array_equal(cache[written], fp8.encode_tensor(ref_cache[written], kv_scale))
    assert (cache[~written] == 0xFF).all()
    err = max(rel_err(o, m.reference(h, p)) for o, (h, p, _) in zip(outs, seqs))
    ERRORS[f"{model} fp8 cache (one scale)"] = err
    assert err <= 5e-2, err
    assert max(rel_err(o, r) for o, r in zip(outs, ref_outs)) <= 5e-2
    for bad in (None, 0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="kv_scale"):
            run_layer(kernel, weights, seqs[:1], dc + dr, kv_scale=bad)
    # Past Python's checks, the C entry refuses it too, writing nothing.
    cache = np.full((2, BLOCK, dc + dr), 0xFF, np.uint8)
    caches = (cache,) if not isinstance(kernel, mla.IndexerLayerKernel) else (
        cache, np.full((2, BLOCK, kernel.index_head_dim), np.nan, np.float32))
    arrays, bindings = kernel._prepare_inputs(
        (hidden[0][None, :1], np.zeros((1, 1), np.int32), *caches,
         np.zeros((1, 1), np.int32), np.ones(1, np.int32)), weights, None)
    for bad in (0.0, float("nan"), float("inf")):
        with pytest.raises(mla.KernelError, match="ERR_SCALE"):
            kernel._entry.call(arrays, bindings, scalars={"kv_scale": bad},
                               lists={"weights": arrays["weights"]})
        assert (cache == 0xFF).all()


def test_deepseek_v3_raw_config_json(v3):
    """The config.json spelling (rope_scaling with `type`, top-level
    rope_theta) reads to the same layer as transformers' to_dict()."""
    raw = dict(DIMS, model_type="deepseek_v3", q_lora_rank=Q_LORA, rope_theta=10000,
               max_position_embeddings=163840, rope_scaling=dict(YARN), attention_bias=False)
    assert read_config(raw) == v3.cfg


def test_deepseek_v3_rotate_half():
    model = deepseek_v3(seed=3, rope_interleave=False)
    assert model.cfg.rope_style == "rotate_half"
    check("deepseek_v3 rope_interleave=false", model)


def test_transformers5_rope_parameters():
    """A transformers 5 config.json: rope_theta only inside rope_parameters,
    no rope_interleave (deepseek_v3's default pairing, interleaved)."""
    from transformers import DeepseekV3Config
    raw = dict(DIMS, model_type="deepseek_v3", q_lora_rank=None, max_position_embeddings=4096,
               rope_parameters={"rope_type": "default", "rope_theta": 50000.0},
               moe_intermediate_size=32, n_routed_experts=4, num_experts_per_tok=2, n_group=1,
               topk_group=1)
    cfg = read_config(raw)
    assert cfg.rope_theta == 50000.0 and cfg.rope_style == "interleaved"
    assert cfg.rope_scaling is None and cfg.softmax_mscale == 1.0
    m = _models("deepseek_v3")
    config = DeepseekV3Config(**{k: v for k, v in raw.items() if k != "model_type"})
    assert config.rope_parameters["rope_theta"] == 50000.0
    model = Model(config, m.DeepseekV3Attention, m.DeepseekV3RotaryEmbedding, seed=4)
    assert model.cfg == cfg
    check("deepseek_v3 rope_parameters theta 50000", model,
          positions=[np.arange(10), 25 + np.arange(6)])


@pytest.mark.parametrize("q_lora_rank", [None, Q_LORA])
def test_deepseek_v2(q_lora_rank):
    from transformers import DeepseekV2Config
    m = _models("deepseek_v2")
    config = DeepseekV2Config(**DIMS, q_lora_rank=q_lora_rank, moe_intermediate_size=32,
                              n_routed_experts=4, num_experts_per_tok=2, n_group=1, topk_group=1)
    model = Model(config, m.DeepseekV2Attention, m.DeepseekV2RotaryEmbedding, seed=5)
    assert model.cfg.rope_style == "interleaved" and model.cfg.q_lora_rank == q_lora_rank
    check(f"deepseek_v2 q_lora_rank={q_lora_rank}", model)


LONGROPE_L = 16


@pytest.fixture(scope="module")
def minicpm3():
    """longrope with different short and long factors (dr/2 = 8 each);
    max_position_embeddings / original = 4, so the cos/sin factor is
    sqrt(1 + ln 4 / ln 16)."""
    from transformers import MiniCPM3Config
    m = _models("minicpm3")
    config = MiniCPM3Config(
        **DIMS, q_lora_rank=Q_LORA, max_position_embeddings=4 * LONGROPE_L,
        rope_scaling=dict(type="longrope",
                          short_factor=[1.0, 1.05, 1.1, 1.2, 1.4, 1.7, 2.0, 2.5],
                          long_factor=[1.0, 1.5, 2.5, 4.0, 6.0, 9.0, 13.0, 20.0],
                          original_max_position_embeddings=LONGROPE_L))
    model = Model(config, m.MiniCPM3Attention, m.MiniCPM3RotaryEmbedding, seed=6)
    assert model.cfg.rope_style == "rotate_half"
    assert model.cfg.rope_scaling.rope_type == "longrope"
    return model


def test_minicpm3_longrope_short(minicpm3):
    """All positions below original_max_position_embeddings: both the
    package and transformers use short_factor."""
    check("minicpm3 longrope, positions < L (short)", minicpm3, lengths=(12, 5),
          positions=[np.arange(12), 3 + np.arange(5)])


def test_minicpm3_longrope_beyond(minicpm3):
    """Every position at or beyond L: both use long_factor (transformers
    switches for the whole sequence when its largest position + 1 > L, the
    package per position from L on; here they agree)."""
    check("minicpm3 longrope, positions >= L (long)", minicpm3, lengths=(10, 6),
          positions=[LONGROPE_L + np.arange(10), LONGROPE_L + 30 + np.arange(6)])


def test_minicpm3_longrope_crossing(minicpm3):
    """A sequence crossing L. transformers run at once uses long_factor for
    all its positions (even those below L); the package picks per position,
    which is what transformers does when it decodes token by token
    (DynamicCache, one-token steps: the keys below L were rotated with
    short_factor when they were appended). Compared with the latter."""
    n = LONGROPE_L + 6
    check("minicpm3 longrope, crossing L (incremental)", minicpm3, lengths=(n, 9),
          positions=[np.arange(n), LONGROPE_L - 4 + np.arange(9)], incremental=True)


def test_mistral4_llama4_query_scale():
    """Mistral 4: YaRN in rope_parameters, partial_rotary_factor, and Llama
    4's query scale 1 + beta ln(1 + floor(pos / original_max)), != 1 past
    original_max_position_embeddings = 8."""
    from transformers import Mistral4Config
    m = _models("mistral4")
    rope = dict(type="yarn", rope_theta=10000.0, factor=16.0, original_max_position_embeddings=8,
                max_position_embeddings=128, beta_fast=32.0, beta_slow=1.0, mscale=1.0,
                mscale_all_dim=1.0, llama_4_scaling_beta=0.1)
    config = Mistral4Config(**DIMS, q_lora_rank=Q_LORA, moe_intermediate_size=32, n_routed_experts=4,
                            num_experts_per_tok=2, n_group=1, topk_group=1,
                            max_position_embeddings=128, rope_parameters=rope)
    model = Model(config, m.Mistral4Attention, m.Mistral4RotaryEmbedding, seed=7)
    assert model.cfg.query_scale == (0.1, 8)
    assert model.cfg.softmax_scale == pytest.approx(model.attn.scaling, rel=1e-12)
    check("mistral4 yarn + llama_4_scaling_beta", model, lengths=(20, 8),
          positions=[np.arange(20), 30 + np.arange(8)])


def test_kimi_linear_no_rope():
    """Kimi Linear's MLA layers: no rotation at all (the rope part of q and
    k is used as is)."""
    from transformers import KimiLinearConfig
    m = _models("kimi_linear")
    config = KimiLinearConfig(**DIMS, q_lora_rank=None, moe_intermediate_size=32)
    model = Model(config, m.KimiLinearAttention, None, seed=8)
    assert model.cfg.rope_style is None
    check("kimi_linear (no RoPE)", model, positions=[np.arange(10), 100 + np.arange(6)])


def test_bf16(v3):
    """The same DeepSeek-V3 layer in bf16; the reference runs in float32 on
    the bf16-rounded inputs and weights."""
    check("deepseek_v3 yarn, bf16", yarn_v3(), lengths=(10, 7),
          positions=[np.arange(10), 40 + np.arange(7)], dtype="bf16", tol=BF16_TOL)


# --- tensor parallelism --------------------------------------------------------------------

def test_tensor_parallel(v3):
    """The TP-2 layers (heads 0-1 and 2-3, each with its own copy of the
    latent cache) sum to the whole layer's output."""
    hidden, positions = inputs(v3, (9, 5), [np.arange(9), 12 + np.arange(5)], seed=9)
    seqs = list(zip(hidden, positions, [0, 4]))
    width = v3.cfg.kv_lora_rank + v3.cfg.qk_rope_head_dim
    sd = v3.state_dict()
    full_layer = Layer(v3.cfg, block_size=BLOCK)
    full = run_layer(compiled(full_layer), full_layer.weights(sd), seqs, width)
    total = [np.zeros_like(f) for f in full]
    for rank in range(2):
        layer = Layer(v3.cfg, block_size=BLOCK, rank=rank, world=2)
        # num_key_value_heads (= H in DeepSeek configs) is split with the heads.
        assert layer.local.num_attention_heads == layer.local.num_key_value_heads == 2
        weights = layer.weights(sd)
        assert weights[-1].shape == (2 * v3.cfg.v_head_dim, v3.cfg.hidden_size)
        part = run_layer(compiled(layer), weights, seqs, width)
        for t, p in zip(total, part):
            t += p
    err = max(rel_err(t, f) for t, f in zip(total, full))
    ERRORS["deepseek_v3 TP-2 sum vs full layer"] = err
    assert err <= F32_TOL
    ref = max(rel_err(t, v3.reference(h, p)) for t, h, p in zip(total, hidden, positions))
    ERRORS["deepseek_v3 TP-2 sum vs transformers"] = ref
    assert ref <= F32_TOL


def test_tensor_parallel_slices(v3):
    """Rank r's weights are exactly heads r*H/N.. of the whole layer's."""
    sd = v3.state_dict()
    full = from_state_dict(v3.cfg, sd)
    for rank in range(2):
        part = from_state_dict(v3.cfg, sd, rank=rank, world=2)
        heads = slice(2 * rank, 2 * rank + 2)
        dv = v3.cfg.v_head_dim
        np.testing.assert_array_equal(part[0], full[0])  # w_dq
        np.testing.assert_array_equal(part[1], full[1])  # q_norm
        for i in (2, 3, 7, 8):  # w_uq, w_qr, w_uk, w_uv
            np.testing.assert_array_equal(part[i], full[i][heads])
        for i in (4, 5, 6):  # w_dkv, kv_norm, w_kr
            np.testing.assert_array_equal(part[i], full[i])
        np.testing.assert_array_equal(part[9], full[9][2 * rank * dv:(2 * rank + 2) * dv])
    with pytest.raises(ConfigError, match="num_attention_heads"):
        from_state_dict(v3.cfg, sd, rank=0, world=3)


# --- FP8 -----------------------------------------------------------------------------------

def quantize_fp8(w, block=128):
    """DeepSeek-V3 style: float8_e4m3fn weight and per-128x128-block
    scale_inv (amax / 448) of a float32 [out, in] tensor."""
    out_f, in_f = w.shape
    bo, bi = math.ceil(out_f / block), math.ceil(in_f / block)
    scale = torch.empty(bo, bi)
    q = torch.empty(out_f, in_f, dtype=torch.float8_e4m3fn)
    for i in range(bo):
        for j in range(bi):
            blk = w[i * block:(i + 1) * block, j * block:(j + 1) * block]
            s = blk.abs().max().clamp(min=1e-12) / 448.0
            scale[i, j] = s
            q[i * block:(i + 1) * block, j * block:(j + 1) * block] = \
                (blk / s).to(torch.float8_e4m3fn)
    return q, scale


def dequantize_fp8(q, scale, block=128):
    full = scale.repeat_interleave(block, 0).repeat_interleave(block, 1)
    return q.float() * full[:q.shape[0], :q.shape[1]]


@pytest.fixture(scope="module")
def fp8_model():
    """A DeepSeek-V3 layer of hidden size 256 (so that q_a_proj,
    kv_a_proj_with_mqa and o_proj span several 128-blocks, with partial
    edge blocks) with FP8 weights; the module holds the dequantized ones."""
    if not hasattr(torch, "float8_e4m3fn"):
        pytest.skip("this torch has no float8_e4m3fn")
    model = yarn_v3(seed=11, hidden_size=256)
    quantized, dequantized = {}, {}
    for k, v in model.state_dict().items():
        if v.ndim == 2:
            q, s = quantize_fp8(v)
            quantized[k], quantized[k + "_scale_inv"] = q, s
            dequantized[k] = dequantize_fp8(q, s)
        else:
            quantized[k] = dequantized[k] = v
    model.attn.load_state_dict(dequantized)
    return model, quantized, dequantized


def test_fp8_dequantize(fp8_model):
    model, quantized, dequantized = fp8_model
    assert quantized["o_proj.weight_scale_inv"].shape == (2, 1)
    assert quantized["kv_a_proj_with_mqa.weight_scale_inv"].shape == (1, 2)
    got = from_state_dict(model.cfg, quantized)
    want = from_state_dict(model.cfg, dequantized)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    # The same from numpy: uint8 arrays of e4m3fn bits.
    as_numpy = {k: (v.view(torch.uint8).numpy() if v.dtype == torch.float8_e4m3fn
                    else v.numpy()) for k, v in quantized.items()}
    for g, w in zip(from_state_dict(model.cfg, as_numpy), want):
        np.testing.assert_array_equal(g, w)


def test_fp8_bits_table():
    """All 256 e4m3fn bit patterns given as uint8 decode as torch does."""
    if not hasattr(torch, "float8_e4m3fn"):
        pytest.skip("this torch has no float8_e4m3fn")
    from mla.weights import _e4m3fn_table
    bits = torch.arange(256, dtype=torch.uint8)
    np.testing.assert_array_equal(_e4m3fn_table(), bits.view(torch.float8_e4m3fn).float().numpy())


def test_fp8_layer(fp8_model):
    model, quantized, _ = fp8_model
    hidden, positions = inputs(model, (8, 5), [np.arange(8), 20 + np.arange(5)], seed=12)
    layer = Layer(model.cfg, block_size=BLOCK)
    width = model.cfg.kv_lora_rank + model.cfg.qk_rope_head_dim
    outs = run_layer(compiled(layer), layer.weights(quantized),
                     list(zip(hidden, positions, [0, 3])), width)
    err = max(rel_err(o, model.reference(h, p)) for o, h, p in zip(outs, hidden, positions))
    ERRORS["deepseek_v3 fp8 checkpoint (hidden 256)"] = err
    assert err <= F32_TOL


def test_fp8_errors(fp8_model):
    model, quantized, _ = fp8_model
    sd = dict(quantized)
    del sd["kv_b_proj.weight_scale_inv"]
    with pytest.raises(KeyError, match="kv_b_proj.weight_scale_inv"):
        from_state_dict(model.cfg, sd)
    sd = dict(quantized)
    sd["o_proj.weight_scale_inv"] = torch.ones(1, 1)
    with pytest.raises(ValueError, match="o_proj.weight_scale_inv"):
        from_state_dict(model.cfg, sd)


# --- weight loading ------------------------------------------------------------------------

def test_state_dict_prefix_dtypes_and_errors(v3):
    sd = v3.state_dict()
    plain = from_state_dict(v3.cfg, sd)
    names = ["w_dq", "q_norm", "w_uq", "w_qr", "w_dkv", "kv_norm", "w_kr", "w_uk", "w_uv", "w_o"]
    # Shapes and order of the layer function's weight arguments.
    text = emit_layer(v3.cfg, "layer", dtype="f32", block_size=BLOCK)
    for name, w in zip(names, plain):
        dims = "x".join(str(d) for d in w.shape)
        assert f"%{name}: tensor<{dims}xf32>" in text, name
        assert w.dtype == np.float32 and w.flags.c_contiguous
    prefixed = {f"model.layers.0.self_attn.{k}": v.numpy() for k, v in sd.items()}
    for a, b in zip(from_state_dict(v3.cfg, prefixed, prefix="model.layers.0.self_attn."),
                    plain):
        np.testing.assert_array_equal(a, b)
    bf16 = from_state_dict(v3.cfg, sd, dtype="bf16")
    assert all(w.dtype == np.uint16 for w in bf16)
    np.testing.assert_array_equal(bf16[2], mla.to_bf16(plain[2]))
    assert all(w.dtype == np.float16 for w in from_state_dict(v3.cfg, sd, dtype=np.float16))
    # The same weights as torch bf16 tensors read to the same bf16 bits.
    as_bf16 = {k: v.to(torch.bfloat16) for k, v in sd.items()}
    for a, b in zip(from_state_dict(v3.cfg, as_bf16, dtype="bf16"), bf16):
        np.testing.assert_array_equal(a, b)

    missing = dict(prefixed)
    del missing["model.layers.0.self_attn.kv_a_layernorm.weight"]
    with pytest.raises(KeyError, match=r"model\.layers\.0\.self_attn\.kv_a_layernorm\.weight"):
        from_state_dict(v3.cfg, missing, prefix="model.layers.0.self_attn.")
    wrong = dict(sd)
    wrong["kv_b_proj.weight"] = sd["kv_b_proj.weight"][:-1]
    with pytest.raises(ValueError, match=r"kv_b_proj\.weight: expected shape \[128, 32\]"):
        from_state_dict(v3.cfg, wrong)
    biased = dict(sd)
    biased["o_proj.bias"] = torch.zeros(v3.cfg.hidden_size)
    with pytest.raises(ValueError, match=r"o_proj\.bias"):
        from_state_dict(v3.cfg, biased)


def test_standard_attention_weights():
    """Llama-style GQA: w_q [H, D, hd], w_k/w_v [G, D, hd] project like
    q_proj/k_proj/v_proj per head; TP ranks take whole KV groups."""
    from transformers import LlamaConfig
    m = _models("llama")
    config = LlamaConfig(hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                         num_hidden_layers=1, vocab_size=128, intermediate_size=64)
    torch.manual_seed(13)
    attn = m.LlamaAttention(config, layer_idx=0).float().eval()
    sd = attn.state_dict()
    cfg = read_config(config.to_dict())
    assert cfg.attention_kind == "GQA"
    w_q, w_k, w_v, w_o = from_state_dict(cfg, sd)
    text = emit_layer(cfg, "layer", mode="prefill", dtype="f32")
    for name, w in zip(("w_q", "w_k", "w_v", "w_o"), (w_q, w_k, w_v, w_o)):
        assert f"%{name}: tensor<{'x'.join(map(str, w.shape))}xf32>" in text, name
    x = torch.randn(5, 64)
    with torch.no_grad():
        for w, proj, heads in ((w_q, attn.q_proj, 4), (w_k, attn.k_proj, 2),
                               (w_v, attn.v_proj, 2)):
            want = proj(x).view(5, heads, 16).numpy()
            np.testing.assert_allclose(np.einsum("sd,hde->she", x.numpy(), w), want,
                                       rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(w_o, sd["o_proj.weight"].numpy().T)
    r1 = from_state_dict(cfg, sd, rank=1, world=2)
    np.testing.assert_array_equal(r1[0], w_q[2:])
    np.testing.assert_array_equal(r1[1], w_k[1:])
    np.testing.assert_array_equal(r1[3], w_o[32:])


def llama(heads=4, kv_heads=2, head_dim=16, seed=0):
    from transformers import LlamaConfig
    m = _models("llama")
    config = LlamaConfig(hidden_size=64, num_attention_heads=heads,
                         num_key_value_heads=kv_heads, head_dim=head_dim,
                         num_hidden_layers=1, vocab_size=128, intermediate_size=64,
                         rope_theta=500000.0)
    return Model(config, m.LlamaAttention, m.LlamaRotaryEmbedding, seed)


@pytest.mark.parametrize("heads, kv_heads", [(4, 2), (4, 1), (4, 4)],
                         ids=["gqa", "mqa", "mha"])
def test_llama_decode_layer(heads, kv_heads):
    """A Llama decode layer on paged key and value caches (GQA, MQA, MHA):
    the new tokens' keys and values appended in place, token by token,
    against transformers' LlamaAttention on whole sequences and through its
    DynamicCache."""
    model = llama(heads, kv_heads)
    assert model.cfg.attention_kind == {4: "MHA", 1: "MQA"}.get(kv_heads, "GQA")
    check(f"llama {model.cfg.attention_kind} decode", model, lengths=(10, 6))
    check(f"llama {model.cfg.attention_kind} decode incremental", model, lengths=(7,),
          incremental=True)


def test_llama_decode_layer_bf16():
    check("llama GQA decode bf16", llama(), lengths=(9, 4), dtype="bf16", tol=BF16_TOL)


def test_layer_class(v3, tmp_path):
    import json
    layer = Layer(v3.cfg, name="ds3", dtype="bf16", block_size=64, rank=1, world=2)
    assert layer.name == "ds3" and "func.func @ds3(" in layer.to_mlir()
    assert layer.to_mlir() == emit_layer(v3.cfg.shard(1, 2), "ds3", "decode", "bf16", 1, 64)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(v3.config.to_dict()))
    for source in (str(path), v3.config.to_dict(), v3.config):
        assert Layer.from_config(source, name="ds3", dtype="bf16", block_size=64, rank=1,
                                 world=2) == layer
    with pytest.raises(ConfigError, match="num_attention_heads"):
        Layer(v3.cfg, world=3)


def test_layer_kv_cache_refusals(v3):
    """kv_cache="fp8" and "fp8_tensor" are a decode layer's latent cache,
    fp8 rows in whole groups; `python -m mla.layer` says so and fails."""
    import subprocess
    import sys
    with pytest.raises(ValueError, match="scale_group 24 must divide kv_lora_rank"):
        emit_layer(v3.cfg, "l", kv_cache="fp8", scale_group=24)
    with pytest.raises(ValueError, match="decode layer's latent cache"):
        emit_layer(v3.cfg, "l", mode="prefill", kv_cache="fp8")
    with pytest.raises(ValueError, match="kv_cache must be auto, fp8 or fp8_tensor"):
        emit_layer(v3.cfg, "l", kv_cache="fp16")
    with pytest.raises(ValueError, match="decode layer's latent cache"):
        emit_layer(v3.cfg, "l", mode="prefill", kv_cache="fp8_tensor")
    llama = read_config(dict(model_type="llama", hidden_size=64, num_attention_heads=4,
                             num_key_value_heads=2))
    for kv_cache in ("fp8", "fp8_tensor"):
        with pytest.raises(ValueError, match="decode layer's latent cache"):
            emit_layer(llama, "l", kv_cache=kv_cache)
    with pytest.raises(ConfigError, match="rope_style none is not supported"):
        read_config(dict(MLA_DICT, model_type="deepseek_v32"), "none")
    cfg = os.path.join(_EXAMPLES, "deepseek-v3.2.json")
    r = subprocess.run([sys.executable, "-m", "mla.layer", cfg, "--kv-cache", "fp8",
                        "--scale-group", "100"], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(mla.__file__))))
    assert r.returncode == 1 and "scale_group 100 must divide kv_lora_rank (512)" in r.stderr


# --- read_config refusals ------------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    (dict(attention_bias=True), "attention_bias"),
    (dict(rope_scaling=dict(type="dynamic", factor=2.0)), "rope_type"),
    (dict(model_type="my_mla"), "model_type"),
    (dict(model_type="minicpm3", max_position_embeddings=64,
          rope_scaling=dict(type="longrope", short_factor=[1.0] * 7, long_factor=[1.0] * 8,
                            original_max_position_embeddings=16)), "short_factor"),
    (dict(model_type="minicpm3", max_position_embeddings=64,
          rope_scaling=dict(type="longrope", short_factor=[1.0] * 8, long_factor=[1.0] * 16,
                            original_max_position_embeddings=16)), "long_factor"),
    (dict(model_type="deepseek_v32", index_topk=0), "index_topk"),
    (dict(model_type="deepseek_v32", index_head_dim=16), "index_head_dim"),
    (dict(model_type="deepseek_v32", index_n_heads="8"), "index_n_heads"),
    (dict(model_type="deepseek_v32", q_lora_rank=None), "q_lora_rank"),
])
def test_read_config_refuses(change, field):
    with pytest.raises(ConfigError, match=field):
        read_config(dict(MLA_DICT, **change))


def test_read_config_unknown_model_with_rope_interleave():
    assert read_config(dict(MLA_DICT, model_type="my_mla", rope_interleave=False)).rope_style \
        == "rotate_half"


def test_rope_interleave_only_where_the_class_reads_it():
    # DeepSeek-V2, MiniCPM3 and Kimi-Linear ignore rope_interleave; V3 follows it.
    base = dict(hidden_size=64, num_attention_heads=4, kv_lora_rank=32, qk_nope_head_dim=16,
                qk_rope_head_dim=16, v_head_dim=16, rope_interleave=False)
    assert mla.read_config(dict(base, model_type="deepseek_v3")).rope_style == "rotate_half"
    assert mla.read_config(dict(base, model_type="deepseek_v2")).rope_style == "interleaved"
    assert mla.read_config(dict(base, model_type="minicpm3")).rope_style == "rotate_half"
    assert mla.read_config(dict(base, model_type="kimi_linear")).rope_style is None
    assert mla.read_config(dict(base, model_type="some_new_mla")).rope_style == "rotate_half"


def test_merged_weights():
    # q_lora_rank 16 < 32: mla-absorb-weights merges W_UQ W_UK^T per head
    # (q_in * d_c < d_nope * (q_in + d_c) multiply-adds per token), so the
    # layer takes one more weight, which prepare_weights computes from the
    # given ones once; the result must still be transformers' layer.
    model = yarn_v3(q_lora_rank=16)
    layer = Layer(model.cfg, dtype="f32", q_len=1, block_size=BLOCK)
    kernel = compiled(layer)
    prepared = [w for w in kernel.weights if w.prepared]
    assert [w.name for w in prepared] == ["w_uq_uk"]
    assert len(kernel.given_weights) == len(kernel.weights) - 1
    given = layer.weights(model.state_dict())
    full = kernel.prepare_weights(given)
    assert len(full) == len(kernel.weights)
    assert kernel.prepare_weights(given) is full  # once per set of weights
    # The merged weight is W_UQ,h W_UK,h^T: [H, q_lora, d_c].
    names = [w.name for w in kernel.given_weights]
    w_uq, w_uk = given[names.index("w_uq")], given[names.index("w_uk")]
    np.testing.assert_allclose(full[-1], np.einsum("hqn,hcn->hqc", w_uq, w_uk),
                               rtol=1e-5, atol=1e-6)
    # Contents changed in place: the cached merge is stale until refreshed.
    saved = w_uq.copy()
    w_uq *= 2.0
    assert kernel.prepare_weights(given) is full
    np.testing.assert_allclose(kernel.prepare_weights(given, refresh=True)[-1],
                               np.einsum("hqn,hcn->hqc", w_uq, w_uk), rtol=1e-5, atol=1e-6)
    w_uq[...] = saved
    kernel.prepare_weights(given, refresh=True)
    check("deepseek_v3 merged W_UQ W_UK^T (q_lora 16)", model, lengths=(9, 5))


# --- the real configs -----------------------------------------------------------------------

_EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "configs")

# model_type -> (transformers module, config class, attention, rotary embedding)
_CLASSES = {
    "deepseek_v3": ("deepseek_v3", "DeepseekV3Config", "DeepseekV3Attention",
                    "DeepseekV3RotaryEmbedding"),
    # Kimi K2 checkpoints are a DeepseekV3ForCausalLM architecture.
    "kimi_k2": ("deepseek_v3", "DeepseekV3Config", "DeepseekV3Attention",
                "DeepseekV3RotaryEmbedding"),
    "deepseek_v2": ("deepseek_v2", "DeepseekV2Config", "DeepseekV2Attention",
                    "DeepseekV2RotaryEmbedding"),
    "minicpm3": ("minicpm3", "MiniCPM3Config", "MiniCPM3Attention", "MiniCPM3RotaryEmbedding"),
    "mistral4": ("mistral4", "Mistral4Config", "Mistral4Attention", "Mistral4RotaryEmbedding"),
}


@pytest.mark.parametrize("name", ["deepseek-v3", "deepseek-v2-lite", "kimi-k2", "minicpm3-4b",
                                  "mistral-small-4"])
def test_real_config(name):
    """examples/configs/NAME.json with every attention and RoPE field as the
    checkpoint writes it (rope_scaling / rope_parameters, theta, head dims,
    d_c, model_type, rope_interleave), only hidden_size, the head count and
    q_lora_rank made small: our layer against transformers' class for it."""
    import json
    with open(os.path.join(_EXAMPLES, name + ".json")) as f:
        real = json.load(f)
    cfg = {k: v for k, v in real.items() if k not in ("architectures", "model_type")}
    cfg.update(hidden_size=64, num_attention_heads=2, num_key_value_heads=2,
               num_hidden_layers=1, vocab_size=128, intermediate_size=64,
               pad_token_id=0, bos_token_id=1, eos_token_id=2)
    if real.get("q_lora_rank") is not None:
        cfg["q_lora_rank"] = Q_LORA
    mod, config_cls, attn_cls, rotary_cls = _CLASSES[real["model_type"]]
    m = _models(mod)
    import transformers
    config = getattr(transformers, config_cls)(**cfg)
    if real["model_type"] in ("deepseek_v3", "kimi_k2", "deepseek_v2", "mistral4"):
        config.moe_intermediate_size, config.n_routed_experts = 32, 4
    model = Model(config, getattr(m, attn_cls), getattr(m, rotary_cls), seed=11)
    # The reader sees the real file (model_type included), not transformers'
    # re-serialization of it.
    ours = read_config(dict(real, hidden_size=64, num_attention_heads=2,
                            num_key_value_heads=2,
                            q_lora_rank=cfg.get("q_lora_rank")))
    assert ours.softmax_scale == pytest.approx(model.attn.scaling, rel=1e-12)
    model.cfg = ours
    check(f"{name} (real RoPE settings)", model, lengths=(9, 6),
          positions=[np.arange(9), 50 + np.arange(6)])
