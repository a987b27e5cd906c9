"""Reading HDF5 model files (lava-dl netx ``.net``, NIR ``.nir``) as hostile input.

HDF5 can make a reader touch other files and allocate without bound: a dataset may keep its
bytes in any other file (*external storage*), a link may point into another HDF5 file
(*external link*), a *virtual dataset* maps other files' datasets, and a compressed dataset
may declare gigabytes that a few bytes decompress to.  :func:`check_hdf5` walks every link
and object of a file **before any dataset is read** and refuses all of these by name, and
caps what the file declares (objects, bytes per dataset, bytes in all).  Datasets must be
numbers, booleans or strings (variable-length ones only a few per dataset: their bytes live
in the file's own heap, bounded by its size): no object references, other variable-length or
compound types.

Shared by every HDF5 reader of snncc (netx import; the NIR importer can call it too).  Needs
h5py (the compiler env has it).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import SnnccError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_VLEN_STRINGS = 16      # lava-dl writes e.g. neuron/activation as one variable-length string


@dataclass(frozen=True)
class Hdf5Limits:
    """Caps on what an HDF5 model file may declare (checked before reading)."""

    max_objects: int = 100_000            # groups + datasets + links
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


def _refuse(path: Path, what: str, where: str) -> SnnccError:
    return SnnccError(f"{path}: {what} at '/{where}' (snncc reads only data stored in the "
                      "file itself, of declared, bounded size)",
                      "re-export the network into one self-contained HDF5 file")


def _dataset_problem(ds, limits: Hdf5Limits) -> str | None:
    """Why ``ds`` (an h5py Dataset) must not be read, or None."""
    import h5py
    if ds.is_virtual:
        return "a virtual dataset (it maps other files' data)"
    if ds.id.get_create_plist().get_external_count() > 0:
        return "a dataset with external storage (its bytes live in another file)"
    dt = ds.dtype
    text = h5py.check_string_dtype(dt)
    if text is not None and text.length is None and ds.size <= MAX_VLEN_STRINGS:
        return None     # a few variable-length strings: heap bytes in this very file
    if dt.kind not in "biuf" and not (dt.kind == "S" and text is not None):
        return (f"a dataset of type {dt} (only numbers, booleans, fixed-length strings and "
                f"up to {MAX_VLEN_STRINGS} variable-length strings)")
    if ds.shape is None:
        return "a dataset without a shape"
    nbytes = int(np.prod(ds.shape, dtype=object)) * dt.itemsize
    if nbytes > limits.max_dataset_bytes:
        return (f"a dataset of {nbytes / 2 ** 20:.0f} MiB decoded, over the limit of "
                f"{limits.max_dataset_bytes / 2 ** 20:.0f} MiB")
    return None


def check_hdf5(path: str | Path, limits: Hdf5Limits = Hdf5Limits()) -> None:
    """Raise :class:`SnnccError` unless every link and dataset of ``path`` is safe to read.

    Refused: external links, external storage, virtual datasets, user-defined links, datasets
    of non-numeric types, more than ``limits.max_objects`` objects, declared sizes over the
    limits.  Soft links are followed only within the file (and counted).  Nothing of any
    dataset is read here: only headers.
    """
    import h5py
    path = Path(path)

    def check_link(name: str, link) -> None:
        if isinstance(link, h5py.ExternalLink):
            raise _refuse(path, f"an external link to {link.filename!r}", name)
        if not isinstance(link, (h5py.HardLink, h5py.SoftLink)):
            raise _refuse(path, "a user-defined link", name)

    def check_object(name: str, obj) -> int:
        for key in obj.attrs:
            if obj.attrs.get_id(key).get_storage_size() > limits.max_attribute_bytes:
                raise _refuse(path, f"an attribute {key!r} over "
                                    f"{limits.max_attribute_bytes} bytes", name)
        if not isinstance(obj, h5py.Dataset):
            return 0
        problem = _dataset_problem(obj, limits)
        if problem:
            raise _refuse(path, problem, name)
        return int(np.prod(obj.shape, dtype=object)) * obj.dtype.itemsize

    def collect(visit) -> list[str]:
        # exceptions must not cross h5py's visit callbacks: collect first (stopping early
        # once over the cap), then check
        names: list[str] = []

        def add(name: str):
            names.append(name)
            return True if len(names) > limits.max_objects else None
        visit(add)
        if len(names) > limits.max_objects:
            raise SnnccError(f"{path}: more than {limits.max_objects} HDF5 objects",
                             "re-export the network; the file may be corrupt or hostile")
        return names

    try:
        with h5py.File(path, "r") as f:
            for name in collect(f.visit_links):
                check_link(name, f.get(name, getlink=True))
            total = check_object("", f)
            for name in collect(f.visit):       # objects reached through hard links
                total += check_object(name, f[name])
                if total > limits.max_total_bytes:
                    raise SnnccError(f"{path}: its datasets declare over "
                                     f"{limits.max_total_bytes / 2 ** 30:.0f} GiB decoded",
                                     "re-export the network; the file may be corrupt or hostile")
    except SnnccError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise SnnccError(f"{path} is not a readable HDF5 file ({type(exc).__name__}: "
                         f"{str(exc)[:120]})", "re-export the network") from None
