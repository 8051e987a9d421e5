"""Closed forms for ED degrees: Eckart–Young and the generic ED degree of rank-one matrices."""

from __future__ import annotations

import math

import numpy as np

from .._errors import GeomflowError


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
