"""Reading a Hugging Face config.json into what one attention layer computes.

The reference for "what a layer computes" is transformers' own attention
class for the config's `model_type`. Everything that changes the result is
read (RoPE scaling, the softmax scale, the rotary pairing, positional query
scaling, no-RoPE layers); anything this package cannot express is a
`ConfigError` naming the field, never silently ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple


class ConfigError(ValueError):
    """A config field that cannot be read into a layer, named in the message."""


# model_type -> how the MLA class pairs rotary dims when the config does not
# say (`rope_interleave`), or None for layers without RoPE.
_MLA_ROPE_STYLE = {
    "deepseek_v2": "interleaved",     # complex multiplication of pairs
    "deepseek_v3": "interleaved",     # rope_interleave defaults to True
    "deepseek_v32": "interleaved",
    "kimi_k2": "interleaved",         # a DeepseekV3 architecture
    "mistral4": "interleaved",        # rope_interleave defaults to True
    "minicpm3": "rotate_half",        # cos/sin RoPE of Llama
    "kimi_linear": None,              # its MLA layers use no RoPE
}

_IGNORE_ROPE_INTERLEAVE = ("deepseek_v2", "deepseek_v32", "minicpm3", "kimi_linear")

# rope_type values whose frequencies depend on the config only.
_SCALINGS = ("linear", "yarn", "longrope", "llama3")


def _yarn_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1.0 else 0.1 * mscale * math.log(scale) + 1.0


@dataclass
class RopeScaling:
    """`#mla.rope_scaling` parameters, under Hugging Face's names."""
    rope_type: str
    params: Dict[str, Any] = field(default_factory=dict)

    def attr(self) -> str:
        parts = [f"rope_type = {self.rope_type}"]
        for k, v in self.params.items():
            if isinstance(v, (list, tuple)):
                parts.append(f"{k} = [" + ", ".join(_f(x) for x in v) + "]")
            elif isinstance(v, int) and not isinstance(v, bool):
                parts.append(f"{k} = {v}")
            else:
                parts.append(f"{k} = {_f(v)}")
        return "#mla.rope_scaling<" + ", ".join(parts) + ">"


def _f(v) -> str:
    """A float literal MLIR parses back to the same double."""
    r = repr(float(v))
    return r if ("." in r or "e" in r or "inf" in r or "nan" in r) else r + ".0"


