"""Fine-tuning through the exact arithmetic: the fake-quant forward is the simulator bit for
bit, gradients flow, the tuned model compiles to exactly the network it was tuned through,
and the CLI trains, checkpoints and resumes."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from snncc.compiler import compile_model
from snncc.errors import SnnccError
from snncc.finetune.fakequant import FakeQuant
from snncc.finetune.train import FinetuneConfig, finetune, tuned_from_model
from snncc.passes.float_sim import simulate_float
from snncc.report.runs import run_quantized

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deep_models as dm  # noqa: E402
from fidelity_helpers import mlp  # noqa: E402
from helpers import run_cli  # noqa: E402


def _mlp(neuron):
    return mlp(neuron, bias=0.1)


NETS = {
    "lif": (lambda: _mlp(lambda n: snn.LIF(n, beta=torch.rand(n) * 0.3 + 0.6)), (10,)),
    "cuba bias": (lambda: _mlp(lambda n: snn.CubaLIF(n, alpha=torch.rand(n), beta=0.9)), (10,)),
    "subtract (fine Dense)": (lambda: _mlp(lambda n: snn.LIF(n, beta=0.9, reset="subtract")), (10,)),
    "klif floor": (lambda: _mlp(lambda n: snn.KLIF(n, init_k=1.2)), (10,)),
    "recurrent": (lambda: dm.recurrent(grid=False), (12,)),
    "sew conv": (lambda: dm.sew(grid=False), (2, 8, 8)),
}


def _exact(net, x) -> bool:
    """Fake-quant spikes == the bit-accurate simulator's, every layer, step and sample."""
    fq = FakeQuant(net)
    fixed, report = fq.quantized()
    with torch.no_grad():
        fake = fq(torch.as_tensor(x, dtype=torch.float64), fixed, report, train=False)
        ste = fq(torch.as_tensor(x, dtype=torch.float64), fixed, report, train=True)
    sim = run_quantized(fixed, x).spikes
    return all(np.array_equal(sim[n], fake[n].numpy() > 0.5) and
               np.array_equal(sim[n], ste[n].numpy() > 0.5) for n in sim)


@pytest.mark.parametrize("name", NETS)
def test_fake_quant_forward_is_the_simulator_bit_for_bit(name):
    make, shape = NETS[name]
    net = tuned_from_model(make(), shape)
    x = dm.spikes(12, 8, shape, rate=0.4, seed=2)
    assert _exact(net, x)
    # after training steps the values move off the grid: still exact
    y = np.arange(8) % (4 if name != "sew conv" else 4)
    tuned, _ = finetune(net, x, y, FinetuneConfig(epochs=2, batch_size=4, lr=1e-2))
    assert _exact(tuned[0], x)
    c = compile_model(tuned, shape)
    fixed, _ = FakeQuant(tuned[0]).quantized()
    for node in c.fixed.nodes():          # the tuned model compiles to that very network
        assert all(np.array_equal(a, fixed.node(node.name).arrays()[k])
                   for k, a in node.arrays().items())


@pytest.mark.parametrize("name", ["lif", "recurrent", "sew conv"])
def test_tuned_network_float_forward_is_the_float_model(name):
    make, shape = NETS[name]
    model = make()
    net = tuned_from_model(model, shape)
    x = dm.spikes(10, 6, shape, rate=0.4, seed=3)
    graph = net.to_graph()
    ref = simulate_float(graph, x)
    out = net.run_layers(x, [n for n in ref if n != "output"])
    for n, s in out.items():
        assert np.array_equal(s, ref[n]), n
    c = compile_model(nn.Sequential(net))
    assert c.fixed.node(c.fixed.input_names[0]).shape == shape


def test_gradients_flow_through_every_trainable_class():
    net = tuned_from_model(NETS["cuba bias"][0](), (10,))
    x = torch.as_tensor(dm.spikes(12, 8, (10,), rate=0.5, seed=4), dtype=torch.float64)
    spikes = FakeQuant(net)(x)
    loss = spikes["3"].sum() + spikes["1"].sum()
    loss.backward()
    for key in ("0::weight", "0::bias", "1::threshold", "1::alpha", "1::beta", "2::weight"):
        g = net.tensors[key].grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, key


@pytest.fixture(scope="module")
def digits_task():
    pytest.importorskip("sklearn")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from examples import digits
    x_tr, y_tr, x_te, y_te = digits.load_digits_spikes(8, seed=0)
    model = digits.build_mlp(hidden=32, neuron="lif", seed=0)
    digits.train(model, x_tr[:600], y_tr[:600], digits.TrainConfig(epochs=3, seed=0), log=None)
    return model, x_tr[:600], y_tr[:600], x_te[:200], y_te[:200]


def _quant_accuracy(model, x, y):
    c = compile_model(model, (64,))
    s = run_quantized(c.fixed, np.swapaxes(x, 0, 1)).spikes["3"]
    return float(np.mean(s.sum(axis=0).argmax(axis=1) == y))


