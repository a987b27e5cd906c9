"""The producers of the NIR conformance suite (bench/nir_conformance.py): each builder makes a
small network in one tool, and returns how to export it with *that tool's own* NIR exporter
and how to simulate it with *that tool* (the oracle snncc's reading must reproduce).

A builder returns ``(write(path), simulate(x (T, B, *in_shape)) -> (T, B, n_out), in_shape,
readout)``: ``in_shape`` an int or a tuple; ``readout`` True when the network ends in a
non-spiking readout (NIR LI), whose membrane (float) the simulation returns, else spikes.  Versions: those of snncc's test extra (snnTorch 1.0.0, SpikingJelly 2.0.0, Norse
1.1.0, Rockpool 3.1.0, nirtorch 2.6, nir 1.0.8).
"""
from __future__ import annotations

import numpy as np

T, B = 40, 8                    # steps and samples of every case's stimulus

def _scale(net, k):
    import torch
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
                m.weight.mul_(k)


# -- snnTorch 1.0.0 --------------------------------------------------------------------------
def from_snntorch(kind: str):
    def build():
        import nir
        import snntorch as snn
        import torch
        from snntorch.export_nir import export_to_nir
        torch.manual_seed(0)
        n = 12
        kw = dict(threshold=torch.ones(n), init_hidden=True, reset_mechanism="subtract")
        beta = torch.rand(n) * 0.5 + 0.4
        layer = {"Leaky": lambda: snn.Leaky(beta=beta, **kw),
                 "Synaptic": lambda: snn.Synaptic(alpha=torch.rand(n) * 0.5 + 0.3, beta=beta, **kw),
                 "RLeaky": lambda: snn.RLeaky(beta=beta, linear_features=n, **kw),
                 "RSynaptic": lambda: snn.RSynaptic(alpha=torch.rand(n) * 0.5 + 0.3, beta=beta,
                                                    linear_features=n, **kw)}[kind]()
        net = torch.nn.Sequential(torch.nn.Linear(6, n), layer, torch.nn.Linear(n, 4),
                                  snn.Leaky(beta=torch.full((4,), 0.8), threshold=torch.ones(4),
                                            init_hidden=True, output=True,
                                            reset_mechanism="subtract"))
        _scale(net, 3.0)

        def write(path):
            nir.write(path, export_to_nir(net, torch.zeros(6)))

        def simulate(x):
            for m in net.modules():
                if isinstance(m, snn.SpikingNeuron):
                    m.reset_mem()
            with torch.no_grad():
                outs = [net(torch.from_numpy(x[t])) for t in range(len(x))]
            return np.stack([(o[0] if isinstance(o, tuple) else o).numpy() for o in outs])
        return write, simulate, 6, False
    return build


# -- SpikingJelly 2.0.0 ----------------------------------------------------------------------
def from_spikingjelly(kind: str):
    def build():
        import torch
        from spikingjelly.activation_based import functional, neuron
        from spikingjelly.activation_based.nir_exchange import export_to_nir
        torch.manual_seed(0)
        make = {"IFNode": lambda: neuron.IFNode(v_reset=0.0),
                "LIFNode": lambda: neuron.LIFNode(tau=3.0, v_reset=0.0),
                "LIFNode(decay_input=False)": lambda: neuron.LIFNode(tau=3.0, decay_input=False,
                                                                     v_reset=0.0),
                "CUBALIFNode": lambda: neuron.CUBALIFNode(c_decay=0.5, v_decay=0.75, v_reset=0.0)}[kind]
        net = torch.nn.Sequential(torch.nn.Linear(6, 12), make(), torch.nn.Linear(12, 4), make())
        _scale(net, 12.0 if kind == "LIFNode" else 2.0)       # decay_input divides by tau

        def write(path):
            export_to_nir(net, torch.zeros(1, 6), save_path=path)

        def simulate(x):
            functional.reset_net(net)
            with torch.no_grad():
                return np.stack([net(torch.from_numpy(x[t])).numpy() for t in range(len(x))])
        return write, simulate, 6, False
    return build


# -- Norse 1.1.0 -----------------------------------------------------------------------------
def from_norse(kind: str):
    """``SequentialState(Linear, cell, Linear, cell)``; "LIBoxCell": a LIFBoxCell layer read
    out by a LIBoxCell (Norse 1.1.0 exports no LICell)."""
    def build():
        import nir
        import norse.torch as norse
        import torch
        torch.manual_seed(0)
        cell = {"LIFBoxCell": norse.LIFBoxCell, "LIFCell": norse.LIFCell,
                "IAFCell": norse.IAFCell, "LIBoxCell": norse.LIFBoxCell}[kind]
        last = norse.LIBoxCell if kind == "LIBoxCell" else cell
        model = norse.SequentialState(torch.nn.Linear(6, 12), cell(), torch.nn.Linear(12, 4),
                                      last())
        _scale(model, {"LIFBoxCell": 60.0, "LIFCell": 8.0, "IAFCell": 1.5, "LIBoxCell": 60.0}[kind])

        def write(path):
            # its layers hold 0-d parameters, which nir.write's default gzip cannot store
            nir.write(path, norse.to_nir(model, torch.zeros(1, 6)), compression=None)

        def simulate(x):
            state, outs = None, []
            with torch.no_grad():
                for t in range(len(x)):
                    y, state = model(torch.from_numpy(x[t]), state)
                    outs.append(y.numpy())
            return np.stack(outs)
        return write, simulate, 6, kind == "LIBoxCell"
    return build


