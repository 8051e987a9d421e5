"""What the member integrators (diffrax solvers, optax methods) share: one run per call, on a
flat weight vector with no batch axis; the scheduler `vmap`s (or `lax.map`s) them."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._batchlast import lsum
from ._stopping import (
    NON_FINITE,
    RUNNING,
    SWITCH,
    MemberState,
    cast_tolerances,
    hand_over,
    test_and_status,
)


class MemberIntegrator:
    """Base of the one-run integrators: subclasses implement `_init(model, loss, v, t0, tol,
    dtype) -> (dt, solver_state, controller_state)` and `_step(model, loss, s, tol, dtype)
    -> (state, accepted)`."""

    def start(self, model, loss, weights0, tol, dtype) -> MemberState:
        v = model.flatten(weights0).astype(dtype)
        return self._fresh(model, loss, v, jnp.zeros((), dtype), tol, dtype)

    def resume(self, model, loss, carry: MemberState, tol, dtype) -> MemberState:
        s = self._fresh(model, loss, carry.y.astype(dtype), carry.t.astype(dtype), tol, dtype)
        status = jnp.where(carry.status == SWITCH, RUNNING, carry.status).astype(jnp.int32)
        return s._replace(y0=carry.y0, steps=carry.steps, accepted=carry.accepted,
                          t_below=carry.t_below, max_drift=carry.max_drift, status=status)

    def _fresh(self, model, loss, v, t0, tol, dtype):
        tol = cast_tolerances(tol, dtype)
        data = model.prepare(loss)
        gnorm = jnp.linalg.norm(model.grad(v, data))
        t_below = jnp.where(gnorm <= tol.grad, t0, jnp.inf).astype(dtype)
        dt, sstate, cstate = self._init(model, loss, v, t0, tol, dtype)
        finite = jnp.isfinite(gnorm) & jnp.all(jnp.isfinite(v))
        status = jnp.where(finite, RUNNING, NON_FINITE).astype(jnp.int32)
        return MemberState(
            y=v, y0=v, t=t0, dt=dt, solver_state=sstate, controller_state=cstate,
            made_jump=jnp.asarray(False), steps=jnp.zeros((), jnp.int32),
            accepted=jnp.zeros((), jnp.int32), t_below=t_below, grad_norm=gnorm,
            max_drift=jnp.zeros((), dtype), status=status)

    def advance(self, model, state: MemberState, loss, tol, n_steps, dtype,
                hands_over: bool) -> MemberState:
        """At most `n_steps` more steps of one run (stops early when its status is decided).
        The loop carries the full state, so `k` rounds of `n` steps give exactly the same
        trajectory as one call with `k·n` steps."""
        tol = cast_tolerances(tol, dtype)
        data = model.prepare(loss)
        c0 = model.conserved(state.y0)
        v0sq = lsum(state.y0 * state.y0)

        def cond(c):
            s, k = c
            return (s.status == RUNNING) & (k < n_steps)

        def body(c):
            s, k = c
            s, keep = self._step(model, loss, s, tol, dtype)
            steps = s.steps + 1
            gnorm = jnp.linalg.norm(model.grad(s.y, data))
            gnorm = jnp.where(keep, gnorm, s.grad_norm)
            d = jnp.where(keep, model.drift(c0, v0sq, s.y), 0.0)
            t_below, status = test_and_status(tol, s.t, s.y, gnorm, s.t_below, steps, s.status)
            if hands_over:
                status = hand_over(status, gnorm, steps, tol)
            s = s._replace(steps=steps, grad_norm=gnorm, t_below=t_below.astype(s.t_below.dtype),
                           max_drift=jnp.maximum(s.max_drift, d), status=status)
            return s, k + 1

        state, _ = jax.lax.while_loop(cond, body, (state, jnp.zeros((), jnp.int32)))
        return state

