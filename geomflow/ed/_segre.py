"""ED degrees of the Segre cone: rank-one tensor approximation (MATH.md §6, §7).

An LCN whose layer strides make the end-to-end filter the tensor product `w_1 ⊗ ⋯ ⊗ w_L` (layer
strides `s_l = k_l`) has as function space the affine cone over the Segre variety
`P^{n_1−1} × ⋯ × P^{n_L−1}` (format `n = (n_1, …, n_L)`, `n_l = k_l`): the rank-one tensors
`X = λ·x_1 ⊗ ⋯ ⊗ x_L`. For a data tensor `T` and a symmetric weight matrix `W` on
`C^{n_1⋯n_L}` (`vec` is C order, `X.reshape(-1)`), the critical points of
`d(X) = vec(X − T)ᵀ W vec(X − T)` on the cone are counted here: for `W = I` (the Euclidean
metric) their number is the number of singular vector tuples of `T` (Friedland–Ottaviani), for
generic `W` the generic ED degree of the Segre variety (Draisma–Horobeţ–Ottaviani–Sturmfels–
Thomas, Theorem 5.8).

**The critical system.** Each factor lives in an affine chart `x_l = R_l [1; x_l′]`
(`R_l` a fixed random complex `n_l×n_l` matrix), and the scale is the unknown `λ`; with
`P = x_1 ⊗ ⋯ ⊗ x_L` and `G = W vec(λP − T)` (a tensor again), the equations are

- `⟨G, P⟩ = 0` (the derivative in `λ`),
- `(R_lᵀ G(x_1, …, x_{l−1}, ·, x_{l+1}, …, x_L))_{2..n_l} = 0` for each `l` (the derivatives
  in `x_l′`, divided by `λ`): for `W = I` these say `T·(x_1, …, x̂_l, …, x_L) = σ_l x_l` with
  `σ_l = λ Π_{j≠l} x_jᵀx_j`, the singular-vector-tuple equations.

That is `1 + Σ(n_l − 1)` equations (degrees `2L + 1` and `2L`) in as many unknowns. The
spurious solutions `λ = 0` do not arise: there the system asks `1 + Σ(n_l − 1)` equations of
`Σ(n_l − 1)` unknowns. The data `T` enter affinely, which is what the trace test needs.

**The solver.** Monodromy from one point: pick a random point `y₀` and (for the generic
metric) a random complex `W`, solve the linear equations in `T` for a `T₀` that makes `y₀`
critical, push the known solutions around random loops in the parameters (the batched
tracker `track`; loops in `(W, T)` for the generic metric, in `T` alone for the Euclidean one,
see `segre_start_fibre`) until the set is closed, and stop when the trace test (`trace_test`, summing the tensors `X`,
regular functions on the ED correspondence, not chart coordinates) proves the fibre complete.
The trace test needs the ED correspondence to be proper over the data space, which holds for a
generic metric but not for the Euclidean one (critical points escape to infinity over a
hypersurface of data; see `segre_ed_degree`): there monodromy stops when added loops bring
nothing new, and completeness is checked another way.

**The total-degree check (Euclidean metric)** is `geomflow.ed._segre_total_degree`: the
singular-vector-tuple equations solved by the total-degree homotopy at the monodromy fibre's data
`T₀` (`segre_total_degree`); `segre_ed_degree` certifies the count complete when its ED critical
points and the fibre coincide as sets of tensors. The closed forms the counts are compared with
(`segre_closed_form`: Friedland–Ottaviani, DHOST) are in `geomflow.ed._formulas`.

Then a parameter homotopy carries the fibre to a real instance, whose critical points are
certified in ball arithmetic (Krawczyk, `geomflow.ed.certify_points`' machinery): proved
unique, real or non-real, distinct.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np

from .._errors import GeomflowError
from .._precision import x64
from ._formulas import segre_closed_form
from ._segre_common import METRICS, ZERO_TOL, _cgauss, _check_format, _kron
from ._segre_total_degree import SegreTotalDegreeSystem, match_sets, segre_total_degree

# ---------------------------------------------------------------- the critical system

@dataclass(frozen=True)
class SegreSystem:
    """The square critical system of `vec(X − T)ᵀ W vec(X − T)` on the Segre cone of `format`.

    Static and hashable (one compiled tracker per format); the numbers travel as the parameter
    pytree `p = (W, T)` (`W` `(N, N)`, `T` `(N,)` with `N = Π n_l`, C-order `vec`) and the chart
    `(R, a)`: `R` `(Σn_l, Σn_l)` is block diagonal with the chart matrices `R_l` (`block`), `a`
    is unused (zeros; the tracker's charts are pairs). Unknowns `y = (λ, x_1′, …, x_L′)`.
    """

    format: tuple

    @property
    def nvars(self) -> int:
        return 1 + sum(n - 1 for n in self.format)

    @property
    def dim(self) -> int:
        """The dimension of the cone, `1 + Σ(n_l − 1)` (= `nvars`)."""
        return self.nvars

    @property
    def entries(self) -> int:
        return math.prod(self.format)

    def _offsets(self):
        off = [1]
        for n in self.format:
            off.append(off[-1] + n - 1)
        return off

    def block(self, R, i):
        """The chart matrix `R_i`: the `i`-th diagonal block of `R (..., Σn, Σn)`."""
        o = sum(self.format[:i])
        n = self.format[i]
        return R[..., o:o + n, o:o + n]

    def identity_chart(self, dtype=np.complex128):
        n = sum(self.format)
        return np.eye(n, dtype=dtype)

    def factors(self, y, R, xp=np):
        """The factors `x_l = R_l [1; x_l′]` of points `y (..., nvars)` with charts `R (..., Σn, Σn)`."""
        off = self._offsets()
        out = []
        for i, n in enumerate(self.format):
            one = xp.ones(y.shape[:-1] + (1,), dtype=y.dtype)
            z = xp.concatenate([one, y[..., off[i]:off[i + 1]]], axis=-1)
            out.append(xp.einsum("...ab,...b->...a", self.block(R, i), z))
        return out

    def residual(self, y, p, chart):
        """The `nvars` critical equations at `y` for `p = (W, T)` in the chart `(R, a)`."""
        import jax.numpy as jnp

        W, T = p
        R, _ = chart
        xs = self.factors(y, R, jnp)
        P = _kron(xs)
        lam = y[0]
        G = (W @ (lam * P - T)).reshape(self.format)
        eqs = [jnp.sum(G.reshape(-1) * P)[None]]
        letters = "abcdefgh"[: len(self.format)]
        for i, n in enumerate(self.format):
            others = [xs[j] for j in range(len(xs)) if j != i]
            spec = letters + "," + ",".join(letters[j] for j in range(len(xs)) if j != i) + "->" + letters[i]
            v = jnp.einsum(spec, G, *others)
            eqs.append((self.block(R, i).T @ v)[1:])
        return jnp.concatenate(eqs)

    # ---- numpy helpers (between tracking rounds, and for the results) ----
    def tensors(self, y, R):
        """`X = λ x_1 ⊗ ⋯ ⊗ x_L`, flattened: `(k, N)` for points `(k, nvars)`, charts `(k, Σn, Σn)`."""
        xs = self.factors(np.asarray(y), np.asarray(R))
        with np.errstate(all="ignore"):
            return y[:, :1] * _kron(xs)

    def chart_quality(self, y):
        """`min_l 1/‖(1, x_l′)‖` (1 is best: the point is the chart's centre in every factor)."""
        off = self._offsets()
        q = np.ones(len(y))
        for i in range(len(self.format)):
            q = np.minimum(q, 1.0 / np.sqrt(1.0 + np.sum(np.abs(y[:, off[i]:off[i + 1]]) ** 2, axis=1)))
        return q

    def coordinates(self, X, R, a=None):
        """Chart coordinates of rank-one tensors `X (k, N)` (or `(k, n_1, …, n_L)`) in charts
        `R (k, Σn, Σn)`; returns `(y, a)` with `a` zeros (the chart's unused patch)."""
        X = np.asarray(X, dtype=np.complex128).reshape(-1, self.entries)
        k = len(X)
        R = np.broadcast_to(np.asarray(R), (k,) + np.shape(R)[-2:])
        Xt = X.reshape((k,) + tuple(self.format))
        parts, xs = [], []
        for i, n in enumerate(self.format):
            unf = np.moveaxis(Xt, i + 1, 1).reshape(k, n, -1)
            u = np.linalg.svd(unf)[0][:, :, 0]  # spans the mode-i fibres of a rank-one tensor
            z = np.linalg.solve(self.block(R, i), u[:, :, None])[:, :, 0]
            parts.append(z[:, 1:] / z[:, :1])
            xs.append(u / z[:, :1])
        P = _kron(xs)
        lam = np.sum(P.conj() * X, axis=1) / np.sum(np.abs(P) ** 2, axis=1)
        y = np.concatenate([lam[:, None]] + parts, axis=1)
        return y, np.zeros_like(y)

    def rechart(self, y, R, rng):
        """New charts centred at `y`: `R_l = [x_l/‖x_l‖ | unitary complement]`, `x_l′ = 0`."""
        k = len(y)
        xs = self.factors(y, np.asarray(R))
        Rn = np.array(np.broadcast_to(np.eye(R.shape[-1], dtype=np.complex128), R.shape))
        for i, n in enumerate(self.format):
            Z = rng.standard_normal((k, n, n)) + 1j * rng.standard_normal((k, n, n))
            Z[:, :, 0] = xs[i]
            Qm = np.linalg.qr(Z)[0]
            self.block(Rn, i)[...] = Qm
        yn, an = self.coordinates(self.tensors(y, R), Rn)
        return yn, Rn, an

    def good_endpoints(self, y, chart, status, p_end):
        """Refine endpoints; `(X, ok)`: their tensors and a mask of those that count (finished,
        Newton converged, nonsingular Jacobian, finite and non-zero tensor)."""
        from ._homotopy import DONE, ENDPOINT_RESIDUAL_TOL, SINGULAR_COND, refine_endpoints

        yr, step, cond = refine_endpoints(self, y, p_end, chart)
        scale = np.linalg.norm(yr, axis=1)
        ok = (status == DONE) & np.isfinite(step) & (step <= ENDPOINT_RESIDUAL_TOL * scale)
        ok &= cond < SINGULAR_COND
        X = self.tensors(yr, chart[0])
        finite = np.isfinite(X).all(axis=1)
        Tn = np.linalg.norm(np.asarray(p_end[1]).reshape(len(X), -1), axis=1)
        ok &= finite & (np.linalg.norm(np.where(finite[:, None], X, 0), axis=1) > ZERO_TOL * Tn)
        return X, ok


def _start_weights(rng, N: int, metric: str):
    """A generic complex `W` for the start fibre: `BᵀB + i·√N·S` (`S` real symmetric), whose
    positive definite real part keeps the straight path to a real `AᵀA` invertible
    (the `anchored` weights of `geomflow.ed`'s rank-`r` solver); `I` for the Euclidean metric."""
    if metric == "euclidean":
        return np.eye(N, dtype=np.complex128)
    B = rng.standard_normal((N, N))
    S = rng.standard_normal((N, N))
    return B.T @ B + 1j * np.sqrt(N) * (S + S.T) / 2


def _start_pair(rng, system: SegreSystem, metric: str):
    """A random point `y₀`, chart `R`, weights `W` and data `T₀` with `F(y₀; W, T₀) = 0`.

    The equations are `Kᵀ W (λP − T) = 0` with `K = [P, ∂P/∂x′]` (up to the factor `λ`):
    `T₀ = λ₀P₀ − d` with `d` a random element of the null space of `KᵀW`."""
    import jax

    R = system.identity_chart()
    for i, n in enumerate(system.format):
        system.block(R, i)[...] = _cgauss(rng, n, n)
    y0 = _cgauss(rng, system.nvars)
    y0[0] = 1.0 + 0.5 * _cgauss(rng)
    W = _start_weights(rng, system.entries, metric)
    ch = (R, np.zeros(system.nvars, np.complex128))

    def f(t):
        return system.residual(y0, (W, t), ch)

    t0 = np.zeros(system.entries, np.complex128)
    b = np.asarray(f(t0))
    J = np.asarray(jax.jacfwd(f, holomorphic=True)(t0))
    sol = np.linalg.lstsq(J, -b, rcond=None)[0]
    _, s, vh = np.linalg.svd(J)
    null = vh[np.sum(s > 1e-10 * s[0]):].conj().T
    T = sol + null @ _cgauss(rng, null.shape[1])
    return y0, (W, T), R


def _stack(ps):
    return tuple(np.stack([np.asarray(p[i]) for p in ps]) for i in range(2))


@dataclass
class SegreFibre:
    """All critical points at one generic complex parameter `p₀ = (W, T₀)`, found by monodromy:
    `tensors` `(d, N)`, the chart `R`, `loops` and `history` (count after each round) and the
    last `TraceTest`."""

    system: SegreSystem
    params: tuple
    R: np.ndarray
    tensors: np.ndarray
    loops: int
    history: list = field(default_factory=list)
    trace: object = None

    @property
    def degree(self) -> int:
        return len(self.tensors)


@x64
def segre_start_fibre(format, metric: str = "euclidean", *, seed: int = 0, loops: int = 2,
                      max_loops: int = 8, stall: int = 2, batch: int = 2048,
                      verbose: bool = False) -> SegreFibre:
    """Solve the Segre critical system at a random complex `(W, T₀)` by monodromy in `T`.

    A fixed set of random loops `p₀ → p_j → p₀` (two Bézier arcs) acts on the known solutions
    until the set is closed under them. Generic metric: the loops move `W` and `T` together
    (`p_j = (W₀ + w·G_j, T_j)`, `G_j` a random complex symmetric matrix, `w` the r.m.s. entry of
    `W₀`, each arc's control point perturbed alike), then return to `W₀`, where the trace test
    moves `T` alone. Loops in `T` alone act on the large critical points (`‖X‖` ≫ `‖T₀‖`, nearly
    `W₀`-isotropic) much more weakly: measured for 3×3×3, seed 0, a `T`-loop moved about half of
    2382 known points and three `T`-loops found two of the three missing ones (it had stalled at
    2384 of 2385 for nine loops, every endpoint accepted), one `(W, T)`-loop moved 97% of them
    and found all three (`‖X‖` 287, 313, 709; the median is 30). Euclidean metric: `W = I` is
    not generic (most of the generic critical points are at infinity there), so the loops stay
    in `T`. Generic metric: then the trace test decides,
    a pass stops, a failure adds a loop (up to `max_loops`). Euclidean metric: loops are added
    until `stall` consecutive added loops bring no new point (or `max_loops`); the trace test is
    run once at the end for the record (it does not apply, see `segre_ed_degree`). No closed
    form is consulted.
    """
    ns = _check_format(format)
    if metric not in METRICS:
        raise GeomflowError(f"metric must be one of {METRICS}, got {metric!r}")
    key = (ns, metric, int(seed), loops, max_loops, stall)
    if key not in _FIBRES:
        _FIBRES[key] = _monodromy(ns, metric, int(seed), loops, max_loops, stall, batch, verbose)
    return _FIBRES[key]


_FIBRES: dict = {}  # solved start fibres, per process


def _monodromy(ns, metric, seed, loops, max_loops, stall, batch, verbose) -> SegreFibre:
    from ._solve import _append_new, around_loops
    from ._trace import trace_test

    system = SegreSystem(ns)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5E6E]))
    y0, p0, R = _start_pair(rng, system, metric)
    mats = system.tensors(y0[None], R[None])
    W0, T0 = p0
    scale = np.sqrt(np.mean(np.abs(T0) ** 2))
    history = [1]
    arcs: list = []
    pushed: list = []
    result = None
    rounds = 0

    wscale = np.sqrt(np.mean(np.abs(W0) ** 2))

    def weights():
        """`W₀` (Euclidean), else `W₀` + a random complex symmetric matrix of `W₀`'s size."""
        if metric == "euclidean":
            return W0
        G = _cgauss(rng, system.entries, system.entries)
        G = (G + G.T) / 2
        return W0 + wscale * G / np.sqrt(np.mean(np.abs(G) ** 2))

    def add_loop():
        Ta = scale * _cgauss(rng, system.entries)
        Wa = weights()
        mids = []
        for _ in range(2):
            Wm = 0.5 * (W0 + Wa) + (weights() - W0)
            mids.append((Wm, 0.5 * (T0 + Ta) + scale * _cgauss(rng, system.entries)))
        arcs.append(((Wa, Ta), mids[0], mids[1]))
        pushed.append(0)

    closures: list = []  # the count each time the set was closed under the loops
    for _ in range(loops):
        add_loop()
    while True:
        todo = [(j, np.arange(pushed[j], len(mats))) for j in range(len(arcs))]
        todo = [(j, ix) for j, ix in todo if len(ix)]
        if not todo:
            closures.append(len(mats))
            stalled = len(closures) > stall and len(set(closures[-stall - 1:])) == 1
            if metric == "euclidean" and not (stalled or len(arcs) >= max_loops):
                # The trace test does not apply here (see `segre_ed_degree`); it is run once,
                # for the record, when `stall` added loops have brought nothing new.
                add_loop()
                continue
            result = trace_test(system, mats, p0, R, seed=int(seed) * 7919 + len(arcs), batch=batch)
            if verbose:
                print(f"trace test with {len(mats)} solutions: residual {result.residual:.3g}, "
                      f"{'pass' if result.passed else 'fail'}")
            if result.passed or len(arcs) >= max_loops or metric == "euclidean":
                break
            add_loop()
            continue
        rounds += 1
        lj = np.concatenate([np.full(len(ix), j) for j, ix in todo])
        src = mats[np.concatenate([ix for _, ix in todo])]
        k = len(src)
        Rs = np.repeat(R[None], k, axis=0)
        ys, a_s = system.coordinates(src, Rs)
        new = around_loops(system, ys, (Rs, a_s), arcs, p0, lj, batch=batch, seed=int(seed) + 2 * rounds)
        for j, _ in todo:
            pushed[j] = len(mats)
        mats = _append_new(mats, new)
        history.append(len(mats))
        if verbose:
            print(f"monodromy round {rounds} ({len(arcs)} loops, {k} paths): {len(mats)} solutions")
    return SegreFibre(system, p0, R, mats, len(arcs), history, result)


