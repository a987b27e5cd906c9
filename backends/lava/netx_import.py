"""Import lava-dl 0.6.0's netx loader in the Lava env without torch.

``lava.lib.dl.netx`` imports torch in two places that ``netx.hdf5.Network`` does not need
for LIF/CUBA and dense layers: ``netx.sequential_modules`` (a torch wrapper) and
``slayer.neuron.rf.neuron_params`` (parameters of resonate-and-fire neurons).  Installing
torch in the Python 3.10 env would mean a multi-GB CUDA build, so these two modules are
replaced by placeholders that raise if anything actually uses them; everything netx does
for the layers snncc writes runs as shipped.
"""
from __future__ import annotations

import sys
import types


def _placeholder(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


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
