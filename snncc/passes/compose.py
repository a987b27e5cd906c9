"""Synapse composition: every neuron's input as a sum of synapses, one per spike source.

Between two spike tensors a network may apply any chain of linear maps: Linear, Conv2d,
pooling, flatten, batch-norm, scales, and residual adds that join chains.  Loihi has only
synapses from a spike source into a neuron (Lava: ``Dense``/``Conv`` into ``a_in``, where
the inputs of several synapses add).  Because all those maps are linear, each path from a
source to a neuron composes into one ``Affine`` or ``Conv2d`` synapse, and an add becomes
several synapses into the same neuron:

* ``conv2(conv1(x))``, ``conv(pool(x))``, ``pool(conv(x))``, batch-norm: one conv
  (:func:`snncc.convmath.compose`; a pool is a depthwise conv with a constant kernel, so an
  average pool's ``1/k^2`` lands in the composed weights, exactly);
* ``linear(flatten(pool(x)))``: one Linear on the unpooled source (the pool's adjoint
  spreads each weight over its window; this is as many synapses as the hardware needs);
* ``conv(a + b)`` (SEW-ResNet's ADD of spike tensors): ``conv(a) + conv(b)``, two synapses;
  ``sn(conv(a) + b)`` (spiking ResNet): a conv synapse from ``a`` and an identity synapse
  (1x1 depthwise conv of ones) from ``b``;
* a recurrent edge on the path makes a recurrent synapse (one step of delay).

All of it is exact in real arithmetic; in float64 the composed graph's float simulation
agrees with the original to round-off.  The result feeds the quantizer, which aligns paths
of different synaptic depth (:mod:`snncc.passes.timing`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from ..convmath import (CompositionError, ConvSpec, bias_through, compact_bias, compose,
                        conv2d_transpose_rows, depthwise, full_bias)
from ..errors import SnnccError
from ..ir import Add, Affine, BatchNorm, Conv2d, Flatten, Graph, Input, Output, Pool2d, Scale
from ..ir.delays import DelayAffine, SpikeDelay, delayed_synapse
from ..ir.nodes import NeuronNode, Node, Shape

SPIKING = (Input, NeuronNode)


@dataclass
class Term:
    """One path into a neuron: from spike ``source`` through linear ``ops`` (forward order)."""

    source: str
    ops: list[str]
    recurrent: bool


def terms_of(graph: Graph, neuron: str) -> list[Term]:
    """Every source -> neuron path, walking back through linear nodes and residual adds."""
    out: list[Term] = []

    def walk(name: str, suffix: list[str], rec: bool) -> None:
        node = graph.node(name)
        if isinstance(node, SPIKING):
            out.append(Term(name, suffix, rec))
            return
        if not isinstance(node, (Add, Affine, Conv2d, Pool2d, Flatten, BatchNorm, Scale,
                                 DelayAffine, SpikeDelay)):
            raise SnnccError(f"node {name!r} ({node.kind}) between spike tensors is not linear",
                             "only Linear, Conv2d, pooling, flatten, batch-norm and adds may "
                             "sit between two neuron layers")
        ops = suffix if isinstance(node, Add) else [name] + suffix
        for src in graph.inputs_of(name):
            walk(src, ops, rec)
        for src in graph.recurrent_inputs_of(name):
            if rec:
                raise SnnccError(f"two recurrent edges on one path into {neuron!r}",
                                 "give every feedback loop exactly one recurrent edge")
            walk(src, ops, True)

    for src in graph.inputs_of(neuron):
        walk(src, [], False)
    for src in graph.recurrent_inputs_of(neuron):
        walk(src, [], True)
    return out


class _Chain:
    """The weights of a path so far: identity, one conv (maybe flattened), or one dense map.

    Biases are not tracked here but by :func:`_path_bias`: paths that differ only in which
    biases they carry (residual paths after an add) then share one composed weight array.
    """

    def __init__(self, source_shape: Shape) -> None:
        self.src_shape = tuple(source_shape)
        self.shape = tuple(source_shape)          # current output shape
        self.conv: Optional[ConvSpec] = None
        self.conv_shape: Optional[Shape] = None   # (C, H, W) the conv outputs
        self.dense: Optional[np.ndarray] = None   # (out, in) on the flat source

    def spatial(self, name: str, spec: ConvSpec) -> None:
        if len(self.shape) != 3 or self.dense is not None:
            raise SnnccError(f"{name!r}: a spatial map after a flatten/Linear",
                             "apply convolutions and pooling before flattening")
        out_shape = (spec.out_channels,) + spec.out_hw(self.shape[1:])
        if self.conv is not None:
            try:
                spec = compose(self.conv, spec, self.src_shape[1:])
            except CompositionError as exc:
                raise SnnccError(f"{name!r} cannot be merged into the synapse before it: {exc}",
                                 "put a neuron layer in between, or use sizes divisible by "
                                 "the pool") from None
        self.conv, self.shape, self.conv_shape = spec, out_shape, out_shape

    def _as_dense(self) -> np.ndarray:
        """The chain so far as a matrix on the flat source, for a following dense map."""
        if self.dense is not None:
            return self.dense
        n_out = int(np.prod(self.shape))
        if self.conv is None:
            return np.eye(n_out)
        eye = np.eye(n_out).reshape((n_out,) + self.conv_shape)
        return conv2d_transpose_rows(eye, self.conv, self.src_shape[1:]).reshape(n_out, -1)

    def affine(self, weight: np.ndarray) -> None:
        w = np.asarray(weight, np.float64)
        if self.conv is None and self.dense is None:
            new_w = w
        elif self.dense is None:
            rows = w.reshape((w.shape[0],) + self.conv_shape)
            new_w = conv2d_transpose_rows(rows, self.conv, self.src_shape[1:]).reshape(w.shape[0], -1)
        else:
            new_w = w @ self.dense
        self.dense, self.conv, self.shape = new_w, None, (w.shape[0],)

    def rows(self, scale: np.ndarray) -> None:
        """Elementwise ``y*scale`` on a flat output (batch-norm 1d, input scales)."""
        self.dense, self.conv = self._as_dense() * np.asarray(scale, np.float64).reshape(-1)[:, None], None

    def result(self, name: str) -> Node:
        if self.dense is not None:
            return Affine(name, weight=self.dense, bias=None)
        if len(self.shape) != 3 and self.conv is None:
            return Affine(name, weight=np.eye(self.shape[0]), bias=None)     # flat identity
        if len(self.shape) != 3:
            raise SnnccError(f"{name!r}: a flattened conv output feeds a neuron directly",
                             "put a Linear layer after the flatten")
        spec = self.conv or depthwise(self.shape[0], (1, 1), 1.0)           # spatial identity
        return Conv2d(name, weight=spec.weight, stride=spec.stride, padding=spec.padding,
                      groups=spec.groups)


def _spatial_spec(node: Node, shape: Shape) -> Optional[ConvSpec]:
    """The conv a node applies to a (C, H, W) tensor, None if it is not spatial there."""
    if len(shape) != 3:
        return None
    if isinstance(node, Conv2d):
        return node.spec()
    if isinstance(node, Pool2d):
        return node.spec(shape[0])
    if isinstance(node, BatchNorm):
        return node.spec()
    if isinstance(node, Scale):
        per = np.asarray(node.factor, np.float64).reshape(shape[0], -1)
        if not np.all(per == per[:, :1]):
            raise SnnccError(f"{node.name!r}: an input scale that varies within a channel "
                             "cannot enter a convolution's shared kernel",
                             "use per-channel (or per-layer) neuron parameters in conv layers")
        return depthwise(shape[0], (1, 1), per[:, 0])
    return None


def _own_bias(node: Node) -> Optional[np.ndarray]:
    if isinstance(node, (Conv2d, Affine)):
        return node.bias
    if isinstance(node, BatchNorm):
        return node.shift
    return None


def _path_weights(ops: list[Node], source_shape: Shape, name: str) -> Node:
    """The bias-free synapse (Affine or Conv2d) equal to the chain of ``ops``."""
    chain = _Chain(source_shape)
    for node in ops:
        spec = None if chain.dense is not None else _spatial_spec(node, chain.shape)
        if spec is not None:
            chain.spatial(node.name, spec)
        elif isinstance(node, Flatten):
            chain.shape = (int(np.prod(chain.shape)),)
        elif isinstance(node, Affine):
            chain.affine(node.weight)
        elif isinstance(node, BatchNorm):
            chain.rows(node.scale)
        elif isinstance(node, Scale):
            chain.rows(node.factor)
        else:
            raise SnnccError(f"{node.name!r} ({node.kind}) cannot act on a flat tensor",
                             "apply convolutions and pooling before flattening")
    return chain.result(name)


def _path_bias(ops: list[Node], source_shape: Shape, with_bias: tuple[bool, ...]) -> Optional[np.ndarray]:
    """The constant part of a path's output: each carried bias pushed through the maps after
    it (per element: a per-channel bias through a padded conv varies at the borders)."""
    bias, shape = None, tuple(source_shape)
    for node, carried in zip(ops, with_bias):
        own = _own_bias(node) if carried else None
        spec = _spatial_spec(node, shape) if len(shape) == 3 else None
        if spec is not None:
            shape = (spec.out_channels,) + spec.out_hw(shape[1:])
            bias = None if bias is None else bias_through(spec, bias)
            own = full_bias(own, shape)
        elif isinstance(node, Flatten):
            shape = (int(np.prod(shape)),)
            bias = None if bias is None else bias.reshape(-1)
        elif isinstance(node, Affine):
            shape = (node.weight.shape[0],)
            bias = None if bias is None else np.asarray(node.weight, np.float64) @ bias
        elif isinstance(node, (BatchNorm, Scale)):
            factor = node.scale if isinstance(node, BatchNorm) else node.factor
            bias = None if bias is None else bias * np.asarray(factor, np.float64).reshape(-1)
        if own is not None:
            own = np.asarray(own, np.float64).reshape(shape)
            bias = own if bias is None else bias + own
    return bias


def compose_path(graph: Graph, term: Term, shapes: dict[str, Shape], name: str,
                 biased: set[str], cache: Optional[dict] = None) -> Node:
    """The single Affine/Conv2d synapse equal to ``term``'s chain of linear maps.

    ``biased``: ops whose bias another path into the same neuron already carries (after
    an add, the ops downstream of it are shared: their bias must count once); updated.
    ``cache``: weights already composed (residual sources of one shape reaching a neuron
    through the same ops share one weight array instead of recomputing it).
    """
    ops = [graph.node(n) for n in term.ops]
    if any(isinstance(op, SpikeDelay) for op in ops):    # delays next to one Linear
        if term.recurrent:
            raise SnnccError(f"{term.ops[-1]!r}: delays on a recurrent path",
                             "delay feed-forward synapses only")
        return delayed_synapse(ops, name)
    if any(isinstance(op, DelayAffine) for op in ops):   # delays do not compose
        if len(ops) != 1 or term.recurrent:
            raise SnnccError(f"{term.ops[-1]!r}: a DelayedLinear must read a spike tensor and "
                             "feed a neuron directly", "put the DelayedLinear between two "
                             "neuron layers (no pooling, flatten or other Linear around it)")
        return ops[0] if ops[0].name == name else replace(ops[0], name=name)
    with_bias = tuple(node.name not in biased for node in ops)
    biased.update(term.ops)
    if len(ops) == 1 and isinstance(ops[0], (Affine, Conv2d)) and with_bias[0]:
        return ops[0] if ops[0].name == name else replace(ops[0], name=name)
    key = (tuple(term.ops), tuple(shapes[term.source]))
    cache = {} if cache is None else cache
    if key not in cache:
        cache[key] = _path_weights(ops, shapes[term.source], name)
    bias = _path_bias(ops, shapes[term.source], with_bias)
    syn = cache[key]
    if isinstance(syn, Conv2d):
        return replace(syn, name=name, bias=compact_bias(bias))
    return replace(syn, name=name, bias=bias)


def is_composed(graph: Graph) -> bool:
    """True when every neuron is fed only by single-source Affine/Conv2d synapses."""
    for name in graph.order():
        node = graph.node(name)
        if isinstance(node, (Affine, Conv2d)):
            srcs = graph.inputs_of(name)
            if len(srcs) != 1 or not isinstance(graph.node(srcs[0]), SPIKING) \
                    or graph.recurrent_inputs_of(name) or len(graph.consumers_of(name)) != 1 \
                    or not isinstance(graph.node(graph.consumers_of(name)[0]), NeuronNode):
                return False
        elif not isinstance(node, SPIKING + (Output,)):
            return False
    return True


def compose_synapses(graph: Graph) -> Graph:
    """A graph of spike sources, neurons and one synapse per (source, neuron) path.

    Synapse names: the path's last Linear/Conv2d/pool name when that node lies on exactly
    one path (so a plain MLP keeps its names), else ``"<last>:<source>"``, or
    ``"<neuron>.skip:<source>"`` for an identity shortcut.  A neuron's own bias, when its
    current is memoryless, joins its first synapse's bias (it could not be folded earlier
    because that feeder was shared or was an add).
    """
    if is_composed(graph):
        return graph
    shapes = graph.shapes()
    neurons = [n for n in graph.order() if isinstance(graph.node(n), NeuronNode)]
    all_terms = {n: terms_of(graph, n) for n in neurons}
    uses: dict[str, int] = {}
    for terms in all_terms.values():
        for t in terms:
            if t.ops:
                uses[t.ops[-1]] = uses.get(t.ops[-1], 0) + 1
    out = Graph(dict(graph.meta, composed=True))
    taken: set[str] = set(graph.order())
    deferred: list[tuple[Node, str, str]] = []      # recurrent synapses: (node, source, neuron)
    cache: dict = {}

    def fresh(base: str) -> str:
        name, k = base, 1
        while name in taken:
            k += 1
            name = f"{base}#{k}"
        taken.add(name)
        return name

    for name in graph.order():
        node = graph.node(name)
        if isinstance(node, Input):
            out.add(node)
        elif isinstance(node, Output):
            (src,) = graph.inputs_of(name)
            if src not in out:
                raise SnnccError(f"output {name!r} reads {src!r}, which is not a spike tensor",
                                 "end the model with a neuron layer")
            out.add(node, [src])
        elif isinstance(node, NeuronNode):
            ff: list[str] = []
            neuron = node
            biased: set[str] = set()
            for term in all_terms[name]:
                if not term.ops and not term.recurrent and getattr(neuron, "graded", False):
                    ff.append(term.source)       # a sigma-delta encoder reads its input as is
                    continue
                if term.ops:
                    last = term.ops[-1]
                    syn_name = last if uses[last] == 1 else fresh(f"{last}:{term.source}")
                else:
                    syn_name = fresh(f"{name}.skip:{term.source}")
                syn = compose_path(graph, term, shapes, syn_name, biased, cache)
                if term.recurrent:
                    deferred.append((syn, term.source, name))
                    continue
                if not ff and _bias_moves(neuron):
                    syn = _with_bias(syn, neuron, shapes[name])
                    neuron = replace(neuron, bias=np.zeros_like(neuron.bias))
                out.add(syn, [term.source])
                ff.append(syn.name)
            out.add(neuron, ff)
    for syn, src, dst in deferred:
        out.add(syn, [src])
        out.add_recurrent(syn.name, dst)
    return out


def _bias_moves(neuron) -> bool:
    if not hasattr(neuron, "alpha"):      # sigma-delta neurons keep their bias
        return False
    return bool(np.all(np.asarray(neuron.alpha) == 0) and np.any(np.asarray(neuron.bias) != 0)
                and getattr(neuron, "input_gain", None) is None)


def _with_bias(syn: Node, neuron, shape: Shape) -> Node:
    bias = np.asarray(neuron.bias, np.float64)
    if isinstance(syn, Affine):
        flat = bias.reshape(-1)
        return replace(syn, bias=flat if syn.bias is None else np.asarray(syn.bias, np.float64) + flat)
    full = bias.reshape(shape) + (0.0 if syn.bias is None else full_bias(syn.bias, shape))
    return replace(syn, bias=compact_bias(full))
