"""Write one attention layer in the `mla` dialect from a Hugging Face config.

The IR is the training form of DESIGN.md: per-head K = c_kv W_UK and
V = c_kv W_UV materialized from the latent cache (MLA), or plain projections
(MHA/MQA/GQA). `decode` layers append the new tokens to a paged latent cache
(MLA) or to paged key and value caches of the KV heads (MHA/MQA/GQA) and
attend over them; `prefill` layers attend causally over the sequence.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from .config import ConfigError, LayerConfig, load_config, read_config  # noqa: F401


def _f(v) -> str:
    from .config import _f as f
    return f(v)


def _t(*dims, dtype: str) -> str:
    return "tensor<" + "x".join("?" if d is None else str(d) for d in dims) + f"x{dtype}>"


def emit_layer(cfg: LayerConfig, name: str, mode: str = "decode", dtype: str = "bf16",
               q_len: int = 1, block_size: int = 64, num_blocks: Optional[int] = None,
               max_blocks: Optional[int] = None, kv_cache: str = "auto",
               scale_group: int = 128) -> str:
    """Returns a module holding one layer function in the training form.
    `kv_cache="fp8"` keeps the latent cache as fp8 rows with a scale per
    `scale_group` values (FlashMLA's "FP8 with scale" rows; mla.fp8);
    `kv_cache="fp8_tensor"` as e4m3 codes (rope included) with one scale,
    the function's `kv_scale` argument after seq_lens (vLLM's fp8 cache
    with its k_scale)."""
    if mode not in ("decode", "prefill"):
        raise ValueError(f"mode must be decode or prefill, got {mode!r}")
    if kv_cache not in ("auto", "fp8", "fp8_tensor"):
        raise ValueError(f"kv_cache must be auto, fp8 or fp8_tensor, got {kv_cache!r}")
    fp8 = kv_cache == "fp8"
    fp8_tensor = kv_cache == "fp8_tensor"
    if cfg.sparse and not cfg.rope_style:
        raise ValueError("an indexer (index_topk) needs RoPE: it rotates the first "
                         "qk_rope_head_dim dims of its queries and keys")
    if (fp8 or fp8_tensor) and (mode != "decode" or not cfg.latent):
        raise ValueError(f"kv_cache={kv_cache!r} is a decode layer's latent cache (MLA)")
    if fp8 and (scale_group <= 0 or cfg.kv_lora_rank % scale_group):
        raise ValueError(f"scale_group {scale_group} must divide kv_lora_rank "
                         f"({cfg.kv_lora_rank})")
    D, H, G = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads
    B = None
    S = q_len if mode == "decode" else None
    T = None if max_blocks is None else max_blocks * block_size
    t = lambda *d: _t(*d, dtype=dtype)  # noqa: E731
    rope_attrs = None
    if cfg.rope_style:
        scaling = f", scaling = {cfg.rope_scaling.attr()}" if cfg.rope_scaling else ""
        rope_attrs = (f"{{theta = {_f(cfg.rope_theta)} : f64, "
                      f"style = #mla.rope_style<{cfg.rope_style}>{scaling}}}")
    scale = cfg.softmax_scale
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
        eps = f"{{epsilon = {cfg.latent_norm_eps:e} : f32}}"
        di = cfg.index_head_dim
        # The latent cache's type, and how append and gather read it.
        if fp8:
            cache_t = _t(num_blocks, block_size, dc + 4 * (dc // scale_group) + 2 * dr,
                         dtype="i8")
            rows_attr = f" {{scale_group = {scale_group} : i64}}"
        elif fp8_tensor:
            cache_t = _t(num_blocks, block_size, dc + dr, dtype="f8E4M3FN")
            rows_attr = " cache_scale(%kv_scale : tensor<f32>)"
        else:
            cache_t, rows_attr = t(num_blocks, block_size, dc + dr), ""
        if mode == "decode":
            cache = arg("kv_cache", cache_t)
            if cfg.sparse:
                index_cache = arg("index_cache", t(num_blocks, block_size, di))
            bt = arg("block_table", _t(B, max_blocks, dtype="i32"))
            lens = arg("seq_lens", _t(B, dtype="i32"))
            if fp8_tensor:
                arg("kv_scale", "tensor<f32>")
        q_in, q_in_dim = h, D
        if cfg.q_lora_rank:
            w_dq = arg("w_dq", t(D, cfg.q_lora_rank))
            g_q = arg("q_norm", t(cfg.q_lora_rank))
            op("%c_q", f"mla.linear {h}, {w_dq} : {t(B, S, D)}, {t(D, cfg.q_lora_rank)} -> {t(B, S, cfg.q_lora_rank)}")
            q_in = op("%c_q_n", f"mla.rms_norm %c_q, {g_q} {eps} : {t(B, S, cfg.q_lora_rank)}, {t(cfg.q_lora_rank)}")
            q_in_dim = cfg.q_lora_rank
            if cfg.query_scale:
                # Llama 4's query scale on c_q scales q_nope and q_rope alike.
                beta, orig = cfg.query_scale
                q_in = op("%c_q_s", f"mla.position_scale {q_in}, {pos} {{beta = {_f(beta)} : f64, "
                          f"original_max_position_embeddings = {orig} : i64}} : "
                          f"{t(B, S, q_in_dim)}, {_t(B, S, dtype='i32')}")
        w_uq = arg("w_uq", t(H, q_in_dim, dn))
        w_qr = arg("w_qr", t(H, q_in_dim, dr))
        w_dkv = arg("w_dkv", t(D, dc))
        g_kv = arg("kv_norm", t(dc))
        w_kr = arg("w_kr", t(D, dr))
        w_uk = arg("w_uk", t(H, dc, dn))
        w_uv = arg("w_uv", t(H, dc, dv))
        w_o = arg("w_o", t(H * dv, D))
        if cfg.sparse:
            hi = cfg.index_n_heads
            w_iqr = arg("w_iq_rope", t(hi, q_in_dim, dr))
            w_iqp = arg("w_iq_pass", t(hi, q_in_dim, di - dr))
            w_ik = arg("w_ik", t(D, di))
            g_ik = arg("ik_norm", t(di))
            b_ik = arg("ik_norm_bias", t(di))
            w_iw = arg("w_iw", t(D, hi))
        op("%q_nope", f"mla.head_proj {q_in}, {w_uq} : {t(B, S, q_in_dim)}, {t(H, q_in_dim, dn)} -> {t(B, S, H, dn)}")
        op("%q_pe", f"mla.head_proj {q_in}, {w_qr} : {t(B, S, q_in_dim)}, {t(H, q_in_dim, dr)} -> {t(B, S, H, dr)}")
        q_rope = "%q_pe"
        if rope_attrs:
            q_rope = op("%q_rope", f"mla.rope %q_pe, {pos} {rope_attrs} : {t(B, S, H, dr)}, {_t(B, S, dtype='i32')}")
        op("%c_kv", f"mla.linear {h}, {w_dkv} : {t(B, S, D)}, {t(D, dc)} -> {t(B, S, dc)}")
        op("%c_kv_n", f"mla.rms_norm %c_kv, {g_kv} {eps} : {t(B, S, dc)}, {t(dc)}")
        op("%k_pe", f"mla.linear {h}, {w_kr} : {t(B, S, D)}, {t(D, dr)} -> {t(B, S, dr)}")
        k_rope = "%k_pe"
        if rope_attrs:
            k_rope = op("%k_rope", f"mla.rope %k_pe, {pos} {rope_attrs} : {t(B, S, dr)}, {_t(B, S, dtype='i32')}")
        if mode == "decode":
            bt_t = _t(B, max_blocks, dtype="i32")
            op("%cache_new", f"mla.kv_cache_append %c_kv_n, {k_rope} into {cache}[{bt}, {lens}]"
               f"{rows_attr} : {t(B, S, dc)}, {t(B, S, dr)} into {cache_t}[{bt_t}, "
               f"{_t(B, dtype='i32')}]")
            body.append(f"  %c_all, %k_rope_all = mla.kv_cache_gather %cache_new[{bt}]{rows_attr} : "
                        f"{cache_t}[{bt_t}] -> {t(B, T, dc)}, {t(B, T, dr)}")
            c_all, kr_all, kv_lens, T_ = "%c_all", "%k_rope_all", f" kv_lens({lens})", T
            lens_t = f" kv_lens({_t(B, dtype='i32')})"
        else:
            c_all, kr_all, kv_lens, lens_t, T_ = "%c_kv_n", k_rope, "", "", S
        indices = indices_t = ""
        if cfg.sparse:
            # DeepSeek Sparse Attention: the indexer's queries (from the query
            # latent) and keys (layer-normed, their first d_r dims rotated
            # with half-split pairs whatever the layer's style), ReLU scores
            # weighted per index head, the top index_topk positions.
            half_attrs = rope_attrs.replace(f"#mla.rope_style<{cfg.rope_style}>",
                                            "#mla.rope_style<rotate_half>")
            pos_t = _t(B, S, dtype="i32")
            op("%iq_pe", f"mla.head_proj {q_in}, {w_iqr} : {t(B, S, q_in_dim)}, "
               f"{t(hi, q_in_dim, dr)} -> {t(B, S, hi, dr)}")
            op("%iq_rope", f"mla.rope %iq_pe, {pos} {half_attrs} : {t(B, S, hi, dr)}, {pos_t}")
            op("%iq_pass", f"mla.head_proj {q_in}, {w_iqp} : {t(B, S, q_in_dim)}, "
               f"{t(hi, q_in_dim, di - dr)} -> {t(B, S, hi, di - dr)}")
            op("%ik0", f"mla.linear {h}, {w_ik} : {t(B, S, D)}, {t(D, di)} -> {t(B, S, di)}")
            op("%ik_n", f"mla.layer_norm %ik0, {g_ik}, {b_ik} {{epsilon = 1.000000e-06 : f32}} : "
               f"{t(B, S, di)}, {t(di)}, {t(di)}")
            b0 = str(B) if B is not None else "%b0"
            if B is None:
                op("%c0", "arith.constant 0 : index")
                op("%b0", f"tensor.dim %ik_n, %c0 : {t(B, S, di)}")
            sz = lambda w: f"[{b0}, {S if S is not None else '%s0'}, {w}]"  # noqa: E731
            if S is None:
                op("%c1", "arith.constant 1 : index")
                op("%s0", f"tensor.dim %ik_n, %c1 : {t(B, S, di)}")
            op("%ik_pe", f"tensor.extract_slice %ik_n[0, 0, 0] {sz(dr)} [1, 1, 1] : "
               f"{t(B, S, di)} to {t(B, S, dr)}")
            op("%ik_pass", f"tensor.extract_slice %ik_n[0, 0, {dr}] {sz(di - dr)} [1, 1, 1] : "
               f"{t(B, S, di)} to {t(B, S, di - dr)}")
            op("%ik_rope", f"mla.rope %ik_pe, {pos} {half_attrs} : {t(B, S, dr)}, {pos_t}")
            op("%iw", f"mla.linear {h}, {w_iw} : {t(B, S, D)}, {t(D, hi)} -> {t(B, S, hi)}")
            if mode == "decode":
                icache_t = t(num_blocks, block_size, di)
                op("%index_cache_new", f"mla.kv_cache_append %ik_pass, %ik_rope into "
                   f"{index_cache}[{bt}, {lens}] : {t(B, S, di - dr)}, {t(B, S, dr)} into "
                   f"{icache_t}[{bt_t}, {_t(B, dtype='i32')}]")
                body.append(f"  %ik_pass_all, %ik_rope_all = mla.kv_cache_gather "
                            f"%index_cache_new[{bt}] : {icache_t}[{bt_t}] -> "
                            f"{t(B, T, di - dr)}, {t(B, T, dr)}")
                ik_pass, ik_rope = "%ik_pass_all", "%ik_rope_all"
            else:
                ik_pass, ik_rope = "%ik_pass", "%ik_rope"
            iscale = di ** -0.5 * hi ** -0.5
            op("%iscores", f"mla.index_score %iq_pass, {ik_pass} weights(%iw) "
               f"rope(%iq_rope, {ik_rope}){kv_lens} {{scale = {iscale!r} : f32, causal}} : "
               f"{t(B, S, hi, di - dr)}, {t(B, T_, di - dr)} weights({t(B, S, hi)}) "
               f"rope({t(B, S, hi, dr)}, {t(B, T_, dr)}){lens_t} -> "
               f"{_t(B, S, T_, dtype='f32')}")
            k_top = cfg.index_topk
            op("%topk", f"mla.topk %iscores {{k = {k_top}}} : {_t(B, S, T_, dtype='f32')} -> "
               f"{_t(B, S, k_top, dtype='i32')}")
            indices, indices_t = " indices(%topk)", f" indices({_t(B, S, k_top, dtype='i32')})"
        op("%k_nope", f"mla.head_proj {c_all}, {w_uk} : {t(B, T_, dc)}, {t(H, dc, dn)} -> {t(B, T_, H, dn)}")
        op("%v", f"mla.head_proj {c_all}, {w_uv} : {t(B, T_, dc)}, {t(H, dc, dv)} -> {t(B, T_, H, dv)}")
        op("%o", f"mla.attention %q_nope, %k_nope, %v rope({q_rope}, {kr_all}){kv_lens}{indices} "
           f"{{scale = {scale!r} : f32, causal}} : {t(B, S, H, dn)}, {t(B, T_, H, dn)}, {t(B, T_, H, dv)} "
           f"rope({t(B, S, H, dr)}, {t(B, T_, dr)}){lens_t}{indices_t} -> {t(B, S, H, dv)}")
        op("%out", f"mla.out_proj %o, {w_o} : {t(B, S, H, dv)}, {t(H * dv, D)} -> {t(B, S, D)}")
        results.append(("%out", t(B, S, D)))
        if mode == "decode":
            results.append(("%cache_new", cache_t))
            if cfg.sparse:
                results.append(("%index_cache_new", t(num_blocks, block_size, di)))
    else:
        hd = cfg.head_dim
        if mode == "decode":
            # Paged key and value caches of the G KV heads (vLLM's layout),
            # before the weights as the layer function takes them.
            cache_t = t(num_blocks, block_size, G, hd)
            k_cache = arg("k_cache", cache_t)
            v_cache = arg("v_cache", cache_t)
            bt = arg("block_table", _t(B, max_blocks, dtype="i32"))
            lens = arg("seq_lens", _t(B, dtype="i32"))
        w_q = arg("w_q", t(H, D, hd))
        w_k = arg("w_k", t(G, D, hd))
        w_v = arg("w_v", t(G, D, hd))
        w_o = arg("w_o", t(H * hd, D))
        op("%q0", f"mla.head_proj {h}, {w_q} : {t(B, S, D)}, {t(H, D, hd)} -> {t(B, S, H, hd)}")
        op("%k0", f"mla.head_proj {h}, {w_k} : {t(B, S, D)}, {t(G, D, hd)} -> {t(B, S, G, hd)}")
        op("%v", f"mla.head_proj {h}, {w_v} : {t(B, S, D)}, {t(G, D, hd)} -> {t(B, S, G, hd)}")
        q, k = "%q0", "%k0"
        if rope_attrs:
            q = op("%q", f"mla.rope %q0, {pos} {rope_attrs} : {t(B, S, H, hd)}, {_t(B, S, dtype='i32')}")
            k = op("%k", f"mla.rope %k0, {pos} {rope_attrs} : {t(B, S, G, hd)}, {_t(B, S, dtype='i32')}")
        if mode == "decode":
            # The new tokens appended, then attention over each sequence's
            # pages.
            bt_t, lens_t = _t(B, max_blocks, dtype="i32"), _t(B, dtype="i32")
            for name_, new, cache in (("k", k, k_cache), ("v", "%v", v_cache)):
                op(f"%{name_}_cache_new", f"mla.kv_cache_append {new} into {cache}[{bt}, {lens}] : "
                   f"{t(B, S, G, hd)} into {cache_t}[{bt_t}, {lens_t}]")
                op(f"%{name_}_all", f"mla.kv_cache_gather %{name_}_cache_new[{bt}] : "
                   f"{cache_t}[{bt_t}] -> {t(B, T, G, hd)}")
            op("%o", f"mla.attention {q}, %k_all, %v_all kv_lens({lens}) "
               f"{{scale = {scale!r} : f32, causal}} : {t(B, S, H, hd)}, {t(B, T, G, hd)}, "
               f"{t(B, T, G, hd)} kv_lens({lens_t}) -> {t(B, S, H, hd)}")
        else:
            op("%o", f"mla.attention {q}, {k}, %v {{scale = {scale!r} : f32, causal}} : "
               f"{t(B, S, H, hd)}, {t(B, S, G, hd)}, {t(B, S, G, hd)} -> {t(B, S, H, hd)}")
        op("%out", f"mla.out_proj %o, {w_o} : {t(B, S, H, hd)}, {t(H * hd, D)} -> {t(B, S, D)}")
        results.append(("%out", t(B, S, D)))
        if mode == "decode":
            results.append(("%k_cache_new", cache_t))
            results.append(("%v_cache_new", cache_t))

    # Weights carry their names, which NAME.json reports for callers.
    inputs = ("h", "positions", "kv_cache", "index_cache", "k_cache", "v_cache", "block_table",
              "seq_lens", "kv_scale")
    sig = ",\n    ".join(f"%{n}: {ty}" + ("" if n in inputs else f' {{mla.name = "{n}"}}')
                          for n, ty in args)
    res_types = ", ".join(ty for _, ty in results)
    mscale = f" * {cfg.softmax_mscale!r} (YaRN mscale^2)" if cfg.softmax_mscale != 1.0 else ""
    if fp8:
        mscale += (f"\n// kv_cache: fp8 rows, {dc} e4m3 values, {dc // scale_group} f32 scales "
                   f"(groups of {scale_group}), {dr} bf16 rope values")
    if fp8_tensor:
        mscale += (f"\n// kv_cache: {dc + dr} e4m3 codes a row (rope included), value = "
                   "code * kv_scale")
    lines = [f"// {cfg.attention_kind} layer, {mode}, generated by python -m mla.layer.\n"
             f"// scale = 1/sqrt({cfg.qk_head_dim}){mscale}.\n"
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
    p.add_argument("--rope-style", choices=["interleaved", "rotate_half", "none"],
                   help="override the rotary pairing the config implies")
    p.add_argument("--tensor-parallel", type=int, default=1, metavar="N",
                   help="the layer of one rank of N (heads split)")
    p.add_argument("--kv-cache", choices=["auto", "fp8", "fp8_tensor"], default="auto",
                   help="fp8: keep the latent cache as fp8 rows with group scales; "
                        "fp8_tensor: as e4m3 codes with one scale (a kv_scale argument)")
    p.add_argument("--scale-group", type=int, default=128,
                   help="values per scale of the fp8 rows")
    a = p.parse_args(argv)
    try:
        with open(a.config) as f:
            cfg = read_config(json.load(f), a.rope_style)
        cfg = cfg.shard(0, a.tensor_parallel)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"mla.layer: {a.config}: {e}\n")
        return 1
    try:
        text = emit_layer(cfg, a.name, a.mode, a.dtype, a.q_len, a.block_size,
                          kv_cache=a.kv_cache, scale_group=a.scale_group)
    except ValueError as e:
        sys.stderr.write(f"mla.layer: {e}\n")
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())


class Layer:
    """One decode (or prefill) layer of a config, for `mla.compile`:
    `to_mlir()` is the dialect text of `emit_layer(config.shard(rank, world),
    ...)` and `name` the function's name. `weights(state_dict)` gives the
    weight arguments from a transformers attention module's state dict."""

    def __init__(self, config: LayerConfig, name: str = "layer", dtype: str = "f32",
                 q_len: int = 1, block_size: int = 16, rank: int = 0, world: int = 1,
                 mode: str = "decode", kv_cache: str = "auto", scale_group: int = 128):
        from ._dtypes import normalize
        if not isinstance(config, LayerConfig):
            raise TypeError(f"config: expected a LayerConfig, got {type(config).__name__} "
                            "(use Layer.from_config for a path, dict or PretrainedConfig)")
        self.config = config
        self.name = name
        self.dtype = normalize(dtype)
        self.q_len = q_len
        self.block_size = block_size
        self.rank = rank
        self.world = world
        self.mode = mode
        self.kv_cache = kv_cache
        self.scale_group = scale_group
        self.local  # a rank that does not divide the heads is a ConfigError here

    @property
    def local(self) -> LayerConfig:
        """The config of this rank's share (the whole layer when world = 1)."""
        return self.config.shard(self.rank, self.world)

    @classmethod
    def from_config(cls, source, **kw) -> "Layer":
        """From a config.json path, a config dict or a PretrainedConfig."""
        return cls(load_config(source), **kw)

    def to_mlir(self) -> str:
        return emit_layer(self.local, self.name, self.mode, self.dtype, self.q_len,
                          self.block_size, kv_cache=self.kv_cache,
                          scale_group=self.scale_group)

    def weights(self, state_dict, prefix: str = "", **kw) -> list:
        """The weight arguments of this layer (this rank's share), in order,
        in this layer's dtype (see mla.weights.from_state_dict)."""
        from .weights import from_state_dict
        return from_state_dict(self.config, state_dict, dtype=self.dtype, rank=self.rank,
                               world=self.world, prefix=prefix, **kw)

    def __repr__(self) -> str:
        tp = f", rank={self.rank}, world={self.world}" if self.world != 1 else ""
        if self.kv_cache == "fp8":
            tp += f", kv_cache={self.kv_cache!r}, scale_group={self.scale_group}"
        elif self.kv_cache != "auto":
            tp += f", kv_cache={self.kv_cache!r}"
        return (f"Layer({self.name!r}, {self.local.attention_kind}, {self.mode}, {self.dtype}, "
                f"q_len={self.q_len}, block_size={self.block_size}{tp})")

    def __eq__(self, other) -> bool:
        return isinstance(other, Layer) and vars(self) == vars(other)