@dataclass
class LayerConfig:
    hidden_size: int
    num_attention_heads: int
    num_key_value_heads: int
    rope_theta: float = 10000.0
    # interleaved, rotate_half, or None: no rotation at all.
    rope_style: Optional[str] = "interleaved"
    q_lora_rank: Optional[int] = None
    kv_lora_rank: Optional[int] = None
    qk_nope_head_dim: Optional[int] = None
    qk_rope_head_dim: Optional[int] = None
    v_head_dim: Optional[int] = None
    head_dim: Optional[int] = None
    rms_norm_eps: float = 1e-6
    # The latent norms (q_a_layernorm, kv_a_layernorm) of the MLA classes are
    # built with their default epsilon, not the config's rms_norm_eps.
    latent_norm_eps: float = 1e-6
    rope_scaling: Optional[RopeScaling] = None
    # Multiplier of 1/sqrt(qk head dim): YaRN's mscale(factor, all_dim)^2.
    softmax_mscale: float = 1.0
    # Llama 4 position scale of the queries: (beta, original_max_positions).
    query_scale: Optional[Tuple[float, int]] = None
    model_type: Optional[str] = None
    # DeepSeek-V3.2's lightning indexer (DeepSeek Sparse Attention): its
    # heads, key width and the positions each query keeps; None: dense.
    index_n_heads: Optional[int] = None
    index_head_dim: Optional[int] = None
    index_topk: Optional[int] = None

    @classmethod
    def from_hf(cls, cfg: dict, rope_style: Optional[str] = None) -> "LayerConfig":
        return read_config(cfg, rope_style)

    @property
    def latent(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def sparse(self) -> bool:
        """Attention over the indexer's top-k positions (DeepSeek-V3.2)."""
        return self.index_topk is not None

    @property
    def attention_kind(self) -> str:
        if self.latent:
            return "MLA with DeepSeek Sparse Attention" if self.sparse else "MLA"
        g, h = self.num_key_value_heads, self.num_attention_heads
        return "MHA" if g == h else ("MQA" if g == 1 else "GQA")

    @property
    def qk_head_dim(self) -> int:
        if self.latent:
            return self.qk_nope_head_dim + self.qk_rope_head_dim
        return self.head_dim

    @property
    def softmax_scale(self) -> float:
        return self.qk_head_dim ** -0.5 * self.softmax_mscale

    def shard(self, rank: int, world: int) -> "LayerConfig":
        """The layer of tensor-parallel rank `rank` of `world`: H / world
        query heads (and KV heads for standard attention)."""
        import dataclasses
        if world < 1 or not 0 <= rank < world:
            raise ConfigError(f"tensor parallel: rank {rank} of {world} is not a rank")
        h, g = self.num_attention_heads, self.num_key_value_heads
        if h % world:
            raise ConfigError(f"tensor parallel: num_attention_heads ({h}) is not a "
                              f"multiple of {world}")
        # MLA configs say num_key_value_heads = H; standard attention splits
        # its KV heads with the query heads. The indexer is not split: every
        # rank selects the same positions.
        if self.latent and g != h:
            return dataclasses.replace(self, num_attention_heads=h // world)
        if g % world:
            raise ConfigError(f"tensor parallel: num_key_value_heads ({g}) is not a "
                              f"multiple of {world}")
        return dataclasses.replace(
            self, num_attention_heads=h // world, num_key_value_heads=g // world)

    def attr(self) -> str:
        fields = [
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("q_lora_rank", self.q_lora_rank),
            ("kv_lora_rank", self.kv_lora_rank),
            ("qk_nope_head_dim", self.qk_nope_head_dim),
            ("qk_rope_head_dim", self.qk_rope_head_dim),
            ("v_head_dim", self.v_head_dim),
            ("head_dim", self.head_dim),
        ]
        body = ", ".join(f"{k} = {v}" for k, v in fields if v is not None)
        style = self.rope_style or "interleaved"
        index = "".join(f", {k} = {getattr(self, k)}" for k in
                        ("index_n_heads", "index_head_dim", "index_topk")
                        if getattr(self, k) is not None)
        return (f"#mla.layer_config<{body}, rope_theta = {_f(self.rope_theta)}, "
                f"rope_style = {style}{index}>")


def _rope_parameters(cfg: dict) -> Tuple[dict, float]:
    """The RoPE dict and theta of a transformers 4 (`rope_scaling`,
    top-level `rope_theta`) or 5 (`rope_parameters`) config."""
    params = cfg.get("rope_parameters")
    if params is not None and not isinstance(params, dict):
        raise ConfigError("rope_parameters: expected an object")
    if isinstance(params, dict) and any(isinstance(v, dict) for v in params.values()):
        raise ConfigError("rope_parameters: per-layer-type RoPE parameters are not supported")
    scaling = cfg.get("rope_scaling")
    if scaling is not None and not isinstance(scaling, dict):
        raise ConfigError("rope_scaling: expected an object or null")
    merged = dict(params or {})
    for k, v in (scaling or {}).items():
        merged.setdefault(k, v)
    theta = merged.get("rope_theta", cfg.get("rope_theta", 10000.0))
    if not isinstance(theta, (int, float)) or not theta > 0:
        raise ConfigError(f"rope_theta: expected a positive number, got {theta!r}")
    return merged, float(theta)


def _read_scaling(cfg: dict, rope: dict, rotary_dim: int) -> Tuple[Optional[RopeScaling], float]:
    """The #mla.rope_scaling and the softmax-scale multiplier."""
    rope_type = rope.get("rope_type", rope.get("type", "default")) or "default"
    if rope_type == "default":
        return None, 1.0
    if rope_type not in _SCALINGS:
        raise ConfigError(f"rope_scaling: rope_type {rope_type!r} is not supported "
                          f"(supported: default, {', '.join(_SCALINGS)})")
    # transformers: a top-level original_max_position_embeddings wins, then
    # the RoPE dict's, then max_position_embeddings.
    orig = cfg.get("original_max_position_embeddings",
                   rope.get("original_max_position_embeddings",
                            cfg.get("max_position_embeddings")))
    factor = rope.get("factor")
    p: Dict[str, Any] = {}
    if rope_type == "linear":
        if factor is None:
            raise ConfigError("rope_scaling: linear needs factor")
        p["factor"] = float(factor)
        return RopeScaling("linear", p), 1.0
    if not isinstance(orig, int) or orig <= 0:
        raise ConfigError(f"rope_scaling: {rope_type} needs original_max_position_embeddings "
                          f"(or max_position_embeddings), got {orig!r}")
    if factor is None:
        if rope_type == "llama3" or cfg.get("max_position_embeddings") is None:
            raise ConfigError(f"rope_scaling: {rope_type} needs factor")
        factor = cfg["max_position_embeddings"] / orig
    p["factor"] = float(factor)
    p["original_max_position_embeddings"] = orig
    mscale_mult = 1.0
    if rope_type == "yarn":
        if rope.get("truncate", True) is not True:
            raise ConfigError("rope_scaling: truncate = false is not supported")
        if rope.get("attention_factor") is not None:
            p["attention_factor"] = float(rope["attention_factor"])
        p["beta_fast"] = float(rope.get("beta_fast") or 32.0)
        p["beta_slow"] = float(rope.get("beta_slow") or 1.0)
        if rope.get("mscale"):
            p["mscale"] = float(rope["mscale"])
        if rope.get("mscale_all_dim"):
            p["mscale_all_dim"] = float(rope["mscale_all_dim"])
    elif rope_type == "longrope":
        for key in ("short_factor", "long_factor"):
            v = rope.get(key)
            if not isinstance(v, list) or len(v) != rotary_dim // 2:
                raise ConfigError(f"rope_scaling: {key} needs {rotary_dim // 2} values "
                                  f"(one per rotated pair), got {v!r:.60}")
            p[key] = [float(x) for x in v]
        if rope.get("attention_factor") is not None:
            p["attention_factor"] = float(rope["attention_factor"])
    elif rope_type == "llama3":
        p["low_freq_factor"] = float(rope.get("low_freq_factor", 1.0))
        p["high_freq_factor"] = float(rope.get("high_freq_factor", 4.0))
    # The MLA classes multiply the softmax scale by mscale(factor,
    # mscale_all_dim)^2 for any non-default rope_type that sets it.
    if rope.get("mscale_all_dim"):
        m = _yarn_mscale(float(factor), float(rope["mscale_all_dim"]))
        mscale_mult = m * m
    return RopeScaling(rope_type, p), mscale_mult


def _read_indexer(cfg: dict, q_lora: Optional[int], dr: int) -> Dict[str, int]:
    """DeepSeek-V3.2's indexer fields (transformers' DeepseekV32Config
    defaults where absent)."""
    out = {}
    for key, default in (("index_n_heads", 64), ("index_head_dim", 128),
                         ("index_topk", 2048)):
        v = cfg.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ConfigError(f"{key}: expected a positive integer, got {v!r}")
        out[key] = v
    if q_lora is None:
        raise ConfigError("index_topk: the indexer's queries come from the query latent, "
                          "so q_lora_rank is needed")
    if out["index_head_dim"] <= dr:
        raise ConfigError(f"index_head_dim: {out['index_head_dim']} must exceed "
                          f"qk_rope_head_dim ({dr}), which it rotates")
    return out


def read_config(cfg: dict, rope_style: Optional[str] = None) -> LayerConfig:
    """The layer of a Hugging Face config dict; ConfigError names what cannot
    be expressed. `rope_style` overrides the rotary pairing."""
    if not isinstance(cfg, dict):
        raise ConfigError("config: expected a JSON object")
    if "text_config" in cfg and "hidden_size" not in cfg:
        cfg = cfg["text_config"]
    for key in ("hidden_size", "num_attention_heads"):
        if not isinstance(cfg.get(key), int) or cfg[key] <= 0:
            raise ConfigError(f"{key}: expected a positive integer, got {cfg.get(key)!r}")
    if cfg.get("attention_bias"):
        raise ConfigError("attention_bias: biased attention projections are not supported")
    if rope_style not in (None, "interleaved", "rotate_half", "none"):
        raise ConfigError(f"rope_style: {rope_style!r} is not interleaved, rotate_half or none")
    model_type = cfg.get("model_type")
    latent = cfg.get("kv_lora_rank") is not None
    heads = cfg["num_attention_heads"]
    rope, theta = _rope_parameters(cfg)
    kw: Dict[str, Any] = dict(
        hidden_size=cfg["hidden_size"], num_attention_heads=heads,
        num_key_value_heads=cfg.get("num_key_value_heads") or heads,
        rope_theta=theta, rms_norm_eps=float(cfg.get("rms_norm_eps", 1e-6)),
        model_type=model_type)
    prf = rope.get("partial_rotary_factor", cfg.get("partial_rotary_factor"))
    if latent:
        for key in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
            if not isinstance(cfg.get(key), int) or cfg[key] <= 0:
                raise ConfigError(f"{key}: expected a positive integer, got {cfg.get(key)!r}")
        q_lora = cfg.get("q_lora_rank")
        if q_lora is not None and (not isinstance(q_lora, int) or q_lora <= 0):
            raise ConfigError(f"q_lora_rank: expected a positive integer or null, got {q_lora!r}")
        dn, dr = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"]
        kw.update(q_lora_rank=q_lora, kv_lora_rank=cfg["kv_lora_rank"],
                  qk_nope_head_dim=dn, qk_rope_head_dim=dr, v_head_dim=cfg["v_head_dim"])
        # partial_rotary_factor is only how some configs (Mistral 4) say that
        # the rope part is d_r of the d_nope + d_r query dims.
        if prf is not None and prf != 1.0 and int((dn + dr) * prf) != dr:
            raise ConfigError(f"partial_rotary_factor: {prf} rotates {int((dn + dr) * prf)} of "
                              f"the {dn + dr} query dims, not qk_rope_head_dim ({dr})")
        if rope_style is None:
            # Only the classes that read rope_interleave follow it; the others
            # (DeepSeek-V2, MiniCPM3, Kimi-Linear) ignore the field.
            if "rope_interleave" in cfg and model_type not in _IGNORE_ROPE_INTERLEAVE:
                rope_style = "interleaved" if cfg["rope_interleave"] else "rotate_half"
            elif model_type in _MLA_ROPE_STYLE:
                rope_style = _MLA_ROPE_STYLE[model_type] or "none"
            else:
                raise ConfigError(
                    f"model_type: {model_type!r} is not a known MLA model, so the rotary pairing "
                    f"is unknown; set rope_interleave in the config or pass rope_style "
                    f"(known: {', '.join(sorted(_MLA_ROPE_STYLE))})")
        rotary_dim = dr
        q_beta = rope.get("llama_4_scaling_beta")
        if q_beta:
            if q_lora is None:
                raise ConfigError("llama_4_scaling_beta: the query scale needs q_lora_rank "
                                  "(it scales the query latent)")
            orig = rope.get("original_max_position_embeddings")
            if not isinstance(orig, int) or orig <= 0:
                raise ConfigError("llama_4_scaling_beta: needs original_max_position_embeddings "
                                  "in the RoPE parameters")
            kw["query_scale"] = (float(q_beta), orig)
        if model_type == "deepseek_v32" or cfg.get("index_topk") is not None:
            kw.update(_read_indexer(cfg, q_lora, dr))
    else:
        head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
        kw["head_dim"] = head_dim
        if prf is not None and prf != 1.0:
            raise ConfigError(f"partial_rotary_factor: {prf} (partial rotation of standard "
                              "attention heads) is not supported")
        if rope.get("llama_4_scaling_beta"):
            raise ConfigError("llama_4_scaling_beta: not supported for standard attention")
        rope_style = rope_style or "rotate_half"
        rotary_dim = head_dim
    if rope_style == "none":
        if kw.get("index_topk") is not None:
            raise ConfigError("index_topk: the indexer rotates the first qk_rope_head_dim dims "
                              "of its queries and keys, so rope_style none is not supported")
        kw["rope_style"] = None
    else:
        kw["rope_style"] = rope_style
        kw["rope_scaling"], kw["softmax_mscale"] = _read_scaling(cfg, rope, rotary_dim)
    return LayerConfig(**kw)


def load_config(source) -> LayerConfig:
    """A LayerConfig from a config.json path, a dict, or a transformers
    PretrainedConfig."""
    import json
    import os
    if isinstance(source, (str, os.PathLike)):
        with open(source) as f:
            return read_config(json.load(f))
    if hasattr(source, "to_dict"):
        return read_config(source.to_dict())
    return read_config(source)
