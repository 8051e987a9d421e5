"""A batched predictor–corrector path tracker in JAX (complex128) for parameter homotopies.

One kernel tracks a batch of paths in lockstep for a bounded number of steps (a `lax.while_loop`
per round); between rounds the driver, in numpy, harvests finished paths, refills their slots from
the queue, re-charts paths that came close to their chart's boundary and, once the queue is empty,
compacts the survivors into a smaller batch. Every path has its own step size, so a few hard paths
never hold the batch hostage for long.

The homotopy is `F(y; p(t), chart) = 0` along the quadratic Bézier curve
`p(t) = (1−t)² p₀ + 2t(1−t) c + t² p₁`; the straight segment is `c = (p₀ + p₁)/2` and a random
complex `c` gives a fresh path for re-tracking (the "γ trick" for parameter homotopies: for a
complex generic `c` the curve misses the discriminant with probability one).

Predictor: classical Runge–Kutta 4 on `dy/dt = −F_y⁻¹ F_t`; corrector: two Newton steps.
Tolerances (named, documented):

- `PREDICTOR_TOL`: the first Newton correction after a predictor step must be at most this
  fraction of `‖y‖`, and the second at most `CONTRACTION` times the first (or below
  `NEWTON_FLOOR·‖y‖`), else the step is rejected and halved.
- `RECHART_QUALITY`: a path whose chart quality (`system.chart_quality`) falls below this between
  rounds is moved to a fresh chart centred at its current point.
- `ENDPOINT_RESIDUAL_TOL`, `SINGULAR_COND`: an endpoint is accepted when, after Newton
  refinement at `t = 1`, its last Newton step is below `ENDPOINT_RESIDUAL_TOL·‖y‖` and the
  Jacobian's condition number is below `SINGULAR_COND` (else it is singular and not counted).
- `DEDUP_TOL`: two solutions are the same when their distance is below `DEDUP_TOL·‖·‖`.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

import numpy as np

from .._precision import x64

PREDICTOR_TOL = 1e-2
CONTRACTION = 0.05
# Newton corrections below NEWTON_FLOOR·‖y‖ count as converged (round-off near ill-conditioning).
NEWTON_FLOOR = 1e-10
MIN_STEP = 1e-13
DIVERGED_NORM = 1e8
RECHART_QUALITY = 0.25
ENDPOINT_RESIDUAL_TOL = 1e-10
SINGULAR_COND = 1e10
DEDUP_TOL = 1e-6

# Predictors: "taylor3" (default: 3rd-order Taylor from one LU, chord corrector with one more
# LU; 2 LU factorisations a step) and "rk4" (classical RK4 on the Davidenko ODE and two full
# Newton steps; 6 linear solves a step, the first version's predictor, kept as the baseline).
PREDICTORS = ("taylor3", "taylor4", "rk4")

RUNNING, DONE, TOO_SMALL_STEP, TOO_MANY_STEPS, DIVERGED, NONFINITE = range(6)
STATUS_NAMES = ("running", "done", "step too small", "too many steps", "diverged", "non-finite")


def _bezier(p0, c, p1, t):
    import jax

    return jax.tree_util.tree_map(
        lambda a, b, d: (1 - t) ** 2 * a + 2 * t * (1 - t) * b + t**2 * d, p0, c, p1
    )


def _dbezier(p0, c, p1, t):
    import jax

    return jax.tree_util.tree_map(
        lambda a, b, d: -2 * (1 - t) * a + 2 * (1 - 2 * t) * b + 2 * t * d, p0, c, p1
    )


@functools.cache
def _kernels(system, predictor: str = "taylor3"):
    """Jitted round / refine kernels for one (static, hashable) system and predictor."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    F = system.residual

    def jac(y, p, ch):
        return jax.jacfwd(F, holomorphic=True)(y, p, ch)

    def newton(y, p, ch):
        d = jnp.linalg.solve(jac(y, p, ch), F(y, p, ch))
        return y - d, jnp.linalg.norm(d)

    def lin(y, t, P, ch):
        """`F`, `F_t` and `F_y` at `(y, t)`: everything a predictor or corrector stage needs."""
        p = _bezier(*P, t)
        dp = _dbezier(*P, t)
        f, ft = jax.jvp(lambda q: F(y, q, ch), (p,), (dp,))
        return f, ft, jac(y, p, ch)

    rk_c = jnp.array([0.0, 0.5, 0.5, 1.0, 1.0, 1.0])
    rk_b = jnp.array([1.0, 2.0, 2.0, 1.0, 0.0, 0.0]) / 6.0

    def accept(state, y2, t1, h, n1, n2, exponent):
        """Accept or reject a predicted-and-corrected step; the next step size and status.

        Accepted iff finite, the first correction `n1` is within `PREDICTOR_TOL` of the path and
        the second contracts; the step grows by `0.8·(n1/tol)^exponent` (clipped to [1, 2]) or
        halves."""
        y, t, dt, status, nsteps = state
        scale = jnp.linalg.norm(y) + 1e-300
        finite = jnp.all(jnp.isfinite(y2)) & jnp.isfinite(n1) & jnp.isfinite(n2)
        ok = finite & (n1 <= PREDICTOR_TOL * scale) & (n2 <= CONTRACTION * n1 + NEWTON_FLOOR * scale)
        ratio = jnp.maximum(n1 / (PREDICTOR_TOL * scale), 1e-6)
        grow = jnp.clip(0.8 * ratio ** exponent, 1.0, 2.0)
        new_y = jnp.where(ok, y2, y)
        new_t = jnp.where(ok, t1, t)
        new_dt = jnp.where(ok, dt * grow, 0.5 * h)
        new_status = jnp.where(
            ok & (new_t >= 1.0),
            DONE,
            jnp.where(
                new_dt < MIN_STEP,
                TOO_SMALL_STEP,
                jnp.where(jnp.linalg.norm(new_y) > DIVERGED_NORM, DIVERGED, RUNNING),
            ),
        )
        return (new_y, new_t, new_dt, new_status, nsteps + 1)

    def step(state, P, ch):
        y, t, dt, status, nsteps = state
        h = jnp.minimum(dt, 1.0 - t)
        t1 = jnp.where(h >= 1.0 - t, 1.0, t + h)

        # Six stages, one linear solve each, as one scan (a single copy of the Jacobian in the
        # compiled program: compile time matters more here than the few percent a scan costs):
        # stages 0–3 are classical RK4 on dy/dt = −F_y⁻¹F_t, stages 4–5 two Newton corrections
        # at t₁ starting from the predicted point.
        def stage(carry, i):
            k_prev, acc, yc, n1, n2 = carry
            c = rk_c[i]
            pred = i < 4
            ys = jnp.where(pred, y + c * h * k_prev, jnp.where(i == 4, y + h * acc, yc))
            ts = jnp.where(pred, t + c * h, t1)
            f, ft, J = lin(ys, ts, P, ch)
            sol = jnp.linalg.solve(J, jnp.where(pred, ft, f))
            k = jnp.where(pred, -sol, k_prev)
            acc = acc + rk_b[i] * jnp.where(pred, k, 0)
            nd = jnp.linalg.norm(sol)
            yc = jnp.where(pred, yc, ys - sol)
            n1 = jnp.where(i == 4, nd, n1)
            n2 = jnp.where(i == 5, nd, n2)
            return (k, acc, yc, n1, n2), None

        z = jnp.zeros((), y.real.dtype)
        (_, _, y2, n1, n2), _ = lax.scan(stage, (jnp.zeros_like(y), jnp.zeros_like(y), y, z, z),
                                         jnp.arange(6))
        return accept(state, y2, t1, h, n1, n2, -0.2)

    def taylor_step(state, P, ch):
        """Third-order Taylor predictor and a two-step chord corrector (two LU factorisations).

        The derivatives `y′, y″, y‴` of the path come from one LU of `F_y` at `(y, t)`: the
        `k`-th derivative of `s ↦ F(y + s y′ + … , t + s)` along the degree-`(k−1)` Taylor
        polynomial (nested `jvp`s) is `−F_y y⁽ᵏ⁾`. The corrector reuses one LU of `F_y` at the
        predicted point for both Newton steps (chord method).
        """
        from jax.scipy.linalg import lu_factor, lu_solve

        y, t, dt, status, nsteps = state
        h = jnp.minimum(dt, 1.0 - t)
        t1 = jnp.where(h >= 1.0 - t, 1.0, t + h)

        def H(yy, tt):
            return F(yy, _bezier(*P, tt), ch)

        lu = lu_factor(jac(y, _bezier(*P, t), ch))
        one = jnp.ones((), t.dtype)

        def curve(coefs):
            def c(s):
                yy = y
                fact = 1.0
                for k, a in enumerate(coefs, start=1):
                    fact = fact * k
                    yy = yy + (s**k / fact) * a
                return H(yy, t + s)
            return c

        def deriv(fun, order):
            g = fun
            for _ in range(order):
                g = (lambda f: (lambda s: jax.jvp(f, (s,), (one,))[1]))(g)
            return g(jnp.zeros((), t.dtype))

        ds = []
        for k in range(1, order + 1):
            ds.append(-lu_solve(lu, deriv(curve(ds), k)))
        yp = y
        fact = 1.0
        for k, d in enumerate(ds, start=1):
            fact = fact * k
            yp = yp + (h**k / fact) * d
        lu1 = lu_factor(jac(yp, _bezier(*P, t1), ch))
        s1 = lu_solve(lu1, H(yp, t1))
        ya = yp - s1
        s2 = lu_solve(lu1, H(ya, t1))
        y2 = ya - s2
        n1 = jnp.linalg.norm(s1)
        n2 = jnp.linalg.norm(s2)
        return accept(state, y2, t1, h, n1, n2, -1.0 / (order + 1))

    if predictor not in PREDICTORS:
        raise ValueError(f"predictor must be one of {PREDICTORS}, got {predictor!r}")
    order = {"taylor3": 3, "taylor4": 4}.get(predictor, 0)
    vstep = jax.vmap(step if predictor == "rk4" else taylor_step)

    @jax.jit
    def run_round(state, P, ch, n_steps, max_steps):
        def cond(c):
            i, s = c
            return (i < n_steps) & jnp.any(s[3] == RUNNING)

        def body(c):
            i, s = c
            new = vstep(s, P, ch)
            active = s[3] == RUNNING
            merged = tuple(
                jnp.where(active.reshape((-1,) + (1,) * (a.ndim - 1)), a, b) for a, b in zip(new, s)
            )
            y, t, dt, status, nsteps = merged
            status = jnp.where((status == RUNNING) & (nsteps >= max_steps), TOO_MANY_STEPS, status)
            return i + 1, (y, t, dt, status, nsteps)

        _, s = lax.while_loop(cond, body, (0, state))
        return s

    @jax.jit
    def refine(y, p, ch):
        def one(y, p, ch):
            y, nd = lax.fori_loop(0, 3, lambda i, c: newton(c[0], p, ch), (y, jnp.zeros((), y.real.dtype)))
            sv = jnp.linalg.svd(jac(y, p, ch), compute_uv=False)
            return y, nd, sv[0] / jnp.maximum(sv[-1], 1e-300)

        return jax.vmap(one)(y, p, ch)

    return run_round, refine


