"""``snncc run``: run a build folder (or a lava-dl netx file) on spikes."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .common import (_backend_for, _check_backend, _check_lava_neuron, _load, _memory_check,
                     PathLike, _paths)


@dataclass
class RunResult:
    """``spikes``: layer name -> bool (T, B, n) (empty when the run was too long to hold:
    it streamed, see ``out``); ``output``: the output layer's name; ``membrane``: non-spiking
    readout layer -> its membrane in the float model's units, float64 (T, B, n)
    (``v / scale``); ``out``: the .npz written, if any (``spikes/<layer>`` and
    ``membrane/<layer>`` arrays shaped (B, T, n)).  Steps are the chip's: a layer at
    synaptic depth k answers input step t at step t + k."""

    spikes: dict[str, np.ndarray]
    output: str
    out: Optional[Path] = None
    output_counts: Optional[np.ndarray] = None
    membrane: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def readout(self) -> bool:
        """Whether the output layer is a non-spiking readout (read its membrane)."""
        return self.output in self.membrane

    @property
    def counts(self) -> np.ndarray:
        """Output spike counts per sample and neuron, (B, n)."""
        if self.output_counts is not None:
            return self.output_counts
        return self.spikes[self.output].sum(axis=0)

    @property
    def scores(self) -> np.ndarray:
        """Class scores per sample and output neuron, (B, n): spike counts, or for a
        readout its mean membrane over time (the prediction is their argmax)."""
        return self.membrane[self.output].mean(axis=0) if self.readout else self.counts


def run(build: PathLike, data: PathLike, *, backend: str = "sim",
        out: Optional[PathLike] = None, force: bool = False,
        netx_args: Optional[Sequence[str]] = None) -> RunResult:
    """Run a build folder written by :func:`compile` (or a lava-dl netx file: read as is,
    ``backend="lava"`` runs lava-dl's own netx loading of it) on the spikes in ``data``.

    ``backend="sim"`` is the build target's own simulator (Loihi: ``sim``, Xylo: ``xylo``).
    The build is checked before it runs: its manifest (files changed since compile are
    refused), then every field of ``network.json``/``params.npz``.  ``backend="lava"``
    builds the Lava network from that checked graph (its ``lava_network.py`` is regenerated
    in a private folder; the build's own copy is never imported).  The Loihi simulators
    (``sim``, ``fast``, ``torch``) stream over time: memory is bounded by a window of steps,
    not by T (``snncc.backends.sim.stream``); the spikes of every layer are kept in
    :attr:`RunResult.spikes` only while they fit 256 MiB, and ``out`` (``.npz``,
    ``spikes/<layer>`` arrays shaped (B, T, n)) is written as the windows come, following
    the output policy of :mod:`snncc.atomic`.
    """
    from ..atomic import check_file_target, output_file
    from ..backends import get_runner
    from ..ir import serialize
    from ..loaders import load_data
    from ..manifest import check_build
    _check_backend(backend)
    inputs = _paths(build, data)
    if out is not None:
        check_file_target(out, "npz", inputs, force)
    from ..backends.lava.netx_model import netx_build
    netx_model = netx_build(build, lambda path: _load(path, False, netx_args=netx_args), netx_args)
    manifest = check_build(Path(build), (serialize.GRAPH_FILE, serialize.PARAMS_FILE)) \
        if Path(build).is_dir() else None
    graph = netx_model.graph() if netx_model is not None else serialize.load(build)
    backend = _backend_for(graph.meta.get("target", "loihi"), backend)
    from ..backends.sim.stream import STREAMING, StreamedRun
    from ..report.runs import readout_scales
    scales = readout_scales(graph)       # readouts: their membranes are kept, not streamed
    streaming = backend in STREAMING and not scales
    x, _ = load_data(data, graph.node(graph.input_names[0]).shape,
                     graded=bool(graph.meta.get("graded_input")),
                     memory=_memory_check(graph, "run", data, streaming=streaming))
    if netx_model is not None and backend == "lava":    # lava-dl's own loading of the file
        from ..backends.lava import run_netx_file
        raw = run_netx_file(netx_model.path, x, options=asdict(netx_model.options))
        return _write_run(RunResult({k.split("/")[0]: v for k, v in raw.items()},
                                    graph.inputs_of(graph.output_names[0])[0]), out, inputs, force)
    kwargs = {}
    if backend == "lava":      # from the checked graph, never the build's own module
        kwargs["neuron"] = (manifest.meta.get("lava_neuron", "auto") if manifest else "auto")
        _check_lava_neuron(kwargs["neuron"])
    if streaming:
        output = graph.inputs_of(graph.output_names[0])[0]
        scratch = None       # where the windows are staged: beside a regular file output
        if out is not None:
            target = Path(out).absolute()
            scratch = target.parent if not target.exists() or target.is_file() else None
            if scratch is None or not scratch.is_dir():      # a FIFO, a device: the temp dir
                import tempfile
                scratch = Path(tempfile.gettempdir())
        with StreamedRun(graph, x, backend, output, scratch) as streamed:
            result = RunResult(streamed.spikes or {}, output, output_counts=streamed.counts)
            if out is not None:
                with output_file(out, "npz", inputs, force) as tmp:
                    if streamed.file is None:      # nowhere to stage the windows: in memory
                        with open(tmp, "wb") as f:
                            np.savez(f, **{f"spikes/{k}": np.swapaxes(v, 0, 1)
                                           for k, v in streamed.spikes.items()})
                    else:
                        streamed.save(tmp)
                result.out = Path(out)
        return result
    res = get_runner(backend)(graph, x, record_states=bool(scales), **kwargs)
    membrane = {n: np.asarray(res.v[n], np.float64) / scales[n] for n in scales}
    return _write_run(RunResult(res.spikes, graph.inputs_of(graph.output_names[0])[0],
                                membrane=membrane), out, inputs, force)


def _write_run(result: "RunResult", out, inputs, force) -> "RunResult":
    """Write ``result``'s spikes (and readout membranes) to ``out`` (``.npz``, output
    policy) when given."""
    from ..atomic import output_file
    if out is not None:
        with output_file(out, "npz", inputs, force) as tmp, open(tmp, "wb") as f:
            np.savez(f, **{f"spikes/{k}": np.swapaxes(v, 0, 1) for k, v in result.spikes.items()},
                     **{f"membrane/{k}": np.swapaxes(v, 0, 1)
                        for k, v in result.membrane.items()})
        result.out = Path(out)
    return result
