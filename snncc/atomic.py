"""The output policy: every file snncc writes goes through here.

Rules (what a user can rely on, from every verb, CLI and API):

* **Complete or absent.**  Outputs are written to hidden temporary files beside their
  target and renamed into place only once all of them are complete; on any error, SIGINT
  or SIGTERM the temporaries are removed.  Temporaries left by a killed run (their names
  carry host and process id) are removed by the next run on the same output once their
  process is gone.
* **Only what snncc owns.**  A build folder (:func:`output_dir`) gets a manifest
  (:mod:`snncc.manifest`).  An existing folder is written into only when it is empty or its
  manifest says snncc wrote it; listed files are replaced, unlisted files (the user's) are
  never replaced or deleted.  A non-empty folder without a manifest is refused unless
  ``force``; ``force`` also replaces listed files changed since, but still never touches
  an unlisted file.  A file output (:func:`output_files`) replaces an existing file only
  when it is of the kind snncc writes there (or with ``force``).
* **Never an input, never a special file.**  An output that is an input, holds an input,
  or is the current folder or one above it is refused; file outputs refuse folders,
  devices and sockets, and write through a FIFO (there is nothing to replace atomically).
* **Modes follow the umask**; **concurrent writers of one output are serialised** with a
  lock (``filelock``), so the last one wins and none fails half-way.
* OS errors become one :class:`~snncc.errors.SnnccError` naming the path and a fix.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Optional

from .atomic_base import (LOCK_TIMEOUT_ENV, PathLike, Terminated, _HOST,  # noqa: F401
                          _TMP_RE, _alive, _lock, _locked, _makedirs, _raise_terminated,
                          _real, _tmp_name, _unmake, check_not_input, clean_stale,
                          os_error, terminate_as_exception)
from .errors import SnnccError
from .manifest import MANIFEST, Manifest, entries_for, read_manifest


# -- file outputs ------------------------------------------------------------------------
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _looks_like(path: Path, kind: str) -> bool:
    """Whether an existing regular file is of the kind snncc writes to this output."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    if kind == "npz":
        import zipfile
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except Exception:
            return False
        return bool(names) and all(n.startswith("spikes/") for n in names)
    if kind == "json":
        return head.lstrip().startswith(b"{") and b'"snncc.verify-report"' in head
    if kind == "html":
        return b'name="generator" content="snncc' in head
    if kind == "hdf5":
        return head.startswith(_HDF5_SIGNATURE)
    return False


def check_file_target(target: PathLike, kind: str, inputs: Iterable[PathLike] = (),
                      force: bool = False, option: str = "-o") -> Optional[str]:
    """Check a file output before any work; returns "fifo" when it will be written through.

    ``kind`` ("npz", "json", "html", "hdf5") says which existing files are snncc's own kind.
    """
    target = Path(target)
    check_not_input(target, inputs, option)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise SnnccError(f"{option} {target}: a part of the path is not a folder",
                             f"choose another {option}") from None
        raise os_error(exc, f"use {option} {target}") from None
    if st is None:
        if os.path.islink(target):
            raise SnnccError(f"{option} {target} is a broken symbolic link",
                             f"remove the link or choose another {option}")
        return None
    if stat.S_ISDIR(st.st_mode):
        raise SnnccError(f"{option} {target} is a folder, not a file",
                         f"name a file, e.g. {option} {target / ('out.' + _EXT.get(kind, 'out'))}")
    if stat.S_ISFIFO(st.st_mode):
        return "fifo"
    if not stat.S_ISREG(st.st_mode):
        what = "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else \
            "a socket" if stat.S_ISSOCK(st.st_mode) else "a special file"
        raise SnnccError(f"{option} {target} is {what}, not a regular file",
                         f"choose a regular file path for {option}")
    if not force and not _looks_like(target, kind):
        raise SnnccError(f"{option} {target} exists and is not a{'n' if kind in ('npz', 'html', 'hdf5') else ''} "
                         f"{kind} file snncc writes: snncc does not overwrite other files",
                         f"choose another {option}, or --force to replace it")
    return None


_EXT = {"npz": "npz", "json": "json", "html": "html", "hdf5": "nir"}


def _write_through_fifo(tmp: Path, fifo: Path) -> None:
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise SnnccError(f"no process is reading the FIFO {fifo}",
                             "start its reader first, or choose a regular file") from None
        raise os_error(exc, f"open the FIFO {fifo}") from None
    try:
        os.set_blocking(fd, True)
        with open(tmp, "rb") as src, os.fdopen(fd, "wb", closefd=False) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except OSError as exc:
        raise os_error(exc, f"write to the FIFO {fifo}") from None
    finally:
        os.close(fd)


