"""Reading HDF5 model files (lava-dl netx ``.net``, NIR ``.nir``) as hostile input.

HDF5 can make a reader touch other files and allocate without bound: a dataset may keep its
bytes in any other file (*external storage*), a link may point into another HDF5 file
(*external link*), a *virtual dataset* maps other files' datasets, and a compressed dataset
may declare gigabytes that a few bytes decompress to.  The checks here walk every link and
object header of an **open** file (reading no dataset) and refuse all of these by name; the
caller then reads from the same handle, so the file cannot be swapped between check and
read.  Datasets must be numbers, booleans or strings; links must be hard links (what
``nir.write`` and lava-dl's exporters write).

Shared by snncc's HDF5 readers: the netx reader (:func:`open_checked`, generic caps
:class:`Hdf5Limits`) and the NIR reader (``snncc.backends.nir.safety``, which adds NIR's own
caps on nodes and edges around :func:`link_names` and :func:`dataset_problem`).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import SnnccError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class Hdf5Limits:
    """Caps on what an HDF5 model file may declare (checked before reading)."""

    max_objects: int = 100_000            # links (groups + datasets)
    max_dataset_bytes: int = 2 * 2 ** 30  # one dataset, decoded
    max_total_bytes: int = 4 * 2 ** 30    # all datasets, decoded
    max_attribute_bytes: int = 2 ** 20    # one attribute


def is_hdf5(path: str | Path) -> bool:
    """Whether ``path`` starts with the HDF5 signature (at offset 0 or a user-block offset
    512, 1024, 2048, ... as the HDF5 format allows), without opening it with the library."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            offset = 0
            while offset + 8 <= size:
                f.seek(offset)
                if f.read(8) == HDF5_SIGNATURE:
                    return True
                offset = 512 if offset == 0 else offset * 2
    except OSError:
        return False
    return False


def link_names(f, max_objects: int, too_many: Callable[[], SnnccError],
               refuse: Callable[[str, str], SnnccError]) -> list[str]:
    """Every link name of the open h5py file ``f``, each checked to be a hard link.

    ``too_many()`` and ``refuse(what, name)`` make the caller's errors.  h5py's visit
    callbacks must not raise (the exception comes back mangled): names are collected first
    (stopping past the cap), then checked; links before objects, as an object walk would
    follow an external link.
    """
    import h5py
    names: list[str] = []
    f.visit_links(lambda name: names.append(name) if len(names) <= max_objects else True)
    if len(names) > max_objects:
        raise too_many()
    for name in names:
        link = f.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise refuse(f"an external link to {link.filename!r}", name)
        if not isinstance(link, h5py.HardLink):
            raise refuse(f"a {type(link).__name__} (only hard links are read)", name)
    return names


def dataset_problem(ds) -> str | None:
    """Why the h5py Dataset ``ds`` must not be read, or None; reads its header only."""
    import h5py
    if ds.is_virtual:
        return "a virtual dataset (it maps datasets of other files)"
    if ds.external:
        return "a dataset with external storage (its bytes live in another file)"
    if ds.dtype.kind not in "biuf" and h5py.check_string_dtype(ds.dtype) is None:
        return f"a dataset of HDF5 type {ds.dtype} (only numbers, booleans and strings)"
    if ds.shape is None:
        return "a dataset without a shape (an HDF5 null dataspace)"
    return None


def declared(ds) -> tuple[int, int]:
    """(elements, bytes) a dataset decodes to, from its header (strings: pointer size)."""
    n = int(np.prod(ds.shape, dtype=object)) if ds.shape else 1
    return n, n * max(int(ds.dtype.itemsize), 1)


def check_open(f, path: Path, limits: Hdf5Limits = Hdf5Limits()) -> None:
    """Raise :class:`SnnccError` unless every link, attribute and dataset of the open file
    ``f`` is safe to read under ``limits`` (see the module docstring).  Reads no dataset."""
    import h5py

    def refuse(what: str, where: str) -> SnnccError:
        return SnnccError(f"{path}: {what} at '/{where}' (snncc reads only data stored in the "
                          "file itself, of declared, bounded size)",
                          "re-export the network into one self-contained HDF5 file")

    def too_big(what: str) -> SnnccError:
        return SnnccError(f"{path}: {what} (checked before reading it)",
                          "re-export the network; the file may be corrupt or hostile")

    names = link_names(f, limits.max_objects,
                       lambda: too_big(f"more than {limits.max_objects} HDF5 objects"), refuse)
    total = 0
    for name in [""] + names:
        obj = f if name == "" else f[name]
        for key in obj.attrs:
            if obj.attrs.get_id(key).get_storage_size() > limits.max_attribute_bytes:
                raise refuse(f"an attribute {key!r} over {limits.max_attribute_bytes} bytes", name)
        if not isinstance(obj, h5py.Dataset):
            continue
        problem = dataset_problem(obj)
        if problem:
            raise refuse(problem, name)
        nbytes = declared(obj)[1]
        if nbytes > limits.max_dataset_bytes:
            raise refuse(f"a dataset of {nbytes / 2 ** 20:.0f} MiB decoded, over the limit of "
                         f"{limits.max_dataset_bytes / 2 ** 20:.0f} MiB", name)
        total += nbytes
        if total > limits.max_total_bytes:
            raise too_big(f"its datasets declare over {limits.max_total_bytes / 2 ** 30:.0f} "
                          "GiB decoded")


@contextmanager
def open_checked(path: str | Path, limits: Hdf5Limits = Hdf5Limits()) -> Iterator:
    """The h5py file at ``path``, opened read-only and checked (:func:`check_open`); read
    from it inside the ``with``.  Any h5py failure becomes one SnnccError."""
    import h5py
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise SnnccError(f"{path} is not a readable HDF5 file ({type(exc).__name__}: "
                         f"{str(exc)[:120]})", "re-export the network") from None
    with f:
        try:
            check_open(f, path, limits)
        except SnnccError:
            raise
        except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise SnnccError(f"{path} is not a readable HDF5 file ({type(exc).__name__}: "
                             f"{str(exc)[:120]})", "re-export the network") from None
        yield f


def check_hdf5(path: str | Path, limits: Hdf5Limits = Hdf5Limits()) -> None:
    """Open ``path`` and check it (:func:`open_checked`) without reading anything."""
    with open_checked(path, limits):
        pass
