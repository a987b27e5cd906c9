"""Write a fixed-point graph as a lava-dl netx HDF5 file that lava-dl 0.6.0's netx loads into
exactly the network snncc's simulator runs.

netx rebuilds a network from ``layer/<i>/{type, shape, weight, bias, ...,
neuron/{type, ...}}`` (``lava/lib/dl/netx/hdf5.py``) and does not load integers as they are:
it re-derives each Dense's exponent and bit count (``optimize_weight_bits``), lets Lava's
Dense infer the sign mode, builds every CUBA neuron with ``du = iDecay - 1`` and
``bias_mant = bias`` at ``bias_exp = 6``.  So :func:`plan` walks the graph as a chain of netx
blocks and lists everything the format cannot carry (:func:`netx_problems`), the dense weights
are written so that netx's loading gives back snncc's matrix and exponent (checked with the
loader mirror in :mod:`.netx`), and :func:`write_netx` reads the written file back with
snncc's netx reader (which mirrors lava-dl's) and refuses to keep it unless every block comes
back identical.

Blocks written: an ``input`` layer (with its neuron where the input feeds a neuron directly:
CUBA or sigma-delta ``Delta``), ``conv`` (snncc's pooling is a conv synapse after
composition, so pooling is written as the depthwise conv it is), ``flatten`` (before a dense
that reads a (C, H, W) tensor), ``dense`` (with ``delay`` for a DelayDense) and ``dense_rec``;
neurons CUBA (LIF, or LIFReset), SDNN (SigmaDelta, Sigma).  What netx takes as ``Network``
arguments rather than from the file (``reset_interval``, ``reset_offset``, ``spike_exp``,
``input_message_bits``) is stored in the root attribute ``snncc_netx_args`` (JSON; snncc's
reader applies it) and returned so the user can be told how to load the file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from snncc.errors import SnnccError
from snncc.ir import (FxConv, FxDelayDense, FxDelta, FxDense, FxLIFReset, FxNeuron, FxSigma,
                      FxSigmaDelta, Graph, Input, Output)
from snncc.ir.sigma_delta import ACT_RELU
from snncc.targets.loihi import fixedpoint as fx

NETX_FILE = "network.net"
NAME_ATTR = "snncc_name"       # our node name, stored as an HDF5 attribute netx ignores
ARGS_ATTR = "snncc_netx_args"  # the netx Network arguments the file needs (JSON)
NETX_BIAS_EXP = 6
SYNAPSES = (FxDense, FxDelayDense, FxConv)
NEURONS = (FxNeuron, FxSigmaDelta, FxSigma)


@dataclass
class Block:
    """One netx layer to write: ``kind`` input / flatten / dense / dense_rec / conv."""

    kind: str
    shape: tuple[int, ...]
    neuron: object = None
    synapse: object = None
    rec: object = None
    file_weight: Optional[np.ndarray] = None      # what netx must read to rebuild the synapse


@dataclass
class Plan:
    problems: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    args: dict = field(default_factory=dict)       # netx Network arguments the file needs


def _lif_problems(node: FxNeuron, neuron_arrays: bool, is_input: bool) -> list[str]:
    out = []
    if not getattr(node, "spiking", True):
        out.append("a non-spiking readout (netx's LIF always fires above vth)")
    if node.reset_delayed:
        out.append("a delayed reset")
    if node.floor is not None:
        out.append("a membrane floor")
    if np.any(node.reset_mult) or np.any(node.reset_sub):
        out.append("a non-zero reset (reset_mult/reset_sub; netx's LIF resets v to 0)")
    if node.input_gain is not None:
        out.append("a per-step input gain")
    if node.bias_start and np.any(node.bias_mant):
        out.append("a neuron bias that starts late (netx's acts from step 0)")
    if np.any(node.dv < 0):
        out.append("a growing membrane (dv < 0)")
    if not out and not FxNeuron.is_stock_lif.fget(node):
        out.append("needs snncc's generalised neuron (netx builds Lava's stock LIF)")
    if not neuron_arrays:
        varying = [k for k in ("du", "dv", "vth") if len(np.unique(getattr(node, k))) > 1]
        if varying:
            out.append(f"per-neuron {'/'.join(varying)} (netx's LIF takes one value per "
                       "layer, as a Loihi neuron profile does)")
    bias = netx_bias(node)
    if is_input and np.any(bias):
        out.append("a bias on an input-layer neuron (netx stores it as an unused transform)")
    if np.any(bias != np.round(bias)) or np.any(bias < fx.BIAS_MANT_MIN) or \
            np.any(bias > fx.BIAS_MANT_MAX):
        out.append(f"biases that are not a 13-bit mantissa << {NETX_BIAS_EXP} (netx's only bias "
                   "exponent)")
    if np.any(node.du < -1) or np.any(node.du > 4095) or np.any(node.dv > 4095):
        out.append("decays outside Loihi's 12 bits")
    if np.any(node.vth < 0) or np.any(node.vth > fx.VTH_MAX):
        out.append("thresholds outside 17 bits")
    return out


def netx_bias(node: FxNeuron) -> np.ndarray:
    """The bias mantissas netx needs (exponent 6) for the neuron's effective bias, as float."""
    return fx.effective_bias(node.bias_mant, node.bias_exp).astype(np.float64) / 2 ** NETX_BIAS_EXP


