"""Interval certification of critical points (Krawczyk test in ball arithmetic, python-flint).

For one real instance `ℓ(M) = vec(M − Q)ᵀ W vec(M − Q)` on `M_r ⊂ R^{m×n}` and approximate
complex critical points `M̃` (e.g. from the homotopy tracker), every point is certified in its
own **real** chart `M = U Vᵀ`, `V = R [I_r; V′]` with `R` a real orthogonal matrix (the top
right singular vectors of `[Re M̃; Im M̃]` first). In the chart the critical equations are the
gradient of `f = ℓ ∘ φ` (halved):

`F(x) = J(x)ᵀ W vec(U Vᵀ − Q)`, `DF(x) = J(x)ᵀ W J(x) + S(x)`,

with `J = ∂vec(M)/∂x` and `S` the curvature term built from `G R`, `G = mat(W vec(M − Q))`.
The system has real coefficients, so complex conjugation maps its roots to roots.

For a box `X` (complex balls, `acb`) around `x̃`, with `Y ≈ DF(x̃)⁻¹` a floating-point inverse,
the Krawczyk operator `K = x̃ − Y F(x̃) + (I − Y DF(X))(X − x̃)` is evaluated in ball
arithmetic; `K ⊂ int X` proves that `X` holds exactly one root, and that `DF` is nonsingular
on `X` (MATH.md §7). Then, proved and not thresholded:

- **rank exactly r**: an `r×r` minor of `U` whose ball excludes 0;
- **real**: `X` is conjugation-invariant (real centre), so its unique root is real;
- **non-real**: some coordinate's imaginary-part ball of `X` excludes 0;
- **distinct**: the enclosures of `M = U Vᵀ` over the boxes of two points are disjoint;
- **Morse index** of a real point: the Hessian of `f` (= `2·DF`) over the real box, congruent
  by a floating-point eigenbasis `E` to `Eᵀ DF(X) E`, is reduced by interval Gaussian elimination
  without pivoting; when no pivot ball contains 0, every symmetric matrix in the enclosure has
  the same inertia (Sylvester), so the number of negative pivots is the Morse index of the
  critical point (at a critical point the chart Hessian and the Riemannian Hessian are
  congruent). Index 0 is a certified nondegenerate local minimum.

Anything not proved is reported `uncertified`. Floating-point numbers only pick *which* proof to
attempt (`REALITY_HINT`: a point with a smaller relative imaginary part is tried with a real box
first, and with a complex box after that) and the box radii (`RADII`); they never decide a
count.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from .._errors import GeomflowError
from .._precision import x64

# A point whose chart coordinates have relative imaginary part below this is tried with a
# conjugation-invariant (real-centred) box first; every point is tried both ways.
REALITY_HINT = 1e-6
# Box radii tried, relative to max(1, ‖x̃‖∞), after the floor `NEWTON_INFLATION·‖Y F(x̃)‖∞`.
RADII = (1e-13, 1e-10, 1e-8)
NEWTON_INFLATION = 64.0
# Working precision (bits) of the ball arithmetic; `HIGH_PRECISION` is the fallback, with
# `HIGH_PRECISION_NEWTON` Newton steps to sharpen the centre first.
PRECISION = 106
HIGH_PRECISION = 256
HIGH_PRECISION_NEWTON = 6
HIGH_PRECISION_RADII = (1e-40, 1e-30, 1e-20, 1e-13)

REAL, NONREAL, UNKNOWN = 1, -1, 0


@contextlib.contextmanager
def _precision(bits):
    from flint import ctx

    old = ctx.prec
    ctx.prec = bits
    try:
        yield
    finally:
        ctx.prec = old


def _chart(M):
    """A real orthogonal `R` (top right singular vectors of `[Re M; Im M]` first) and the chart
    coordinates `x = (U row-major, V′ row-major)` of `M` in it."""
    m, n = M.shape
    _, _, vh = np.linalg.svd(np.concatenate([M.real, M.imag], axis=0))
    R = vh.T
    return R


def _coords(M, R, r):
    Z = M @ R
    U = Z[:, :r]
    Vpt = np.linalg.lstsq(U, Z[:, r:], rcond=None)[0]  # (r, n−r) = V′ᵀ
    return np.concatenate([U.reshape(-1), Vpt.T.reshape(-1)])


class _Problem:
    """`F`, `DF` and `M` in ball arithmetic for one instance `(W, Q)` and one chart `R`."""

    def __init__(self, W, Q, R, r):
        from flint import acb_mat

        self.m, self.n = Q.shape
        self.r = r
        self.N = r * (self.m + self.n - r)
        self.W = acb_mat([[float(w) for w in row] for row in W])
        self.Q = [[float(q) for q in row] for row in Q]
        self.R = [[float(v) for v in row] for row in R]
        self.Rm = acb_mat(self.R)

    def unpack(self, x):
        m, n, r = self.m, self.n, self.r
        U = [[x[i * r + a] for a in range(r)] for i in range(m)]
        Vp = [[x[m * r + b * r + a] for a in range(r)] for b in range(n - r)]
        # V = R [I; V′]: V[j, a] = R[j, a] + Σ_b R[j, r+b] V′[b, a]
        V = []
        for j in range(n):
            row = []
            for a in range(r):
                s = self.R[j][a] + 0 * x[0]
                for b in range(n - r):
                    s += self.R[j][r + b] * Vp[b][a]
                row.append(s)
            V.append(row)
        return U, V

    def evaluate(self, x, jac: bool = True):
        """`(F, DF, M, U)` as acb matrices at a point or box `x` (a list of acb)."""
        from flint import acb_mat

        m, n, r, N = self.m, self.n, self.r, self.N
        U, V = self.unpack(x)
        Um, Vm = acb_mat(U), acb_mat(V)
        Mm = Um * Vm.transpose()
        d = acb_mat([[Mm[i, j] - self.Q[i][j]] for j in range(n) for i in range(m)])  # vec, col-major
        J = [[0] * N for _ in range(m * n)]
        for j in range(n):
            for i in range(m):
                row = J[j * m + i]
                for a in range(r):
                    row[i * r + a] = V[j][a]
                    for b in range(n - r):
                        row[m * r + b * r + a] = U[i][a] * self.R[j][r + b]
        Jm = acb_mat(J)
        g = self.W * d
        F = Jm.transpose() * g
        if not jac:
            return F, None, Mm, Um
        DF = Jm.transpose() * (self.W * Jm)
        if n > r:
            G = acb_mat([[g[j * m + i, 0] for j in range(n)] for i in range(m)])
            GR = G * self.Rm
            for i in range(m):
                for a in range(r):
                    for b in range(n - r):
                        u_idx, v_idx = i * r + a, m * r + b * r + a
                        DF[u_idx, v_idx] += GR[i, r + b]
                        DF[v_idx, u_idx] += GR[i, r + b]
        return F, DF, Mm, Um


def _to_acb(z):
    from flint import acb

    return acb(float(z.real), float(z.imag))


def _mid_complex(A):
    return np.array([[complex(float(e.real.mid()), float(e.imag.mid())) for e in row]
                     for row in A.tolist()])


def _krawczyk(prob, xt, radius, real_box, centre=None):
    """Krawczyk test of the box of `radius` around the centre `xt` (list of acb, exact);
    `centre`: `(F, DF)` at `xt` if already evaluated.

    Returns `(proved, X, DF(X), M(X), U(X))`."""
    from flint import acb, acb_mat, arb

    N = prob.N
    # A real box is conjugation-invariant: real centre, imaginary part [−ρ, ρ].
    X = [acb(arb(c.real.mid(), radius), arb(0 if real_box else c.imag.mid(), radius)) for c in xt]
    Fx, DFx = centre if centre is not None else prob.evaluate(xt)[:2]
    Yf = np.linalg.inv(_mid_complex(DFx))
    if not np.all(np.isfinite(Yf)):
        return False, X, None, None, None
    if real_box:
        Yf = Yf.real
    Y = acb_mat([[_to_acb(v) for v in row] for row in Yf])
    _, DFX, MX, UX = prob.evaluate(X)
    Id = acb_mat(N, N)
    for i in range(N):
        Id[i, i] = 1
    dX = acb_mat([[acb(arb(0, radius), arb(0, radius))] for _ in range(N)])
    xc = acb_mat([[c] for c in xt])
    K = xc - Y * Fx + (Id - Y * DFX) * dX
    ok = all(X[i].contains_interior(K[i, 0]) for i in range(N))
    return ok, X, DFX, MX, UX


def _newton_centre(prob, xt, steps, real):
    """Sharpen a centre by Newton steps on the midpoints (at the current precision)."""
    from flint import acb, acb_mat

    x = list(xt)
    for _ in range(steps):
        F, DF, _, _ = prob.evaluate(x)
        Fm = acb_mat([[acb(F[i, 0].real.mid(), F[i, 0].imag.mid())] for i in range(prob.N)])
        Dm = acb_mat([[acb(e.real.mid(), e.imag.mid()) for e in row] for row in DF.tolist()])
        try:
            step = Dm.solve(Fm)
        except (ZeroDivisionError, ValueError):
            return x
        x = [acb((x[i] - step[i, 0]).real.mid(), 0 if real else (x[i] - step[i, 0]).imag.mid())
             for i in range(prob.N)]
    return x


def _rank_ok(U, r):
    """An `r×r` minor of `U` (the rows with the largest midpoint minor) excludes 0."""
    from flint import acb_mat

    Um = _mid_complex(U)
    m = Um.shape[0]
    if r == 1:
        return any(not U[i, 0].contains(0) for i in range(m))
    _, _, piv = _qr_rows(Um.T)
    rows = sorted(piv[:r])
    minor = acb_mat([[U[i, a] for a in range(r)] for i in rows])
    return not minor.det().contains(0)


def _qr_rows(A):
    import scipy.linalg

    return scipy.linalg.qr(A, pivoting=True)


def _inertia(DFX, N):
    """Certified Morse index of the real symmetric enclosure `Re DF(X)`, or `-1`."""
    from flint import arb_mat

    H = arb_mat([[DFX[i, j].real for j in range(N)] for i in range(N)])
    Hm = np.array([[float(H[i, j].mid()) for j in range(N)] for i in range(N)])
    _, E = np.linalg.eigh(0.5 * (Hm + Hm.T))
    Em = arb_mat([[float(v) for v in row] for row in E])
    S = Em.transpose() * H * Em
    A = [[S[i, j] for j in range(N)] for i in range(N)]
    neg = 0
    for k in range(N):
        piv = A[k][k]
        if piv.contains(0):
            return -1
        if piv < 0:
            neg += 1
        for i in range(k + 1, N):
            f = A[i][k] / piv
            for j in range(k + 1, N):
                A[i][j] = A[i][j] - f * A[k][j]
    return neg


@dataclass
class CertifiedPoints:
    """The certificate of one instance's critical points.

    Per point (arrays of length `found`): `unique` (a Krawczyk box proved a unique root of rank
    exactly `r` there), `reality` (`1` proved real, `-1` proved non-real, `0` not proved),
    `morse` (certified Morse index of a proved-real point; `-1` where not proved or not real),
    `radius` (the box radius used, `nan` if none worked), `separated` (its matrix enclosure is
    disjoint from every other proved point's, so it is a root no other point stands for).
    `distinct`: every point is proved and separated. Counts (`n_certified`, `n_real`, …) count
    only points that are both proved and separated.
    """

    unique: np.ndarray
    reality: np.ndarray
    morse: np.ndarray
    radius: np.ndarray
    separated: np.ndarray

    @property
    def found(self) -> int:
        return len(self.unique)

    @property
    def distinct(self) -> bool:
        return bool(np.all(self.unique & self.separated))

    @property
    def _ok(self):
        return self.unique & self.separated

    @property
    def n_certified(self) -> int:
        return int(self._ok.sum())

    @property
    def n_real(self) -> int:
        return int(((self.reality == REAL) & self._ok).sum())

    @property
    def n_nonreal(self) -> int:
        return int(((self.reality == NONREAL) & self._ok).sum())

    @property
    def n_minima(self) -> int:
        return int(((self.morse == 0) & (self.reality == REAL) & self._ok).sum())

    def fully_certified(self, degree: int) -> bool:
        """All `degree` points proved: unique, distinct, real or non-real, real ones' index."""
        real = self.reality == REAL
        return bool(self.found == degree and self.distinct and self.unique.all()
                    and np.all(self.reality != UNKNOWN) and np.all(self.morse[real] >= 0))


@x64
def certify_points(points, W, Q, r: int) -> CertifiedPoints:
    """Certify approximate complex critical points of `vec(M−Q)ᵀ W vec(M−Q)` on `M_r`.

    See the module docstring for what is proved and how.

    **Arguments:**

    - `points`: complex `(k, m, n)` approximate critical matrices of rank `r`.
    - `W`: real symmetric `(mn, mn)` weights (column-major `vec`); `Q`: real `(m, n)` data.
    - `r`: the rank.

    **Returns:** a `CertifiedPoints`.

    **Raises:** `GeomflowError` for misshapen input or non-real `W`, `Q`.

    Examples:
        >>> import numpy as np
        >>> Q = np.diag([3.0, 1.0])
        >>> pts = np.array([np.diag([3.0, 0.0]), np.diag([0.0, 1.0])], dtype=complex)
        >>> c = certify_points(pts, np.eye(4), Q, 1)  # Eckart–Young: both real, one minimum
        >>> c.n_certified, c.n_real, c.n_minima, c.morse.tolist()
        (2, 2, 1, [0, 1])
    """
    pts = np.asarray(points, dtype=np.complex128)
    W = np.asarray(W)
    Q = np.asarray(Q)
    if np.iscomplexobj(W) or np.iscomplexobj(Q):
        raise GeomflowError("certify_points needs a real instance (real W and Q)")
    W = W.astype(float)
    Q = Q.astype(float)
    if pts.ndim != 3 or Q.ndim != 2 or pts.shape[1:] != Q.shape:
        raise GeomflowError(f"expected points (k, m, n) and Q (m, n), got {pts.shape} and {Q.shape}")
    m, n = Q.shape
    if W.shape != (m * n, m * n):
        raise GeomflowError(f"W must have shape ({m * n}, {m * n}), got {W.shape}")
    if not 1 <= r <= min(m, n):
        raise GeomflowError(f"rank must satisfy 1 <= r <= min(m, n) = {min(m, n)}, got {r}")
    k = len(pts)
    unique = np.zeros(k, bool)
    reality = np.zeros(k, np.int64)
    morse = np.full(k, -1, np.int64)
    radius = np.full(k, np.nan)
    boxes = np.full((k, 2, 2, m * n), np.nan)  # [point, re/im, lo/hi, entry]
    for p in range(k):
        res = _certify_one(pts[p], W, Q, r)
        if res is None:
            continue
        unique[p] = True
        reality[p], morse[p], radius[p], boxes[p] = res
    separated = np.zeros(k, bool)
    separated[unique] = _separated(boxes[unique])
    return CertifiedPoints(unique, reality, morse, radius, separated)


def _separated(boxes):
    """For each matrix enclosure (float lo/hi per entry, outward-rounded), whether it is
    disjoint from all the others."""
    k = len(boxes)
    lo = np.concatenate([boxes[:, 0, 0], boxes[:, 1, 0]], axis=1)
    hi = np.concatenate([boxes[:, 0, 1], boxes[:, 1, 1]], axis=1)
    out = np.ones(k, bool)
    for i in range(k):
        sep = np.any((hi[i] < lo) | (hi < lo[i]), axis=1)
        sep[i] = True
        out[i] = sep.all()
    return out


def _enclosure(MX):
    """Float lower/upper bounds (outward) of the real and imaginary parts of an acb matrix."""
    m, n = MX.nrows(), MX.ncols()
    out = np.zeros((2, 2, m * n))
    for j in range(n):
        for i in range(m):
            e = MX[i, j]
            for part, b in ((0, e.real), (1, e.imag)):
                mid, rad = float(b.mid()), float(b.rad())
                slack = rad * 1e-12 + abs(mid) * 4e-16 + 1e-300
                out[part, 0, j * m + i] = mid - rad - slack
                out[part, 1, j * m + i] = mid + rad + slack
    return out


def _certify_one(M, W, Q, r):
    """`(reality, morse, radius, enclosure)` for one point, or `None` if no box was proved."""
    if not np.all(np.isfinite(M)):
        return None
    R = _chart(M)
    x = _coords(M, R, r)
    if not np.all(np.isfinite(x)):
        return None
    prob = _Problem(W, Q, R, r)
    return _prove_point(prob, x, lambda UX: _rank_ok(UX, r))


def _prove_point(prob, x, nondegenerate, morse: bool = True):
    """The Krawczyk loop for one approximate root `x` of `prob` (any object with `N` and
    `evaluate(x) -> (F, DF, M, U)` in ball arithmetic, `F` an `N×1` and `DF` an `N×N` acb
    matrix): real box and complex box, `PRECISION` then `HIGH_PRECISION`, radii `RADII`.

    `nondegenerate(U)` must prove the point non-degenerate on the box (e.g. rank exactly `r`);
    `morse`: compute the certified Morse index of a real root from `DF` (only meaningful when
    `DF` is the Hessian of the restricted loss up to a positive factor).

    Returns `(reality, morse, radius, enclosure of M)` or `None` if no box was proved."""
    from flint import acb

    scale = max(1.0, float(np.abs(x).max()))
    im_rel = float(np.abs(x.imag).max()) / scale
    order = (True, False) if im_rel <= REALITY_HINT else (False, True)
    for bits, newton, radii in ((PRECISION, 1, RADII), (HIGH_PRECISION, HIGH_PRECISION_NEWTON,
                                                          HIGH_PRECISION_RADII)):
        with _precision(bits):
            for real_box in order:
                xt = [acb(float(v.real), 0.0 if real_box else float(v.imag)) for v in x]
                xt = _newton_centre(prob, xt, newton, real_box)
                F, DF, _, _ = prob.evaluate(xt)
                try:
                    Yf = np.linalg.inv(_mid_complex(DF))
                    step = float(np.abs(Yf @ _mid_complex(F)[:, 0]).max())
                except np.linalg.LinAlgError:
                    continue
                if not np.isfinite(step):
                    continue
                for rel in radii:
                    rho = max(NEWTON_INFLATION * step, rel * scale)
                    if not real_box:
                        # a non-real box must miss the real space in some coordinate
                        imag = max(abs(float(c.imag.mid())) for c in xt)
                        if rho >= 0.5 * imag:
                            break
                    ok, X, DFX, MX, UX = _krawczyk(prob, xt, rho, real_box, (F, DF))
                    if not ok or not nondegenerate(UX):
                        continue
                    if real_box:
                        if not morse:
                            return REAL, -1, rho, _enclosure(MX)
                        # the root is real: its Hessian lies in DF over the real box
                        XR = [acb(c.real, 0) for c in X]
                        _, DFR, _, _ = prob.evaluate(XR)
                        return REAL, _inertia(DFR, prob.N), rho, _enclosure(MX)
                    return NONREAL, -1, rho, _enclosure(MX)
    return None
