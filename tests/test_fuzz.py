"""Hostile input: truncated, corrupted and adversarial files get one clean SnnccError, never a crash.

Every loader a user can point at a file is fuzzed: data (.npz), models (torch.save), compiled
networks (network.json + params.npz) and NIR files.  A mutated file may still be valid; then
whatever it loads to must satisfy the loader's contract.  Each test is bounded by
``max_examples`` and a per-example deadline.  Examples are derandomized (the same inputs on
every run: a corrupted HDF5 global heap can make libhdf5 itself loop forever, which no Python
deadline interrupts, so the suite must not draw new files at random);
``SNNCC_FUZZ_RANDOM=1`` draws fresh ones and ``SNNCC_FUZZ_SCALE=N`` runs N times the examples,
for a deeper run by hand.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402
from torch import nn  # noqa: E402

import snncc.nn as snn  # noqa: E402
from snncc.errors import SnnccError  # noqa: E402
from snncc.loaders import DataLimits, load_data  # noqa: E402
from snncc.modelfile import load_model  # noqa: E402

N_IN = 8


def fuzz_settings(examples: int, seconds: float = 5.0):
    """``SNNCC_FUZZ_SCALE=20`` multiplies the examples for a deeper run by hand."""
    examples *= int(os.environ.get("SNNCC_FUZZ_SCALE", "1"))
    return settings(max_examples=examples, deadline=timedelta(seconds=seconds),
                    derandomize=not os.environ.get("SNNCC_FUZZ_RANDOM"), database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@st.composite
def mutated(draw, blob: bytes) -> bytes:
    """A corruption of ``blob``: truncation, flipped bytes, a spliced run, or garbage."""
    kind = draw(st.sampled_from(["truncate", "flip", "splice", "garbage"]))
    data = bytearray(blob)
    if kind == "truncate":
        return bytes(data[:draw(st.integers(0, len(data) - 1))])
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
        return bytes(data)
    if kind == "splice":
        i = draw(st.integers(0, len(data)))
        j = draw(st.integers(i, min(len(data), i + 64)))
        return bytes(data[:i]) + draw(st.binary(max_size=64)) + bytes(data[j:])
    return draw(st.binary(max_size=512))


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(N_IN, 6), snn.LIF(6), nn.Linear(6, 3), snn.LIF(3))


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


GOOD_NPZ = npz_bytes(x=np.random.default_rng(0).integers(0, 2, (3, 4, N_IN)).astype(np.uint8),
                     y=np.arange(3))


def _check_data(path: Path) -> None:
    try:
        x, y = load_data(path, (N_IN,))
    except SnnccError as exc:
        assert exc.cause and exc.fix
        return
    assert x.dtype == np.uint8 and x.ndim >= 3 and int(np.prod(x.shape[2:])) == N_IN and x.size
    assert set(np.unique(x)) <= {0, 1}
    assert y is None or (y.shape == (x.shape[1],) and np.issubdtype(y.dtype, np.integer))


@fuzz_settings(150)
@given(blob=mutated(GOOD_NPZ))
def test_corrupted_data_files(tmp_path, blob):
    path = tmp_path / "d.npz"
    path.write_bytes(blob)
    _check_data(path)


DTYPES = st.sampled_from(["bool", "uint8", "int8", "int64", "uint64", "float16", "float64",
                          "complex64", "<U2", "S3", ">i4", "datetime64[s]", "timedelta64[s]"])


@fuzz_settings(120)
@given(x=hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)),
       y=st.none() | hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=2, max_side=5)),
       key=st.sampled_from(["x", "x", "X", "spikes"]))
def test_adversarial_data_arrays(tmp_path, x, y, key):
    path = tmp_path / "d.npz"
    arrays = {key: x} if y is None else {key: x, "y": y}
    path.write_bytes(npz_bytes(**arrays))
    _check_data(path)


@pytest.mark.parametrize("x", [np.zeros((2, 3, N_IN), [("a", "u1")]), np.zeros((2, 3, N_IN), "V1")])
def test_record_and_void_data_is_refused(tmp_path, x):
    path = tmp_path / "d.npz"
    path.write_bytes(npz_bytes(x=x))
    with pytest.raises(SnnccError, match="dtype"):
        load_data(path, (N_IN,))


def _bomb(shape: tuple[int, ...], dtype: str = "|u1") -> bytes:
    """An .npz whose x.npy header declares ``shape`` but holds no data (nothing to decompress)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False,
                                                  "shape": shape})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:])
    return buf.getvalue()