@x64
def solve_real_instance(fibre: SegreFibre, W, T, *, seed: int = 0, max_attempts: int = 4,
                        batch: int = 2048) -> np.ndarray:
    """All complex critical tensors `(k, N)` of a real instance `(W, T)` by a parameter homotopy
    from the start fibre (re-tracked along random complex arcs, the union kept, until the count
    is the fibre's degree or `max_attempts` is reached)."""
    from ._homotopy import dedup, track

    system = fibre.system
    d = fibre.degree
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x2EA1]))
    p0 = tuple(np.asarray(a, dtype=np.complex128) for a in fibre.params)
    p1 = (np.asarray(W, dtype=np.complex128), np.asarray(T, dtype=np.complex128).reshape(-1))
    Rs = np.repeat(fibre.R[None], d, axis=0)
    y0, a0 = system.coordinates(fibre.tensors, Rs)
    found = np.zeros((0, system.entries), np.complex128)
    scale = np.sqrt(np.mean(np.abs(p1[1]) ** 2))
    for attempt in range(max_attempts):
        c = tuple(0.5 * (a + b) for a, b in zip(p0, p1))
        if attempt:
            c = (c[0], c[1] + 0.5 * scale * _cgauss(rng, system.entries))
        P = (_stack([p0]), _stack([c]), _stack([p1]))
        y1, ch1, st, _ = track(system, y0, (Rs, a0), P, np.zeros(d, np.int64), batch=batch,
                               seed=int(seed) + 31 * attempt)
        X, ok = system.good_endpoints(y1, ch1, st, _stack([p1] * d))
        cand = np.concatenate([found, X[ok]])
        found = cand[dedup(cand)] if len(cand) else cand
        if len(found) >= d:
            break
    return found


