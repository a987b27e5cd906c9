"""Time and energy of a placed network on Loihi 2, per time step and per inference.

A max-affine ("roofline") model in the spirit of Timcheck, Pierro & Shrestha, *A Compute and
Communication Runtime Model for Loihi 2* (arXiv 2601.10035, 2026): a step lasts as long as
its slowest resource, plus the barrier that ends it and the host I/O it waits for::

    T_core[c] = s * (t_syn*synops[c] + t_neu*neurons[c] + t_in*msgs_in[c] + t_out*msgs_out[c])
    T_link[l] = s * t_hop * msgs[l]                 (X-Y routes on the chip's 8x16 mesh)
    T_chip[k] = bytes crossing chip k's boundary / its share of the inter-chip bandwidth
    T_step    = max(T_core, T_link, T_chip) + t_barrier(chips) + t_host * host values/step
    E_step    = e_syn*synops + e_neu*neurons + e_in*msgs + e_out*msgs + e_hop*hops
                + e_chip*inter-chip msgs + P_static * chips * T_step

Activity comes from per-layer firing rates (spikes per neuron per step): measured ones
(``snncc verify``, lava-dl's recordings) or an assumed default, always named in the result.
``synops[c]`` = the core's synapses from each source times the source's rate; a message is a
spike delivered to one core (a core reading a spiking neuron receives it once).

:class:`Loihi2Costs` holds every coefficient and its source.  Only ``speed`` is fitted to the
PilotNet anchor (``bench/loihi2_pilotnet.py --fit``); the energies are Loihi 1's published
figures and the static power the anchor's own idle measurement (docs/loihi2-mapping.md).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from .mapping_fanin import PARTIAL_KIND
from .mapping_place import Placement, inter_chip, mesh_hops

DEFAULT_RATE = 0.1
SDNN_NOTEBOOK = "lava-dl tutorials/lava/lib/dl/netx/pilotnet_sdnn/benchmark.ipynb"


@dataclass(frozen=True)
class Loihi2Costs:
    """Per-event time (s) and energy (J) coefficients; ``SOURCES`` says where each is from."""

    t_synop: float = 3.5e-9
    e_synop: float = 23.6e-12
    t_neuron: float = 8.4e-9
    e_neuron: float = 52e-12
    t_spike_in: float = 2.1e-9
    e_spike_in: float = 1.7e-12
    t_message_out: float = 7.6e-9
    e_message_out: float = 76.8e-12
    t_hop: float = 5.3e-9
    e_hop: float = 3.6e-12
    t_barrier: float = 299e-9
    chip_bandwidth: float = 5e12 / 1152            # bytes/s per chip
    message_bytes: int = 4
    e_chip_message: float = 100e-12
    static_power_w: float = 0.232078               # per chip
    host_s_per_value: float = 59.1e-3 / 39_600
    speed: float = 0.3153                          # Loihi 2 time / Loihi 1 time (fitted)
    SOURCES: tuple[tuple[str, str], ...] = field(default=(
        ("t_synop, e_synop, t_neuron, e_neuron",
         "Loihi 1: Davies et al., 'Loihi: A Neuromorphic Manycore Processor with On-Chip "
         "Learning', IEEE Micro 38(1), 2018, Table 2: 3.5 ns / 23.6 pJ per synaptic op, "
         "8.4 ns / 52 pJ per active neuron update"),
        ("t_spike_in, e_spike_in, t_hop, e_hop",
         "Loihi 1, Davies et al. 2018: within-tile spike 2.1 ns / 1.7 pJ; per mesh hop "
         "4.1-6.5 ns / 3.0-4.2 pJ (east-west / north-south, mean taken)"),
        ("t_message_out, e_message_out, t_barrier",
         "Loihi 1 as calibrated in SANA-FE (SLAM-Lab/SANA-FE arch/loihi.yaml): axon_out "
         "7.6 ns / 76.8 pJ per message, global barrier 299 ns"),
        ("chip_bandwidth",
         "Intel / Sandia, Hala Point (2024): 5 TB/s inter-chip bandwidth over 1,152 chips"),
        ("message_bytes, e_chip_message",
         "assumption: a 32-bit spike message; inter-chip message energy unpublished "
         "(~25 on-chip hops)"),
        ("static_power_w",
         "measured: 0.232078 W static power of one Loihi 2 chip in lava-dl "
         "tutorials/lava/lib/dl/netx/pilotnet_snn/benchmark.ipynb (the anchor's idle power)"),
        ("host_s_per_value",
         f"measured: {SDNN_NOTEBOOK}: 16.87 frames/s at one step per frame with the "
         "3x66x200 frame streamed from the host (DELTA_SPARSE_8) = 59.3 ms per step, "
         "~59.1 ms of it host I/O for 39,600 values; one point: latency and bandwidth not "
         "separated"),
        ("speed",
         "fitted: the one coefficient fitted to the PilotNet LIF anchor (408.91 frames/s at "
         "16 steps, bench/loihi2_pilotnet.py --fit): Loihi 2's per-event times as a fraction "
         "of Loihi 1's"),
    ), compare=False)


LOIHI2_COSTS = Loihi2Costs()


@dataclass
class Activity:
    """Firing rates (spikes per neuron per step) by layer or input name; ``default`` for the
    rest.  ``source`` says where they come from (shown with every estimate)."""

    rates: dict[str, float] = field(default_factory=dict)
    default: float = DEFAULT_RATE
    source: str = f"assumed: {DEFAULT_RATE:g} spikes per neuron per step"

    def rate(self, name: str, kind: str = "") -> float:
        if kind == PARTIAL_KIND:
            return 1.0                    # partial sums are sent every step
        return float(self.rates.get(name, self.default))


@dataclass
class Estimate:
    """Per step and per inference (``steps`` per inference) time and energy, with the
    per-core figures (index = global core number)."""

    steps: int
    step_time_s: float
    bound: str
    barrier_s: float
    host_io_s: float
    dynamic_energy_j: float
    static_energy_j: float
    synops: float
    neuron_updates: int
    messages: float
    inter_chip_messages: float
    core_time_s: np.ndarray
    core_energy_j: np.ndarray
    core_synops: np.ndarray
    activity: str
    energy_parts: dict = field(default_factory=dict)

    @property
    def energy_per_step_j(self) -> float:
        return self.dynamic_energy_j + self.static_energy_j

    @property
    def time_per_inference_s(self) -> float:
        return self.steps * self.step_time_s

    @property
    def inferences_per_s(self) -> float:
        return 1.0 / self.time_per_inference_s

    @property
    def energy_per_inference_j(self) -> float:
        return self.steps * self.energy_per_step_j

    def to_dict(self) -> dict:
        return {"steps_per_inference": self.steps, "step_time_s": self.step_time_s,
                "bound": self.bound, "barrier_s": self.barrier_s, "host_io_s": self.host_io_s,
                "inferences_per_s": self.inferences_per_s,
                "time_per_inference_s": self.time_per_inference_s,
                "energy_per_step_j": self.energy_per_step_j,
                "dynamic_energy_per_step_j": self.dynamic_energy_j,
                "static_energy_per_step_j": self.static_energy_j,
                "energy_per_inference_j": self.energy_per_inference_j,
                "synops_per_step": self.synops, "neuron_updates_per_step": self.neuron_updates,
                "messages_per_step": self.messages,
                "inter_chip_messages_per_step": self.inter_chip_messages,
                "energy_parts_per_step_j": dict(self.energy_parts), "activity": self.activity}


def _link_loads(placement: Placement, src: np.ndarray, dst: np.ndarray,
                msgs: np.ndarray) -> float:
    """The busiest directed mesh link's messages per step (X first, then Y; on-chip pairs)."""
    if src.size == 0:
        return 0.0
    pos = np.array([c.position for c in placement.core_list], dtype=np.int64)
    chip = np.array([c.chip for c in placement.core_list], dtype=np.int64)
    keep = (src >= 0) & (chip[np.maximum(src, 0)] == chip[dst]) & (msgs > 0)
    s, d, m, k = src[keep], dst[keep], msgs[keep], chip[dst[keep]]
    if s.size == 0:
        return 0.0
    rows, cols = placement.limits.mesh
    (r0, c0), (r1, c1) = pos[s].T, pos[d].T
    worst = 0.0
    # horizontal legs in row r0, vertical legs in column c1, each direction separately
    for lo, hi, fixed, n_fix, n_run in ((c0, c1, r0, rows, cols), (c1, c0, r0, rows, cols),
                                        (r0, r1, c1, cols, rows), (r1, r0, c1, cols, rows)):
        go = hi > lo
        if not np.any(go):
            continue
        diff = np.zeros((placement.chips, n_fix, n_run + 1))
        np.add.at(diff, (k[go], fixed[go], lo[go]), m[go])
        np.add.at(diff, (k[go], fixed[go], hi[go]), -m[go])
        worst = max(worst, float(np.cumsum(diff, axis=2).max()))
    return worst


