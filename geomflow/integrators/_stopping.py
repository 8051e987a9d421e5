"""The stopping rule, written once for every integrator: statuses, tolerances, the dwell test.

`‖∇L(w)‖_F ≤ grad` alone is fooled near `w = 0` for `h ≥ 3`, where `∇L ≈ 0` (the gradient is of
order `‖w‖^{h−1}`): a small initialisation lingers there for a time `~ w_0^{−(h−2)/h}` and then
leaves (MATH.md §5). A run is therefore **converged** only if

- the gradient test has held *without interruption* over a dwell interval `[t_b, t]` with
  `t − t_b ≥ dwell + dwell_rel · t_b` (`t_b` the time it last became true): the flow has stopped
  moving for a while, not merely passed a slow point;
- within the time budget `t_max` and step budget `max_steps` (otherwise `budget_exhausted`);
- with finite values (`non_finite`) and bounded weights (`diverged`: `‖w‖ > divergence`).

The polished point is then classified (see `geomflow._finalise`); non-converged runs keep their
status as their label.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .. import _batchlast as B
from .._errors import GeomflowError

# Status codes of a run (int32 in records). RUNNING only inside the kernel.
CONVERGED = 0
BUDGET_EXHAUSTED = 1
DIVERGED = 2
NON_FINITE = 3
RUNNING = 4
SWITCH = 5  # internal: a stage that hands over (e.g. Tsit5 of solver "auto") handed over
STATUS_NAMES = ("converged", "budget_exhausted", "diverged", "non_finite", "running", "switch")
PRECISIONS = ("float64", "float32")


class FlowTolerances(NamedTuple):
    """Tolerances and budgets of a run; a pytree of scalars, traced (a new value never recompiles).

    - `grad = 1e-9`: the stopping test `‖∇L(w)‖_F ≤ grad` (absolute).
    - `rtol = 1e-8`, `atol = 1e-10`: the step-size controller (and the implicit solver's Newton).
    - `t_max = 1e4`: the time budget (for optax methods `t = steps · learning_rate`).
    - `max_steps = 1e5`: the step budget (attempted steps, accepted or not).
    - `dwell = 1.0`, `dwell_rel = 0.25`: the gradient test must hold over
      `[t_b, t_b + dwell + dwell_rel·t_b]` (see `geomflow.integrators._stopping`).
    - `divergence = 1e6`: `‖w‖_F` above which the run is `diverged`.
    - `polish_radius = 1e-3`: the polish never moves further than this from the flow's end point.
    - `learning_rate = 1e-2`: step size of the optax methods (ignored by the flow).
    - `classify_grad = 1e-8`: the classifier's criticality threshold (see `Tolerances.grad`).
    - `classify_eig = 1e-6`: the classifier's zero-eigenvalue threshold (`Tolerances.eig`).
    - `classify_loss = 1e-8`: the classifier's global-minimum threshold (`Tolerances.loss`).
    - `index_set = 1e-6`: the tolerance of the index-set oracle.
    - `switch_grad = 1e-3`, `switch_steps = 4000`: a stage that hands over (Tsit5 of `"auto"`)
      does so once `‖∇L‖ ≤ switch_grad` or after `switch_steps` steps (a stiff transient).
    - `newton_tol = 1e-8`: relative tolerance of diffrax's Kvaerno chord iteration (absolute
      tolerance scaled like `atol/rtol`).
    - `stiff_steps = 15`: Tsit5 also hands over once it has made this many stability-limited
      steps (`h·ρ > 0.9 ×` its real stability boundary 3.51, `ρ` the Lipschitz estimate between
      the last two stages; a run of 6 non-stiff steps resets the count; Hairer's test).
    - `implicit_tol_scale = 0.2`: the Rosenbrock stage runs at `rtol`, `atol` times this.
      Measured on (3,2,2,3), 2048 samples: at 1.0 the max relative δ drift was 5.9e-8, at 0.2
      it is 6.5e-9.
    - `drift_tol = 1e-8`: the per-sample bound on the relative δ drift (conserved quantities):
      a converged run over it is re-integrated at tolerances `drift_retry_scale` times tighter,
      and counted `over_drift_bound` in the summary if it is still over.
    - `drift_retry_scale = 0.1`: see `drift_tol`.
    """

    grad: Any = 1e-9
    rtol: Any = 1e-8
    atol: Any = 1e-10
    t_max: Any = 1e4
    max_steps: Any = 100_000
    dwell: Any = 1.0
    dwell_rel: Any = 0.25
    divergence: Any = 1e6
    polish_radius: Any = 1e-3
    learning_rate: Any = 1e-2
    classify_grad: Any = 1e-8
    classify_eig: Any = 1e-6
    classify_loss: Any = 1e-8
    index_set: Any = 1e-6
    switch_grad: Any = 1e-3
    switch_steps: Any = 4000
    newton_tol: Any = 1e-8
    stiff_steps: Any = 15
    implicit_tol_scale: Any = 0.2
    drift_tol: Any = 1e-8
    drift_retry_scale: Any = 0.1

    @classmethod
    def for_precision(cls, precision: str = "float64", **overrides) -> FlowTolerances:
        """Defaults for a precision: float32 cannot resolve `‖∇L‖ ≤ 1e-9`, so its flow stops at
        `grad = 1e-4` (`rtol = 1e-5`, `atol = 1e-6`, Newton tolerance `1e-3`, at most 20000
        steps, drift bound `1e-4`) and the float64 polish (radius `5e-2`) does the rest.

        Examples:
            >>> FlowTolerances.for_precision("float32", t_max=10.0).grad
            0.0001
            >>> FlowTolerances.for_precision("float64", gard=1.0)
            Traceback (most recent call last):
            ...
            geomflow._errors.GeomflowError: unknown tolerance 'gard'; accepted: grad, rtol, atol, t_max, max_steps, dwell, dwell_rel, divergence, polish_radius, learning_rate, classify_grad, classify_eig, classify_loss, index_set, switch_grad, switch_steps, newton_tol, stiff_steps, implicit_tol_scale, drift_tol, drift_retry_scale
        """
        if precision not in PRECISIONS:
            raise GeomflowError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        base = cls() if precision == "float64" else cls(
            grad=1e-4, rtol=1e-5, atol=1e-6, polish_radius=5e-2, switch_grad=1e-2,
            max_steps=20_000, newton_tol=1e-3, drift_tol=1e-4)
        for k in overrides:
            if k not in cls._fields:
                raise GeomflowError(f"unknown tolerance {k!r}; accepted: {', '.join(cls._fields)}")
        return base._replace(**{k: v for k, v in overrides.items() if v is not None})

    def as_arrays(self, dtype=None) -> FlowTolerances:
        """The same tolerances as 0-d arrays (float64 unless `dtype`; the counts int32, the
        dtype of the step counters)."""
        dtype = dtype or jnp.float64
        return FlowTolerances(
            *[jnp.asarray(v, dtype=jnp.int32 if k in INT_TOLERANCES else dtype)
              for k, v in self._asdict().items()]
        )


INT_TOLERANCES = ("max_steps", "switch_steps", "stiff_steps")


def cast_tolerances(tol, dtype):
    """Floating tolerances in `dtype` (the integration precision), counts as they are."""
    return jax.tree.map(lambda a: jnp.asarray(a).astype(dtype) if jnp.asarray(a).dtype.kind == "f"
                        else jnp.asarray(a), tol)


class MemberState(NamedTuple):
    """The complete state of runs between rounds (a pytree). Batch-last integrators hold a block
    with the samples trailing; member integrators (diffrax, optax) one sample (batched by `vmap`
    with a leading axis)."""

    y: jax.Array  # flat weights
    y0: jax.Array  # flat initial weights (for the drift of the conserved quantities)
    t: jax.Array
    dt: jax.Array  # next step size (flow) / the learning rate (optax)
    solver_state: Any
    controller_state: Any
    made_jump: jax.Array
    steps: jax.Array  # attempted steps
    accepted: jax.Array
    t_below: jax.Array  # when the gradient test last became true (inf while false)
    grad_norm: jax.Array
    max_drift: jax.Array  # max relative drift of the conserved quantities at accepted steps
    status: jax.Array


def test_and_status(tol, t, v, gnorm, t_below, steps, status_in):
    """Update the dwell clock and the status after a step (`v (d_w, *b)`; reductions run over
    its leading axis only, so this serves one sample and a batch-last block alike)."""
    below = gnorm <= tol.grad
    t_below = jnp.where(below, jnp.minimum(t_below, t), jnp.inf)
    done = below & (t - t_below >= tol.dwell + tol.dwell_rel * t_below)
    finite = jnp.isfinite(gnorm) & jnp.all(jnp.isfinite(v), axis=0)
    status = jnp.where(done, CONVERGED, RUNNING)
    status = jnp.where((status == RUNNING) & ((t >= tol.t_max) | (steps >= tol.max_steps)),
                       BUDGET_EXHAUSTED, status)
    status = jnp.where(B.norm(v) > tol.divergence, DIVERGED, status)
    status = jnp.where(finite, status, NON_FINITE)
    status = jnp.where(status_in == RUNNING, status, status_in).astype(jnp.int32)
    return t_below, status


def hand_over(status, gnorm, steps, tol, extra=None):
    """`SWITCH` for running members that meet a hand-over test (`‖∇L‖ ≤ switch_grad`, or
    `switch_steps` steps, or the integrator's own `extra` test)."""
    test = (gnorm <= tol.switch_grad) | (steps >= tol.switch_steps)
    if extra is not None:
        test = test | extra
    return jnp.where((status == RUNNING) & test, SWITCH, status).astype(jnp.int32)
