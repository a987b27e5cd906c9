"""lava-dl netx HDF5 files as a model input: the fixed-point network exactly as lava-dl 0.6.0's
``netx.hdf5.Network`` builds it, as snncc's fixed-point IR (no requantization).

The reading mirrors ``lava/lib/dl/netx/hdf5.py`` (``Network._create``, ``create_input``,
``create_dense``, ``create_conv``, ``get_neuron_params``), ``netx/blocks/process.py`` (bias
broadcasting) and ``netx/utils.py`` (``NetDict`` reads ``weight``, ``weight_rec`` and
``bias`` with ``.astype(int)``; ``optimize_weight_bits``), layer by layer:

==================  ========================================================================
``input``           an ``Input`` node; with a ``neuron`` group also netx's input neuron, fed
                    directly (no synapse; its a_in takes integer input; no bias: netx keeps
                    the layer's ``weight``/``bias`` as an unused ``transform``)
``conv``            ``FxConv`` (PyTorch layout, stride/padding in (H, W), dilation 1) + neuron
``dense``           ``FxDense`` with the weights and exponent netx and Lava's Dense end up
                    with; with ``delay``: ``FxDelayDense`` (Lava's DelayDense)
``dense_rec``       ``FxDense`` + a recurrent ``FxDense`` (one joint weight scaling)
``flatten``         nothing: snncc's synapses read (C, H, W) tensors in netx's flatten order
CUBA / LOIHI        ``FxNeuron`` (``du = iDecay - 1``, ``dv = vDecay``, ``vth = vThMant``,
                    ``bias_mant = bias``, ``bias_exp = 6``); ``FxLIFReset`` with a reset interval
SDNN                ``FxDelta`` (input layer), ``FxSigma`` (``sigma_output``), ``FxSigmaDelta``
==================  ========================================================================

What netx itself cannot load (``pool``, ``average``, ``concat``, ``convT``, ``unpool``) or
loads differently from the file's meaning is refused by name.  :class:`NetxOptions` are
``Network``'s own keyword arguments that change the meaning of a file (``num_layers``,
``reset_interval``, ...).  Reading needs numpy and h5py only (no torch, no lava): it also
runs in the Lava env, where the harness names lava-dl's blocks with the same names.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import numpy as np

from snncc.errors import SnnccError
from snncc.ir import (FxConv, FxDelayDense, FxDelta, FxDense, FxLIFReset, FxNeuron, FxSigma,
                      FxSigmaDelta, Graph, Input, Output)
from snncc.ir.check import MAX_VALUES
from snncc.ir.delays import MAX_DELAY

from .netx_model import NetxOptions

NETX_BIAS_EXP = 6
NAME_ATTR = "snncc_name"
INPUT_ATTR = "snncc_input"       # written by snncc: its input node's name
ARGS_ATTR = "snncc_netx_args"    # written by snncc: the Network arguments the file needs
REFUSED = {"pool", "average", "concat", "convT", "unpool"}
DEFAULT_NEURON = {"type": "CUBA", "iDecay": 0, "vDecay": 4096, "vThMant": 1 << 18 - 1}


class _Layer:
    """One ``layer/<i>`` group with NetDict's reading rules (no h5py quirks leak out)."""

    def __init__(self, group, index: int, path: Path) -> None:
        self.g, self.i, self.path = group, index, path
        self.type = self.text("type")

    def fail(self, what: str) -> SnnccError:
        return SnnccError(f"{self.path}: netx layer {self.i} ({self.type}): {what}",
                          "re-export the network with lava-dl (slayer's export_hdf5)")

    def has(self, key: str) -> bool:
        return key in self.g

    def text(self, key: str, group=None) -> str:
        value = (group if group is not None else self.g)[key][()]
        value = value.reshape(-1)[0] if isinstance(value, np.ndarray) else value
        return value.decode("ascii") if isinstance(value, bytes) else str(value)

    def array(self, key: str, group=None) -> np.ndarray:
        return np.asarray((group if group is not None else self.g)[key][()])

    def ints(self, key: str) -> np.ndarray:        # NetDict's copy_keys: .astype(int)
        a = self.array(key)
        if not np.all(np.isfinite(a)):
            raise self.fail(f"{key} holds non-finite values")
        return a.astype(np.int64)

    def scalar(self, key: str, group=None) -> int:
        a = self.array(key, group).reshape(-1)
        if a.size != 1:
            raise self.fail(f"{key} must be one value, got {a.size}")
        return int(a[0])

    def pair(self, key: str, default: int) -> tuple[int, int]:
        """netx's ``expand``: a scalar for both axes, else (H, W) as stored."""
        if not self.has(key):
            return default, default
        a = self.array(key).reshape(-1).astype(np.int64)
        if a.size == 1:
            return int(a[0]), int(a[0])
        if a.size != 2:
            raise self.fail(f"{key} must have 1 or 2 values")
        return int(a[0]), int(a[1])

    def neuron(self) -> dict:
        if not self.has("neuron"):
            return dict(DEFAULT_NEURON)
        grp = self.g["neuron"]
        out = {"type": self.text("type", grp)}
        for key in grp:
            if key != "type":
                out[key] = self.array(key, grp) if key != "activation" else self.text(key, grp)
        return out


