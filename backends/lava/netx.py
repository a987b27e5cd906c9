"""lava-dl netx export: the fixed-point graph as a netx HDF5 file (``network.net``).

netx (lava-dl 0.6.0, ``lava.lib.dl.netx.hdf5.Network``) rebuilds a network from a file laid
out as ``layer/<i>/{type, shape, weight, bias, neuron/{type, iDecay, vDecay, vThMant,
refDelay}}``; layer 0 is an ``input`` layer holding only ``shape``, so input spikes go
straight into layer 1's synapses, exactly as snncc's Lava network wires them.  netx does
not load our integers as they are: it re-derives every Dense's exponent and bit count
(``netx.utils.optimize_weight_bits``), lets Lava's Dense infer the sign mode again, builds
each LIF with ``du = iDecay - 1`` and ``bias_mant = bias`` at ``bias_exp = 6``.  So this
module (a) mirrors that loader in numpy and writes a file only when what netx will load
equals what snncc's simulator runs, and (b) lists everything the format cannot carry
(:func:`netx_problems`).  Quantize with :func:`snncc.passes.netx_config` to stay inside it.

Pure numpy here (h5py only when writing), so it imports without torch and without lava.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from snncc.targets.loihi import fixedpoint as fx
from snncc.atomic import atomic_file
from snncc.errors import SnnccError
from snncc.ir import FxDense, FxNeuron, Graph, Input, Output
from snncc.targets.loihi.weights import FINE_SUFFIX   # extended precision's fine Dense
from snncc.targets.loihi.quantize import NETX_BIAS_EXP   # netx builds every LIF with bias_exp = 6

NETX_FILE = "network.net"
NAME_ATTR = "snncc_name"    # our node name, stored as an HDF5 attribute netx ignores


def netx_loaded_weights(weight: np.ndarray) -> Optional[tuple[np.ndarray, int]]:
    """The (matrix, weight_exp) Lava's fixed_pt Dense ends up with when netx loads ``weight``.

    Mirrors lava-dl 0.6.0 ``netx.utils.optimize_weight_bits`` (which scales the matrix by
    ``2**sb`` and sets ``weight_exp = -sb``, ``num_weight_bits = 8 - sb - n``) followed by
    Lava's ``clip_weights``/``truncate_weights`` with the sign mode Lava infers from the
    scaled matrix (netx does not pass its own).  None where netx fails or the scale goes
    negative (an all-zero matrix, weights beyond 8 bits).
    """
    w = np.asarray(weight).astype(np.int64)            # NetDict reads weights .astype(int)
    if w.size == 0:
        return None
    hi, lo = int(w.max()), int(w.min())
    if (hi > 254 and lo < 0) or (lo < -256 and hi > 0):
        w = np.clip(w, -256, 254)
        hi, lo = int(w.max()), int(w.min())
    if hi < 0:                                        # netx: strictly negative -> inhibitory
        signed, scale = 0, -256 / lo
    elif lo >= 0:
        if hi == 0:
            return None                               # 255 / 0: netx crashes
        signed, scale = 0, 255 / hi
    else:                                             # note: max == 0 counts as mixed here
        signed = 1
        scale = min(127 / hi if hi > 0 else np.inf, -128 / lo)
    sb = int(np.floor(np.log2(scale))) + signed
    if sb < 0:
        return None
    n = 8
    while n > 0 and np.any(w % (2 ** n)):
        n -= 1
    num_weight_bits = 8 - sb - (n - signed)
    scaled = w << sb
    mode = fx.sign_mode(scaled)                       # Lava's determine_sign_mode
    mixed = mode == fx.SIGN_MIXED
    mag = -scaled if mode == fx.SIGN_INHIBITORY else scaled
    mag = np.clip(mag, -256 if mixed else 0, 255)     # clip_weights(num_bits=8)
    drop = 8 - num_weight_bits + int(mixed)           # truncate_weights
    mag = (mag >> drop) << drop
    return (-mag if mode == fx.SIGN_INHIBITORY else mag), -sb


def _chain(graph: Graph) -> tuple[list[str], list[tuple[FxDense, FxNeuron]]]:
    """Problems with the graph's shape, and its (dense, neuron) layers in order."""
    problems: list[str] = []
    layers: list[tuple[FxDense, FxNeuron]] = []
    if any(rec for *_, rec in graph.edges()):
        problems.append("recurrent connections (netx's dense_rec is not emitted by snncc)")
    if len(graph.input_names) != 1 or len(graph.output_names) != 1:
        problems.append(f"{len(graph.input_names)} inputs and {len(graph.output_names)} "
                        "outputs (netx: one input, one output)")
    prev = graph.input_names[0] if graph.input_names else None
    for node in graph.nodes():
        ins = graph.inputs_of(node.name)
        if isinstance(node, Input):
            continue
        if isinstance(node, FxDense):
            if ins != [prev] or len(graph.consumers_of(node.name)) != 1:
                problems.append(f"{node.name!r}: not part of a single chain of layers "
                                "(netx: a sequence of dense layers)")
        elif isinstance(node, FxNeuron):
            ins = [i for i in ins if not i.endswith(FINE_SUFFIX)]    # listed per layer
            dense = graph.node(ins[0]) if len(ins) == 1 else None
            if not isinstance(dense, FxDense):
                problems.append(f"{node.name!r}: not fed by exactly one dense layer")
            else:
                layers.append((dense, node))
            prev = node.name
        elif isinstance(node, Output):
            if ins != [prev]:
                problems.append(f"output {node.name!r} is not the last layer")
        else:
            problems.append(f"{node.name!r}: node kind {node.kind!r} has no netx layer")
    if not layers:
        problems.append("no layers")
    return problems, layers