# -- Rockpool 3.1.0 --------------------------------------------------------------------------
def from_rockpool(kind: str, max_spikes=1):
    """``Sequential(LinearTorch, <kind>, LinearTorch, LIFTorch)`` at dt = 1 ms, every spiking
    module built with ``max_spikes_per_dt=max_spikes`` (None: Rockpool's default, 65536),
    per-neuron time constants and thresholds, exported with ``rockpool...nir.to_nir``."""
    def build():
        import nir
        import torch
        from rockpool.nn.combinators import Sequential
        from rockpool.nn.modules import ExpSynTorch, LIFNeuronTorch, LIFTorch, LinearTorch
        from rockpool.nn.modules.torch.nir import to_nir
        torch.manual_seed(0)
        n, dt = 12, 1e-3
        one = dict(dt=dt) if max_spikes is None else dict(dt=dt, max_spikes_per_dt=max_spikes)
        taus = lambda lo, span: torch.rand(n) * span + lo
        first = {"LIFTorch": lambda: LIFTorch(n, tau_mem=taus(5e-3, 3e-2),
                                              tau_syn=taus(3e-3, 2e-2),
                                              threshold=torch.rand(n) + 0.5, **one),
                 "LIFNeuronTorch": lambda: LIFNeuronTorch(n, tau_mem=taus(5e-3, 3e-2),
                                                          threshold=torch.rand(n) + 0.5, **one)}
        layer = first[kind.split("+")[0]]()
        readout = kind.endswith("+ExpSynTorch")
        last = (ExpSynTorch(4, tau=torch.tensor([0.005, 0.01, 0.02, 0.05]), dt=dt) if readout
                else LIFTorch(4, tau_mem=0.02, tau_syn=0.01, **one))
        net = Sequential(LinearTorch((6, n), has_bias=kind.endswith("+bias")), layer,
                         LinearTorch((n, 4)), last)
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, LinearTorch):
                    m.weight.mul_(2.0 if max_spikes == 1 else 4.0)

        def write(path):
            graph = to_nir(net)
            for node in graph.nodes.values():
                # Rockpool 3.1.0 writes ExpSynTorch's tau as a torch Parameter, which
                # nir.write cannot store (it requires grad): a user detaches it, as here
                for k, v in vars(node).items():
                    if isinstance(v, torch.Tensor):
                        setattr(node, k, v.detach().numpy())
            nir.write(path, graph)

        def simulate(x):
            net.reset_state()
            with torch.no_grad():
                y, _, _ = net(torch.from_numpy(np.ascontiguousarray(x.swapaxes(0, 1))))
            return y.numpy().swapaxes(0, 1)
        return write, simulate, 6, readout
    return build


# -- nirtorch 2.6: a plain torch model, its spiking modules mapped by the user ---------------
def from_nirtorch(kind: str):
    """The NIR docs' recipe (neuroir.org, "dev_pytorch"): a user's own single-step neuron
    modules (forward Euler of NIR's LIF / CubaLIF ODE at dt = 1 ms, r = w_in = 1, reset to
    v_reset, strict ``>``) in an ``nn.Sequential`` with ``nn.Linear`` layers, exported by
    ``nirtorch.torch_to_nir`` with a map from the user's classes to NIR nodes."""
    def build():
        import nir
        import nirtorch
        import torch
        dt = 1e-3

        class EulerLIF(torch.nn.Module):
            """tau dv/dt = -v + r*x (+ tau_syn di/dt = -i + w_in*x with a current)."""

            def __init__(self, n, cuba):
                super().__init__()
                self.tau_mem = torch.rand(n) * 0.02 + 0.004
                self.tau_syn = torch.rand(n) * 0.01 + 0.003 if cuba else None
                self.thr = torch.rand(n) * 0.2 + 0.1
                self.v = self.i = None

            def forward(self, x):
                if self.v is None:
                    self.v, self.i = torch.zeros_like(x), torch.zeros_like(x)
                if self.tau_syn is not None:
                    self.i = self.i + dt / self.tau_syn * (-self.i + x)
                    x = self.i
                self.v = self.v + dt / self.tau_mem * (-self.v + x)
                z = (self.v > self.thr).float()
                self.v = self.v * (1 - z)
                return z

        torch.manual_seed(0)
        cuba = kind == "CubaLIF"
        net = torch.nn.Sequential(torch.nn.Linear(6, 12), EulerLIF(12, cuba),
                                  torch.nn.Linear(12, 4), EulerLIF(4, cuba))
        _scale(net, 3.0)
        ones = lambda m: np.ones(len(m.thr), np.float32)
        f32 = lambda t: t.numpy().astype(np.float32)

        def to_node(m):
            if m.tau_syn is None:
                return nir.LIF(tau=f32(m.tau_mem), r=ones(m), v_leak=0 * ones(m),
                               v_threshold=f32(m.thr), v_reset=0 * ones(m))
            return nir.CubaLIF(tau_syn=f32(m.tau_syn), tau_mem=f32(m.tau_mem), r=ones(m),
                               v_leak=0 * ones(m), v_threshold=f32(m.thr), w_in=ones(m),
                               v_reset=0 * ones(m))

        def write(path):
            nir.write(path, nirtorch.torch_to_nir(net, {EulerLIF: to_node}))

        def simulate(x):
            for m in net:
                if isinstance(m, EulerLIF):
                    m.v = m.i = None
            with torch.no_grad():
                return np.stack([net(torch.from_numpy(x[t])).numpy() for t in range(len(x))])
        return write, simulate, 6, False
    return build


