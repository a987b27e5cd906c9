"""Progress bars for long runs (verification, calibration), on stderr so stdout stays data.

Library code takes an optional :class:`Progress`; the CLI passes a live rich bar, tests and
the Python API pass nothing and get the silent :data:`QUIET`.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional, Protocol


class Progress(Protocol):
    """What library code needs from a progress display: named tasks that advance."""

    def task(self, description: str, total: int) -> "Task": ...


class Task(Protocol):
    def advance(self, steps: int = 1) -> None: ...


class _NoTask:
    def advance(self, steps: int = 1) -> None:
        pass


class _Quiet:
    """No display: the default for API calls and tests."""

    def task(self, description: str, total: int) -> _NoTask:
        return _NoTask()


QUIET: Progress = _Quiet()


class _RichTask:
    def __init__(self, bar, task_id) -> None:
        self._bar, self._id = bar, task_id

    def advance(self, steps: int = 1) -> None:
        self._bar.advance(self._id, steps)


class RichProgress:
    """A rich progress display; one bar per task, shown while the ``live()`` block runs."""

    def __init__(self, bar) -> None:
        self._bar = bar

    def task(self, description: str, total: int) -> _RichTask:
        return _RichTask(self._bar, self._bar.add_task(description, total=max(total, 1)))


@contextlib.contextmanager
def live(enabled: bool = True) -> Iterator[Progress]:
    """Yield a rich progress display on stderr (or :data:`QUIET` when disabled)."""
    if not enabled:
        yield QUIET
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichBar,
                               TextColumn, TimeElapsedColumn, TimeRemainingColumn)
    bar = RichBar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=False)
    with bar:
        yield RichProgress(bar)


def or_quiet(progress: Optional[Progress]) -> Progress:
    return QUIET if progress is None else progress
