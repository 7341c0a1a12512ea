"""A layer's weight arguments from a Hugging Face attention module's state dict.

`from_state_dict(cfg, state_dict)` returns the arrays a layer function of
`mla.layer.emit_layer` takes after its activations, in its order:

- MLA (`cfg.latent`): [w_dq, q_norm] (with q_lora_rank only), w_uq
  [H, q_in, dn], w_qr [H, q_in, dr], w_dkv [D, dc], kv_norm [dc],
  w_kr [D, dr], w_uk [H, dc, dn], w_uv [H, dc, dv], w_o [H*dv, D];
  with DeepSeek-V3.2's indexer (`cfg.sparse`) then w_iq_rope [Hi, q_lora, dr],
  w_iq_pass [Hi, q_lora, Di - dr], w_ik [D, Di], ik_norm [Di],
  ik_norm_bias [Di], w_iw [D, Hi] (indexer.wq_b, wk, k_norm, weights_proj);
- standard attention (MHA/MQA/GQA): w_q [H, D, hd], w_k [G, D, hd],
  w_v [G, D, hd], w_o [H*hd, D].

The state dict is the one of transformers' MLA attention classes
(DeepseekV2/V3, Kimi K2, MiniCPM3, Mistral 4, Kimi Linear: q_a_proj,
q_a_layernorm, q_b_proj or q_proj, kv_a_proj_with_mqa, kv_a_layernorm,
kv_b_proj, o_proj) or of Llama-style attention (q_proj, k_proj, v_proj,
o_proj). nn.Linear weights are [out, in]; q_b_proj/q_proj rows are per head
[nope | rope], kv_a_proj_with_mqa rows [c_kv | k_rope], kv_b_proj rows per
head [k_nope | v].

FP8 block-quantized checkpoints (DeepSeek-V3 style): a float8 `X.weight`
with an `X.weight_scale_inv` of [ceil(out/B), ceil(in/B)] block scales
(B = 128) is dequantized on load, W = W_fp8 * scale_inv per block, in
float32. float8 weights may be torch tensors, ml_dtypes arrays or uint8
arrays holding e4m3fn bits.

Tensor parallelism: rank r of N gets heads r*H/N .. (r+1)*H/N of the query
(and, for standard attention, KV head groups) and kv_b_proj, and the
matching rows of w_o (columns of o_proj); `cfg` is the whole layer's
config. Summing the N ranks' layer outputs gives the whole layer's.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from . import _dtypes
from .config import LayerConfig

#: DeepSeek-V3's quantization_config weight_block_size.
FP8_BLOCK = 128


def _e4m3fn_table() -> np.ndarray:
    """float32 value of each of the 256 float8_e4m3fn bit patterns."""
    bits = np.arange(256, dtype=np.uint32)
    sign = np.where(bits & 0x80, -1.0, 1.0)
    exp = (bits >> 3) & 0xF
    man = (bits & 0x7).astype(np.float64)
    normal = (1.0 + man / 8.0) * np.exp2(exp.astype(np.float64) - 7.0)
    subnormal = (man / 8.0) * 2.0 ** -6
    value = sign * np.where(exp == 0, subnormal, normal)
    value[(exp == 0xF) & ((bits & 0x7) == 0x7)] = np.nan  # e4m3fn: no infinities
    return value.astype(np.float32)


_E4M3FN: Optional[np.ndarray] = None


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _is_fp8(x) -> bool:
    if _is_torch(x):
        return "float8" in str(x.dtype)
    return "float8" in str(getattr(x, "dtype", ""))


def _to_numpy(x, key: str, fp8_bits: bool = False) -> np.ndarray:
    """float32 values of a tensor or array (uint8 arrays are e4m3fn bits
    when `fp8_bits`)."""
    global _E4M3FN
    if _is_torch(x):
        t = x.detach().cpu()
        if t.is_complex():
            raise ValueError(f"{key}: complex tensor")
        if t.dtype.is_floating_point:
            return t.float().numpy()
        x = t.numpy()
    a = np.asarray(x)
    if fp8_bits and a.dtype == np.uint8:
        if _E4M3FN is None:
            _E4M3FN = _e4m3fn_table()
        return _E4M3FN[a]
    if a.dtype == np.uint16:
        return _dtypes.from_bf16(a)
    if a.dtype.kind not in "fiu" and "float8" not in str(a.dtype) and "bfloat16" not in str(a.dtype):
        raise ValueError(f"{key}: expected a floating-point tensor, got dtype {a.dtype}")
    return a.astype(np.float32)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class _Reader:
    def __init__(self, state_dict: Mapping, prefix: str, block: int):
        self.sd, self.prefix, self.block = state_dict, prefix, block

    def has(self, name: str) -> bool:
        return self.prefix + name + ".weight" in self.sd

    def get(self, name: str, shape: Tuple[int, ...]) -> np.ndarray:
        """`name.weight` as float32 of `shape`, dequantized if it is FP8."""
        key = self.prefix + name + ".weight"
        if key not in self.sd:
            raise KeyError(f"{key}: missing from the state dict")
        if self.prefix + name + ".bias" in self.sd:
            raise ValueError(f"{self.prefix}{name}.bias: biased projections are not supported")
        w = self.sd[key]
        scale_key = key + "_scale_inv"
        quantized = scale_key in self.sd
        if _is_fp8(w) and not quantized:
            raise KeyError(f"{scale_key}: missing ({key} is float8)")
        a = _to_numpy(w, key, fp8_bits=quantized)
        if a.shape != tuple(shape):
            raise ValueError(f"{key}: expected shape {list(shape)}, got {list(a.shape)}")
        if quantized:
            a = self._dequantize(a, self.sd[scale_key], scale_key)
        return a

    def norm(self, name: str, n: int) -> Tuple[np.ndarray, np.ndarray]:
        """A LayerNorm's `name.weight` and `name.bias`, float32 of [n]."""
        out = []
        for part in ("weight", "bias"):
            key = f"{self.prefix}{name}.{part}"
            if key not in self.sd:
                raise KeyError(f"{key}: missing from the state dict")
            a = _to_numpy(self.sd[key], key)
            if a.shape != (n,):
                raise ValueError(f"{key}: expected shape [{n}], got {list(a.shape)}")
            out.append(a)
        return out[0], out[1]

    def _dequantize(self, w: np.ndarray, scale, scale_key: str) -> np.ndarray:
        s = _to_numpy(scale, scale_key)
        b = self.block
        if w.ndim == 1:
            raise ValueError(f"{scale_key}: block scales of a 1-d weight are not supported")
        want = (_ceil_div(w.shape[0], b), _ceil_div(w.shape[1], b))
        if s.shape != want:
            raise ValueError(f"{scale_key}: expected shape {list(want)} (blocks of {b}x{b} of "
                             f"{list(w.shape)}), got {list(s.shape)}")
        full = np.repeat(np.repeat(s.astype(np.float32), b, axis=0), b, axis=1)
        return w.astype(np.float32) * full[:w.shape[0], :w.shape[1]]