def _netx_bias(node: FxNeuron) -> np.ndarray:
    """The bias mantissas netx needs (exponent 6) for the neuron's effective bias, as float."""
    return fx.effective_bias(node.bias_mant, node.bias_exp).astype(np.float64) / 2 ** NETX_BIAS_EXP


def _neuron_problems(node: FxNeuron, neuron_arrays: bool) -> list[str]:
    out = []
    if node.reset_delayed:
        out.append("a delayed reset")
    if node.floor is not None:
        out.append("a membrane floor")
    if np.any(node.reset_mult) or np.any(node.reset_sub):
        out.append("a non-zero reset (reset_mult/reset_sub; netx's LIF resets v to 0)")
    if getattr(node, "input_gain", None) is not None:
        out.append("a per-step input gain")
    if getattr(node, "bias_start", 0) and np.any(node.bias_mant):
        out.append("a neuron bias that starts late (netx's acts from step 0)")
    if np.any(node.dv < 0):
        out.append("a growing membrane (dv < 0)")
    if not out and not node.is_stock_lif:       # anything else the generalised neuron adds
        out.append("needs snncc's generalised neuron (netx builds Lava's stock LIF)")
    if not neuron_arrays:
        varying = [k for k in ("du", "dv", "vth") if len(np.unique(getattr(node, k))) > 1]
        if varying:
            out.append(f"per-neuron {'/'.join(varying)} (netx's LIF takes one value per "
                       "layer, as a Loihi neuron profile does)")
    bias = _netx_bias(node)
    if np.any(bias != np.round(bias)) or np.any(bias < fx.BIAS_MANT_MIN) or np.any(bias > fx.BIAS_MANT_MAX):
        out.append(f"biases that are not a 13-bit mantissa << {NETX_BIAS_EXP} (netx's only bias exponent)")
    if np.any(node.du < -1) or np.any(node.du > 4095) or np.any(node.dv > 4095):
        out.append("decays outside Loihi's 12 bits")
    if np.any(node.vth < 0) or np.any(node.vth > fx.VTH_MAX):
        out.append("thresholds outside 17 bits")
    return out


def _dense_problems(node: FxDense) -> list[str]:
    out = []
    if node.split_sign:
        out.append("split-sign weights (two Dense per layer; netx has one)")
    if node.weight_exp != 0:
        out.append(f"weight exponent {node.weight_exp} (netx derives its own from the "
                   "weights: only exponent 0 survives)")
    if node.bias is not None:
        out.append("a bias axon (netx has neuron biases only)")
    if not node.split_sign:
        ours = fx.lava_effective_weights(node.weight)
        loaded = netx_loaded_weights(ours)
        if loaded is None:
            out.append("weights netx cannot load (all zero, or beyond 8 bits)")
        elif not np.array_equal(loaded[0], ours << -loaded[1]):
            out.append("weights netx would load differently (seen only in all-non-positive "
                       "matrices: netx and Lava disagree on their sign mode, or netx scales "
                       "the minimum to -256, which Lava clips)")
    return out


def netx_problems(graph: Graph, neuron_arrays: bool = False) -> list[str]:
    """Everything in a fixed-point graph that a netx file cannot carry exactly; [] if none.

    ``neuron_arrays``: accept per-neuron du/dv/vth (written as arrays; lava-dl's Python
    model broadcasts them, but the format and Loihi take one value per layer).
    """
    problems, layers = _chain(graph)
    for dense, neuron in layers:
        problems += [f"layer {dense.name!r}: {p}" for p in _dense_problems(dense)]
        problems += [f"layer {neuron.name!r}: {p}" for p in _neuron_problems(neuron, neuron_arrays)]
        if dense.name + FINE_SUFFIX in graph:
            problems.append(f"layer {dense.name!r}: extended weight precision (a second, fine "
                            "Dense; netx has one per layer)")
    return problems


