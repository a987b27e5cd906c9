"""torch.fx frontend: trace a single-step ``nn.Module`` into the float graph IR.

Neuron modules (anything with a ``to_ir`` method, i.e. :class:`snncc.nn.StatefulNeuron`, every
type in :data:`~snncc.frontend.registry.CONVERTERS` and every framework neuron) are fx leaves,
so their internal state handling is never traced.  Each leaf becomes IR nodes through its converter; modules that only pass data
through (Dropout, Identity, Flatten of an already flat input) disappear.
"""
from __future__ import annotations

import inspect
import operator
from typing import Optional, Sequence

import numpy as np
import torch
from torch import fx, nn

from ..errors import SnnccError
from ..ir import Affine, Graph, Input, Node, Output
from ..ir.fragment import INPUT, Fragment
from ..ir.nodes import NeuronNode, Shape
from ..nn.base import StatefulNeuron
from .registry import (CONVERTERS, FUNCTION_CONVERTERS, SEQUENCE_CONTAINERS,  # noqa: F401
                       Converter, Refusal, _PRECISION, _qualname, as_float, converter_lookup,
                       neuron_family, register_converter, register_function)

SHAPE_METHODS = {"size", "dim"}     # their results are sizes, never data tensors
_SIZE = "<size>"                    # env value of an fx node that computes a size


# What to write instead of the operations users reach for first (``name`` of the fx target).
_SPLIT = ("split the Linear that follows: fc(torch.cat([a, b], -1)) equals fc_a(a) + fc_b(b), "
          "fc_a and fc_b holding fc's weight columns (snncc adds synapse currents into a neuron)")
_OP_FIXES = {
    "cat": _SPLIT, "concat": _SPLIT, "concatenate": _SPLIT, "stack": _SPLIT, "hstack": _SPLIT,
    "sub": "feed the subtracted spikes through their own Linear with negated weights and add "
           "the currents: fc(a - b) equals fc(a) + fc_neg(b) with fc_neg.weight = -fc.weight",
    "mul": "fold the constant into the weights of the Linear or Conv that follows (spikes are "
           "0/1 events; a scaled spike is a weight)",
    "truediv": "fold the constant into the weights of the Linear or Conv that follows",
}


def _supported_ops() -> str:
    names = sorted({getattr(t, "__name__", str(t)) for t in FUNCTION_CONVERTERS})
    return f" (operations snncc converts in forward: {', '.join(names)})"


@register_converter(nn.Linear)
def _linear(m: nn.Linear, name: str, in_shapes: list[Shape]) -> Node:
    bias = None if m.bias is None else as_float(m.bias)
    return Affine(name, weight=as_float(m.weight), bias=bias)


@register_converter(nn.Dropout, nn.Identity)
def _passthrough(m: nn.Module, name: str, in_shapes: list[Shape]) -> None:
    return None


class _State(str):
    """Marks an fx value that is a neuron's state (``spk, mem = lif(x)``: ``mem``), not spikes."""


