"""Element types of the kernel ABI and their numpy/torch spellings.

NAME.json names element types "f32", "bf16", "f16" and "i32". numpy has no
bfloat16 of its own: bf16 arrays are either `ml_dtypes.bfloat16` (when that
package is installed) or uint16 arrays holding the raw bits, which is what
`to_bf16` produces so that code using it does not depend on ml_dtypes.
"""

from __future__ import annotations

import numpy as np

try:  # optional: a real numpy bfloat16
    import ml_dtypes as _ml_dtypes
except ImportError:  # pragma: no cover - depends on the environment
    _ml_dtypes = None

# Spellings users may pass for an element type, to the ABI's names.
_ALIASES = {
    "f32": "f32", "float32": "f32", "float": "f32",
    "bf16": "bf16", "bfloat16": "bf16",
    "f16": "f16", "float16": "f16", "half": "f16",
}


def normalize(dtype) -> str:
    """The ABI name ("f32", "bf16", "f16") of a dtype given as a string,
    numpy dtype or torch dtype; ValueError for anything else."""
    name = str(dtype)
    if name.startswith("torch."):
        name = name[len("torch."):]
    try:
        return _ALIASES[name.lower()]
    except KeyError:
        raise ValueError(
            f"dtype {dtype!r} is not supported (expected f32, bf16 or f16)") from None


def numpy_dtypes(abi_dtype: str) -> tuple:
    """numpy dtypes accepted for an ABI element type, the preferred first."""
    if abi_dtype == "f32":
        return (np.dtype(np.float32),)
    if abi_dtype == "f16":
        return (np.dtype(np.float16),)
    if abi_dtype == "i32":
        return (np.dtype(np.int32),)
    if abi_dtype == "u8":
        return (np.dtype(np.uint8),)
    if abi_dtype == "bf16":
        if _ml_dtypes is not None:
            return (np.dtype(_ml_dtypes.bfloat16), np.dtype(np.uint16))
        return (np.dtype(np.uint16),)
    raise ValueError(f"NAME.json element type {abi_dtype!r} is unknown")


def numpy_description(abi_dtype: str) -> str:
    """How an error message says which numpy dtypes an ABI type takes."""
    if abi_dtype == "bf16":
        if _ml_dtypes is not None:
            return "bf16 (numpy: ml_dtypes.bfloat16, or uint16 holding bf16 bits)"
        return "bf16 (numpy: uint16 holding bf16 bits, see mla.to_bf16)"
    return {"f32": "f32 (float32)", "f16": "f16 (float16)",
            "i32": "i32 (int32)", "u8": "u8 (uint8 bytes)"}[abi_dtype]


def torch_dtype(abi_dtype: str):
    """The torch dtype of an ABI element type (torch imported here, lazily)."""
    import torch
    return {"f32": torch.float32, "bf16": torch.bfloat16,
            "f16": torch.float16, "i32": torch.int32, "u8": torch.uint8}[abi_dtype]


def to_bf16(x) -> np.ndarray:
    """Round float values to bfloat16, nearest-even, as uint16 bit patterns.

    NaN stays NaN (a quiet NaN with the input's sign), infinities stay
    infinite, and values beyond the bf16 range round to infinity as IEEE
    rounding does. The result is what a bf16 kernel reads from numpy.
    """
    f = np.ascontiguousarray(x, dtype=np.float32)
    bits = f.view(np.uint32)
    # Adding 0x7FFF plus the lowest kept bit rounds half to even; it cannot
    # overflow 32 bits for any non-NaN input (the largest is -inf's pattern).
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> 16) & 1))) >> 16
    quiet_nan = ((bits >> 16) & 0x8000) | 0x7FC0
    return np.where(np.isnan(f), quiet_nan, rounded).astype(np.uint16)


def from_bf16(bits) -> np.ndarray:
    """float32 values of bfloat16 data: uint16 bit patterns (as `to_bf16`
    returns) or an ml_dtypes.bfloat16 array. Exact."""
    a = np.asarray(bits)
    if a.dtype != np.uint16:
        if a.dtype.itemsize != 2 or a.dtype == np.float16 or a.dtype == np.int16:
            raise TypeError(
                f"from_bf16: expected uint16 bf16 bits or ml_dtypes.bfloat16, got {a.dtype}")
        a = a.view(np.uint16)
    return (a.astype(np.uint32) << 16).view(np.float32)