def _sdnn_problems(node, args: dict) -> list[str]:
    out = []
    if getattr(node, "act_mode", ACT_RELU) != ACT_RELU:
        out.append("a unit (non-ReLU) activation (netx builds every SigmaDelta with ReLU)")
    if getattr(node, "cum_error", False):
        out.append("cumulative error (netx does not pass cum_error)")
    if not isinstance(node, FxSigma):
        if int(node.state_exp) != 6:
            out.append(f"state_exp {node.state_exp} (netx builds state_exp 6)")
        if args.setdefault("spike_exp", int(node.spike_exp)) != int(node.spike_exp):
            out.append("spike exponents that differ between layers (netx takes one spike_exp)")
        if len(np.unique(node.vth)) > 1:
            out.append("per-neuron thresholds (netx's sigma-delta takes one vThMant)")
    return out


def equivalent(wa: np.ndarray, ea: int, wb: np.ndarray, eb: int) -> bool:
    """Whether Dense (wa, ea) and (wb, eb) (Lava's: ``(W @ s) >> -e``, ``e <= 0``) give the
    same output for every input: the one at the lower exponent is the other shifted left by
    the difference (the extra shift cancels exactly)."""
    if ea > eb:
        wa, ea, wb, eb = wb, eb, wa, ea
    return np.array_equal(np.asarray(wa, np.int64), np.asarray(wb, np.int64) << (eb - ea))


def _file_weight(weight: np.ndarray, exp: int) -> Optional[np.ndarray]:
    """Integers netx reads back into a Dense equivalent to (weight, exp), or None."""
    from .netx import netx_loaded_weights
    w = np.asarray(weight, np.int64)
    if exp > 0 or np.any(w % (1 << -exp)):
        return None
    candidate = w >> -exp
    loaded = netx_loaded_weights(candidate)
    if loaded is None or loaded[1] > 0 or not equivalent(loaded[0], loaded[1], w, exp):
        return None
    return candidate


def _dense_weights(block: Block) -> list[str]:
    """Set ``block.file_weight`` for a (recurrent) dense block, or say why netx cannot."""
    from .netx import lava_dense_weights, netx_optimize
    syn, rec = block.synapse, block.rec
    out = []
    if getattr(syn, "split_sign", False) or getattr(rec, "split_sign", False):
        out.append("split-sign weights (two Dense per layer; netx has one)")
    if getattr(syn, "bias", None) is not None:
        out.append("a bias axon (netx has neuron biases only)")
    if int(syn.weight_exp) > 0:
        out.append(f"weight exponent {syn.weight_exp} (netx derives exponents <= 0 from the "
                   "weights)")
    if out:
        return out
    w = fx.lava_effective_weights(syn.weight)
    if rec is None:
        block.file_weight = _file_weight(w, int(syn.weight_exp))
        if block.file_weight is None:
            out.append(f"weights netx would load differently (at weight exponent "
                       f"{syn.weight_exp}; netx derives its own exponent and bit count)")
        return out
    exp = int(syn.weight_exp)
    wr = fx.lava_effective_weights(rec.weight)
    if int(rec.weight_exp) != exp or isinstance(syn, FxDelayDense):
        return out + ["a recurrent layer whose two matrices have different exponents or delays "
                      "(netx scales both together; with delays it drops the exponent)"]
    joint = np.hstack((w, wr))
    if exp > 0 or np.any(joint % (1 << -exp)):
        return out + ["recurrent weights netx would load differently"]
    opt = netx_optimize(joint >> -exp)
    n = w.shape[1]
    if opt is None or opt[2] > exp or \
            not equivalent(lava_dense_weights(opt[0][:, :n], opt[1]), opt[2], w, exp) or \
            not equivalent(lava_dense_weights(opt[0][:, n:], opt[1]), opt[2], wr, exp):
        return out + ["recurrent weights netx would load differently"]
    block.file_weight = joint >> -exp
    return out


def _neuron_of(graph: Graph, src: str) -> tuple[Optional[str], Optional[str]]:
    """(synapse, neuron) of the next netx block after ``src``, or (None, reason)."""
    cons = [c for c in graph.consumers_of(src) if src not in graph.recurrent_inputs_of(c)]
    if len(cons) != 1:
        return None, f"{src!r} feeds {len(cons)} nodes (netx: a single chain of layers)"
    return cons[0], None


def plan(graph: Graph, neuron_arrays: bool = False) -> Plan:
    """The netx blocks of ``graph`` and everything a netx file cannot carry exactly."""
    from snncc.targets.loihi.weights import FINE_SUFFIX
    fine = [n.name for n in graph.nodes() if n.name.endswith(FINE_SUFFIX)]
    if not fine:
        return _plan(graph, neuron_arrays)
    reduced = graph.copy()       # planned without them (else only: "a layer feeds 2 nodes")
    reduced._g.remove_nodes_from(fine)
    p = _plan(reduced, neuron_arrays)
    p.problems += [f"layer {name[:-len(FINE_SUFFIX)]!r}: extended weight precision (a second, "
                   "fine Dense; netx has one per layer)" for name in fine]
    return p