# ---------------------------------------------------------------- certification

class _SegreProblem:
    """`F`, `DF` and the tensor in ball arithmetic for one real instance `(W, T)` and one real
    chart (orthogonal `R_l`): the same equations as `SegreSystem.residual`, with
    `DF = Kᵀ W K Λ + S` (`K = [P, ∂P/∂x′]`, `Λ = diag(1, λ, …, λ)`, `S` the second-derivative
    term `⟨G, ∂K/∂y⟩`)."""

    def __init__(self, W, T, Rs, format):
        from flint import acb_mat

        self.format = tuple(format)
        self.N = 1 + sum(n - 1 for n in self.format)
        self.W = acb_mat([[float(w) for w in row] for row in W])
        self.T = [float(t) for t in np.asarray(T).reshape(-1)]
        self.R = [[[float(v) for v in row] for row in Ri] for Ri in Rs]

    def _tensor(self, vecs):
        out = []
        for idx in itertools.product(*(range(n) for n in self.format)):
            e = vecs[0][idx[0]]
            for v, i in zip(vecs[1:], idx[1:]):
                e = e * v[i]
            out.append(e)
        return out

    def evaluate(self, x, jac: bool = True):
        from flint import acb_mat

        lam = x[0]
        xs, dirs = [], []
        off = 1
        for i, n in enumerate(self.format):
            R = self.R[i]
            xp = x[off:off + n - 1]
            xs.append([R[r][0] + sum((R[r][1 + b] * xp[b] for b in range(n - 1)), 0 * lam)
                       for r in range(n)])
            dirs.append([[R[r][1 + b] + 0 * lam for r in range(n)] for b in range(n - 1)])
            off += n - 1
        P = self._tensor(xs)
        cols = [P]
        index = []  # (factor, direction) of each column after the first
        for i in range(len(self.format)):
            for b, d in enumerate(dirs[i]):
                cols.append(self._tensor(xs[:i] + [d] + xs[i + 1:]))
                index.append((i, b))
        Ne = len(P)
        K = acb_mat([[cols[c][e] for c in range(self.N)] for e in range(Ne)])
        r = acb_mat([[lam * P[e] - self.T[e]] for e in range(Ne)])
        g = self.W * r
        F = K.transpose() * g
        Mm = acb_mat([[lam * P[e]] for e in range(Ne)])
        U = acb_mat([[lam]])
        if not jac:
            return F, None, Mm, U
        DF = K.transpose() * (self.W * K)
        for c in range(1, self.N):
            for row in range(self.N):
                DF[row, c] = DF[row, c] * lam
        for c in range(1, self.N):
            DF[0, c] += F[c, 0]  # ⟨G, ∂P/∂x′_c⟩
        for a, (i, ba) in enumerate(index, start=1):
            for c, (j, bc) in enumerate(index, start=1):
                if i == j:
                    continue
                vecs = list(xs)
                vecs[i] = dirs[i][ba]
                vecs[j] = dirs[j][bc]
                t = self._tensor(vecs)
                s = 0 * lam
                for e in range(Ne):
                    s += g[e, 0] * t[e]
                DF[a, c] += s
        return F, DF, Mm, U


