"""snnTorch neurons (``Leaky``, ``Synaptic``, ``RLeaky`` one-to-one) as canonical CUBA-LIF.

Read from snntorch 1.0.0 (``_neurons/neurons.py``, ``leaky.py``, ``synaptic.py``,
``rleaky.py``).  Each ``forward`` first computes ``r = H(mem - thr)`` from the membrane
*stored at the previous step*, i.e. the previous step's spike, and only then updates::

    Leaky     subtract: mem = beta*mem + x - r*thr          zero: mem = beta*((1-r)*mem) + x
    Synaptic  syn = alpha*syn + x
              subtract: mem = beta*mem + syn - r*thr        zero: mem = (1-r)*(beta*mem + syn)
    RLeaky    mem = beta*mem + x + V*spk[t-1] - r*thr       (one-to-one V; subtract)
    spike = mem - thr > 0 (every surrogate's forward is ``(x > 0)``), so ``mem > thr`` strict

``beta`` and ``alpha`` are clamped to [0, 1].  So the default subtract reset is **delayed**:
the threshold comes off one step after the spike, *after* the decay (``beta*mem - thr``,
not ``beta*(mem - thr)``): canonical ``reset_delayed``.  A delayed zero reset equals
Loihi's immediate one (both give ``mem = x`` the next step): exact on the stock LIF.
``reset_delay=False`` subtracts ``spk - r`` after firing: with the zero reset that is an
immediate reset (exact); with subtract, ``r`` can be 1 right after a spike (one spike left
``mem`` above threshold) and the spike test then sees ``mem - thr``: refused.  RLeaky's one-to-one feedback ``V*spk[t-1]`` arrives in the same step as the
delayed reset, so it folds into it: ``reset_sub = thr - V``.

Not expressible, and refused with the reason: Synaptic/RLeaky's delayed zero reset (it
clears the whole next step, input included: a one-step refractory period), all-to-all
RLeaky (recurrent synapses), subtract with ``reset_delay=False``, inhibition, ``state_quant`` and graded spikes.
"""
from __future__ import annotations

import numpy as np
import snntorch as snn
import torch

from ..errors import SnnccError
from ..ir.foreign import SnnTorchLeaky, SnnTorchRLeaky, SnnTorchSynaptic
from ..ir.nodes import EXACT, GENERALISED, RESET_CUSTOM, RESET_SUBTRACT, RESET_ZERO
from .frameworks import (Driver, check_positive_threshold, neuron_shape, per_neuron,
                         register_driver)
from .fx import register_converter, register_neuron_family

FRAMEWORK = "snnTorch"
_MODES = {0: "subtract", 1: "zero", 2: "none"}     # snntorch's reset_mechanism_val


def _check_supported(m: snn.SpikingNeuron, name: str) -> None:
    problems = []
    if getattr(m, "inhibition", False):
        problems.append("inhibition=True (winner-take-all across the layer)")
    if getattr(m, "state_quant", False):
        problems.append("state_quant (snnTorch's own membrane quantization)")
    gsf = getattr(m, "graded_spikes_factor", None)
    if gsf is not None and not torch.all(torch.as_tensor(gsf) == 1):
        problems.append("graded spikes (graded_spikes_factor != 1)")
    if problems:
        raise SnnccError(f"layer {name!r} ({type(m).__name__}) uses " + "; ".join(problems) +
                         ", which snncc does not compile", "train without it")


def _common(m, name: str, in_shapes) -> tuple[tuple[int, ...], dict, str, bool]:
    _check_supported(m, name)
    shape = neuron_shape(in_shapes, name)
    beta = per_neuron(m.beta.detach().clamp(0, 1), shape, "beta", name)
    thr = per_neuron(m.threshold, shape, "threshold", name)
    check_positive_threshold(thr, name, FRAMEWORK)
    mode = _MODES[int(m.reset_mechanism_val)]
    fields = dict(shape=shape, beta=beta, threshold=thr, bias=np.zeros(shape, np.float32),
                  alpha=np.zeros(shape, np.float32))
    return shape, fields, mode, bool(getattr(m, "reset_delay", True))


