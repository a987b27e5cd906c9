"""Xylo's design rules and the placement of layers on the chip's one hidden population.

A Xylo network is three weight matrices over one population of hidden neurons plus the
readout neurons (xylosim ``XyloLayer``; Rockpool 3.1.0's mapper ``syns*/xylo_mapper.py``
builds them the same way): ``weights_in`` (inputs, hidden), ``weights_rec`` (hidden,
hidden) and ``weights_out`` (hidden, outputs).  Hidden layers take consecutive hidden ids in
graph order; a feed-forward stack becomes blocks of ``weights_rec`` below its diagonal, a
layer's own recurrence a block on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import fixedpoint as xf
from ...errors import SnnccError
from ...ir import Graph
from ...ir.xylo import POP_HIDDEN, POP_INPUT, POP_OUTPUT, XyDense, XyNeuron

SPEC_FORMAT = "snncc.xylo-spec"


@dataclass
class XyloConfig:
    """The chip's flat parameters (Rockpool's ``from_specification`` names), int64 arrays.

    ``layers``: ``(name, population, start, stop)`` of every neuron layer: which hidden
    (or readout) ids hold it.
    """

    weights_in: np.ndarray
    weights_rec: np.ndarray
    weights_out: np.ndarray
    threshold: np.ndarray
    threshold_out: np.ndarray
    bias: np.ndarray
    bias_out: np.ndarray
    dash_mem: np.ndarray
    dash_mem_out: np.ndarray
    dash_syn: np.ndarray
    dash_syn_out: np.ndarray
    weight_shift_in: int = 0
    weight_shift_rec: int = 0
    weight_shift_out: int = 0
    layers: list[tuple[str, str, int, int]] = field(default_factory=list)
    chip: str = "xylo-audio2"

    @property
    def n_in(self) -> int:
        return int(self.weights_in.shape[0])

    @property
    def n_hidden(self) -> int:
        return int(self.weights_rec.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.weights_out.shape[1])

    def to_spec(self) -> dict:
        """A JSON-ready dict: Rockpool's mapper specification (``XyloSim.from_specification``
        keyword arguments; weights with the synapse axis of the chip) plus snncc's layer map."""
        syn = xf.CHIPS[self.chip].synapses
        pad = lambda w: np.concatenate([w[..., None], np.zeros(w.shape + (syn - 1,), np.int64)],
                                       axis=-1)
        return {"format": SPEC_FORMAT, "version": 1, "chip": self.chip,
                "part": xf.CHIPS[self.chip].part,
                "weights_in": pad(self.weights_in).tolist(),
                "weights_rec": pad(self.weights_rec).tolist(),
                "weights_out": self.weights_out.tolist(),
                "dash_mem": self.dash_mem.tolist(), "dash_mem_out": self.dash_mem_out.tolist(),
                "dash_syn": self.dash_syn.tolist(), "dash_syn_2": [0] * self.n_hidden,
                "dash_syn_out": self.dash_syn_out.tolist(),
                "threshold": self.threshold.tolist(), "threshold_out": self.threshold_out.tolist(),
                "bias": self.bias.tolist(), "bias_out": self.bias_out.tolist(),
                "weight_shift_in": self.weight_shift_in, "weight_shift_rec": self.weight_shift_rec,
                "weight_shift_out": self.weight_shift_out,
                "aliases": [[] for _ in range(self.n_hidden)],
                "layers": [list(l) for l in self.layers]}

    @classmethod
    def from_spec(cls, spec: dict) -> "XyloConfig":
        """Read :meth:`to_spec`'s dict back; a second synapse must be unused (snncc's
        neurons have one current).  Raises :class:`SnnccError` on a malformed spec."""
        try:
            arr = lambda k: np.asarray(spec[k], np.int64)
            w_in, w_rec = arr("weights_in"), arr("weights_rec")
            if w_in.ndim == 3:
                if np.any(w_in[..., 1:]) or np.any(w_rec[..., 1:]):
                    raise SnnccError("the spec uses a second synapse per hidden neuron",
                                     "snncc's Xylo simulator models one synapse per neuron")
                w_in, w_rec = w_in[..., 0], w_rec[..., 0]
            return cls(w_in.reshape(-1, w_rec.shape[0]), w_rec, arr("weights_out"),
                       arr("threshold"), arr("threshold_out"), arr("bias"), arr("bias_out"),
                       arr("dash_mem"), arr("dash_mem_out"), arr("dash_syn"), arr("dash_syn_out"),
                       int(spec["weight_shift_in"]), int(spec["weight_shift_rec"]),
                       int(spec["weight_shift_out"]),
                       [tuple(l) for l in spec.get("layers", [])], spec.get("chip", "xylo-audio2"))
        except (KeyError, TypeError, ValueError) as exc:
            raise SnnccError(f"malformed Xylo spec: {exc}",
                             "use a xylo_spec.json written by snncc compile --target xylo") from None