def _real_chart(system: SegreSystem, X):
    """Real orthogonal charts (first column the real direction closest to each factor) and the
    point's coordinates in them."""
    k1 = X.reshape((1,) + tuple(system.format))
    Rs = []
    R = system.identity_chart(float)
    for i, n in enumerate(system.format):
        unf = np.moveaxis(k1, i + 1, 1).reshape(n, -1)
        u = np.linalg.svd(unf)[0][:, 0]
        Uo = np.linalg.svd(np.stack([u.real, u.imag], axis=1))[0]
        system.block(R, i)[...] = Uo
        Rs.append(Uo)
    y, _ = system.coordinates(X[None], R[None].astype(np.complex128))
    return Rs, y[0]


@x64
def certify_segre_points(format, points, W, T):
    """Certify approximate complex critical tensors of a real instance in ball arithmetic.

    Each point is proved (Krawczyk, `geomflow.ed.certify_points`' loop) to be the unique root of
    the critical system in a box of its own real chart, with `λ ≠ 0`; a conjugation-invariant
    box proves it real, a box missing the real space proves it non-real, and disjoint tensor
    enclosures prove the points distinct. Morse indices are not computed (`morse` is `-1`).

    **Arguments:**

    - `format`: the factor sizes; `points`: complex `(k, N)` or `(k, n_1, …, n_L)`.
    - `W`: real symmetric `(N, N)`; `T`: real data, `N` entries.

    **Returns:** a `CertifiedPoints`.

    **Raises:** `GeomflowError` for a bad format or misshapen or non-real `W`, `T`.

    Examples:
        >>> import numpy as np
        >>> T = np.diag([3.0, 1.0])  # 2×2 (L = 2), Euclidean: the two singular triplets
        >>> pts = np.array([np.diag([3.0, 0.0]), np.diag([0.0, 1.0])], dtype=complex)
        >>> c = certify_segre_points((2, 2), pts, np.eye(4), T)
        >>> c.n_certified, c.n_real
        (2, 2)
    """
    from ._certify import CertifiedPoints, _prove_point, _rank_ok, _separated

    ns = _check_format(format)
    system = SegreSystem(ns)
    pts = np.asarray(points, dtype=np.complex128).reshape(-1, system.entries)
    W = np.asarray(W)
    T = np.asarray(T)
    if np.iscomplexobj(W) or np.iscomplexobj(T):
        raise GeomflowError("certify_segre_points needs a real instance (real W and T)")
    W = W.astype(float)
    T = T.astype(float).reshape(-1)
    if W.shape != (system.entries, system.entries) or T.shape != (system.entries,):
        raise GeomflowError(f"W must be ({system.entries}, {system.entries}) and T have "
                            f"{system.entries} entries, got {W.shape} and {T.shape}")
    k = len(pts)
    unique = np.zeros(k, bool)
    reality = np.zeros(k, np.int64)
    morse = np.full(k, -1, np.int64)
    radius = np.full(k, np.nan)
    boxes = np.full((k, 2, 2, system.entries), np.nan)
    for p in range(k):
        if not np.all(np.isfinite(pts[p])):
            continue
        Rs, x = _real_chart(system, pts[p])
        if not np.all(np.isfinite(x)):
            continue
        res = _prove_point(_SegreProblem(W, T, Rs, ns), x, lambda U: _rank_ok(U, 1), morse=False)
        if res is None:
            continue
        unique[p] = True
        reality[p], morse[p], radius[p], boxes[p] = res
    separated = np.zeros(k, bool)
    separated[unique] = _separated(boxes[unique])
    return CertifiedPoints(unique, reality, morse, radius, separated)


