"""The tuned network as a PyTorch module: the compiler's composed float graph, trainable.

:class:`TunedNetwork` holds the graph snncc quantizes (canonical CUBA-LIF neurons, one
``Affine``/``Conv2d`` synapse per spike source and neuron, recurrent edges) with every float
array as a tensor: weights, biases, thresholds and decays are ``nn.Parameter`` s, the rest
buffers.  It is what ``snncc finetune`` trains and saves (``torch.save``), and what
``snncc compile`` reads back:

* ``forward(x)`` is one time step of the float model (snncc's stepping convention, state in
  the module, :func:`snncc.nn.reset` before each sample), the equations of
  :mod:`snncc.passes.float_sim` in float64;
* ``to_ir(name)`` returns the graph itself (a :class:`~snncc.ir.fragment.Fragment`), so
  compiling the saved model quantizes exactly the arrays it was tuned with, through the same
  settings (``snncc_quant_config``, which :func:`snncc.compiler.compile_model` uses), into
  the network the fine-tuning ran.
"""
from __future__ import annotations

import json
from typing import Optional

import numpy as np
import torch
from torch import nn

from ..errors import SnnccError
from ..ir import Affine, Conv2d, CubaLIF, Graph, Input, Output
from ..ir.fragment import INPUT, Fragment, FragmentNode
from ..ir.serialize import from_dicts, to_dicts
from .base import StatefulNeuron

TRAINABLE = {"affine": ("weight", "bias"), "conv2d": ("weight", "bias"),
             "cuba_lif": ("alpha", "beta", "threshold", "bias")}


def _key(node: str, field: str) -> str:
    """ParameterDict keys may not contain dots: node names can."""
    return f"{node.replace('.', '__')}::{field}"


