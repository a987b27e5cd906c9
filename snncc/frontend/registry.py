"""The converter registry of the fx frontend: which class becomes which IR, and which not.

* :data:`CONVERTERS` (module class -> converter, bound to the **exact** class; see
  :func:`converter_lookup` for subclasses) and :data:`FUNCTION_CONVERTERS` (functions and
  tensor methods used in ``forward``);
* :data:`NEURON_FAMILIES`: neuron base classes of each framework, whose every subclass is
  an fx leaf, so an unsupported neuron is refused by its class name instead of traced into;
* :data:`SEQUENCE_CONTAINERS`: containers applied per time step as their children;
* :func:`float_dtype` / :func:`as_float`: the traced model's float precision, in which
  converters store parameters (float64 for a ``.double()`` model, else float32).
"""
from __future__ import annotations

from typing import Callable, Optional, Union

import numpy as np
import torch
from torch import fx, nn

from ..ir import Node
from ..ir.fragment import Fragment
from ..ir.nodes import Shape
from ..nn.base import StatefulNeuron

# A converter takes (module, node name, input shapes) and returns an IR node, a Fragment
# (several nodes, e.g. a neuron with its recurrent synapses), or None for a module that
# passes its input through unchanged.
Converter = Callable[[nn.Module, str, list[Shape]], Union[Node, Fragment, None]]
CONVERTERS: dict[type, Converter] = {}
# Functions and tensor methods in forward (torch.flatten, operator.add, "view", ...): the
# handler takes (fx node, IR name, input shapes) and returns a node or None (pass-through).
FunctionConverter = Callable[[fx.Node, str, list[Shape]], Optional[Node]]
FUNCTION_CONVERTERS: dict[object, FunctionConverter] = {}
# The float dtype of the model being traced: converters store parameters in it (float64 for a
# .double() model, float32 otherwise: float16/bfloat16 values are exact in float32).
_PRECISION: list[type] = [np.float32]


def float_dtype() -> type:
    """numpy float type for the parameters of the model being traced (see ``trace``)."""
    return _PRECISION[-1]


def as_float(t) -> np.ndarray:
    """A detached numpy copy of a tensor (or array, or number) in :func:`float_dtype`."""
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().to(torch.float64 if float_dtype() == np.float64 else torch.float32)
        return t.numpy().copy()
    return np.array(t, dtype=float_dtype())


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


# Neuron base classes of every framework (snncc.nn's StatefulNeuron, snnTorch's
# SpikingNeuron, ...): their modules are fx leaves whether snncc converts them or not, so an
# unsupported neuron is refused by its class name instead of being traced into.
NEURON_FAMILIES: dict[type, str] = {}
# Containers that apply their children one after the other per time step, whatever their own
# forward does with the time axis (SpikingJelly's SeqToANNContainer): traced as their children.
SEQUENCE_CONTAINERS: set[type] = set()
# Names a subclass may define without changing what a converter bound to its parent reads:
# construction and printing.  Any other method or descriptor counts as an override.
_HARMLESS = {"__module__", "__qualname__", "__doc__", "__init__", "__dict__", "__weakref__",
             "__annotations__", "__slotnames__", "__parameters__", "__orig_bases__",
             "__abstractmethods__", "_abc_impl", "__firstlineno__", "__static_attributes__",
             "__classcell__", "extra_repr", "__repr__", "__str__", "__init_subclass__"}


def register_neuron_family(base: type, framework: str) -> None:
    """Make every subclass of ``base`` an fx leaf (refused by name when it has no converter)."""
    NEURON_FAMILIES[base] = framework


register_neuron_family(StatefulNeuron, "snncc.nn")


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def dynamics_overrides(cls: type, owner: type) -> list[str]:
    """Methods and descriptors that ``cls`` or a class between it and ``owner`` (in the MRO)
    defines, apart from construction and printing: what could change the dynamics that the
    converter bound to ``owner`` reads."""
    names = []
    for klass in cls.__mro__:
        if klass is owner:
            break
        for name, value in vars(klass).items():
            if name in _HARMLESS:
                continue
            if callable(value) or isinstance(value, (staticmethod, classmethod, property)):
                names.append(name)
    return list(dict.fromkeys(names))


class Refusal(Exception):
    """Why a module's class cannot be converted (raised by :func:`converter_lookup`)."""


def converter_lookup(module: nn.Module) -> Optional[Converter]:
    """The converter bound to ``type(module)``.

    Converters are bound to exact classes.  A subclass of a converted class (or of a class
    defining ``to_ir``) is converted as its parent only when it overrides nothing but
    ``__init__`` and printing; otherwise :class:`Refusal` names the class and what it
    overrides.  Returns None for classes no converter knows (containers, unknown layers).
    """
    cls = type(module)
    if cls in CONVERTERS:
        return CONVERTERS[cls]
    owner = next((k for k in cls.__mro__ if k in CONVERTERS or "to_ir" in vars(k)), None)
    if owner is None:
        return None
    changed = dynamics_overrides(cls, owner)
    if changed:
        raise Refusal(f"{cls.__name__} ({_qualname(cls)}) subclasses {owner.__name__} and "
                      f"overrides {', '.join(changed)}: its dynamics may differ from "
                      f"{owner.__name__}'s, and snncc has no converter for {cls.__name__}")
    if owner in CONVERTERS:
        return CONVERTERS[owner]
    return lambda m, name, shapes: m.to_ir(name)


def neuron_family(module: nn.Module) -> Optional[str]:
    """The framework whose neuron base class ``module`` derives from, or None."""
    return next((fw for base, fw in NEURON_FAMILIES.items() if isinstance(module, base)), None)
