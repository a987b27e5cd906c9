"""Other frameworks' neurons, registered lazily, and their own forward passes.

snncc never imports snnTorch, SpikingJelly or Norse itself: :func:`register_loaded` imports
the snncc frontend of each framework that is *already* imported (a model built with it
is being traced, so its library is loaded), and that frontend registers its converters in
:data:`snncc.frontend.fx.CONVERTERS`.  Without the libraries nothing here runs.

Each frontend also registers a :class:`Driver`: how to clear the framework's neuron state
and step a model with its own code, so :func:`run_native` (used by
:func:`snncc.reference.run_float`, hence ``verify``) compares against the framework's forward
pass, not snncc's reading of it.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..errors import SnnccError

# top-level package of the framework -> snncc module holding its converters and driver
FRONTENDS: dict[str, str] = {
    "snntorch": "snncc.frontend.snntorch",
    "spikingjelly": "snncc.frontend.spikingjelly",
    "norse": "snncc.frontend.norse",
}


@dataclass
class Driver:
    """How to run a model of one framework with its own code, one sample batch at a time.

    ``owns(module)`` says whether a module belongs to the framework; ``run(model, x)`` resets
    the model's state and feeds ``x`` (T, B, ...) float32, calling the model as its
    framework expects, and returns True when it passed whole sequences (SpikingJelly's
    multi-step mode: each neuron call sees (T, B, n)) rather than one step per call.
    """

    name: str
    owns: Callable
    run: Callable


DRIVERS: dict[str, Driver] = {}


def register_driver(driver: Driver) -> Driver:
    DRIVERS[driver.name] = driver
    return driver


def register_loaded() -> list[str]:
    """Import the snncc frontend of every framework already imported; return their names."""
    done = []
    for package, module in FRONTENDS.items():
        if package in sys.modules:
            importlib.import_module(module)
            done.append(package)
    return done


def driver_for(model) -> Optional[Driver]:
    """The driver of the framework whose neurons ``model`` uses, or None (plain snncc/torch)."""
    register_loaded()
    for driver in DRIVERS.values():
        if any(driver.owns(m) for m in model.modules()):
            return driver
    return None


def run_native(model, stimulus: np.ndarray, layers: list[str],
               batch_size: int = 256, values: bool = False) -> dict[str, np.ndarray]:
    """Spikes (bool, (T, B, n)) of the modules named in ``layers``, from the framework's own
    forward pass of ``model`` on ``stimulus`` (T, B, ...), run in the model's dtype.

    ``values=True``: what each module emitted, as float64 (T, B, n) (see
    :func:`snncc.reference.run_float`)."""
    import torch

    from ..reference import _output, model_dtype
    driver = driver_for(model)
    if driver is None:
        raise SnnccError("run_native: the model uses no snnTorch, SpikingJelly or Norse neuron",
                         "use snncc.reference.run_float")
    modules = dict(model.named_modules())
    dtype = model_dtype(model)
    out: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    model.eval()
    with torch.no_grad():
        for start in range(0, stimulus.shape[1], batch_size):
            chunk = torch.as_tensor(np.asarray(stimulus[:, start:start + batch_size])).to(dtype)
            record: dict[str, list] = {name: [] for name in layers}

            def hook(m, i, o, name):
                record[name].append(_output(o).detach())

            handles = [modules[n].register_forward_hook(
                lambda m, i, o, n=n: hook(m, i, o, n)) for n in layers]
            try:
                multi_step = driver.run(model, chunk)
            finally:
                for h in handles:
                    h.remove()
            for name in layers:
                seq = record[name]
                full = torch.cat(seq) if multi_step else torch.stack(seq)
                full = full.reshape(full.shape[0], full.shape[1], -1).double().numpy()
                out[name].append(full if values else full > 0)
    return {name: np.concatenate(chunks, axis=1) for name, chunks in out.items()}


# -- helpers shared by the framework frontends ------------------------------------------

def per_neuron(value, shape: tuple[int, ...], what: str, layer: str,
               dtype=None) -> np.ndarray:
    """Broadcast a scalar or per-neuron parameter (tensor, array or float) to ``shape``, in
    ``dtype`` (default: the traced model's float dtype, :func:`snncc.frontend.fx.float_dtype`)."""
    from .registry import float_dtype
    dtype = dtype or float_dtype()
    try:
        import torch
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - frontends always have torch
        pass
    arr = np.asarray(value)
    if arr.size not in (1, int(np.prod(shape))):
        raise SnnccError(f"layer {layer!r}: {what} has {arr.size} values for {int(np.prod(shape))} "
                         "neurons", f"give {what} one value or one per neuron")
    arr = arr.astype(dtype)
    return np.broadcast_to(arr.reshape(()) if arr.size == 1 else arr.reshape(shape),
                           shape).astype(arr.dtype).copy()


def neuron_shape(in_shapes: list[tuple[int, ...]], layer: str) -> tuple[int, ...]:
    """Frameworks' neurons do not know their size: it is the shape of what feeds them."""
    if not in_shapes:
        raise SnnccError(f"neuron layer {layer!r} has no input", "feed it from a Linear layer")
    return tuple(int(s) for s in in_shapes[0])


def check_positive_threshold(thr: np.ndarray, layer: str, framework: str) -> None:
    if np.any(thr <= 0):
        raise SnnccError(f"layer {layer!r} ({framework}): threshold must be > 0 after mapping "
                         f"(min {float(np.min(thr)):.4g})",
                         "use a threshold above the reset/rest potential")