def test_size_caps_are_checked_before_reading(tmp_path):
    bomb = tmp_path / "bomb.npz"
    bomb.write_bytes(_bomb((10 ** 6, 10 ** 6, 64)))              # 64 TB declared, 200 bytes on disk
    with pytest.raises(SnnccError, match="over the .* MiB limit"):
        load_data(bomb, (64,))
    long = tmp_path / "long.npz"
    np.savez_compressed(long, x=np.zeros((1, 5000, 2), np.uint8))
    with pytest.raises(SnnccError, match="5000 time steps, over the limit of 1000"):
        load_data(long, (2,), DataLimits(max_steps=1000))
    big = tmp_path / "big.npz"
    np.savez_compressed(big, x=np.zeros((4, 256, 1024), np.uint8))   # 1 MiB decoded, ~1 KiB file
    assert big.stat().st_size < 20_000
    with pytest.raises(SnnccError, match="SNNCC_MAX_DATA_BYTES"):
        load_data(big, (1024,), DataLimits(max_bytes=2 ** 19))
    assert load_data(big, (1024,))[0].shape == (256, 4, 1024)


def test_limits_come_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((2, 50, 3), np.uint8))
    monkeypatch.setenv("SNNCC_MAX_STEPS", "10")
    with pytest.raises(SnnccError, match="50 time steps"):
        load_data(path, (3,))
    monkeypatch.setenv("SNNCC_MAX_STEPS", "lots")
    with pytest.raises(SnnccError, match="SNNCC_MAX_STEPS"):
        load_data(path, (3,))


def _model_bytes(model) -> bytes:
    buf = io.BytesIO()
    torch.save(model, buf)
    return buf.getvalue()


GOOD_MODEL = _model_bytes(small_model())


def _check_model(path: Path) -> None:
    from snncc.compiler import compile_model
    try:
        model = load_model(path)
        compile_model(model)
    except SnnccError as exc:
        assert exc.cause and exc.fix
    # anything else propagates and fails the test


@fuzz_settings(80)
@given(blob=mutated(GOOD_MODEL))
def test_corrupted_model_files(tmp_path, blob):
    path = tmp_path / "m.pt"
    path.write_bytes(blob)
    _check_model(path)


BAD_VALUES = st.sampled_from([
    torch.tensor(float("nan")), torch.tensor([]), torch.zeros(2, 2, 2), torch.ones(6) * 1e30,
    -torch.ones(6), torch.zeros(6, dtype=torch.int64), torch.ones(1, 6), "text", None, 7, -1,
    [1.0, 2.0], {"a": 1}, torch.ones(5),
])


@fuzz_settings(60)
@given(layer=st.sampled_from([0, 1, 2, 3]),
       attr=st.sampled_from(["weight", "bias", "beta", "threshold", "in_features",
                             "out_features", "shape", "reset_mode", "slope"]),
       value=BAD_VALUES)
def test_adversarial_module_attributes(tmp_path, layer, attr, value):
    """Files that unpickle under the allow-list but hold nonsense in a known class."""
    model = small_model()
    module = model[layer]
    if attr not in vars(module) and attr not in module._parameters:
        return
    if attr in module._parameters:
        module._parameters[attr] = (nn.Parameter(value, requires_grad=False)
                                    if isinstance(value, torch.Tensor) else value)
    else:
        setattr(module, attr, value)
    path = tmp_path / "m.pt"
    try:
        torch.save(model, path)
    except Exception:          # torch itself cannot write it: nothing to load
        return
    _check_model(path)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch SNNCC_PWNED",))


def test_code_carrying_pickle_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:                       # torch's zip layout
        zf.writestr("evil/data.pkl", pickle.dumps(_Exploit(), protocol=2))
        zf.writestr("evil/byteorder", "little")
        zf.writestr("evil/version", "3\n")
    path.write_bytes(buf.getvalue())
    with pytest.raises(SnnccError) as err:
        load_model(path)
    assert "--trust" in err.value.fix
    assert not (tmp_path / "SNNCC_PWNED").exists()
    raw = tmp_path / "raw.pt"                                   # legacy (non-zip) pickle
    raw.write_bytes(pickle.dumps(_Exploit(), protocol=2))
    with pytest.raises(SnnccError):
        load_model(raw)
    assert not (tmp_path / "SNNCC_PWNED").exists()


