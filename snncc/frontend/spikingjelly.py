"""SpikingJelly neurons (``LIFNode``, ``ParametricLIFNode``, ``IFNode``), single- or multi-step.

Read from spikingjelly 2.0.0 (``activation_based/neuron/{lif,plif,integrate_and_fire}.py``
and their CPU kernels ``_ops/{lif,plif,if_}/cpu.py``).  Per step, with ``r = v_reset`` (0 for
the soft reset ``v_reset=None``) and ``k = 1/tau`` (PLIF: ``k = sigmoid(w)``)::

    decay_input=True:   h = v + (x - (v - r)) * k        decay_input=False: h = v - (v - r)*k + x
    IF:                 h = v + x
    spike = h >= v_threshold                              (>=, not >)
    hard reset: v = r where it spiked                     soft reset: v = h - v_threshold*spike

and the membrane starts at ``v = r``.  In the shifted membrane ``u = v - r`` this is
``u = (1-k)*u + k*x`` (or ``+ x``), fire on ``u >= v_threshold - r``, reset ``u = 0``: the
stock LIF with ``beta = 1 - k``, the input scale ``k`` folded into the feeding Linear, and
the threshold ``v_threshold - r`` lowered by one ulp (of the model's dtype) so that the
strict ``>`` of Loihi fires exactly where SpikingJelly's ``>=`` does.  The soft reset subtracts
the threshold: the generalised neuron.  Step mode does not change the equations
(multi-step runs the same recurrence over T); both trace the same.
"""
from __future__ import annotations

import numpy as np
import torch
from spikingjelly.activation_based import functional, surrogate
from spikingjelly.activation_based import layer as sjl
from spikingjelly.activation_based import neuron as sjn
from torch import nn

from ..errors import SnnccError
from ..ir.foreign import SpikingJellyIF, SpikingJellyLIF, SpikingJellyPLIF
from ..ir.nodes import EXACT, EXACT_AFTER_FOLDING, GENERALISED, RESET_SUBTRACT, RESET_ZERO
from .frameworks import (Driver, check_positive_threshold, neuron_shape, per_neuron,
                         register_driver)
from .registry import (CONVERTERS, SEQUENCE_CONTAINERS, float_dtype, register_converter,
                 register_neuron_family)

FRAMEWORK = "SpikingJelly"


def _neuron(cls, m, name: str, in_shapes, k) -> object:
    """Build the node from the decay rate ``k`` (per neuron array, or None for IF)."""
    F = float_dtype()
    shape = neuron_shape(in_shapes, name)
    soft = m.v_reset is None
    r = 0.0 if soft else float(m.v_reset)
    # threshold in the shifted membrane, then one ulp down: h >= thr  <=>  h > thr'
    thr = per_neuron(F(m.v_threshold) - F(r), shape, "v_threshold", name)
    check_positive_threshold(thr, name, FRAMEWORK)
    thr = np.nextafter(thr, F(-np.inf)).astype(F)
    notes = [f"fires on >=: threshold lowered by one {np.dtype(F).name} ulp"]
    if r != 0.0:
        notes.append(f"membrane shifted by v_reset = {r:g}")
    if k is None:
        beta, scale = np.ones(shape, F), None
    else:
        beta = (F(1.0) - k).astype(F)
        scale = k if m.decay_input else None
        if scale is not None:
            notes.append("decay_input: input scale 1/tau folded into the Linear")
    reset = {"reset": RESET_SUBTRACT} if soft else {"reset": RESET_ZERO}
    mapping = GENERALISED if soft else (EXACT_AFTER_FOLDING if scale is not None or r != 0
                                        else EXACT)
    if soft:
        notes.append("soft reset (v_reset=None) subtracts the threshold")
    return cls(name, shape=shape, alpha=np.zeros(shape, F), beta=beta, threshold=thr,
               bias=np.zeros(shape, F), input_scale=scale, mapping=mapping,
               note="; ".join(notes), **reset)


@register_converter(sjn.LIFNode)
def _lif(m: sjn.LIFNode, name: str, in_shapes) -> SpikingJellyLIF:
    shape = neuron_shape(in_shapes, name)
    k = per_neuron(1.0 / float(m.tau), shape, "1/tau", name)
    return _neuron(SpikingJellyLIF, m, name, in_shapes, k)


@register_converter(sjn.ParametricLIFNode)
def _plif(m: sjn.ParametricLIFNode, name: str, in_shapes) -> SpikingJellyPLIF:
    shape = neuron_shape(in_shapes, name)
    with torch.no_grad():       # the kernels compute sigmoid(w) in the model's dtype
        k = per_neuron(m.w.detach().sigmoid(), shape, "sigmoid(w)", name)
    return _neuron(SpikingJellyPLIF, m, name, in_shapes, k)


@register_converter(sjn.IFNode)
def _if(m: sjn.IFNode, name: str, in_shapes) -> SpikingJellyIF:
    return _neuron(SpikingJellyIF, m, name, in_shapes, None)


def _multi_step(model: torch.nn.Module) -> bool:
    modes = {getattr(m, "step_mode", None) for m in model.modules()} - {None}
    if len(modes) > 1:
        raise SnnccError("the SpikingJelly model mixes single- and multi-step modules",
                         "call spikingjelly's functional.set_step_mode(model, 's' or 'm')")
    return modes == {"m"}


def _run(model: torch.nn.Module, x: torch.Tensor) -> bool:
    """Reset with SpikingJelly's reset_net; the whole sequence at once in multi-step mode."""
    functional.reset_net(model)
    if _multi_step(model):
        model(x)
        return True
    for t in range(x.shape[0]):
        model(x[t])
    return False


# SpikingJelly's stateless layer wrappers: the torch layer per step, whatever the step mode
# (multi-step mode folds T into the batch, seq_to_ann_forward); bound to their exact classes.
for _theirs, _torch in [(sjl.Linear, nn.Linear), (sjl.Conv2d, nn.Conv2d),
                        (sjl.BatchNorm1d, nn.BatchNorm1d), (sjl.BatchNorm2d, nn.BatchNorm2d),
                        (sjl.MaxPool2d, nn.MaxPool2d), (sjl.AvgPool2d, nn.AvgPool2d),
                        (sjl.AdaptiveAvgPool2d, nn.AdaptiveAvgPool2d), (sjl.Flatten, nn.Flatten),
                        (sjl.Dropout, nn.Dropout), (sjl.Dropout2d, nn.Dropout)]:
    CONVERTERS[_theirs] = CONVERTERS[_torch]
# Containers that apply stateless layers to every step (T folded into the batch, or a loop):
# per step, their children in order.
SEQUENCE_CONTAINERS.update({sjl.SeqToANNContainer, sjl.MultiStepContainer})
# Classes a torch.save'd SpikingJelly model may hold besides the converted ones: the
# surrogate-gradient modules (their forward is the Heaviside step) and the step containers
# (nn.Sequential subclasses); all unpickle with nn.Module's __setstate__.
PICKLE_CLASSES = tuple(c for c in vars(surrogate).values() if isinstance(c, type)
                       and issubclass(c, surrogate.SurrogateFunctionBase)) + (
    sjl.SeqToANNContainer, sjl.MultiStepContainer)
for _base in (sjn.BaseNode, sjn.SimpleBaseNode):
    register_neuron_family(_base, FRAMEWORK)
register_driver(Driver(FRAMEWORK, lambda m: isinstance(m, (sjn.BaseNode, sjn.SimpleBaseNode)),
                       _run))
