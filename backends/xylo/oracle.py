"""The oracle: SynSense's own Xylo simulator, ``xylosim.v2.XyloLayer`` (xylosim 0.1.3).

The layer is built from snncc's flat configuration exactly as Rockpool 3.1.0's
``XyloSim.from_specification`` (``rockpool/devices/xylo/syns63300/xylo_sim.py``) builds it:
one ``XyloSynapse(post, 0, w)`` per non-zero weight, in (pre, post) order; one synaptic
current per neuron; no aliases.  Samples run one at a time (``reset_all`` in between).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from snncc.errors import SnnccError
from snncc.ir import Graph
from snncc.targets.xylo.mapping import XyloConfig, to_config

from .core import input_counts, split_layers


def _synapses(xs, weights: np.ndarray) -> list:
    return [[xs.XyloSynapse(int(post), 0, int(row[post])) for post in np.nonzero(row)[0]]
            for row in weights]


def build_layer(cfg: XyloConfig):
    """A ``xylosim.v2.XyloLayer`` holding ``cfg``, and the synapse objects it points to (keep
    them alive while the layer is used).  Raises :class:`SnnccError` if xylosim is
    not installed."""
    try:
        import xylosim.v2 as xs
    except ImportError:
        raise SnnccError("the xylosim backend needs SynSense's simulator (xylosim), which is "
                         "not installed", "pip install xylosim==0.1.3 (make venv installs it)") from None
    ints = lambda a: [int(v) for v in np.asarray(a).reshape(-1)]
    # the layer stores raw pointers to the synapse objects: they must outlive it
    keep = [_synapses(xs, w) for w in (cfg.weights_in, cfg.weights_rec, cfg.weights_out)]
    layer = xs.XyloLayer(
        synapses_in=keep[0], synapses_rec=keep[1],
        synapses_out=keep[2], aliases=[[] for _ in range(cfg.n_hidden)],
        threshold=ints(cfg.threshold), threshold_out=ints(cfg.threshold_out),
        has_bias=bool(np.any(cfg.bias) or np.any(cfg.bias_out)),
        bias=ints(cfg.bias), bias_out=ints(cfg.bias_out),
        weight_shift_inp=cfg.weight_shift_in, weight_shift_rec=cfg.weight_shift_rec,
        weight_shift_out=cfg.weight_shift_out, dash_mem=ints(cfg.dash_mem),
        dash_mem_out=ints(cfg.dash_mem_out), dash_syns=[[d] for d in ints(cfg.dash_syn)],
        dash_syns_out=[[d] for d in ints(cfg.dash_syn_out)], name="snncc")
    return layer, keep


def run_config(cfg: XyloConfig, counts: np.ndarray, record_states: bool = False) -> dict:
    """xylosim's recordings for input counts (T, B, n_in), laid out as
    :func:`backends.xylo.core.run_config` returns them."""
    layer, _keep = build_layer(cfg)
    steps, batch, _ = counts.shape
    keys = ["spikes", "spikes_out"] + (["i_syn", "v_mem", "i_syn_out", "v_mem_out"]
                                       if record_states else [])
    per = {k: [] for k in keys}
    for b in range(batch):
        layer.reset_all()
        layer.evolve(counts[:, b, :].astype(np.uint8).tolist())
        per["spikes"].append(np.asarray(layer.rec_recurrent_spikes, np.uint8).reshape(steps, -1))
        per["spikes_out"].append(np.asarray(layer.rec_out_spikes, np.uint8).reshape(steps, -1))
        if record_states:
            for key, attr in (("i_syn", "rec_i_syn"), ("v_mem", "rec_v_mem"),
                              ("i_syn_out", "rec_i_syn_out"), ("v_mem_out", "rec_v_mem_out")):
                per[key].append(np.asarray(getattr(layer, attr), np.int16).reshape(-1, steps).T)
    return {k: np.stack(v, axis=1) for k, v in per.items()}


def simulate_xylosim(graph: Graph, stimulus: np.ndarray, record_states: bool = False,
                     input_name: Optional[str] = None, **_):
    """Run a fixed Xylo graph on xylosim; same result layout as the ``xylo`` runner."""
    cfg = to_config(graph)
    counts = input_counts(graph, stimulus)
    return split_layers(graph, cfg, counts, run_config(cfg, counts, record_states), record_states)
