"""numpy arrays and torch tensors seen through one small interface.

The kernels take raw pointers; what differs between numpy and torch is how
to read a shape, dtype, device and contiguity, how to allocate an output next
to an input, and how to get the pointer. torch is never imported here: a
tensor can only exist if the caller imported it already.
"""

from __future__ import annotations

import sys

import numpy as np

from . import _dtypes


def torch_module():
    """torch if the process imported it, else None (never imports it)."""
    return sys.modules.get("torch")


def is_torch(x) -> bool:
    torch = torch_module()
    return torch is not None and isinstance(x, torch.Tensor)


def framework(x, name: str) -> str:
    """'numpy' or 'torch'; TypeError naming the argument for anything else."""
    if isinstance(x, np.ndarray):
        return "numpy"
    if is_torch(x):
        return "torch"
    raise TypeError(f"{name}: expected a numpy array or a torch tensor, got {type(x).__name__}")


def device_of(x) -> str:
    """'cpu' for numpy arrays and CPU tensors, else the torch device ('cuda:0')."""
    if isinstance(x, np.ndarray):
        return "cpu"
    d = x.device
    if d.type == "cpu":
        return "cpu"
    return f"{d.type}:{d.index if d.index is not None else 0}"


def describe(x) -> str:
    """'numpy float32' / 'torch.bfloat16 on cuda:0' for error messages."""
    if isinstance(x, np.ndarray):
        return f"numpy {x.dtype}"
    return f"{x.dtype} on {device_of(x)}"


def dtype_matches(x, abi_dtype: str) -> bool:
    if isinstance(x, np.ndarray):
        return x.dtype in _dtypes.numpy_dtypes(abi_dtype)
    return x.dtype == _dtypes.torch_dtype(abi_dtype)


def expected_dtype(x, abi_dtype: str) -> str:
    if isinstance(x, np.ndarray):
        return _dtypes.numpy_description(abi_dtype)
    return f"{abi_dtype} ({_dtypes.torch_dtype(abi_dtype)})"


def is_contiguous(x) -> bool:
    if isinstance(x, np.ndarray):
        return bool(x.flags.c_contiguous)
    return bool(x.is_contiguous())


def is_writeable(x) -> bool:
    if isinstance(x, np.ndarray):
        return bool(x.flags.writeable)
    return True


def shape_of(x) -> tuple:
    return tuple(x.shape)


def strides_of(x) -> tuple:
    """Strides in elements (numpy counts bytes, torch elements)."""
    if isinstance(x, np.ndarray):
        return tuple(s // x.itemsize for s in x.strides)
    return tuple(x.stride())


def empty_like_framework(like, shape, abi_dtype: str):
    """An uninitialized array of `shape` in the framework and on the device
    of `like`. bf16 numpy outputs use the representation of `like` when it
    is bf16 itself (ml_dtypes or uint16 bits), else the preferred one."""
    if isinstance(like, np.ndarray):
        choices = _dtypes.numpy_dtypes(abi_dtype)
        dtype = like.dtype if like.dtype in choices else choices[0]
        return np.empty(shape, dtype=dtype)
    # new_empty keeps torch.compile's fake tensors fake.
    return like.new_empty(tuple(shape), dtype=_dtypes.torch_dtype(abi_dtype))


# Handed to the kernel for a zero-size array: a non-NULL pointer it never
# reads (a zero-size numpy array may have a NULL-free buffer, an empty
# torch tensor has data_ptr() == 0, which the kernels refuse as a null
# argument even though there is nothing to read).
_EMPTY = np.zeros(64, dtype=np.uint8)


def data_ptr(x) -> int:
    if isinstance(x, np.ndarray):
        if x.size == 0:
            return _EMPTY.ctypes.data
        return x.ctypes.data
    if x.numel() == 0 and x.device.type == "cpu":
        return _EMPTY.ctypes.data
    return x.data_ptr()