def _chw(shape) -> tuple[int, ...]:
    shape = tuple(int(s) for s in np.asarray(shape).reshape(-1))
    if any(s < 1 for s in shape):
        raise ValueError(f"non-positive size in shape {shape}")
    return shape


class _Reader:
    """State while walking the layers in netx's order (see :func:`read_netx`)."""

    def __init__(self, path: Path, opts: NetxOptions) -> None:
        self.path, self.opts = path, opts
        self.graph = Graph({"source": "netx", "netx": {"file": path.name,
                                                       "options": dataclasses.asdict(opts),
                                                       "notes": [], "blocks": []}})
        self.prev: Optional[str] = None           # the spiking node feeding the next block
        self.prev_shape: Optional[tuple[int, ...]] = None
        self.flatten_next = False
        self.graded_in = opts.input_message_bits > 0   # the data feeding the next synapse
        self.block = 0                            # netx's reset offset counts created blocks
        self.input_name = "input"
        self.neurons = 0

    # helpers ---------------------------------------------------------------------------
    def note(self, text: str) -> None:
        if text not in self.graph.meta["netx"]["notes"]:
            self.graph.meta["netx"]["notes"].append(text)

    def source(self, shape: tuple[int, ...]) -> str:
        """The node feeding a new block: the previous block, else the graph input."""
        if self.prev is None:
            self.graph.add(Input(self.input_name, shape=shape))
            self.graph.meta["graded_input"] = bool(self.graded_in)
            self.prev, self.prev_shape = self.input_name, shape
        return self.prev

    def name(self, layer: _Layer, base: str) -> str:
        given = layer.g.attrs.get(NAME_ATTR)
        name = given.decode() if isinstance(given, bytes) else str(given) if given is not None \
            else f"{base}{layer.i}"
        return name if name not in self.graph else f"{name}_{layer.i}"

    # neurons ---------------------------------------------------------------------------
    def neuron(self, layer: _Layer, cfg: dict, name: str, shape: tuple[int, ...],
               bias: Optional[np.ndarray], is_input: bool = False):
        n = int(np.prod(shape))
        self.neurons += n
        if self.neurons > MAX_VALUES:
            raise layer.fail(f"the file declares over {MAX_VALUES} neurons")
        kind = cfg["type"]

        def per_neuron(value, what):
            a = np.asarray(value).astype(np.int64).reshape(-1)
            if a.size not in (1, n):
                raise layer.fail(f"{what} has {a.size} values for {n} neurons")
            return np.broadcast_to(a, (n,)).copy()

        if kind in ("LOIHI", "CUBA"):
            if "refDelay" in cfg and int(np.max(cfg["refDelay"])) > 1:
                self.note("refDelay > 1 is ignored, as lava-dl netx ignores it (Lava's LIF "
                          "has no refractory period)")
            zeros = np.zeros(n, np.int64)
            args = dict(shape=shape, du=per_neuron(np.asarray(cfg["iDecay"]) - 1, "iDecay"),
                        dv=per_neuron(cfg["vDecay"], "vDecay"),
                        vth=per_neuron(cfg["vThMant"], "vThMant"),
                        bias_mant=zeros if bias is None else per_neuron(bias, "bias"),
                        bias_exp=np.full(n, NETX_BIAS_EXP, np.int64), reset_mult=zeros.copy(),
                        reset_sub=zeros.copy())
            if self.opts.reset_interval is None:
                return FxNeuron(name, **args), False
            offset = self.opts.reset_offset + 1 + self.block
            return FxLIFReset(name, reset_interval=self.opts.reset_interval,
                              reset_offset=offset, **args), False
        if kind == "SDNN":
            if self.opts.reset_interval is not None:
                self.note("reset_interval is ignored for SDNN layers, as lava-dl netx ignores it")
            if cfg.get("activation", "relu") != "relu":
                self.note(f"layer {layer.i}: activation {cfg['activation']!r} is read as ReLU, "
                          "as lava-dl netx builds every SigmaDelta with ReLU")
            exps = dict(spike_exp=self.opts.spike_exp, state_exp=6)
            if is_input:
                return FxDelta(name, shape=shape, vth=np.asarray(cfg["vThMant"], np.int64)
                               .reshape(-1), **exps), True
            if "sigma_output" in cfg:
                return FxSigma(name, shape=shape), True
            return FxSigmaDelta(name, shape=shape, vth=np.asarray(cfg["vThMant"], np.int64)
                                .reshape(-1), bias=np.zeros(1, np.int64) if bias is None
                                else per_neuron(bias, "bias"), **exps), True
        if "RF" in kind:
            raise layer.fail(f"neuron type {kind!r} (resonate-and-fire) is not read by snncc "
                             "(see docs/netx.md)")
        raise layer.fail(f"neuron type {kind!r} is not one lava-dl netx builds")

    def add_block(self, layer: _Layer, name: str, synapses: list, neuron_cfg: dict,
                  shape: tuple[int, ...], bias, rec=None) -> None:
        skip = layer.i < self.opts.skip_layers
        if skip:                  # netx: built but not kept; its shape becomes the input's
            self.prev, self.prev_shape = None, shape
            self.graded_in = neuron_cfg["type"] == "SDNN"
            return
        node, graded = self.neuron(layer, neuron_cfg, name, shape, bias)
        for syn, src in synapses:
            self.graph.add(syn, [src])
        self.graph.add(node, [s.name for s, _ in synapses])
        if rec is not None:
            self.graph.add(rec, [name])
            self.graph.add_recurrent(rec.name, name)
        self.graph.meta["netx"]["blocks"].append(name)
        self.prev, self.prev_shape, self.graded_in = name, shape, graded
        self.block += 1

    # layers ----------------------------------------------------------------------------
    def input(self, layer: _Layer) -> None:
        shape = _chw(layer.array("shape"))
        if not layer.has("neuron"):
            self.prev, self.prev_shape = None, shape
            return
        if layer.has("weight") or layer.has("bias"):
            self.note("the input layer's weight/bias are not applied, as in lava-dl netx "
                      "(a stored transform)")
        cfg = layer.neuron()
        if layer.i < self.opts.skip_layers:
            self.prev, self.prev_shape = None, shape
            self.graded_in = cfg["type"] == "SDNN"
            return
        self.graded_in = True                    # the input neuron's a_in takes integers
        src = self.source(shape)
        node, graded = self.neuron(layer, cfg, self.name(layer, "input"), shape, None, True)
        self.graph.add(node, [src])
        self.graph.meta["netx"]["blocks"].append(node.name)
        self.prev, self.prev_shape, self.graded_in = node.name, shape, graded
        self.block += 1

    def conv(self, layer: _Layer) -> None:
        if self.prev_shape is None or len(self.prev_shape) != 3:
            raise layer.fail("a conv layer needs a (C, H, W) input before it")
        if layer.pair("dilation", 1) != (1, 1):
            raise layer.fail("dilated convolution (snncc's Conv synapse has no dilation)")
        weight = layer.ints("weight")
        if weight.ndim < 4 or any(s != 1 for s in weight.shape[4:]):
            raise layer.fail(f"conv weight of shape {weight.shape}")
        weight = weight.reshape(weight.shape[:4])
        shape = _chw(layer.array("shape"))
        name = self.name(layer, "conv")
        in_shape = self.prev_shape
        src = self.source(in_shape)
        groups = layer.scalar("groups") if layer.has("groups") else 1
        syn = FxConv(f"{name}_syn", weight=weight, stride=layer.pair("stride", 1),
                     padding=layer.pair("padding", 0), groups=groups, in_shape=in_shape)
        if syn.out_shape != shape or in_shape[0] != weight.shape[1] * groups:
            raise layer.fail(f"conv of {weight.shape} on {in_shape} gives {syn.out_shape}, "
                             f"the file says {shape}")
        bias = None
        if layer.has("bias"):
            b = layer.ints("bias")
            if b.size == shape[0] and b.ndim <= 1:
                bias = np.repeat(b.reshape(-1), shape[1] * shape[2])
            elif tuple(b.shape) == shape[::-1]:        # netx: per neuron, Lava's (W, H, C)
                bias = b.transpose(2, 1, 0).reshape(-1)
            else:
                raise layer.fail(f"bias of shape {b.shape} for a {shape} layer")
        self.add_block(layer, name, [(syn, src)], layer.neuron(), shape, bias)

    def dense(self, layer: _Layer, recurrent: bool) -> None:
        from .netx import lava_dense_weights, netx_optimize
        shape = (int(np.prod(_chw(layer.array("shape")))),)
        weight = layer.ints("weight")
        if weight.ndim == 1:
            weight = weight.reshape(shape[0], -1)
        if weight.ndim != 2 or weight.shape[0] != shape[0]:
            raise layer.fail(f"weight of shape {weight.shape} for {shape[0]} neurons")
        if self.prev_shape is not None and len(self.prev_shape) == 3 and not self.flatten_next \
                and self.prev is not None:
            raise layer.fail("a dense layer after a (C, H, W) layer needs a flatten layer "
                             "(netx connects them only through one)")
        self.flatten_next = False
        in_shape = self.prev_shape if self.prev_shape is not None else (weight.shape[1],)
        if int(np.prod(in_shape)) != weight.shape[1]:
            raise layer.fail(f"weight of {weight.shape[1]} inputs after a layer of {in_shape}")
        w_rec = None
        if recurrent:
            w_rec = layer.ints("weight_rec")
            w_rec = w_rec.reshape(shape[0], -1) if w_rec.ndim == 1 else w_rec
            if w_rec.shape != (shape[0], shape[0]):
                raise layer.fail(f"weight_rec of shape {w_rec.shape}")
        opt = netx_optimize(weight if w_rec is None else np.hstack((weight, w_rec)))
        if opt is None:
            raise layer.fail("weights lava-dl netx cannot load (all zero, or beyond 8 bits)")
        scaled, bits, exp = opt
        delay = self.delays(layer, weight.shape) if layer.has("delay") else None
        if recurrent and delay is not None:
            exp = 0      # netx builds the recurrent DelayDense pair without weight_exp
        name = self.name(layer, "dense")
        src = self.source(in_shape)
        w_in = lava_dense_weights(scaled[:, :weight.shape[1]], bits)
        if delay is None:
            syn = FxDense(f"{name}_syn", weight=w_in, weight_exp=exp)
        else:
            syn = FxDelayDense(f"{name}_syn", weight=w_in, delay=delay, weight_exp=exp)
        rec = None
        if w_rec is not None:
            w_r = lava_dense_weights(scaled[:, weight.shape[1]:], bits)
            rec = (FxDense(f"{name}_rec", weight=w_r, weight_exp=exp) if delay is None else
                   FxDelayDense(f"{name}_rec", weight=w_r, delay=delay, weight_exp=exp))
        bias = layer.ints("bias") if layer.has("bias") else None
        self.add_block(layer, name, [(syn, src)], layer.neuron(), shape, bias, rec)

    def delays(self, layer: _Layer, shape: tuple[int, int]) -> np.ndarray:
        d = layer.array("delay")
        if not np.all(np.isfinite(d)):
            raise layer.fail("delay holds non-finite values")
        if d.size and d.max() > MAX_DELAY:
            self.note(f"layer {layer.i}: delays over {MAX_DELAY} are clamped to {MAX_DELAY}, as "
                      "lava-dl netx clamps them")
            d = np.clip(d, 0, MAX_DELAY)
        d = d.astype(np.int64)
        if d.size and d.min() < 0:
            raise layer.fail("negative delays")
        if d.ndim == 0:
            d = np.full(shape, int(d))
        elif d.ndim == 1 and d.size == shape[0]:      # per output neuron (netx checks it first)
            d = np.repeat(d.reshape(-1, 1), shape[1], axis=1)
        elif d.ndim == 1 and d.size == shape[1]:      # per input
            d = np.repeat(d.reshape(1, -1), shape[0], axis=0)
        if d.shape != tuple(shape):
            raise layer.fail(f"delays of shape {d.shape} for weights of shape {shape}")
        return d

    def read(self, f) -> Graph:
        import h5py
        if not isinstance(f.get("layer", getlink=True), h5py.HardLink) or \
                not isinstance(f["layer"], h5py.Group):      # absent, a dataset, a link
            raise SnnccError(f"{self.path} is an HDF5 file but not a lava-dl netx network "
                             "(no 'layer' group)",
                             "pass a netx .net file, a .nir file or a torch model")
        given = f.attrs.get(INPUT_ATTR)
        if given is not None:
            self.input_name = given.decode() if isinstance(given, bytes) else str(given)
        groups = f["layer"]
        count = len(groups)
        if sorted(groups, key=lambda k: int(k) if k.isdigit() else -1) != \
                [str(i) for i in range(count)]:
            raise SnnccError(f"{self.path}: netx layers must be named 0..{count - 1}",
                             "re-export the network with lava-dl")
        if self.opts.num_layers is not None:
            count = min(count, self.opts.num_layers)
        for i in range(count):
            if not isinstance(groups[str(i)], h5py.Group):
                raise SnnccError(f"{self.path}: netx layer {i} is not an HDF5 group",
                                 "re-export the network with lava-dl (slayer's export_hdf5)")
            layer = _Layer(groups[str(i)], i, self.path)
            try:
                self.layer(layer)
            except SnnccError:
                raise
            except (KeyError, ValueError, TypeError, IndexError, OverflowError) as exc:
                raise layer.fail(f"malformed ({type(exc).__name__}: {str(exc)[:100]})") from None
        if not self.graph.meta["netx"]["blocks"]:
            raise SnnccError(f"{self.path}: no netx blocks to read",
                             "check the file and --netx-arg num_layers/skip_layers")
        self.graph.add(Output("output"), [self.prev])
        return self.graph

    def layer(self, layer: _Layer) -> None:
        kind = layer.type
        if kind in REFUSED:
            more = (f" (lava-dl's own tests read this file with num_layers={layer.i}: "
                    f"pass --netx-arg num_layers={layer.i})") if layer.i else ""
            raise layer.fail(f"'{kind}' layers are not loaded by lava-dl netx 0.6.0 either, so "
                             f"no reference defines them{more}")
        if kind == "input":
            self.input(layer)
        elif kind == "conv":
            self.conv(layer)
        elif kind == "flatten":
            self.flatten_next = True
        elif kind in ("dense", "dense_rec"):
            if layer.has("weight/imag"):
                raise layer.fail("complex (resonate-and-fire) dense layers are not read by "
                                 "snncc (see docs/netx.md)")
            self.dense(layer, kind == "dense_rec")
        else:
            raise layer.fail(f"layer type {kind!r} is not one lava-dl netx reads")


