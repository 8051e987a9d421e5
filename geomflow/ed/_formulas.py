"""Closed forms for ED degrees: Eckart–Young and the generic ED degree of rank-one matrices, and
their tensor versions for the Segre cone (Friedland–Ottaviani, DHOST Theorem 5.8; MATH.md §6)."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from .._errors import GeomflowError
from ._segre_common import METRICS


def _check_shape(m, n, r=None):
    if not (isinstance(m, (int, np.integer)) and isinstance(n, (int, np.integer)) and m >= 1 and n >= 1):
        raise GeomflowError(f"matrix shape must be two positive integers, got ({m!r}, {n!r})")
    if r is not None:
        if not (isinstance(r, (int, np.integer)) and 1 <= r <= min(m, n)):
            raise GeomflowError(
                f"rank must be an integer with 1 <= r <= min(m, n) = {min(m, n)}, got {r!r}"
            )


def ed_degree_eckart_young(m: int, n: int, r: int) -> int:
    """ED degree of the rank-`r` matrices `M_r ⊂ R^{m×n}` for the Frobenius distance.

    By the Eckart–Young theorem the critical points of `‖M − Q‖_F²` on the rank-`r` matrices are,
    for `Q` with distinct non-zero singular values, the `C(min(m, n), r)` sums of `r` of its singular
    triplets.

    **Arguments:**

    - `m`, `n`: the matrix shape.
    - `r`: the rank, `1 ≤ r ≤ min(m, n)`.

    **Returns:** the binomial coefficient `C(min(m, n), r)`.

    **Raises:** `GeomflowError` for a shape or rank out of range.

    Examples:
        >>> ed_degree_eckart_young(3, 3, 1)
        3
        >>> ed_degree_eckart_young(4, 4, 2)
        6
    """
    _check_shape(m, n, r)
    return math.comb(min(m, n), r)


def generic_ed_degree_rank_one(m: int, n: int) -> int:
    """Generic ED degree of the rank-one matrices `M_1 ⊂ R^{m×n}`.

    The talk's formula is stated for the Segre variety `P^a × P^b`, i.e. for `(a+1)×(b+1)`
    matrices; with `a = m − 1`, `b = n − 1`:

    `δ^gen = Σ_{s=0}^{a+b} (−1)^s (2^{a+b+1−s} − 1)(a+b−s)! Σ_{i+j=s, i≤a, j≤b}
    C(a+1, i) C(b+1, j) / ((a−i)!(b−j)!)`.

    With this indexing `3×3` gives 39 and `2×2` gives 6 (the sum of the polar degrees of a smooth
    quadric surface, `2+2+2`); both are checked against homotopy counts in the tests.

    **Arguments:**

    - `m`, `n`: the matrix shape (positive integers).

    **Returns:** the number of complex critical points of `‖A·vec(M − Q)‖²` on `M_1` for generic
    `A` and `Q`.

    **Raises:** `GeomflowError` for a bad shape.

    Examples:
        >>> generic_ed_degree_rank_one(3, 3)
        39
        >>> generic_ed_degree_rank_one(2, 2)
        6

    ??? cite "References"
        Draisma, Horobeţ, Ottaviani, Sturmfels, Thomas, "The Euclidean distance degree of an
        algebraic variety", Found. Comput. Math. 16 (2016), Theorem 8.? (Segre varieties).
    """
    _check_shape(m, n)
    a, b = m - 1, n - 1
    total = 0
    from fractions import Fraction

    for s in range(a + b + 1):
        inner = Fraction(0)
        for i in range(0, min(a, s) + 1):
            j = s - i
            if j > b:
                continue
            inner += Fraction(
                math.comb(a + 1, i) * math.comb(b + 1, j),
                math.factorial(a - i) * math.factorial(b - j),
            )
        total += (-1) ** s * (2 ** (a + b + 1 - s) - 1) * math.factorial(a + b - s) * inner
    assert total.denominator == 1
    return int(total)


def eckart_young_critical_points(q) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All rank-`r` critical points of `‖M − Q‖_F²` from the SVD, with their Morse indices.

    For `Q = Σ σ_i u_i v_iᵀ` with distinct non-zero singular values, the critical points on the
    rank-`r` matrices are `M_S = Σ_{i∈S} σ_i u_i v_iᵀ`, `|S| = r`. The Riemannian Hessian at `M_S`
    has eigenvalues `2(1 ± σ_j/σ_i)` for `i ∈ S`, `j ∉ S` (and `2` elsewhere), so the Morse index
    is `#{(i, j) : i ∈ S, j ∉ S, σ_j > σ_i}`; the top-`r` truncation is the only local minimum.

    **Arguments:**

    - `q`: a tuple `(Q, r)` with `Q` a real `m×n` array and `r` the rank.

    **Returns:** `(points, index, loss)`: the `C(min(m,n), r)` critical matrices
    (shape `(k, m, n)`), their Morse indices and loss values `‖M_S − Q‖²`, ordered by loss.

    **Raises:** `GeomflowError` if `r` is out of range.

    Examples:
        >>> import numpy as np
        >>> pts, idx, loss = eckart_young_critical_points((np.diag([3.0, 2.0, 1.0]), 1))
        >>> idx.tolist(), loss.tolist()
        ([0, 1, 2], [5.0, 10.0, 13.0])
    """
    Q, r = q
    Q = np.asarray(Q, dtype=float)
    if Q.ndim != 2:
        raise GeomflowError(f"Q must be a matrix, got an array of shape {Q.shape}")
    m, n = Q.shape
    _check_shape(m, n, r)
    U, s, Vt = np.linalg.svd(Q)
    k = min(m, n)
    from itertools import combinations

    pts, idx, loss = [], [], []
    for S in combinations(range(k), r):
        M = sum(s[i] * np.outer(U[:, i], Vt[i]) for i in S)
        pts.append(M)
        idx.append(sum(1 for i in S for j in range(k) if j not in S and s[j] > s[i]))
        loss.append(float(np.sum((M - Q) ** 2)))
    order = np.argsort(loss, kind="stable")
    return np.array(pts)[order], np.array(idx)[order], np.array(loss)[order]


