"""Loading data files with one clear error for every way they can be wrong.

Model files are read by :mod:`snncc.modelfile`; both use :func:`check_file`.
"""
from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import SnnccError

MAX_DATA_BYTES = 4 * 2 ** 30


def check_file(path: Path, what: str, limit: int) -> None:
    if not path.exists():
        raise SnnccError(f"{what} file {path} does not exist", "check the path")
    if not path.is_file():
        raise SnnccError(f"{what} path {path} is not a file", "pass a file, not a directory")
    size = path.stat().st_size
    if size == 0:
        raise SnnccError(f"{what} file {path} is empty", "re-save it")
    if size > limit:
        raise SnnccError(f"{what} file {path} is {size / 2**30:.1f} GiB, over the "
                         f"{limit / 2**30:.0f} GiB limit", "check that it is the right file")


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
    """Shape and dtype of every array in an .npz, read from the headers only."""
    if not zipfile.is_zipfile(path):
        raise SnnccError(f"data file {path} is not an .npz archive",
                         "write it with numpy.savez(path, x=spikes, y=labels)")
    headers = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                else:
                    raise ValueError(f"unsupported .npy format version {version}")
            headers[info.filename[:-4]] = (tuple(int(d) for d in shape), np.dtype(dtype))
    return headers


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


def load_data(path: str | Path, input_shape: Optional[tuple[int, ...]] = None,
              limits: Optional[DataLimits] = None):
    """Read ``x`` (samples, time, *input_shape) binary spikes and optional ``y`` labels.

    Returns ``(stimulus (T, B, ...) uint8, labels or None)``: time-major, as the simulators use.
    Sizes are checked against ``limits`` (default: :meth:`DataLimits.from_env`) before reading.
    """
    path = Path(path)
    limits = limits or DataLimits.from_env()
    check_file(path, "data", MAX_DATA_BYTES)
    try:
        headers = _npz_headers(path)
        if "x" not in headers:
            raise SnnccError(f"data file {path} has no array 'x' (found {sorted(headers)})",
                             "save spikes as np.savez(path, x=spikes, y=labels), "
                             "x shaped (samples, time, *input_shape)")
        for name in ("x", "y"):
            if name in headers:
                _check_header(path, name, *headers[name], limits)
        shape = headers["x"][0]
        if len(shape) >= 2 and shape[1] > limits.max_steps:
            raise SnnccError(f"data 'x' has {shape[1]} time steps, over the limit of "
                             f"{limits.max_steps}", "check the layout (samples, time, ...) "
                             "or raise SNNCC_MAX_STEPS")
        if len(shape) >= 1 and shape[0] > limits.max_samples:
            raise SnnccError(f"data 'x' has {shape[0]} samples, over the limit of "
                             f"{limits.max_samples}", "split the data or raise SNNCC_MAX_SAMPLES")
        with np.load(path, allow_pickle=False) as f:
            x = f["x"]
            y = f["y"] if "y" in headers else None
    except SnnccError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError, NotImplementedError,
            RuntimeError, TypeError, OverflowError, MemoryError, SyntaxError, zlib.error) as exc:
        raise SnnccError(f"data file {path} is not a readable .npz file "
                         f"({type(exc).__name__}: {str(exc)[:100]})",
                         "write it with numpy.savez") from None
    if x.ndim < 3:
        raise SnnccError(f"data 'x' has shape {x.shape}; expected (samples, time, *input_shape)",
                         "add the time axis (samples, time, features)")
    if x.size == 0:
        raise SnnccError(f"data 'x' has shape {x.shape}: no samples, steps or features",
                         "pass at least one sample with at least one time step")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)
            or x.dtype == bool):
        raise SnnccError(f"data 'x' has dtype {x.dtype}", "store spikes as 0/1 integers")
    if not np.all((x == 0) | (x == 1)):
        raise SnnccError("data 'x' is not binary: snncc feeds spikes (0/1) to the network",
                         "rate- or latency-encode analog inputs into 0/1 spikes first")
    if input_shape is not None and int(np.prod(x.shape[2:])) != int(np.prod(input_shape)):
        raise SnnccError(f"data 'x' has input shape {x.shape[2:]}, the model expects "
                         f"{tuple(input_shape)}", "encode the data for this model's input size")
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
    return np.ascontiguousarray(np.swapaxes(x.astype(np.uint8), 0, 1)), y


def __getattr__(name: str):
    """``NirFile`` moved to :mod:`snncc.modelfile`; kept importable from here (lazily: that
    module imports this one) for scripts written against the earlier layout."""
    if name == "NirFile":
        from .modelfile import NirFile
        return NirFile
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
