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