def test_finetune_improves_the_quantized_training_loss_and_resumes(digits_task, tmp_path):
    model, x, y, _, _ = digits_task
    xs = np.swapaxes(x, 0, 1)
    cfg = FinetuneConfig(epochs=2, lr=2e-3, batch_size=100)
    direct, hist = finetune(model, xs, y, cfg)
    assert hist.loss[1] < hist.loss[0]
    ckpt = tmp_path / "run.ckpt"
    finetune(model, xs, y, FinetuneConfig(epochs=1, lr=2e-3, batch_size=100), checkpoint=ckpt)
    resumed, hist2 = finetune(model, xs, y, cfg, checkpoint=ckpt, resume=True)
    assert len(hist2.loss) == 2
    for key, p in direct[0].tensors.items():         # same data order, same result
        assert torch.equal(p, resumed[0].tensors[key]), key


def test_cli_finetune_compile_verify(digits_task, tmp_path, capsys, monkeypatch):
    model, x, y, x_te, y_te = digits_task
    torch.save(model, tmp_path / "model.pt")
    np.savez(tmp_path / "train.npz", x=x, y=y)
    np.savez(tmp_path / "test.npz", x=x_te, y=y_te)
    code, out, err = run_cli(capsys, monkeypatch, "finetune", tmp_path / "model.pt", "--data",
                             tmp_path / "train.npz", "-o", tmp_path / "tuned.pt", "--epochs", "2",
                             "--lr", "2e-3", "--optimizer", "adamw")
    assert code == 0, err
    assert (tmp_path / "tuned.pt").exists() and not (tmp_path / "tuned.pt.ckpt").exists()
    assert "fine-tuning" in out and "wrote" in out
    code, out, err = run_cli(capsys, monkeypatch, "compile", tmp_path / "tuned.pt", "-o",
                             tmp_path / "build")
    assert code == 0, err                           # loads without --trust
    code, out, err = run_cli(capsys, monkeypatch, "verify", tmp_path / "tuned.pt", "--data",
                             tmp_path / "test.npz")
    assert code == 0, err
    assert "output spike agreement" in out
    code, out, err = run_cli(capsys, monkeypatch, "finetune", tmp_path / "model.pt", "--data",
                             tmp_path / "train.npz", "-o", tmp_path / "tuned.pt")
    assert code == 2 and "exists" in err             # never overwritten
    code, out, err = run_cli(capsys, monkeypatch, "finetune", tmp_path / "model.pt", "--data",
                             tmp_path / "train.npz", "-o", tmp_path / "t2.pt", "--optimizer", "lbfgs2")
    assert code == 2 and "optimizer" in err and not (tmp_path / "t2.pt").exists()


def test_finetune_needs_labels():
    net = tuned_from_model(NETS["lif"][0](), (10,))
    with pytest.raises(SnnccError, match="labels"):
        finetune(net, dm.spikes(5, 4, (10,)), None)


def test_tuned_model_carries_the_settings_it_was_tuned_through(tmp_path):
    import dataclasses
    from snncc.compiler import declared_config
    from snncc.modelfile import load_model
    from snncc.targets.loihi.quantize import QuantConfig
    model = NETS["cuba bias"][0]()
    x = dm.spikes(12, 16, (10,), rate=0.4, seed=5)
    cfg = QuantConfig(scale_search="drift", bias_correction=True, bias="precise",
                      input_rates={"input": [0.4] * 10})
    tuned, _ = finetune(model, x, np.arange(16) % 4, FinetuneConfig(epochs=1, batch_size=8),
                        config=cfg)
    torch.save(tuned, tmp_path / "t.pt")
    loaded = load_model(tmp_path / "t.pt")
    assert declared_config(loaded) == dataclasses.replace(cfg)
    assert compile_model(loaded).quant.config.scale_search == "drift"
    assert _exact(loaded[0], x)


def test_cli_finetune_takes_a_class_spec_with_weights(digits_task, tmp_path, capsys, monkeypatch):
    """A state_dict and the script's factory (the load path compile uses) work for finetune."""
    model, x, y, _, _ = digits_task
    root = Path(__file__).resolve().parent.parent
    (tmp_path / "net.py").write_text(f"import sys\nsys.path.insert(0, {str(root)!r})\n"
                                     "from examples import digits\n\n\n"
                                     "def make(hidden):\n"
                                     "    return digits.build_mlp(hidden=hidden, neuron='lif')\n")
    torch.save(model.state_dict(), tmp_path / "state.pt")
    np.savez(tmp_path / "train.npz", x=x[:120], y=y[:120])
    code, out, err = run_cli(capsys, monkeypatch, "finetune", f"{tmp_path / 'net.py'}:make",
                             "--weights", tmp_path / "state.pt", "--model-args", '{"hidden": 32}',
                             "--data", tmp_path / "train.npz", "-o", tmp_path / "tuned.pt",
                             "--epochs", "1", "--no-calibrate", "--input-shape", "64")
    assert code == 0, err
    assert (tmp_path / "tuned.pt").exists() and "wrote" in out