def _reset(mode: str, delayed: bool, thr: np.ndarray, name: str, kind: str,
           feedback: np.ndarray | None = None) -> tuple[dict, str, str]:
    """Canonical reset fields, mapping class and note for an snnTorch reset mode."""
    fb = np.zeros_like(thr) if feedback is None else feedback
    if mode == "zero" and feedback is None and (kind == "Leaky" or not delayed):
        note = ("delayed zero reset == immediate zero reset" if delayed else "")
        return {"reset": RESET_ZERO}, EXACT, note
    if mode == "zero":
        raise SnnccError(f"layer {name!r}: snnTorch {kind} with reset_mechanism='zero' clears the "
                         "whole step after a spike, input included (a one-step refractory "
                         "period), which the canonical neuron cannot express",
                         "train it with reset_mechanism='subtract' (the default), or use Leaky")
    if mode == "subtract" and not delayed:
        raise SnnccError(f"layer {name!r}: snnTorch {kind} with reset_delay=False and the subtract "
                         "reset fires on a membrane from which the previous step's reset was "
                         "taken again (a double reset when one spike leaves v above threshold), "
                         "which the canonical neuron cannot express",
                         "keep snnTorch's default reset_delay=True, or use reset_mechanism='zero'")
    if mode == "subtract" and feedback is None:
        return ({"reset": RESET_SUBTRACT, "reset_delayed": True}, GENERALISED,
                "snnTorch's delayed subtract reset (after the decay)")
    if feedback is None:        # mode "none": pure integration, no reset at all
        return ({"reset": RESET_CUSTOM, "reset_mult": np.ones_like(thr),
                 "reset_sub": np.zeros_like(thr)}, GENERALISED, "no reset")
    # RLeaky: V*spk[t-1] enters with the delayed reset, so it is part of it
    sub = (thr if mode == "subtract" else np.zeros_like(thr)) - fb
    return ({"reset": RESET_CUSTOM, "reset_delayed": True, "reset_mult": np.ones_like(thr),
             "reset_sub": sub.astype(thr.dtype)}, GENERALISED,
            "one-to-one recurrent weight V folded into the delayed reset (sub = thr - V)")


@register_converter(snn.Leaky)
def _leaky(m: snn.Leaky, name: str, in_shapes) -> SnnTorchLeaky:
    shape, fields, mode, delayed = _common(m, name, in_shapes)
    reset, mapping, note = _reset(mode, delayed, fields["threshold"], name, "Leaky")
    return SnnTorchLeaky(name, mapping=mapping, note=note, **fields, **reset)


@register_converter(snn.Synaptic)
def _synaptic(m: snn.Synaptic, name: str, in_shapes) -> SnnTorchSynaptic:
    shape, fields, mode, delayed = _common(m, name, in_shapes)
    fields["alpha"] = per_neuron(m.alpha.detach().clamp(0, 1), shape, "alpha", name)
    reset, mapping, note = _reset(mode, delayed, fields["threshold"], name, "Synaptic")
    return SnnTorchSynaptic(name, mapping=mapping, note=note, **fields, **reset)


@register_converter(snn.RLeaky)
def _rleaky(m: snn.RLeaky, name: str, in_shapes) -> SnnTorchRLeaky:
    if m.all_to_all:
        raise SnnccError(f"layer {name!r}: snnTorch RLeaky with all_to_all=True needs recurrent "
                         "synapses, which snncc does not compile yet",
                         "use all_to_all=False (one-to-one V), which folds into the reset")
    shape, fields, mode, delayed = _common(m, name, in_shapes)
    if not delayed:
        raise SnnccError(f"layer {name!r}: RLeaky with reset_delay=False is not supported",
                         "keep snnTorch's default reset_delay=True")
    v = per_neuron(torch.as_tensor(m.recurrent.V), shape, "V", name)
    reset, mapping, note = _reset(mode, True, fields["threshold"], name, "RLeaky", feedback=v)
    return SnnTorchRLeaky(name, mapping=mapping, note=note, **fields, **reset)


def _run(model: torch.nn.Module, x: torch.Tensor) -> bool:
    """snnTorch keeps state in the neurons: clear it, then one forward call per step."""
    for m in model.modules():
        if isinstance(m, snn.SpikingNeuron) and hasattr(m, "reset_mem"):
            m.reset_mem()
    for t in range(x.shape[0]):
        model(x[t])
    return False


register_neuron_family(snn.SpikingNeuron, FRAMEWORK)
register_driver(Driver(FRAMEWORK, lambda m: isinstance(m, snn.SpikingNeuron), _run))
