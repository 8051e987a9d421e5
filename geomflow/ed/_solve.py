"""Start fibres by monodromy (solved once, cached) and parameter homotopies to real instances."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .._errors import GeomflowError
from .._precision import x64
from ._equations import DISTANCES, RankSystem, commutation_matrix
from ._homotopy import (
    DEDUP_TOL,
    DONE,
    ENDPOINT_RESIDUAL_TOL,
    SINGULAR_COND,
    TrackStats,
    cache_dir,
    dedup,
    refine_endpoints,
    track,
)

# A solution with `σ_r(M) ≤ RANK_TOL·σ_1(M)` has rank < r: a spurious solution, filtered out.
RANK_TOL = 1e-7
# A critical point is real when `‖Im M‖_F ≤ REAL_TOL·‖M‖_F` after Newton refinement
# (refined endpoints are accurate to ~1e-13; genuinely non-real points of random instances sit
# far above this; the grey zone up to `AMBIGUOUS_REAL_TOL` is counted and reported).
REAL_TOL = 1e-8
AMBIGUOUS_REAL_TOL = 1e-5
# An endpoint with homogenising coordinate `|h| ≤ AT_INFINITY_TOL·‖y‖` lies at infinity.
AT_INFINITY_TOL = 1e-10
_FIBRE_VERSION = 5
_MEMORY_CACHE: dict = {}


def _system(m, n, r, distance) -> RankSystem:
    if distance not in DISTANCES:
        raise GeomflowError(f"distance must be one of {DISTANCES}, got {distance!r}")
    mm, nn = max(m, n), min(m, n)
    return RankSystem(mm, nn, r, distance)


def _cgauss(rng, *shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


def _random_params(rng, system: RankSystem, anchored: bool = False):
    """Random complex `(W, Q)` in the system's distance family.

    `anchored=True` draws `W = W_r + i W_i` with `W_r` real positive definite (and `W_i` real
    symmetric): still generic, but every `(1−t) W + t W₁` with `W₁ ≻ 0` real has a positive
    definite real part, hence is invertible, so a straight parameter path from it to a real
    instance does not pass near the `det W = 0` locus, where critical points escape to infinity.
    """
    m, n = system.m, system.n
    N = m * n
    if system.distance == "generic":
        if anchored:
            B = rng.standard_normal((N, N))
            S = rng.standard_normal((N, N))
            W = B.T @ B + 1j * np.sqrt(N) * (S + S.T) / 2
        else:
            B = _cgauss(rng, N, N)
            W = B.T @ B
    elif system.distance == "hadamard":
        if anchored:
            W = np.diag(rng.uniform(0.2, 1.0, N) + 1j * rng.uniform(-0.5, 0.5, N))
        else:
            W = np.diag(_cgauss(rng, N) + 1.0)
    else:
        W = np.eye(N, dtype=np.complex128)
    return W, _cgauss(rng, m, n)


def _start_pair(rng, system: RankSystem):
    """A random point `y₀`, parameters `p₀ = (W, Q)` and chart `(R₀, a)` with `F(y₀; p₀) = 0`.

    The equations are affine in `Q`; pick `W` at random in the family and `Q` = a random point of
    the affine space of `Q` that make the (affine) chart point critical.
    """
    import jax

    N = system.dim
    R0 = _cgauss(rng, system.n, system.n)
    x0 = np.concatenate([_cgauss(rng, N), [1.0]])
    a = x0.conj() / np.vdot(x0, x0)
    W, _ = _random_params(rng, system, anchored=True)

    def f(qvec):
        return system.residual(x0, (W, qvec.reshape(system.m, system.n)), (R0, a))[:N]

    q0 = np.zeros(system.m * system.n, np.complex128)
    b = np.asarray(f(q0))
    J = np.asarray(jax.jacfwd(f, holomorphic=True)(q0))
    sol = np.linalg.lstsq(J, -b, rcond=None)[0]
    _, s, vh = np.linalg.svd(J)
    null = vh[np.sum(s > 1e-10 * s[0]) :].conj().T
    q = sol + null @ _cgauss(rng, null.shape[1]) if null.shape[1] else sol
    return x0, (W, q.reshape(system.m, system.n)), (R0, a)


def _stack(ps):
    return tuple(np.stack([np.asarray(p[i]) for p in ps]) for i in range(2))


@dataclass
class StartFibre:
    """All solutions of the critical system at one generic complex parameter `p₀ = (W, Q)`.

    `solutions` are homogeneous coordinates in the chart `(R0, a)`; `matrices` the critical
    matrices themselves (internal orientation `m ≥ n`); `loops` the number of monodromy loops
    used and `history` the solution count after each monodromy round; `trace_residual` the
    residual of the last trace test (`nan` if none was run) and `certified_complete` whether it
    passed (the completeness certificate, see `geomflow.ed.trace_test`).
    """

    system: RankSystem
    params: tuple
    chart: tuple
    solutions: np.ndarray
    loops: int
    history: list = field(default_factory=list)
    trace: object = None
    trace_residual: float = float("nan")
    certified_complete: bool = False

    def __post_init__(self):
        if self.trace is not None:
            self.trace_residual = float(self.trace.residual)
            self.certified_complete = bool(self.trace.passed)

    @property
    def degree(self) -> int:
        return len(self.solutions)

    @property
    def matrices(self) -> np.ndarray:
        k = len(self.solutions)
        return self.system.matrices(self.solutions, np.repeat(self.chart[0][None], k, axis=0))


def around_loops(system, ys, chart, arcs, p0, loop_ids, *, batch, seed):
    """One monodromy round: track the points `ys` (in `chart`, at parameters `p0`) out along the
    first arc of loop `loop_ids[i]` to its far point and back along its second arc; return the
    good endpoints (`_good_endpoints`), which are points of the start fibre again. `arcs[j]` is
    `(far point, first midpoint, second midpoint)`; the two legs use seeds `seed`, `seed + 1`."""
    P = (_stack([p0] * len(arcs)), _stack([a[1] for a in arcs]), _stack([a[0] for a in arcs]))
    ya, cha, st, _ = track(system, ys, chart, P, loop_ids, batch=batch, seed=seed)
    _, ok = _good_endpoints(system, ya, cha, st, tuple(a[loop_ids] for a in P[2]))
    ya, cha, lb = ya[ok], tuple(c[ok] for c in cha), loop_ids[ok]
    P = (_stack([a[0] for a in arcs]), _stack([a[2] for a in arcs]), _stack([p0] * len(arcs)))
    yb, chb, st, _ = track(system, ya, cha, P, lb, batch=batch, seed=seed + 1)
    Mb, ok = _good_endpoints(system, yb, chb, st, tuple(a[lb] for a in P[2]))
    return Mb[ok]


def _good_endpoints(system, y, chart, status, p_end):
    """Refine endpoints; return `(M, ok)`: their matrices and a mask of those that count.

    An endpoint counts when its path finished, Newton refinement converged, the Jacobian is
    nonsingular, it is not at infinity (`|h| > AT_INFINITY_TOL·‖y‖`) and `M` has rank exactly `r`.
    A system may bring its own filter, `system.good_endpoints(y, chart, status, p_end)` (e.g.
    `SegreSystem`, whose points are tensors); then that one decides.
    """
    own = getattr(system, "good_endpoints", None)
    if own is not None:
        return own(y, chart, status, p_end)
    yr, step, cond = refine_endpoints(system, y, p_end, chart)
    scale = np.linalg.norm(yr, axis=1)
    ok = (status == DONE) & np.isfinite(step) & (step <= ENDPOINT_RESIDUAL_TOL * scale)
    ok &= cond < SINGULAR_COND
    ok &= np.abs(yr[:, system.dim]) > AT_INFINITY_TOL * scale
    M = system.matrices(yr, chart[0])
    finite = np.isfinite(M).all(axis=(1, 2))
    sv = np.linalg.svd(np.where(finite[:, None, None], M, 0), compute_uv=False)
    ok &= finite & (sv[:, system.r - 1] > RANK_TOL * np.maximum(sv[:, 0], 1e-300))
    return M, ok


def _fibre_chart(fib_chart, copies):
    """Per-path charts for `copies` copies of the fibre: the shared `R0`, each point's patch."""
    R0, a = fib_chart
    return np.repeat(np.asarray(R0)[None], copies * len(a), axis=0), np.tile(a, (copies, 1))


