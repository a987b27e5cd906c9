"""Array namespaces for the vectorized simulator: one implementation, numpy or torch arrays.

The simulator's arithmetic is written once against :class:`Ops`; :class:`NumpyOps` runs it
on numpy (also in the torch-free Python 3.10 Lava env), :class:`TorchOps` on any torch
device (CPU, CUDA).  Only operations whose integer semantics agree bit for bit in both
libraries are used: int64 ``+ - *``, arithmetic ``>>``, ``<<``, ``&``, comparisons, where,
clip, and float matmuls only where a bound proves them exact (see ``exact.py``).
torch is imported when a :class:`TorchOps` is made, never at module import.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

Array = Any   # a numpy.ndarray or a torch.Tensor, depending on the Ops in use


class Ops:
    """The handful of array operations the simulator needs beyond Python operators."""

    name = "abstract"
    int64: Any
    int32: Any
    float32: Any
    float64: Any
    bool_: Any

    def asarray(self, x: np.ndarray, dtype: Any = None) -> Array:
        raise NotImplementedError

    def to_numpy(self, x: Array) -> np.ndarray:
        raise NotImplementedError

    def zeros(self, shape: tuple[int, ...], dtype: Any) -> Array:
        raise NotImplementedError

    def empty(self, shape: tuple[int, ...], dtype: Any) -> Array:
        raise NotImplementedError

    def astype(self, x: Array, dtype: Any) -> Array:
        raise NotImplementedError

    def copy(self, x: Array) -> Array:
        """A copy that owns its memory (so that ``x``'s base can be freed)."""
        raise NotImplementedError

    def where(self, cond: Array, a: Array | int, b: Array | int) -> Array:
        raise NotImplementedError

    def clip(self, x: Array, lo: int, hi: int) -> Array:
        raise NotImplementedError

    def maximum(self, x: Array, lo: int) -> Array:
        raise NotImplementedError

    def sign(self, x: Array) -> Array:
        raise NotImplementedError

    def floor(self, x: Array) -> Array:
        raise NotImplementedError

    def max_abs(self, x: Array) -> int:
        """``max |x|`` as a Python int (0 for an empty array)."""
        raise NotImplementedError

    # in place, on float64 state arrays (the hot loop of the neuron)
    def trunc_(self, x: Array) -> None:
        raise NotImplementedError

    def floor_(self, x: Array) -> None:
        raise NotImplementedError

    def clip_(self, x: Array, lo: float, hi: float) -> None:
        raise NotImplementedError

    def maximum_(self, x: Array, lo: float) -> None:
        raise NotImplementedError

    def greater_out(self, a: Array, b: Array, out: Array) -> None:
        """``out[...] = a > b`` (out is bool or float 0/1)."""
        raise NotImplementedError

    def less_equal_out(self, a: Array, b: Array, out: Array) -> None:
        """``out[...] = a <= b`` (out is bool or float 0/1)."""
        raise NotImplementedError

    def multiply_out(self, a: Array, b: Array, out: Array) -> None:
        raise NotImplementedError

    def ones(self, shape: tuple[int, ...], dtype: Any) -> Array:
        raise NotImplementedError

    def matmul(self, a: Array, b: Array, out: Optional[Array] = None) -> Array:
        """``a @ b``, into ``out`` when given (same dtype, contiguous)."""
        raise NotImplementedError

    def concat(self, xs: list[Array], axis: int) -> Array:
        raise NotImplementedError

    def stack(self, xs: list[Array], axis: int) -> Array:
        raise NotImplementedError

    def permute(self, x: Array, axes: tuple[int, ...]) -> Array:
        """numpy's ``transpose(axes)`` / torch's ``permute(axes)``."""
        raise NotImplementedError

    def windows(self, x: Array, kernel: tuple[int, int], stride: tuple[int, int]) -> Array:
        """Sliding windows of a channel-last batch (M, H, W, C): a view (M, Ho, Wo, C, kh, kw)."""
        raise NotImplementedError

    def any(self, x: Array) -> bool:
        raise NotImplementedError

    def synchronize(self) -> None:
        """Wait for queued device work (for timing); a no-op on the CPU."""


class NumpyOps(Ops):
    """numpy arrays on the CPU."""

    name = "numpy"
    int64, int32, float32, float64, bool_ = np.int64, np.int32, np.float32, np.float64, np.bool_

    def asarray(self, x, dtype=None):
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, x):
        return np.asarray(x)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    def empty(self, shape, dtype):
        return np.empty(shape, dtype=dtype)

    def astype(self, x, dtype):
        return x.astype(dtype, copy=False)

    def copy(self, x):
        return x.copy()

    def where(self, cond, a, b):
        return np.where(cond, a, b)

    def clip(self, x, lo, hi):
        return np.clip(x, lo, hi)

    def maximum(self, x, lo):
        return np.maximum(x, lo)

    def sign(self, x):
        return np.sign(x)

    def floor(self, x):
        return np.floor(x)

    def max_abs(self, x):
        return max(-int(np.min(x)), int(np.max(x))) if x.size else 0

    def trunc_(self, x):
        np.trunc(x, out=x)

    def floor_(self, x):
        np.floor(x, out=x)

    def clip_(self, x, lo, hi):
        np.clip(x, lo, hi, out=x)

    def maximum_(self, x, lo):
        np.maximum(x, lo, out=x)

    def greater_out(self, a, b, out):
        np.greater(a, b, out=out)

    def less_equal_out(self, a, b, out):
        np.less_equal(a, b, out=out)

    def multiply_out(self, a, b, out):
        np.multiply(a, b, out=out)

    def ones(self, shape, dtype):
        return np.ones(shape, dtype=dtype)

    def matmul(self, a, b, out=None):
        return np.matmul(a, b, out=out)

    def concat(self, xs, axis):
        return np.concatenate(xs, axis=axis)

    def stack(self, xs, axis):
        return np.stack(xs, axis=axis)

    def permute(self, x, axes):
        return x.transpose(axes)

    def windows(self, x, kernel, stride):
        view = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(1, 2))
        return view[:, ::stride[0], ::stride[1]]

    def any(self, x):
        return bool(np.any(x))


