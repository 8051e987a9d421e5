"""Paths inside a fibre `μ^{-1}(M)` and Monte Carlo over its components.

[`sample_fibre_point`][] (in `geomflow._fibres`) draws points of a fibre that realise every
component label; this module joins two of them by an explicit path inside the fibre
([`fibre_path`][]: rank `< r` between any two labels, rank `r` within one label) and samples a
fibre to count the labels it meets ([`fibre_monte_carlo`][]). Together they show that the `2^b`
labels are exactly the path components (MATH.md §1).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from ._errors import GeomflowError
from ._fibres import (
    FibreParams,
    _chain,
    _label_np,
    _sample_params_np,
    _weights_from_params,
    fibre_label,
)
from ._networks import architecture


@dataclasses.dataclass(frozen=True)
class FibrePath:
    """An explicit path `w(t)` inside `μ^{-1}(M)` between two sampled points, checked on a grid.

    - `ok`: the path stays on the fibre (`max_residual ≤ 1e-8`), passes the continuity check
      (after adaptive bisection every grid step is `≤ step_tol = 0.05·max(1, ‖w_a‖, ‖w_b‖)`),
      and the frames stay injective (`min_frame_sv > 0`).
    - `label_start`, `label_end`: the labels at the two ends.
    - `max_residual`: `max_t ‖μ(w(t)) − M‖_F / ‖M‖_F`; `max_step`: the largest distance between
      consecutive grid points, `step_tol` its threshold; `min_frame_sv`: the smallest singular
      value of the through-frames `a_i(t)` met on the grid; `num_points`: grid size.
    """

    ok: bool
    label_start: tuple
    label_end: tuple
    max_residual: float
    max_step: float
    step_tol: float
    min_frame_sv: float
    num_points: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class FibreMonteCarlo:
    """What [`fibre_monte_carlo`][] observed on one fibre.

    - `widths`, `rank` (of `M`), `r`, `b`, `expected_components` (`2^b` at rank `r`, else 1).
    - `labels_seen`: the distinct labels (as tuples) and `counts` of each.
    - `max_residual`: `max ‖μ(w) − M‖_F / ‖M‖_F` over the samples.
    - `min_margin_ratio`: `min σ_min(A_k)/bound_k` over samples and labels (≥ 1 on the fibre;
      rank `r` with `b > 0` only).
    - `path`: the [`FibrePath`][] check: between two points with different labels (rank `< r`),
      or two distinct points with the same label (rank `r`).
    """

    widths: tuple[int, ...]
    rank: int
    r: int
    b: int
    expected_components: int
    labels_seen: tuple
    counts: tuple
    max_residual: float
    min_margin_ratio: float | None
    path: FibrePath | None

    @property
    def observed_labels(self) -> int:
        return len(self.labels_seen)

    def to_dict(self) -> dict:
        def name(lab):
            return "".join("+" if s > 0 else "-" if s < 0 else "0" for s in lab) or "()"

        return {
            "widths": list(self.widths),
            "rank": self.rank,
            "r": self.r,
            "b": self.b,
            "expected_components": self.expected_components,
            "observed_labels": self.observed_labels,
            "labels": {name(lab): c for lab, c in zip(self.labels_seen, self.counts)},
            "max_residual": self.max_residual,
            "min_margin_ratio": self.min_margin_ratio,
            "path": None if self.path is None else self.path.to_dict(),
        }


def fibre_path(pa: FibreParams, pb: FibreParams, M, *, steps: int = 20, V_r=None) -> FibrePath:
    """Connect two points of one fibre by an explicit path inside the fibre.

    Works for `rank M = k < r` between any two points, and for `k = r` between two points with
    the same label (different labels cannot be joined: the label is invariant, see
    [`label_margins`][]). Together with the `2^b` labels seen by sampling this shows that the
    labels are exactly the path components.

    The path, in the coordinates of [`FibreParams`][]: (1) scale the killer block of `a` to
    zero, then the rest of `a`'s remainder (the remainder product stays zero all along); with no
    remainder the weights are `W_1 = a_1V_kᵀ`, `W_i = a_i b_{i−1}`, `W_h = U_kΣ_k b_{h−1}` with
    `b_i a_i = I_k`, `a_i` of size `d_i × k`; (2) move every frame `a_i` from `a`'s to `b`'s: on a
    straight line when `d_i > k` (rank-deficient `d_i × k` matrices have codimension
    `d_i − k + 1 ≥ 2`, so a random line misses them), with `b_i = a_i^+ + Z_i(I − a_ia_i^+)`, `Z_i`
    interpolated; when `d_i = k` (a bottleneck at rank `r`) through `GL^±(k)` by
    `a_i(t) = Q(t)R(t)` (QR with positive diagonal: `R` on a straight line, `Q` by Givens rotations),
    which needs `sgn det` equal at both ends, and `b_i = a_i^{-1}`; (3) rebuild `b`'s remainder
    (stage 1 backwards). Every stage is in the fibre by algebra; the grid check confirms it
    numerically and checks continuity by adaptive bisection.

    **Returns:** a [`FibrePath`][].

    **Raises:** `GeomflowError` for a one-layer network, or for two points at rank `r` whose
    labels differ.
    """
    as_np = lambda p: FibreParams(  # noqa: E731
        tuple(np.asarray(g, float) for g in p.gs), tuple(np.asarray(x, float) for x in p.remainder),
        np.asarray(p.UkSk, float), np.asarray(p.Vk, float), p.killer,
    )
    pa, pb = as_np(pa), as_np(pb)
    k = pa.Vk.shape[1]
    h = len(pa.remainder)
    if h < 2:
        raise GeomflowError("a fibre of a one-layer network is a point; there is no path to build")
    M = np.asarray(M, float)
    for ga, gb in zip(pa.gs, pb.gs):
        if ga.shape[0] == k and np.sign(np.linalg.det(ga)) != np.sign(np.linalg.det(gb)):
            raise GeomflowError(
                "the two points lie in different components of a rank-r fibre (their labels "
                "differ), and no path inside the fibre joins them"
            )

    def strip(p: FibreParams, t):
        """Stage 1 at t ∈ [0, 1]: the killer scaled by (1−2t)₊, then the rest by (2−2t) ∧ 1."""
        f_kill = min(max(1.0 - 2.0 * t, 0.0), 1.0)
        f_rest = min(max(2.0 - 2.0 * t, 0.0), 1.0)
        R = tuple(
            X * (f_kill if (p.killer is not None and i + 1 == p.killer) else f_rest)
            for i, X in enumerate(p.remainder)
        )
        return _weights_from_params(dataclasses.replace(p, remainder=R), k, np)

    def frames(p: FibreParams):
        return [g[:, :k] for g in p.gs], [np.linalg.inv(g)[:k, :] for g in p.gs]

    aa, ba = frames(pa)
    ab, bb = frames(pb)
    min_sv = [float("inf")]
    square = [_gl_path(x, y) if x.shape[0] == k else None for x, y in zip(aa, ab)]

    def middle(t):
        a = [sq(t) if sq is not None else (1 - t) * x + t * y for sq, x, y in zip(square, aa, ab)]
        Z = [(1 - t) * x + t * y for x, y in zip(ba, bb)]
        b = []
        for ai, Zi in zip(a, Z):
            ap = np.linalg.pinv(ai)
            b.append(ap + Zi @ (np.eye(ai.shape[0]) - ai @ ap))
            min_sv[0] = min(min_sv[0], float(np.linalg.svd(ai, compute_uv=False)[-1]))
        return tuple([a[0] @ pa.Vk.T] + [a[i] @ b[i - 1] for i in range(1, h - 1)] + [pa.UkSk @ b[-1]])

    def w_at(s):
        if s <= 1.0:
            return strip(pa, s)
        if s <= 2.0:
            return middle(s - 1.0)
        return strip(pb, 3.0 - s)

    def dist(w0, w1):
        return float(np.sqrt(sum(np.sum((x - y) ** 2) for x, y in zip(w0, w1))))

    grid = [float(s) for s in np.linspace(0.0, 3.0, 3 * steps + 1)]
    pts = {s: w_at(s) for s in grid}
    scale = max(float(np.sqrt(sum(np.sum(x * x) for x in pts[s]))) for s in (0.0, 3.0))
    step_tol = 0.05 * max(scale, 1.0)
    intervals = list(zip(grid[:-1], grid[1:]))
    for _ in range(16):  # bisect every interval whose end points are further apart than step_tol
        bad = [(s0, s1) for s0, s1 in intervals if dist(pts[s0], pts[s1]) > step_tol]
        if not bad:
            break
        bad_set = set(bad)
        for s0, s1 in bad:
            pts[0.5 * (s0 + s1)] = w_at(0.5 * (s0 + s1))
        intervals = [iv for iv in intervals if iv not in bad_set]
        intervals += [iv for s0, s1 in bad for iv in ((s0, 0.5 * (s0 + s1)), (0.5 * (s0 + s1), s1))]
    continuous = all(dist(pts[s0], pts[s1]) <= step_tol for s0, s1 in intervals)
    ordered = [pts[s] for s in sorted(pts)]
    normM = max(float(np.linalg.norm(M)), 1e-300)
    res = max(float(np.linalg.norm(_chain(w) - M)) for w in ordered) / normM
    max_step = max(dist(w0, w1) for w0, w1 in zip(ordered[:-1], ordered[1:]))
    bn = architecture([M.shape[1]] + [g.shape[0] for g in pa.gs] + [M.shape[0]]).bottlenecks
    if V_r is None:
        la = tuple(int(s) for s in fibre_label(tuple(map(jnp.asarray, ordered[0]))))
        lb = tuple(int(s) for s in fibre_label(tuple(map(jnp.asarray, ordered[-1]))))
    else:
        V = np.asarray(V_r, float)
        la = _label_np(ordered[0], V, bn) if bn else ()
        lb = _label_np(ordered[-1], V, bn) if bn else ()
    ok = res <= 1e-8 and continuous and min_sv[0] > 0
    return FibrePath(ok, la, lb, res, max_step, step_tol, min_sv[0], len(ordered))


def _qr_positive(A):
    Qm, R = np.linalg.qr(A)
    s = np.where(np.diagonal(R) < 0, -1.0, 1.0)
    return Qm * s[None, :], s[:, None] * R


def _givens_path(U):
    """A path `t ↦ U(t)` in `SO(n)` from `I` to `U` (`det U = 1`): Givens rotations with their
    angles scaled by `t`, then the leftover `diag(±1)` (an even number of `−1`) by rotations
    through `tπ` in pairs of coordinates."""
    n = U.shape[0]
    M = U.copy()
    rots = []
    for c in range(n):
        for r in range(n - 1, c, -1):
            th = np.arctan2(M[r, c], M[r - 1, c])
            G = np.eye(n)
            G[[r - 1, r - 1, r, r], [r - 1, r, r - 1, r]] = np.cos(th), -np.sin(th), np.sin(th), np.cos(th)
            M = G.T @ M
            rots.append((r - 1, r, th))
    neg = [i for i in range(n) if M[i, i] < 0]

    def rot(i, j, th):
        G = np.eye(n)
        G[[i, i, j, j], [i, j, i, j]] = np.cos(th), -np.sin(th), np.sin(th), np.cos(th)
        return G

    def at(t):
        out = np.eye(n)
        for i, j, th in rots:
            out = out @ rot(i, j, t * th)
        for i, j in zip(neg[0::2], neg[1::2]):
            out = out @ rot(i, j, t * np.pi)
        return out

    return at


def _gl_path(A, B):
    """A path in `GL(n)` from `A` to `B` (same `sgn det`): `Q(t)R(t)` with `A = Q_AR_A`,
    `B = Q_BR_B` (positive diagonals), `R(t)` on a straight line (triangular with positive
    diagonal, so invertible) and `Q(t) = Q_A U(t)`, `U(t)` a path in `SO(n)` to `Q_AᵀQ_B`."""
    Qa, Ra = _qr_positive(A)
    Qb, Rb = _qr_positive(B)
    U = _givens_path(Qa.T @ Qb)
    return lambda t: Qa @ U(t) @ ((1 - t) * Ra + t * Rb)


def fibre_monte_carlo(
    widths, *, samples: int = 200, rank: int | None = None, seed: int = 0, check_path: bool = True
) -> FibreMonteCarlo:
    """Sample `samples` points of one random fibre `μ^{-1}(M)` and tally their labels.

    At `rank M = r` the labels should take exactly `2^b` values, with the margin check of
    [`label_margins`][] at every point (so the labels are invariants: at least `2^b`
    components), and an explicit path ([`fibre_path`][]) joins two distinct points with the same
    label (so at most `2^b`). At `rank M = k < r` (a connected fibre) the labels are still
    computed, with one fixed frame `V_r` (`V_k` completed by a fixed orthonormal part of
    `ker M`; they are not invariants there), and an explicit path joins two points with
    different labels.
    Runs in numpy (no compilation); the sampler is the twin of [`sample_fibre_point`][].

    **Returns:** a [`FibreMonteCarlo`][].

    Examples:
        >>> mc = fibre_monte_carlo((3, 2, 2, 3), samples=40)
        >>> mc.b, mc.expected_components, mc.observed_labels
        (2, 4, 4)
    """
    arch = architecture(widths)
    r, b, h = arch.rank, arch.b, arch.depth
    k = r if rank is None else int(rank)
    if not 0 <= k <= r:
        raise GeomflowError(f"rank must be in 0..r = 0..{r}, got {rank}")
    if isinstance(samples, bool) or not isinstance(samples, int | np.integer) or samples < 1:
        raise GeomflowError(f"samples must be a positive integer, got {samples!r}")
    rng = np.random.default_rng(seed)
    d0, dh = arch.widths[0], arch.widths[-1]
    A = np.linalg.qr(rng.standard_normal((dh, dh)))[0][:, :k]
    B = np.linalg.qr(rng.standard_normal((d0, d0)))[0][:, :k]
    M = (A * (1.0 + rng.random(k))[None, :]) @ B.T  # rank k, singular values in [1, 2]
    U, S, Vt = np.linalg.svd(M, full_matrices=True)
    UkSk, Vk = U[:, :k] * S[None, :k], Vt[:k].T
    if k == r:
        V_r = Vt[:r].T.copy()  # the sign convention of reference_frame, in numpy
        idx = np.argmax(np.abs(V_r), axis=0)
        V_r *= np.where(V_r[idx, np.arange(r)] < 0, -1.0, 1.0)[None, :]
    else:  # V_k completed by a fixed random orthonormal part of ker M
        K = Vt[k:].T
        V_r = np.concatenate([Vk, K @ np.linalg.qr(rng.standard_normal((K.shape[1], r - k)))[0]], axis=1)
    need_killer = h >= 2 and min(arch.widths[1:-1]) > k
    bn = arch.bottlenecks
    sr = S[r - 1] if k == r else 0.0
    labels: dict = {}
    first_of_label: dict = {}
    max_res, min_ratio = 0.0, float("inf")
    normM = float(np.linalg.norm(M)) or 1.0
    for i in range(samples):
        killer = 1 + i % h if need_killer else None
        p = _sample_params_np(rng, arch.widths, UkSk, Vk, killer) if h >= 2 else None
        ws = _weights_from_params(p, k, np) if h >= 2 else (M,)
        lab = _label_np(ws, V_r, bn) if bn else ()
        labels[lab] = labels.get(lab, 0) + 1
        first_of_label.setdefault(lab, []).append(p) if len(first_of_label.get(lab, [])) < 2 else None
        max_res = max(max_res, float(np.linalg.norm(_chain(ws) - M)) / normM)
        if k == r and bn:
            for j in range(len(bn)):
                lo = 0 if j == 0 else bn[j - 1]
                A = _chain(ws[lo : bn[j]]) @ (V_r if j == 0 else np.eye(r))
                left = np.linalg.norm(_chain(ws[bn[j] :]), 2)
                right = np.linalg.norm(_chain(ws[:lo]), 2) if lo > 0 else 1.0
                smin = np.linalg.svd(A, compute_uv=False)[-1]
                min_ratio = min(min_ratio, float(smin * left * right / sr))
    path = None
    if check_path and h >= 2:
        found = [v for lab, v in first_of_label.items() if 0 not in lab]
        found += [v for lab, v in first_of_label.items() if 0 in lab]
        if k < r:  # two points with different labels (if seen)
            pa, pb = found[0][0], (found[1][0] if len(found) > 1 else found[0][-1])
        else:  # two distinct points with the same label (if seen)
            pa, pb = next(((f[0], f[1]) for f in found if len(f) > 1), (found[0][0], found[0][0]))
        path = fibre_path(pa, pb, M, V_r=V_r)
    seen = sorted(labels)
    return FibreMonteCarlo(
        widths=arch.widths,
        rank=k,
        r=r,
        b=b,
        expected_components=2**b if k == r else 1,
        labels_seen=tuple(seen),
        counts=tuple(labels[s] for s in seen),
        max_residual=max_res,
        min_margin_ratio=(min_ratio if k == r and bn else None),
        path=path,
    )


# ---------------------------------------------------------------------------------------------
# What the balance invariants guarantee about signs


