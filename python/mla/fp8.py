"""fp8 rows with group scales: the cache encoding of `scales = row_groups`
(mla-codegen --cache-scales=row_groups; FlashMLA's "FP8 with scale" row of
656 bytes at d_c 512, d_r 64, groups of 128).

A row is d_c e4m3fn values, then d_c / group float32 scales, then d_r
bfloat16 values (the rope part, unquantized); value k < d_c is
e4m3(k) * scale[k // group]. `encode_rows` quantizes as FlashMLA's writers
do (scale = the group's amax / 448, round to nearest even, saturating), and
`decode_rows` gives the values a kernel reads.

One scale for the whole cache (`scales = per_tensor`, mla-codegen
--cache-scales=per_tensor) stores every value of a row, rope included, as
the e4m3 code of value / kv_scale: `tensor_scale`, `encode_tensor` and
`decode_tensor`.
"""

from __future__ import annotations

import numpy as np


def _e4m3_values() -> np.ndarray:
    """The float32 value of every code 0 .. 255 (NaN for s1111111)."""
    codes = np.arange(256)
    e, m = (codes >> 3) & 0xF, codes & 7
    mag = np.where(e == 0, m / 8.0 * 2.0 ** -6, (1 + m / 8.0) * 2.0 ** (e - 7.0))
    mag = np.where((codes & 0x7F) == 0x7F, np.nan, mag)
    return np.where(codes & 0x80, -mag, mag).astype(np.float32)


_VALUES = _e4m3_values()
_POSITIVE = _VALUES[:127].astype(np.float64)  # codes 0 .. 126, increasing