def _options_in(f, path: Path) -> NetxOptions:
    """The netx Network arguments an open file written by snncc says it needs."""
    import json
    raw = f.attrs.get(ARGS_ATTR)
    if raw is None:
        return NetxOptions()
    try:
        values = json.loads(raw)
        return NetxOptions.parse([f"{k}={v}" for k, v in dict(values).items()])
    except (ValueError, TypeError, AttributeError):
        raise SnnccError(f"{path}: malformed attribute {ARGS_ATTR}", "re-export the network") from None


def file_options(path: str | Path) -> NetxOptions:
    """The netx Network arguments a file written by snncc says it needs (``snncc_netx_args``),
    else lava-dl's defaults.  The file is checked as hostile input first."""
    from snncc.hdf5_safety import open_checked
    with open_checked(path) as f:
        return _options_in(f, Path(path))


def read_netx(path: str | Path, options: Optional[NetxOptions] = None) -> Graph:
    """Read a netx HDF5 file into snncc's fixed-point IR (see the module docstring).

    ``options``: lava-dl's Network arguments (None: what the file says it needs, see
    :func:`file_options`, else lava-dl's defaults).  The file is checked with
    :func:`snncc.hdf5_safety.open_checked` before any dataset is read, and read from the same
    handle.  Raises :class:`SnnccError` naming the layer for anything netx would not build
    the same way; ``graph.meta["netx"]`` holds the options, notes and block names.
    """
    from snncc.hdf5_safety import open_checked
    path = Path(path)
    with open_checked(path) as f:
        opts = options if options is not None else _options_in(f, path)
        graph = _Reader(path, opts).read(f)
    graph.shapes()
    return graph
