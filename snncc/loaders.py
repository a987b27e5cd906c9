"""Loading user files (models, data) with one clear error for every way they can be wrong.

Models are read with ``torch.load(weights_only=True)``: only tensors, containers and the
module classes snncc knows (torch.nn layers, snncc.nn neurons, registered converters) may be
unpickled.  ``trust=True`` (CLI ``--trust``) allows arbitrary pickles for files you trust.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import SnnccError

MAX_MODEL_BYTES = 2 * 2 ** 30
MAX_DATA_BYTES = 4 * 2 ** 30


def _check_file(path: Path, what: str, limit: int) -> None:
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


def _safe_globals() -> list:
    import torch
    from torch import nn

    from . import nn as snn
    from .frontend import CONVERTERS
    classes = {c for c in vars(nn).values() if isinstance(c, type) and issubclass(c, nn.Module)}
    classes |= {c for c in vars(snn).values() if isinstance(c, type) and issubclass(c, nn.Module)}
    classes |= set(CONVERTERS)
    import collections
    return sorted(classes, key=str) + [collections.OrderedDict, set, torch.Size,
                                       torch.nn.parameter.Parameter]


def load_model(path: str | Path, trust: bool = False):
    """Load a full ``nn.Module`` saved with ``torch.save(model)``."""
    import torch
    path = Path(path)
    _check_file(path, "model", MAX_MODEL_BYTES)
    try:
        if trust:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        else:
            with torch.serialization.safe_globals(_safe_globals()):
                obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        if "Unsupported global" in msg or "weights_only" in msg:
            name = msg.split("GLOBAL ")[1].split(" ")[0] if "GLOBAL " in msg else "a class"
            raise SnnccError(f"model file {path} needs {name}, which snncc does not unpickle "
                             "by default (unpickling runs code)",
                             "if you trust the file, pass --trust (API: trust=True)") from None
        raise SnnccError(f"model file {path} is corrupt or not a torch file ({exc})",
                         "re-save it with torch.save(model)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError,
            AttributeError, ModuleNotFoundError, TypeError, KeyError) as exc:
        raise SnnccError(f"model file {path} is corrupt or not a torch file "
                         f"({type(exc).__name__}: {str(exc)[:120]})",
                         "re-save it with torch.save(model)") from None
    if isinstance(obj, dict):
        raise SnnccError(f"model file {path} holds a state_dict (a dict of tensors), not a model",
                         "save the module itself: torch.save(model, path), not model.state_dict()")
    if not isinstance(obj, torch.nn.Module):
        raise SnnccError(f"model file {path} holds a {type(obj).__name__}, not a torch.nn.Module",
                         "save the module itself with torch.save(model, path)")
    return obj


def load_data(path: str | Path, input_shape: Optional[tuple[int, ...]] = None):
    """Read ``x`` (samples, time, *input_shape) binary spikes and optional ``y`` labels.

    Returns ``(stimulus (T, B, ...) uint8, labels or None)``: time-major, as the simulators use.
    """
    path = Path(path)
    _check_file(path, "data", MAX_DATA_BYTES)
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f.files:
                raise SnnccError(f"data file {path} has no array 'x' (found {f.files})",
                                 "save spikes as np.savez(path, x=spikes, y=labels), "
                                 "x shaped (samples, time, *input_shape)")
            x = f["x"]
            y = f["y"] if "y" in f.files else None
    except SnnccError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise SnnccError(f"data file {path} is not a readable .npz file ({str(exc)[:100]})",
                         "write it with numpy.savez") from None
    if x.ndim < 3:
        raise SnnccError(f"data 'x' has shape {x.shape}; expected (samples, time, *input_shape)",
                         "add the time axis (samples, time, features)")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise SnnccError(f"data 'x' has dtype {x.dtype}", "store spikes as 0/1 integers")
    if x.size and not np.all((x == 0) | (x == 1)):
        raise SnnccError("data 'x' is not binary: snncc feeds spikes (0/1) to the network",
                         "rate- or latency-encode analog inputs into 0/1 spikes first")
    if input_shape is not None and int(np.prod(x.shape[2:])) != int(np.prod(input_shape)):
        raise SnnccError(f"data 'x' has input shape {x.shape[2:]}, the model expects "
                         f"{tuple(input_shape)}", "encode the data for this model's input size")
    if y is not None and (y.ndim != 1 or len(y) != len(x)):
        raise SnnccError(f"labels 'y' have shape {y.shape}, expected ({len(x)},)",
                         "store one integer label per sample")
    return np.ascontiguousarray(np.swapaxes(x.astype(np.uint8), 0, 1)), y
