"""Gradient flow on `L = ℓ ∘ μ` to its limit, for one sample: integrate, stop, polish, classify.

The one-sample kernel is [`solve_one`][]; it is built from three pure, vmappable pieces that the
batched runner ([`run_batch`][]) also uses, so a member's result never depends on the batch it
ran in:

1. [`init_member`][]: the state of one member (weights, time, step size, solver and controller
   state, counters).
2. [`advance_member`][]: at most `n` more steps of `ẇ = −∇L(w)` with a diffrax solver and a
   PID step-size controller, driven by geomflow's own loop (so the complete state, including the
   next step size, can be saved, compacted and continued exactly), or of an optax optimiser.
3. [`finalise_member`][]: polish and classification in float64, and the per-sample record.

## Solver and batching

The default solver `"auto"` runs on geomflow's batch-last kernels ([`geomflow._soa`][]): every
array carries its samples on the last axis, so the samples are SIMD lanes and a sample's
arithmetic never depends on which others share its batch. It has two stages: Tsit5 (explicit)
for the transient, then Rodas5P (a stiffly accurate, L-stable Rosenbrock method with the exact
Hessian) from the hand-over to the end, where Tsit5 stalls. A run hands over once
`‖∇L‖ ≤ switch_grad`, after `switch_steps` explicit steps, or when Hairer's stiffness test finds
Tsit5 stability-limited for `stiff_steps` steps. [`run_batch`][] keeps one pool per stage, a
whole number of fixed-width blocks of lanes (`SOA_LANES`), and runs it in rounds of at most
`round_steps` steps; each block runs its own loop (a block whose samples have all stopped costs
nothing), finished members leave (to the next stage or out), the running ones are compacted into
the first blocks, and free slots are refilled. Several devices: each device runs the same
single-device executable on its slice of the pool, so results do not depend on the device count.

Any diffrax solver can be chosen instead (`"tsit5+kvaerno5"`: the same two-stage scheme with
diffrax's Tsit5 and Kvaerno5; `"kvaerno5"`, `"tsit5"`, `"dopri5"`, …), as can the optax methods;
they run `vmap`ped members of [`advance_member`][] in pools resized among buckets
`pool_size, pool_size/shrink, …` (implicit diffrax stages one member after another with
`lax.map`: a vmapped LU rounds differently with the batch's composition), and several devices
by `shard_map`.

## The stopping rule (when is a run *converged*?)

`‖∇L(w)‖_F ≤ grad` alone is fooled near `w = 0` for `h ≥ 3`, where `∇L ≈ 0` (the gradient is of
order `‖w‖^{h−1}`): a small initialisation lingers there for a time `~ w_0^{−(h−2)/h}` and then
leaves (MATH.md §5). geomflow therefore calls a run **converged** only if

- the gradient test has held *without interruption* over a dwell interval `[t_b, t]` with
  `t − t_b ≥ dwell + dwell_rel · t_b` (`t_b` the time it last became true): the flow has stopped
  moving for a while, not merely passed a slow point; a flow that must still leave a neighbourhood
  of `w = 0` speeds up again and resets the test;
- within the time budget `t_max` and step budget `max_steps` (otherwise `budget_exhausted`);
- with finite values (`non_finite`) and bounded weights (`diverged`: `‖w‖ > divergence`);
- and the polished point is then classified by `classify_critical_point`; a point the classifier
  does not accept as critical is tallied `not_critical`, never put in a critical set.

A point that is *exactly* critical (e.g. `w(0) = 0`) passes the dwell and is classified (zero
Hessian for `h ≥ 3`). An initialisation so small that `‖∇L(w_0)‖ ≤ grad` and whose escape time
exceeds the dwell is reported as the critical class of the point it sits at, which is where the
flow is, to that tolerance, within the dwell; make `grad` smaller than the initial gradient (or
the dwell longer) to see it leave. Non-converged runs keep their status as their label.

## Polish

Levenberg–Marquardt on `∇L(w) = 0` in float64: `Δ = −E diag(λ/(λ² + m)) Eᵀ g` from the Hessian's
eigendecomposition `H = E diag(λ) Eᵀ` (with `m → 0` the pseudo-inverse Newton step, well defined
at the degenerate Morse–Bott minima), accepted only if it stays within `polish_radius` of where the
flow ended, does not increase the loss (beyond one rounding unit of `L`) and reduces `‖∇L‖`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import GeomflowError
from ._losses import network_loss
from ._networks import flatten_weights, product, unflatten_weights
from ._sampling import ProblemSpec, sample_problem

# Status codes of a run (int32 in records). RUNNING only inside the kernel.
CONVERGED = 0
BUDGET_EXHAUSTED = 1
DIVERGED = 2
NON_FINITE = 3
RUNNING = 4
SWITCH = 5  # internal: the explicit first stage of solver "auto" handed over to the second
STATUS_NAMES = ("converged", "budget_exhausted", "diverged", "non_finite", "running", "switch")

SOA_IMPLICIT = "rodas5p"  # the implicit stage of solver "auto" ("rodas4" also works)
SOLVERS = ("auto", "tsit5+kvaerno5", "kvaerno5", "kvaerno3", "tsit5", "dopri5", "dopri8", "bosh3")
METHODS = ("flow", "gd", "momentum", "adam")
PRECISIONS = ("float64", "float32")


class FlowTolerances(NamedTuple):
    """Tolerances and budgets of a run; a pytree of scalars, traced (a new value never recompiles).

    - `grad = 1e-9`: the stopping test `‖∇L(w)‖_F ≤ grad` (absolute).
    - `rtol = 1e-8`, `atol = 1e-10`: the step-size controller (and the implicit solver's Newton).
    - `t_max = 1e4`: the time budget (for optax methods `t = steps · learning_rate`).
    - `max_steps = 1e5`: the step budget (attempted steps, accepted or not).
    - `dwell = 1.0`, `dwell_rel = 0.25`: the gradient test must hold over
      `[t_b, t_b + dwell + dwell_rel·t_b]` (see the module docstring).
    - `divergence = 1e6`: `‖w‖_F` above which the run is `diverged`.
    - `polish_radius = 1e-3`: the polish never moves further than this from the flow's end point.
    - `learning_rate = 1e-2`: step size of the optax methods (ignored by the flow).
    - `classify_grad = 1e-8`: the classifier's criticality threshold (see `Tolerances.grad`).
    - `classify_eig = 1e-6`: the classifier's zero-eigenvalue threshold (`Tolerances.eig`).
    - `classify_loss = 1e-8`: the classifier's global-minimum threshold (`Tolerances.loss`).
    - `index_set = 1e-6`: the tolerance of the index-set oracle.
    - `switch_grad = 1e-3`, `switch_steps = 4000`: solver `"auto"` hands a run from its explicit
      stage (Tsit5) to its implicit stage (Kvaerno5) once `‖∇L‖ ≤ switch_grad` or after
      `switch_steps` explicit steps (a stiff transient).
    - `newton_tol = 1e-8`: relative tolerance of the implicit solver's chord iteration (absolute
      tolerance scaled like `atol/rtol`; diffrax's Kvaerno solvers only).
    - `stiff_steps = 15`: solver `"auto"` also hands over once its Tsit5 stage has made this many
      stability-limited steps (`h·ρ > 0.9 ×` Tsit5's real stability boundary 3.51, with `ρ` the
      Lipschitz estimate between the last two stages; a run of 6 non-stiff steps resets the
      count; Hairer's test for DOPRI5).
    - `implicit_tol_scale = 0.2`: solver `"auto"`'s implicit stage (Rodas5P) runs at
      `rtol`, `atol` times this. Measured on (3,2,2,3), 2048 samples: at 1.0 the max relative δ
      drift was 5.9e-8 (its order-4 error estimate is optimistic for the order-5 solution over
      long tails), at 0.2 it is 6.5e-9, below Tsit5's own 4e-9-level drift floor × 2.
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

    @classmethod
    def for_precision(cls, precision: str = "float64", **overrides) -> FlowTolerances:
        """Defaults for a precision: float32 cannot resolve `‖∇L‖ ≤ 1e-9`, so its flow stops at
        `grad = 1e-4` (`rtol = 1e-5`, `atol = 1e-6`, Newton tolerance `1e-3`, at most 20000
        steps) and the float64 polish (radius `5e-2`) does the rest."""
        if precision not in PRECISIONS:
            raise GeomflowError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        base = cls() if precision == "float64" else cls(grad=1e-4, rtol=1e-5, atol=1e-6, polish_radius=5e-2, switch_grad=1e-2, max_steps=20_000, newton_tol=1e-3)
        for k in overrides:
            if k not in cls._fields:
                raise GeomflowError(f"unknown tolerance {k!r}; accepted: {', '.join(cls._fields)}")
        return base._replace(**{k: v for k, v in overrides.items() if v is not None})

    def as_arrays(self, dtype=None) -> FlowTolerances:
        """The same tolerances as 0-d arrays (float64 unless `dtype`; `max_steps` int64/int32)."""
        dtype = dtype or jnp.result_type(float)
        it = jnp.result_type(int)
        return FlowTolerances(
            *[jnp.asarray(v, dtype=it if k in _INT_TOLERANCES else dtype)
              for k, v in self._asdict().items()]
        )


_INT_TOLERANCES = ("max_steps", "switch_steps", "stiff_steps")


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    """The static part of a run (changing it recompiles): method, solver, precision, polish.

    - `method`: `"flow"` (diffrax) or an optax optimiser `"gd"`, `"momentum"` (0.9), `"adam"`.
    - `solver`: the ODE solver of the flow. Default `"auto"`: geomflow's batch-last Tsit5 for the
      transient, then Rodas5P (Rosenbrock, exact Hessian) from the hand-over (`switch_grad`,
      `switch_steps`, `stiff_steps`) to the end. Measured on (3,2,2,3), 2048 samples: ~470
      Tsit5 steps and ~140 Rodas5P steps per sample, 0.57 and 4.2 µs per sample-step on a
      2-core Xeon (the LSODA loop: ~800 steps, ~2000 gradient evaluations per sample).
      `"tsit5+kvaerno5"` is the same scheme with diffrax's solvers (hand-over on `switch_grad`
      and `switch_steps` only); any single diffrax solver (`"kvaerno5"`, `"tsit5"`, …) can be
      chosen. Tsit5 alone reaches `‖∇L‖ = 1e-3` in 250–5000 steps (20000+ on stiff transients)
      but then stalls at a gradient-norm floor (`~3e-5` after 1e5 steps).
    - `precision`: `"float64"` or `"float32"` for the integration (classification is float64).
    - `polish_iters`: Levenberg–Marquardt iterations of the polish.
    """

    method: str = "flow"
    solver: str = "auto"
    precision: str = "float64"
    polish_iters: int = 8

    def __post_init__(self):
        if self.method not in METHODS:
            raise GeomflowError(f"unknown method {self.method!r}; accepted: {', '.join(METHODS)}")
        if self.solver not in SOLVERS:
            raise GeomflowError(f"unknown solver {self.solver!r}; accepted: {', '.join(SOLVERS)}")
        if self.precision not in PRECISIONS:
            raise GeomflowError(
                f"unknown precision {self.precision!r}; accepted: {', '.join(PRECISIONS)}"
            )

    @property
    def dtype(self):
        return jnp.float32 if self.precision == "float32" else jnp.float64

    @property
    def stages(self) -> tuple[tuple[str, bool], ...]:
        """`(solver, hands_over)` per stage: `"auto"` is Tsit5 then Rodas5P (geomflow's batch-last
        kernels, `geomflow._soa`); `"tsit5+kvaerno5"` is diffrax's Tsit5 then Kvaerno5."""
        if self.method != "flow":
            return ((self.method, False),)
        if self.solver == "auto":
            return (("tsit5", True), (SOA_IMPLICIT, False))
        if self.solver == "tsit5+kvaerno5":
            return (("tsit5", True), ("kvaerno5", False))
        return ((self.solver, False),)

    @property
    def engine(self) -> str:
        """`"soa"` (batch-last kernels, solver `"auto"`) or `"diffrax"` (every other solver and
        the optax methods, vmapped)."""
        return "soa" if self.method == "flow" and self.solver == "auto" else "diffrax"


class MemberState(NamedTuple):
    """The complete state of one run between rounds (a pytree; batched with a leading axis)."""

    y: jax.Array  # flat weights
    y0: jax.Array  # flat initial weights (for the δ drift)
    t: jax.Array
    dt: jax.Array  # next step size (flow) / unused (optax)
    solver_state: Any  # diffrax solver state, or the optax state
    controller_state: Any
    made_jump: jax.Array
    steps: jax.Array  # attempted steps
    accepted: jax.Array
    t_below: jax.Array  # when the gradient test last became true (inf while false)
    grad_norm: jax.Array
    max_drift: jax.Array  # max relative δ drift seen at accepted steps
    status: jax.Array


class FlowRecord(NamedTuple):
    """The per-sample record (all fields scalars per sample except `fibre`, of length `b`)."""

    index: Any
    status: Any
    label: Any  # class code if converged, else -1
    loss: Any
    loss_star: Any
    gap: Any
    grad_norm: Any
    grad_norm_flow: Any
    t: Any
    steps: Any
    accepted: Any
    delta_drift: Any
    polish_step: Any
    eig_min: Any
    eig_max: Any
    n_negative: Any
    n_zero: Any
    rank_dmu: Any
    index_set: Any
    index_set_valid: Any
    fibre: Any


# ---------------------------------------------------------------------------------------------
# Pieces of the kernel


def _solver(name: str, tol: FlowTolerances):
    import diffrax
    import optimistix as optx

    if name in ("kvaerno5", "kvaerno3"):
        # The Newton (chord) iteration of the implicit stages: its own tolerance, since in
        # float32 a chord solve to the step controller's rtol does not converge (measured:
        # steps of 1e-5 with half of them rejected).
        root = diffrax.VeryChord(rtol=tol.newton_tol, atol=tol.newton_tol * tol.atol / tol.rtol,
                                 norm=optx.rms_norm)
        cls = diffrax.Kvaerno5 if name == "kvaerno5" else diffrax.Kvaerno3
        return cls(root_finder=root)
    return {"tsit5": diffrax.Tsit5, "dopri5": diffrax.Dopri5, "dopri8": diffrax.Dopri8,
            "bosh3": diffrax.Bosh3}[name]()


def _optimiser(method: str, lr):
    import optax

    if method == "gd":
        return optax.sgd(lr)
    if method == "momentum":
        return optax.sgd(lr, momentum=0.9)
    return optax.adam(lr)


def _flat_fns(spec: ProblemSpec):
    """`(f, grad, drift)` on flat weights of one sample: the loss, its closed-form gradient and
    the relative δ drift, from the batch-last kernels with no batch axis (one implementation
    for every engine)."""
    from . import _soa as S

    arch = spec.arch

    def f(v, loss):
        return network_loss(loss, unflatten_weights(arch, v))

    def grad_closed(v, loss):
        return S.grad(arch, v, S.prepare_loss(getattr(loss, "kind", "custom"), loss))

    def drift(v0, v):
        return S.drift(arch, S.deltas(arch, v0), S.lsum(v0 * v0), v)

    return f, grad_closed, drift


def _test_and_status(spec, tol, t, v, gnorm, t_below, steps, status_in):
    """Update the dwell clock and the status after a step (shared by every engine and optax;
    `v` is `(d_w, *batch)`, reductions run over its leading axis only)."""
    from . import _soa as S

    below = gnorm <= tol.grad
    t_below = jnp.where(below, jnp.minimum(t_below, t), jnp.inf)
    done = below & (t - t_below >= tol.dwell + tol.dwell_rel * t_below)
    finite = jnp.isfinite(gnorm) & jnp.all(jnp.isfinite(v), axis=0)
    status = jnp.where(done, CONVERGED, RUNNING)
    status = jnp.where((status == RUNNING) & ((t >= tol.t_max) | (steps >= tol.max_steps)),
                       BUDGET_EXHAUSTED, status)
    status = jnp.where(S.norm(v) > tol.divergence, DIVERGED, status)
    status = jnp.where(finite, status, NON_FINITE)
    status = jnp.where(status_in == RUNNING, status, status_in).astype(jnp.int32)
    return t_below, status


def init_member(spec: ProblemSpec, config: FlowConfig, loss, weights0, tol: FlowTolerances,
                *, stage: int = 0) -> MemberState:
    """The state of one run at `t = 0` (jittable; `spec`, `config`, `stage` static)."""
    if config.engine == "soa":
        return soa_start(spec, config, loss, weights0, tol)
    v = flatten_weights(weights0).astype(config.dtype)
    return _start(spec, config, loss, v, jnp.zeros((), config.dtype), tol, stage)


def resume_member(spec: ProblemSpec, config: FlowConfig, loss, carry: MemberState,
                  tol: FlowTolerances, *, stage: int) -> MemberState:
    """Continue a run handed over by stage `stage − 1` with the solver of `stage`.

    The weights, time, counters, dwell clock and drift carry over; the new solver and step-size
    controller start afresh at `(t, w)`. A run whose status is not `SWITCH` is left as it is.
    """
    if config.engine == "soa":
        return soa_start(spec, config, loss, None, tol, stage=stage, carry=carry)
    s = _start(spec, config, loss, carry.y.astype(config.dtype), carry.t.astype(config.dtype), tol, stage)
    status = jnp.where(carry.status == SWITCH, RUNNING, carry.status).astype(jnp.int32)
    return s._replace(y0=carry.y0, steps=carry.steps, accepted=carry.accepted,
                      t_below=carry.t_below, max_drift=carry.max_drift, status=status)


def _start(spec, config, loss, v, t0, tol, stage):
    dtype = config.dtype
    tol = _cast_tol(tol, dtype)
    f, grad, drift = _flat_fns(spec)
    g = grad(v, loss)
    gnorm = jnp.linalg.norm(g)
    zero = jnp.zeros((), dtype)
    t_below = jnp.where(gnorm <= tol.grad, t0, jnp.inf).astype(dtype)
    name, _ = config.stages[stage]
    if config.method == "flow":
        import diffrax

        solver = _solver(name, tol)
        term = diffrax.ODETerm(lambda t, y, args: -grad(y, args))
        controller = diffrax.PIDController(rtol=tol.rtol, atol=tol.atol)
        t1, cstate = controller.init(term, t0, tol.t_max, v, None, loss, solver.func,
                                     solver.error_order(term))
        dt = jnp.maximum(jnp.minimum(t1, tol.t_max) - t0, jnp.finfo(dtype).tiny).astype(dtype)
        sstate = solver.init(term, t0, t0 + dt, v, loss)
        cstate = jax.tree.map(jnp.asarray, cstate)
    else:
        opt = _optimiser(config.method, tol.learning_rate)
        sstate = opt.init(v)
        cstate = ()
        dt = jnp.asarray(tol.learning_rate, dtype)
    finite = jnp.isfinite(gnorm) & jnp.all(jnp.isfinite(v))
    status = jnp.where(finite, RUNNING, NON_FINITE).astype(jnp.int32)
    return MemberState(
        y=v, y0=v, t=t0, dt=dt, solver_state=sstate, controller_state=cstate,
        made_jump=jnp.asarray(False), steps=jnp.zeros((), jnp.int32),
        accepted=jnp.zeros((), jnp.int32), t_below=t_below, grad_norm=gnorm,
        max_drift=zero, status=status,
    )


def _cast_tol(tol, dtype):
    return jax.tree.map(lambda a: jnp.asarray(a).astype(dtype) if jnp.asarray(a).dtype.kind == "f"
                        else jnp.asarray(a), tol)


def advance_member(spec: ProblemSpec, config: FlowConfig, state: MemberState, loss,
                   tol: FlowTolerances, n_steps, *, stage: int = 0) -> MemberState:
    """At most `n_steps` more steps of one run (stops early when its status is decided).

    Jittable; `n_steps` may be traced. The loop carries the full state, so `k` rounds of `n`
    steps give exactly the same trajectory as one call with `k·n` steps.
    """
    if config.engine == "soa":
        return soa_advance(spec, config, state, loss, tol, n_steps, stage=stage)
    f, grad, drift = _flat_fns(spec)
    tol = _cast_tol(tol, config.dtype)
    name, hands_over = config.stages[stage]

    if config.method == "flow":
        import diffrax

        solver = _solver(name, tol)
        term = diffrax.ODETerm(lambda t, y, args: -grad(y, args))
        controller = diffrax.PIDController(rtol=tol.rtol, atol=tol.atol)
        order = solver.error_order(term)

        def step(s: MemberState) -> MemberState:
            t0 = s.t
            t1 = jnp.minimum(t0 + s.dt, tol.t_max)
            y1, yerr, _, sstate, res = solver.step(term, t0, t1, s.y, loss, s.solver_state, s.made_jump)
            yerr = jax.tree.map(lambda e: jnp.where(jnp.isnan(e), jnp.inf, e), yerr)
            keep, tprev, tnext, jump, cstate, _ = controller.adapt_step_size(
                t0, t1, s.y, y1, loss, yerr, order, s.controller_state
            )
            tnext = jnp.where(tnext > tol.t_max * (1 - 1e-12), tol.t_max, tnext)
            y = jnp.where(keep, y1, s.y)
            sstate = jax.tree.map(lambda a, b: jnp.where(keep, a, b), sstate, s.solver_state)
            jump = jnp.where(keep, jump, s.made_jump)
            t = jnp.where(keep, tprev, t0)
            dt = jnp.maximum(tnext - t, jnp.finfo(config.dtype).tiny)
            return s._replace(y=y, t=t.astype(config.dtype), dt=dt.astype(config.dtype),
                              solver_state=sstate, controller_state=cstate, made_jump=jump,
                              accepted=s.accepted + keep.astype(jnp.int32)), keep
    else:
        opt = _optimiser(config.method, tol.learning_rate)

        def step(s: MemberState) -> MemberState:
            import optax

            g = grad(s.y, loss)
            updates, ostate = opt.update(g, s.solver_state, s.y)
            y = optax.apply_updates(s.y, updates)
            return s._replace(y=y, t=s.t + tol.learning_rate, solver_state=ostate,
                              accepted=s.accepted + 1), jnp.asarray(True)

    def cond(c):
        s, k = c
        return (s.status == RUNNING) & (k < n_steps)

    def body(c):
        s, k = c
        s, keep = step(s)
        steps = s.steps + 1
        gnorm = jnp.linalg.norm(grad(s.y, loss))
        gnorm = jnp.where(keep, gnorm, s.grad_norm)
        d = jnp.where(keep, drift(s.y0, s.y), 0.0)
        t_below, status = _test_and_status(spec, tol, s.t, s.y, gnorm, s.t_below, steps, s.status)
        if hands_over:
            switch = (status == RUNNING) & ((gnorm <= tol.switch_grad) | (steps >= tol.switch_steps))
            status = jnp.where(switch, SWITCH, status).astype(jnp.int32)
        s = s._replace(steps=steps, grad_norm=gnorm, t_below=t_below.astype(s.t_below.dtype),
                       max_drift=jnp.maximum(s.max_drift, d), status=status)
        return s, k + 1

    state, _ = jax.lax.while_loop(cond, body, (state, jnp.zeros((), jnp.int32)))
    return state



# ---------------------------------------------------------------------------------------------
# Solver "auto": the batch-last engine (`geomflow._soa`). The member functions below take arrays
# whose trailing axes are the batch (none for one sample); `run_batch` moves the sample axis to
# the end once per round.

_SAFETY, _FACTOR_MIN, _FACTOR_MAX = 0.9, 0.2, 10.0
_STIFF_FRACTION = 0.9  # of Tsit5's stability boundary


def _soa_fns(spec: ProblemSpec, loss):
    from . import _soa as S

    arch = spec.arch
    data = S.prepare_loss(getattr(loss, "kind", "custom"), loss)
    f = lambda y: -S.grad(arch, y, data)  # noqa: E731
    hess = lambda y: S.hessian(arch, y, data)  # noqa: E731
    return f, hess


def _soa_initial_step(f, y, f0, tol):
    """Hairer's initial step size (as diffrax's `PIDController.init`, with exponent 1/4), per
    sample."""
    from . import _soa as S

    sc = tol.atol + tol.rtol * jnp.abs(y)
    d0, d1 = S.rms(y / sc), S.rms(f0 / sc)
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / jnp.where(d1 > 0, d1, 1.0))
    f1 = f(y + h0 * f0)
    d2 = S.rms((f1 - f0) / sc) / h0
    m = jnp.maximum(d1, d2)
    h1 = jnp.where(m <= 1e-15, jnp.maximum(1e-6, h0 * 1e-3), jnp.sqrt(jnp.sqrt(0.01 / jnp.where(m > 0, m, 1.0))))
    h = jnp.minimum(100 * h0, h1)
    return jnp.where(jnp.isfinite(h) & (h > 0), h, 1e-6)


def soa_start(spec: ProblemSpec, config: FlowConfig, loss, weights0, tol: FlowTolerances, *,
              stage: int = 0, carry: MemberState | None = None) -> MemberState:
    """The state of runs of solver `"auto"` at `t = 0` (`stage = 0`, from `weights0`) or handed
    over by stage 0 (`stage = 1`, from `carry`); arrays batch-trailing (`W_i (d_i, d_{i−1}, *b)`).
    """
    from . import _soa as S

    dtype = config.dtype
    tol = _cast_tol(tol, dtype)
    f, _ = _soa_fns(spec, loss)
    if stage == 0:
        y = S.flatten([jnp.asarray(W, dtype) for W in weights0])
        batch = y.shape[1:]
        f0 = f(y)
        gnorm = S.norm(f0)
        t = jnp.zeros(batch, dtype)
        dt = _soa_initial_step(f, y, f0, tol).astype(dtype)
        finite = jnp.isfinite(gnorm) & jnp.all(jnp.isfinite(y), axis=0)
        status = jnp.where(finite, RUNNING, NON_FINITE).astype(jnp.int32)
        zi = jnp.zeros(batch, jnp.int32)
        return MemberState(
            y=y, y0=y, t=t, dt=dt, solver_state=(f0, zi, zi), controller_state=(),
            made_jump=jnp.zeros(batch, bool), steps=zi, accepted=zi,
            t_below=jnp.where(gnorm <= tol.grad, t, jnp.inf).astype(dtype), grad_norm=gnorm,
            max_drift=jnp.zeros(batch, dtype), status=status)
    y = carry.y.astype(dtype)
    f0 = f(y)
    zi = jnp.zeros(y.shape[1:], jnp.int32)
    status = jnp.where(carry.status == SWITCH, RUNNING, carry.status).astype(jnp.int32)
    return carry._replace(y=y, y0=carry.y0.astype(dtype), t=carry.t.astype(dtype),
                          dt=carry.dt.astype(dtype), solver_state=(f0, zi, zi),
                          controller_state=(), made_jump=jnp.zeros(y.shape[1:], bool),
                          status=status)


def soa_advance(spec: ProblemSpec, config: FlowConfig, state: MemberState, loss,
                tol: FlowTolerances, n_steps, *, stage: int = 0) -> MemberState:
    """At most `n_steps` more steps of runs of solver `"auto"` (batch-trailing arrays; every
    sample keeps its own step size, the loop runs until all have stopped or `n_steps`)."""
    from . import _soa as S

    arch = spec.arch
    dtype = config.dtype
    tol = _cast_tol(tol, dtype)
    f, hess = _soa_fns(spec, loss)
    hands_over = config.stages[stage][1]
    explicit = config.stages[stage][0] == "tsit5"
    d0 = S.deltas(arch, state.y0)
    v0sq = S.lsum(state.y0 * state.y0)
    stiff_at = _STIFF_FRACTION * S.TSIT5_STABILITY

    def body(c):
        s, k = c
        run = s.status == RUNNING
        fy, n_stiff, n_calm = s.solver_state
        h = jnp.minimum(s.dt, tol.t_max - s.t)
        if explicit:
            y1, f1, err, hrho = S.tsit5_step(f, s.y, fy, h)
        else:
            y1, err = S.rosenbrock_step(f, hess, s.y, fy, h, config.stages[stage][0])
            f1 = f(y1)
        scale = tol.atol + tol.rtol * jnp.maximum(jnp.abs(s.y), jnp.abs(y1))
        if not explicit:
            scale = scale * tol.implicit_tol_scale
        en = S.rms(err / scale)
        en = jnp.where(jnp.isnan(en), jnp.inf, en)
        keep = en <= 1.0
        # `en^(−1/4)` by two square roots: IEEE-exact, so the step size of a sample never
        # depends on whether its SIMD lane took a vector or a scalar code path (`**` did, in 1
        # ulp). Both stages use exponent 1/4 (Rodas4's error order; for Tsit5 it is a slightly
        # bolder proposal than 1/5, the acceptance test `en ≤ 1` is unchanged).
        fac = _SAFETY / jnp.sqrt(jnp.sqrt(jnp.where(en > 0, en, 1.0)))
        fac = jnp.where(en > 0, fac, _FACTOR_MAX)
        fac = jnp.clip(jnp.where(jnp.isfinite(fac), fac, _FACTOR_MIN), _FACTOR_MIN, _FACTOR_MAX)
        t = jnp.where(keep, s.t + h, s.t)
        t = jnp.where(keep & (h >= tol.t_max - s.t), tol.t_max, t)
        dt = jnp.maximum(h * fac, jnp.finfo(dtype).tiny)
        y = jnp.where(keep, y1, s.y)
        fy_new = jnp.where(keep, f1, fy)
        gnorm = jnp.where(keep, S.norm(f1), s.grad_norm)
        dr = jnp.where(keep, S.drift(arch, d0, v0sq, y), 0.0)
        steps = s.steps + 1
        if explicit:
            stiff = keep & (hrho > stiff_at)
            calm = keep & ~stiff
            n_calm_new = jnp.where(stiff, 0, n_calm + calm.astype(jnp.int32))
            n_stiff_new = jnp.where(stiff, n_stiff + 1, jnp.where(n_calm_new >= 6, 0, n_stiff))
        else:
            n_stiff_new, n_calm_new = n_stiff, n_calm
        t_below, status = _test_and_status(spec, tol, t, y, gnorm, s.t_below, steps, s.status)
        if hands_over:
            switch = (status == RUNNING) & ((gnorm <= tol.switch_grad) | (steps >= tol.switch_steps)
                                            | (n_stiff_new >= tol.stiff_steps))
            status = jnp.where(switch, SWITCH, status).astype(jnp.int32)
        new = s._replace(y=y, t=t.astype(dtype), dt=dt.astype(dtype),
                         solver_state=(fy_new, n_stiff_new, n_calm_new),
                         steps=steps, accepted=s.accepted + keep.astype(jnp.int32),
                         t_below=t_below.astype(dtype), grad_norm=gnorm,
                         max_drift=jnp.maximum(s.max_drift, dr), status=status)
        new = jax.tree.map(lambda a, b: jnp.where(_bcast(run, a), a, b), new, s)
        return new, k + 1

    def cond(c):
        s, k = c
        return jnp.any(s.status == RUNNING) & (k < n_steps)

    state, _ = jax.lax.while_loop(cond, body, (state, jnp.zeros((), jnp.int32)))
    return state


def _bcast(mask, a):
    """`mask (*b)` broadcast against a batch-trailing `a (…, *b)`."""
    return jnp.reshape(mask, (1,) * (a.ndim - mask.ndim) + mask.shape)


def _loss_kind(spec: ProblemSpec, loss) -> str:
    return getattr(loss, "kind", None) or spec.loss


def loss_star_of(spec: ProblemSpec, loss):
    """`L*` where it is known (quadratic loss: Eckart–Young; a perturbed or Hadamard distance on a
    filling architecture: 0), else `None`. The loss object's `kind` decides (the spec's for
    losses without one)."""
    arch = spec.arch
    kind = _loss_kind(spec, loss)
    if kind == "quadratic":
        from ._oracles import global_min_value

        return global_min_value(loss.X, loss.Y, arch.rank)
    if arch.filling and kind in ("perturbed", "hadamard"):
        return jnp.zeros((), loss.Q.dtype)
    return None


def no_bad_minima(spec: ProblemSpec, loss=None) -> bool:
    """Whether theory excludes non-global local minima: quadratic loss (Baldi–Hornik,
    Kawaguchi), or a convex loss on a filling architecture (Laurent–von Brecht; a
    `CustomLoss` counts as convex only if it says so)."""
    kind = spec.loss if loss is None else _loss_kind(spec, loss)
    convex = True if loss is None else bool(getattr(loss, "convex", False))
    return kind == "quadratic" or (spec.arch.filling and convex)


def polish(f, v_end, loss, radius, iters: int):
    """Guarded Levenberg–Marquardt on `∇L = 0` from `v_end` (see the module docstring).

    **Returns:** `(v, accepted_steps)`; `‖v − v_end‖ ≤ radius`, `L(v) ≤ L(v_end)` (up to one rounding
    unit of `L`) and `‖∇L(v)‖ ≤ ‖∇L(v_end)‖`.
    """
    grad = jax.grad(f)
    hess = jax.hessian(f)
    eps = jnp.finfo(v_end.dtype).eps

    def body(_, c):
        v, L, gn, m, n_acc = c
        g = grad(v, loss)
        H = hess(v, loss)
        lam, E = jnp.linalg.eigh(0.5 * (H + H.T))
        scale = jnp.maximum(1.0, jnp.max(jnp.abs(lam))) ** 2
        step = -E @ ((lam / (lam * lam + m * scale)) * (E.T @ g))
        vn = v + step
        Ln = f(vn, loss)
        gnn = jnp.linalg.norm(grad(vn, loss))
        ok = (
            (jnp.linalg.norm(vn - v_end) <= radius)
            & (Ln <= L + 2 * eps * jnp.abs(L))
            & (gnn < gn)
            & jnp.isfinite(Ln)
            & jnp.isfinite(gnn)
        )
        return (jnp.where(ok, vn, v), jnp.where(ok, Ln, L), jnp.where(ok, gnn, gn),
                jnp.where(ok, m * 1e-3, m * 1e3), n_acc + ok.astype(jnp.int32))

    L0 = f(v_end, loss)
    g0 = jnp.linalg.norm(grad(v_end, loss))
    m0 = jnp.asarray(1e-14, v_end.dtype)
    v, _, _, _, n_acc = jax.lax.fori_loop(0, iters, body, (v_end, L0, g0, m0, jnp.zeros((), jnp.int32)))
    return v, n_acc


def finalise_member(spec: ProblemSpec, config: FlowConfig, loss, index, y_end, y0,
                    state_summary, tol: FlowTolerances) -> FlowRecord:
    """Polish and classify one finished run in float64, and build its [`FlowRecord`][].

    `loss` is the float64 loss of the sample (float32 runs are classified exactly like float64
    ones); `state_summary = (status, t, steps, accepted, grad_norm_flow, max_drift)`.
    Jittable; vmappable in everything but `spec`, `config`.
    """
    from ._critical import Tolerances, classify_critical_point

    status, t, steps, accepted, gflow, max_drift = state_summary
    arch = spec.arch
    loss = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), loss)
    f, grad, drift = _flat_fns(spec)
    tol = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64) if jnp.asarray(a).dtype.kind == "f" else a, tol)
    v_end = jnp.asarray(y_end, jnp.float64)
    converged = status == CONVERGED
    v_start = jnp.where(converged, v_end, jnp.zeros_like(v_end))
    v, _ = polish(f, v_start, loss, tol.polish_radius, config.polish_iters)
    v = jnp.where(converged, v, v_end)
    w = unflatten_weights(arch, v)
    L_star = loss_star_of(spec, loss)
    ctol = Tolerances(grad=tol.classify_grad, eig=tol.classify_eig, loss=tol.classify_loss)
    rep = classify_critical_point(loss, w, loss_star=L_star, no_bad_minima=no_bad_minima(spec, loss),
                                  tolerances=ctol)
    label = jnp.where(converged, rep.label, -1).astype(jnp.int32)
    drift_final = drift(jnp.asarray(y0, jnp.float64), v_end)
    if _loss_kind(spec, loss) == "quadratic":
        from ._oracles import critical_index_set

        S, S_valid = critical_index_set(loss.X, loss.Y, product(w), tol=tol.index_set)
    else:
        S, S_valid = jnp.asarray(-1, jnp.int32), jnp.asarray(False)
    fibre = _fibre(w, arch)
    Ls = jnp.asarray(jnp.nan if L_star is None else L_star, jnp.float64)
    return FlowRecord(
        index=jnp.asarray(index, jnp.int64), status=status.astype(jnp.int32), label=label,
        loss=rep.loss, loss_star=Ls, gap=rep.loss - Ls, grad_norm=rep.grad_norm,
        grad_norm_flow=jnp.asarray(gflow, jnp.float64), t=jnp.asarray(t, jnp.float64),
        steps=steps.astype(jnp.int32), accepted=accepted.astype(jnp.int32),
        delta_drift=jnp.maximum(jnp.asarray(max_drift, jnp.float64), drift_final),
        polish_step=jnp.linalg.norm(v - v_end), eig_min=rep.eig_min, eig_max=rep.eig_max,
        n_negative=rep.n_negative.astype(jnp.int32), n_zero=rep.n_zero.astype(jnp.int32),
        rank_dmu=jnp.asarray(rep.rank_dmu).astype(jnp.int32), index_set=S.astype(jnp.int32),
        index_set_valid=S_valid, fibre=fibre,
    )


