"""Norse cells (``LIFCell``, ``LIFBoxCell``; readouts ``LICell``, ``LIBoxCell``) as canonical CUBA-LIF.

Read from norse 1.1.0 (``torch/functional/lif.py``, ``lif_box.py``, ``reset.py``,
``heaviside.py``, ``torch/module/snn.py``).  Per step, with ``a = dt*tau_mem_inv``::

    LIFCell     i' = i + x
                v  = v + a*(v_leak - v + i')             (explicit Euler at the cell's dt)
                i  = i' - dt*tau_syn_inv*i'
    LIFBoxCell  v  = v + a*(x + v_leak - v)
    LICell      as LIFCell, LIBoxCell as LIFBoxCell, without threshold or reset: the
                membrane v is the output (``leaky_integrator.py``, ``leaky_integrator_box.py``)
    z = heaviside(v - v_th) = (v - v_th > 0)             (strict; every threshold method's forward)
    reset: v = v_reset where z   (LIFBoxCell: or v - v_th with reset_subtract)

with the membrane starting at ``v_leak`` and the current at 0 (``initial_state``).  In the
shifted membrane ``u = v - v_leak`` that is ``i = alpha*i + x`` with
``alpha = 1 - dt*tau_syn_inv``, ``u = (1-a)*u + a*i``: canonical with ``beta = 1 - a``, the
input scale ``a`` folded into the feeding Linear, threshold ``v_th - v_leak`` and a reset
to ``v_reset - v_leak`` (a zero reset, exact on the stock LIF, when ``v_reset == v_leak``).
``tau_mem_inv`` etc. may be per neuron.  Norse cells are called as ``cell(x, state)``
and return ``(z, state)`` (readouts: ``(v, state)``); wrap them in ``norse.torch.SequentialState`` (its ``state``
argument is traced as None) or index ``[0]`` in your own forward.
"""
from __future__ import annotations

import numpy as np
import torch
from norse.torch import LI, LIF, LIBoxCell, LICell, LIFBoxCell, LIFCell
from norse.torch.functional import reset as norse_reset

from ..errors import SnnccError
from ..ir.foreign import NorseLI, NorseLIBox, NorseLIF, NorseLIFBox
from ..ir.nodes import EXACT_AFTER_FOLDING, GENERALISED, RESET_CUSTOM, RESET_SUBTRACT, RESET_ZERO
from .frameworks import (Driver, check_positive_threshold, neuron_shape, per_neuron,
                         register_driver)
from .registry import float_dtype, register_converter, register_neuron_family

FRAMEWORK = "Norse"
_HEAVISIDE_FORWARD = {"super", "heaviside", "triangle", "tanh", "circ", "heavi_erfc"}


def _factor(dt: float, rate, shape, what: str, name: str) -> np.ndarray:
    """``dt*rate`` as Norse computes it: a Python float times the parameter tensor, in the
    tensor's own dtype (Norse's parameters are a named tuple, which ``.double()`` leaves
    float32), then in the model's dtype."""
    with torch.no_grad():
        value = per_neuron(dt * torch.as_tensor(rate), shape, what, name)
    if np.any(value <= 0) or np.any(value > 1):
        raise SnnccError(f"layer {name!r} (Norse): {what} = {float(value.min()):.4g}.."
                         f"{float(value.max()):.4g} is outside (0, 1]: explicit Euler at this dt "
                         "is unstable or frozen", "use a smaller dt or a longer time constant")
    return value