@pytest.fixture(scope="module")
def compiled_dir(tmp_path_factory):
    from snncc.compiler import compile_model
    from snncc.ir import serialize
    out = tmp_path_factory.mktemp("build")
    serialize.save(compile_model(small_model()).fixed, out)
    return out


def _check_compiled(directory: Path) -> None:
    from snncc.backends import get_runner
    from snncc.ir import serialize
    try:
        graph = serialize.load(directory)
        x = np.ones((3, 2, N_IN), np.uint8)
        res = get_runner("sim")(graph, x)
        assert all(s.dtype == bool for s in res.spikes.values())
    except SnnccError as exc:
        assert exc.cause


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-3, 10 ** 12) | st.floats()
                           | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@fuzz_settings(120)
@given(data=st.data())
def test_corrupted_compiled_network(tmp_path, compiled_dir, data):
    """network.json with any value replaced or deleted, or params.npz corrupted."""
    import shutil
    import tempfile
    target = Path(tempfile.mkdtemp(dir=tmp_path)) / "b"
    shutil.copytree(compiled_dir, target)
    desc = json.loads((compiled_dir / "network.json").read_text())
    if data.draw(st.booleans()):
        paths = [p for p in _paths(desc) if p]
        path = data.draw(st.sampled_from(paths))
        parent = desc
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON_VALUES)
        (target / "network.json").write_text(json.dumps(desc))
    else:
        blob = (compiled_dir / "params.npz").read_bytes()
        (target / "params.npz").write_bytes(data.draw(mutated(blob)))
    _check_compiled(target)


@pytest.fixture(scope="module")
def nir_blob(tmp_path_factory):
    pytest.importorskip("nir")
    from snncc.backends.nir import write_nir
    from snncc.frontend import trace
    from snncc.passes import lower_neurons
    path = tmp_path_factory.mktemp("nir") / "m.nir"
    write_nir(lower_neurons(trace(small_model(), None, 1e-3))[0], path)
    return path.read_bytes()


@fuzz_settings(60)
@given(data=st.data())
def test_corrupted_nir_files(tmp_path, nir_blob, data):
    from snncc.backends.nir import read_nir
    path = tmp_path / "m.nir"
    path.write_bytes(data.draw(mutated(nir_blob)))
    try:
        read_nir(path)
    except SnnccError as exc:
        assert exc.cause


def test_compiled_network_sizes_are_capped(tmp_path, compiled_dir):
    import shutil
    from snncc.ir import serialize
    huge = tmp_path / "huge"
    shutil.copytree(compiled_dir, huge)
    desc = json.loads((huge / "network.json").read_text())
    desc["nodes"][0]["shape"] = [2 ** 30]                       # a billion inputs
    (huge / "network.json").write_text(json.dumps(desc))
    with pytest.raises(SnnccError, match="over the limit|shapes do not fit"):
        serialize.load(huge)
    bomb = tmp_path / "bomb"
    shutil.copytree(compiled_dir, bomb)
    (bomb / "params.npz").write_bytes(_bomb((2 ** 20, 2 ** 20), "<i8"))   # 8 TiB declared
    with pytest.raises(SnnccError, match="GiB of parameters"):
        serialize.load(bomb)


