"""The fixed-point neuron (Lava LIF, generalised) on whole time series of a layer.

Only the recurrence is stepped in time; what has no memory is done for all steps at once.
The current ``u`` depends on neither ``v`` nor spikes, so it is computed first (one array
op over all steps when ``du + 1 == 4096`` clears it every step, as in a stock LIF), then
the voltage loop runs on ``u + bias`` already summed.

Two exact arithmetics:

* **float64** when a bound shows every value stays below ``2**40`` (always, for inputs a
  Lava Dense can produce): then each product of an integer with a factor ``f / 4096``
  (``|f| <= 2**13``: decays, reset and input gains) has at most 53 significant bits, every
  sum is below ``2**53``, and ``trunc`` rounds toward zero exactly as Lava's
  ``sign * (|x| >> 12)``.  Fewer array operations per step than int64, all in place;
* **int64** otherwise, performing the stepper's very operations, so even overflowing
  values agree bit for bit with :mod:`snncc.backends.sim.stepper`.

On numpy with numba installed (``jit.py``) the layer runs instead as one compiled loop
(``neuron_jit.py``), one pass over memory: float64 and specialised by the layer's flags
where the same bound holds, else the stepper's int64 operations (exact with no bound).  The state between time windows is a :class:`NeuronState` (int64 ``u``, ``v`` and
the last spikes), so a long run can be cut into windows with the same results.
"""
from __future__ import annotations

from concurrent.futures import Executor
from typing import Optional

import numpy as np

from snncc.targets.loihi import fixedpoint as fx
from snncc.ir import FxNeuron

from . import jit
from .xp import Array, Ops
from .registry import register_kernel

FLOAT_SAFE = 2 ** 40      # |x| below this: x * (13-bit factor) / 4096 is exact in float64
MAX_FACTOR = 2 * fx.DECAY_UNITY


class NeuronState:
    """A layer's state between time windows: ``u``, ``v`` (B, n) int64, last spikes bool."""

    def __init__(self, ops: Ops, batch: int, n: int) -> None:
        self.u = ops.zeros((batch, n), ops.int64)
        self.v = ops.zeros((batch, n), ops.int64)
        self.fired = ops.zeros((batch, n), ops.bool_)


class _FloatState:
    """A block of neurons' float64 state while stepping in time (from a NeuronState's rows)."""

    def __init__(self, ops: Ops, shape: tuple[int, ...], init: Optional[NeuronState] = None,
                 rows: slice = slice(None)) -> None:
        self.u = ops.zeros(shape, ops.float64)
        self.v = ops.zeros(shape, ops.float64)
        self.keep = ops.ones(shape, ops.float64)      # 0 where a zero reset applies
        self.fired = ops.zeros(shape, ops.float64)    # 1 where another reset applies
        self.scratch = ops.empty(shape, ops.float64)
        if init is not None:
            self.u[...] = ops.astype(init.u[rows], ops.float64)
            self.v[...] = ops.astype(init.v[rows], ops.float64)
            self.fired[...] = ops.astype(init.fired[rows], ops.float64)
            self.keep -= self.fired

    def store(self, ops: Ops, into: NeuronState, rows: slice, fired: Optional[Array]) -> None:
        """Write the state back as integers (exact: float64 holds integers below 2**53);
        ``fired``: the last step's spikes (None: no step ran)."""
        into.u[rows] = ops.astype(self.u, ops.int64)
        into.v[rows] = ops.astype(self.v, ops.int64)
        if fired is not None:
            into.fired[rows] = fired