def _plan(graph: Graph, neuron_arrays: bool) -> Plan:
    p = Plan()
    if len(graph.input_names) != 1 or len(graph.output_names) != 1:
        p.problems.append(f"{len(graph.input_names)} inputs and {len(graph.output_names)} "
                          "outputs (netx: one input, one output)")
        return p
    shapes = graph.shapes()
    inp = graph.input_names[0]
    cur, block_index, resets = inp, 0, []
    nxt, why = _neuron_of(graph, inp)
    if nxt is None:
        p.problems.append(why)
        return p
    first = graph.node(nxt)
    if graph.meta.get("graded_input") and not isinstance(first, NEURONS + (FxDelta,)):
        p.args["input_message_bits"] = 16
    if isinstance(first, NEURONS + (FxDelta,)):         # netx's input neuron
        blk = Block("input", shapes[inp], neuron=first)
        p.blocks.append(blk)
        cur = nxt
    else:
        p.blocks.append(Block("input", shapes[inp]))
    while True:
        nxt, why = _neuron_of(graph, cur)
        if nxt is None:
            p.problems.append(why)
            return p
        node = graph.node(nxt)
        if isinstance(node, Output):
            break
        if not isinstance(node, SYNAPSES):
            p.problems.append(f"{nxt!r}: node kind {node.kind!r} has no netx layer")
            return p
        if graph.recurrent_inputs_of(nxt):
            p.problems.append(f"{nxt!r}: recurrent input (netx's dense_rec holds only a "
                              "layer's recurrence onto itself)")
        neuron_name, why = _neuron_of(graph, nxt)
        neuron = graph.node(neuron_name) if neuron_name else None
        if not isinstance(neuron, NEURONS) or graph.inputs_of(neuron_name) != [nxt]:
            p.problems.append(why or f"{nxt!r}: not followed by exactly one neuron layer")
            return p
        rec = [graph.node(r) for r in graph.recurrent_inputs_of(neuron_name)]
        if rec and (len(rec) != 1 or not isinstance(rec[0], FxDense)
                    or graph.inputs_of(rec[0].name) != [neuron_name]):
            p.problems.append(f"{neuron_name!r}: recurrence other than one dense from itself")
            return p
        if isinstance(node, FxConv):
            blk = Block("conv", shapes[neuron_name], neuron, node)
            if node.bias is not None:
                p.problems.append(f"layer {nxt!r}: a bias axon (netx has neuron biases only)")
        else:
            if len(shapes[cur]) == 3:
                p.blocks.append(Block("flatten", (int(np.prod(shapes[cur])), 1, 1)))
            blk = Block("dense_rec" if rec else "dense", shapes[neuron_name], neuron, node,
                        rec[0] if rec else None)
            p.problems += [f"layer {nxt!r}: {x}" for x in _dense_weights(blk)]
        p.blocks.append(blk)
        cur = neuron_name
    for blk in p.blocks:
        n = blk.neuron
        if n is None:
            continue
        block_index += 1
        if isinstance(n, FxNeuron):
            p.problems += [f"layer {n.name!r}: {x}" for x in
                           _lif_problems(n, neuron_arrays, blk.kind == "input")]
            resets.append((block_index, n))
        else:
            p.problems += [f"layer {n.name!r}: {x}" for x in _sdnn_problems(n, p.args)]
            if isinstance(n, FxDelta) and blk.kind != "input" or \
                    isinstance(n, FxSigmaDelta) and blk.kind == "input":
                p.problems.append(f"layer {n.name!r}: netx builds Delta for the input layer only")
    p.problems += _reset_args(resets, p.args)
    if p.args.get("spike_exp") == 6:
        del p.args["spike_exp"]
    return p


def _reset_args(resets: list, args: dict) -> list[str]:
    """netx's reset_interval/reset_offset for the LIF layers, or why they cannot be given."""
    periodic = [(k, n) for k, n in resets if isinstance(n, FxLIFReset)]
    if not periodic:
        return []
    if len(periodic) != len(resets):
        return ["a periodic reset on some LIF layers only (netx resets all of them or none)"]
    intervals = {int(n.reset_interval) for _, n in periodic}
    bases = {(int(n.reset_offset) - k) % int(n.reset_interval) for k, n in periodic}
    if len(intervals) != 1 or len(bases) != 1:
        return ["periodic resets that do not follow netx's rule (one interval; layer k reset "
                "at offset + 1 + k)"]
    args["reset_interval"], args["reset_offset"] = intervals.pop(), bases.pop()
    return []


def netx_problems(graph: Graph, neuron_arrays: bool = False) -> list[str]:
    """Everything in a fixed-point graph that a netx file cannot carry exactly; [] if none.

    ``neuron_arrays``: accept per-neuron du/dv/vth (written as arrays; lava-dl's Python
    model broadcasts them, but the format and Loihi take one value per layer).
    """
    return plan(graph, neuron_arrays).problems
