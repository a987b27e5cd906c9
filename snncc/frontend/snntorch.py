"""snnTorch neurons (``Leaky``, ``Synaptic``, ``Lapicque``, ``RLeaky``, ``RSynaptic``) as canonical CUBA-LIF.

Read from snntorch 1.0.0 (``_neurons/neurons.py``, ``leaky.py``, ``synaptic.py``,
``lapicque.py``, ``rleaky.py``, ``rsynaptic.py``, ``alpha.py``).  Each ``forward`` first
computes ``r = H(mem - thr)`` from the membrane *stored at the previous step*, i.e. the
previous step's spike, and only then updates::

    Leaky     subtract: mem = beta*mem + x - r*thr          zero: mem = beta*((1-r)*mem) + x
    Synaptic  syn = alpha*syn + x
              subtract: mem = beta*mem + syn - r*thr        zero: mem = (1-r)*(beta*mem + syn)
    Lapicque  mem = (1 - dt/(R*C))*mem + x*R*(1/(R*C))*dt - r*thr
    RLeaky    mem = beta*mem + x + rec(spk[t-1]) - r*thr
    RSynaptic syn = alpha*syn + x + rec(spk[t-1]);  mem = beta*mem + syn - r*thr
    spike = mem - thr > 0 (every surrogate's forward is ``(x > 0)``), so ``mem > thr`` strict

with ``rec`` a one-to-one ``V*spk`` (``all_to_all=False``) or a Linear / Conv2d (with bias)
over the layer.  ``beta`` and ``alpha`` are clamped to [0, 1].  So the default subtract reset
is **delayed**: the threshold comes off one step after the spike, *after* the decay
(``beta*mem - thr``, not ``beta*(mem - thr)``): canonical ``reset_delayed``.  A delayed zero
reset equals Loihi's immediate one (both give ``mem = x`` the next step): exact on the stock
LIF.  ``reset_delay=False`` subtracts ``spk - r`` after firing: with the zero reset that is
an immediate reset (exact); with subtract, ``r`` can be 1 right after a spike (one spike left
``mem`` above threshold) and the spike test then sees ``mem - thr``: refused.  RLeaky's
one-to-one feedback ``V*spk[t-1]`` arrives in the same step as the delayed reset, so it folds
into it: ``reset_sub = thr - V``.  All-to-all recurrence (and RSynaptic's, which enters the
current) becomes recurrent synapses (one step of delay); a recurrent Linear's bias, added at
every step, is the neuron's bias (RLeaky) or joins the feeding Linear's bias (RSynaptic).

Not expressible, and refused with the reason: the delayed zero reset of Synaptic, Lapicque,
RLeaky and RSynaptic (it clears the whole next step, input included: a one-step refractory
period), Alpha (see :func:`_alpha`), subtract with ``reset_delay=False``, inhibition,
``state_quant`` and graded spikes.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import snntorch as snn
import torch

from ..errors import SnnccError
from ..ir import Affine
from ..ir.foreign import (SnnTorchLapicque, SnnTorchLeaky, SnnTorchRLeaky, SnnTorchRSynaptic,
                          SnnTorchSynaptic)
from ..ir.fragment import INPUT, Fragment, FragmentNode
from ..ir.nodes import EXACT, GENERALISED, RESET_CUSTOM, RESET_SUBTRACT, RESET_ZERO
from .frameworks import (Driver, check_positive_threshold, neuron_shape, per_neuron,
                         register_driver)
from .registry import as_float, float_dtype, register_converter, register_neuron_family

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
    fields = dict(shape=shape, beta=beta, threshold=thr, bias=np.zeros(shape, float_dtype()),
                  alpha=np.zeros(shape, float_dtype()))
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


def _recurrent_fragment(m, name: str, neuron, shape: tuple[int, ...], current: bool) -> Fragment:
    """The neuron, its recurrent layer fed by its own spikes (delivered one step later, as
    snnTorch's ``self.recurrent(self.spk)`` reads the previous step's spikes) and, for the
    recurrent layer's bias (added at every step, step 0 included): a constant input.

    ``current``: the recurrence adds into a synaptic current (RSynaptic), so the bias is folded
    into the feeding Linear (``Fragment.input_bias``); otherwise it is the neuron's bias on v.
    """
    rec_name = f"{name}.recurrent"
    bias = None
    if not m.all_to_all:                                        # RecurrentOneToOne: V * spk
        v = per_neuron(torch.as_tensor(m.recurrent.V), shape, "V", name).reshape(-1)
        rec = Affine(rec_name, weight=np.diag(v).astype(float_dtype()))
    elif isinstance(m.recurrent, torch.nn.Linear):
        w = m.recurrent.weight.detach()
        rec = Affine(rec_name, weight=as_float(w))
        if m.recurrent.bias is not None:
            bias = m.recurrent.bias.detach().cpu().double().numpy().reshape(shape)
    elif isinstance(m.recurrent, torch.nn.Conv2d):
        from .registry import CONVERTERS
        rec = CONVERTERS[torch.nn.Conv2d](m.recurrent, rec_name, [shape])
        if rec.bias is not None:
            from ..convmath import full_bias
            bias = full_bias(rec.bias, shape)
            rec = replace(rec, bias=None)
    else:
        raise SnnccError(f"layer {name!r}: recurrent layer of type "
                         f"{type(m.recurrent).__name__} is not supported", "use linear_features "
                         "or conv2d_channels (snnTorch's Linear / Conv2d recurrence)")
    input_bias = None
    if bias is not None and np.any(bias != 0):
        if current:
            input_bias = bias
        else:
            neuron = replace(neuron, bias=(neuron.bias + bias).astype(neuron.bias.dtype))
    return Fragment([FragmentNode(neuron, [INPUT], [rec.name]), FragmentNode(rec, [neuron.name])],
                    output=neuron.name, input_bias=input_bias)


@register_converter(snn.RLeaky)
def _rleaky(m: snn.RLeaky, name: str, in_shapes):
    shape, fields, mode, delayed = _common(m, name, in_shapes)
    if not delayed:
        raise SnnccError(f"layer {name!r}: RLeaky with reset_delay=False is not supported",
                         "keep snnTorch's default reset_delay=True")
    if m.all_to_all:    # recurrent synapses: mem = beta*mem + x + W spk[t-1] + b - r*thr
        reset, mapping, note = _reset(mode, True, fields["threshold"], name, "RLeaky")
        neuron = SnnTorchRLeaky(name, mapping=GENERALISED,
                                note="; ".join(x for x in (note, "all-to-all recurrent "
                                               "synapses (one step of delay)") if x),
                                **fields, **reset)
        return _recurrent_fragment(m, name, neuron, shape, current=False)
    v = per_neuron(torch.as_tensor(m.recurrent.V), shape, "V", name)
    reset, mapping, note = _reset(mode, True, fields["threshold"], name, "RLeaky", feedback=v)
    return SnnTorchRLeaky(name, mapping=mapping, note=note, **fields, **reset)


@register_converter(snn.RSynaptic)
def _rsynaptic(m: snn.RSynaptic, name: str, in_shapes) -> Fragment:
    """syn = alpha*syn + x + rec(spk[t-1]); mem = beta*mem + syn - r*thr (delayed)."""
    shape, fields, mode, delayed = _common(m, name, in_shapes)
    if not delayed:
        raise SnnccError(f"layer {name!r}: RSynaptic with reset_delay=False is not supported "
                         "(snnTorch 1.0.0's own forward fails on it)",
                         "keep snnTorch's default reset_delay=True")
    fields["alpha"] = per_neuron(m.alpha.detach().clamp(0, 1), shape, "alpha", name)
    reset, mapping, note = _reset(mode, True, fields["threshold"], name, "RSynaptic")
    kind = "all-to-all" if m.all_to_all else "one-to-one (V)"
    neuron = SnnTorchRSynaptic(name, mapping=GENERALISED,
                               note="; ".join(x for x in (note, f"{kind} recurrent synapses "
                                              "into the current (one step of delay)") if x),
                               **fields, **reset)
    return _recurrent_fragment(m, name, neuron, shape, current=True)


@register_converter(snn.Lapicque)
def _lapicque(m: snn.Lapicque, name: str, in_shapes) -> SnnTorchLapicque:
    """mem = (1 - dt/(R*C))*mem + x*R*(1/(R*C))*dt - r*thr (``lapicque.py``): the decay is
    ``1 - dt/(RC)`` (not ``beta``); the input gain ``dt/C`` folds into the Linear."""
    _check_supported(m, name)
    shape = neuron_shape(in_shapes, name)
    with torch.no_grad():
        f = torch.float64 if float_dtype() == np.float64 else torch.float32
        r, c, dt = m.R.to(f), m.C.to(f), m.time_step.to(f)
        gain = per_neuron(r * (1 / (r * c)) * dt, shape, "R/(RC)*dt", name)
        decay = per_neuron(1 - (dt / (r * c)), shape, "1 - dt/(RC)", name)
    thr = per_neuron(m.threshold, shape, "threshold", name)
    check_positive_threshold(thr, name, FRAMEWORK)
    mode = _MODES[int(m.reset_mechanism_val)]
    reset, mapping, note = _reset(mode, True, thr, name, "Lapicque")
    return SnnTorchLapicque(name, shape=shape, alpha=np.zeros(shape, float_dtype()), beta=decay,
                            threshold=thr, bias=np.zeros(shape, float_dtype()), input_scale=gain,
                            mapping=mapping, note="; ".join(
                                x for x in (note, "input gain R*dt/(RC) folded into the Linear")
                                if x), **reset)


@register_converter(snn.Alpha)
def _alpha(m: snn.Alpha, name: str, in_shapes):
    """Refused, with the reason read from ``alpha.py`` (see the module docstring)."""
    mode = _MODES[int(m.reset_mechanism_val)]
    why = {"zero": "its zero reset (the default) clears syn_exc, syn_inh and mem for the whole "
                   "step after a spike, input included (a one-step refractory period)",
           "subtract": "its subtract reset sets syn_exc -= threshold and clears syn_inh, "
                       "which no reset of v expresses",
           "none": "mem = tau_alpha*(syn_exc + syn_inh) answers its input one step later than "
                   "any CUBA membrane (syn_exc + syn_inh cancels the present input), and the "
                   "float IR has no one-step delay"}[mode]
    raise SnnccError(f"layer {name!r}: snnTorch Alpha cannot be compiled exactly: {why}",
                     "use snn.Synaptic (the same two decays, alpha and beta, in CUBA form)")


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