def _fibre(w, arch):
    """Fibre-component label in {±1}^b (0 where `geomflow._fibres` is not available)."""
    try:
        from ._fibres import fibre_label
    except ImportError:  # pragma: no cover - the fibres module is optional here
        return jnp.zeros((arch.b,), jnp.int8)
    return jnp.asarray(fibre_label(w), jnp.int8).reshape((arch.b,))


def solve_one(spec: ProblemSpec, seed, index, tolerances: FlowTolerances | None = None,
              config: FlowConfig = FlowConfig()) -> FlowRecord:
    """Run sample `index` of `spec` to its end and return its [`FlowRecord`][] (one sample).

    Samples the problem (`fold_in(key(seed), index)`), integrates `ẇ = −∇L(w)` (or runs the
    optax method) until the stopping rule decides, polishes and classifies, with the same
    member functions as [`run_batch`][] (which is what sweeps use; the two agree up to
    round-off, since XLA compiles an unbatched loop differently from a vmapped one).

    **Arguments:**

    - `spec`: the [`ProblemSpec`][] (static).
    - `seed`, `index`: integers (may be traced).
    - `tolerances`: a [`FlowTolerances`][] (default: `FlowTolerances.for_precision(config.precision)`).
    - `config`: the [`FlowConfig`][] (static).

    **Returns:** a [`FlowRecord`][].

    Examples:
        >>> from geomflow._critical import CLASS_NAMES
        >>> rec = solve_one(ProblemSpec((2, 2, 2), data="whitened"), 0, 0)  # doctest: +SKIP
        >>> STATUS_NAMES[int(rec.status)], CLASS_NAMES[int(rec.label)]  # doctest: +SKIP
        ('converged', 'global_min')
    """
    tol = tolerances if tolerances is not None else FlowTolerances.for_precision(config.precision)
    tol = tol.as_arrays()
    return _solve_one_jit(spec, config, jnp.asarray(seed), jnp.asarray(index), tol)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _solve_one_jit(spec, config, seed, index, tol):
    loss, w0 = sample_problem(spec, seed, index, jnp.float64)
    loss_c = jax.tree.map(lambda a: a.astype(config.dtype), loss)
    w0 = tuple(W.astype(config.dtype) for W in w0)
    s = init_member(spec, config, loss_c, w0, tol)
    for stage in range(len(config.stages)):
        if stage:
            s = resume_member(spec, config, loss_c, s, tol, stage=stage)
        s = advance_member(spec, config, s, loss_c, tol, tol.max_steps, stage=stage)
    summary = (s.status, s.t, s.steps, s.accepted, s.grad_norm, s.max_drift)
    return finalise_member(spec, config, loss, index, s.y, s.y0, summary, tol)


