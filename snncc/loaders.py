"""Loading data files with one clear error for every way they can be wrong.

Model files are read by :mod:`snncc.modelfile`; both use :func:`check_file`.
"""
from __future__ import annotations

import os
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Optional

import numpy as np

from .errors import SnnccError, os_error

MAX_DATA_BYTES = 4 * 2 ** 30
GRADED_LIMIT = 2 ** 23   # graded input: Lava's 24-bit messages


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: Path, what: str, limit: int, follow: bool = True) -> BinaryIO:
    """Open an input for reading only if it is a regular file within ``limit`` bytes.

    Opened non-blocking and checked on the open descriptor (``fstat``), so a FIFO, device or
    socket is refused without ever blocking on it, and a file swapped after the check is
    not read.  ``follow=False`` also refuses a symbolic link (files inside a build folder:
    nothing outside it is read).  Raises :class:`SnnccError` naming the file and a fix.
    """
    path = Path(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
    if not follow and os.path.islink(path):
        raise SnnccError(f"{what} file {path} is a symbolic link: snncc reads a build "
                         "folder's own files only", "recompile with `snncc compile`")
    try:
        fd = os.open(path, flags | (0 if follow else getattr(os, "O_NOFOLLOW", 0)))
    except FileNotFoundError:
        raise SnnccError(f"{what} file {path} does not exist", "check the path") from None
    except IsADirectoryError:
        raise SnnccError(f"{what} path {path} is a folder, not a file",
                         "pass a file, not a folder") from None
    except OSError as exc:
        raise os_error(exc, f"read the {what} file {path}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SnnccError(f"{what} path {path} is {_kind(st.st_mode)}, not a regular file",
                             "pass a regular file")
        if st.st_size == 0:
            raise SnnccError(f"{what} file {path} is empty", "re-save it")
        if st.st_size > limit:
            raise SnnccError(f"{what} file {path} is {st.st_size / 2**30:.1f} GiB, over the "
                             f"{limit / 2**30:.0f} GiB limit", "check that it is the right file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_file(path: Path, what: str, limit: int) -> None:
    """Raise :class:`SnnccError` unless ``path`` is a readable regular file within ``limit``."""
    open_regular(path, what, limit).close()


class NpzFile:
    """An ``.npz`` read member by member, every array's header checked before it is decoded.

    Unlike ``numpy.load``, a name means one member: ``x`` is the member ``x.npy`` or ``x``
    (a file holding both is refused, as numpy would silently read the raw ``x``), and a
    member that is not a ``.npy`` array is refused instead of returned as bytes.
    """

    def __init__(self, path: Path, what: str = "data", limit: int = MAX_DATA_BYTES,
                 follow: bool = True) -> None:
        self.path, self.what = Path(path), what
        self._fh = open_regular(self.path, what, limit, follow)
        try:
            self._zf = zipfile.ZipFile(self._fh)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            self._fh.close()
            raise SnnccError(f"{what} file {path} is not an .npz archive ({str(exc)[:80]})",
                             "write it with numpy.savez(path, x=spikes, y=labels)") from None
        self.members: dict[str, list[zipfile.ZipInfo]] = {}
        for info in self._zf.infolist():
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            self.members.setdefault(key, []).append(info)

    def close(self) -> None:
        self._zf.close()
        self._fh.close()

    def __enter__(self) -> "NpzFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def names(self) -> list[str]:
        return sorted(self.members)

    def _info(self, name: str) -> zipfile.ZipInfo:
        infos = self.members[name]
        if len(infos) > 1:
            raise SnnccError(f"{self.what} file {self.path} holds {len(infos)} members named "
                             f"{name!r} ({', '.join(i.filename for i in infos)})",
                             f"save it again with numpy.savez, one array per name")
        return infos[0]

    def header(self, name: str) -> tuple[tuple[int, ...], np.dtype, int]:
        """(shape, dtype, header length) of member ``name``, read from its header only."""
        info = self._info(name)
        with self._zf.open(info) as member:
            try:
                version = np.lib.format.read_magic(member)
            except ValueError:
                raise SnnccError(f"member {info.filename!r} of {self.path} is not a numpy array "
                                 "(.npy)", "save arrays with numpy.savez") from None
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise SnnccError(f"member {info.filename!r} of {self.path} uses .npy format "
                                 f"{version}", "save it with numpy.savez")
            offset = member.tell()
        return tuple(int(d) for d in shape), np.dtype(dtype), offset

    def check(self, name: str, limits: "DataLimits") -> tuple[tuple[int, ...], np.dtype]:
        """The member's header, refused when its dtype or decoded size is out of bounds."""
        shape, dtype, offset = self.header(name)
        _check_header(self.path, name, shape, dtype, limits)
        info = self._info(name)
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if info.file_size < offset + nbytes:
            raise SnnccError(f"member {info.filename!r} of {self.path} is truncated (declares "
                             f"{nbytes} bytes of data, holds {max(info.file_size - offset, 0)})",
                             "save the file again with numpy.savez")
        return shape, dtype

    def read(self, name: str, limits: "DataLimits") -> np.ndarray:
        """Decode member ``name`` (after :meth:`check`); never unpickles."""
        self.check(name, limits)
        with self._zf.open(self._info(name)) as member:
            return np.lib.format.read_array(member, allow_pickle=False)


@dataclass(frozen=True)
class DataLimits:
    """Caps on what a data file may ask snncc to allocate or simulate.

    Checked from the ``.npy`` headers before any array is read, so a small compressed file
    cannot make snncc allocate gigabytes.  Defaults come from the environment variables
    ``SNNCC_MAX_DATA_BYTES``, ``SNNCC_MAX_STEPS`` and ``SNNCC_MAX_SAMPLES`` when set.
    """

    max_bytes: int = 4 * 2 ** 30          # decoded size of one array
    max_steps: int = 1_000_000            # time steps per sample
    max_samples: int = 100_000_000

    @classmethod
    def from_env(cls) -> "DataLimits":
        env = {"max_bytes": "SNNCC_MAX_DATA_BYTES", "max_steps": "SNNCC_MAX_STEPS",
               "max_samples": "SNNCC_MAX_SAMPLES"}
        values = {}
        for field_name, var in env.items():
            raw = os.environ.get(var)
            if raw is None:
                continue
            try:
                values[field_name] = int(raw)
            except ValueError:
                raise SnnccError(f"environment variable {var}={raw!r} is not an integer",
                                 f"set {var} to a whole number or unset it") from None
        return cls(**values)


def _npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every member of an .npz, whatever its name, from the headers only."""
    with NpzFile(path) as f:
        return {name: f.header(name)[:2] for name in f.names}


def _check_header(path: Path, name: str, shape: tuple[int, ...], dtype: np.dtype,
                  limits: DataLimits) -> None:
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise SnnccError(f"data '{name}' in {path} has dtype {dtype} (objects or records)",
                         "store plain numeric arrays: spikes as 0/1 integers, labels as integers")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes > limits.max_bytes:
        raise SnnccError(f"data '{name}' in {path} is {nbytes / 2**20:.0f} MiB decoded, over the "
                         f"{limits.max_bytes / 2**20:.0f} MiB limit",
                         "split the data into smaller files, or raise SNNCC_MAX_DATA_BYTES")


def peek_data(path: str | Path, limits: Optional[DataLimits] = None) -> tuple[int, ...]:
    """Check a data file from its headers only (no array is decoded); returns x's shape.

    Verbs call it before any work, so a bad data file is refused before a long compile.
    """
    path = Path(path)
    limits = limits or DataLimits.from_env()
    try:
        with NpzFile(path) as f:
            return _check_members(f, path, limits)[0]
    except SnnccError:
        raise
    except _READ_ERRORS as exc:
        raise _unreadable(path, exc) from None


_READ_ERRORS = (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError, NotImplementedError,
                RuntimeError, TypeError, OverflowError, SyntaxError, zlib.error)


def _unreadable(path: Path, exc: BaseException) -> SnnccError:
    return SnnccError(f"data file {path} is not a readable .npz file "
                      f"({type(exc).__name__}: {str(exc)[:100]})", "write it with numpy.savez")


def _check_members(f: NpzFile, path: Path, limits: DataLimits):
    if "x" not in f.members:
        raise SnnccError(f"data file {path} has no array 'x' (found {f.names[:10]})",
                         "save spikes as np.savez(path, x=spikes, y=labels), "
                         "x shaped (samples, time, *input_shape)")
    headers = {name: f.check(name, limits) for name in ("x", "y") if name in f.members}
    shape = headers["x"][0]
    if len(shape) < 3:
        raise SnnccError(f"data 'x' has shape {tuple(shape)}; expected (samples, time, "
                         "*input_shape)", "add the time axis (samples, time, features)")
    if 0 in shape:
        raise SnnccError(f"data 'x' has shape {tuple(shape)}: no samples, steps or features",
                         "pass at least one sample with at least one time step")
    if len(shape) >= 2 and shape[1] > limits.max_steps:
        raise SnnccError(f"data 'x' has {shape[1]} time steps, over the limit of "
                         f"{limits.max_steps}", "check the layout (samples, time, ...) "
                         "or raise SNNCC_MAX_STEPS")
    if len(shape) >= 1 and shape[0] > limits.max_samples:
        raise SnnccError(f"data 'x' has {shape[0]} samples, over the limit of "
                         f"{limits.max_samples}", "split the data or raise SNNCC_MAX_SAMPLES")
    return shape, headers


def _check_input_shape(shape: tuple[int, ...], input_shape) -> None:
    """x's per-step shape must be the model's input shape, or that shape flattened (then it
    is reshaped, row-major, as torch.flatten orders it); a different multi-axis layout of the
    same size would be read in an order the model never saw."""
    if input_shape is None:
        return
    given, want = tuple(shape[2:]), tuple(int(n) for n in input_shape)
    if given == want or (len(given) == 1 and given[0] == int(np.prod(want))):
        return
    raise SnnccError(f"data 'x' has input shape {given}, the model expects {want}",
                     f"encode the data for this model's input: x shaped (samples, time, "
                     f"{', '.join(map(str, want))})")


def load_data(path: str | Path, input_shape: Optional[tuple[int, ...]] = None,
              limits: Optional[DataLimits] = None,
              memory: Optional[Callable[[tuple[int, ...], np.dtype], object]] = None,
              graded: bool = False):
    """Read ``x`` (samples, time, *input_shape) binary spikes and optional ``y`` labels.

    Returns ``(stimulus (T, B, ...) uint8, labels or None)``: time-major, as the simulators use.
    Every member's header is checked against ``limits`` (default
    :meth:`DataLimits.from_env`) before anything is decoded; ``memory(x_shape, x_dtype)``,
    when given, is called next (e.g. :func:`snncc.memory.require` on the run's estimate) and
    may refuse.
    Peak memory: the decoded ``x`` plus its uint8 time-major copy (converted in blocks).
    ``graded``: the network takes integer input (a netx input neuron, a sigma-delta input):
    ``x`` may hold any integers of magnitude below ``2**23`` (Lava's 24-bit messages),
    returned as int32.
    """
    path = Path(path)
    limits = limits or DataLimits.from_env()
    try:
        with NpzFile(path) as f:
            shape, headers = _check_members(f, path, limits)
            _check_input_shape(tuple(shape), input_shape)
            if memory is not None:
                memory(tuple(shape), headers["x"][1])
            x = f.read("x", limits)
            y = f.read("y", limits) if "y" in headers else None
    except SnnccError:
        raise
    except _READ_ERRORS as exc:
        raise _unreadable(path, exc) from None
    if x.ndim < 3:
        raise SnnccError(f"data 'x' has shape {x.shape}; expected (samples, time, *input_shape)",
                         "add the time axis (samples, time, features)")
    if x.size == 0:
        raise SnnccError(f"data 'x' has shape {x.shape}: no samples, steps or features",
                         "pass at least one sample with at least one time step")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)
            or x.dtype == bool):
        raise SnnccError(f"data 'x' has dtype {x.dtype}", "store spikes as 0/1 integers")
    if input_shape is not None and tuple(x.shape[2:]) != tuple(input_shape):
        x = x.reshape(x.shape[:2] + tuple(input_shape))     # flat features (checked above)
    if y is not None:
        if y.ndim != 1 or len(y) != len(x):
            raise SnnccError(f"labels 'y' have shape {y.shape}, expected ({len(x)},)",
                             "store one integer label per sample")
        if not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
            raise SnnccError(f"labels 'y' have dtype {y.dtype}, not integers",
                             "store class indices as integers, e.g. y.astype(np.int64)")
        if y.size and int(y.min()) < 0:
            raise SnnccError(f"labels 'y' include {int(y.min())}: class indices are >= 0",
                             "store class indices 0 .. classes-1")
    return _time_major_spikes(x, graded=graded), y


def _time_major_spikes(x: np.ndarray, block_bytes: int = 2 ** 26, graded: bool = False) -> np.ndarray:
    """x (B, T, ...) 0/1 of any numeric dtype -> contiguous uint8 (T, B, ...), in blocks of
    samples so that no temporary is larger than ``block_bytes``; refuses non-binary values.
    ``graded``: integers below ``GRADED_LIMIT`` in magnitude instead, as int32."""
    out = np.empty((x.shape[1], x.shape[0]) + x.shape[2:], np.int32 if graded else np.uint8)
    per_sample = max(int(np.prod(x.shape[1:])) * max(x.dtype.itemsize, 1), 1)
    step = max(1, block_bytes // per_sample)
    for b in range(0, x.shape[0], step):
        block = x[b:b + step]
        if graded:
            if not np.all(np.isfinite(block)) or np.any(block != np.round(block)) or \
                    (block.size and float(np.abs(block).max()) >= GRADED_LIMIT):
                raise SnnccError(f"data 'x' must hold integers of magnitude below {GRADED_LIMIT} "
                                 "(the network's input takes graded 24-bit values)",
                                 "store the input as integers, e.g. x.astype(np.int32)")
        elif block.dtype != bool and not np.all((block == 0) | (block == 1)):
            raise SnnccError("data 'x' is not binary: snncc feeds spikes (0/1) to the network",
                             "rate- or latency-encode analog inputs into 0/1 spikes first")
        out[:, b:b + step] = np.swapaxes(block, 0, 1)
    return out


def __getattr__(name: str):
    """``NirFile`` moved to :mod:`snncc.modelfile`; kept importable from here (lazily: that
    module imports this one) for scripts written against the earlier layout."""
    if name == "NirFile":
        from .modelfile import NirFile
        return NirFile
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
