"""The HDF5 side of the netx writer: the layout lava-dl's slayer exports (and netx reads), one
layer group per :class:`~.netx_write.Block`, then a read-back check (see :mod:`.netx_write`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from snncc.atomic import hdf5_bytes, write_bytes
from snncc.errors import SnnccError
from snncc.ir import FxDelayDense, FxDelta, FxNeuron, FxSigma, Graph

from .netx_write import ARGS_ATTR, NAME_ATTR, NETX_FILE, Block, equivalent, netx_bias, plan

INPUT_ATTR = "snncc_input"      # the name of the graph's input node


def _param(values: np.ndarray, neuron_arrays: bool) -> np.ndarray:
    values = np.asarray(values, dtype=np.int32).reshape(-1)
    return values if neuron_arrays and len(np.unique(values)) > 1 else values[:1]


def _text(group, key: str, value: str) -> None:
    group.create_dataset(key, (1,), "S10", [value.encode()])


def _neuron(g, node, neuron_arrays: bool) -> None:
    import h5py
    nrn = g.create_group("neuron")
    if isinstance(node, FxNeuron):
        _text(nrn, "type", "CUBA")
        nrn.create_dataset("iDecay", data=_param(node.du + 1, neuron_arrays))
        nrn.create_dataset("vDecay", data=_param(node.dv, neuron_arrays))
        nrn.create_dataset("vThMant", data=_param(node.vth, neuron_arrays))
        nrn.create_dataset("refDelay", data=np.array([1], dtype=np.int32))
        nrn.create_dataset("gradedSpike", data=np.array([False]))
        return
    _text(nrn, "type", "SDNN")
    nrn.create_dataset("activation", data="relu", dtype=h5py.string_dtype())
    if isinstance(node, FxSigma):
        nrn.create_dataset("vThMant", data=np.array([0], dtype=np.int32))
        nrn.create_dataset("sigma_output", data=True)
    else:
        nrn.create_dataset("vThMant", data=_param(node.vth, False))


def _bias(node, shape: tuple[int, ...]):
    """The layer's ``bias`` dataset: per channel where constant over (H, W), else per neuron
    in netx's (W, H, C) layout; None for neurons without one (Delta, Sigma)."""
    if isinstance(node, FxNeuron):
        b = netx_bias(node)
    elif isinstance(node, (FxSigma, FxDelta)):
        return None
    else:
        b = np.broadcast_to(np.asarray(node.bias, np.float64).reshape(-1),
                            (int(np.prod(shape)),)).copy()
    if len(shape) == 3:
        chw = b.reshape(shape)
        if np.all(chw == chw[:, :1, :1]):
            return chw[:, 0, 0].astype(np.float32)
        return chw.transpose(2, 1, 0).astype(np.float32)
    return b.reshape(-1).astype(np.float32)


def _layer(root, i: int, blk: Block, neuron_arrays: bool, graph: Graph) -> None:
    g = root.create_group(str(i))
    _text(g, "type", blk.kind)
    g.create_dataset("shape", data=np.array(blk.shape, dtype=np.int64))
    if blk.neuron is not None:
        g.attrs[NAME_ATTR] = blk.neuron.name
    if blk.kind == "conv":
        syn = blk.synapse
        w = np.asarray(syn.weight, np.int64) << int(syn.weight_exp)    # Lava's Conv: baked in
        g.create_dataset("weight", data=w.astype(np.float32))
        g.create_dataset("stride", data=np.array(syn.stride, dtype=np.int64))
        g.create_dataset("padding", data=np.array(syn.padding, dtype=np.int64))
        g.create_dataset("dilation", data=np.array([1, 1], dtype=np.int64))
        g.create_dataset("groups", data=np.int64(syn.groups))
        g.create_dataset("inChannels", data=np.int64(syn.in_shape[0]))
        g.create_dataset("outChannels", data=np.int64(w.shape[0]))
        g.create_dataset("kernelSize", data=np.array(w.shape[2:], dtype=np.int64))
    elif blk.kind in ("dense", "dense_rec"):
        n_in = blk.synapse.weight.shape[1]
        g.create_dataset("weight", data=blk.file_weight[:, :n_in].astype(np.float32))
        if blk.rec is not None:
            g.create_dataset("weight_rec", data=blk.file_weight[:, n_in:].astype(np.float32))
        if isinstance(blk.synapse, FxDelayDense):
            g.create_dataset("delay", data=np.asarray(blk.synapse.delay, np.float32))
        g.create_dataset("inFeatures", data=np.int64(n_in))
        g.create_dataset("outFeatures", data=np.int64(blk.synapse.weight.shape[0]))
    if blk.neuron is not None and blk.kind != "flatten":
        bias = None if blk.kind == "input" else _bias(blk.neuron, blk.shape)
        if bias is not None:
            g.create_dataset("bias", data=bias)
        _neuron(g, blk.neuron, neuron_arrays)


def _write_h5(graph: Graph, blocks: list[Block], args: dict, target, neuron_arrays: bool) -> None:
    """Write the file into ``target`` (a path or an ``io.BytesIO``)."""
    import h5py     # the compiler env and the Lava env have it; the numpy core does not need it
    with h5py.File(target, "w") as f:
        f.attrs["generator"] = "snncc"
        f.attrs[INPUT_ATTR] = graph.input_names[0]
        if args:
            f.attrs[ARGS_ATTR] = json.dumps(args)
        root = f.create_group("layer")
        for i, blk in enumerate(blocks):
            _layer(root, i, blk, neuron_arrays, graph)