# -- Sinabs 3.1.3 ----------------------------------------------------------------------------
def from_sinabs(kind: str, multi: bool = False):
    """Sinabs layers built with ``spike_fn=SingleSpike`` (``multi``: its default MultiSpike,
    ``floor(v/thr)`` spikes per step) and the default subtractive reset; exported with
    ``sinabs.to_nir``.  ``kind``:
    "IAF" (Linear, IAF), "LIF" (Linear, LIF with norm_input=True, IAF), "readout" (Linear, IAF,
    Linear, ExpLeak: a leaky-integrator readout), "CNN" (the NIR
    paper's kind: Conv2d, IAF, SumPool2d, Conv2d, IAF, Flatten, Linear, IAF on 2x8x8 spikes)."""
    def build():
        import nir
        import sinabs
        import sinabs.layers as sl
        import torch
        from sinabs.activation import MultiSpike, SingleSpike
        torch.manual_seed(0)
        fn = MultiSpike if multi else SingleSpike
        iaf = lambda: sl.IAFSqueeze(batch_size=B, spike_fn=fn)
        if kind == "CNN":
            shape = (2, 8, 8)
            net = torch.nn.Sequential(
                torch.nn.Conv2d(2, 4, 3, padding=1, bias=False), iaf(), sl.SumPool2d(2),
                torch.nn.Conv2d(4, 4, 3, bias=False), iaf(), torch.nn.Flatten(),
                torch.nn.Linear(16, 4, bias=False), iaf())
            _scale(net, 3.0)
        else:
            shape = (6,)
            # per-neuron taus need per-neuron thresholds: nir 1.0.8 wants equal shapes
            first = iaf() if kind in ("IAF", "readout") else sl.LIFSqueeze(
                tau_mem=torch.rand(12) * 20 + 5, spike_threshold=torch.ones(12),
                batch_size=B, spike_fn=fn)
            last = (sl.ExpLeakSqueeze(tau_mem=torch.tensor([2.0, 5.0, 10.0, 20.0]),
                                      batch_size=B) if kind == "readout" else iaf())
            net = torch.nn.Sequential(torch.nn.Linear(6, 12), first, torch.nn.Linear(12, 4),
                                      last)
            _scale(net, (1.5 if kind in ("IAF", "readout") else 6.0) * (2.0 if multi else 1.0))

        def write(path):
            sample = torch.zeros((B,) + shape)
            with torch.no_grad():
                graph = sinabs.to_nir(net, sample)
                # Sinabs 3.1.3 is written for nir <= 1.0.4: it leaves Conv2d.input_shape and
                # Flatten's input type None, which nir 1.0.8's writer cannot store; a user
                # fills them in from the layer's input, as here
                ins = {}

                def record(name):
                    def hook(module, args, out):
                        ins.setdefault(name, tuple(args[0].shape[1:]))
                    return hook
                hooks = [m.register_forward_hook(record(k)) for k, m in net.named_children()]
                net(sample)
                for h in hooks:
                    h.remove()
            for k, node in graph.nodes.items():
                if isinstance(node, nir.Conv2d) and node.input_shape is None:
                    node.input_shape = np.array(ins[k][1:])
                if isinstance(node, nir.Flatten) and (node.input_type or {}).get("input") is None:
                    node.input_type = {"input": np.array(ins[k])}
            nir.write(path, graph)

        def simulate(x):
            sinabs.reset_states(net)
            steps, batch = x.shape[:2]
            xb = torch.from_numpy(np.ascontiguousarray(x.swapaxes(0, 1)))
            with torch.no_grad():
                y = net(xb.reshape((batch * steps,) + shape))
            return y.reshape(batch, steps, -1).numpy().swapaxes(0, 1)
        return write, simulate, shape, kind == "readout"
    return build
