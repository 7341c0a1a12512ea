"""Write one attention layer in the `mla` dialect from a Hugging Face config.

The IR is the training form of DESIGN.md: per-head K = c_kv W_UK and
V = c_kv W_UV materialized from the latent cache (MLA), or plain projections
(MHA/MQA/GQA). `decode` layers append the new tokens to a paged latent cache
and attend over it; `prefill` layers attend causally over the sequence.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from typing import Optional


@dataclass
class LayerConfig:
    hidden_size: int
    num_attention_heads: int
    num_key_value_heads: int
    rope_theta: float = 10000.0
    rope_style: str = "interleaved"
    q_lora_rank: Optional[int] = None
    kv_lora_rank: Optional[int] = None
    qk_nope_head_dim: Optional[int] = None
    qk_rope_head_dim: Optional[int] = None
    v_head_dim: Optional[int] = None
    head_dim: Optional[int] = None
    rms_norm_eps: float = 1e-6

    @classmethod
    def from_hf(cls, cfg: dict, rope_style: Optional[str] = None) -> "LayerConfig":
        latent = cfg.get("kv_lora_rank") is not None
        heads = cfg["num_attention_heads"]
        kw = dict(
            hidden_size=cfg["hidden_size"],
            num_attention_heads=heads,
            num_key_value_heads=cfg.get("num_key_value_heads") or heads,
            rope_theta=float(cfg.get("rope_theta", 10000.0)),
            rms_norm_eps=float(cfg.get("rms_norm_eps", 1e-6)),
        )
        if latent:
            kw.update(
                q_lora_rank=cfg.get("q_lora_rank"),
                kv_lora_rank=cfg["kv_lora_rank"],
                qk_nope_head_dim=cfg["qk_nope_head_dim"],
                qk_rope_head_dim=cfg["qk_rope_head_dim"],
                v_head_dim=cfg["v_head_dim"],
            )
            # DeepSeek's reference code pairs (2i, 2i+1); Hugging Face ports
            # of other MLA models use rotate_half.
            kw["rope_style"] = rope_style or "interleaved"
        else:
            kw["head_dim"] = cfg.get("head_dim") or cfg["hidden_size"] // heads
            kw["rope_style"] = rope_style or "rotate_half"
        return cls(**kw)

    @property
    def latent(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def attention_kind(self) -> str:
        if self.latent:
            return "MLA"
        g, h = self.num_key_value_heads, self.num_attention_heads
        return "MHA" if g == h else ("MQA" if g == 1 else "GQA")

    @property
    def qk_head_dim(self) -> int:
        if self.latent:
            return self.qk_nope_head_dim + self.qk_rope_head_dim
        return self.head_dim

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
        return (f"#mla.layer_config<{body}, rope_theta = {self.rope_theta!r}, "
                f"rope_style = {self.rope_style}>")


def _t(*dims, dtype: str) -> str:
    return "tensor<" + "x".join("?" if d is None else str(d) for d in dims) + f"x{dtype}>"


def emit_layer(cfg: LayerConfig, name: str, mode: str = "decode", dtype: str = "bf16",
               q_len: int = 1, block_size: int = 64, num_blocks: Optional[int] = None,
               max_blocks: Optional[int] = None) -> str:
    """Returns a module holding one layer function in the training form."""
    if mode not in ("decode", "prefill"):
        raise ValueError(f"mode must be decode or prefill, got {mode!r}")
    if mode == "decode" and not cfg.latent:
        raise ValueError("decode layers use the latent cache: an MLA config is needed")
    D, H, G = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads
    B = None
    S = q_len if mode == "decode" else None
    T = None if max_blocks is None else max_blocks * block_size
    t = lambda *d: _t(*d, dtype=dtype)  # noqa: E731
    rope_attrs = (f"{{theta = {cfg.rope_theta!r} : f64, "
                  f"style = #mla.rope_style<{cfg.rope_style}>}}")
    scale = 1.0 / math.sqrt(cfg.qk_head_dim)
    args, body = [], []

    def arg(name_, ty):
        args.append((name_, ty))
        return "%" + name_

    def op(res, text):
        body.append(f"  {res} = {text}")
        return res

    h = arg("h", t(B, S, D))
    pos = arg("positions", _t(B, S, dtype="i32"))
    results = []
    if cfg.latent:
        dc, dr, dn, dv = (cfg.kv_lora_rank, cfg.qk_rope_head_dim,
                          cfg.qk_nope_head_dim, cfg.v_head_dim)
        eps = f"{{epsilon = {cfg.rms_norm_eps:e} : f32}}"
        if mode == "decode":
            cache = arg("kv_cache", t(num_blocks, block_size, dc + dr))
            bt = arg("block_table", _t(B, max_blocks, dtype="i32"))
            lens = arg("seq_lens", _t(B, dtype="i32"))
        q_in, q_in_dim = h, D
        if cfg.q_lora_rank:
            w_dq = arg("w_dq", t(D, cfg.q_lora_rank))
            g_q = arg("q_norm", t(cfg.q_lora_rank))
            op("%c_q", f"mla.linear {h}, {w_dq} : {t(B, S, D)}, {t(D, cfg.q_lora_rank)} -> {t(B, S, cfg.q_lora_rank)}")
            q_in = op("%c_q_n", f"mla.rms_norm %c_q, {g_q} {eps} : {t(B, S, cfg.q_lora_rank)}, {t(cfg.q_lora_rank)}")
            q_in_dim = cfg.q_lora_rank
        w_uq = arg("w_uq", t(H, q_in_dim, dn))
        w_qr = arg("w_qr", t(H, q_in_dim, dr))
        w_dkv = arg("w_dkv", t(D, dc))
        g_kv = arg("kv_norm", t(dc))
        w_kr = arg("w_kr", t(D, dr))
        w_uk = arg("w_uk", t(H, dc, dn))
        w_uv = arg("w_uv", t(H, dc, dv))
        w_o = arg("w_o", t(H * dv, D))
        op("%q_nope", f"mla.head_proj {q_in}, {w_uq} : {t(B, S, q_in_dim)}, {t(H, q_in_dim, dn)} -> {t(B, S, H, dn)}")
        op("%q_pe", f"mla.head_proj {q_in}, {w_qr} : {t(B, S, q_in_dim)}, {t(H, q_in_dim, dr)} -> {t(B, S, H, dr)}")
        op("%q_rope", f"mla.rope %q_pe, {pos} {rope_attrs} : {t(B, S, H, dr)}, {_t(B, S, dtype='i32')}")
        op("%c_kv", f"mla.linear {h}, {w_dkv} : {t(B, S, D)}, {t(D, dc)} -> {t(B, S, dc)}")
        op("%c_kv_n", f"mla.rms_norm %c_kv, {g_kv} {eps} : {t(B, S, dc)}, {t(dc)}")
        op("%k_pe", f"mla.linear {h}, {w_kr} : {t(B, S, D)}, {t(D, dr)} -> {t(B, S, dr)}")
        op("%k_rope", f"mla.rope %k_pe, {pos} {rope_attrs} : {t(B, S, dr)}, {_t(B, S, dtype='i32')}")
        if mode == "decode":
            cache_t = t(num_blocks, block_size, dc + dr)
            bt_t = _t(B, max_blocks, dtype="i32")
            op("%cache_new", f"mla.kv_cache_append %c_kv_n, %k_rope into {cache}[{bt}, {lens}] : "
               f"{t(B, S, dc)}, {t(B, S, dr)} into {cache_t}[{bt_t}, {_t(B, dtype='i32')}]")
            body.append(f"  %c_all, %k_rope_all = mla.kv_cache_gather %cache_new[{bt}] : "
                        f"{cache_t}[{bt_t}] -> {t(B, T, dc)}, {t(B, T, dr)}")
            c_all, kr_all, kv_lens, T_ = "%c_all", "%k_rope_all", f" kv_lens({lens})", T
            lens_t = f" kv_lens({_t(B, dtype='i32')})"
        else:
            c_all, kr_all, kv_lens, lens_t, T_ = "%c_kv_n", "%k_rope", "", "", S
        op("%k_nope", f"mla.head_proj {c_all}, {w_uk} : {t(B, T_, dc)}, {t(H, dc, dn)} -> {t(B, T_, H, dn)}")
        op("%v", f"mla.head_proj {c_all}, {w_uv} : {t(B, T_, dc)}, {t(H, dc, dv)} -> {t(B, T_, H, dv)}")
        op("%o", f"mla.attention %q_nope, %k_nope, %v rope(%q_rope, {kr_all}){kv_lens} "
           f"{{scale = {scale!r} : f32, causal}} : {t(B, S, H, dn)}, {t(B, T_, H, dn)}, {t(B, T_, H, dv)} "
           f"rope({t(B, S, H, dr)}, {t(B, T_, dr)}){lens_t} -> {t(B, S, H, dv)}")
        op("%out", f"mla.out_proj %o, {w_o} : {t(B, S, H, dv)}, {t(H * dv, D)} -> {t(B, S, D)}")
        results.append(("%out", t(B, S, D)))
        if mode == "decode":
            results.append(("%cache_new", t(num_blocks, block_size, dc + dr)))
    else:
        hd = cfg.head_dim
        w_q = arg("w_q", t(H, D, hd))
        w_k = arg("w_k", t(G, D, hd))
        w_v = arg("w_v", t(G, D, hd))
        w_o = arg("w_o", t(H * hd, D))
        op("%q0", f"mla.head_proj {h}, {w_q} : {t(B, S, D)}, {t(H, D, hd)} -> {t(B, S, H, hd)}")
        op("%k0", f"mla.head_proj {h}, {w_k} : {t(B, S, D)}, {t(G, D, hd)} -> {t(B, S, G, hd)}")
        op("%v", f"mla.head_proj {h}, {w_v} : {t(B, S, D)}, {t(G, D, hd)} -> {t(B, S, G, hd)}")
        op("%q", f"mla.rope %q0, {pos} {rope_attrs} : {t(B, S, H, hd)}, {_t(B, S, dtype='i32')}")
        op("%k", f"mla.rope %k0, {pos} {rope_attrs} : {t(B, S, G, hd)}, {_t(B, S, dtype='i32')}")
        op("%o", f"mla.attention %q, %k, %v {{scale = {scale!r} : f32, causal}} : "
           f"{t(B, S, H, hd)}, {t(B, S, G, hd)}, {t(B, S, G, hd)} -> {t(B, S, H, hd)}")
        op("%out", f"mla.out_proj %o, {w_o} : {t(B, S, H, hd)}, {t(H * hd, D)} -> {t(B, S, D)}")
        results.append(("%out", t(B, S, D)))

    sig = ",\n    ".join(f"%{n}: {ty}" for n, ty in args)
    res_types = ", ".join(ty for _, ty in results)
    lines = [f"// {cfg.attention_kind} layer, {mode}, generated by python -m mla.layer.\n"
             f"// scale = 1/sqrt({cfg.qk_head_dim}) (no YaRN mscale).\n"
             f"func.func @{name}(\n    {sig})\n    -> ({res_types})\n"
             f"    attributes {{mla.layer = {cfg.attr()}}} {{"]
    lines += body
    lines.append(f"  return {', '.join(v for v, _ in results)} : {res_types}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", help="Hugging Face config.json")
    p.add_argument("--name", default="layer")
    p.add_argument("--mode", choices=["decode", "prefill"], default="decode")
    p.add_argument("--dtype", default="bf16", choices=["f32", "f16", "bf16"])
    p.add_argument("--q-len", type=int, default=1)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--rope-style", choices=["interleaved", "rotate_half"])
    a = p.parse_args(argv)
    with open(a.config) as f:
        cfg = LayerConfig.from_hf(json.load(f), a.rope_style)
    sys.stdout.write(emit_layer(cfg, a.name, a.mode, a.dtype, a.q_len, a.block_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
