"""torch.fx frontend: trace a single-step ``nn.Module`` into the float graph IR.

Neuron modules (anything with a ``to_ir`` method, i.e. :class:`snncc.nn.StatefulNeuron`, and
every type in :data:`CONVERTERS`) are fx leaves, so their internal state handling is never
traced.  Each leaf becomes IR nodes through its converter; modules that only pass data
through (Dropout, Identity, Flatten of an already flat input) disappear.
"""
from __future__ import annotations

import inspect
import operator
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch import fx, nn

from ..errors import SnnccError
from ..ir import Affine, Graph, Input, Node, Output
from ..ir.fragment import INPUT, Fragment
from ..ir.nodes import NeuronNode, Shape

# A converter takes (module, node name, input shapes) and returns an IR node, a Fragment
# (several nodes, e.g. a neuron with its recurrent synapses), or None for a module that
# passes its input through unchanged.
Converter = Callable[[nn.Module, str, list[Shape]], Union[Node, Fragment, None]]
CONVERTERS: dict[type, Converter] = {}
# Functions and tensor methods in forward (torch.flatten, operator.add, "view", ...): the
# handler takes (fx node, IR name, input shapes) and returns a node or None (pass-through).
FunctionConverter = Callable[[fx.Node, str, list[Shape]], Optional[Node]]
FUNCTION_CONVERTERS: dict[object, FunctionConverter] = {}
SHAPE_METHODS = {"size", "dim"}     # their results are sizes, never data tensors
_SIZE = "<size>"                    # env value of an fx node that computes a size


def register_converter(*types: type):
    """Register a converter for module types (decorator)."""
    def wrap(fn: Converter) -> Converter:
        for t in types:
            CONVERTERS[t] = fn
        return fn
    return wrap


def register_function(*targets):
    """Register a converter for functions or tensor-method names used in forward (decorator)."""
    def wrap(fn: FunctionConverter) -> FunctionConverter:
        for t in targets:
            FUNCTION_CONVERTERS[t] = fn
        return fn
    return wrap


@register_converter(nn.Linear)
def _linear(m: nn.Linear, name: str, in_shapes: list[Shape]) -> Node:
    bias = None if m.bias is None else m.bias.detach().double().numpy().astype(np.float32)
    return Affine(name, weight=m.weight.detach().numpy().astype(np.float32).copy(), bias=bias)


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
    for cls in type(module).__mro__:
        if cls in CONVERTERS:
            return CONVERTERS[cls]
    if callable(getattr(module, "to_ir", None)):
        return lambda m, name, shapes: m.to_ir(name)
    return None


class _LeafTracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return _converter_for(m) is not None or super().is_leaf_module(m, qualname)


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
    from .frameworks import register_loaded   # snnTorch/SpikingJelly/Norse converters, if loaded
    register_loaded()
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
    graph = Graph({"dt": float(1e-3 if dt is None else dt), "source": type(model).__name__})
    shape = tuple(input_shape) if input_shape is not None else _infer_input_shape(model)
    env: dict[str, str] = {}      # fx node name -> IR node name carrying its value
    shapes: dict[str, Shape] = {}

    def add(node: Node, inputs: list[str]) -> str:
        try:
            shapes[node.name] = tuple(node.infer_shape([shapes[i] for i in inputs]))
        except (ValueError, IndexError, TypeError, AttributeError, OverflowError) as exc:
            raise SnnccError(f"shape mismatch at {node.name!r}: {exc}",
                             "check the layer sizes and the input shape") from None
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
            conv = _converter_for(module)
            if conv is None:
                raise SnnccError(f"unsupported layer {n.target!r} of type "
                                 f"{type(module).__module__}.{type(module).__name__}",
                                 "use supported layers (Linear, snncc.nn neurons, Dropout, "
                                 "Identity) or register a converter with "
                                 "snncc.frontend.register_converter")
            srcs = _sources(n, env)
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
                                 "express it with supported modules, or register a converter")
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
    return graph


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