class TunedNetwork(StatefulNeuron):
    """A composed float graph (see the module docstring) as a trainable module.

    ``graph``: Input -> (Affine | Conv2d) -> CubaLIF ... -> Output, as
    :func:`snncc.passes.compose.compose_synapses` returns it; ``quant_config``: the
    quantizer settings (a dict of :class:`~snncc.targets.loihi.quantize.QuantConfig`
    fields) the network is tuned and compiled through.  Raises :class:`SnnccError` for a
    graph with other node kinds or several outputs.
    """

    state_names = ("state",)

    def __init__(self, graph: Graph, quant_config: Optional[dict] = None) -> None:
        nn.Module.__init__(self)
        outputs = graph.output_names
        if len(outputs) != 1 or len(graph.input_names) != 1:
            raise SnnccError("fine-tuning needs a network with one input and one output",
                             "fine-tune a model with a single spiking output layer")
        for node in graph.nodes():
            if not isinstance(node, (Input, Output, Affine, Conv2d, CubaLIF)):
                raise SnnccError(f"fine-tuning cannot train node {node.name!r} ({node.kind})",
                                 "compose the graph first (snncc.passes.compose)")
        desc, arrays = to_dicts(graph)
        self.structure = json.dumps(desc, default=lambda o: o.item())
        self.snncc_quant_config = dict(quant_config or {})
        self.snncc_input_shape = tuple(int(s) for s in graph.node(graph.input_names[0]).shape)
        self.shapes = json.dumps({k: [int(d) for d in v] for k, v in graph.shapes().items()})
        self.tensors = nn.ParameterDict()
        for name, value in arrays.items():
            node, field = name.rsplit(".", 1)
            kind = graph.node(node).kind
            learn = field in TRAINABLE.get(kind, ()) and np.issubdtype(value.dtype, np.floating)
            self.tensors[_key(node, field)] = nn.Parameter(
                torch.as_tensor(np.asarray(value, np.float64)), requires_grad=learn)
        self.shape = self.snncc_input_shape
        self.reset_mode = "zero"
        self.reset()

    # the graph -------------------------------------------------------------------------
    def tensor(self, node: str, field: str) -> Optional[torch.Tensor]:
        key = _key(node, field)
        return self.tensors[key] if key in self.tensors else None

    def to_graph(self) -> Graph:
        """The graph with the current values (float64 numpy copies)."""
        desc = json.loads(self.structure)
        arrays = {}
        for entry in desc["nodes"]:
            for field, value in entry.items():
                if isinstance(value, dict) and "array" in value:
                    arrays[value["array"]] = (self.tensors[_key(entry["name"], field)]
                                              .detach().cpu().numpy().copy())
        return from_dicts(desc, arrays)

    def to_ir(self, name: str) -> Fragment:
        """The graph as the frontend's fragment: node names kept, the input is the module's."""
        graph = self.to_graph()
        inp = graph.input_names[0]
        items = []
        for node in graph.nodes():
            if isinstance(node, (Input, Output)):
                continue
            ins = [INPUT if s == inp else s for s in graph.inputs_of(node.name)]
            rec = [INPUT if s == inp else s for s in graph.recurrent_inputs_of(node.name)]
            items.append(FragmentNode(node, ins, rec))
        return Fragment(items, output=graph.inputs_of(graph.output_names[0])[0])

    def extra_repr(self) -> str:
        graph = json.loads(self.structure)
        kinds = [n["kind"] for n in graph["nodes"]]
        return (f"{sum(k == 'cuba_lif' for k in kinds)} neuron layers, "
                f"{sum(k in ('affine', 'conv2d') for k in kinds)} synapses, "
                f"input {self.snncc_input_shape}")

    @torch.no_grad()
    def run_layers(self, stimulus: np.ndarray, layers: list[str],
                   batch_size: int = 256) -> dict[str, np.ndarray]:
        """The float model's spikes (bool, (T, B, n)) of the named neuron layers on
        ``stimulus`` (T, B, ...): what :func:`snncc.reference.run_float` records for it."""
        steps, total = stimulus.shape[:2]
        out: dict[str, list[np.ndarray]] = {n: [] for n in layers}
        for start in range(0, total, batch_size):
            chunk = torch.as_tensor(np.asarray(stimulus[:, start:start + batch_size]),
                                    dtype=torch.float64)
            self.reset()
            rec: dict[str, list[np.ndarray]] = {n: [] for n in layers}
            for t in range(steps):
                self(chunk[t])
                for n in layers:
                    rec[n].append(self.state[("value", n)].reshape(chunk.shape[1], -1).numpy() > 0.5)
            for n in layers:
                out[n].append(np.stack(rec[n]))
        self.reset()
        return {n: np.concatenate(v, axis=1) for n, v in out.items()}

    # one float step ----------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One step of the float model on ``x`` (B, *input_shape); the output layer's spikes
        (B, n) as 0/1 in float64.  A recurrent input is its source's value of the previous
        step (zeros at the first), as in :func:`snncc.passes.float_sim.simulate_float`."""
        desc = json.loads(self.structure)
        shapes = {k: tuple(v) for k, v in json.loads(self.shapes).items()}
        ins: dict[str, list[str]] = {}
        rec: dict[str, list[str]] = {}
        for e in sorted(desc["edges"], key=lambda e: e["port"]):
            (rec if e["recurrent"] else ins).setdefault(e["dst"], []).append(e["src"])
        batch = x.shape[0]
        state = self.state if self.state is not None else {}
        values: dict[str, torch.Tensor] = {}
        new_state: dict = {}
        out = None
        for entry in desc["nodes"]:
            name, kind = entry["name"], entry["kind"]
            srcs = [values[s] for s in ins.get(name, [])]
            srcs += [state.get(("value", s), x.new_zeros((batch,) + shapes[s]).to(torch.float64))
                     for s in rec.get(name, [])]
            if kind == "input":
                values[name] = x.to(torch.float64).reshape((batch,) + shapes[name])
            elif kind == "affine":
                y = srcs[0].reshape(batch, -1) @ self.tensor(name, "weight").T
                b = self.tensor(name, "bias")
                values[name] = y if b is None else y + b
            elif kind == "conv2d":
                src = ins.get(name, rec.get(name))[0]
                values[name] = self._conv(entry, name, srcs[0].reshape((batch,) + shapes[src]))
            elif kind == "cuba_lif":
                values[name] = self._neuron(entry, name, srcs, state, new_state, batch)
            else:                                  # output
                out = srcs[0].reshape(batch, -1)
            new_state[("value", name)] = values.get(name)
        self.state = new_state
        return out

    def _conv(self, entry: dict, name: str, src: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.conv2d(src, self.tensor(name, "weight"),
                                       stride=tuple(entry["stride"]),
                                       padding=tuple(entry["padding"]), groups=int(entry["groups"]))
        b = self.tensor(name, "bias")
        if b is not None:
            y = y + (b.reshape(1, -1, 1, 1) if b.dim() == 1 else b.reshape((1,) + y.shape[1:]))
        return y.reshape(src.shape[0], -1)

    def _neuron(self, entry: dict, name: str, srcs, state, new_state, batch) -> torch.Tensor:
        """The canonical CUBA-LIF step (:class:`snncc.ir.nodes.CubaLIF`)."""
        p = {f: self.tensor(name, f) for f in ("alpha", "beta", "threshold", "bias", "reset_mult",
                                                "reset_sub", "input_gain")}
        n = int(np.prod(entry["shape"]))
        flat = lambda t: t.reshape(-1)  # noqa: E731
        zeros = torch.zeros(batch, n, dtype=torch.float64)
        x = sum(s.reshape(batch, -1) for s in srcs) if srcs else zeros
        t = int(state.get(("t", name), 0))
        if p["input_gain"] is not None:
            g = p["input_gain"].reshape(p["input_gain"].shape[0], -1)
            x = x * g[min(t, g.shape[0] - 1)]
        i = state.get(("i", name), zeros)
        v = state.get(("v", name), zeros)
        fired = state.get(("f", name), zeros)
        thr = flat(p["threshold"])
        if entry["reset"] == "zero":
            mult, sub = torch.zeros_like(thr), torch.zeros_like(thr)
        elif entry["reset"] == "subtract":
            mult, sub = torch.ones_like(thr), thr
        else:
            mult, sub = flat(p["reset_mult"]), flat(p["reset_sub"])
        i = flat(p["alpha"]) * i + x
        v = flat(p["beta"]) * v
        if entry.get("reset_delayed"):
            v = torch.where(fired > 0, mult * v - sub, v)
        v = v + i + flat(p["bias"])
        if entry.get("floor") is not None:
            v = torch.clamp(v, min=float(entry["floor"]))
        s = (v > thr).to(torch.float64)
        if not entry.get("reset_delayed"):
            v = torch.where(s > 0, mult * v - sub, v)
        new_state.update({("i", name): i, ("v", name): v, ("f", name): s, ("t", name): t + 1})
        return s