def _append_new(mats, cand, tol: float = DEDUP_TOL):
    """`mats` followed by the rows of `cand` that are new (not within `tol·‖·‖` of a row of
    `mats` nor of an earlier new row); the order of `mats` is kept."""
    if len(cand) == 0:
        return mats
    from scipy.spatial import cKDTree

    def flat(x):
        x = np.asarray(x).reshape(len(x), -1)
        return np.concatenate([x.real, x.imag], axis=1)

    X, C = flat(mats), flat(cand)
    scale = np.linalg.norm(C, axis=1)
    near = cKDTree(X).query(C, k=1)[0] if len(X) else np.full(len(C), np.inf)
    fresh = np.flatnonzero(near > tol * scale)
    if len(fresh) == 0:
        return mats
    fresh = fresh[dedup(cand[fresh], tol)]
    return np.concatenate([mats, cand[fresh]])


@x64
def monodromy_start_fibre(system: RankSystem, *, seed: int = 0, loops: int = 2,
                          max_loops: int = 8, trace: bool = True, batch: int = 2048,
                          verbose: bool = False) -> StartFibre:
    """Solve the system at a random complex parameter by monodromy, stopped by the trace test.

    Start from one point `y₀` and parameters `p₀` built to fit it. A fixed set of `loops` random
    loops `p₀ → p_j → p₀` (two Bézier arcs with different random control points) acts on the
    solutions at `p₀`; every known solution is pushed once through every loop (all loops'
    paths in one batched `track` call per leg), new endpoints are appended, until the set is
    closed under the loops (an orbit of the group they generate). Then the trace test
    (`trace_test`) decides: a pass proves the fibre complete and stops; a failure adds a loop
    (up to `max_loops`). `history` is the count after each round.

    Where a closed form is known (`closed_form_ed_degree`), a pass with fewer points also adds
    a loop, and `certified_complete` needs the count to equal it: for special weights the trace
    test can pass on a proper subset (Frobenius, rank 2: four of the six sums of two singular
    triplets, each triplet used twice, sum to `2Q`, affine in `Q`). No such subset is known
    for generic weights, where every single-point removal fails by many orders of magnitude.

    **Arguments:**

    - `system`: a `RankSystem`; `seed`: the random start point, parameters and loops.
    - `loops`: the number of loops to start with; `max_loops`: the most loops added.
    - `trace`: run the trace test (else stop when the set is closed under the loops).
    - `batch`: the largest lockstep batch of the tracker.

    **Returns:** a `StartFibre` with `trace` (the last `TraceTest`, or `None`).
    """
    from ._degree import closed_form_ed_degree
    from ._trace import trace_test

    expected = closed_form_ed_degree(system.m, system.n, system.r, system.distance)
    rng = np.random.default_rng(seed)
    y0, p0, chart = _start_pair(rng, system)
    R0 = chart[0]
    mats = system.matrices(y0[None], R0[None])
    history = [1]
    arcs: list = []
    pushed: list = []  # pushed[j]: how many of `mats` (a prefix) went through loop j
    result = None
    rounds = 0

    def add_loop():
        pa = _random_params(rng, system)
        arcs.append((pa, _mid(rng, system, p0, pa), _mid(rng, system, p0, pa)))
        pushed.append(0)

    for _ in range(loops):
        add_loop()
    while True:
        todo = [(j, np.arange(pushed[j], len(mats))) for j in range(len(arcs))]
        todo = [(j, ix) for j, ix in todo if len(ix)]
        if not todo:
            if not trace:
                break
            result = trace_test(system, mats, p0, R0, seed=seed * 7919 + len(arcs), batch=batch,
                                removals=False)
            if verbose:
                print(f"trace test with {len(mats)} solutions: residual {result.residual:.3g}, "
                      f"{'pass' if result.passed else 'fail'}")
            short = expected is not None and len(mats) < expected
            if (result.passed and not short) or len(arcs) >= max_loops:
                break
            add_loop()
            continue
        rounds += 1
        lj = np.concatenate([np.full(len(ix), j) for j, ix in todo])
        src = mats[np.concatenate([ix for _, ix in todo])]
        k = len(src)
        R0s = np.repeat(R0[None], k, axis=0)
        ys, a_s = system.coordinates(src, R0s)
        new = around_loops(system, ys, (R0s, np.array(a_s)), arcs, p0, lj, batch=batch,
                           seed=seed + 2 * rounds)
        for j, _ in todo:
            pushed[j] = len(mats)
        mats = _append_new(mats, new)
        history.append(len(mats))
        if verbose:
            print(f"monodromy round {rounds} ({len(arcs)} loops, {k} paths): {len(mats)} solutions")
    ys, a_s = system.coordinates(mats, np.repeat(R0[None], len(mats), axis=0))
    fib = StartFibre(system, p0, (R0, np.array(a_s)), np.array(ys), len(arcs), history,
                     trace=result)
    if expected is not None and fib.degree != expected:
        fib.certified_complete = False
    return fib