class TorchOps(Ops):
    """torch tensors on ``device`` ("cpu", "cuda", "cuda:1", ...)."""

    name = "torch"

    def __init__(self, device: Optional[str] = None) -> None:
        import torch
        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.int64, self.int32, self.bool_ = torch.int64, torch.int32, torch.bool
        self.float32, self.float64 = torch.float32, torch.float64

    def asarray(self, x, dtype=None):
        if isinstance(x, self.torch.Tensor):
            return x.to(device=self.device, dtype=dtype)
        return self.torch.as_tensor(np.asarray(x), device=self.device, dtype=dtype)

    def to_numpy(self, x):
        return x.detach().cpu().numpy()

    def zeros(self, shape, dtype):
        return self.torch.zeros(shape, dtype=dtype, device=self.device)

    def empty(self, shape, dtype):
        return self.torch.empty(shape, dtype=dtype, device=self.device)

    def astype(self, x, dtype):
        return x.to(dtype)

    def copy(self, x):
        return x.clone()

    def where(self, cond, a, b):
        return self.torch.where(cond, a, b)

    def clip(self, x, lo, hi):
        return self.torch.clamp(x, lo, hi)

    def maximum(self, x, lo):
        return self.torch.clamp(x, min=lo)

    def sign(self, x):
        return self.torch.sign(x)

    def floor(self, x):
        return self.torch.floor(x)

    def max_abs(self, x):
        if not x.numel():
            return 0
        lo, hi = self.torch.aminmax(x.to(self.torch.int64) if x.dtype == self.torch.bool else x)
        return max(-int(lo.item()), int(hi.item()))

    def trunc_(self, x):
        x.trunc_()

    def floor_(self, x):
        x.floor_()

    def clip_(self, x, lo, hi):
        x.clamp_(lo, hi)

    def maximum_(self, x, lo):
        x.clamp_(min=lo)

    def greater_out(self, a, b, out):
        self.torch.gt(a, b, out=out)

    def less_equal_out(self, a, b, out):
        self.torch.le(a, b, out=out)

    def multiply_out(self, a, b, out):
        self.torch.mul(a, b, out=out)

    def ones(self, shape, dtype):
        return self.torch.ones(shape, dtype=dtype, device=self.device)

    def matmul(self, a, b, out=None):
        return self.torch.matmul(a, b) if out is None else self.torch.matmul(a, b, out=out)

    def concat(self, xs, axis):
        return self.torch.cat(xs, dim=axis)

    def stack(self, xs, axis):
        return self.torch.stack(xs, dim=axis)

    def permute(self, x, axes):
        return x.permute(axes)

    def windows(self, x, kernel, stride):
        return x.unfold(1, kernel[0], stride[0]).unfold(2, kernel[1], stride[1])

    def any(self, x):
        return bool(x.any().item())

    def synchronize(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)


def get_ops(backend: str | Ops = "numpy", device: Optional[str] = None) -> Ops:
    """``"numpy"`` or ``"torch"`` (on ``device``; default CUDA when available, else CPU)."""
    if isinstance(backend, Ops):
        return backend
    if backend == "numpy":
        return NumpyOps()
    if backend == "torch":
        return TorchOps(device)
    raise ValueError(f"unknown array backend {backend!r} (numpy or torch)")
