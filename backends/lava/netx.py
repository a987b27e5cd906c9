"""lava-dl netx: the mirror of netx's weight loading, and running a graph through netx in Lava.

netx (lava-dl 0.6.0, ``lava.lib.dl.netx.hdf5.Network``) does not load a file's integers as
they are: it re-derives every Dense's exponent and bit count
(``netx.utils.optimize_weight_bits``) and lets Lava's Dense infer the sign mode again.
:func:`netx_optimize`, :func:`lava_dense_weights` and :func:`netx_loaded_weights` mirror that
in numpy; the reader (:mod:`.netx_read`) and the writer (:mod:`.netx_write`,
:mod:`.netx_emit`: :func:`write_netx`, :func:`netx_problems`) both use them, so snncc reads
what netx builds and writes only what netx builds back exactly.  Quantize with
:func:`snncc.targets.loihi.quantize.netx_config` to stay inside the format.

Pure numpy here (h5py only when writing), so it imports without torch and without lava.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from snncc.ir import FxGradedNeuron, FxNeuron, Graph
from snncc.targets.loihi import fixedpoint as fx


def netx_optimize(weight: np.ndarray) -> Optional[tuple[np.ndarray, int, int]]:
    """What lava-dl 0.6.0's ``netx.utils.optimize_weight_bits`` makes of a weight matrix:
    ``(scaled matrix, num_weight_bits, weight_exp)``; None where netx fails (an all-zero
    matrix) or the scale goes negative (weights beyond 8 bits).

    It scales the matrix by ``2**sb`` and sets ``weight_exp = -sb`` and ``num_weight_bits =
    8 - sb - n`` (``n``: trailing zero bits shared by all weights, minus one when mixed).
    """
    w = np.asarray(weight).astype(np.int64)            # NetDict reads weights .astype(int)
    if w.size == 0:
        return None
    hi, lo = int(w.max()), int(w.min())
    if (hi > 254 and lo < 0) or (lo < -256 and hi > 0):
        w = np.clip(w, -256, 254)
        hi, lo = int(w.max()), int(w.min())
    if hi < 0:                                        # netx: strictly negative -> inhibitory
        signed, scale = 0, -256 / lo
    elif lo >= 0:
        if hi == 0:
            return None                               # 255 / 0: netx crashes
        signed, scale = 0, 255 / hi
    else:                                             # note: max == 0 counts as mixed here
        signed = 1
        scale = min(127 / hi if hi > 0 else np.inf, -128 / lo)
    sb = int(np.floor(np.log2(scale))) + signed
    if sb < 0:
        return None
    n = 8
    while n > 0 and np.any(w % (2 ** n)):
        n -= 1
    return w << sb, 8 - sb - (n - signed), -sb


def lava_dense_weights(scaled: np.ndarray, num_weight_bits: int) -> np.ndarray:
    """Lava's fixed_pt Dense at run time: ``clip_weights`` and ``truncate_weights`` with the
    sign mode it infers from the matrix itself (netx does not pass its own)."""
    mode = fx.sign_mode(scaled)                       # Lava's determine_sign_mode
    mixed = mode == fx.SIGN_MIXED
    mag = -scaled if mode == fx.SIGN_INHIBITORY else scaled
    mag = np.clip(mag, -256 if mixed else 0, 255)     # clip_weights(num_bits=8)
    drop = 8 - num_weight_bits + int(mixed)           # truncate_weights
    mag = (mag >> drop) << drop
    return -mag if mode == fx.SIGN_INHIBITORY else mag


def netx_loaded_weights(weight: np.ndarray) -> Optional[tuple[np.ndarray, int]]:
    """The (matrix, weight_exp) Lava's fixed_pt Dense ends up with when netx loads ``weight``:
    :func:`netx_optimize` followed by :func:`lava_dense_weights`.  None where netx fails or
    the scale goes negative (an all-zero matrix, weights beyond 8 bits).
    """
    opt = netx_optimize(weight)
    if opt is None:
        return None
    scaled, bits, exp = opt
    return lava_dense_weights(scaled, bits), exp


from .netx_emit import netx_load_hint, write_netx  # noqa: E402  (the writer)
from .netx_write import NAME_ATTR, NETX_FILE, netx_problems, plan  # noqa: E402


def run_netx(graph: Graph, stimulus: np.ndarray, record_states: bool = False,
             neuron_arrays: bool = False, timeout: Optional[float] = None):
    """Write ``graph`` as a netx file and run it with lava-dl's loader in the Lava env.

    Returns a :class:`snncc.backends.sim.SimResult` like every runner.  No time shift is
    applied: a netx file whose input layer holds only a shape makes ``Network.inp`` layer
    1's Dense input, so netx's network has the same Dense delays as snncc's; an input neuron
    takes the stimulus on its a_in, as snncc's input neuron does.
    """
    from ..sim import SimResult
    from . import run_netx_file
    stimulus = np.asarray(stimulus)
    flat = stimulus.reshape(stimulus.shape[0], stimulus.shape[1], -1)
    with tempfile.TemporaryDirectory(prefix="snncc-netx-") as tmp:
        path = write_netx(graph, Path(tmp) / NETX_FILE, neuron_arrays)
        raw = run_netx_file(path, flat, record_states, timeout, plan(graph, neuron_arrays).args)
    result = SimResult(spikes={graph.input_names[0]: flat})
    for node in graph.nodes():
        if not isinstance(node, (FxNeuron, FxGradedNeuron)):
            continue
        graded = isinstance(node, FxGradedNeuron)
        result.spikes[node.name] = raw[f"{node.name}/s"].astype(np.int32 if graded else bool)
        if record_states:
            result.u[node.name] = raw[f"{node.name}/u"].astype(np.int32)
            result.v[node.name] = raw[f"{node.name}/v"].astype(np.int32)
    for name in graph.output_names:
        result.outputs[name] = result.spikes[graph.inputs_of(name)[0]]
    return result