def _bucket(n, sizes):
    for s in sizes:
        if n <= s:
            return s
    return sizes[-1]


@dataclass
class TrackStats:
    """Work done by `track`: paths, member steps executed in lockstep vs needed, re-charts."""

    paths: int = 0
    steps_executed: int = 0
    steps_needed: int = 0
    rounds: int = 0
    recharts: int = 0
    status_counts: dict = field(default_factory=dict)

    @property
    def useful_fraction(self) -> float:
        return self.steps_needed / max(self.steps_executed, 1)


@x64
def track(system, y0, chart, P, pidx=None, *, batch: int = 2048, round_steps: int = 16,
          max_steps: int = 4000, dt0: float = 0.02, stats: TrackStats | None = None, seed: int = 0,
          predictor: str | None = None):
    """Track paths of the parameter homotopy `F(y; p(t), chart) = 0`, `t: 0 → 1`, in batches.

    **Arguments:**

    - `system`: a static system with `residual(y, p, chart)`, `nvars`, `chart_quality(y)` and
      `rechart(y, R0, rng)` (e.g. `RankSystem`).
    - `y0`: start solutions, complex `(k, nvars)`.
    - `chart`: per-path charts `(R0 (k, n, n), a (k, nvars))` of the start solutions.
    - `P`: parameter triples `(p0, c, p1)`, each a pytree with a leading axis of parameter sets.
    - `pidx`: for each path, the index of its parameter set (default: path `i` uses set `i`).
    - `batch`: the largest lockstep batch; once the queue is empty, survivors are compacted into
      the smallest batch size (64, 256, 1024, `batch`) that holds them.
    - `round_steps`: steps per jitted round between refills, re-charts and compactions.
    - `max_steps`: per-path step budget; `dt0`: the initial step in `t`.
    - `predictor`: `"taylor3"` or `"rk4"` (see `PREDICTORS`); default `$GEOMFLOW_ED_PREDICTOR`
      or `"taylor3"`.

    **Returns:** `(y1, chart1, status, nsteps)`: endpoints, their (possibly new) charts, status
    codes (`DONE` = 1 on success, see `STATUS_NAMES`) and steps taken per path.
    """
    import jax
    import jax.numpy as jnp

    predictor = predictor or os.environ.get("GEOMFLOW_ED_PREDICTOR", "taylor3")
    run_round, _ = _kernels(system, predictor)
    rng = np.random.default_rng(seed)
    y0 = np.asarray(y0, dtype=np.complex128)
    k, N = y0.shape
    pidx = np.arange(k) if pidx is None else np.asarray(pidx, dtype=np.int64)
    R0_0, a_0 = (np.asarray(c, dtype=np.complex128) for c in chart)
    # Few sizes (each one is a compilation), a factor 4 apart at most.
    sizes = sorted({64, 256, max(64, min(1024, batch)), max(64, batch)})
    B = _bucket(k, sizes)
    out_y = np.array(y0)
    out_R0 = np.array(R0_0)
    out_a = np.array(a_0)
    out_status = np.zeros(k, dtype=np.int64)
    out_steps = np.zeros(k, dtype=np.int64)
    queue = list(range(k))[::-1]

    slot_path = -np.ones(B, dtype=np.int64)
    sy = np.zeros((B, N), np.complex128)
    st = np.zeros(B)
    sdt = np.full(B, dt0)
    sstatus = np.full(B, DONE, dtype=np.int64)
    sn = np.zeros(B, dtype=np.int64)
    sR0 = np.repeat(R0_0[:1], B, axis=0)
    sa = np.repeat(a_0[:1], B, axis=0)
    sP = jax.tree_util.tree_map(lambda a: np.array(np.asarray(a)[np.zeros(B, dtype=np.int64)]), P)
    stats = stats if stats is not None else TrackStats()
    stats.paths += k
    while True:
        empty = np.flatnonzero(slot_path < 0)
        take = [queue.pop() for _ in range(min(len(empty), len(queue)))]
        if take:
            slots = empty[: len(take)]
            take = np.array(take)
            slot_path[slots] = take
            sy[slots] = y0[take]
            sR0[slots] = R0_0[take]
            sa[slots] = a_0[take]
            st[slots] = 0.0
            sdt[slots] = dt0
            sstatus[slots] = RUNNING
            sn[slots] = 0

            def put(dst, src):
                dst[slots] = np.asarray(src)[pidx[take]]
                return dst

            sP = jax.tree_util.tree_map(put, sP, P)
        active = slot_path >= 0
        if not active.any():
            break
        if not queue and B > sizes[0] and _bucket(int(active.sum()), sizes) < B:
            keep = np.flatnonzero(active)
            nB = _bucket(len(keep), sizes)
            sel = np.concatenate([keep, np.flatnonzero(~active)[: nB - len(keep)]])
            slot_path, sy, st, sdt, sstatus, sn, sR0, sa = (
                a[sel] for a in (slot_path, sy, st, sdt, sstatus, sn, sR0, sa)
            )
            sP = jax.tree_util.tree_map(lambda a: a[sel], sP)
            B = nB
            active = slot_path >= 0
        # Re-chart paths that drifted towards their chart's boundary (see module docstring).
        bad = np.flatnonzero(active & (system.chart_quality(sy) < RECHART_QUALITY))
        if len(bad):
            yn, Rn, an = system.rechart(sy[bad], sR0[bad], rng)
            fine = np.isfinite(yn).all(axis=1) & np.isfinite(Rn).all(axis=(1, 2))
            bad, yn, Rn, an = bad[fine], yn[fine], Rn[fine], an[fine]
            sy[bad], sR0[bad], sa[bad] = yn, Rn, an
            stats.recharts += len(bad)
        before = sn.copy()
        state = tuple(jnp.asarray(a) for a in (sy, st, sdt, sstatus, sn))
        y, t, dt, status, nsteps = run_round(state, sP, (jnp.asarray(sR0), jnp.asarray(sa)),
                                             round_steps, max_steps)
        sy, st, sdt, sstatus, sn = (np.array(a) for a in (y, t, dt, status, nsteps))
        stats.rounds += 1
        stats.steps_executed += int((sn - before).max(initial=0)) * B
        fin = active & (sstatus != RUNNING)
        idx = slot_path[fin]
        out_y[idx] = sy[fin]
        out_R0[idx] = sR0[fin]
        out_a[idx] = sa[fin]
        out_status[idx] = sstatus[fin]
        out_steps[idx] = sn[fin]
        stats.steps_needed += int(sn[fin].sum())
        slot_path[fin] = -1
    for s in np.unique(out_status):
        stats.status_counts[STATUS_NAMES[s]] = stats.status_counts.get(STATUS_NAMES[s], 0) + int(
            (out_status == s).sum()
        )
    return out_y, (out_R0, out_a), out_status, out_steps


