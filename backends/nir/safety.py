"""Opening a ``.nir`` file (HDF5) as hostile input: nothing outside the file is read, and
nothing is allocated before its declared size is checked.

HDF5 lets a file make its reader touch other files and allocate without bound: a dataset can
keep its bytes in any other file (*external storage*), a link can point into another HDF5
file (*external link*), a *virtual dataset* maps datasets of other files, and a compressed
dataset can declare gigabytes that a few bytes decompress to.  :func:`open_checked` walks
every link and object header of the file (reading no dataset) and refuses all of these by
name, then caps what the NIR graph declares: bytes and elements per dataset and in all,
nodes and edges.  Only then does :func:`read_checked` read the datasets, from the same open
file handle (the file cannot be swapped between check and read).

A file that :func:`nir.write` (nir 1.0.8, ``nir/serialization.py``) writes has only hard
links, groups and datasets of numbers, booleans and strings; everything else is refused.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import SnnccError


@dataclass(frozen=True)
class NirLimits:
    """Caps on what a NIR file may declare; checked from HDF5 headers before any read.

    The defaults hold any network a neuromorphic chip runs (Loihi 2: 1M neurons, 120M
    synapses per chip) with a wide margin.  Each can be raised with an environment variable
    ``SNNCC_NIR_<FIELD>`` (e.g. ``SNNCC_NIR_MAX_DATASET_ELEMENTS``).
    """

    max_dataset_elements: int = 2 ** 27     # one array (134M values: 1 GiB in float64)
    max_dataset_bytes: int = 2 ** 30
    max_total_elements: int = 2 ** 28       # all arrays together
    max_total_bytes: int = 2 * 2 ** 30
    max_nodes: int = 100_000                # NIR nodes, subgraphs' nodes included
    max_edges: int = 1_000_000
    max_objects: int = 2_000_000            # HDF5 links (groups + datasets)
    max_tensor_elements: int = 2 ** 24      # one declared tensor shape (Input, Conv input)

    @classmethod
    def from_env(cls) -> "NirLimits":
        values = {}
        for f in fields(cls):
            var = f"SNNCC_NIR_{f.name.upper()}"
            raw = os.environ.get(var)
            if raw is None:
                continue
            try:
                values[f.name] = int(raw)
            except ValueError:
                raise SnnccError(f"environment variable {var}={raw!r} is not an integer",
                                 f"set {var} to a whole number or unset it") from None
        return cls(**values)


def _refuse(path: Path, what: str, where: str) -> SnnccError:
    return SnnccError(f"NIR file {str(path)!r}: {what} at '/{where}'; snncc reads only data "
                      "stored in the file itself", "re-export the network into one "
                      "self-contained file (nir.write, or snncc export-nir)")


def _too_big(path: Path, what: str, limit_name: str) -> SnnccError:
    var = f"SNNCC_NIR_{limit_name.upper()}"
    return SnnccError(f"NIR file {str(path)!r} declares {what} (checked before reading it)",
                      f"check that it is the right file; if the network really is this big, "
                      f"raise the limit with the environment variable {var}")


def _string_ok(dtype: np.dtype) -> bool:
    import h5py
    return h5py.check_string_dtype(dtype) is not None


def _dataset_problem(ds) -> str | None:
    """Why ``ds`` (an h5py Dataset) must not be read, or None; reads headers only."""
    if ds.is_virtual:
        return "a virtual dataset (it maps datasets of other files)"
    if ds.external:
        return "a dataset with external storage (its bytes live in another file)"
    kind = ds.dtype.kind
    if kind not in "biuf" and not _string_ok(ds.dtype):
        return f"a dataset of HDF5 type {ds.dtype} (NIR stores numbers and strings only)"
    if ds.shape is None:
        return "a dataset without a shape (an HDF5 null dataspace)"
    return None


def _declared(ds) -> tuple[int, int]:
    """(elements, bytes) a dataset decodes to, from its header (strings: pointer size)."""
    n = int(np.prod(ds.shape, dtype=object)) if ds.shape else 1
    return n, n * max(int(ds.dtype.itemsize), 1)


def check_open_file(f, path: Path, limits: NirLimits) -> None:
    """Raise :class:`SnnccError` unless every link and dataset of the open h5py file ``f``
    is safe to read; see the module docstring.  Reads no dataset."""
    import h5py
    totals = {"elements": 0, "bytes": 0, "nodes": 0, "edges": 0}

    # h5py's visit callbacks must not raise (the exception comes back mangled): collect the
    # names, check them afterwards; links first, as visititems would follow an external one
    links: list[str] = []
    f.visit_links(lambda name: links.append(name) if len(links) <= limits.max_objects else True)
    if len(links) > limits.max_objects:
        raise _too_big(path, f"more than {limits.max_objects:,} HDF5 objects", "max_objects")
    for name in links:
        link = f.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise _refuse(path, f"an external link to {link.filename!r}", name)
        if not isinstance(link, h5py.HardLink):
            raise _refuse(path, f"a {type(link).__name__} (nir.write writes hard links only)",
                          name)

    def on_object(name: str, obj: Any) -> None:
        if not isinstance(obj, h5py.Dataset):
            if name.rsplit("/", 1)[-1] == "nodes" or name == "nodes":
                totals["nodes"] += len(obj)
                if totals["nodes"] > limits.max_nodes:
                    raise _too_big(path, f"more than {limits.max_nodes:,} nodes", "max_nodes")
            return
        problem = _dataset_problem(obj)
        if problem:
            raise _refuse(path, problem, name)
        n, nbytes = _declared(obj)
        if name.rsplit("/", 1)[-1] == "edges":
            totals["edges"] += int(obj.shape[0]) if obj.shape else 1
            if totals["edges"] > limits.max_edges:
                raise _too_big(path, f"{totals['edges']:,} edges (limit {limits.max_edges:,})",
                               "max_edges")
        if n > limits.max_dataset_elements:
            raise _too_big(path, f"an array of {n:,} values at '/{name}' (shape "
                           f"{list(obj.shape)}; limit {limits.max_dataset_elements:,})",
                           "max_dataset_elements")
        if nbytes > limits.max_dataset_bytes:
            raise _too_big(path, f"an array of {nbytes / 2 ** 20:,.0f} MiB at '/{name}'",
                           "max_dataset_bytes")
        totals["elements"] += n
        totals["bytes"] += nbytes
        if totals["elements"] > limits.max_total_elements:
            raise _too_big(path, f"more than {limits.max_total_elements:,} values in all",
                           "max_total_elements")
        if totals["bytes"] > limits.max_total_bytes:
            raise _too_big(path, f"more than {limits.max_total_bytes / 2 ** 30:.0f} GiB of "
                           "arrays in all", "max_total_bytes")

    for name in links:
        on_object(name, f[name])
    if "node" not in f or not isinstance(f.get("node", getlink=False), h5py.Group):
        raise SnnccError(f"NIR file {str(path)!r} has no 'node' group: not a NIR graph",
                         "pass a NIR HDF5 file written by nir.write (e.g. snncc export-nir)")


def read_checked(path: str | Path, limits: NirLimits | None = None) -> dict:
    """The raw dictionary of a NIR file's root node (what ``nir.read`` builds its graph
    from), read only after :func:`check_open_file` passed on the same open file.

    Raises :class:`SnnccError` for files that are not HDF5, hostile or over the limits.
    """
    import h5py
    from nir.serialization import hdf2dict
    path = Path(path)
    limits = limits or NirLimits.from_env()
    try:
        with h5py.File(path, "r") as f:
            check_open_file(f, path, limits)
            return hdf2dict(f["node"])
    except SnnccError:
        raise
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:   # h5py raises OSError, KeyError, ValueError, RuntimeError, ...
        raise SnnccError(f"cannot read NIR file {str(path)!r}: {type(exc).__name__}: "
                         f"{str(exc)[:160]}", "pass a NIR HDF5 file written by nir.write "
                         "(e.g. snncc export-nir)") from None