def _placement(graph: Graph) -> tuple[list[XyNeuron], list[XyNeuron], dict[str, int]]:
    hidden = [n for n in graph.of_type(XyNeuron) if not n.output]
    outputs = [n for n in graph.of_type(XyNeuron) if n.output]
    start, pos = {}, 0
    for n in hidden:
        start[n.name], pos = pos, pos + int(np.prod(n.shape))
    pos = 0
    for n in outputs:
        start[n.name], pos = pos, pos + int(np.prod(n.shape))
    return hidden, outputs, start


def to_config(graph: Graph) -> XyloConfig:
    """Place a fixed Xylo graph on the chip: flat matrices and per-neuron arrays.

    Raises :class:`SnnccError` if the graph holds no Xylo layers or its synapses of one
    matrix disagree on the bit shift."""
    hidden, outputs, start = _placement(graph)
    if not outputs:
        raise SnnccError("the graph holds no Xylo readout layer",
                         "compile it with --target xylo first")
    n_in = int(np.prod(graph.node(graph.input_names[0]).shape))
    n_hid = sum(int(np.prod(n.shape)) for n in hidden)
    n_out = sum(int(np.prod(n.shape)) for n in outputs)
    mats = {POP_INPUT: np.zeros((n_in, n_hid), np.int64),
            POP_HIDDEN: np.zeros((n_hid, n_hid), np.int64),
            POP_OUTPUT: np.zeros((n_hid, n_out), np.int64)}
    shifts: dict[str, int] = {}
    for dense in graph.of_type(XyDense):
        src = graph.inputs_of(dense.name)[0]
        dst = graph.consumers_of(dense.name)[0]
        if shifts.setdefault(dense.matrix, dense.shift) != dense.shift:
            raise SnnccError(f"synapses of Xylo's {dense.matrix} matrix use different bit shifts",
                             "re-compile: one shift per matrix")
        s0 = 0 if dense.matrix == POP_INPUT else start[src]
        d0 = start[dst]
        w = np.asarray(dense.weight, np.int64).T
        mats[dense.matrix][s0:s0 + w.shape[0], d0:d0 + w.shape[1]] += w
    cat = lambda ns, attr: (np.concatenate([np.asarray(getattr(n, attr), np.int64).reshape(-1)
                                            for n in ns]) if ns else np.zeros(0, np.int64))
    layers = ([(n.name, POP_HIDDEN, start[n.name], start[n.name] + int(np.prod(n.shape)))
               for n in hidden]
              + [(n.name, POP_OUTPUT, start[n.name], start[n.name] + int(np.prod(n.shape)))
                 for n in outputs])
    return XyloConfig(mats[POP_INPUT], mats[POP_HIDDEN], mats[POP_OUTPUT],
                      cat(hidden, "threshold"), cat(outputs, "threshold"),
                      cat(hidden, "bias"), cat(outputs, "bias"),
                      cat(hidden, "dash_mem"), cat(outputs, "dash_mem"),
                      cat(hidden, "dash_syn"), cat(outputs, "dash_syn"),
                      shifts.get(POP_INPUT, 0), shifts.get(POP_HIDDEN, 0),
                      shifts.get(POP_OUTPUT, 0), layers,
                      graph.meta.get("target", "xylo-audio2"))


@dataclass
class Resources:
    """What a network takes of one Xylo chip: used / available per design rule."""

    chip: xf.Chip
    inputs: int
    hidden: int
    outputs: int
    synapses: int
    weights: dict[str, int]       # non-zero weights per matrix

    def rows(self) -> list[dict]:
        c = self.chip
        return [{"resource": k, "used": u, "available": a, "fraction": u / a if a else 0.0}
                for k, u, a in (("input channels", self.inputs, c.inputs),
                                ("hidden neurons", self.hidden, c.hidden),
                                ("readout neurons", self.outputs, c.outputs),
                                ("synapses per hidden neuron", self.synapses, c.synapses))]


def resources(graph: Graph, chip: Optional[xf.Chip] = None) -> Resources:
    """Resource use of a fixed Xylo graph on ``chip`` (default: the graph's sub-target)."""
    chip = chip or xf.CHIPS[graph.meta.get("target", "xylo-audio2")]
    cfg = to_config(graph)
    return Resources(chip, cfg.n_in, cfg.n_hidden, cfg.n_out, 1 if cfg.n_hidden else 0,
                     {"input": int(np.count_nonzero(cfg.weights_in)),
                      "recurrent": int(np.count_nonzero(cfg.weights_rec)),
                      "readout": int(np.count_nonzero(cfg.weights_out))})


def check_design_rules(graph: Graph, chip: xf.Chip) -> Resources:
    """Raise :class:`SnnccError` naming every limit of ``chip`` the network exceeds, and by
    how much (Rockpool's mapper DRC: 16 input channels, 1,000 / 496 / 992 hidden neurons,
    8 / 16 / 16 readout neurons, synapses per hidden neuron)."""
    res = resources(graph, chip)
    over = [f"{r['resource']}: {r['used']} > {r['available']} (by {r['used'] - r['available']})"
            for r in res.rows() if r["used"] > r["available"]]
    if over:
        raise SnnccError(f"the network does not fit {chip.title} ({chip.part}): " + "; ".join(over),
                         "shrink those layers (inputs: pool or project to 16 channels), or "
                         "choose another sub-target (--target xylo-audio2|xylo-imu|xylo-audio3)")
    return res
