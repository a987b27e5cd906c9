"""Differential self-check: the traced graph must do what the model's own forward pass does.

Every compile of a PyTorch model (API and CLI, every verb) runs the model itself -- its
framework's own forward pass for snnTorch / SpikingJelly / Norse models, the module's own
``forward`` for snncc.nn and torch layers -- and snncc's lowered float graph
(:func:`snncc.passes.float_sim.simulate_float`) side by side on a short probe: random
inputs (``PROBE_STEPS`` x ``PROBE_SAMPLES``: binary spike trains and real values, see
:func:`probe`),
plus the first samples of the calibration data when given.  Any converter that reads a
module wrongly (a subclass with other dynamics, a framework option it ignores) then makes
the compile fail, naming the first layer, step, sample and neuron that differ.

Comparison, layer by layer: each neuron layer of snncc's graph is driven by the model's own
spikes of the layers before it (teacher forcing), so one difference is reported where it
arises and does not cascade.  A spike mismatch is a float-rounding tie, and accepted, only
when snncc's membrane at that decision is within the bound

    |v - threshold| <= ULPS * eps(model dtype) * scale,  scale = max(1, max|threshold|, max|v|)

of the layer (``ULPS`` = 64: float32 1.2e-7 -> 7.6e-6 relative, float16 9.8e-4 -> 6.3e-2);
that neuron of that sample is then left out for the rest of the probe (its state has
legitimately diverged).  Non-spiking readouts compare membranes with the same bound.  A
module that emits values other than 0 and 1 where snncc compiles spikes fails at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..errors import SnnccError
from ..ir import Graph
from ..ir.nodes import NeuronNode

PROBE_STEPS = 16
PROBE_SAMPLES = 8         # half binary spike trains, half real-valued
DATA_SAMPLES = 8          # calibration samples added to the probe
DATA_STEPS = 64           # at most this many of their steps
ULPS = 64
BUDGET = 2 ** 24          # neuron-steps per probe run (see probe_size)


@dataclass
class SelfCheck:
    """What the self-check compared and found (all layers agreed, or compile was refused).

    ``ties``: spike mismatches accepted as float-rounding ties; ``spikes``: reference
    spikes per layer in the probe (coverage); ``bound``: the tolerance per layer, in
    membrane units; ``readout_error``: max |v_model - v_snncc| per non-spiking layer.
    """

    reference: str
    dtype: str
    steps: int
    samples: int
    layers: list[str]
    spikes: dict[str, int] = field(default_factory=dict)
    ties: int = 0
    bound: dict[str, float] = field(default_factory=dict)
    readout_error: dict[str, float] = field(default_factory=dict)
    skipped: str = ""

    def summary(self) -> str:
        if self.skipped:
            return f"self-check: not run ({self.skipped})"
        silent = [n for n, c in self.spikes.items() if c == 0 and n not in self.readout_error]
        text = (f"self-check: float graph == {self.reference} on {self.samples} samples x "
                f"{self.steps} steps, {len(self.layers)} layers")
        if self.dtype != "float32":
            text += (f" (a {self.dtype} model: compiled from its {self.dtype} parameters, "
                     f"the reference runs in {self.dtype})")
        if self.ties:
            text += f" ({self.ties} float-rounding ties within the bound)"
        if silent:
            text += f"; layers silent in the probe: {', '.join(silent)}"
        return text


def _reference_name(model) -> str:
    from .frameworks import driver_for
    driver = driver_for(model)
    return f"{driver.name}'s own forward pass" if driver else "the model's own forward pass"


def probe(input_shape: Sequence[int], steps: int = PROBE_STEPS, samples: int = PROBE_SAMPLES,
          seed: int = 0) -> np.ndarray:
    """The probe input (steps, samples, *input_shape), float32.

    The first half of the samples are binary spike trains of densities 0.1 .. 1 (what a
    chip receives); the second half are real values N(0, sigma^2) with sigma = 1, 4, 16, ...
    so that deep layers and negative membranes are reached too (the float graph is the same
    function of any real input).
    """
    rng = np.random.default_rng(seed)
    shape = (steps,) + tuple(input_shape)
    half = max(1, samples // 2)
    out = np.empty((steps, samples) + tuple(input_shape), np.float32)
    for b, dens in enumerate(np.linspace(0.1, 1.0, half)):
        out[:, b] = rng.random(shape) < dens
    for k, b in enumerate(range(half, samples)):
        out[:, b] = rng.normal(0.0, 4.0 ** k, shape)
    return out


def probe_size(lowered: Graph, steps: int = PROBE_STEPS,
               samples: int = PROBE_SAMPLES) -> tuple[int, int]:
    """(steps, samples) of the probe, shrunk for large networks so that neurons x steps x
    samples stays within ``BUDGET`` (down to 2 samples x 4 steps): the check stays a small
    fraction of a compile (SEW-ResNet-18 at 224x224: 2 x 4)."""
    neurons = sum(int(np.prod(n.shape)) for n in lowered.of_type(NeuronNode))
    while neurons * steps * samples > BUDGET and samples > 2:
        samples //= 2
    while neurons * steps * samples > BUDGET and steps > 4:
        steps //= 2
    return steps, samples


def self_check(model, lowered: Graph, data: Optional[np.ndarray] = None,
               steps: int = PROBE_STEPS, samples: int = PROBE_SAMPLES) -> SelfCheck:
    """Compare ``model``'s own forward pass with ``lowered`` (see the module docstring).

    ``data``: extra input (T, B, *input_shape), e.g. calibration data.  Raises
    :class:`SnnccError` naming the first layer, step, sample and neuron that differ.
    """
    from ..reference import model_dtype
    shape = tuple(lowered.node(lowered.input_names[0]).shape)
    modules = dict(model.named_modules())
    names = [n.name for n in lowered.of_type(NeuronNode) if n.name in modules]
    steps, samples = probe_size(lowered, steps, samples)
    dtype = str(model_dtype(model)).replace("torch.", "")
    result = SelfCheck(_reference_name(model), dtype, steps, samples, names)
    from ..ir.sigma_delta import DeltaEncoder, SigmaDecoder, SigmaDeltaNeuron
    graded = [n.name for n in lowered.of_type((DeltaEncoder, SigmaDecoder, SigmaDeltaNeuron))]
    if graded:      # snncc.nn's own float modules; verify compares their activations
        result.skipped = (f"sigma-delta layers {', '.join(graded[:3])}: the float graph has "
                          "no spiking form to compare; `snncc verify` compares activations "
                          "with the quantized network")
        return result
    runs = [probe(shape, steps, samples)]
    if data is not None and np.size(data):
        runs.append(np.asarray(data[:DATA_STEPS, :DATA_SAMPLES], np.float32))
        result.samples += runs[-1].shape[1]
    import torch
    eps = float(torch.finfo(model_dtype(model)).eps)      # bfloat16 too (numpy has no such type)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)      # a probe this small runs fastest on one thread (and an
    try:                          # oversubscribed machine makes several threads 30x slower)
        for x in runs:
            _compare(model, lowered, x, names, modules, eps, result)
    finally:
        torch.set_num_threads(threads)
    return result


def _refuse_mixed_dtypes(model, exc: Exception) -> None:
    """A forward pass that failed on a model whose layers hold different float dtypes (one
    layer ``.double()``-ed, the rest float32): name the layers and the one-line fix."""
    seen: dict = {}
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.is_floating_point():
            seen.setdefault(str(t.dtype).replace("torch.", ""), name)
    if len(seen) > 1:
        held = ", ".join(f"{d} ({n})" for d, n in seen.items())
        raise SnnccError(f"the model mixes parameter dtypes {held}, so its own forward pass "
                         f"fails ({type(exc).__name__}: {str(exc)[:80]})",
                         "convert the whole model to one dtype before saving it: "
                         "model.float() (or model.double())") from None


def _compare(model, lowered: Graph, x: np.ndarray, names: list[str], modules: dict,
             eps: float, result: SelfCheck) -> None:
    from ..passes.float_sim import simulate_float
    from ..reference import run_float
    try:
        ref = run_float(model, x, names, batch_size=max(1, x.shape[1]), values=True)
    except SnnccError:
        raise
    except Exception as exc:      # the user's own forward pass: any error is theirs
        _refuse_mixed_dtypes(model, exc)
        raise SnnccError(f"the model's own forward pass fails on a probe input of shape "
                         f"{tuple(x.shape[1:])} per step ({type(exc).__name__}: "
                         f"{str(exc)[:160]})", "check that model(x) runs in plain PyTorch on a "
                         "(batch, ...) tensor of the model's dtype, one time step per call: "
                         "snncc calls it the same way") from None
    margins: dict[str, np.ndarray] = {}
    states: dict[str, np.ndarray] = {}
    ours = simulate_float(lowered, x, drive=ref, margins=margins, states=states)
    for name in names:
        node = lowered.node(name)
        r = ref[name]
        if r.shape != ours[name].shape:
            _refuse(result, name, modules, None, f"the model's layer emits {r.shape[2]} values "
                    f"per step, snncc's {ours[name].shape[2]}")
        thr = float(np.max(np.abs(np.asarray(node.threshold, np.float64)))) \
            if np.size(node.threshold) else 0.0
        if not getattr(node, "spiking", True):
            _compare_readout(result, name, modules, r, states[name], eps)
            continue
        scale = max(1.0, thr, float(np.max(np.abs(margins[name] + thr))) if r.size else 0.0)
        bound = ULPS * eps * scale
        result.bound[name] = max(result.bound.get(name, 0.0), bound)
        result.spikes[name] = result.spikes.get(name, 0) + int(np.count_nonzero(r))
        most = int(getattr(node, "max_spikes", 1) or 1)     # multi-spike neurons emit counts
        odd = ~((r == np.round(r)) & (r >= 0) & (r <= most))
        if odd.any():
            t, b, n = _first(odd)
            what = "a spike (0 or 1)" if most == 1 else f"a spike count (0 .. {most})"
            _refuse(result, name, modules, (t, b, n),
                    f"the model's layer emits {r[t, b, n]:.6g}, not {what}",
                    count=int(odd.sum()), total=r.size)
        if most > 1:    # a tie sits at the nearest multiple k*threshold, not only at k = 1
            th = np.asarray(node.threshold, np.float64).reshape(-1)
            v = margins[name] + th
            margins[name] = v - np.clip(np.round(v / th), 1, most) * th
            diff = np.argwhere(r != ours[name])
        else:
            diff = np.argwhere((r > 0) != ours[name])
        masked: dict[tuple[int, int], int] = {}
        bad = 0
        first = None
        for t, b, n in diff[np.lexsort((diff[:, 2], diff[:, 1], diff[:, 0]))]:
            if (b, n) in masked:
                continue
            m = float(margins[name][t, b, n])
            if abs(m) <= bound:
                masked[(b, n)] = t
                result.ties += 1
                continue
            bad += 1
            first = first or (int(t), int(b), int(n), m)
        if first:
            t, b, n, m = first
            _refuse(result, name, modules, (t, b, n),
                    f"the model spikes {int(r[t, b, n])}, snncc {int(ours[name][t, b, n])} "
                    f"(snncc's v - threshold = {m:.4g}; float-rounding bound {bound:.2g})",
                    count=bad, total=r.size)


def _compare_readout(result: SelfCheck, name: str, modules: dict, r: np.ndarray,
                     v: np.ndarray, eps: float) -> None:
    scale = max(1.0, float(np.max(np.abs(r))) if r.size else 0.0)
    bound = ULPS * eps * scale
    err = np.abs(r - v)
    result.bound[name] = max(result.bound.get(name, 0.0), bound)
    result.readout_error[name] = max(result.readout_error.get(name, 0.0),
                                     float(err.max()) if err.size else 0.0)
    bad = err > bound
    if bad.any():
        t, b, n = _first(bad)
        _refuse(result, name, modules, (t, b, n),
                f"the model's membrane is {r[t, b, n]:.6g}, snncc's {v[t, b, n]:.6g} "
                f"(bound {bound:.2g})", count=int(bad.sum()), total=r.size)


def _first(mask: np.ndarray) -> tuple[int, int, int]:
    hits = np.argwhere(mask)
    t, b, n = hits[np.lexsort((hits[:, 2], hits[:, 1], hits[:, 0]))][0]
    return int(t), int(b), int(n)


def _refuse(result: SelfCheck, name: str, modules: dict, where, what: str,
            count: int = 0, total: int = 0) -> None:
    cls = type(modules[name]).__name__
    at = "" if where is None else f" at step {where[0]}, sample {where[1]}, neuron {where[2]}"
    tail = f"; {count} of {total} values differ in this layer" if count else ""
    raise SnnccError(f"self-check failed: snncc's float graph differs from {result.reference} "
                     f"in layer {name!r} ({cls}){at}: {what}{tail}",
                     f"snncc would compile {cls} wrongly: replace it with a neuron snncc "
                     "converts (docs/conformance.md), or register a converter that "
                     "reproduces its forward pass; please report the model")