def _param(values: np.ndarray, neuron_arrays: bool) -> np.ndarray:
    values = np.asarray(values, dtype=np.int32).reshape(-1)
    return values if neuron_arrays and len(np.unique(values)) > 1 else values[:1]


def _write_h5(graph: Graph, layers: list[tuple[FxDense, FxNeuron]], path: Path,
              neuron_arrays: bool) -> None:
    import h5py     # the compiler env and the Lava env have it; the numpy core does not need it
    n_in = int(np.prod(graph.node(graph.input_names[0]).shape))
    with h5py.File(path, "w") as f:
        f.attrs["generator"] = "snncc"
        root = f.create_group("layer")
        g = root.create_group("0")
        g.create_dataset("type", (1,), "S10", [b"input"])
        g.create_dataset("shape", data=np.array([n_in], dtype=np.int64))
        g.attrs[NAME_ATTR] = graph.input_names[0]
        for i, (dense, neuron) in enumerate(layers, start=1):
            g = root.create_group(str(i))
            g.attrs[NAME_ATTR] = neuron.name
            g.create_dataset("type", (1,), "S10", [b"dense"])
            g.create_dataset("shape", data=np.array([int(np.prod(neuron.shape))], dtype=np.int64))
            g.create_dataset("weight", data=fx.lava_effective_weights(dense.weight).astype(np.float32))
            g.create_dataset("bias", data=_netx_bias(neuron).reshape(-1).astype(np.float32))
            nrn = g.create_group("neuron")
            nrn.create_dataset("type", (1,), "S10", [b"CUBA"])
            nrn.create_dataset("iDecay", data=_param(neuron.du + 1, neuron_arrays))
            nrn.create_dataset("vDecay", data=_param(neuron.dv, neuron_arrays))
            nrn.create_dataset("vThMant", data=_param(neuron.vth, neuron_arrays))
            nrn.create_dataset("refDelay", data=np.array([1], dtype=np.int32))
            nrn.create_dataset("gradedSpike", data=np.array([False]))


def write_netx(graph: Graph, path: str | os.PathLike, neuron_arrays: bool = False) -> Path:
    """Write ``graph`` as a netx HDF5 file, atomically; raise SnnccError listing the problems."""
    problems = netx_problems(graph, neuron_arrays)
    if problems:
        raise SnnccError("the network cannot be written as a lava-dl netx file: "
                         + "; ".join(problems),
                         "compile with the netx preset (`snncc compile --netx`, or "
                         "compile_model(..., config=netx_config())) and use per-layer neuron "
                         "parameters, zero resets and no recurrence")
    _, layers = _chain(graph)
    path = Path(path)
    with atomic_file(path) as tmp:
        _write_h5(graph, layers, tmp, neuron_arrays)
    return path


def run_netx(graph: Graph, stimulus: np.ndarray, record_states: bool = False,
             neuron_arrays: bool = False, timeout: Optional[float] = None):
    """Write ``graph`` as a netx file and run it with lava-dl's loader in the Lava env.

    Returns a :class:`snncc.backends.sim.SimResult` like every runner.  No time shift is
    applied: a netx file whose input layer holds only a shape makes ``Network.inp`` layer
    1's Dense input, so netx's network has the same Dense delays as snncc's (see README).
    """
    from ..sim import SimResult
    from . import run_netx_file
    stimulus = np.asarray(stimulus)
    flat = stimulus.reshape(stimulus.shape[0], stimulus.shape[1], -1)
    with tempfile.TemporaryDirectory(prefix="snncc-netx-") as tmp:
        path = write_netx(graph, Path(tmp) / NETX_FILE, neuron_arrays)
        raw = run_netx_file(path, flat, record_states, timeout)
    result = SimResult(spikes={"input": flat.astype(bool)})
    for node in graph.of_type(FxNeuron):
        result.spikes[node.name] = raw[f"{node.name}/s"].astype(bool)
        if record_states:
            result.u[node.name] = raw[f"{node.name}/u"].astype(np.int32)
            result.v[node.name] = raw[f"{node.name}/v"].astype(np.int32)
    for name in graph.output_names:
        result.outputs[name] = result.spikes[graph.inputs_of(name)[0]]
    return result