def estimate(placement: Placement, activity: Optional[Activity] = None, steps: int = 1,
             costs: Loihi2Costs = LOIHI2_COSTS) -> Estimate:
    """Time and energy per step and per inference of ``steps`` steps (see the module
    docstring).  ``activity``: firing rates; None assumes :data:`DEFAULT_RATE` everywhere."""
    activity = activity or Activity()
    n = placement.cores
    kinds = {l.name: l.tiling.spec.kind for l in placement.layers}
    rate = {name: activity.rate(name, kinds.get(name, "")) for name in
            list(kinds) + list(placement.host_inputs)}
    neurons = np.array([c.tile.neurons for c in placement.core_list], dtype=np.float64)
    synops = np.array([sum(v * rate.get(s, activity.default) for s, v in
                           c.tile.connections.items()) for c in placement.core_list])
    msgs_in, msgs_out = np.zeros(n), np.zeros(n)
    srcs, dsts, counts = [], [], []
    hops_total = chip_msgs = host_values = 0.0
    chip_traffic = np.zeros(placement.chips)
    chip_of = np.array([c.chip for c in placement.core_list], dtype=np.int64)
    for e in placement.edges:
        m = e.count * rate.get(e.source, activity.default)
        np.add.at(msgs_in, e.dst, m)
        ok = e.src >= 0
        np.add.at(msgs_out, e.src[ok], m[ok])
        srcs.append(e.src), dsts.append(e.dst), counts.append(m)
        hops_total += float((mesh_hops(placement, e.src, e.dst) * m).sum())
        cross = inter_chip(placement, e)
        chip_msgs += float(m[cross].sum())
        np.add.at(chip_traffic, chip_of[e.src[cross]], m[cross])
        np.add.at(chip_traffic, chip_of[e.dst[cross]], m[cross])
    for name, size in placement.host_inputs.items():
        host_values += size * rate[name]
    out_layers = [l for l in placement.layers if not any(e.source == l.name
                                                         for e in placement.edges)]
    host_values += sum(l.neurons * rate[l.name] for l in out_layers)
    c = costs
    core_time = c.speed * (c.t_synop * synops + c.t_neuron * neurons + c.t_spike_in * msgs_in
                           + c.t_message_out * msgs_out)
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0))  # noqa: E731
    link_time = c.speed * c.t_hop * _link_loads(placement, cat(srcs).astype(np.int64),
                                                cat(dsts).astype(np.int64), cat(counts))
    chip_time = float(chip_traffic.max(initial=0.0)) * c.message_bytes / c.chip_bandwidth
    busy = {"core": float(core_time.max(initial=0.0)), "mesh link": link_time,
            "inter-chip link": chip_time}
    bound = max(busy, key=busy.get)
    barrier = c.t_barrier * (1 + math.ceil(math.log2(placement.chips)))
    host = c.host_s_per_value * host_values
    step = busy[bound] + barrier + host
    parts = {"synops": c.e_synop * float(synops.sum()),
             "neuron updates": c.e_neuron * float(neurons.sum()),
             "spike messages": (c.e_spike_in + c.e_message_out) * float(msgs_in.sum()),
             "mesh hops": c.e_hop * hops_total,
             "inter-chip messages": c.e_chip_message * chip_msgs}
    core_energy = (c.e_synop * synops + c.e_neuron * neurons + c.e_spike_in * msgs_in
                   + c.e_message_out * msgs_out)
    return Estimate(steps, step, "host I/O" if host > busy[bound] else bound, barrier, host,
                    sum(parts.values()), c.static_power_w * placement.chips * step,
                    float(synops.sum()), int(neurons.sum()), float(msgs_in.sum()), chip_msgs,
                    core_time, core_energy, synops, activity.source, parts)


def costs_dict(costs: Loihi2Costs = LOIHI2_COSTS) -> dict:
    """The coefficients and their sources, JSON-ready."""
    d = asdict(costs)
    d.pop("SOURCES", None)
    return {"coefficients": d, "sources": dict(costs.SOURCES)}