# ---------------------------------------------------------------- the entry point

@dataclass(frozen=True)
class SegreEDDegree:
    """The outcome of `segre_ed_degree`.

    - `complex_count`: distinct nonsingular critical points at the generic complex parameter
      (the monodromy fibre); `closed_form`: Friedland–Ottaviani (Euclidean) or DHOST
      (generic), computed independently.
    - `trace_residual`: the trace test of that fibre (for the Euclidean metric it does not
      apply, see `segre_ed_degree`; recorded only).
    - `certified_complete`, `completeness`: whether the fibre is proved complete, and how: the
      trace test (generic metric), or the total-degree homotopy at the same `T₀`
      (`segre_total_degree`; Euclidean metric: no path failed and its ED critical points are
      the monodromy fibre as a set of tensors).
    - `real_instance_count`: critical points found for the real instance (`T` with i.i.d.
      N(0, 1) entries; `W = AᵀA`, `A` i.i.d. N(0, 1), for the generic metric).
    - `real_count`, `nonreal_count`: of those, proved real / proved non-real in ball arithmetic
      (and distinct); `uncertified`: the points neither proved.
    - `monodromy_loops`, `history`: loops used and the count after each monodromy round;
      `seconds`: wall time.
    """

    format: tuple
    metric: str
    seed: int
    complex_count: int
    closed_form: int
    trace_residual: float
    certified_complete: bool
    completeness: str
    real_instance_count: int
    real_count: int
    nonreal_count: int
    uncertified: int
    monodromy_loops: int
    history: tuple
    seconds: float

    def to_dict(self) -> dict:
        from dataclasses import asdict

        d = asdict(self)
        d["format"] = list(self.format)
        d["history"] = list(self.history)
        return d


