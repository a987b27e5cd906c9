"""Chip targets, looked up by name in :data:`TARGETS`.

A target turns the lowered float graph (canonical neurons, folds applied) into one chip's
integer program and says what a build for it holds.  Each target is one folder,
``snncc/targets/<name>/``, with the same file names as its siblings:

=================  ==========================================================================
``__init__.py``    registers the :class:`Target` (this registry imports it on first use)
``fixedpoint.py``  the chip's integer arithmetic, numpy only (the simulators use it)
``quantize.py``    ``quantize(lowered, config) -> (fixed graph, QuantReport)``
``calibrate.py``   data-driven choice of the quantization knobs
``mapping.py``     design rules and placement on the chip's cores
``emit.py``        the target's own files in a build folder (Lava module, netx, ...)
=================  ==========================================================================

Nothing here imports torch: the Lava env (no torch) imports the targets' ``fixedpoint``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..errors import SnnccError

# target name -> the package that registers it
TARGET_MODULES: dict[str, str] = {"loihi": "snncc.targets.loihi"}
TARGET_MODULES.update({name: "snncc.targets.xylo" for name in
                       ("xylo", "xylo-audio2", "xylo-imu", "xylo-audio3")})
TARGETS: dict[str, "Target"] = {}


@dataclass(frozen=True)
class Target:
    """What the compiler needs from a chip target.

    ``quantize(lowered, config)`` returns ``(fixed graph, report)``; ``default_config()``
    the target's default quantizer settings; ``emit(compiled, directory, **options)`` writes
    the target's own files into a (temporary) build folder and returns ``(file names,
    notes)``; ``runners`` are the bit-accurate simulators of the fixed graph (first: the
    default) and ``reference`` the vendor's own model as a runner name, if installed.
    """

    name: str
    description: str
    quantize: Callable[..., tuple[Any, Any]]
    default_config: Callable[[], Any]
    emit: Callable[..., tuple[list[str], list[str]]]
    runners: tuple[str, ...] = ("sim",)
    reference: Optional[str] = None
    # integer membrane units of one float threshold, per neuron of a fixed neuron node
    # (None: Loihi's ``vth << 6``), and the membrane's rail (None: Loihi's 24-bit V_MAX)
    threshold_units: Optional[Callable[[Any], Any]] = None
    v_max: Optional[int] = None


def register_target(target: Target) -> Target:
    TARGETS[target.name] = target
    return target


def target_of(graph) -> Target:
    """The target a fixed graph was quantized for (``graph.meta["target"]``; default Loihi)."""
    return get_target(graph.meta.get("target", "loihi"))


def get_target(name: str) -> Target:
    """The target called ``name``; importing its package registers it.

    Raises :class:`SnnccError` for an unknown name.
    """
    if name not in TARGETS and name in TARGET_MODULES:
        importlib.import_module(TARGET_MODULES[name])
    if name not in TARGETS:
        raise SnnccError(f"unknown target {name!r}", f"choose one of: {', '.join(TARGET_MODULES)}")
    return TARGETS[name]