def eckart_young_discriminant(Q, *, rtol: float = 1e-8) -> dict:
    """Is `Q` on (or numerically near) the ED discriminant of the Eckart–Young problem?

    The Frobenius critical points of `M_r` collide exactly when two singular values of `Q`
    coincide (the ED discriminant, of real codimension 2). A zero singular value is reported
    separately: there a critical point reaches the singular locus `rank < r` and drops out of the
    count as well.

    **Arguments:**

    - `Q`: a real matrix.
    - `rtol`: two singular values count as coinciding when their gap is at most
      `rtol · σ_max`.

    **Returns:** a dict with `on_discriminant` (bool), `min_relative_gap` (float),
    `rank_deficient` (bool) and `singular_values`.

    Examples:
        >>> eckart_young_discriminant([[1.0, 0.0], [0.0, 1.0]])["on_discriminant"]
        True
        >>> eckart_young_discriminant([[2.0, 0.0], [0.0, 1.0]])["on_discriminant"]
        False
    """
    Q = np.asarray(Q, dtype=float)
    if Q.ndim != 2:
        raise GeomflowError(f"Q must be a matrix, got an array of shape {Q.shape}")
    s = np.linalg.svd(Q, compute_uv=False)
    smax = float(s[0]) if s.size and s[0] > 0 else 1.0
    gaps = np.abs(np.diff(s)) / smax
    gap = float(gaps.min()) if gaps.size else float("inf")
    return {
        "on_discriminant": bool(gap <= rtol),
        "min_relative_gap": gap,
        "rank_deficient": bool(s[-1] <= rtol * smax),
        "singular_values": s,
    }


# ---------------------------------------------------------------- the Segre cone

def _check_closed_form_format(format) -> tuple[int, ...]:
    try:
        ns = tuple(format)
    except TypeError:
        ns = None
    if not ns or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1
                         for n in ns):
        raise GeomflowError(f"format must be a non-empty tuple of positive integers, got {format!r}")
    return tuple(int(n) for n in ns)


def _poly_mul(a: dict, b: dict, cap: tuple[int, ...]) -> dict:
    """Product of two polynomials `{exponent tuple: coefficient}`, dropping every monomial
    with an exponent above `cap` (a truncation, or the relations `h_i^{cap_i + 1} = 0`)."""
    out: dict = defaultdict(int)
    for ea, ca in a.items():
        for eb, cb in b.items():
            e = tuple(x + y for x, y in zip(ea, eb))
            if all(x <= c for x, c in zip(e, cap)):
                out[e] += ca * cb
    return {e: c for e, c in out.items() if c}


