"""The building blocks of the output policy (:mod:`snncc.atomic`, which re-exports every
name here): OS errors without the names of snncc's temporaries, SIGTERM/SIGHUP that unwind
like Ctrl-C, temporary names and the removal of stale ones, one lock per output, the
never-an-input check, and folders made (and removed again) for an output.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Iterator, Optional

from .errors import SnnccError
from .errors import os_error as _os_error

PathLike = str | os.PathLike
LOCK_TIMEOUT_ENV = "SNNCC_LOCK_TIMEOUT"          # seconds to wait for another writer
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TMP_RE = re.compile(r"^\.(?P<prefix>.*)\.snncc-tmp-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]+(\..*)?$")


def os_error(exc: OSError, doing: str) -> SnnccError:
    """:func:`snncc.errors.os_error`, without the names of snncc's own temporaries."""
    for attr in ("filename", "filename2"):
        if ".snncc-tmp-" in str(getattr(exc, attr, None) or ""):
            setattr(exc, attr, None)
    if exc.filename is None and exc.filename2 is not None:
        exc.filename, exc.filename2 = exc.filename2, None
    return _os_error(exc, doing)


# -- signals: SIGTERM / SIGHUP unwind like SIGINT, so every `finally` cleans up -----------
class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM or SIGHUP while snncc writes (exit 128 + signal)."""


def _raise_terminated(signum, frame):
    raise Terminated(128 + signum)


@contextlib.contextmanager
def terminate_as_exception() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into :class:`Terminated` for the block (main thread, default
    handlers only), so temporaries are removed as on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            old[sig] = signal.signal(sig, _raise_terminated)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


# -- paths -------------------------------------------------------------------------------
def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _tmp_name(prefix: str, suffix: str = "") -> str:
    return f".{prefix[:96]}.snncc-tmp-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}{suffix}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:          # EPERM: someone else's live process
        return True
    return True


def clean_stale(directory: Path, prefix: Optional[str] = None) -> list[Path]:
    """Remove temporaries of killed snncc runs in ``directory`` (only entries named like
    ours, made on this host, whose process is gone; ``prefix``: only those of one target).
    Returns what was removed."""
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        m = _TMP_RE.match(name)
        if not m or m["host"] != _HOST or (prefix is not None and m["prefix"] != prefix[:96]):
            continue
        if int(m["pid"]) == os.getpid() or _alive(int(m["pid"])):
            continue
        path = Path(directory) / name
        with contextlib.suppress(OSError):
            if stat.S_ISDIR(os.lstat(path).st_mode):
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    return removed


def _lock(target: Path):
    """A lock for one output path, kept outside the user's folders (per user, in the temp dir)."""
    import filelock
    key = hashlib.sha256(str(_real(target.parent) / target.name).encode()).hexdigest()[:40]
    folder = Path(tempfile.gettempdir()) / f"snncc-locks-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(folder)
    except OSError as exc:
        raise os_error(exc, f"create the lock folder {folder}") from None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise SnnccError(f"the lock folder {folder} is not a folder of this user",
                         f"remove {folder}, or set TMPDIR to a private folder")
    try:
        timeout = float(os.environ.get(LOCK_TIMEOUT_ENV, "600"))
    except ValueError:
        raise SnnccError(f"{LOCK_TIMEOUT_ENV} is not a number", f"unset {LOCK_TIMEOUT_ENV}") from None
    return filelock.FileLock(str(folder / f"{key}.lock"), timeout=timeout)


@contextlib.contextmanager
def _locked(targets: Iterable[Path]) -> Iterator[None]:
    import filelock
    with contextlib.ExitStack() as stack:
        for target in sorted(set(targets), key=str):
            lock = _lock(target)
            try:
                stack.enter_context(lock)
            except filelock.Timeout:
                raise SnnccError(f"another snncc is still writing {target}",
                                 f"wait for it to finish (or raise {LOCK_TIMEOUT_ENV})") from None
        yield


def check_not_input(target: PathLike, inputs: Iterable[PathLike] = (), option: str = "-o") -> None:
    """Refuse an output that is an input, holds an input, or is the current folder or above."""
    target = Path(target)
    real = _real(target)
    cwd = _real(Path.cwd())
    if real == cwd or real in cwd.parents or target.name in (".", "..") or str(target) in ("", "."):
        raise SnnccError(f"{option} {target} is the current folder or one above it: snncc "
                         "writes outputs into new or snncc-owned paths only",
                         f"choose a new path, e.g. {option} build")
    for inp in inputs:
        if inp is None or not isinstance(inp, (str, os.PathLike)):
            continue
        r = _real(Path(inp))
        same = r == real
        with contextlib.suppress(OSError):
            same = same or os.path.samefile(r, real)
        if same:
            raise SnnccError(f"{option} {target} is the input {inp}: writing there would "
                             "destroy it", f"choose another {option}")
        if real in r.parents:
            raise SnnccError(f"{option} {target} holds the input {inp}: snncc will not write "
                             "over a folder with its inputs", f"choose another {option}")


def _makedirs(folder: Path, created: list[Path]) -> None:
    """mkdir -p, recording the folders made (removed again if the run fails)."""
    missing = []
    p = folder
    while not os.path.lexists(p):
        missing.append(p)
        p = p.parent
    if os.path.lexists(p) and not p.is_dir():
        raise SnnccError(f"{p} is not a folder", f"choose an output path whose parent is a folder")
    for d in reversed(missing):
        try:
            os.mkdir(d)           # mode 0777 & ~umask
        except FileExistsError:
            continue
        except OSError as exc:
            raise os_error(exc, f"create the folder {d}") from None
        created.append(d)


def _unmake(created: list[Path]) -> None:
    for d in reversed(created):
        with contextlib.suppress(OSError):
            os.rmdir(d)