def real_instance(format, metric: str = "euclidean", *, seed: int = 0):
    """The real instance `(W, T)` that `segre_ed_degree` certifies: `T` i.i.d. N(0, 1), `W = I`
    (Euclidean) or `AᵀA` with `A` i.i.d. N(0, 1) (generic)."""
    ns = _check_format(format)
    N = math.prod(ns)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7EA1]))
    T = rng.standard_normal(N)
    if metric == "euclidean":
        return np.eye(N), T
    A = rng.standard_normal((N, N))
    return A.T @ A, T


@x64
def segre_ed_degree(format=(2, 2, 2), metric: str = "euclidean", *, seed: int = 0,
                    certify: bool = True, total_degree: bool = True, max_loops: int = 8,
                    batch: int = 2048, verbose: bool = False) -> SegreEDDegree:
    """ED degree of the Segre cone (rank-one tensors of `format`) by monodromy, with a
    completeness check (trace test or total-degree homotopy) and ball-arithmetic certification
    of a real instance.

    The complex count is the number of critical points of `vec(X − T)ᵀ W vec(X − T)` on the
    rank-one tensors at a random complex `T` (and, for `metric="generic"`, a random complex
    symmetric `W`; `W = I` for `"euclidean"`), found by monodromy and stopped by the trace test
    alone (no closed form is consulted). The fibre is then carried to a real instance
    (`real_instance`) whose points are certified.

    **Completeness.** For the generic metric the trace test (moving `T` along a line, summing
    the tensors `X`) proves the fibre complete: `certified_complete`. For the Euclidean metric
    (`L ≥ 3`) it does not apply: the Segre variety is not transversal to the isotropic quadric
    (`X = x_1⊗⋯⊗x_L` with two isotropic factors, `x_jᵀx_j = 0`, lies in its own normal space),
    the projection of the ED correspondence to the data space is not proper, and critical points
    escape to infinity over a hypersurface of data `T` that a line meets: the trace of `X` has
    poles (measured for 2×2×2: an affine fit of the trace at nine points of a line leaves a
    relative residual 0.76, one point's `‖X‖` grows five-fold near `t = −0.25`). There monodromy
    stops when `stall` added loops bring nothing new, and completeness is checked independently
    by the total-degree homotopy (`segre_total_degree`) at the same data `T₀`: every isolated
    nonsingular solution of the singular-vector-tuple system is reached by one of its
    `d^{Σn_l}` paths (probability one), so `certified_complete` is set when no path failed, none
    was reached twice, and its ED critical points are the monodromy fibre as a set of tensors
    (within `MATCH_TOL`). `completeness` says which check ran and what it found.

    **Arguments:**

    - `format`: the factor sizes `(n_1, …, n_L)`, `2 ≤ L ≤ 5`, `2 ≤ n_l ≤ 6`, at most 64
      entries.
    - `metric`: `"euclidean"` or `"generic"`.
    - `seed`: the start point, loops, the total-degree homotopy and the real instance.
    - `certify`: solve and certify the real instance (else the real counts are `-1`).
    - `total_degree`: run the total-degree check (Euclidean metric only; skipped, and the count
      not certified, when it has more than `MAX_TOTAL_DEGREE_PATHS` paths).
    - `max_loops`: the most monodromy loops (3×3×3 with the generic metric, 2385 points, took
      3 at seed 0).
    - `batch`: the largest lockstep batch of the tracker.

    **Returns:** a `SegreEDDegree`.

    **Raises:** `GeomflowError` for a bad format or metric.

    Example (not run as a doctest: it compiles trackers, about a minute):

    ```python
    r = segre_ed_degree((2, 2, 2), "euclidean")
    r.complex_count, r.closed_form, r.certified_complete  # (6, 6, True)
    r.completeness  # 'total-degree homotopy: 64 paths, 0 failed, …, 6 ED critical points = the monodromy set'
    ```
    """
    from ._total_degree import MAX_TOTAL_DEGREE_PATHS

    ns = _check_format(format)
    if metric not in METRICS:
        raise GeomflowError(f"metric must be one of {METRICS}, got {metric!r}")
    t0 = time.perf_counter()
    fib = segre_start_fibre(ns, metric, seed=seed, max_loops=max_loops, batch=batch, verbose=verbose)
    tr = fib.trace
    if metric == "generic":
        complete = bool(tr.passed) if tr is not None else False
        how = (f"trace test: residual {tr.residual:.3g}, {'pass' if tr.passed else 'fail'}"
               if tr is not None else "trace test not run")
    else:
        system = SegreTotalDegreeSystem(ns)
        complete = False
        if not total_degree:
            how = "not checked (total_degree=False)"
        elif system.paths > MAX_TOTAL_DEGREE_PATHS:
            how = (f"not checked: the total-degree homotopy would have {system.paths} paths "
                   f"(> MAX_TOTAL_DEGREE_PATHS = {MAX_TOTAL_DEGREE_PATHS})")
        else:
            T0 = np.asarray(fib.params[1])
            td = segre_total_degree(ns, T0, seed=seed, batch=min(batch, 512))
            same = match_sets(fib.tensors, td.tensors, np.linalg.norm(T0))
            complete = td.complete and same
            how = td.summary() + (" = the monodromy set" if same else
                                  f" ≠ the monodromy set of {fib.degree}")
            if verbose:
                print(how)
    n_inst, n_real, n_nonreal, n_unc = -1, -1, -1, -1
    if certify:
        W, T = real_instance(ns, metric, seed=seed)
        pts = solve_real_instance(fib, W, T, seed=seed, batch=batch)
        cert = certify_segre_points(ns, pts, W, T)
        n_inst, n_real, n_nonreal = len(pts), cert.n_real, cert.n_nonreal
        n_unc = n_inst - n_real - n_nonreal
    return SegreEDDegree(
        format=ns, metric=metric, seed=int(seed), complex_count=fib.degree,
        closed_form=segre_closed_form(ns, metric),
        trace_residual=float(tr.residual) if tr is not None else float("nan"),
        certified_complete=bool(complete), completeness=how,
        real_instance_count=int(n_inst), real_count=int(n_real), nonreal_count=int(n_nonreal),
        uncertified=int(n_unc), monodromy_loops=fib.loops, history=tuple(int(h) for h in fib.history),
        seconds=time.perf_counter() - t0)
