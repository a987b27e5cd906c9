"""Loading model files: torch pickles (safely) and ``.nir`` graphs.

Models are read with ``torch.load(weights_only=True)``: only tensors, containers and the
module classes snncc knows (torch.nn layers, snncc.nn neurons, registered converters) may be
unpickled.  ``trust=True`` (CLI ``--trust``) allows arbitrary pickles for files you trust.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Optional

from .errors import SnnccError
from .loaders import check_file

MAX_MODEL_BYTES = 2 * 2 ** 30


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


class NirFile:
    """A ``.nir`` model: read when compiled, once ``dt`` is known (the file's, or ``--dt``).

    NIR stores no time step, integrator or reset flavour; :meth:`graph` reads the file with
    ``dt`` (None: the file's metadata or its producer's) and the ``convention`` and
    ``reset`` set here (None: as the producer means them; see
    :func:`snncc.backends.nir.from_nir`), and keeps the float graph, which is also the float
    reference ``verify`` compares with.  What was assumed and repaired is in
    ``graph.meta["nir_import"]`` and ``graph.meta["nir_repairs"]`` (the CLI prints both).
    """

    def __init__(self, path: Path, convention: Optional[str] = None,
                 reset: Optional[str] = None) -> None:
        self.path = Path(path)
        self.convention = convention
        self.reset = reset
        self._graph = None
        self._key = None

    def graph(self, dt: Optional[float] = None):
        key = (dt, self.convention, self.reset)
        if self._graph is None or (key != self._key and (dt is not None or key[1:] != self._key[1:])):
            from .backends.nir import read_nir
            self._graph = read_nir(self.path, dt, self.convention, self.reset)
            self._key = key
        return self._graph

    def quantized(self, target: str, dt: Optional[float] = None):
        """The integer program for ``target`` the file carries (``snncc export-nir
        --quantized``), or None; compile uses it instead of quantizing again."""
        if self.convention is not None or self.reset is not None:
            return None        # the caller reads the float graph another way: quantize that
        from .backends.nir.reader import read_nir_quantized
        return read_nir_quantized(self.path, target, dt)

    @property
    def repairs(self) -> list[str]:
        return [] if self._graph is None else list(self._graph.meta.get("nir_repairs", []))


def load_model(path: str | Path, trust: bool = False):
    """Load a full ``nn.Module`` saved with ``torch.save(model)``, or a ``.nir`` graph."""
    path = Path(path)
    check_file(path, "model", MAX_MODEL_BYTES)
    if path.suffix.lower() == ".nir":
        return NirFile(path)
    import torch
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
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:   # a corrupt pickle can make torch's unpickler raise anything
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