def friedland_ottaviani_count(format) -> int:
    """The number of singular vector tuples of a generic tensor of format `n_1 × ⋯ × n_L`.

    Friedland–Ottaviani: the coefficient of `Π t_i^{n_i−1}` in
    `Π_i (t̂_i^{n_i} − t_i^{n_i}) / (t̂_i − t_i)`, `t̂_i = Σ_{j≠i} t_j`. It is the ED degree of
    the Segre cone for the Euclidean (Frobenius) metric: the number of complex critical points
    of `‖X − T‖²` over the rank-one tensors `X` for generic `T`.

    **Arguments:**

    - `format`: the factor sizes `(n_1, …, n_L)`, positive integers.

    **Returns:** the count (for matrices, `L = 2`, it is `min(m, n)`, Eckart–Young).

    **Raises:** `GeomflowError` for a bad format.

    Examples:
        >>> friedland_ottaviani_count((2, 2, 2)), friedland_ottaviani_count((3, 3, 3))
        (6, 37)
        >>> friedland_ottaviani_count((3, 5))
        3

    ??? cite "References"
        S. Friedland, G. Ottaviani, "The number of singular vector tuples and uniqueness of best
        rank-one approximation of tensors", Found. Comput. Math. 14 (2014), Theorem 1.
    """
    ns = _check_closed_form_format(format)
    L = len(ns)
    if L == 1:
        return 1
    cap = tuple(n - 1 for n in ns)
    prod = {(0,) * L: 1}
    for i, n in enumerate(ns):
        # (t̂^n − t^n)/(t̂ − t) = Σ_{k=0}^{n−1} t̂^k t_i^{n−1−k}
        that = {tuple(int(j == a) for a in range(L)): 1 for j in range(L) if j != i}
        factor: dict = defaultdict(int)
        power = {(0,) * L: 1}
        for k in range(n):
            ti = tuple((n - 1 - k) * int(a == i) for a in range(L))
            for e, c in _poly_mul(power, {ti: 1}, cap).items():
                factor[e] += c
            power = _poly_mul(power, that, cap)
        prod = _poly_mul(prod, dict(factor), cap)
    return int(prod.get(cap, 0))


def generic_ed_degree_segre(format) -> int:
    """The generic ED degree of the Segre variety `P^{n_1−1} × ⋯ × P^{n_L−1}`.

    For a smooth projective variety `X` of dimension `m`,
    `δ^gen(X) = Σ_{i=0}^{m} (−1)^{m−i} (2^{i+1} − 1) deg c_{m−i}(X)` (DHOST, Theorem 5.8). For
    the Segre product the total Chern class is `Π_i (1 + h_i)^{n_i}` in
    `Z[h_1, …, h_L]/(h_i^{n_i})`, the hyperplane class is `H = Σ h_i`, and the degree of a class
    `c` of codimension `j` is the coefficient of `Π h_i^{n_i−1}` in `c·H^{m−j}`
    (`m = Σ(n_i − 1)`). It counts the complex critical points of `vec(X − T)ᵀ W vec(X − T)` on
    the rank-one tensors for generic symmetric `W` and generic `T`.

    **Arguments:**

    - `format`: the factor sizes `(n_1, …, n_L)`, positive integers.

    **Returns:** the generic ED degree (for `L = 2` it equals
    `generic_ed_degree_rank_one(n_1, n_2)`).

    **Raises:** `GeomflowError` for a bad format.

    Examples:
        >>> generic_ed_degree_segre((3, 3)), generic_ed_degree_segre((2, 2, 2))
        (39, 34)

    ??? cite "References"
        J. Draisma, E. Horobeţ, G. Ottaviani, B. Sturmfels, R. R. Thomas, "The Euclidean
        distance degree of an algebraic variety", Found. Comput. Math. 16 (2016), Theorem 5.8.
    """
    ns = _check_closed_form_format(format)
    L = len(ns)
    cap = tuple(n - 1 for n in ns)
    m = sum(cap)
    c = {(0,) * L: 1}
    for i, n in enumerate(ns):
        c = _poly_mul(c, {tuple(k * int(a == i) for a in range(L)): math.comb(n, k)
                          for k in range(n)}, cap)
    H = {tuple(int(a == i) for a in range(L)): 1 for i in range(L)}
    powers = [{(0,) * L: 1}]
    for _ in range(m):
        powers.append(_poly_mul(powers[-1], H, cap))
    deg = []
    for j in range(m + 1):
        cj = {e: v for e, v in c.items() if sum(e) == j}
        deg.append(_poly_mul(cj, powers[m - j], cap).get(cap, 0))
    return int(sum((-1) ** (m - i) * (2 ** (i + 1) - 1) * deg[m - i] for i in range(m + 1)))


def segre_closed_form(format, metric: str = "euclidean") -> int:
    """The closed-form ED degree of the Segre cone: `friedland_ottaviani_count` for the
    Euclidean metric, `generic_ed_degree_segre` for a generic one.

    Examples:
        >>> segre_closed_form((2, 2, 3), "euclidean"), segre_closed_form((2, 2, 3), "generic")
        (8, 100)
    """
    if metric not in METRICS:
        raise GeomflowError(f"metric must be one of {METRICS}, got {metric!r}")
    return friedland_ottaviani_count(format) if metric == "euclidean" else generic_ed_degree_segre(format)
