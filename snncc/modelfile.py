"""Loading model files: torch pickles (safely), state_dicts with their class, ``.nir`` graphs.

What a model argument may be (:func:`load_model`):

* ``model.pt`` written by ``torch.save(model)``: read without running code
  (``torch.load(weights_only=True)``) when every class it names is on the allow-list:
  torch.nn layers, snncc.nn neurons, every class snncc has a converter for, and the
  snnTorch / SpikingJelly / Norse neuron classes snncc converts with their surrogate
  functions (:data:`snncc.frontend.frameworks.FRONTENDS`; the framework is imported only
  when the file names it).  Before torch reads a byte, :func:`snncc.picklescan.scan` checks
  that the file calls nothing ``torch.save`` never writes (a crafted file could otherwise
  make an allow-listed constructor allocate without bound).  ``trust=True`` (CLI ``--trust``)
  unpickles anything, for files you trust.
* ``train.py:Net`` or ``package.module:factory`` with ``weights`` (a state_dict file) and
  ``model_args`` (JSON constructor arguments): see :mod:`snncc.modelspec`.
* ``model.nir``: a NIR graph, read when compiled (:class:`NirFile`).

Every failure is an :class:`~snncc.errors.SnnccError` naming the file, the cause and a fix;
only a file that is a well-formed torch file naming classes outside the allow-list is told
about ``--trust``.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Optional

from .errors import SnnccError
from .loaders import check_file

MAX_MODEL_BYTES = 2 * 2 ** 30
MAX_PICKLE_BYTES = 256 * 2 ** 20      # data.pkl inside the archive (tensors live beside it)
_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"    # torch.save before PyTorch 1.6
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _qualname(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def allowed_classes(frameworks: tuple[str, ...] = ()) -> dict[str, object]:
    """The weights-only allow-list: ``module.qualname`` -> class.

    ``frameworks``: top-level packages named by the file (snntorch, spikingjelly, norse);
    their snncc frontends are imported, adding their converted classes and
    :data:`PICKLE_CLASSES` (surrogates, containers).
    """
    import collections

    import torch
    from torch import nn

    from . import nn as snn
    from .frontend import CONVERTERS
    from .frontend.frameworks import FRONTENDS, register_loaded
    import importlib
    extra = []
    for package in frameworks:
        if package in FRONTENDS:
            try:
                extra += list(getattr(importlib.import_module(FRONTENDS[package]),
                                      "PICKLE_CLASSES", ()))
            except ImportError:
                pass
    register_loaded()
    classes = {c for c in vars(nn).values() if isinstance(c, type) and issubclass(c, nn.Module)}
    classes |= {c for c in vars(snn).values() if isinstance(c, type) and issubclass(c, nn.Module)}
    classes |= set(CONVERTERS) | set(extra)
    classes |= {collections.OrderedDict, set, torch.Size, torch.nn.parameter.Parameter}
    return {_qualname(c): c for c in classes}


def _normal(name: str) -> str:
    return "builtins." + name[len("__builtin__."):] if name.startswith("__builtin__.") else name


def _sniff(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(32)
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head.startswith(_LEGACY_MAGIC):
        return "legacy"
    if head.startswith(_HDF5_MAGIC):
        return "hdf5"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return f"pickle{head[1]}"
    return "other"


def _not_a_model(path: Path, what: str) -> SnnccError:
    return SnnccError(f"model file {path} {what}",
                      "pass a model saved with torch.save(model), a state_dict with its class "
                      "(snncc compile train.py:Net --weights state.pt), or a NIR graph (.nir)")


def _data_pkl(path: Path) -> bytes:
    """The pickle of a torch zip archive, size-checked before it is read."""
    try:
        with zipfile.ZipFile(path) as z:
            names = [i for i in z.infolist() if i.filename.endswith("data.pkl")
                     and i.filename.count("/") == 1]
            if len(names) != 1:
                raise _not_a_model(path, "is a zip archive without torch's data.pkl")
            if names[0].file_size > MAX_PICKLE_BYTES:
                raise SnnccError(f"model file {path}: its pickle declares "
                                 f"{names[0].file_size / 2**20:.0f} MiB, over the "
                                 f"{MAX_PICKLE_BYTES // 2**20} MiB limit",
                                 "check that it is the right file")
            with z.open(names[0]) as f:
                return f.read(MAX_PICKLE_BYTES + 1)[:MAX_PICKLE_BYTES]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise _not_a_model(path, f"is corrupt or not a torch file (a damaged zip archive: "
                                 f"{type(exc).__name__}: {str(exc)[:100]})") from None


def _refuse_classes(path: Path, unknown: list[str]) -> SnnccError:
    names = ", ".join(unknown[:4]) + (f" and {len(unknown) - 4} more" if len(unknown) > 4 else "")
    main = [u for u in unknown if u.startswith("__main__.")]
    if main:
        cls = main[0].split(".", 1)[1]
        return SnnccError(f"model file {path} was saved with class {cls} defined in the "
                          f"training script itself (__main__.{cls}), which snncc cannot "
                          "import by itself", f"name the script: snncc compile train.py:{cls} "
                          f"--weights {path} (a state_dict saved with torch.save(model."
                          "state_dict()) works the same), or move the class into a module on "
                          "PYTHONPATH")
    return SnnccError(f"model file {path} needs {names}, which snncc does not unpickle without "
                      "--trust (unpickling a class can run its code)",
                      "if you trust the file, pass --trust (API: trust=True); or save "
                      "model.state_dict() and give its class: snncc compile "
                      "package.module:Net --weights state.pt")


def _main_classes(names: list[str], script) -> dict[str, object]:
    """``__main__.X`` names of a file pickled by a training script, resolved in that script
    (imported by the user's own ``train.py:Net`` spec): its nn.Module classes only."""
    import torch
    out = {}
    for name in names:
        if script is not None and name.startswith("__main__."):
            cls = getattr(script, name.split(".", 1)[1], None)
            if isinstance(cls, type) and issubclass(cls, torch.nn.Module):
                out[name] = cls
    return out


def _load_torch(path: Path, trust: bool, script=None):
    kind = _sniff(path)
    if kind == "legacy":
        raise SnnccError(f"model file {path} is in PyTorch's legacy format (torch.save before "
                         "PyTorch 1.6, or _use_new_zipfile_serialization=False)",
                         "load it with the PyTorch that wrote it and save it again with a "
                         "current torch.save(model.state_dict(), path)")
    if kind.startswith("pickle"):
        raise _not_a_model(path, f"is a plain Python pickle (protocol {kind[-1]}), not a "
                                 "torch.save archive")
    if kind == "hdf5":
        raise _not_a_model(path, "is an HDF5 file, not a torch.save archive (a NIR graph "
                                 "must be named *.nir; a lava-dl netx network is not read as "
                                 "a model)")
    if kind != "zip":
        raise _not_a_model(path, "is not a torch file (neither a torch.save archive nor a NIR "
                                 "graph)")
    import torch
    if not trust:
        from .frontend.frameworks import FRONTENDS
        from .picklescan import ScanError, scan
        try:
            found = scan(_data_pkl(path))
        except ScanError as exc:
            raise _not_a_model(path, f"is corrupt or not a torch file (its pickle: {exc})") \
                from None
        names = sorted({_normal(g) for g in found.globals})
        packages = tuple(sorted({n.split(".")[0] for n in names} & set(FRONTENDS)))
        allowed = allowed_classes(packages)
        allowed.update(_main_classes(names, script))
        from torch._weights_only_unpickler import _get_allowed_globals
        builtin = set(_get_allowed_globals())
        unknown = [n for n in names if n not in allowed and n not in builtin]
        if unknown:
            raise _refuse_classes(path, unknown)
        unsafe = found.unsafe_calls()
        if unsafe:       # allow-listed names, but called in a way torch.save never writes
            raise SnnccError(f"model file {path} asks the unpickler to call "
                             f"{', '.join(unsafe[:4])}, which torch.save never writes (a crafted "
                             "file can make such calls allocate without bound)",
                             "re-save the model with torch.save(model) or "
                             "torch.save(model.state_dict())")
    try:
        if trust:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals([(c, n) for n, c in allowed.items()]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (KeyboardInterrupt, MemoryError):
        raise
    except (AttributeError, ModuleNotFoundError, ImportError) as exc:   # only with --trust
        msg = str(exc)
        if "__main__" in msg:
            import re
            found = re.search(r"attribute '([A-Za-z_][A-Za-z0-9_]*)'", msg)
            cls = found.group(1) if found else "Net"
            raise _refuse_classes(path, [f"__main__.{cls}"]) from None
        raise SnnccError(f"model file {path} needs a class that cannot be imported "
                         f"({type(exc).__name__}: {msg[:160]})",
                         "install the package that defines it, or add its folder to "
                         "PYTHONPATH") from None
    except Exception as exc:   # a corrupt archive can make torch raise anything
        raise SnnccError(f"model file {path} is corrupt ({type(exc).__name__}: "
                         f"{str(exc)[:160]})", "save the model again") from None


def is_state_dict(obj) -> bool:
    """A dict whose values are all tensors (``model.state_dict()``)."""
    import torch
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


class NirFile:
    """A ``.nir`` model: read when compiled, once ``dt`` is known (the file's, or ``--dt``).

    NIR stores no time step, integrator or reset flavour; :meth:`graph` reads the file with
    ``dt`` (None: the file's metadata or its producer's) and the ``convention``, ``reset``,
    ``max_spikes_per_dt`` and ``producer`` set here (None: as the producer means them; see
    :func:`snncc.backends.nir.from_nir`), and keeps the float graph, which is also the float
    reference ``verify`` compares with.  What was assumed and repaired is in
    ``graph.meta["nir_import"]`` and ``graph.meta["nir_repairs"]`` (the CLI prints both).
    """

    def __init__(self, path: Path, convention: Optional[str] = None,
                 reset: Optional[str] = None, max_spikes_per_dt: Optional[int] = None,
                 producer: Optional[str] = None) -> None:
        self.path = Path(path)
        self.convention = convention
        self.reset = reset
        self.max_spikes_per_dt = max_spikes_per_dt
        self.producer = producer
        self._graph = None
        self._key = None

    def graph(self, dt: Optional[float] = None):
        key = (dt, self.convention, self.reset, self.max_spikes_per_dt, self.producer)
        if self._graph is None or (key != self._key and (dt is not None or key[1:] != self._key[1:])):
            from .backends.nir import read_nir
            self._graph = read_nir(self.path, dt, self.convention, self.reset,
                                   max_spikes_per_dt=self.max_spikes_per_dt,
                                   producer=self.producer)
            self._key = key
        return self._graph

    def quantized(self, target: str, dt: Optional[float] = None):
        """The integer program for ``target`` the file carries (``snncc export-nir
        --quantized``), or None; compile uses it instead of quantizing again."""
        if self.convention is not None or self.reset is not None or self.producer is not None:
            return None        # the caller reads the float graph another way: quantize that
        from .backends.nir.reader import read_nir_quantized
        return read_nir_quantized(self.path, target, dt)

    @property
    def repairs(self) -> list[str]:
        return [] if self._graph is None else list(self._graph.meta.get("nir_repairs", []))


def read_torch_file(path: str | Path, trust: bool = False, script=None):
    """Whatever a torch.save file holds (module, state_dict, checkpoint dict), read safely.

    ``script``: the module imported from the user's ``train.py:Net`` spec; classes the file
    names as ``__main__.X`` (a model pickled by that script) resolve to its ``X``."""
    path = Path(path)
    check_file(path, "model", MAX_MODEL_BYTES)
    return _load_torch(path, trust, script)


def load_model(path: str | Path, trust: bool = False, weights: Optional[str | Path] = None,
               model_args: Optional[str] = None):
    """Load the model named by ``path``: a torch.save file, a ``.nir`` graph, a lava-dl netx
    HDF5 file (any suffix: recognised by its HDF5 signature, never unpickled), or a class spec
    (``train.py:Net``, ``package.module:factory``) built with ``model_args`` (JSON) and
    filled from ``weights`` (a state_dict file).  Raises :class:`SnnccError`."""
    from .modelspec import is_spec, load_spec
    if is_spec(path):
        return load_spec(str(path), weights, model_args, trust)
    if weights is not None or model_args is not None:
        raise SnnccError(f"--weights / --model-args need the model's class, but {path} is a "
                         "file", "name the class: snncc compile train.py:Net --weights state.pt")
    path = Path(path)
    check_file(path, "model", MAX_MODEL_BYTES)
    if path.suffix.lower() == ".nir":
        return NirFile(path)
    from .hdf5_safety import is_hdf5
    if is_hdf5(path):      # lava-dl netx (.net) or another HDF5 file: never a pickle
        from .backends.lava.netx_model import NetxFile
        return NetxFile(path)
    obj = _load_torch(path, trust)
    import torch
    if is_state_dict(obj) or (isinstance(obj, dict) and any(
            is_state_dict(v) for v in obj.values())):
        raise SnnccError(f"model file {path} holds a state_dict (weights without their class)",
                         f"give the class: snncc compile train.py:Net --weights {path} (or "
                         "package.module:Net; constructor arguments with --model-args JSON)")
    if not isinstance(obj, torch.nn.Module):
        raise SnnccError(f"model file {path} holds a {type(obj).__name__}, not a torch.nn.Module",
                         "save the module itself with torch.save(model, path), or its "
                         "state_dict with the class given as train.py:Net --weights")
    return obj
