"""One error type for everything a user can get wrong.

Every failure a user can cause (bad file, unsupported layer, out-of-range parameter)
is raised as :class:`SnnccError` with the cause and the fix, so the CLI can print one
line and exit non-zero instead of showing a traceback from deep inside a library.
"""
from __future__ import annotations


class SnnccError(Exception):
    """A user-facing error: ``cause`` says what is wrong, ``fix`` what to do about it."""

    def __init__(self, cause: str, fix: str = "") -> None:
        self.cause = cause
        self.fix = fix
        super().__init__(f"{cause}" + (f" -- {fix}" if fix else ""))


def require(condition: bool, cause: str, fix: str = "") -> None:
    """Raise :class:`SnnccError` unless ``condition`` holds."""
    if not condition:
        raise SnnccError(cause, fix)


# errno -> (what it means, what to do): one line each, for every OSError a user can cause
_OS_FIXES = {
    "ENOSPC": ("no space left on the device", "free some space, or choose an output on another disk"),
    "EDQUOT": ("the disk quota is exceeded", "free some space, or choose an output on another disk"),
    "EFBIG": ("the file is too large for this file system", "choose an output on another file system"),
    "EROFS": ("the file system is read-only", "choose an output on a writable file system"),
    "EACCES": ("permission denied", "choose a path you may write (or read), or fix its permissions"),
    "EPERM": ("operation not permitted", "choose a path you may write (or read), or fix its permissions"),
    "EISDIR": ("it is a folder", "name a file, not a folder"),
    "ENOTDIR": ("a part of the path is not a folder", "check the path"),
    "ENOENT": ("no such file or folder", "check the path"),
    "ENAMETOOLONG": ("the name is too long", "choose a shorter path"),
    "ELOOP": ("too many symbolic links", "check the path's links"),
    "EBUSY": ("the path is busy (a mount point?)", "choose another path"),
    "EXDEV": ("the path crosses file systems", "choose an output on one file system"),
    "EMFILE": ("too many open files", "raise the open-file limit (ulimit -n)"),
    "ENFILE": ("too many open files in the system", "close other programs and retry"),
    "ENOMEM": ("out of memory", "use fewer samples or steps, or a machine with more memory"),
    "EIO": ("an I/O error (a failing disk?)", "check the disk, or choose another output"),
    "ETXTBSY": ("the file is in use", "close the program using it, or choose another path"),
    "EEXIST": ("it already exists", "choose another path"),
    "ENOTEMPTY": ("the folder is not empty", "choose another path"),
    "EINVAL": ("the path is not valid here", "choose another path"),
}


def os_error(exc: OSError, doing: str) -> SnnccError:
    """One :class:`SnnccError` for an OSError while ``doing`` (e.g. "write -o build").

    Names the path(s) involved, the error in words (and its errno name) and a fix.
    """
    import errno as _errno
    name = _errno.errorcode.get(exc.errno or 0, "")
    meaning, fix = _OS_FIXES.get(name, (exc.strerror or type(exc).__name__, "check the path and retry"))
    where = ""
    if exc.filename is not None:
        where = f" ({exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 is not None else "") + ")"
    code = f", {name}" if name else ""
    return SnnccError(f"cannot {doing}: {meaning}{code}{where}", fix)


def memory_error(doing: str = "finish") -> SnnccError:
    """The :class:`SnnccError` for a MemoryError while ``doing``."""
    return SnnccError(f"out of memory: could not {doing}",
                      "use fewer samples or time steps per file (split the data), or a machine "
                      "with more memory")


# top-level module -> (what it is, the pip extra that brings it).  The core install
# (`pip install snncc`) has numpy, networkx, typer, rich and filelock only.
_EXTRAS = {
    "torch": ("torch", "compiler"), "nir": ("nir", "compiler"),
    "nirtorch": ("nirtorch", "compiler"), "h5py": ("h5py", "compiler"),
    "matplotlib": ("matplotlib", "compiler"),
    "sklearn": ("scikit-learn", "examples"), "jsonschema": ("jsonschema", "test"),
    "snntorch": ("snnTorch", "frameworks"), "norse": ("Norse", "frameworks"),
    "spikingjelly": ("SpikingJelly", "frameworks"),
}


def missing_dependency(exc: ModuleNotFoundError, doing: str = "run this command"):
    """The :class:`SnnccError` for an optional package that is not installed, or None.

    ``exc.name`` (e.g. ``"torch"`` or ``"torch.nn"``) is looked up by its top-level package
    in the extras of ``pyproject.toml``; a module snncc does not list (a bug, or a broken
    install) gives None, and the caller re-raises.
    """
    top = (exc.name or "").split(".")[0]
    if top not in _EXTRAS:
        return None
    what, extra = _EXTRAS[top]
    return SnnccError(f"cannot {doing}: it needs {what}, which is not installed in this "
                      "Python environment",
                      f"pip install 'snncc[{extra}]' (in a checkout: pip install -e "
                      f"'.[{extra}]', or make venv)")
