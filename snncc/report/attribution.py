"""Error attribution: which parameter class of which layer costs how much agreement.

Every run here is the compiled network in the partially quantized simulator
(:mod:`snncc.targets.loihi.partial`), compared spike for spike with the float model's own
forward pass on the same samples.  With nothing in float it *is* the compiled network (checked
against the bit-accurate simulator on every call); with everything in float it is the float
model (its agreement, the ceiling, is normally 100%).  Measured, all as output-spike agreement:

* ``by_class``: one class (weights, biases, thresholds, decays, reset, input gains, rounding,
  saturation) put back to float in every layer at once; ``gain`` = agreement - quantized;
  ``alone``: the agreement with *only* that class quantized (errors that interact show up
  here: each class alone loses little, all together much);
* ``layers[].classes``: the same for one layer's class alone (null: the layer has none of it;
  ``exact``: its integers equal their float twins, so nothing can come back);
* ``layers[].isolated``: only this layer quantized (all its classes), the rest float: the
  error the layer makes by itself; ``layers[].cumulative``: this layer and every layer
  before it quantized: the error accumulated up to it;
* ``first_divergence``: the earliest step (float time base) at which any spike differs, in
  the layer nearest the input, the sample and neuron, the membrane both runs saw (in
  thresholds), and the smallest set of that layer's classes that, put back to float, makes
  that spike right, found by bisection over the classes (one sample, up to that step);
* ``cause``: the (layer, class) whose float version brings back the most, in words.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np

from ..compiler import Compiled
from ..errors import SnnccError
from ..progress import Progress, or_quiet
from .runs import neuron_names, output_layer, run_quantized

DEFAULT_SAMPLES = 256
TUNABLE = ("weights", "biases", "thresholds", "decays", "reset", "input_gains")


def twins_of(compiled: Compiled):
    """(fixed graph, float twins) of ``compiled``: its lowered graph quantized again with the
    same settings and ``float_twins``; raises :class:`SnnccError` if the integers differ
    (a network not produced by this quantizer)."""
    from ..targets.loihi.quantize import QuantConfig, quantize
    if compiled.target != "loihi":
        raise SnnccError(f"error attribution is not available for target {compiled.target!r}",
                         "verify without --attribution")
    cfg = getattr(compiled.quant, "config", None) or QuantConfig()
    fixed, report = quantize(compiled.lowered, dataclasses.replace(cfg, float_twins=True))
    for node in compiled.fixed.nodes():
        same = node.name in fixed and all(
            np.array_equal(a, fixed.node(node.name).arrays().get(k)) for k, a in node.arrays().items())
        if not same:
            raise SnnccError(f"node {node.name!r} of the compiled network is not what the "
                             "quantizer makes of the model", "attribute a network compiled by "
                             "snncc from this model (same settings)")
    return fixed, report.twins


def _applicable(fixed, twins, layer: str) -> dict[str, bool]:
    """Which classes the layer has (True) and which of those differ from their twins."""
    from ..targets.loihi.partial import CLASSES, layer_of, resolve
    owned = [n for n, owner in layer_of(fixed).items() if owner == layer]
    node = fixed.node(layer)
    has = {c: True for c in CLASSES}
    has["biases"] = bool(np.any(node.bias_mant)) or any(
        getattr(fixed.node(n), "bias", None) is not None for n in owned)
    has["reset"] = bool(np.any(node.reset_mult) or np.any(node.reset_sub))
    has["input_gains"] = node.input_gain is not None
    base = resolve(fixed, twins, {})
    out = {}
    for cls in CLASSES:
        if not has[cls]:
            continue
        alt = resolve(fixed, twins, {layer: [cls]})
        out[cls] = any(_differs(base[n], alt[n]) for n in owned)
    return out


def _differs(a, b) -> bool:
    import torch
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, list):
            if len(x) != len(y) or any(not torch.equal(p, q) for p, q in zip(x, y)):
                return True
        elif isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
            if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)
                    and x.shape == y.shape and torch.equal(x, y)):
                return True
        elif x is not y and x != y:
            return True
    return False


def attribute(model, compiled: Compiled, stimulus: np.ndarray, *,
              samples: int = DEFAULT_SAMPLES, progress: Optional[Progress] = None) -> dict:
    """The attribution section of report.json for ``stimulus`` (T, B, ...), first ``samples``."""
    from ..reference import run_float
    from ..targets.loihi.partial import CLASSES, run_partial
    x = np.asarray(stimulus)[:, :max(1, samples)]
    fixed, twins = twins_of(compiled)
    names = neuron_names(fixed)
    out = output_layer(fixed)
    flt = run_float(model, x, names)
    applicable = {n: _applicable(fixed, twins, n) for n in names}
    plan = (2 + 2 * len(CLASSES) + sum(sum(a.values()) for a in applicable.values()) + 2 * len(names))
    task = or_quiet(progress).task("attributing", plan)

    def run(floats: dict, layer: Optional[str] = None) -> dict:
        spikes = run_partial(fixed, twins, floats, x)
        task.advance()
        res = {"output_agreement": float(np.mean(spikes[out] == flt[out]))}
        if layer is not None:
            res["layer_agreement"] = float(np.mean(spikes[layer] == flt[layer]))
        return res, spikes

    quant, base_spikes = run({})
    check = run_quantized(fixed, x).spikes
    if not all(np.array_equal(check[n], base_spikes[n]) for n in names):
        raise SnnccError("the partially quantized simulator disagrees with the bit-accurate "
                         "one on this network (a bug in snncc)", "report it; verify without "
                         "--attribution meanwhile")
    base = quant["output_agreement"]
    ceiling, _ = run({n: CLASSES for n in names})
    by_class = []
    for cls in CLASSES:
        if not any(cls in a for a in applicable.values()):
            continue
        if not any(a.get(cls) for a in applicable.values()):
            by_class.append({"class": cls, "exact": True, "output_agreement": base, "gain": 0.0,
                             "alone": ceiling["output_agreement"]})
            task.advance()
            continue
        r, _ = run({n: [cls] for n in names if cls in applicable[n]})
        alone, _ = run({n: [c for c in CLASSES if c != cls or cls not in applicable[n]]
                        for n in names})
        by_class.append({"class": cls, "exact": False, **r, "gain": r["output_agreement"] - base,
                         "alone": alone["output_agreement"]})
    layers = []
    for i, name in enumerate(names):
        classes: dict = {c: None for c in CLASSES}
        for cls, differs in applicable[name].items():
            if not differs:
                classes[cls] = {"exact": True, "output_agreement": base, "gain": 0.0,
                                "layer_agreement": float(np.mean(base_spikes[name] == flt[name]))}
                continue
            r, _ = run({name: [cls]}, name)
            classes[cls] = {"exact": False, **r, "gain": r["output_agreement"] - base}
        iso, _ = run({n: CLASSES for n in names if n != name}, name)
        cum, _ = run({n: CLASSES for n in names[i + 1:]}, name)
        layers.append({"name": name, "classes": classes, "isolated": iso, "cumulative": cum})
    first = _first_divergence(fixed, twins, x, flt, base_spikes, names, applicable)
    return {"samples": int(x.shape[1]), "steps": int(x.shape[0]), "output_layer": out,
            "classes": list(CLASSES), "quantized": base,
            "float": ceiling["output_agreement"], "by_class": by_class, "layers": layers,
            "first_divergence": first, "cause": _cause(base, ceiling["output_agreement"],
                                                       layers, by_class)}


def _first_divergence(fixed, twins, x, flt, quant, names, applicable) -> Optional[dict]:
    """Earliest differing spike (step, then depth order, sample, neuron) and its minimal cause."""
    import torch
    from ..targets.loihi.partial import CLASSES, resolve, simulate_params
    from ..verify import synaptic_depth
    best = None
    for rank, name in enumerate(names):
        hits = np.argwhere(flt[name] != quant[name])
        if len(hits):
            t, b, n = hits[np.lexsort((hits[:, 2], hits[:, 1], hits[:, 0]))][0]
            key = (int(t), rank, int(b), int(n))
            best = key if best is None or key < best else best
    if best is None:
        return None
    t, rank, b, n = best
    layer = names[rank]
    depth = synaptic_depth(fixed)[layer]
    sample = np.asarray(x[:t + 1, b:b + 1], np.float64)
    sample = torch.from_numpy(np.concatenate([sample, np.zeros((depth,) + sample.shape[1:])]))

    def probe(classes) -> tuple[bool, float, float]:
        """Whether the spike at (t, n) is right with ``classes`` of the layer in float, and
        the membrane / threshold the spike test saw."""
        params = resolve(fixed, twins, {layer: list(classes)})
        spikes, v = simulate_params(fixed, params, sample, record=True)
        fired = bool(spikes[layer][t + depth, 0, n] > 0.5)
        vth = float(params[layer].vth[n])
        return fired == bool(flt[layer][t, b, n]), float(v[layer][t + depth, 0, n]) / vth, vth

    with torch.no_grad():
        _, v_quant, _ = probe(())
        _, v_float, _ = probe(CLASSES)
        cause = _bisect([c for c in CLASSES if applicable[layer].get(c) or
                         c in ("rounding", "saturation")], lambda cs: probe(cs)[0])
    return {"step": t, "layer": layer, "sample": b, "neuron": n,
            "spike_float": bool(flt[layer][t, b, n]), "spike_quant": bool(quant[layer][t, b, n]),
            "v_float": v_float, "v_quant": v_quant, "classes": cause}


def _bisect(classes: list[str], fixes: Callable[[list[str]], bool]) -> list[str]:
    """A 1-minimal subset of ``classes`` for which ``fixes`` holds (delta debugging: halves
    first, then single removals); [] if not even all of them fix it."""
    if not classes or not fixes(classes):
        return []
    current = list(classes)
    while len(current) > 1:
        half = len(current) // 2
        for part in (current[:half], current[half:]):
            if fixes(part):
                current = part
                break
        else:
            break
    for cls in list(current):
        if len(current) > 1 and fixes([c for c in current if c != cls]):
            current.remove(cls)
    return current


def _cause(base: float, ceiling: float, layers: list[dict], by_class: list[dict]) -> dict:
    """The largest recoverable loss, named."""
    cands = [(c["gain"], l["name"], cls) for l in layers for cls, c in l["classes"].items()
             if c is not None and not c["exact"]]
    gain, layer, cls = max(cands, default=(0.0, None, None))
    top = max(by_class, key=lambda c: c["gain"], default=None)
    loss = ceiling - base
    if loss <= 0:
        text = "no loss: the quantized network agrees with the float model as far as it can"
    elif layer is None or gain <= 0:
        text = (f"the {loss:.2%} loss has no single cause: no one class of one layer brings "
                "agreement back")
    else:
        text = (f"{cls} of layer {layer}: exact {cls} there bring back {gain:+.2%} of the "
                f"{loss:.2%} lost")
        if top is not None and top["class"] != cls and top["gain"] > gain:
            text += f"; {top['class']} in every layer bring back {top['gain']:+.2%}"
        worst = max((c for c in by_class if not c["exact"]), key=lambda c: ceiling - c["alone"],
                    default=None)
        if gain < loss / 2 and worst is not None:
            text += (f"; interacting errors: {worst['class']} alone (all else float) loses "
                     f"{ceiling - worst['alone']:.2%}")
    return {"layer": layer, "class": cls, "gain": gain, "loss": loss,
            "class_all_layers": None if top is None else top["class"],
            "gain_all_layers": None if top is None else top["gain"],
            "tunable": cls in TUNABLE, "text": text}