@register_kernel(FxNeuron)
class NeuronKernel:
    """Per-neuron parameters of one FxNeuron, prepared on the array backend."""

    def __init__(self, ops: Ops, node: FxNeuron) -> None:
        self.ops, self.node = ops, node
        self.n = int(np.prod(node.shape))
        flat = lambda x: np.asarray(x, dtype=np.int64).reshape(-1)    # noqa: E731
        fu = fx.DECAY_UNITY - (flat(node.du) + fx.DU_OFFSET)
        fv = fx.DECAY_UNITY - (flat(node.dv) + fx.DV_OFFSET)
        mult, sub = flat(node.reset_mult), flat(node.reset_sub)
        bias = flat(fx.effective_bias(node.bias_mant, node.bias_exp))
        vth = flat(node.vth) << fx.VTH_SHIFT
        if not getattr(node, "spiking", True):    # a readout: v never exceeds this
            vth = np.full_like(vth, 2 * fx.MAX_UV)
        gain = None if node.input_gain is None else \
            np.asarray(node.input_gain, dtype=np.int64).reshape(-1, self.n)
        self.u_cleared = bool(np.all(fu == 0))             # du + 1 == 4096: u = a_in << 6
        self.u_kept = bool(np.all(fu == fx.DECAY_UNITY))   # du == -1: no current decay
        self.v_kept = bool(np.all(fv == fx.DECAY_UNITY))   # dv == 0: no voltage decay
        self.zero_reset = not np.any(mult) and not np.any(sub)
        self.subtract_reset = bool(np.all(mult == fx.DECAY_UNITY))    # v -= sub
        self.floor = None if node.floor is None else int(node.floor)
        self.delayed = bool(node.reset_delayed)
        self.gain_np = gain
        self.gain_start, self.bias_start = int(node.gain_start), int(node.bias_start)
        # magnitudes behind the float64 bound (see float_safe)
        factors = [fu, fv, mult] + ([gain] if gain is not None else [])
        self._factors_ok = all(np.all(np.abs(f) <= MAX_FACTOR) for f in factors)
        self._u_contracts = bool(np.all(np.abs(fu) <= fx.DECAY_UNITY))
        self._gain_max = int(np.abs(gain).max(initial=0)) if gain is not None else fx.DECAY_UNITY
        self._v_max = 4 * max(fx.MAX_UV, abs(self.floor or 0)) + 2 * int(np.abs(sub).max(initial=0))
        self._bias_max = int(np.abs(bias).max(initial=0))
        a, f64 = ops.asarray, ops.float64
        self.fu, self.fv, self.mult, self.sub = a(fu), a(fv), a(mult), a(sub)
        self.bias, self.vth = a(bias), a(vth)
        self.gain = None if gain is None else a(gain)
        one = float(fx.DECAY_UNITY)
        self.fu_f, self.fv_f, self.mult_f = a(fu / one, f64), a(fv / one, f64), a(mult / one, f64)
        self.sub_f, self.bias_f, self.vth_f = a(sub, f64), a(bias, f64), a(vth, f64)
        self.gain_f = None if gain is None else a(gain / one, f64)
        self.jit_args = (fu, fv, mult, sub, bias, vth,
                         gain if gain is not None else np.zeros((0, self.n), np.int64),
                         self.gain_start, self.bias_start, self.delayed,
                         int(self.floor or 0), self.floor is not None)
        self.jit_f64_args = (fu / one, fv / one, mult / one, sub.astype(np.float64),
                             bias.astype(np.float64), vth.astype(np.float64),
                             gain / one if gain is not None else np.zeros((0, self.n)),
                             self.gain_start, self.bias_start,
                             float(-fx.V_MAX if self.floor is None else self.floor))
        self.use_jit = ops.name == "numpy" and jit.available()

    def new_state(self, batch: int) -> NeuronState:
        """Zero state for :meth:`run` over time windows."""
        return NeuronState(self.ops, batch, self.n)

    # bounds ---------------------------------------------------------------------------
    def u_max(self, steps: int, a_bound: int, u0: int = 0) -> int:
        """A bound on ``|u|`` (before the wrap) over ``steps`` steps from ``|u| <= u0``.

        ``u0`` plus the sum over steps of ``|syn|``: decays never grow ``|u|`` when ``|f| <=
        4096`` and the wrap never does.  With ``|syn| <= 2**24`` the wrap also keeps ``|u|
        <= M = max(u0, 2**23)`` after every step (by induction: ``|decay(u) + syn| <= M +
        2**24`` and Lava's wrap moves values beyond ``+-2**23`` by ``2**24`` toward zero), so
        ``M + |syn|`` bounds it at any T.  ``u0`` matters for a later time window, whose
        state may come from windows with larger inputs.
        """
        syn = ((a_bound << fx.ACT_SHIFT) * self._gain_max >> fx.DECAY_SHIFT) + 1
        if self.u_cleared:
            return syn
        total = u0 + syn * steps
        if syn <= 2 * fx.MAX_UV and self._u_contracts:
            total = min(total, max(u0, fx.MAX_UV) + syn)
        return total

    def float_safe(self, steps: int, a_bound: int, u0: int = 0) -> bool:
        """Whether the float64 path is exact for inputs ``|a_in| <= a_bound`` over ``steps``
        from a state with ``|u| <= u0``."""
        total = self.u_max(steps, a_bound, u0) + self._v_max + self._bias_max
        return self._factors_ok and self._u_contracts and total < FLOAT_SAFE

    def wraps(self, steps: int, a_bound: int, u0: int = 0) -> bool:
        """False when ``|u|`` provably stays below 2**23, so the current never wraps."""
        return self.u_max(steps, a_bound, u0) >= fx.MAX_UV

    # float64 path ---------------------------------------------------------------------
    def _syn(self, a: Array, t0: int) -> Array:
        """``(a_in << 6)`` times the input gain of steps t0.. (rounded toward zero), float64."""
        syn = self.ops.empty(tuple(a.shape), self.ops.float64)
        self.ops.multiply_out(a, float(1 << fx.ACT_SHIFT), syn)
        if self.gain is None:
            return syn
        rows = np.clip(np.arange(t0, t0 + syn.shape[0]) - self.gain_start, 0,
                       self.gain_np.shape[0] - 1)
        g = self.gain_f[self.ops.asarray(rows)]
        syn *= g.reshape((g.shape[0],) + (1,) * (syn.ndim - 2) + (g.shape[1],))
        self.ops.trunc_(syn)
        return syn

    def _wrap(self, u: Array) -> Array:
        """Lava's lopsided 24-bit wrap of the current (any dtype)."""
        ops = self.ops
        wrapped = ops.where(u > fx.MAX_UV, u - 2 * fx.MAX_UV, u)
        return ops.where(wrapped <= -fx.MAX_UV, u + 2 * fx.MAX_UV, wrapped)

    def _u_step(self, st: _FloatState, syn_t: Array, wraps: bool) -> Array:
        if not self.u_kept:
            st.u *= self.fu_f
            self.ops.trunc_(st.u)
        st.u += syn_t
        if wraps:
            st.u = self._wrap(st.u)
        return st.u

    def _reset_(self, st: _FloatState) -> None:
        """In place: ``v = trunc(v * mult / 4096) - sub`` where the neuron fired.

        The masks are float 0/1 arrays: multiplying and adding them is exact and faster
        than a masked assignment.
        """
        ops, v, scratch = self.ops, st.v, st.scratch
        if self.zero_reset:
            v *= st.keep
        elif self.subtract_reset:
            ops.multiply_out(st.fired, self.sub_f, scratch)
            v -= scratch
        else:
            ops.multiply_out(v, self.mult_f, scratch)
            ops.trunc_(scratch)
            scratch -= self.sub_f
            scratch -= v
            scratch *= st.fired
            v += scratch

    def _v_step(self, st: _FloatState, drive_t: Array, spikes_t: Array) -> None:
        """One voltage step from ``drive_t = u + bias``; writes the spikes into ``spikes_t``."""
        ops, v = self.ops, st.v
        if not self.v_kept:
            v *= self.fv_f
            ops.trunc_(v)
        if self.delayed:
            self._reset_(st)
        v += drive_t
        ops.clip_(v, -fx.V_MAX, fx.V_MAX)
        if self.floor is not None:
            ops.maximum_(v, self.floor)
        ops.greater_out(v, self.vth_f, spikes_t)
        if self.zero_reset:
            ops.less_equal_out(v, self.vth_f, st.keep)
        else:
            ops.greater_out(v, self.vth_f, st.fired)
        if not self.delayed:
            self._reset_(st)

    def run(self, a_in: Array, a_bound: int, record: bool = False, rows: int = 0,
            pool: Optional[Executor] = None, t0: int = 0, state: Optional[NeuronState] = None,
            total_steps: Optional[int] = None
            ) -> tuple[Array, Optional[Array], Optional[Array]]:
        """Spikes (T, B, n) bool and, with ``record``, u and v (T, B, n) int32.

        ``a_in`` is the summed synaptic input (exact integers, any dtype) and ``a_bound`` a
        bound on its magnitude.  The float path steps ``rows`` samples at a time (0: all),
        so that a step's arrays stay in the CPU caches, on the threads of ``pool`` if given
        (numpy releases the GIL inside its loops; the blocks are independent).

        Time windows: ``a_in`` holds steps ``t0 .. t0 + T - 1`` of a run of ``total_steps``
        (default: T) steps; ``state`` (from :meth:`new_state`) is the state before ``t0``
        and is updated in place.  Without ``state`` the run starts from zero.
        """
        ops = self.ops
        steps, batch = int(a_in.shape[0]), int(a_in.shape[1])
        state = state or self.new_state(batch)
        shape = tuple(a_in.shape)
        spikes = ops.empty(shape, ops.bool_)
        u_rec = ops.empty(shape, ops.int32) if record else None
        v_rec = ops.empty(shape, ops.int32) if record else None
        rows = rows or max(batch, 1)
        blocks = [slice(r0, min(r0 + rows, batch)) for r0 in range(0, batch, rows)]
        total = max(total_steps or 0, t0 + steps)
        u0 = ops.max_abs(state.u) if t0 and batch else 0    # carried from earlier windows
        if self.use_jit:
            a = np.ascontiguousarray(a_in)
            dummy = np.empty((0, 0, 0), np.int32)
            tail = (state.u, state.v, state.fired, spikes, u_rec if record else dummy,
                    v_rec if record else dummy, record)
            fn, head = self._jit_loop(total, a_bound, u0)
            self._each(pool, fn, [(a, t0) + head + tail + (sl.start, sl.stop) for sl in blocks])
            return spikes, u_rec, v_rec
        if not self.float_safe(total, a_bound, u0):
            return self._run_int(a_in, record, t0, state)
        wraps = self.wraps(total, a_bound, u0)
        work = [(a_in[:, sl], wraps, spikes[:, sl], u_rec[:, sl] if record else None,
                 v_rec[:, sl] if record else None, t0, state, sl) for sl in blocks]
        self._each(pool, self._run_rows, work)
        return spikes, u_rec, v_rec

    def _jit_loop(self, total: int, a_bound: int, u0: int = 0) -> tuple:
        """The compiled loop for a run of ``total`` steps with ``|a_in| <= a_bound`` from
        ``|u| <= u0`` and its parameters: float64 and specialised where :meth:`float_safe`
        proves it exact, else the stepper's int64 operations (exact with no bound)."""
        from . import neuron_jit as nj
        if not self.float_safe(total, a_bound, u0):
            return nj.lif_window, self.jit_args
        u_mode = nj.U_CLEARED if self.u_cleared else nj.U_KEPT if self.u_kept else nj.U_DECAY
        reset = nj.RESET_ZERO if self.zero_reset else \
            nj.RESET_SUBTRACT if self.subtract_reset else nj.RESET_GENERAL
        fn = nj.lif_window_f64(u_mode, reset, self.gain is not None, self.delayed,
                               self.wraps(total, a_bound, u0))
        return fn, self.jit_f64_args

    @staticmethod
    def _each(pool: Optional[Executor], fn, work: list[tuple]) -> None:
        """``fn(*args)`` for every block, on the pool's threads when there is one."""
        if pool is None or len(work) == 1:
            for args in work:
                fn(*args)
        else:
            for future in [pool.submit(fn, *args) for args in work]:
                future.result()

    def _run_rows(self, a_in: Array, wraps: bool, spikes: Array, u_rec: Optional[Array],
                  v_rec: Optional[Array], t0: int, state: NeuronState, rows: slice) -> None:
        """The float64 path on a block of samples, writing into the given output views."""
        ops = self.ops
        u_all = self._syn(a_in, t0)
        st = _FloatState(ops, tuple(u_all.shape[1:]), state, rows)
        if self.u_cleared:                       # u = wrap(syn): no recurrence at all
            if wraps:
                u_all = self._wrap(u_all)
            if u_all.shape[0]:
                st.u[...] = u_all[-1]
        else:
            for t in range(u_all.shape[0]):
                u_all[t] = self._u_step(st, u_all[t], wraps)
        if u_rec is not None:
            u_rec[...] = ops.astype(u_all, ops.int64)      # int32 wraps like the stepper's
        if self._bias_max:
            u_all[max(self.bias_start - t0, 0):] += self.bias_f     # the drive: v += u + bias
        for t in range(u_all.shape[0]):
            self._v_step(st, u_all[t], spikes[t])
            if v_rec is not None:
                v_rec[t] = ops.astype(st.v, ops.int64)
        st.store(ops, state, rows, spikes[-1] if spikes.shape[0] else None)

    # one step at a time (recurrent groups) --------------------------------------------
    def start(self, batch: int, steps: int, a_bound: int) -> None:
        """Zero state for :meth:`step`; picks float64 when ``a_bound`` makes it exact."""
        self.float_mode = self.float_safe(steps, a_bound)
        self.stepping_wraps = self.wraps(steps, a_bound)
        ops = self.ops
        self.fired_t = ops.zeros((batch, self.n), ops.bool_)
        if self.float_mode:
            self.state = _FloatState(ops, (batch, self.n))
        self.u = ops.zeros((batch, self.n), ops.int64)
        self.v = ops.zeros((batch, self.n), ops.int64)
        self.fired = ops.zeros((batch, self.n), ops.bool_)

    def rebound(self, steps: int, a_bound: int) -> None:
        """A later time window whose input is bounded by ``a_bound``: leave float64 for
        int64 (the same integers) where the new bound no longer makes float64 exact."""
        if self.float_mode and not self.float_safe(steps, a_bound):
            ops = self.ops
            self.u = ops.astype(self.u, ops.int64)
            self.v = ops.astype(self.state.v, ops.int64)
            self.fired = self.fired_t
            self.float_mode = False
        self.stepping_wraps = self.stepping_wraps or self.wraps(steps, a_bound)

    def step(self, a_t: Array, t: int) -> Array:
        """Step ``t`` from its input ``a_in`` (B, n); returns the spikes (B, n) bool.

        ``self.u`` and ``self.v`` hold the state afterwards (int64 or float64 integers).
        """
        if not self.float_mode:
            return self._int_step(self.ops.astype(a_t, self.ops.int64), t)
        st, ops = self.state, self.ops
        u = self._u_step(st, self._syn(a_t[None], t)[0], self.stepping_wraps)
        drive = u + self.bias_f if t >= self.bias_start else u
        self.fired_t = ops.empty(tuple(u.shape), ops.bool_)
        self._v_step(st, drive, self.fired_t)
        self.u, self.v = u, st.v
        return self.fired_t

    # int64, the stepper's operations ---------------------------------------------------
    def _rtz(self, x: Array, factor: Array) -> Array:
        p = x * factor
        return self.ops.sign(p) * (abs(p) >> fx.DECAY_SHIFT)

    def _run_int(self, a_in: Array, record: bool, t0: int, state: NeuronState
                 ) -> tuple[Array, Optional[Array], Optional[Array]]:
        ops = self.ops
        shape = tuple(a_in.shape)
        spikes = ops.empty(shape, ops.bool_)
        u_rec = ops.empty(shape, ops.int32) if record else None
        v_rec = ops.empty(shape, ops.int32) if record else None
        self.u, self.v, self.fired = state.u, state.v, state.fired
        for t in range(shape[0]):
            spikes[t] = self._int_step(ops.astype(a_in[t], ops.int64), t0 + t)
            if record:
                u_rec[t], v_rec[t] = self.u, self.v
        state.u, state.v, state.fired = self.u, self.v, self.fired
        return spikes, u_rec, v_rec

    def _int_step(self, a_t: Array, t: int) -> Array:
        ops = self.ops
        syn = a_t << fx.ACT_SHIFT
        if self.gain is not None:
            row = int(np.clip(t - self.gain_start, 0, self.gain_np.shape[0] - 1))
            syn = self._rtz(syn, self.gain[row])
        self.u = self._wrap(self._rtz(self.u, self.fu) + syn)
        v = self._rtz(self.v, self.fv)
        if self.delayed:
            v = ops.where(self.fired, self._rtz(v, self.mult) - self.sub, v)
        v = v + self.u
        if t >= self.bias_start:
            v = v + self.bias
        v = ops.clip(v, -fx.V_MAX, fx.V_MAX)
        if self.floor is not None:
            v = ops.maximum(v, self.floor)
        fired = v > self.vth
        self.v = v if self.delayed else ops.where(fired, self._rtz(v, self.mult) - self.sub, v)
        self.fired = fired
        return fired
