"""Converters for the layers of deep networks: conv, batch-norm, pooling, flatten, residual add.

Registered into :data:`snncc.frontend.fx.CONVERTERS` (modules) and
:data:`~snncc.frontend.fx.FUNCTION_CONVERTERS` (functions and tensor methods in forward);
importing this module is what registers them.  Each converter checks what it cannot
express exactly and says so in one line.
"""
from __future__ import annotations

import operator

import numpy as np
import torch
from torch import fx, nn

from ..errors import SnnccError
from ..ir import Add, BatchNorm, Conv2d, Flatten, MaxPool2d, Pool2d
from ..ir.nodes import Shape
from ..nn.pool import SumPool2d
from .registry import as_float, register_converter, register_function


def _np(t: torch.Tensor) -> np.ndarray:
    return as_float(t)


def _need_image(name: str, kind: str, in_shapes: list[Shape]) -> tuple[int, int, int]:
    shape = tuple(in_shapes[0])
    if len(shape) != 3:
        raise SnnccError(f"layer {name!r} ({kind}) gets a {shape} input, not (C, H, W)",
                         "pass input_shape=(C, H, W) (CLI: --input-shape C H W)")
    return shape


@register_converter(nn.Conv2d)
def _conv2d(m: nn.Conv2d, name: str, in_shapes: list[Shape]) -> Conv2d:
    _need_image(name, "Conv2d", in_shapes)
    if tuple(m.dilation) != (1, 1):
        raise SnnccError(f"layer {name!r}: dilation {tuple(m.dilation)} is not supported",
                         "use dilation=1")
    if m.padding_mode != "zeros":
        raise SnnccError(f"layer {name!r}: padding_mode={m.padding_mode!r} is not supported",
                         "use zero padding (padding_mode='zeros')")
    padding = m.padding
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif tuple(m.stride) == (1, 1) and all(k % 2 for k in m.kernel_size):
            padding = tuple(k // 2 for k in m.kernel_size)
        else:
            raise SnnccError(f"layer {name!r}: padding='same' with an even kernel is asymmetric",
                             "use an odd kernel or explicit padding")
    bias = None if m.bias is None else _np(m.bias)
    return Conv2d(name, weight=_np(m.weight), bias=bias, stride=tuple(m.stride),
                  padding=tuple(padding), groups=m.groups)


@register_converter(nn.BatchNorm1d, nn.BatchNorm2d)
def _batchnorm(m: nn.modules.batchnorm._BatchNorm, name: str, in_shapes: list[Shape]) -> BatchNorm:
    if m.running_mean is None or m.running_var is None:
        raise SnnccError(f"layer {name!r}: batch-norm without running statistics "
                         "(track_running_stats=False) normalises by each batch",
                         "train with track_running_stats=True; snncc folds the running "
                         "statistics (inference mode)")
    shape = tuple(in_shapes[0])
    if isinstance(m, nn.BatchNorm2d) and len(shape) != 3:
        raise SnnccError(f"layer {name!r}: BatchNorm2d on a {shape} input", "check the model")
    var = m.running_var.detach().double()
    mean = m.running_mean.detach().double()
    gamma = m.weight.detach().double() if m.affine else torch.ones_like(var)
    beta = m.bias.detach().double() if m.affine else torch.zeros_like(var)
    scale = gamma / torch.sqrt(var + m.eps)
    return BatchNorm(name, scale=scale.numpy(), shift=(beta - mean * scale).numpy())


@register_converter(nn.AvgPool2d)
def _avgpool(m: nn.AvgPool2d, name: str, in_shapes: list[Shape]) -> Pool2d:
    _need_image(name, "AvgPool2d", in_shapes)
    if m.ceil_mode:
        raise SnnccError(f"layer {name!r}: ceil_mode=True pools partial windows",
                         "use ceil_mode=False")
    padding = m.padding
    if np.any(np.asarray(padding)) and not m.count_include_pad and m.divisor_override is None:
        raise SnnccError(f"layer {name!r}: count_include_pad=False divides border windows "
                         "by fewer elements (not a fixed kernel)",
                         "use count_include_pad=True or padding=0")
    stride = m.stride if m.stride is not None else m.kernel_size
    return Pool2d(name, mode="avg", kernel=m.kernel_size, stride=stride, padding=padding,
                  divisor=None if m.divisor_override is None else float(m.divisor_override))


@register_converter(nn.AdaptiveAvgPool2d)
def _adaptive_avgpool(m: nn.AdaptiveAvgPool2d, name: str, in_shapes: list[Shape]) -> Pool2d:
    c, h, w = _need_image(name, "AdaptiveAvgPool2d", in_shapes)
    out = m.output_size if isinstance(m.output_size, tuple) else (m.output_size, m.output_size)
    out = tuple(h if o is None else o for o in out[:1]) + tuple(w if o is None else o for o in out[1:])
    if h % out[0] or w % out[1]:
        raise SnnccError(f"layer {name!r}: adaptive pooling of {h}x{w} to {out[0]}x{out[1]} "
                         "has uneven windows", "use an input size divisible by the output size")
    k = (h // out[0], w // out[1])
    return Pool2d(name, mode="avg", kernel=k, stride=k)


@register_converter(nn.MaxPool2d)
def _maxpool(m: nn.MaxPool2d, name: str, in_shapes: list[Shape]) -> MaxPool2d:
    _need_image(name, "MaxPool2d", in_shapes)
    if m.ceil_mode or m.return_indices or np.any(np.asarray(m.dilation) != 1):
        raise SnnccError(f"layer {name!r}: MaxPool2d with ceil_mode, return_indices or "
                         "dilation is not supported", "use the defaults")
    return MaxPool2d(name, kernel=m.kernel_size,
                     stride=m.stride if m.stride is not None else m.kernel_size, padding=m.padding)


@register_converter(SumPool2d)
def _sumpool(m: SumPool2d, name: str, in_shapes: list[Shape]) -> Pool2d:
    _need_image(name, "SumPool2d", in_shapes)
    return Pool2d(name, mode="sum", kernel=m.kernel_size, stride=m.stride, padding=m.padding)


@register_converter(nn.LPPool2d)
def _lppool(m: nn.LPPool2d, name: str, in_shapes: list[Shape]) -> Pool2d:
    _need_image(name, "LPPool2d", in_shapes)
    if float(m.norm_type) != 1.0 or m.ceil_mode:
        raise SnnccError(f"layer {name!r}: LPPool2d with p={m.norm_type} is not linear",
                         "use norm_type=1 (a sum pool) or snncc.nn.SumPool2d")
    return Pool2d(name, mode="sum", kernel=m.kernel_size,
                  stride=m.stride if m.stride is not None else m.kernel_size)


@register_converter(nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                    nn.FeatureAlphaDropout)
def _dropout(m: nn.Module, name: str, in_shapes: list[Shape]) -> None:
    return None     # identity at inference


def _flatten_node(name: str, in_shapes: list[Shape], start_dim: int) -> Flatten | None:
    if start_dim == 0:
        raise SnnccError(f"{name}: flattening from dim 0 merges the batch axis",
                         "flatten from dim 1: torch.flatten(x, 1) or nn.Flatten()")
    if start_dim != 1:
        raise SnnccError(f"{name}: flattening from dim {start_dim} keeps a multi-dimensional "
                         "tensor", "flatten everything but the batch axis (start_dim=1)")
    return None if len(in_shapes[0]) == 1 else Flatten(name)


@register_converter(nn.Flatten)
def _flatten(m: nn.Flatten, name: str, in_shapes: list[Shape]) -> Flatten | None:
    if m.end_dim not in (-1, len(in_shapes[0])):
        raise SnnccError(f"layer {name!r}: Flatten(end_dim={m.end_dim}) keeps trailing dims",
                         "use nn.Flatten() (start_dim=1, end_dim=-1)")
    return _flatten_node(name, in_shapes, m.start_dim)


@register_function(torch.flatten, "flatten")
def _flatten_fn(n: fx.Node, name: str, in_shapes: list[Shape]) -> Flatten | None:
    start = n.args[1] if len(n.args) > 1 else n.kwargs.get("start_dim", 0)
    end = n.args[2] if len(n.args) > 2 else n.kwargs.get("end_dim", -1)
    if end != -1:
        raise SnnccError(f"{name}: flatten(end_dim={end}) keeps trailing dims",
                         "flatten everything but the batch axis")
    return _flatten_node(name, in_shapes, start)


@register_function("view", "reshape", torch.reshape)
def _reshape_fn(n: fx.Node, name: str, in_shapes: list[Shape]) -> Flatten | None:
    dims = n.args[1:] if not (len(n.args) == 2 and isinstance(n.args[1], (tuple, list))) \
        else tuple(n.args[1])
    size = int(np.prod(in_shapes[0]))
    if len(dims) == 2 and (dims[1] == -1 or dims[1] == size) and dims[0] != -1:
        return None if len(in_shapes[0]) == 1 else Flatten(name)
    raise SnnccError(f"{name}: reshape to {tuple(str(d) for d in dims)} is not a flatten",
                     "reshape only as x.view(x.size(0), -1) or use nn.Flatten()")


@register_function(operator.add, operator.iadd, torch.add)
def _add_fn(n: fx.Node, name: str, in_shapes: list[Shape]) -> Add:
    tensors = [a for a in n.args if isinstance(a, fx.Node)]
    if len(tensors) != len(n.args) or len(tensors) < 2 or n.kwargs.get("alpha", 1) != 1:
        raise SnnccError(f"{name}: adds a constant or a scaled tensor",
                         "residual adds of two tensors (x + y) only")
    return Add(name)