@x64
def refine_endpoints(system, y, p, chart, *, chunk: int = 4096):
    """Newton-refine endpoints at their final parameters; returns `(y, last_step, cond)`."""
    import jax

    _, refine = _kernels(system)
    k = y.shape[0]
    if k == 0:
        return y, np.zeros(0), np.zeros(0)
    outs = []
    size = 64 if k <= 64 else 512 if k <= 512 else chunk
    for s in range(0, k, size):
        sl = slice(s, s + size)
        ys = y[sl]
        ps = jax.tree_util.tree_map(lambda a: a[sl], p)
        cs = tuple(c[sl] for c in chart)
        m = ys.shape[0]
        if m < size:  # pad to a fixed size so the kernel compiles once per size
            pad = np.arange(size) % m
            ys = ys[pad]
            ps = jax.tree_util.tree_map(lambda a: a[pad], ps)
            cs = tuple(c[pad] for c in cs)
        yr, nd, cond = refine(ys, ps, cs)
        outs.append((np.array(yr)[:m], np.array(nd)[:m], np.array(cond)[:m]))
    return tuple(np.concatenate([o[i] for o in outs]) for i in range(3))


def dedup(x, tol: float = DEDUP_TOL):
    """Indices of distinct rows of `x` (complex), by distance `≤ tol·‖x‖`."""
    x = np.asarray(x)
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    x = x.reshape(len(x), -1)
    from scipy.spatial import cKDTree

    X = np.concatenate([x.real, x.imag], axis=1)
    scale = np.linalg.norm(X, axis=1) + 1e-300
    tree = cKDTree(X)
    keep = []
    taken = np.zeros(len(x), dtype=bool)
    for i in np.argsort(scale):
        if taken[i]:
            continue
        nb = tree.query_ball_point(X[i], tol * scale[i])
        taken[nb] = True
        keep.append(i)
    return np.sort(np.array(keep, dtype=np.int64))


def cache_dir() -> str:
    """Where start fibres are cached: `$GEOMFLOW_CACHE/ed` (default `~/.cache/geomflow/ed`)."""
    base = os.environ.get("GEOMFLOW_CACHE", os.path.expanduser("~/.cache/geomflow"))
    return os.path.join(base, "ed")