def row_bytes(d_c: int, d_r: int, group: int = 128) -> int:
    """Bytes of one row."""
    return d_c + 4 * (d_c // group) + 2 * d_r


def to_e4m3(x) -> np.ndarray:
    """e4m3fn codes (uint8) of float values: nearest, ties to the even code,
    saturating at +-448; NaN stays NaN."""
    x = np.asarray(x, np.float64)
    a = np.minimum(np.abs(x), 448.0)
    hi = np.clip(np.searchsorted(_POSITIVE, a), 1, 126)
    lo = hi - 1
    dlo, dhi = a - _POSITIVE[lo], _POSITIVE[hi] - a
    code = np.where(dlo < dhi, lo, np.where(dhi < dlo, hi, np.where(lo % 2 == 0, lo, hi)))
    code = np.where(np.isnan(x), 0x7F, code).astype(np.uint8)
    return code | np.where(np.signbit(x), 0x80, 0).astype(np.uint8)


def encode_rows(rows, d_c: int, group: int = 128) -> np.ndarray:
    """uint8 [..., row_bytes] of float rows [..., d_c + d_r]."""
    rows = np.ascontiguousarray(rows, np.float32)
    if d_c % group:
        raise ValueError(f"d_c = {d_c} is not a multiple of the scale group {group}")
    lead, width = rows.shape[:-1], rows.shape[-1]
    d_r = width - d_c
    latent = rows[..., :d_c].reshape(*lead, d_c // group, group)
    amax = np.abs(latent).max(axis=-1)
    scale = np.where(amax > 0, amax / np.float32(448.0), np.float32(1.0)).astype(np.float32)
    codes = to_e4m3(latent / scale[..., None]).reshape(*lead, d_c)
    rope = np.ascontiguousarray(rows[..., d_c:])
    bits = rope.view(np.uint32).astype(np.uint64)
    rope_bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # nearest, ties even
    rope_bits = np.where(np.isnan(rope), 0x7FC0, rope_bits).astype(np.uint16)
    out = np.empty((*lead, row_bytes(d_c, d_r, group)), np.uint8)
    out[..., :d_c] = codes
    out[..., d_c:d_c + 4 * (d_c // group)] = scale.view(np.uint8).reshape(*lead, -1)
    out[..., d_c + 4 * (d_c // group):] = rope_bits.view(np.uint8).reshape(*lead, -1)
    return out


def decode_rows(data, d_c: int, d_r: int, group: int = 128) -> np.ndarray:
    """float32 [..., d_c + d_r]: the values of encoded rows."""
    data = np.ascontiguousarray(np.asarray(data, np.uint8))
    if data.shape[-1] != row_bytes(d_c, d_r, group):
        raise ValueError(f"rows of {data.shape[-1]} bytes; d_c = {d_c}, d_r = {d_r}, group "
                         f"{group} make {row_bytes(d_c, d_r, group)}")
    lead = data.shape[:-1]
    values = _VALUES[data[..., :d_c]]
    scales = data[..., d_c:d_c + 4 * (d_c // group)].copy().view(np.float32)
    latent = values * np.repeat(scales, group, axis=-1)
    rope = data[..., d_c + 4 * (d_c // group):].copy().view(np.uint16).astype(np.uint32) << 16
    return np.concatenate([latent, rope.view(np.float32).reshape(*lead, d_r)], axis=-1)


def tensor_scale(x) -> float:
    """The one scale of a per-tensor cache holding `x`: amax / 448 (1 for
    all zeros), so that the largest value is code 448."""
    amax = float(np.nanmax(np.abs(np.asarray(x, np.float32)))) if np.size(x) else 0.0
    if not amax > 0:
        return 1.0
    # A float32 scale (the kernels'), never flushed to 0.
    return max(amax / 448.0, float(np.finfo(np.float32).tiny))


def encode_tensor(rows, kv_scale: float) -> np.ndarray:
    """uint8 codes [..., d_c + d_r] of float rows: e4m3(value / kv_scale),
    nearest even, saturating (what mla.kv_cache_append with cache_scale
    writes)."""
    return to_e4m3(np.asarray(rows, np.float32) / _float32_scale(kv_scale))


def _float32_scale(kv_scale) -> np.float32:
    """kv_scale as a float32, refused unless finite and positive there."""
    with np.errstate(over="ignore"):
        scale = np.float32(kv_scale)
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"kv_scale = {kv_scale!r}: must be finite and positive as a "
                         "float32")
    return scale


def decode_tensor(codes, kv_scale: float) -> np.ndarray:
    """float32 values of per-tensor codes: e4m3(code) * kv_scale."""
    return _VALUES[np.asarray(codes, np.uint8)] * _float32_scale(kv_scale)


def _end_to_end_error(d_c=512, d_r=64, heads=16, tokens=2048, trials=3, seed=0):
    """(max abs, relative L2) of decode attention over encoded rows (group
    scales, and one scale for the cache) against the same rows in bf16, in
    float64, for normal and heavy-tailed rows."""
    from ._dtypes import from_bf16, to_bf16
    rng = np.random.default_rng(seed)
    results = {}
    def per_tensor(c):
        scale = tensor_scale(c)
        return decode_tensor(encode_tensor(c, scale), scale)

    encodings = {
        "row_groups": lambda c: decode_rows(encode_rows(c, d_c), d_c, d_r),
        "per_tensor": per_tensor,
    }
    for dist in ("normal", "heavy-tailed"):
        worst = {encoding: (0.0, 0.0) for encoding in encodings}
        for _ in range(trials):
            cache = rng.standard_normal((tokens, d_c + d_r))
            if dist != "normal":
                cache *= np.exp(rng.standard_normal(cache.shape))
            cache = cache.astype(np.float32)
            q = rng.standard_normal((heads, d_c + d_r))

            def attend(c):
                c = c.astype(np.float64)
                s = q @ c.T * (d_c + d_r) ** -0.5
                p = np.exp(s - s.max(axis=1, keepdims=True))
                return p / p.sum(axis=1, keepdims=True) @ c[:, :d_c]

            ref = attend(from_bf16(to_bf16(cache)))
            # Both encodings of the same rows.
            for encoding, roundtrip in encodings.items():
                diff = attend(roundtrip(cache)) - ref
                worst_abs, worst_rel = worst[encoding]
                worst[encoding] = (max(worst_abs, float(np.abs(diff).max())),
                                   max(worst_rel,
                                       float(np.linalg.norm(diff) / np.linalg.norm(ref))))
        for encoding, w in worst.items():
            results[(dist, encoding)] = w
    return results


if __name__ == "__main__":
    for (dist, encoding), (worst_abs, worst_rel) in _end_to_end_error().items():
        print(f"{dist} rows: fp8 {encoding} vs bf16 cache, 512/64, 16 heads, 2048 tokens: "
              f"max |diff| {worst_abs:.3g}, relative L2 {worst_rel:.3g}")
