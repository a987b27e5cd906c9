"""NIR export/import of the deep-network nodes: Conv2d, SumPool2d/AvgPool2d, Flatten, Scale,
batch-norm (as a 1x1 depthwise Conv2d with bias) and residual adds (as several edges into
one node, which NIR sums).

nir 1.0.8 infers a Conv2d's input channels as ``weight.shape[1]``, ignoring ``groups``, so a
grouped conv (depthwise ones included: pools folded into OR neurons, batch-norm) is written
with its kernel expanded to full channel mixing (zeros off the groups, ``groups=1``: the
same map, readable by every tool) and ``metadata["groups"]``, from which the import restores
the compact kernel.

NIR shapes exclude the batch axis, so snncc writes ``Flatten(start_dim=0)`` for its
(C, H, W) -> (C*H*W,) flatten; on import ``start_dim`` 1 is read as PyTorch's convention
(batch included), the same full flatten, and recorded.  An average pool's divisor when it
is not the window size (``divisor_override``) and a bias-free conv travel in node metadata.
"""
from __future__ import annotations

import numpy as np

from ...convmath import ConvSpec, dense_weight
from ...errors import SnnccError
from ...ir import BatchNorm, Conv2d, Flatten, Pool2d, Scale
from .export import SHAPED_EXPORTERS
from .importer import IMPORTERS


def _conv2d(node: Conv2d, dt: float, in_shape):
    import nir
    bias = node.bias
    if bias is not None and np.ndim(bias) != 1:
        raise SnnccError(f"conv {node.name!r} has a per-position bias (from a composed padded "
                         "conv); NIR's Conv2d bias is per channel",
                         "export the graph before synapse composition (snncc.passes.lower_neurons)")
    meta = {} if bias is not None else {"bias": False}
    return _nir_conv(np.asarray(node.weight), node.groups, in_shape, node.stride, node.padding,
                     np.zeros(node.weight.shape[0], node.weight.dtype) if bias is None
                     else np.asarray(bias), meta)


def _nir_conv(weight, groups, in_shape, stride, padding, bias, meta):
    """A nir.Conv2d; a grouped kernel is expanded (see the module docstring)."""
    import nir
    if groups > 1:
        meta = dict(meta, groups=int(groups))
        weight = dense_weight(ConvSpec(weight, groups=int(groups)))
    return nir.Conv2d(input_shape=tuple(int(s) for s in in_shape[1:]), weight=weight,
                      stride=tuple(stride), padding=tuple(padding), dilation=(1, 1), groups=1,
                      bias=bias, metadata=meta)


def _pool2d(node: Pool2d, dt: float, in_shape):
    import nir
    cls = nir.SumPool2d if node.mode == "sum" else nir.AvgPool2d
    meta = {"count_include_pad": True}
    if node.divisor is not None:
        meta["divisor"] = float(node.divisor)
    return cls(kernel_size=np.array(node.kernel), stride=np.array(node.stride),
               padding=np.array(node.padding), metadata=meta)


def _flatten(node: Flatten, dt: float, in_shape):
    import nir
    return nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0, end_dim=-1)


def _batchnorm(node: BatchNorm, dt: float, in_shape):
    import nir
    scale, shift = np.asarray(node.scale, np.float64), np.asarray(node.shift, np.float64)
    if len(in_shape) != 3:
        return nir.Affine(weight=np.diag(scale), bias=shift, metadata={"batchnorm": True})
    c = scale.shape[0]
    return _nir_conv(scale.reshape(c, 1, 1, 1), c, in_shape, (1, 1), (0, 0), shift,
                     {"batchnorm": True})


def _scale(node: Scale, dt: float, in_shape):
    import nir
    return nir.Scale(scale=np.asarray(node.factor).reshape(tuple(in_shape)))


SHAPED_EXPORTERS.update({Conv2d: _conv2d, Pool2d: _pool2d, Flatten: _flatten,
                         BatchNorm: _batchnorm, Scale: _scale})


def _meta(n) -> dict:
    return dict(getattr(n, "metadata", None) or {})


def _import_conv2d(name, n, ctx):
    padding = n.padding
    k = tuple(int(s) for s in np.asarray(n.weight).shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif all(s == 1 for s in np.atleast_1d(n.stride)) and all(x % 2 for x in k):
            padding = tuple(x // 2 for x in k)
        else:
            raise SnnccError(f"NIR node {name!r}: padding 'same' with stride > 1 or an even "
                             "kernel is asymmetric", "write explicit padding")
    if any(int(d) != 1 for d in np.atleast_1d(n.dilation)):
        raise SnnccError(f"NIR node {name!r}: dilated convolution is not supported",
                         "use dilation 1")
    meta = _meta(n)
    bias = None if _scalar_meta(meta.get("bias")) is False else np.asarray(n.bias)
    weight, groups = np.asarray(n.weight), int(n.groups)
    if groups == 1 and meta.get("groups") is not None:      # snncc's expanded grouped kernel
        groups = int(np.asarray(meta["groups"]))
        weight = _compact(weight, groups)
    return Conv2d(name, weight=weight, bias=bias,
                  stride=tuple(int(s) for s in np.broadcast_to(n.stride, (2,))),
                  padding=tuple(int(p) for p in np.broadcast_to(padding, (2,))),
                  groups=groups), None


def _scalar_meta(v):
    return v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else (
        v.item() if isinstance(v, np.generic) else v)


def _compact(weight: np.ndarray, groups: int) -> np.ndarray:
    """The (C_out, C_in/groups, kh, kw) kernel of an expanded grouped kernel."""
    co, ci = weight.shape[:2]
    og, cg = co // groups, ci // groups
    return np.concatenate([weight[g * og:(g + 1) * og, g * cg:(g + 1) * cg]
                           for g in range(groups)])


def _import_pool(mode: str):
    def run(name, n, ctx):
        meta = _meta(n)
        divisor = meta.get("divisor")
        return Pool2d(name, mode=mode, kernel=tuple(int(k) for k in np.broadcast_to(n.kernel_size, (2,))),
                      stride=tuple(int(s) for s in np.broadcast_to(n.stride, (2,))),
                      padding=tuple(int(p) for p in np.broadcast_to(n.padding, (2,))),
                      divisor=None if divisor is None else float(np.asarray(divisor))), None
    return run


def _import_flatten(name, n, ctx):
    shape = n.input_type.get("input") if n.input_type else None
    if int(n.end_dim) not in (-1,) and shape is not None and int(n.end_dim) != len(shape) - 1:
        raise SnnccError(f"NIR node {name!r}: a partial flatten (end_dim={n.end_dim})",
                         "flatten all non-batch dimensions")
    if int(n.start_dim) not in (0, 1):
        raise SnnccError(f"NIR node {name!r}: Flatten(start_dim={n.start_dim}) keeps leading "
                         "dimensions", "flatten all non-batch dimensions")
    if int(n.start_dim) == 1:
        ctx.notes.append(f"Flatten {name!r}: start_dim = 1 read as PyTorch's (batch axis "
                         "included): the same full flatten")
    return Flatten(name), None


def _import_scale(name, n, ctx):
    return Scale(name, factor=np.asarray(n.scale)), None


IMPORTERS.update({"Conv2d": _import_conv2d, "SumPool2d": _import_pool("sum"),
                  "AvgPool2d": _import_pool("avg"), "Flatten": _import_flatten,
                  "Scale": _import_scale})