def _mid(rng, system, pa, pb, spread: float = 1.0, anchored: bool = False):
    """A random complex Bézier control point between two parameters, inside the family.

    `anchored=True` perturbs only the imaginary part of `W` (a real symmetric or diagonal
    direction), so a positive definite real part stays positive definite along the arc.
    """
    Wr, Qr = _random_params(rng, system)
    W = 0.5 * (pa[0] + pb[0])
    if anchored:
        Wr = Wr.real
        if system.distance == "generic":
            Wr = (Wr + Wr.T) / 2
        Wr = 1j * Wr
    if system.distance != "frobenius":
        W = W + spread * np.sqrt(np.mean(np.abs(W) ** 2)) * (Wr / np.sqrt(np.mean(np.abs(Wr) ** 2)))
    Q = 0.5 * (pa[1] + pb[1]) + spread * np.sqrt(np.mean(np.abs(pb[1]) ** 2)) * Qr
    return (W, Q)


@x64
def start_fibre(m: int, n: int, r: int, distance: str = "generic", *, seed: int = 0,
                use_disk_cache: bool = True, verbose: bool = False) -> StartFibre:
    """The (cached) start fibre for `M_r ⊂ C^{m×n}` and a distance family.

    Solved once by monodromy and kept in memory and on disk (`$GEOMFLOW_CACHE/ed`, default
    `~/.cache/geomflow/ed`).
    """
    system = _system(m, n, r, distance)
    key = (system, seed, _FIBRE_VERSION)
    if key in _MEMORY_CACHE:
        return _MEMORY_CACHE[key]
    name = f"fibre_{system.m}x{system.n}_r{system.r}_{distance}_s{seed}_v{_FIBRE_VERSION}.npz"
    path = os.path.join(cache_dir(), name)
    fib = None
    if use_disk_cache and os.path.exists(path):
        try:
            with np.load(path) as z:
                fib = StartFibre(system, (z["W"], z["Q"]), (z["R0"], z["a"]), z["solutions"],
                                 int(z["loops"]), [int(h) for h in z["history"]],
                                 trace_residual=float(z["trace_residual"]),
                                 certified_complete=bool(z["certified_complete"]))
        except Exception:
            fib = None
    if fib is None:
        fib = monodromy_start_fibre(system, seed=seed, verbose=verbose)
        if use_disk_cache:
            try:
                os.makedirs(cache_dir(), exist_ok=True)
                tmp = path + f".tmp{os.getpid()}.npz"
                np.savez(tmp, W=fib.params[0], Q=fib.params[1], R0=fib.chart[0], a=fib.chart[1],
                         solutions=fib.solutions, loops=fib.loops, history=np.array(fib.history),
                         trace_residual=fib.trace_residual,
                         certified_complete=fib.certified_complete)
                os.replace(tmp, path)
            except OSError:
                pass
    _MEMORY_CACHE[key] = fib
    return fib