@contextlib.contextmanager
def output_files(targets: dict[PathLike, str], inputs: Iterable[PathLike] = (),
                 force: bool = False, options: Optional[dict] = None) -> Iterator[dict[Path, Path]]:
    """Write several files all-or-nothing: yields {target: temporary path}.

    ``targets`` maps each output path to its kind (see :func:`check_file_target`);
    ``options`` maps a path to the option that named it (for messages; default ``-o``).
    The block writes every temporary; on success they are renamed over their targets (or
    copied through a FIFO), on any exception they are removed.
    """
    options = {Path(k): v for k, v in (options or {}).items()}
    items = [(Path(t), kind, options.get(Path(t), "-o")) for t, kind in targets.items()]
    reals = [_real(p) for p, _, _ in items]
    if len(set(reals)) != len(reals):
        raise SnnccError("two outputs name the same file: " + ", ".join(str(p) for p, _, _ in items),
                         "give each output its own path")
    for p, kind, opt in items:
        check_file_target(p, kind, inputs, force, opt)
    created: list[Path] = []
    temps: dict[Path, Path] = {}
    modes: dict[Path, Optional[str]] = {}
    with terminate_as_exception(), _locked([p for p, _, _ in items]):
        try:
            for p, kind, opt in items:    # the state may have changed while snncc worked
                modes[p] = check_file_target(p, kind, inputs, force, opt)
                folder = Path(tempfile.gettempdir()) if modes[p] == "fifo" else _real(p).parent
                if modes[p] != "fifo":
                    _makedirs(folder, created)
                    clean_stale(folder, p.name)
                tmp = folder / _tmp_name(p.name, p.suffix)
                try:
                    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                except OSError as exc:
                    raise os_error(exc, f"write {opt} {p}") from None
                temps[p] = tmp
            try:
                yield dict(temps)
            except OSError as exc:
                raise os_error(exc, "write " + ", ".join(str(p) for p in temps)) from None
            for p, tmp in temps.items():
                if modes[p] == "fifo":
                    _write_through_fifo(tmp, p)
                    tmp.unlink()
                else:
                    try:
                        os.replace(tmp, _real(p))
                    except OSError as exc:
                        raise os_error(exc, f"write {p}") from None
        except BaseException:
            for tmp in temps.values():
                with contextlib.suppress(OSError):
                    tmp.unlink()
            _unmake(created)
            raise


@contextlib.contextmanager
def output_file(target: PathLike, kind: str, inputs: Iterable[PathLike] = (),
                force: bool = False, option: str = "-o") -> Iterator[Path]:
    """One file output: yields the temporary path to write (see :func:`output_files`)."""
    with output_files({Path(target): kind}, inputs, force, {Path(target): option}) as temps:
        yield temps[Path(target)]


def write_bytes(target: PathLike, data: bytes, kind: str, inputs: Iterable[PathLike] = (),
                force: bool = False, option: str = "-o") -> Path:
    """Write ``data`` to ``target`` under the output policy; returns the target."""
    with output_file(target, kind, inputs, force, option) as tmp:
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            raise os_error(exc, f"write {target}") from None
    return Path(target)


def hdf5_bytes(fill) -> bytes:
    """Build an HDF5 file in memory and return its bytes: ``fill(buf)`` writes it into the
    ``io.BytesIO`` ``buf`` (``h5py.File(buf, "w")``, ``nir.write(buf, graph)``).

    The HDF5 library can crash (SIGSEGV) when the disk fills under it; built in memory, the
    file reaches the disk only through the atomic writer, whose errors are ordinary OSErrors.
    """
    import io
    buf = io.BytesIO()
    fill(buf)
    return buf.getvalue()


def hdf5_write(target: PathLike, fill, inputs: Iterable[PathLike] = (), force: bool = False,
               option: str = "-o") -> Path:
    """Write the HDF5 file ``fill(buf)`` builds in memory to ``target`` (all-or-nothing)."""
    return write_bytes(target, hdf5_bytes(fill), "hdf5", inputs, force, option)


@contextlib.contextmanager
def atomic_file(target: PathLike, suffix: str = "") -> Iterator[Path]:
    """A file written all-or-nothing that may replace any regular file (scripts, examples);
    the verbs use :func:`output_file`, which also protects files snncc did not write."""
    with output_file(target, "any", force=True) as tmp:
        yield tmp


