"""Gradient flow on `L = ℓ ∘ μ` to its limit: the entry points.

The engine is in layers (data flows down): models (`geomflow.models`: `μ`, its conserved
quantities, closed forms) → losses (`geomflow._losses`) → integrators (`geomflow.integrators`:
one module per family, the stopping rule written once) → scheduler (`geomflow._scheduler`:
pools, blocks, rounds, devices) → finalisation (`geomflow._finalise`: polish, classification,
records) and sweeps (`geomflow._sweep`). This module gives the entry points:

- [`flow_batch`][]: integrate and classify a batch of flows for a given model, loss and initial
  weights, the entry point for JAX users;
- [`run_problems`][]: the same for a `ProblemSpec` and stacked problems;
- [`solve_one`][]: one sample of a spec, unbatched; and the member functions [`init_member`][],
  [`resume_member`][], [`advance_member`][] (one run, jittable) that build it.

Every entry point computes in float64 whatever the caller's `jax_enable_x64` (it runs inside
`jax.enable_x64(True)`); `precision="float32"` integrates in float32 and still classifies in
float64.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ._config import METHODS, SOLVERS, FlowConfig
from ._errors import GeomflowError
from ._finalise import FlowRecord, finalise_batch, finalise_member, polish
from ._precision import x64
from ._sampling import ProblemSpec, sample_problem
from ._scheduler import Backend, BatchStats, given_problems, run_batch, sampled_problems
from .integrators._stopping import (
    BUDGET_EXHAUSTED,
    CONVERGED,
    DIVERGED,
    NON_FINITE,
    RUNNING,
    STATUS_NAMES,
    SWITCH,
    FlowTolerances,
    MemberState,
)

__all__ = [
    "BUDGET_EXHAUSTED", "CONVERGED", "DIVERGED", "NON_FINITE", "RUNNING", "SWITCH", "STATUS_NAMES",
    "METHODS", "SOLVERS", "FlowConfig", "FlowTolerances", "MemberState", "FlowRecord", "BatchStats",
    "Backend", "run_batch", "finalise_batch", "finalise_member", "polish", "given_problems",
    "sampled_problems", "init_member", "resume_member", "advance_member", "solve_one",
    "run_problems", "flow_batch", "FlowBatch", "x64",
]


def init_member(spec: ProblemSpec, config: FlowConfig, loss, weights0, tol: FlowTolerances,
                *, stage: int = 0) -> MemberState:
    """The state of one run at `t = 0` (jittable; `spec`, `config` static)."""
    integrator, _ = config.stages[stage]
    return integrator.start(spec.network, loss, weights0, tol, config.dtype)


def resume_member(spec: ProblemSpec, config: FlowConfig, loss, carry: MemberState,
                  tol: FlowTolerances, *, stage: int) -> MemberState:
    """Continue a run handed over by stage `stage − 1` with the integrator of `stage` (weights,
    time, counters, dwell clock and drift carry over; a run not `SWITCH`ed is left as it is)."""
    integrator, _ = config.stages[stage]
    return integrator.resume(spec.network, loss, carry, tol, config.dtype)


def advance_member(spec: ProblemSpec, config: FlowConfig, state: MemberState, loss,
                   tol: FlowTolerances, n_steps, *, stage: int = 0) -> MemberState:
    """At most `n_steps` more steps of one run (stops early when its status is decided).

    Jittable; `n_steps` may be traced. The loop carries the full state, so `k` rounds of `n`
    steps give exactly the same trajectory as one call with `k·n` steps.
    """
    integrator, hands_over = config.stages[stage]
    return integrator.advance(spec.network, state, loss, tol, n_steps, config.dtype, hands_over)


@x64
def solve_one(spec: ProblemSpec, seed, index, tolerances: FlowTolerances | None = None,
              config: FlowConfig = FlowConfig()) -> FlowRecord:
    """Run sample `index` of `spec` to its end and return its [`FlowRecord`][] (one sample).

    Samples the problem (`fold_in(key(seed), index)`), integrates, polishes and classifies with
    the same member functions as [`run_batch`][] (which is what sweeps use; the two agree up to
    round-off, since XLA compiles an unbatched loop differently from a batched one).

    Examples:
        >>> import geomflow as gf
        >>> rec = solve_one(ProblemSpec((2, 2, 2), data="whitened"), 0, 0)
        >>> gf.STATUS_NAMES[int(rec.status)], gf.CLASS_NAMES[int(rec.label)]
        ('converged', 'global_min')
    """
    tol = tolerances if tolerances is not None else FlowTolerances.for_precision(config.precision)
    return _solve_one_jit(spec, config, jnp.asarray(seed), jnp.asarray(index), tol.as_arrays())


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
    return finalise_member(spec.network, config, loss, index, s.y, s.y0, summary, tol)


@x64
def run_problems(spec: ProblemSpec, losses, weights0, tolerances=None,
                 config: FlowConfig = FlowConfig(), *, pool_size: int | None = 64,
                 round_steps: int = 50, n_devices: int = 1, block_width: int | None = None,
                 loss_star=None, no_bad_minima=None):
    """Run given (e.g. constructed) problems through the batched runner and record them.

    **Arguments:**

    - `spec`: gives the model and loss kind (its data/init fields are not used).
    - `losses`: a loss pytree with a leading sample axis (e.g. `QuadraticLoss(X[n], Y[n])`).
    - `weights0`: the weight leaves with a leading sample axis.
    - `loss_star`, `no_bad_minima`: the user's `L*` (one value or one per sample) and claim.

    **Returns:** `(records, stats)`: a dict of numpy arrays per [`FlowRecord`][] field (`index` is
    the position in the batch) and the [`BatchStats`][].
    """
    n = int(jax.tree.leaves(weights0)[0].shape[0])
    src = given_problems(losses, weights0)
    tol = tolerances if tolerances is not None else FlowTolerances.for_precision(config.precision)
    idx = np.arange(n)
    raw, stats = run_batch(spec, config, 0, idx, tol, pool_size=pool_size, round_steps=round_steps,
                           n_devices=n_devices, block_width=block_width, problems=src)
    rec = finalise_batch(spec, config, 0, idx, raw, tol, problems=src, loss_star=loss_star,
                         no_bad_minima=no_bad_minima)
    return rec, stats


class FlowBatch:
    """The result of [`flow_batch`][]: per-sample `records` (dict of numpy arrays), `stats`,
    and their `categories`, `tally`, `summary()` and `to_pandas()`."""

    def __init__(self, records: dict, stats: BatchStats, loss_kind: str):
        self.records, self.stats, self._kind = records, stats, loss_kind

    @property
    def categories(self) -> np.ndarray:
        from ._tally import categories

        return categories(self.records)

    @property
    def tally(self) -> dict:
        from ._tally import tally

        return tally(self.records, loss=self._kind)

    def to_pandas(self):
        """A pandas DataFrame, one row per sample (with `category`)."""
        import pandas as pd

        from ._tally import records_table

        return pd.DataFrame(records_table(self.records))


@x64
def flow_batch(model, loss, weights0, *, loss_star=None, no_bad_minima=None,
               tolerances: FlowTolerances | None = None, config: FlowConfig = FlowConfig(),
               pool_size: int | None = None, round_steps: int = 50, n_devices: int = 1,
               block_width: int | None = None) -> FlowBatch:
    """Integrate and classify a batch of gradient flows of `L = ℓ ∘ μ` (the JAX user's entry).

    Every flow runs to its limit on the default fast path (batch-last Tsit5 → Rodas5P), is
    polished and classified in float64 (whatever `jax_enable_x64` is set to), and recorded.

    **Arguments:**

    - `model`: a [`Model`][geomflow.models.Model] (`LinearNetwork`, `LinearConvNetwork`,
      `UserModel`, …) or the widths of a linear network.
    - `loss`: a loss pytree with a leading sample axis (`QuadraticLoss`, `PerturbedDistance`,
      `HadamardDistance`, `CustomLoss(fn, params[n])`).
    - `weights0`: the initial weight leaves, each with a leading sample axis.
    - `loss_star`: the global minimum value `L*` if you know it (one value or one per sample);
      with it the classifier tells global from non-global minima.
    - `no_bad_minima`: your claim that every local minimum is global (`None`: the theory's).
    - `tolerances`, `config`, `pool_size`, `round_steps`, `n_devices`, `block_width`: as for
      [`run_batch`][].

    **Returns:** a [`FlowBatch`][] (`records`, `tally`, `to_pandas()`).

    **Raises:** `GeomflowError` for weights of the wrong shapes or a non-finite `loss_star`.

    Examples:
        >>> import jax, jax.numpy as jnp, geomflow as gf
        >>> n = 4
        >>> Q = jax.random.normal(jax.random.key(0), (n, 2, 2))
        >>> loss = gf.CustomLoss(lambda M, q: jnp.sum((M - q) ** 2), Q)
        >>> w0 = tuple(jax.random.normal(k, (n, 2, 2)) for k in jax.random.split(jax.random.key(1), 2))
        >>> res = gf.flow_batch((2, 2, 2), loss, w0, loss_star=0.0)
        >>> res.tally["global_min"]
        4
    """
    from .models import LinearNetwork, Model

    if not isinstance(model, Model):
        model = LinearNetwork(tuple(model))
    model.check_weights(weights0)
    weights0 = tuple(jnp.asarray(W, jnp.float64) for W in weights0)
    if weights0[0].ndim == len(model.param_shapes[0]):
        weights0 = tuple(W[None] for W in weights0)
        loss = jax.tree.map(lambda a: jnp.asarray(a)[None], loss)
    if loss_star is not None:
        ls = np.asarray(loss_star, np.float64)
        if not np.all(np.isfinite(ls)):
            raise GeomflowError(f"loss_star must be finite, got {loss_star!r}")
    kind = getattr(loss, "kind", "custom")
    spec = ProblemSpec((1, 1), loss="quadratic", model=model) if not isinstance(model, LinearNetwork) \
        else ProblemSpec(model.widths)
    rec, stats = run_problems(spec, loss, weights0, tolerances, config, pool_size=pool_size,
                              round_steps=round_steps, n_devices=n_devices,
                              block_width=block_width, loss_star=loss_star,
                              no_bad_minima=no_bad_minima)
    return FlowBatch(rec, stats, kind)
