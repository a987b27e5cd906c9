"""Long runs in bounded memory: any simulator's run window by window, and a spike file
written as the windows come.

:func:`stream` gives the windows (:class:`snncc.backends.sim.vectorized.Window`) of the
stepper (``sim``) or the vectorized runners (``fast``, ``torch``); nothing in them grows
with the number of steps.  :class:`SpikeFile` writes ``spikes/<layer>`` arrays (B, T, n)
bool into an ``.npz`` (the layout ``snncc run -o`` writes, as ``numpy.savez`` does: a zip
of ``.npy`` members, stored) while the windows arrive: each window's rows go to their place
in one ``.npy`` file per layer next to the output, and the files are zipped at the end.
"""
from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from .vectorized import Window

STREAMING = ("sim", "fast", "torch")


def stream(backend: str, graph, stimulus, record_states: bool = False,
           **options) -> Iterator[Window]:
    """The windows of a run of ``graph`` on ``stimulus`` (T, B, ...) on ``backend``."""
    if backend == "sim":
        from .stepper import simulate_steps
        return simulate_steps(graph, stimulus, record_states, **options)
    if backend not in STREAMING:
        raise ValueError(f"backend {backend!r} does not stream (one of {STREAMING})")
    from .vectorized import simulate_windows
    return simulate_windows(graph, stimulus, record_states,
                            backend="numpy" if backend == "fast" else "torch", **options)


class SpikeFile:
    """An ``.npz`` of ``spikes/<layer>`` (B, T, n) bool arrays, filled window by window.

    ``widths``: layer name -> n.  Use as a context manager around the run; :meth:`add`
    each window, then :meth:`save` to ``path`` (a zip of stored ``.npy`` members: what
    ``numpy.savez`` writes, and ``numpy.load`` reads).  The scratch files live in a
    temporary folder beside ``path`` and are removed on exit, whatever happens.
    """

    def __init__(self, path: Path, steps: int, batch: int, widths: dict[str, int]) -> None:
        self.path, self.steps, self.batch, self.widths = Path(path), steps, batch, widths

    def __enter__(self) -> "SpikeFile":
        self._dir = tempfile.TemporaryDirectory(prefix=".snncc-spikes-", dir=self.path.parent)
        self.files: dict[str, tuple[Path, int]] = {}
        for i, (name, n) in enumerate(self.widths.items()):
            path = Path(self._dir.name) / f"{i}.npy"
            with open(path, "wb") as f:
                np.lib.format.write_array_header_2_0(
                    f, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.bool_)),
                        "fortran_order": False, "shape": (self.batch, self.steps, n)})
                header = f.tell()
                f.truncate(header + self.batch * self.steps * n)
            self.files[name] = (path, header)
        return self

    def __exit__(self, *exc) -> None:
        self._dir.cleanup()

    def add(self, win: Window) -> None:
        """Write a window's spikes (T_w, B_w, n) at samples ``b0..`` and steps ``t0..``."""
        for name, (path, header) in self.files.items():
            spikes = np.ascontiguousarray(np.swapaxes(win.spikes[name], 0, 1), dtype=np.bool_)
            n = self.widths[name]
            with open(path, "r+b") as f:
                for i, rows in enumerate(spikes):
                    f.seek(header + ((win.b0 + i) * self.steps + win.t0) * n)
                    f.write(rows.tobytes())

    def save(self, target: Optional[Path] = None) -> Path:
        """Zip the layers into ``target`` (default: the path given) and return it."""
        target = Path(target or self.path)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, (path, _) in self.files.items():
                with open(path, "rb") as src, zf.open(f"spikes/{name}.npy", "w",
                                                      force_zip64=True) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        return target


class StreamedRun:
    """A whole run on ``backend`` in bounded memory: the output layer's spike counts
    (B, n) always; every layer's spikes (T, B, n) in memory only up to ``keep_bytes``;
    with ``scratch`` (a folder), a :class:`SpikeFile` for :meth:`save`.

    Use as a context manager; the run happens on entry.
    """

    def __init__(self, graph, stimulus, backend: str, output: str,
                 scratch: Optional[Path] = None, keep_bytes: int = 256 * 2 ** 20) -> None:
        self.graph, self.stimulus, self.backend, self.output = graph, stimulus, backend, output
        self.scratch, self.keep_bytes = scratch, keep_bytes

    def __enter__(self) -> "StreamedRun":
        steps, batch = int(self.stimulus.shape[0]), int(self.stimulus.shape[1])
        windows = stream(self.backend, self.graph, self.stimulus)
        first = next(windows, None)
        widths = {} if first is None else {k: int(v.shape[2]) for k, v in first.spikes.items()}
        keep = steps * batch * sum(widths.values()) <= self.keep_bytes
        self.spikes: Optional[dict[str, np.ndarray]] = \
            {k: np.empty((steps, batch, n), np.bool_) for k, n in widths.items()} if keep else None
        self.counts = np.zeros((batch, widths.get(self.output, 0)), np.int64)
        self.file = None
        if self.scratch is not None:
            self.file = SpikeFile(self.scratch / "spikes.npz", steps, batch, widths).__enter__()
        try:
            for win in ([first] if first is not None else []):
                self._add(win)
            for win in windows:
                self._add(win)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _add(self, win: Window) -> None:
        out = win.spikes.get(self.output)
        if out is not None:
            self.counts[win.b0:win.b0 + out.shape[1]] += out.sum(axis=0)
        if self.spikes is not None:
            for name, s in win.spikes.items():
                self.spikes[name][win.t0:win.t0 + s.shape[0], win.b0:win.b0 + s.shape[1]] = s
        if self.file is not None:
            self.file.add(win)

    def save(self, target: Path) -> Path:
        """Write the ``spikes/<layer>`` (B, T, n) npz to ``target`` (needs ``scratch``)."""
        return self.file.save(target)

    def __exit__(self, *exc) -> None:
        if self.file is not None:
            self.file.__exit__()
            self.file = None
