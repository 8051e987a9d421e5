"""The loop shared by the batch-last integrators (Tsit5, Rosenbrock): step-size control, the
stopping rule, the drift of the conserved quantities and the hand-over test, on a block whose
samples are the trailing axis. A subclass gives only its `step`.

The step-size controller is integral, on the RMS norm of the error estimate scaled by
`atol + rtol·max(|y₀|, |y₁|)` (safety 0.9, factors in [0.2, 10], exponent 1/4, computed with
square roots so that it is IEEE-exact on every code path).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import _batchlast as B
from ._base import Blocks
from ._stopping import (
    NON_FINITE,
    RUNNING,
    SWITCH,
    MemberState,
    cast_tolerances,
    hand_over,
    test_and_status,
)

SAFETY, FACTOR_MIN, FACTOR_MAX = 0.9, 0.2, 10.0
STIFF_FRACTION = 0.9  # of the explicit method's stability boundary
CALM_RESET = 6  # non-stiff steps that reset the stiffness count


def initial_step(f, y, f0, tol):
    """Hairer's initial step size (as diffrax's `PIDController.init`, with exponent 1/4), per
    sample."""
    sc = tol.atol + tol.rtol * jnp.abs(y)
    d0, d1 = B.rms(y / sc), B.rms(f0 / sc)
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / jnp.where(d1 > 0, d1, 1.0))
    f1 = f(y + h0 * f0)
    d2 = B.rms((f1 - f0) / sc) / h0
    m = jnp.maximum(d1, d2)
    h1 = jnp.where(m <= 1e-15, jnp.maximum(1e-6, h0 * 1e-3), jnp.sqrt(jnp.sqrt(0.01 / jnp.where(m > 0, m, 1.0))))
    h = jnp.minimum(100 * h0, h1)
    return jnp.where(jnp.isfinite(h) & (h > 0), h, 1e-6)


def _vector_field(model, loss):
    data = model.prepare(loss)
    f = lambda y: -model.grad(y, data)  # noqa: E731
    hess = lambda y: model.hessian(y, data)  # noqa: E731
    return f, hess


class BatchLastIntegrator:
    """Base of the batch-last integrators: subclasses set `name`, `needs_hessian`,
    `stiffness_boundary` (`None`: no stiffness test) and implement
    `step(f, hess, y, fy, h) -> (y1, f1, err, hrho)`; `error_scale` multiplies the controller's
    tolerances (`None`: 1)."""

    stiffness_boundary = None
    error_scale = None

    def layout(self, lanes: int):
        return Blocks(lanes)

    def start(self, model, loss, weights0, tol, dtype) -> MemberState:
        """Runs at `t = 0` from `weights0` (batch-trailing leaves)."""
        tol = cast_tolerances(tol, dtype)
        f, _ = _vector_field(model, loss)
        y = model.flatten([jnp.asarray(W, dtype) for W in weights0])
        batch = y.shape[1:]
        f0 = f(y)
        gnorm = B.norm(f0)
        t = jnp.zeros(batch, dtype)
        dt = initial_step(f, y, f0, tol).astype(dtype)
        finite = jnp.isfinite(gnorm) & jnp.all(jnp.isfinite(y), axis=0)
        status = jnp.where(finite, RUNNING, NON_FINITE).astype(jnp.int32)
        zi = jnp.zeros(batch, jnp.int32)
        return MemberState(
            y=y, y0=y, t=t, dt=dt, solver_state=(f0, zi, zi), controller_state=(),
            made_jump=jnp.zeros(batch, bool), steps=zi, accepted=zi,
            t_below=jnp.where(gnorm <= tol.grad, t, jnp.inf).astype(dtype), grad_norm=gnorm,
            max_drift=jnp.zeros(batch, dtype), status=status)

    def resume(self, model, loss, carry: MemberState, tol, dtype) -> MemberState:
        """Continue runs handed over by the stage before (its step size carries over)."""
        f, _ = _vector_field(model, loss)
        y = carry.y.astype(dtype)
        f0 = f(y)
        zi = jnp.zeros(y.shape[1:], jnp.int32)
        status = jnp.where(carry.status == SWITCH, RUNNING, carry.status).astype(jnp.int32)
        return carry._replace(y=y, y0=carry.y0.astype(dtype), t=carry.t.astype(dtype),
                              dt=carry.dt.astype(dtype), solver_state=(f0, zi, zi),
                              controller_state=(), made_jump=jnp.zeros(y.shape[1:], bool),
                              status=status)

    def advance(self, model, state: MemberState, loss, tol, n_steps, dtype,
                hands_over: bool) -> MemberState:
        """At most `n_steps` more steps (every sample keeps its own step size; the loop runs until
        all have stopped or `n_steps`)."""
        tol = cast_tolerances(tol, dtype)
        f, hess = _vector_field(model, loss)
        c0 = model.conserved(state.y0)
        v0sq = B.lsum(state.y0 * state.y0)
        stiff = self.stiffness_boundary
        stiff_at = None if stiff is None else STIFF_FRACTION * stiff

        def body(c):
            s, k = c
            run = s.status == RUNNING
            fy, n_stiff, n_calm = s.solver_state
            h = jnp.minimum(s.dt, tol.t_max - s.t)
            y1, f1, err, hrho = self.step(f, hess, s.y, fy, h)
            scale = tol.atol + tol.rtol * jnp.maximum(jnp.abs(s.y), jnp.abs(y1))
            if self.error_scale is not None:
                scale = scale * getattr(tol, self.error_scale)
            en = B.rms(err / scale)
            en = jnp.where(jnp.isnan(en), jnp.inf, en)
            keep = en <= 1.0
            # `en^(−1/4)` by two square roots: IEEE-exact, so the step size of a sample never
            # depends on whether its SIMD lane took a vector or a scalar code path (`**` did, in
            # 1 ulp). Exponent 1/4 for both families (Rodas4's error order; for Tsit5 a slightly
            # bolder proposal than 1/5, the acceptance test `en ≤ 1` unchanged).
            fac = SAFETY / jnp.sqrt(jnp.sqrt(jnp.where(en > 0, en, 1.0)))
            fac = jnp.where(en > 0, fac, FACTOR_MAX)
            fac = jnp.clip(jnp.where(jnp.isfinite(fac), fac, FACTOR_MIN), FACTOR_MIN, FACTOR_MAX)
            t = jnp.where(keep, s.t + h, s.t)
            t = jnp.where(keep & (h >= tol.t_max - s.t), tol.t_max, t)
            dt = jnp.maximum(h * fac, jnp.finfo(dtype).tiny)
            y = jnp.where(keep, y1, s.y)
            fy_new = jnp.where(keep, f1, fy)
            gnorm = jnp.where(keep, B.norm(f1), s.grad_norm)
            dr = jnp.where(keep, model.drift(c0, v0sq, y), 0.0)
            steps = s.steps + 1
            if stiff_at is not None:
                is_stiff = keep & (hrho > stiff_at)
                calm = keep & ~is_stiff
                n_calm_new = jnp.where(is_stiff, 0, n_calm + calm.astype(jnp.int32))
                n_stiff_new = jnp.where(is_stiff, n_stiff + 1,
                                        jnp.where(n_calm_new >= CALM_RESET, 0, n_stiff))
            else:
                n_stiff_new, n_calm_new = n_stiff, n_calm
            t_below, status = test_and_status(tol, t, y, gnorm, s.t_below, steps, s.status)
            if hands_over:
                extra = None if stiff_at is None else n_stiff_new >= tol.stiff_steps
                status = hand_over(status, gnorm, steps, tol, extra)
            new = s._replace(y=y, t=t.astype(dtype), dt=dt.astype(dtype),
                             solver_state=(fy_new, n_stiff_new, n_calm_new),
                             steps=steps, accepted=s.accepted + keep.astype(jnp.int32),
                             t_below=t_below.astype(dtype), grad_norm=gnorm,
                             max_drift=jnp.maximum(s.max_drift, dr), status=status)
            new = jax.tree.map(lambda a, b: jnp.where(B.bcast(run, a), a, b), new, s)
            return new, k + 1

        def cond(c):
            s, k = c
            return jnp.any(s.status == RUNNING) & (k < n_steps)

        state, _ = jax.lax.while_loop(cond, body, (state, jnp.zeros((), jnp.int32)))
        return state