def _neuron_values(node) -> list:
    """What a neuron computes with, in comparable form (broadcast per neuron)."""
    from snncc.targets.loihi import fixedpoint as fx
    n = int(np.prod(node.shape))
    flat = lambda a: np.broadcast_to(np.asarray(a, np.int64).reshape(-1), (n,)).tolist()  # noqa: E731
    if isinstance(node, FxNeuron):
        return [flat(node.du), flat(node.dv), flat(node.vth),
                flat(fx.effective_bias(node.bias_mant, node.bias_exp)), flat(node.reset_mult),
                flat(node.reset_sub), getattr(node, "reset_interval", None),
                getattr(node, "reset_offset", None) if hasattr(node, "reset_interval") else None,
                node.floor, node.reset_delayed, node.bias_start]
    if isinstance(node, FxSigma):
        return []
    out = [flat(node.vth), int(node.spike_exp), int(node.state_exp), bool(node.cum_error)]
    if not isinstance(node, FxDelta):
        out += [flat(node.bias), node.act_mode]
    return out


def _same_network(ours: Graph, back: Graph, blocks: list[Block]) -> list[str]:
    """Blocks of ``ours`` that ``back`` (the written file, read as netx reads it) differs in."""
    from snncc.backends.sim.delays import delay_parts
    from snncc.targets.loihi import fixedpoint as fx
    bad = []
    for blk in blocks:
        if blk.neuron is None:
            continue
        name = blk.neuron.name
        if name not in back:
            bad.append(f"{name}: missing")
            continue
        a, b = blk.neuron, back.node(name)
        if type(a) is not type(b) or _neuron_values(a) != _neuron_values(b):
            bad.append(f"{name}: neuron")
        for syn_a, syn_b in ((blk.synapse, back.inputs_of(name)), (blk.rec, back.recurrent_inputs_of(name))):
            if syn_a is None:
                continue
            if len(syn_b) != 1:
                bad.append(f"{name}: synapses")
                continue
            syn_b = back.node(syn_b[0])
            if type(syn_a) is not type(syn_b):
                bad.append(f"{syn_a.name}: kind")
            elif syn_a.kind == "fx_conv":
                same = (np.array_equal(np.asarray(syn_a.weight) << syn_a.weight_exp,
                                       np.asarray(syn_b.weight) << syn_b.weight_exp)
                        and syn_a.stride == syn_b.stride and syn_a.padding == syn_b.padding
                        and syn_a.groups == syn_b.groups)
                bad += [] if same else [f"{syn_a.name}: kernel"]
            elif isinstance(syn_a, FxDelayDense):
                pa, pb = delay_parts(syn_a), delay_parts(syn_b)
                if len(pa) != len(pb) or any(
                        ka != kb or not equivalent(wa, syn_a.weight_exp, wb, syn_b.weight_exp)
                        for (ka, wa), (kb, wb) in zip(pa, pb)):
                    bad.append(f"{syn_a.name}: weights or delays")
            elif not equivalent(fx.lava_effective_weights(syn_a.weight), syn_a.weight_exp,
                                fx.lava_effective_weights(syn_b.weight), syn_b.weight_exp):
                bad.append(f"{syn_a.name}: weights")
    return bad


def write_netx(graph: Graph, path: str | os.PathLike, neuron_arrays: bool = False) -> Path:
    """Write ``graph`` as a netx HDF5 file, atomically; raise SnnccError listing the problems.

    The file is read back with snncc's netx reader (a mirror of lava-dl's loader) before it
    replaces anything: a file netx would load differently is never left behind.
    """
    from .netx_model import NetxOptions
    from .netx_read import read_netx
    p = plan(graph, neuron_arrays)
    if p.problems:
        raise SnnccError("the network cannot be written as a lava-dl netx file: "
                         + "; ".join(p.problems),
                         "compile with the netx preset (`snncc compile --netx`, or "
                         "compile_model(..., config=netx_config())) and use per-layer neuron "
                         "parameters, zero resets and no recurrence other than a dense "
                         "layer's own")
    import tempfile
    path = Path(path)
    # built in memory (HDF5 never sees a full disk), read back, then written atomically
    data = hdf5_bytes(lambda buf: _write_h5(graph, p.blocks, p.args, buf, neuron_arrays))
    with tempfile.TemporaryDirectory(prefix="snncc-netx-check-") as tmp:
        check = Path(tmp) / NETX_FILE
        check.write_bytes(data)
        bad = _same_network(graph, read_netx(check, NetxOptions(**p.args)), p.blocks)
    if bad:
        raise SnnccError("internal check failed: the netx file written would load as a "
                         f"different network ({', '.join(bad[:4])})",
                         "report this; compile without netx meanwhile")
    return write_bytes(path, data, "hdf5", force=True)


def netx_load_hint(graph: Graph) -> str:
    """How lava-dl must load the file written for ``graph`` (its Network arguments)."""
    args = plan(graph).args
    extra = "".join(f", {k}={v}" for k, v in sorted(args.items()))
    return f"netx.hdf5.Network(net_config='network.net'{extra})"
