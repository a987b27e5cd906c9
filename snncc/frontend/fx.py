"""torch.fx frontend: trace a single-step ``nn.Module`` into the float graph IR.

Neuron modules (anything with a ``to_ir`` method, i.e. :class:`snncc.nn.StatefulNeuron`, and
every type in :data:`CONVERTERS`) are fx leaves, so their internal state handling is never
traced.  Each leaf becomes IR nodes through its converter; modules that only pass data
through (Dropout, Identity, Flatten of an already flat input) disappear.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import fx, nn

from ..errors import SnnccError
from ..ir import Affine, Graph, Input, Node, Output
from ..ir.nodes import NeuronNode, Shape

# A converter takes (module, node name, input shapes) and returns an IR node, or None for a
# module that passes its input through unchanged.
Converter = Callable[[nn.Module, str, list[Shape]], Optional[Node]]
CONVERTERS: dict[type, Converter] = {}
PASSTHROUGH_FUNCTIONS = {torch.flatten}


def register_converter(*types: type):
    """Register a converter for module types (decorator)."""
    def wrap(fn: Converter) -> Converter:
        for t in types:
            CONVERTERS[t] = fn
        return fn
    return wrap


@register_converter(nn.Linear)
def _linear(m: nn.Linear, name: str, in_shapes: list[Shape]) -> Node:
    bias = None if m.bias is None else m.bias.detach().double().numpy().astype(np.float32)
    return Affine(name, weight=m.weight.detach().numpy().astype(np.float32).copy(), bias=bias)


@register_converter(nn.Dropout, nn.Identity)
def _passthrough(m: nn.Module, name: str, in_shapes: list[Shape]) -> None:
    return None


@register_converter(nn.Flatten)
def _flatten(m: nn.Flatten, name: str, in_shapes: list[Shape]) -> None:
    if len(in_shapes[0]) > 1:
        raise SnnccError(f"module {name!r} (Flatten) flattens a {in_shapes[0]} input; "
                         "multi-dimensional inputs are not supported yet",
                         "feed flat (batch, features) input to the model")
    return None


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
        if isinstance(m, nn.Linear):
            return (m.in_features,)
    raise SnnccError("cannot infer the model's input shape",
                     "pass input_shape= (API) or --input-shape (CLI)")


def trace(model: nn.Module, input_shape: Optional[Sequence[int]] = None,
          dt: float = 1e-3) -> Graph:
    """Trace ``model`` (one time step per call) into a float :class:`Graph`."""
    if not isinstance(model, nn.Module):
        raise SnnccError(f"expected a torch.nn.Module, got {type(model).__name__}",
                         "pass the model object (saved with torch.save(model))")
    try:
        fx_graph = _LeafTracer().trace(model)
    except SnnccError:
        raise
    except Exception as exc:  # fx raises many types for untraceable Python
        raise SnnccError(f"torch.fx cannot trace {type(model).__name__}.forward: "
                         f"{type(exc).__name__}: {exc}",
                         "write forward() as one time step without data-dependent Python "
                         "control flow; keep the time loop outside the model") from None
    modules = dict(model.named_modules())
    graph = Graph({"dt": float(dt), "source": type(model).__name__})
    shape = tuple(input_shape) if input_shape is not None else _infer_input_shape(model)
    env: dict[str, str] = {}      # fx node name -> IR node name carrying its value
    shapes: dict[str, Shape] = {}

    def add(node: Node, inputs: list[str]) -> str:
        try:
            shapes[node.name] = tuple(node.infer_shape([shapes[i] for i in inputs]))
        except ValueError as exc:
            raise SnnccError(f"shape mismatch at {node.name!r}: {exc}",
                             "check the layer sizes and the input shape") from None
        graph.add(node, inputs)
        return node.name

    for n in fx_graph.nodes:
        if n.op == "placeholder":
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
            ir_node = conv(module, n.target, [shapes[s] for s in srcs])
            env[n.name] = srcs[0] if ir_node is None else add(ir_node, srcs)
        elif n.op in ("call_function", "call_method"):
            if n.target in PASSTHROUGH_FUNCTIONS or n.target in ("flatten", "view", "reshape"):
                src = _sources(n, env)[0]
                if len(shapes[src]) != 1:
                    raise SnnccError(f"{n.name}: reshaping a {shapes[src]} tensor is not "
                                     "supported yet", "feed flat (batch, features) input")
                env[n.name] = src
            else:
                name = getattr(n.target, "__name__", str(n.target))
                raise SnnccError(f"unsupported operation {name!r} in forward (fx node {n.name})",
                                 "express it with supported modules, or register a converter")
        elif n.op == "output":
            outs = n.args[0] if isinstance(n.args[0], (tuple, list)) else (n.args[0],)
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
    srcs = [a for a in n.args if isinstance(a, fx.Node)]
    if not srcs:
        raise SnnccError(f"{n.name}: no tensor input", "check the model's forward")
    return [env[a.name] for a in srcs]

