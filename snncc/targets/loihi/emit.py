"""What a Loihi build folder holds besides the fixed-point graph.

* ``lava_network.py`` (:mod:`snncc.backends.lava.codegen`): lava-nc processes built from
  ``params.npz``, for users who read or run it themselves;
* ``network.net`` (:mod:`snncc.backends.lava.netx`): lava-dl's netx HDF5 format, written
  whenever netx can express the network exactly.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import SnnccError


def netx_preset_fits(compiled) -> bool:
    """Whether ``--netx`` (the netx quantizer preset) would write this network: its float graph
    quantized with :func:`netx_config` leaves nothing netx cannot express.  Only then may a
    note suggest ``--netx``."""
    from ...backends.lava.netx import netx_problems
    from ...compiler import compile_graph
    from .quantize import netx_config
    if compiled.float_graph is None or compiled.fixed.meta.get("source") == "netx":
        return False                     # a netx input is not requantized
    try:
        again = compile_graph(compiled.float_graph, netx_config(), compiled.target)
    except SnnccError:
        return False
    return not netx_problems(again.fixed)


def emit(compiled, directory: Path, lava_neuron: str = "auto",
         netx: bool = False) -> tuple[list[str], list[str]]:
    """Write the Loihi artifacts of ``compiled`` into ``directory``; return (files, notes).

    ``netx=True`` makes ``network.net`` mandatory: raises :class:`SnnccError` listing what
    netx cannot express.  Otherwise a network netx cannot express gets a note instead.
    """
    from ...backends.lava import codegen
    from ...backends.lava.netx import NETX_FILE, netx_load_hint, netx_problems, write_netx
    problems = netx_problems(compiled.fixed)
    if netx and problems:
        raise SnnccError("--netx: lava-dl netx cannot express this network: " + "; ".join(problems),
                         "netx needs one decay and threshold per layer (train them shared), "
                         "zero reset and a chain of Linear layers; compile without --netx for "
                         "snncc's own Lava network")
    codegen.write(compiled.fixed, Path(directory), lava_neuron)
    files, notes = [codegen.MODULE_NAME], []
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        hint = "; try --netx" if netx_preset_fits(compiled) else ""
        notes.append(f"no {NETX_FILE}: lava-dl netx cannot express {problems[0]}{more}{hint}")
    else:
        write_netx(compiled.fixed, Path(directory) / NETX_FILE)
        files.append(NETX_FILE)
        hint = netx_load_hint(compiled.fixed)
        if hint != "netx.hdf5.Network(net_config='network.net')":
            notes.append(f"{NETX_FILE} needs netx Network arguments: load it with {hint} "
                         "(snncc reads them from the file)")
    return files, notes