def _optional_none_args(model: nn.Module) -> dict:
    """``forward(x, state=None)`` (Norse, snnTorch): trace the extra arguments as None."""
    try:
        params = list(inspect.signature(model.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return {}
    return {p.name: None for p in params if p.default is None}


def _flat_outputs(value) -> list:
    """Output fx nodes, with nested tuples/lists flattened and None (unset states) dropped."""
    if isinstance(value, (tuple, list)):
        return [o for v in value for o in _flat_outputs(v)]
    return [] if value is None else [value]


def _converter_for(module: nn.Module) -> Optional[Converter]:
    try:
        return converter_lookup(module)
    except Refusal:
        return None


class _LeafTracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if type(m) in SEQUENCE_CONTAINERS:
            return False
        return (neuron_family(m) is not None or _converter_for(m) is not None
                or _refused(m) or super().is_leaf_module(m, qualname))

    def call_module(self, m: nn.Module, forward, args, kwargs):
        if type(m) in SEQUENCE_CONTAINERS and len(args) == 1 and not kwargs:
            x = args[0]
            for child in m.children():     # the per-step view of the container
                x = self.call_module(child, child.forward, (x,), {})
            return x
        return super().call_module(m, forward, args, kwargs)


def _refused(m: nn.Module) -> bool:
    try:
        converter_lookup(m)
        return False
    except Refusal:
        return True


def _infer_input_shape(model: nn.Module) -> Shape:
    for m in model.modules():
        declared = getattr(m, "snncc_input_shape", None)     # e.g. snncc.nn.TunedNetwork
        if isinstance(declared, tuple) and declared and all(isinstance(d, int) for d in declared):
            return declared
        if isinstance(m, nn.Linear):
            if not isinstance(m.in_features, int) or m.in_features < 1:
                raise SnnccError(f"Linear layer has in_features={m.in_features!r}",
                                 "rebuild the model; the file may be corrupt or hand-edited")
            return (m.in_features,)
    raise SnnccError("cannot infer the model's input shape",
                     "pass input_shape= (API) or --input-shape (CLI)")


def trace(model: nn.Module, input_shape: Optional[Sequence[int]] = None,
          dt: float = 1e-3) -> Graph:
    """Trace ``model`` (one time step per call) into a float :class:`Graph`."""
    if not isinstance(model, nn.Module):
        raise SnnccError(f"expected a torch.nn.Module, got {type(model).__name__}",
                         "pass the model object (saved with torch.save(model))")
    from ..reference import model_dtype
    from .frameworks import register_loaded   # snnTorch/SpikingJelly/Norse converters, if loaded
    register_loaded()
    _PRECISION.append(np.float64 if model_dtype(model) == torch.float64 else np.float32)
    try:
        return _trace(model, input_shape, dt)
    finally:
        _PRECISION.pop()


def _trace(model: nn.Module, input_shape: Optional[Sequence[int]], dt: float) -> Graph:
    try:
        fx_graph = _LeafTracer().trace(model, concrete_args=_optional_none_args(model) or None)
    except SnnccError:
        raise
    except Exception as exc:  # fx raises many types for untraceable Python
        raise SnnccError(f"torch.fx cannot trace {type(model).__name__}.forward: "
                         f"{type(exc).__name__}: {exc}",
                         "write forward() as one time step without data-dependent Python "
                         "control flow; keep the time loop outside the model") from None
    modules = dict(model.named_modules())
    _refuse_time_loop(fx_graph, type(model).__name__, modules)
    from ..reference import model_dtype
    graph = Graph({"dt": float(1e-3 if dt is None else dt), "source": type(model).__name__,
                   "model_dtype": str(model_dtype(model)).replace("torch.", "")})
    shape = tuple(input_shape) if input_shape is not None else _infer_input_shape(model)
    env: dict[str, str] = {}      # fx node name -> IR node name carrying its value
    pending_bias: list[tuple[str, str, np.ndarray]] = []    # (feeder, neuron, input bias)
    shapes: dict[str, Shape] = {}

    def add(node: Node, inputs: list[str]) -> str:
        try:
            shapes[node.name] = tuple(node.infer_shape([shapes[i] for i in inputs]))
        except (ValueError, IndexError, TypeError, AttributeError, OverflowError) as exc:
            raise SnnccError(f"shape mismatch at {node.name!r}: {exc}",
                             "check the layer sizes and the input shape") from None
        if not shapes[node.name] or min(shapes[node.name]) < 1:
            raise SnnccError(f"layer {node.name!r} has zero width (shape "
                             f"{list(shapes[node.name])})", "every layer needs at least one "
                             "neuron; rebuild the model (the file may be corrupt or hand-edited)")
        if isinstance(node, NeuronNode):
            node = _full_per_neuron(node)
        graph.add(node, inputs)
        return node.name

    for n in fx_graph.nodes:
        if n.op == "placeholder":
            if env and n.args == (None,):      # an optional argument traced as None
                continue
            if env:
                raise SnnccError("the model's forward takes more than one input",
                                 "write forward(x) with a single input tensor")
            env[n.name] = add(Input("input", shape=shape), [])
        elif n.op == "call_module":
            module = modules[n.target]
            conv = _module_converter(module, n.target)
            srcs = _sources(n, env)
            _check_declared_shape(module, n.target, shapes[srcs[0]])
            try:
                ir_node = conv(module, n.target, [shapes[s] for s in srcs])
            except SnnccError:
                raise
            except Exception as exc:   # a loaded file can hold any value in a known class
                raise SnnccError(f"layer {n.target!r} ({type(module).__name__}) holds values its "
                                 f"class never has ({type(exc).__name__}: {str(exc)[:120]})",
                                 "rebuild the model with torch.nn / snncc.nn layers and re-save "
                                 "it; the file may be corrupt or hand-edited") from exc
            if isinstance(ir_node, Fragment):
                env[n.name] = _add_fragment(graph, ir_node, srcs, add)
                if ir_node.input_bias is not None:
                    pending_bias.append((srcs[0], ir_node.output, ir_node.input_bias))
            else:
                env[n.name] = srcs[0] if ir_node is None else add(ir_node, srcs)
        elif n.op == "call_function" and getattr(n.target, "__name__", "") == "_assert_is_none":
            continue                            # fx's guard for an argument traced as None
        elif n.op == "call_function" and n.target is operator.getitem \
                and isinstance(n.args[0], fx.Node) and n.args[0].name in env \
                and not isinstance(env[n.args[0].name], _State) \
                and isinstance(graph.node(env[n.args[0].name]), NeuronNode):
            # neurons returning (spikes, state...): index 0 is the spikes
            src = env[n.args[0].name]
            env[n.name] = src if n.args[1] == 0 else _State(src)
        elif n.op == "call_method" and n.target in SHAPE_METHODS:
            env[n.name] = _SIZE
        elif n.op in ("call_function", "call_method"):
            handler = FUNCTION_CONVERTERS.get(n.target)
            if handler is None:
                name = getattr(n.target, "__name__", str(n.target))
                raise SnnccError(f"unsupported operation {name!r} in forward (fx node {n.name})",
                                 _OP_FIXES.get(name, "express it with supported modules, or "
                                               "register a converter") + _supported_ops())
            srcs = _sources(n, env)
            ir_name = n.name if n.name not in graph else f"{n.name}_{len(graph)}"
            ir_node = handler(n, ir_name, [shapes[s] for s in srcs])
            env[n.name] = srcs[0] if ir_node is None else add(ir_node, srcs)
        elif n.op == "output":
            outs = [o for o in _flat_outputs(n.args[0]) if not isinstance(env[o.name], _State)]
            for i, o in enumerate(outs):
                src = env[o.name]
                if not isinstance(graph.node(src), NeuronNode):
                    raise SnnccError(f"model output {i} comes from {src!r} "
                                     f"({graph.node(src).kind}), not from a spiking neuron",
                                     "end the model with a neuron layer: snncc compiles "
                                     "spike outputs")
                add(Output(f"output{i}" if len(outs) > 1 else "output"), [src])
        elif n.op == "get_attr":
            raise SnnccError(f"forward reads the tensor attribute {n.target!r} directly",
                             "wrap parameters in supported modules")
    for feeder, neuron, bias in pending_bias:
        _fold_input_bias(graph, feeder, neuron, bias)
    return graph


def _fold_input_bias(graph: Graph, feeder: str, neuron: str, bias: np.ndarray) -> None:
    """Add a module's constant input (``Fragment.input_bias``) to its feeding layer's bias."""
    import dataclasses

    from ..convmath import compact_bias, full_bias
    from ..ir import Conv2d
    node = graph.node(feeder)
    if not isinstance(node, (Affine, Conv2d)) or graph.consumers_of(feeder) != [neuron]:
        raise SnnccError(f"layer {neuron!r} adds a constant (its recurrent layer's bias) to its "
                         f"input, but its input {feeder!r} is not a Linear/Conv2d used only by it",
                         "feed it from its own Linear/Conv2d, or give its recurrent layer "
                         "bias=False")
    shape = tuple(graph.node(neuron).shape)
    extra = np.asarray(bias, np.float64).reshape(shape)
    if isinstance(node, Affine):
        old = np.zeros(shape[0], np.float64) if node.bias is None else node.bias
        new = (np.asarray(old, np.float64) + extra.reshape(-1)).astype(node.weight.dtype)
    else:
        old = np.zeros(shape) if node.bias is None else full_bias(node.bias, shape)
        new = compact_bias(np.asarray(old, np.float64) + extra).astype(node.weight.dtype)
    graph.replace(dataclasses.replace(node, bias=new))


def _refuse_time_loop(fx_graph: fx.Graph, model_name: str, modules: dict) -> None:
    """A forward() that loops over time itself: it indexes its input along the first axis
    (``x[t]``) or calls one neuron module several times.  snncc traces one step per call."""
    inputs = [n for n in fx_graph.nodes if n.op == "placeholder"][:1]
    indexed = [n for n in fx_graph.nodes if n.op == "call_function"
               and n.target is operator.getitem and n.args[0] in inputs]
    calls: dict[str, int] = {}
    for n in fx_graph.nodes:
        if n.op == "call_module" and neuron_family(modules[n.target]) is not None:
            calls[n.target] = calls.get(n.target, 0) + 1
    repeated = {k: v for k, v in calls.items() if v > 1}
    if not indexed and not repeated:
        return
    what = []
    if indexed:
        what.append(f"indexes its input {len(indexed)} time(s) (x[{indexed[0].args[1]!r}], ...)")
    if repeated:
        name, count = max(repeated.items(), key=lambda kv: kv[1])
        what.append(f"calls layer {name!r} {count} times")
    raise SnnccError(f"{model_name}.forward() runs a time loop itself: it " + " and ".join(what) +
                     "; snncc traces one time step per forward call",
                     "write forward(x) for one time step (x: (batch, ...)) with the neuron state "
                     "kept in the modules (snnTorch: init_hidden=True), and loop over time "
                     "outside the model")


def _module_converter(module: nn.Module, target: str) -> Converter:
    """The converter of a called module, or the refusal naming its class and the fix."""
    cls = type(module)
    try:
        conv = converter_lookup(module)
    except Refusal as exc:
        raise SnnccError(f"layer {target!r}: {exc}",
                         f"use {cls.__mro__[1].__name__} itself, or register a converter for "
                         f"{cls.__name__} (snncc.frontend.register_converter) that reproduces "
                         "its forward pass") from None
    if conv is not None:
        return conv
    family = neuron_family(module)
    if family is not None:
        raise SnnccError(f"layer {target!r}: {family} neuron {cls.__name__} ({_qualname(cls)}) "
                         "has no snncc converter",
                         "use a neuron snncc converts (docs/conformance.md lists them), or "
                         "register a converter with snncc.frontend.register_converter")
    raise SnnccError(f"unsupported layer {target!r} of type {_qualname(cls)}",
                     "use supported layers (Linear, Conv2d, pooling, snncc.nn neurons, Dropout, "
                     "Identity) or register a converter with snncc.frontend.register_converter")


_PER_NEURON = ("alpha", "beta", "threshold", "bias", "reset_mult", "reset_sub", "input_scale")


def _full_per_neuron(node: NeuronNode) -> NeuronNode:
    """A layer-wide value (one number, e.g. a 0-d threshold) as one value per neuron."""
    import dataclasses
    shape = tuple(node.shape)
    changes = {}
    for name in _PER_NEURON:
        value = getattr(node, name, None)
        if isinstance(value, np.ndarray) and value.size == 1 and value.shape != shape:
            changes[name] = np.full(shape, value.reshape(()), dtype=value.dtype)
    return dataclasses.replace(node, **changes) if changes else node


def _check_declared_shape(module: nn.Module, target: str, in_shape) -> None:
    """A neuron module's declared ``shape`` must be what feeds it, before it allocates."""
    declared = getattr(module, "shape", None)
    if not isinstance(module, StatefulNeuron) or declared is None:
        return
    try:
        size = int(np.prod([int(d) for d in declared], dtype=object))
        ok = all(int(d) >= 1 for d in declared)
    except (TypeError, ValueError):
        size, ok = -1, False
    if not ok or size != int(np.prod(in_shape)):
        raise SnnccError(f"shape mismatch at layer {target!r} ({type(module).__name__}): it "
                         f"declares shape {str(declared)[:60]} but is fed {list(in_shape)}",
                         "rebuild the model with matching layer sizes (the file may be corrupt "
                         "or hand-edited)")


def _sources(n: fx.Node, env: dict[str, str]) -> list[str]:
    srcs = [a for a in n.args if isinstance(a, fx.Node) and env[a.name] != _SIZE]
    if not srcs:
        raise SnnccError(f"{n.name}: no tensor input", "check the model's forward")
    for a in srcs:
        if isinstance(env[a.name], _State):
            raise SnnccError(f"{n.name}: uses the state (membrane/current) output of neuron "
                             f"{env[a.name]!r}", "feed only spikes (index 0 of a neuron's "
                             "output) to other layers: snncc compiles spiking networks")
    return [env[a.name] for a in srcs]


def _add_fragment(graph: Graph, frag: Fragment, srcs: list[str], add) -> str:
    """Add a converter's several nodes; recurrent edges go in once all of them exist."""
    def resolve(name: str) -> str:
        return srcs[0] if name == INPUT else name
    for item in frag.nodes:
        add(item.node, [resolve(i) for i in item.inputs])
    for item in frag.nodes:
        for src in item.recurrent:
            graph.add_recurrent(resolve(src), item.node.name)
    return frag.output