@dataclass
class CriticalPoints:
    """The complex critical points of many real instances (in the user's orientation).

    `points[i]` is a complex array `(count_i, m, n)`; `complete[i]` says whether the count equals
    the degree of the start fibre; `attempts[i]` how many path families were tracked.
    """

    points: list
    degree: int
    complete: np.ndarray
    attempts: np.ndarray
    stats: TrackStats

    @property
    def counts(self) -> np.ndarray:
        return np.array([len(p) for p in self.points])


@x64
def solve_instances(W, Q, r: int, distance: str = "generic", *, seed: int = 0,
                    max_attempts: int = 4, batch: int = 2048, fibre: StartFibre | None = None,
                    rng_seed: int = 1) -> CriticalPoints:
    """All complex critical points of `vec(M−Q)ᵀ W vec(M−Q)` on `M_r` for many real instances.

    A parameter homotopy from the cached start fibre to every instance at once. An instance whose
    distinct, nonsingular, rank-`r` endpoints do not number the degree is re-tracked along a fresh
    random complex path (the union of what all attempts found is kept), up to `max_attempts`;
    if still short it is flagged incomplete (never dropped).

    **Arguments:**

    - `W`: `(k, mn, mn)` real symmetric weights (`W = AᵀA`, column-major `vec`).
    - `Q`: `(k, m, n)` real data matrices.
    - `r`: the rank.
    - `distance`: the family `W` lies in (`"generic"`, `"hadamard"`, `"frobenius"`), which picks
      the start fibre.

    **Returns:** a `CriticalPoints`.
    """
    W = np.asarray(W, dtype=float)
    Q = np.asarray(Q, dtype=float)
    if Q.ndim != 3 or W.ndim != 3 or W.shape[0] != Q.shape[0]:
        raise GeomflowError(f"expected W (k, mn, mn) and Q (k, m, n), got {W.shape} and {Q.shape}")
    k, m, n = Q.shape
    if W.shape[1:] != (m * n, m * n):
        raise GeomflowError(f"W must have shape (k, {m * n}, {m * n}), got {W.shape}")
    if not 1 <= r <= min(m, n):
        raise GeomflowError(f"rank must satisfy 1 <= r <= min(m, n) = {min(m, n)}, got {r}")
    if distance == "frobenius" and not np.allclose(W, np.eye(m * n)):
        raise GeomflowError("the frobenius distance needs W = I for every instance")
    if distance == "hadamard" and np.any(W * (1 - np.eye(m * n)) != 0):
        raise GeomflowError("the hadamard distance needs diagonal W = diag(vec Λ)")
    transposed = m < n
    if transposed:
        P = commutation_matrix(m, n)
        W = P @ W @ P.T
        Q = Q.transpose(0, 2, 1)
    fib = fibre if fibre is not None else start_fibre(m, n, r, distance, seed=seed)
    system = fib.system
    d = fib.degree
    p0 = tuple(np.asarray(a, dtype=np.complex128) for a in fib.params)
    rng = np.random.default_rng(rng_seed)
    found = [np.zeros((0, system.m, system.n), np.complex128) for _ in range(k)]
    attempts = np.zeros(k, dtype=np.int64)
    stats = TrackStats()
    todo = np.arange(k)
    for attempt in range(max_attempts):
        if len(todo) == 0:
            break
        attempts[todo] += 1
        p1s = [(W[i].astype(np.complex128), Q[i].astype(np.complex128)) for i in todo]
        if attempt == 0:
            cs = [tuple(0.5 * (a + b) for a, b in zip(p0, p1)) for p1 in p1s]
        else:
            cs = [_mid(rng, system, p0, p1, spread=0.5, anchored=True) for p1 in p1s]
        Pset = (_stack([p0] * len(todo)), _stack(cs), _stack(p1s))
        pidx = np.repeat(np.arange(len(todo)), d)
        y0 = np.tile(fib.solutions, (len(todo), 1))
        ch0 = _fibre_chart(fib.chart, len(todo))
        y1, ch1, st, _ = track(system, y0, ch0, Pset, pidx, batch=batch, stats=stats,
                               seed=rng_seed + 7919 * attempt)
        pend = tuple(a[pidx] for a in Pset[2])
        M, ok = _good_endpoints(system, y1, ch1, st, pend)
        for j, i in enumerate(todo):
            sl = slice(j * d, (j + 1) * d)
            cand = np.concatenate([found[i], M[sl][ok[sl]]])
            found[i] = cand[dedup(cand)]
        todo = np.array([i for i in todo if len(found[i]) != d], dtype=np.int64)
    complete = np.array([len(f) == d for f in found])
    points = [f.transpose(0, 2, 1) if transposed else f for f in found]
    return CriticalPoints(points, d, complete, attempts, stats)


def split_real(points, *, tol: float = REAL_TOL):
    """Split complex critical matrices into real ones (returned real) and the rest.

    Returns `(real, n_nonreal, n_ambiguous)` with `n_ambiguous` the points whose relative
    imaginary part lies in `(tol, AMBIGUOUS_REAL_TOL]`.
    """
    points = np.asarray(points)
    if len(points) == 0:
        return np.zeros(points.shape, float), 0, 0
    im = np.linalg.norm(points.imag, axis=(1, 2)) / np.maximum(np.linalg.norm(points, axis=(1, 2)), 1e-300)
    real = im <= tol
    amb = (im > tol) & (im <= AMBIGUOUS_REAL_TOL)
    return points[real].real, int((~real).sum()), int(amb.sum())