@pytest.mark.parametrize("corrupt", ["data", "calibration", "build"])
def test_cli_failures_write_nothing(tmp_path, capsys, monkeypatch, compiled_dir, corrupt):
    """Through the CLI: exit code 2, one line with a fix, no traceback, no partial output."""
    import shutil
    from test_cli_errors import cli
    torch.save(small_model(), tmp_path / "m.pt")
    good = tmp_path / "good.npz"
    good.write_bytes(GOOD_NPZ)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(GOOD_NPZ[: len(GOOD_NPZ) // 2])
    out = tmp_path / "out"
    if corrupt == "build":
        build = tmp_path / "build"
        shutil.copytree(compiled_dir, build)
        (build / "params.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
        args = ["run", build, "--input", good, "-o", out / "spikes.npz"]
    else:
        args = ["verify", tmp_path / "m.pt", "--data", bad if corrupt == "data" else good,
                "--json", out / "r.json", "--html", out / "r.html"]
        if corrupt == "calibration":
            args += ["--calibrate", bad]
    code, stdout, err = cli(capsys, monkeypatch, *args)
    assert code == 2, err
    assert "fix:" in err and "Traceback" not in stdout + err
    assert not out.exists() or not any(out.iterdir())


EDGE_MUTATIONS = st.sampled_from(["self", "reverse", "duplicate", "drop", "port", "recurrent",
                                  "unknown", "rename"])


@fuzz_settings(80)
@given(data=st.data())
def test_structurally_mutated_build_folders(tmp_path, compiled_dir, data):
    """network.json with its structure broken (self edges, cycles, duplicate or dangling
    edges, bad ports, renamed nodes): one SnnccError, never a networkx/KeyError traceback."""
    import shutil
    import tempfile
    target = Path(tempfile.mkdtemp(dir=tmp_path)) / "b"
    shutil.copytree(compiled_dir, target)
    desc = json.loads((compiled_dir / "network.json").read_text())
    names = [n["name"] for n in desc["nodes"]]
    for _ in range(data.draw(st.integers(1, 3))):
        kind = data.draw(EDGE_MUTATIONS)
        edges = desc["edges"]
        i = data.draw(st.integers(0, len(edges) - 1)) if edges else None
        if kind == "self":
            n = data.draw(st.sampled_from(names))
            edges.append({"src": n, "dst": n, "port": data.draw(st.integers(0, 2)), "recurrent": False})
        elif kind == "reverse" and i is not None:
            e = edges[i]
            edges.append({"src": e["dst"], "dst": e["src"], "port": 0, "recurrent": False})
        elif kind == "duplicate" and i is not None:
            edges.append(dict(edges[i]))
        elif kind == "drop" and i is not None:
            edges.pop(i)
        elif kind == "port" and i is not None:
            edges[i]["port"] = data.draw(st.integers(-2, 5) | st.just(True) | st.just("0"))
        elif kind == "recurrent" and i is not None:
            edges[i]["recurrent"] = not edges[i]["recurrent"]
        elif kind == "unknown" and i is not None:
            edges[i][data.draw(st.sampled_from(["src", "dst"]))] = "ghost"
        elif kind == "rename":
            j = data.draw(st.integers(0, len(desc["nodes"]) - 1))
            desc["nodes"][j]["name"] = data.draw(st.sampled_from(names + ["", "x"]))
    (target / "network.json").write_text(json.dumps(desc))
    _check_compiled(target)


@fuzz_settings(40)
@given(data=st.data())
def test_params_members_of_any_name_and_header(tmp_path, compiled_dir, data):
    """params.npz with extra or replaced members (no .npy suffix, shadowing names, huge or
    non-numeric headers): refused from the headers, never decoded past the cap."""
    import shutil
    import tempfile
    target = Path(tempfile.mkdtemp(dir=tmp_path)) / "b"
    shutil.copytree(compiled_dir, target)
    with zipfile.ZipFile(compiled_dir / "params.npz") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    name = data.draw(st.sampled_from(sorted(members)))
    header = io.BytesIO()
    shape = data.draw(st.sampled_from([(2 ** 40,), (3, 3), (0,), (2 ** 20, 2 ** 20)]))
    np.lib.format.write_array_header_1_0(header, {
        "descr": data.draw(st.sampled_from(["<i8", "|O", "<c16", "|u1"])),
        "fortran_order": False, "shape": shape})
    blob = b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + data.draw(st.binary(max_size=64))
    key = data.draw(st.sampled_from([name[:-4], name, "extra", "bomb.npy"]))
    members[key] = blob
    with zipfile.ZipFile(target / "params.npz", "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    _check_compiled(target)


@pytest.fixture(scope="module")
def netx_blob(tmp_path_factory):
    pytest.importorskip("h5py")
    from snncc.backends.lava.netx import write_netx
    from snncc.compiler import compile_model
    from snncc.targets.loihi.quantize import netx_config
    path = tmp_path_factory.mktemp("netx") / "network.net"
    write_netx(compile_model(small_model(), config=netx_config()).fixed, path)
    return path.read_bytes()


@fuzz_settings(40)
@given(data=st.data())
def test_corrupted_hdf5_written_in_memory_reads_back_or_fails_cleanly(tmp_path, netx_blob, data):
    """The netx HDF5 snncc builds in memory (snncc/atomic.hdf5_bytes), corrupted: h5py
    raises an ordinary exception (never a crash), so the loaders above it can turn it into
    one error line."""
    import h5py
    path = tmp_path / "n.net"
    path.write_bytes(data.draw(mutated(netx_blob)))
    try:
        with h5py.File(path, "r") as f:
            f.visit(lambda name: None)
    except (OSError, KeyError, ValueError, RuntimeError):
        pass