def _build(cls, m, name: str, in_shapes, with_current: bool):
    F = float_dtype()
    p = m.p
    if getattr(p, "method", "super") not in _HEAVISIDE_FORWARD:
        raise SnnccError(f"layer {name!r}: Norse threshold method {p.method!r} is not a "
                         "deterministic Heaviside", f"use one of {sorted(_HEAVISIDE_FORWARD)}")
    shape = neuron_shape(in_shapes, name)
    dt = float(m.dt)
    a = _factor(dt, p.tau_mem_inv, shape, "dt*tau_mem_inv", name)
    alpha = (F(1.0) - _factor(dt, p.tau_syn_inv, shape, "dt*tau_syn_inv", name)
             if with_current else np.zeros(shape, F)).astype(F)
    leak = per_neuron(p.v_leak, shape, "v_leak", name)
    v_th = per_neuron(p.v_th, shape, "v_th", name)
    thr = (v_th - leak).astype(F)
    check_positive_threshold(thr, name, FRAMEWORK)
    notes = [f"dt = {dt:g}: input scale dt*tau_mem_inv folded into the Linear"]
    if np.any(leak != 0):
        notes.append("membrane shifted by v_leak")
    subtract = getattr(p, "reset_method", norse_reset.reset_value) is norse_reset.reset_subtract
    if subtract:
        reset = ({"reset": RESET_SUBTRACT} if not np.any(leak) else
                 {"reset": RESET_CUSTOM, "reset_mult": np.ones(shape, F),
                  "reset_sub": v_th})
        notes.append("reset_subtract")
    else:
        to = (per_neuron(p.v_reset, shape, "v_reset", name) - leak).astype(F)
        reset = ({"reset": RESET_ZERO} if not np.any(to) else
                 {"reset": RESET_CUSTOM, "reset_mult": np.zeros(shape, F),
                  "reset_sub": -to})
    mapping = EXACT_AFTER_FOLDING if reset["reset"] == RESET_ZERO else GENERALISED
    return cls(name, shape=shape, alpha=alpha, beta=(F(1.0) - a).astype(F),
               threshold=thr, bias=np.zeros(shape, F), input_scale=a,
               mapping=mapping, note="; ".join(notes), **reset)


@register_converter(LIFCell)
def _lif_cell(m: LIFCell, name: str, in_shapes) -> NorseLIF:
    return _build(NorseLIF, m, name, in_shapes, with_current=True)


@register_converter(LIF)
def _lif_seq(m: LIF, name: str, in_shapes) -> NorseLIF:
    """Norse's multi-step LIF runs LIFCell's step over the outer (time) axis: per step, the same."""
    node = _build(NorseLIF, m, name, in_shapes, with_current=True)
    node.note += "; multi-step module (LIFCell per step)"
    return node


@register_converter(LIFBoxCell)
def _lif_box_cell(m: LIFBoxCell, name: str, in_shapes) -> NorseLIFBox:
    return _build(NorseLIFBox, m, name, in_shapes, with_current=False)


def _build_li(cls, m, name: str, in_shapes, with_current: bool):
    """A Norse leaky-integrator readout: the LIF mapping without threshold or reset."""
    F = float_dtype()
    p = m.p
    shape = neuron_shape(in_shapes, name)
    leak = per_neuron(p.v_leak, shape, "v_leak", name)
    if np.any(leak != 0):
        raise SnnccError(f"layer {name!r}: Norse {type(m).__name__} with v_leak != 0 reads out "
                         "v = v_leak + the integrated input; snncc reads out the integrated part",
                         "train the readout with v_leak = 0 (Norse's default)")
    dt = float(m.dt)
    a = _factor(dt, p.tau_mem_inv, shape, "dt*tau_mem_inv", name)
    alpha = (F(1.0) - _factor(dt, p.tau_syn_inv, shape, "dt*tau_syn_inv", name)
             if with_current else np.zeros(shape, F)).astype(F)
    return cls(name, shape=shape, alpha=alpha, beta=(F(1.0) - a).astype(F),
               threshold=np.ones(shape, F), bias=np.zeros(shape, F),
               input_scale=a, spiking=False, mapping=EXACT_AFTER_FOLDING,
               note=f"non-spiking readout (v is the output); dt = {dt:g}: input scale "
                    "dt*tau_mem_inv folded into the Linear")


@register_converter(LICell)
def _li_cell(m: LICell, name: str, in_shapes) -> NorseLI:
    return _build_li(NorseLI, m, name, in_shapes, with_current=True)