# -- folder outputs ----------------------------------------------------------------------
def check_output_dir(target: PathLike, inputs: Iterable[PathLike] = (), force: bool = False,
                     option: str = "-o") -> Optional[Manifest]:
    """Check a folder output before any work; returns its manifest if it has one."""
    target = Path(target)
    check_not_input(target, inputs, option)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise SnnccError(f"{option} {target}: a part of the path is not a folder",
                             f"choose another {option}") from None
        raise os_error(exc, f"use {option} {target}") from None
    if stat.S_ISLNK(st.st_mode):
        raise SnnccError(f"{option} {target} is a symbolic link",
                         f"pass the folder it points to, or choose another {option}")
    if not stat.S_ISDIR(st.st_mode):
        raise SnnccError(f"{option} {target} exists and is not a folder: snncc writes a build "
                         "folder there", f"choose another {option}")
    try:
        names = [n for n in os.listdir(target) if not _TMP_RE.match(n)]
    except OSError as exc:
        raise os_error(exc, f"read the folder {target}") from None
    manifest = read_manifest(target)
    if names and manifest is None and not force:
        raise SnnccError(f"{option} {target} is a non-empty folder snncc did not write (it has "
                         f"no {MANIFEST}): snncc never writes over files it does not own",
                         f"choose another {option}, or --force")
    return manifest


def _plan(target: Path, new: dict[str, dict], force: bool, option: str) -> tuple[Optional[Manifest], list[str]]:
    """Decide what may be replaced in an existing folder; returns (old manifest, stale names
    of the old build to delete).  Raises if a new file would replace one snncc does not own."""
    old = read_manifest(target)
    for name in [*new, MANIFEST]:
        path = target / name
        if not os.path.lexists(path):
            continue
        if name == MANIFEST:
            if old is None:
                raise SnnccError(f"{path} exists but is not snncc's manifest",
                                 f"move it away, or choose another {option}")
            continue
        owned = None if old is None else old.owns(target, name)
        if owned is None:
            raise SnnccError(f"{path} was not written by snncc (no manifest lists it): snncc "
                             "never replaces a file it does not own",
                             f"move it away, or choose another {option}")
        if owned is False and not force:
            raise SnnccError(f"{path} was changed after snncc wrote it",
                             f"move your version away, or --force to replace it")
    stale = [] if old is None else [n for n in old.files if n not in new
                                    and old.owns(target, n) is True
                                    and os.path.lexists(target / n)]
    return old, stale


def _write_manifest(folder: Path, manifest: Manifest) -> None:
    tmp = folder / _tmp_name(MANIFEST)
    tmp.write_text(manifest.to_json())
    os.replace(tmp, folder / MANIFEST)


@contextlib.contextmanager
def output_dir(target: PathLike, inputs: Iterable[PathLike] = (), force: bool = False,
               meta: Optional[dict] = None, option: str = "-o") -> Iterator[Path]:
    """Fill a build folder all-or-nothing: yields an empty temporary folder to write into.

    On success its files are listed in a manifest and moved into ``target``: a new folder
    is renamed into place at once; into an existing snncc folder the files are swapped one
    by one under a ``pending`` manifest (see :mod:`snncc.manifest`).  On any exception
    (SIGINT/SIGTERM included) the temporary folder is removed and ``target`` is unchanged.
    """
    target = Path(target)
    check_output_dir(target, inputs, force, option)
    created: list[Path] = []
    parent = _real(target).parent
    tmp: Optional[Path] = None
    with terminate_as_exception(), _locked([target]):
        try:
            _makedirs(parent, created)
            clean_stale(parent, target.name)
            tmp = parent / _tmp_name(target.name)
            try:
                os.mkdir(tmp)                  # 0777 & ~umask, like any new folder
            except OSError as exc:
                raise os_error(exc, f"write {option} {target}") from None
            try:
                yield tmp
            except OSError as exc:
                raise os_error(exc, f"write {option} {target}") from None
            _commit_dir(tmp, target, inputs, force, meta or {}, option)
        except BaseException:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            _unmake(created)
            raise


def _commit_dir(tmp: Path, target: Path, inputs, force: bool, meta: dict, option: str) -> None:
    try:
        new = entries_for(tmp)
        check_output_dir(target, inputs, force, option)      # may have changed meanwhile
        if not os.path.lexists(target):
            _write_manifest(tmp, Manifest(new, meta=meta))
            os.rename(tmp, target)
            return
        old, stale = _plan(target, new, force, option)
        clean_stale(target)
        previous = {} if old is None else {**old.previous, **old.files}
        _write_manifest(target, Manifest(new, "pending", meta, previous))
        for name in new:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / name, target / name)
        for name in stale:
            with contextlib.suppress(FileNotFoundError):
                (target / name).unlink()
        _write_manifest(target, Manifest(new, meta=meta))
        shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        raise os_error(exc, f"write {option} {target}") from None