# ---------------------------------------------------------------------------------------------
# Batching: a pool of slots that runs in rounds, refills and compacts.


class BatchStats(NamedTuple):
    """Work accounting of [`run_batch`][].

    - `needed`: member steps the runs needed (the sum of their step counts);
    - `executed`: member steps the devices executed (lockstep: per device and round, the
      slowest member's steps times the number of slots, dead slots included);
    - `rounds`, `compiles`: rounds run and distinct pool shapes used.
    """

    needed: int
    executed: int
    rounds: int
    pool_sizes: tuple

    @property
    def useful_work_fraction(self) -> float:
        return self.needed / self.executed if self.executed else 1.0


_RAW_FIELDS = ("y", "y0", "status", "t", "dt", "steps", "accepted", "grad_norm", "max_drift",
               "t_below")


def _mesh(n_devices: int):
    devices = jax.devices()[:n_devices]
    if len(devices) < n_devices:
        raise GeomflowError(f"asked for {n_devices} devices, JAX sees {len(jax.devices())}")
    return jax.sharding.Mesh(np.asarray(devices), ("batch",))


@functools.lru_cache(maxsize=64)
def _stage_kernels(spec: ProblemSpec, config: FlowConfig, stage: int, n_devices: int):
    """Jitted, vmapped (and, for several devices, shard_mapped) start / advance / merge."""
    dtype = config.dtype
    d_w = spec.arch.num_params

    def start_one(loss, w0, carry, valid, tol):
        loss = jax.tree.map(lambda a: a.astype(dtype), loss)
        if stage == 0:
            s = init_member(spec, config, loss, tuple(W.astype(dtype) for W in w0), tol)
        else:
            c = MemberState(y=carry["y"], y0=carry["y0"], t=carry["t"], dt=carry["dt"], solver_state=None,
                            controller_state=None, made_jump=None, steps=carry["steps"],
                            accepted=carry["accepted"], t_below=carry["t_below"],
                            grad_norm=carry["grad_norm"], max_drift=carry["max_drift"],
                            status=carry["status"])
            c = jax.tree.map(lambda a: a.astype(dtype) if a.dtype.kind == "f" else a, c)
            s = resume_member(spec, config, loss, c, tol, stage=stage)
        return s._replace(status=jnp.where(valid, s.status, BUDGET_EXHAUSTED).astype(jnp.int32)), loss

    def advance_one(state, loss, tol, n):
        return advance_member(spec, config, state, loss, tol, n, stage=stage)

    implicit = config.stages[stage][0].startswith("kvaerno")
    lanes = None
    if config.engine == "soa":
        # Batch-last kernels on blocks of a fixed number of lanes (`SOA_LANES`), one block after
        # another (`lax.map`, each block with its own loop): every sample is computed by the same
        # compiled code whatever the pool size, the device count or its neighbours (a block of
        # another width vectorises differently and rounds differently, measured), and a block
        # with no running sample costs nothing.
        from ._soa import from_soa, to_soa

        lanes = SOA_LANES[min(stage, len(SOA_LANES) - 1)]

        def blocked(fn, *args):
            n = jax.tree.leaves(args)[0].shape[0]
            rs = jax.tree.map(lambda a: a.reshape((n // lanes, lanes) + a.shape[1:]), args)
            out = jax.lax.map(lambda blk: from_soa(fn(*to_soa(blk))), rs)
            return jax.tree.map(lambda a: a.reshape((n,) + a.shape[2:]), out)

        def start_b(loss, w0, carry, valid, tol):
            return blocked(lambda *a: start_one(*a, tol), loss, w0, carry, valid)

        def adv_b(state, loss, tol, n):
            return blocked(lambda s, lo: advance_one(s, lo, tol, n), state, loss)
    elif implicit:
        # Implicit stages run their members one after another (lax.map, no lockstep): the
        # batched LU of a vmapped Newton solve rounds differently with the batch's composition
        # (1e-14, measured), and a member's result must not depend on its pool. A vmapped
        # implicit step costs as much per member as an unbatched one here (~35 µs), so nothing
        # is lost. This also keeps lineax's LU out of shard_map, where it fails (jax 0.10.2).
        def start_b(loss, w0, carry, valid, tol):
            return jax.lax.map(lambda a: start_one(*a, tol), (loss, w0, carry, valid))

        def adv_b(state, loss, tol, n):
            return jax.lax.map(lambda a: advance_one(a[0], a[1], tol, n), (state, loss))
    else:
        start_b = jax.vmap(start_one, in_axes=(0, 0, 0, 0, None))
        adv_b = jax.vmap(advance_one, in_axes=(0, 0, None, None))
    if config.engine == "soa":
        start_j, adv_j = jax.jit(start_b), jax.jit(adv_b)
        if n_devices > 1:
            start_j, adv_j = _per_device(start_j, n_devices), _per_device(adv_j, n_devices)
        return start_j, adv_j, _merge, n_devices, False, lanes
    sharded = n_devices > 1 and not implicit
    if sharded:
        from jax.sharding import PartitionSpec as Pspec

        mesh = _mesh(n_devices)
        B, R = Pspec("batch"), Pspec()
        start_b = jax.shard_map(start_b, mesh=mesh, in_specs=(B, B, B, B, R), out_specs=(B, B),
                                check_vma=False)
        adv_b = jax.shard_map(adv_b, mesh=mesh, in_specs=(B, B, R, R), out_specs=B,
                              check_vma=False)
    del d_w
    return jax.jit(start_b), jax.jit(adv_b), _merge, (n_devices if sharded else 1), implicit, lanes


def _per_device(fn, n_devices: int):
    """Run jitted `fn` on `n_devices` equal slices of its batched arguments (leading axis), one
    slice per device, concurrently (asynchronous dispatch), and join the results on the first.

    Every device runs the *same* single-device executable, so a sample's result does not depend
    on the device count (under `shard_map` XLA compiled the Rosenbrock block differently and
    results moved by an ulp, measured; also with a 1-device mesh against 4). Arguments that are not batched (tolerances, step counts) are
    0-d arrays and go to every device whole.
    """
    devices = _mesh(n_devices).devices.ravel().tolist()

    def run(*args):
        def part(k):
            def cut(a):
                a = jnp.asarray(a)
                if a.ndim == 0:
                    return jax.device_put(a, devices[k])
                m = a.shape[0] // n_devices
                return jax.device_put(a[k * m:(k + 1) * m], devices[k])
            return jax.tree.map(cut, args)

        outs = [fn(*part(k)) for k in range(n_devices)]
        return jax.tree.map(lambda *xs: jnp.concatenate([jax.device_put(x, devices[0]) for x in xs]),
                            *outs)

    return run


@jax.jit
def _permute(tree, order):
    return jax.tree.map(lambda a: a[order], tree)


@jax.jit
def _merge(mask, new, old):
    return jax.tree.map(lambda a, b: jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b),
                        new, old)


class _Pool:
    """The slots of one stage: refilled from its queue, advanced in rounds, resized in buckets."""

    def __init__(self, kernels, problems, raw, tol, sizes, unit):
        self.start_b, self.adv_b, self.merge, self.unit, self.sequential, self.lanes = kernels
        del unit
        self.problems, self.raw, self.tol = problems, raw, tol
        self.sizes = sizes
        self.state = self.loss = None
        self.pos = np.zeros(0, np.int64)
        self.used_sizes = []

    def live(self):
        return np.nonzero(self.pos >= 0)[0]

    def _start(self, positions):
        p = np.maximum(positions, 0)
        carry = {k: jnp.asarray(self.raw[k][p]) for k in _RAW_FIELDS}
        loss, w0 = self.problems(p)
        return self.start_b(loss, w0, carry, jnp.asarray(positions >= 0), self.tol)

    def resize(self, size):
        if size == self.pos.size:
            return
        self.used_sizes.append(size)
        live = self.live()
        if self.state is None or live.size == 0:
            self.pos = np.full(size, -1, np.int64)
            self.state, self.loss = self._start(self.pos)
            return
        sel = np.concatenate([live, np.full(size - live.size, live[0])])
        self.state, self.loss = jax.tree.map(lambda a: a[jnp.asarray(sel)], (self.state, self.loss))
        pad = np.arange(size) >= live.size
        self.state = self.state._replace(
            status=jnp.where(jnp.asarray(pad), BUDGET_EXHAUSTED, self.state.status))
        self.pos = np.where(pad, -1, self.pos[sel])

    def fit(self, queued: int, final: bool):
        """Pick the bucket for `live + queued` members; shrink only once no more will arrive."""
        need = self.live().size + queued
        if need == 0:
            return
        target = next((s for s in reversed(self.sizes) if s >= need), self.sizes[0])
        if target > self.pos.size or (target < self.pos.size and (final or queued == 0)):
            self.resize(target)

    def compact(self):
        """Move the running members to the front (fewest blocks busy; batch-last engine)."""
        order = np.argsort(self.pos < 0, kind="stable")
        if self.state is None or np.array_equal(order, np.arange(order.size)):
            return
        self.state, self.loss = _permute((self.state, self.loss), jnp.asarray(order))
        self.pos = self.pos[order]

    def fill(self, queue):
        if self.lanes:
            self.compact()
        free = np.nonzero(self.pos < 0)[0]
        k = min(free.size, len(queue))
        if k == 0:
            return
        new = np.full(self.pos.size, -1, np.int64)
        new[free[:k]] = [queue.popleft() for _ in range(k)]
        ns, nl = self._start(new)
        self.state, self.loss = self.merge(jnp.asarray(new >= 0), (ns, nl), (self.state, self.loss))
        self.pos = np.where(new >= 0, new, self.pos)

    def round(self, n_steps):
        """One round; returns `(finished positions, needed, executed)` and writes `raw`."""
        before = np.asarray(self.state.steps)
        self.state = self.adv_b(self.state, self.loss, self.tol, n_steps)
        status = np.asarray(self.state.status)
        steps = np.asarray(self.state.steps)
        per_dev = (steps - before).reshape(self.unit, -1)
        if self.sequential:  # lax.map: every member runs its own loop, no lockstep
            executed = int(per_dev.sum())
        elif self.lanes:  # blocks of `lanes` in lockstep, each with its own loop
            executed = int((steps - before).reshape(-1, self.lanes).max(axis=1).sum()) * self.lanes
        else:
            executed = int(per_dev.max(axis=1).sum()) * (self.pos.size // self.unit)
        done = np.nonzero((status != RUNNING) & (self.pos >= 0))[0]
        needed = 0
        if done.size:
            p = self.pos[done]
            for k in _RAW_FIELDS:
                self.raw[k][p] = np.asarray(getattr(self.state, k))[done]
            needed = int((steps[done] - self.raw["stage_start"][p]).sum())
            self.raw["stage_start"][p] = steps[done]
            self.pos[done] = -1
        else:
            p = None
        return (p if done.size else np.zeros(0, np.int64)), needed, executed


def kernel_spec(spec: ProblemSpec) -> ProblemSpec:
    """The part of a spec the compiled kernels depend on (widths, loss kind, number of data
    points): data models and initialisations share one compilation."""
    return ProblemSpec(spec.widths, loss=spec.loss, n_data=spec.num_data)


@functools.lru_cache(maxsize=64)
def _sampler(spec: ProblemSpec):
    return jax.jit(jax.vmap(lambda seed, i: sample_problem(spec, seed, i, jnp.float64),
                            in_axes=(None, 0)))


def sampled_problems(spec: ProblemSpec, seed: int, indices):
    """A problem source for [`run_batch`][]: positions → `(losses, weights0)` of the samples
    `indices[positions]` under `seed` (float64, batched)."""
    indices = np.asarray(indices, np.int64)
    fn = _sampler(spec)
    seed = jnp.asarray(seed)
    return lambda positions: fn(seed, jnp.asarray(indices[positions]))


def given_problems(losses, weights0):
    """A problem source for [`run_batch`][] from stacked losses and initial weights (leading
    axis = sample), e.g. constructed instances."""
    losses = jax.tree.map(jnp.asarray, losses)
    weights0 = tuple(jnp.asarray(W) for W in weights0)
    return lambda positions: jax.tree.map(lambda a: a[jnp.asarray(positions)], (losses, weights0))


IMPLICIT_POOL = 32
# Lanes per block of the batch-last engine, per stage (Tsit5, Rosenbrock): measured on a 2-core
# AVX-512 Xeon, widths (3,2,2,3): Tsit5 0.87/0.66/0.44 µs per sample-step at 32/64/128 lanes,
# Rodas4 3.5/3.4/3.2 µs (Rodas5P was then chosen for fewer steps, same lanes). Every pool is a whole number of blocks, on every device.
SOA_LANES = (128, 32)
LATER_STAGE_ROUND_DIV = 4


def run_batch(spec: ProblemSpec, config: FlowConfig, seed: int, indices, tolerances=None, *,
              pool_size: int = 256, round_steps: int = 50, n_devices: int = 1,
              shrink: int = 4, on_finished=None, problems=None):
    """Run many samples to their end in pools of slots that never wait for their slowest member.

    Each stage of the solver (one, or two for `"auto"` and `"tsit5+kvaerno5"`) has a pool of
    slots. Every round advances each live slot by at most `round_steps` steps (a quarter of that
    in a later stage of `"auto"`); then finished members leave (to the next stage's queue, or
    out), and free slots are refilled from the queue. Solver `"auto"`: the pool is a whole
    number of blocks of `SOA_LANES` lanes per device (`pool_size` rounded up), each block a loop
    of its own (a round costs each block its slowest member's steps), running members are moved
    to the front before each refill, and a later stage waits until it can fill its pool (or
    nothing more will come). Other solvers: one vmapped loop per device (a round costs its
    slowest member's steps), resized among the buckets `pool_size, pool_size/shrink, …` to fit
    what is left. A member's state (weights, time, next step size, solver and controller state,
    dwell clock) is carried between rounds unchanged, so its trajectory does not depend on the
    pool, the rounds, the chunking, or the devices.

    **Arguments:**

    - `spec`, `config`: the problem and the run configuration (static).
    - `seed`: the sweep seed; `indices`: the global sample indices to run.
    - `tolerances`: a [`FlowTolerances`][] (traced; default for the precision).
    - `pool_size`: slots (a multiple of `n_devices`); `round_steps`: steps per round.
    - `n_devices`: split each pool over this many devices (solver `"auto"`: each device runs the
      same single-device executable on its slice; other solvers: `shard_map` on a 1-D mesh).
    - `on_finished`: optional callback `f(positions, raw)` with positions into `indices` of the
      runs that just finished (their `raw` rows are final).
    - `problems`: the problem source (default [`sampled_problems`][]`(spec, seed, indices)`).

    **Returns:** `(raw, stats)`: `raw` a dict of numpy arrays (`y`, `y0`, `status`, `t`, `steps`,
    `accepted`, `grad_norm`, `max_drift`, …) in the order of `indices`, and a [`BatchStats`][].
    Finish them with [`finalise_batch`][].
    """
    import collections

    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    n = indices.size
    tol = (tolerances if tolerances is not None else FlowTolerances.for_precision(config.precision)).as_arrays()
    d_w = spec.arch.num_params
    raw = {
        "y": np.zeros((n, d_w)), "y0": np.zeros((n, d_w)), "status": np.full(n, RUNNING, np.int32),
        "t": np.zeros(n), "dt": np.zeros(n), "steps": np.zeros(n, np.int32), "accepted": np.zeros(n, np.int32),
        "grad_norm": np.zeros(n), "max_drift": np.zeros(n), "t_below": np.full(n, np.inf),
        "stage_start": np.zeros(n, np.int64),
    }
    if n == 0:
        return raw, BatchStats(0, 0, 0, ())
    unit = n_devices
    if config.engine == "soa":  # one pool size per stage: whole blocks of lanes on every device
        blk = max(SOA_LANES) * n_devices
        sizes = [-(-min(pool_size, n) // blk) * blk]
    else:
        sizes = [max(unit, -(-min(pool_size, n) // unit) * unit)]
        while sizes[-1] // shrink >= unit and (sizes[-1] // shrink) % unit == 0:
            sizes.append(sizes[-1] // shrink)
    if problems is None:
        problems = sampled_problems(spec, seed, indices)
    kspec = kernel_spec(spec)
    n_stages = len(config.stages)
    # Implicit stages run sequentially (lax.map) in pools of IMPLICIT_POOL slots; explicit
    # stages are vmapped, which is bitwise batch-independent (measured).
    pools = [_Pool(_stage_kernels(kspec, config, k, n_devices), problems, raw, tol,
                   [IMPLICIT_POOL] if config.stages[k][0].startswith("kvaerno") else sizes, unit)
             for k in range(n_stages)]
    queues = [collections.deque(range(n))] + [collections.deque() for _ in range(n_stages - 1)]
    n_steps = jnp.asarray(round_steps, jnp.int32)
    # A sequential (implicit) pool has no lockstep, so its rounds can be long; it waits until it
    # can fill half its slots (or nothing more will arrive), to keep the number of rounds low.
    n_steps_seq = jnp.asarray(10 * round_steps, jnp.int32)
    # Later (implicit, costly) stages of the batch-last engine run shorter rounds, so a finished
    # member's slot is refilled sooner.
    n_steps_later = jnp.asarray(max(1, round_steps // LATER_STAGE_ROUND_DIV), jnp.int32)
    needed = executed = rounds = 0
    while True:
        active = False
        for k, pool in enumerate(pools):
            final = all(not queues[j] and pools[j].live().size == 0 for j in range(k))
            if pool.sequential and not final and pool.live().size + len(queues[k]) < IMPLICIT_POOL // 2:
                active = active or bool(queues[k])
                continue
            if (k and not pool.sequential and not final
                    and pool.live().size + len(queues[k]) < pool.sizes[0]):
                # A later stage waits for work rather than run a sparsely filled pool.
                active = active or bool(queues[k])
                continue
            pool.fit(len(queues[k]), final)
            if pool.state is not None:
                pool.fill(queues[k])
            if pool.state is None or pool.live().size == 0:
                continue
            active = True
            done, nd, ex = pool.round(n_steps_seq if pool.sequential else n_steps_later if k else n_steps)
            rounds += 1
            needed += nd
            executed += ex
            if done.size:
                handed = raw["status"][done] == SWITCH
                if k + 1 < n_stages:
                    queues[k + 1].extend(done[handed].tolist())
                finished = done[~handed] if k + 1 < n_stages else done
                if on_finished is not None and finished.size:
                    on_finished(finished, raw)
        if not active and not any(queues):
            break
    used = tuple(tuple(p.used_sizes) for p in pools)
    return raw, BatchStats(needed, executed, rounds, used)


@functools.lru_cache(maxsize=64)
def _finalise_kernel(spec: ProblemSpec, config: FlowConfig):
    def one(loss, index, y, y0, status, t, steps, accepted, gnorm, drift, tol):
        return finalise_member(spec, config, loss, index, y, y0,
                               (status, t, steps, accepted, gnorm, drift), tol)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None)))


FINALISE_BATCH = 64


def finalise_batch(spec: ProblemSpec, config: FlowConfig, seed: int, indices, raw: dict,
                   tolerances=None, problems=None) -> dict:
    """Polish, classify and record finished runs (float64), in fixed batches of 64.

    **Returns:** a dict of numpy arrays, one entry per [`FlowRecord`][] field.
    """
    indices = np.asarray(indices, np.int64)
    tol = (tolerances if tolerances is not None else FlowTolerances.for_precision(config.precision)).as_arrays()
    fn = _finalise_kernel(kernel_spec(spec), config)
    if problems is None:
        problems = sampled_problems(spec, seed, indices)
    n = indices.size
    out = []
    for a in range(0, n, FINALISE_BATCH):
        b = min(n, a + FINALISE_BATCH)
        sel = np.arange(a, a + FINALISE_BATCH)
        sel = np.where(sel < b, sel, a)
        args = [raw[k][sel] for k in ("y", "y0", "status", "t", "steps", "accepted", "grad_norm",
                                       "max_drift")]
        loss, _ = problems(sel)
        rec = fn(loss, jnp.asarray(indices[sel]), *map(jnp.asarray, args), tol)
        out.append({k: np.asarray(v)[: b - a] for k, v in rec._asdict().items()})
    if not out:
        b = spec.arch.b
        return {k: np.zeros((0, b) if k == "fibre" else (0,)) for k in FlowRecord._fields}
    return {k: np.concatenate([o[k] for o in out]) for k in FlowRecord._fields}


def run_problems(spec: ProblemSpec, losses, weights0, tolerances=None,
                 config: FlowConfig = FlowConfig(), *, pool_size: int = 64,
                 round_steps: int = 50, n_devices: int = 1):
    """Run given (e.g. constructed) problems through the batched runner and record them.

    **Arguments:**

    - `spec`: gives the widths and loss kind (its data/init fields are not used).
    - `losses`: a loss pytree with a leading sample axis (e.g. `QuadraticLoss(X[n], Y[n])`).
    - `weights0`: `(W_1, …, W_h)` with a leading sample axis.

    **Returns:** `(records, stats)`: a dict of numpy arrays per [`FlowRecord`][] field (`index` is
    the position in the batch) and the [`BatchStats`][].
    """
    n = int(jax.tree.leaves(weights0)[0].shape[0])
    src = given_problems(losses, weights0)
    tol = tolerances if tolerances is not None else FlowTolerances.for_precision(config.precision)
    idx = np.arange(n)
    raw, stats = run_batch(spec, config, 0, idx, tol, pool_size=pool_size, round_steps=round_steps,
                           n_devices=n_devices, problems=src)
    return finalise_batch(spec, config, 0, idx, raw, tol, problems=src), stats