@register_converter(LI)
def _li_seq(m: LI, name: str, in_shapes) -> NorseLI:
    """Norse's multi-step LI: LICell's step over the outer (time) axis."""
    return _build_li(NorseLI, m, name, in_shapes, with_current=True)


@register_converter(LIBoxCell)
def _li_box_cell(m: LIBoxCell, name: str, in_shapes) -> NorseLIBox:
    return _build_li(NorseLIBox, m, name, in_shapes, with_current=False)


def _takes_state(model: torch.nn.Module) -> bool:
    import inspect
    return len(inspect.signature(model.forward).parameters) >= 2


def _run(model: torch.nn.Module, x: torch.Tensor) -> bool:
    """Norse threads state explicitly: ``out, state = model(x[t], state)`` from ``state=None``.

    A model of multi-step modules (``LIF``, ``LI``: they loop over the outer axis
    themselves) gets the whole sequence (T, B, ...) in one call instead.
    """
    from norse.torch.module.snn import SNN, SNNCell
    seq = any(isinstance(m, SNN) for m in model.modules())
    if seq and any(isinstance(m, SNNCell) for m in model.modules()):
        raise SnnccError("the Norse model mixes cells (one step per call: LIFCell, LICell) and "
                         "multi-step modules (LIF, LI: a whole sequence per call)",
                         "use cells only, or multi-step modules only")
    threaded = _takes_state(model)
    if seq:
        model(x, None) if threaded else model(x)
        return True
    state = None
    stateless = _in_plain_sequential(model) or _watch_state(model)
    hooks = stateless.pop("hooks", [])
    try:
        for t in range(x.shape[0]):
            if stateless:
                break
            if threaded:
                _, state = model(x[t], state)
            else:
                model(x[t])
    finally:
        for hook in hooks:
            hook.remove()
    if stateless:
        name, cls = next(iter(stateless.items()))
        raise SnnccError(f"Norse cell {cls} (layer {name!r}) is called without its state, so it "
                         "restarts from rest on every time step (a torch nn.Sequential, or a "
                         "forward calling cell(x), drops the (spikes, state) it returns)",
                         "build the model with norse.torch.SequentialState instead of "
                         "nn.Sequential, or pass each cell its state in your forward: "
                         "z, s = cell(x, s)")
    return False


def _in_plain_sequential(model: torch.nn.Module) -> dict:
    """{layer name: class name} of the cells whose parent is a torch ``nn.Sequential`` that
    is not Norse's ``SequentialState`` (it calls ``cell(x)`` and passes on the tuple)."""
    from norse.torch import SequentialState
    from norse.torch.module.snn import SNNCell
    found = {}
    for pname, parent in model.named_modules():
        if isinstance(parent, torch.nn.Sequential) and not isinstance(parent, SequentialState):
            for cname, child in parent.named_children():
                if isinstance(child, SNNCell):
                    found[f"{pname}.{cname}" if pname else cname] = type(child).__name__
    return found


def _watch_state(model: torch.nn.Module) -> dict:
    """Hooks that record the cells called with ``state=None`` after the first step: those
    restart from rest every step (Norse's ``SNNCell.forward`` falls back to the initial
    state), which no compiled neuron does.  Returns {layer name: class name, "hooks": [...]}
    (the layers filled in from the second step on)."""
    from norse.torch.module.snn import SNNCell
    found: dict = {}
    calls: dict = {}

    def pre(name, module, args, kwargs):
        calls[name] = calls.get(name, 0) + 1
        state = args[1] if len(args) > 1 else kwargs.get("state")
        if state is None and calls[name] > 1:
            found[name] = type(module).__name__

    found["hooks"] = [m.register_forward_pre_hook(
        lambda mod, a, k, n=n: pre(n, mod, a, k), with_kwargs=True)
        for n, m in model.named_modules() if isinstance(m, SNNCell)]
    return found


from norse.torch.module.snn import SNN, SNNCell  # noqa: E402  (base classes)
for _base in (SNNCell, SNN):
    register_neuron_family(_base, FRAMEWORK)
register_driver(Driver(FRAMEWORK, lambda m: isinstance(m, (SNNCell, SNN)), _run))
