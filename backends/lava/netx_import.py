"""Import lava-dl 0.6.0's netx loader in the Lava env without torch.

``lava.lib.dl.netx`` imports torch in two places that ``netx.hdf5.Network`` does not need
for LIF/CUBA and dense layers: ``netx.sequential_modules`` (a torch wrapper) and
``slayer.neuron.rf.neuron_params`` (parameters of resonate-and-fire neurons).  Installing
torch in the Python 3.10 env would mean a multi-GB CUDA build, so these two modules are
replaced by placeholders that raise if anything actually uses them; everything netx does
for the layers snncc writes runs as shipped.

Each placeholder carries the ``__file__`` of the module it replaces: Lava's compiler, when it
looks for a netx block's ProcessModels, imports every module of ``lava.lib.dl.netx`` and
asks ``inspect.getfile`` for its directory, which fails on a module without a file.
"""
from __future__ import annotations

import sys
import types


def _placeholder(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    module.__file__ = _source_file(name)
    return module


def _source_file(name: str) -> str:
    """Where ``name`` lives in the installed lava-dl (its package __init__ or .py file)."""
    import importlib.util
    from pathlib import Path
    spec = importlib.util.find_spec("lava.lib.dl")
    base = Path(list(spec.submodule_search_locations)[0]) if spec else Path(".")
    path = base.joinpath(*name.split(".")[3:])
    return str(path / "__init__.py" if path.is_dir() else path.with_suffix(".py"))


def _needs_torch(*args, **kwargs):
    raise RuntimeError("this part of lava-dl needs torch, which the snncc Lava env lacks")


def import_netx():
    """Return ``lava.lib.dl.netx.hdf5`` (lava-dl installed with --no-deps, plus h5py)."""
    try:
        import torch  # noqa: F401  (a full install: nothing to replace)
    except ImportError:
        stubs = {
            "lava.lib.dl.slayer": {},
            "lava.lib.dl.slayer.neuron": {},
            "lava.lib.dl.slayer.neuron.rf": {"neuron_params": _needs_torch},
            "lava.lib.dl.netx.sequential_modules": {},
        }
        for name, attrs in stubs.items():
            sys.modules.setdefault(name, _placeholder(name, **attrs))
    from lava.lib.dl.netx import hdf5
    return hdf5
