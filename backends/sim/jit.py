"""Compiled loops for the ``fast`` runner: numba when it is installed, else nothing.

The vectorized simulator (``vectorized.py``) runs every node as whole-array numpy
operations; a few kernels instead have a compiled loop (``*_jit.py``) that fuses what numpy
does in many passes over memory: the neuron's time recurrence on integers, event-driven
synapses.  numba (https://numba.pydata.org) compiles them on first use and caches the
machine code on disk (``cache=True``), so later processes load it in well under a second.

numba is optional: without it, or with the environment variable ``SNNCC_SIM_JIT=0``, the
``fast`` runner uses its numpy kernels, with the same results bit for bit (the tests run
both).  Nothing here imports numba until a kernel is first needed, and the torch runner
never uses these loops.
"""
from __future__ import annotations

import functools
import os
import threading
from typing import Any, Callable, Optional

ENV = "SNNCC_SIM_JIT"


@functools.lru_cache(maxsize=None)
def _numba() -> Optional[Any]:
    try:
        import numba
    except ImportError:
        return None
    return numba


def available() -> bool:
    """Whether compiled kernels may be used: numba imports and ``SNNCC_SIM_JIT`` is not 0."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off") \
        and _numba() is not None


def kernel(fn: Callable) -> Callable:
    """Compile ``fn`` with numba on its first call (nopython, GIL released, cached on disk).

    Integer arithmetic in the compiled code is two's-complement int64 with wrap-around, and
    ``>>`` on signed integers is arithmetic, exactly as numpy's (and the stepper's).
    """
    compiled: list[Callable] = []

    @functools.wraps(fn)
    def call(*args):
        if not compiled:
            compiled.append(_numba().njit(nogil=True, cache=True, error_model="numpy")(fn))
        return compiled[0](*args)
    call.py_func = fn
    return call


def specialized(factory: Optional[Callable] = None, *, slp: bool = False) -> Callable:
    """A kernel family: ``factory(*flags)`` returns a Python function whose flags are
    constants (closure variables), compiled once per distinct ``flags`` like :func:`kernel`
    (numba folds the constants, so branches on them vanish from the loops; the disk cache
    keys each variant by its closure values).  Flags must be hashable; ``.variants`` maps the
    flags compiled so far to their compiled functions.

    ``@specialized(slp=True)``: compiled with LLVM's SLP vectorizer on (numba's
    ``SLP_VECTORIZE``, off by default), for kernels that keep a block of sums in scalar
    locals meant to share vector registers (``conv_lut.lut_conv_blocks``).  The setting is
    numba's global one, set only while such a kernel is called (and so compiled); code
    loaded from numba's disk cache runs as it was compiled.  Vectorized adds of exact
    integer-valued floats give the same sums (tests/test_sim_conv_paths.py)."""
    if factory is None:
        return functools.partial(specialized, slp=slp)
    made: dict = {}

    @functools.wraps(factory)
    def get(*flags):
        if flags not in made:
            fn = _numba().njit(nogil=True, cache=True, error_model="numpy")(factory(*flags))
            made[flags] = _with_slp(fn) if slp else fn
        return made[flags]
    get.variants = made
    return get


class _SlpOn:
    """numba's ``SLP_VECTORIZE`` on while any :func:`_with_slp` kernel runs (counted, so
    that threads running such kernels at once leave the setting as they found it)."""
    lock, users, saved = threading.Lock(), 0, 0

    def __enter__(self) -> None:
        config = _numba().config
        with self.lock:
            if _SlpOn.users == 0:
                _SlpOn.saved, config.SLP_VECTORIZE = config.SLP_VECTORIZE, 1
            _SlpOn.users += 1

    def __exit__(self, *exc) -> None:
        with self.lock:
            _SlpOn.users -= 1
            if _SlpOn.users == 0:
                _numba().config.SLP_VECTORIZE = _SlpOn.saved


def _with_slp(dispatcher: Callable) -> Callable:
    """``dispatcher`` called with numba's SLP vectorizer on (a compile, if one happens for
    the arguments' types, takes the setting; compiled code ignores it)."""
    @functools.wraps(dispatcher)
    def call(*args):
        with _SlpOn():
            return dispatcher(*args)
    call.dispatcher = dispatcher
    return call