def _out_dtype(dtype) -> str:
    if isinstance(dtype, type) and issubclass(dtype, np.generic):
        dtype = np.dtype(dtype)
    return _dtypes.normalize(dtype)


def _convert(a: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bf16":
        return _dtypes.to_bf16(a)
    return np.ascontiguousarray(a, dtype=np.float16 if dtype == "f16" else np.float32)


def from_state_dict(cfg: LayerConfig, state_dict: Mapping, dtype=np.float32, rank: int = 0,
                    world: int = 1, prefix: str = "", fp8_block: int = FP8_BLOCK
                    ) -> List[np.ndarray]:
    """The weight arguments of `emit_layer(cfg.shard(rank, world), ...)`, in
    order, as contiguous numpy arrays of `dtype` (float32, float16, or "bf16":
    uint16 bf16 bits as `mla.to_bf16` makes, which bf16 kernels take).

    `state_dict` maps names to torch tensors or numpy arrays; `prefix` is
    prepended to every name (e.g. "model.layers.0.self_attn."). A missing
    name is a KeyError naming it, a wrong shape a ValueError naming it.
    """
    out_dtype = _out_dtype(dtype)
    if not isinstance(fp8_block, int) or fp8_block <= 0:
        raise ValueError(f"fp8_block: expected a positive integer, got {fp8_block!r}")
    local = cfg.shard(rank, world)  # ConfigError if the heads do not divide
    r = _Reader(state_dict, prefix, fp8_block)
    arrays = _mla(cfg, local, r, rank) if cfg.latent else _standard(cfg, local, r, rank)
    return [_convert(a, out_dtype) for a in arrays]


def _heads(a: np.ndarray, first: int, count: int, per_head: int) -> np.ndarray:
    """Rows of heads first .. first+count of a [H*per_head, in] weight, as
    [count, per_head, in]."""
    return a.reshape(-1, per_head, a.shape[-1])[first:first + count]


def _mla(cfg: LayerConfig, local: LayerConfig, r: _Reader, rank: int) -> List[np.ndarray]:
    D, H = cfg.hidden_size, cfg.num_attention_heads
    h = local.num_attention_heads
    first = rank * h
    dc, dr, dn, dv = cfg.kv_lora_rank, cfg.qk_rope_head_dim, cfg.qk_nope_head_dim, cfg.v_head_dim
    out: List[np.ndarray] = []
    if cfg.q_lora_rank:
        ql = cfg.q_lora_rank
        out.append(r.get("q_a_proj", (ql, D)).T)
        out.append(r.get("q_a_layernorm", (ql,)))
        q = r.get("q_b_proj", (H * (dn + dr), ql))
    else:
        if r.has("q_a_proj") and not r.has("q_proj"):
            raise ValueError(f"{r.prefix}q_a_proj.weight: the state dict has a query LoRA but "
                             "the config has no q_lora_rank")
        q = r.get("q_proj", (H * (dn + dr), D))
    q = _heads(q, first, h, dn + dr)                      # [h, dn+dr, q_in]
    out.append(q[:, :dn].transpose(0, 2, 1))              # w_uq [h, q_in, dn]
    out.append(q[:, dn:].transpose(0, 2, 1))              # w_qr [h, q_in, dr]
    kv_a = r.get("kv_a_proj_with_mqa", (dc + dr, D))
    out.append(kv_a[:dc].T)                               # w_dkv [D, dc]
    out.append(r.get("kv_a_layernorm", (dc,)))            # kv_norm
    out.append(kv_a[dc:].T)                               # w_kr [D, dr]
    kv_b = _heads(r.get("kv_b_proj", (H * (dn + dv), dc)), first, h, dn + dv)
    out.append(kv_b[:, :dn].transpose(0, 2, 1))           # w_uk [h, dc, dn]
    out.append(kv_b[:, dn:].transpose(0, 2, 1))           # w_uv [h, dc, dv]
    o = r.get("o_proj", (D, H * dv))
    out.append(o[:, first * dv:(first + h) * dv].T)       # w_o [h*dv, D]
    if cfg.sparse:
        out += _indexer(cfg, r)
    return out


def _indexer(cfg: LayerConfig, r: _Reader) -> List[np.ndarray]:
    """DeepSeek-V3.2's indexer (every rank has all of it): wq_b rows per head
    [rope | pass], wk [Di, D], k_norm (LayerNorm), weights_proj [Hi, D]."""
    D, dr = cfg.hidden_size, cfg.qk_rope_head_dim
    hi, di = cfg.index_n_heads, cfg.index_head_dim
    q = r.get("indexer.wq_b", (hi * di, cfg.q_lora_rank)).reshape(hi, di, -1)
    g, b = r.norm("indexer.k_norm", di)
    return [q[:, :dr].transpose(0, 2, 1),                 # w_iq_rope [hi, q_lora, dr]
            q[:, dr:].transpose(0, 2, 1),                 # w_iq_pass [hi, q_lora, di-dr]
            r.get("indexer.wk", (di, D)).T,               # w_ik [D, di]
            g, b,                                         # ik_norm, ik_norm_bias
            r.get("indexer.weights_proj", (hi, D)).T]     # w_iw [D, hi]


def _standard(cfg: LayerConfig, local: LayerConfig, r: _Reader, rank: int) -> List[np.ndarray]:
    D, H, G, hd = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    h, g = local.num_attention_heads, local.num_key_value_heads
    q = _heads(r.get("q_proj", (H * hd, D)), rank * h, h, hd)
    k = _heads(r.get("k_proj", (G * hd, D)), rank * g, g, hd)
    v = _heads(r.get("v_proj", (G * hd, D)), rank * g, g, hd)
    o = r.get("o_proj", (D, H * hd))
    return [q.transpose(0, 2, 1), k.transpose(0, 2, 1), v.transpose(0, 2, 1),
            o[:, rank * h * hd:(rank + 1) * h * hd].T]


def weight_names(cfg: LayerConfig) -> List[str]:
    """The layer function's weight argument names, in order."""
    if cfg.latent:
        return ((["w_dq", "q_norm"] if cfg.q_lora_rank else [])
                + ["w_uq", "w_qr", "w_dkv", "kv_norm", "w_kr", "w_uk", "w_uv", "w_o"]
                + (["w_iq_rope", "w_iq_pass", "w_ik", "ik_norm", "ik_norm_bias", "w_iw"]
                   if cfg.sparse else []))
    return ["w_q", "w_k", "w_v", "w_o"]


__all__ = ["FP8_BLOCK", "from_state_dict", "weight_names"]
