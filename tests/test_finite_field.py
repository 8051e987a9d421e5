"""Linear algebra over F_p (geomflow._finite_field) against independent computations written here:
exact rational elimination (fractions.Fraction), numpy's float rank on small integer matrices,
brute-force products mod p, and constructed cases whose answer is known."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from geomflow import _finite_field as ff
from geomflow._errors import GeomflowError


def rank_q(A) -> int:
    """Rank over Q by exact elimination with fractions."""
    M = [[Fraction(int(x)) for x in row] for row in np.asarray(A)]
    r = 0
    for c in range(len(M[0]) if M else 0):
        piv = next((i for i in range(r, len(M)) if M[i][c] != 0), None)
        if piv is None:
            continue
        M[r], M[piv] = M[piv], M[r]
        for i in range(len(M)):
            if i != r and M[i][c] != 0:
                f = M[i][c] / M[r][c]
                M[i] = [a - f * b for a, b in zip(M[i], M[r])]
        r += 1
    return r


@pytest.mark.parametrize("p", [ff.PRIME, ff.SECOND_PRIME])
def test_rank_against_rational_and_float_rank(rng, p):
    for k in range(12):
        m, n, r = rng.integers(1, 9), rng.integers(1, 9), rng.integers(0, 6)
        A = rng.integers(-4, 5, size=(m, r)) @ rng.integers(-4, 5, size=(r, n))  # rank ≤ r
        expected = rank_q(A)
        assert ff.rank_mod_p(A, p) == expected
        assert expected == np.linalg.matrix_rank(A.astype(float))


def test_rank_drops_exactly_mod_p():
    """[[1, 1], [1, 1 + p]] has rank 2 over Q and rank 1 over F_p."""
    p = 7
    A = np.array([[1, 1], [1, 1 + p]])
    assert rank_q(A) == 2
    assert ff.rank_mod_p(A, p) == 1


def test_inverse_product_nullspace(rng):
    p = ff.PRIME
    for _ in range(5):
        A = rng.integers(0, p, size=(6, 6))
        Ai = ff.inv_mod_p(A, p)
        assert Ai is not None
        # brute-force product with Python ints (no overflow)
        prod = [[sum(int(A[i, k]) * int(Ai[k, j]) for k in range(6)) % p for j in range(6)] for i in range(6)]
        assert prod == np.eye(6, dtype=int).tolist()
        B = rng.integers(0, p, size=(6, 4))
        C = ff.matmul_mod_p(A, B, p)
        assert C.tolist() == [[sum(int(A[i, k]) * int(B[k, j]) for k in range(6)) % p for j in range(4)]
                              for i in range(6)]
    S = np.array([[1, 2, 3], [2, 4, 6]])
    assert ff.inv_mod_p(S[:, :2], p) is None
    N = ff.nullspace_mod_p(S, p)
    assert N.shape == (3, 2)
    assert not np.any(ff.matmul_mod_p(S, N, p))
    assert ff.rank_mod_p(N, p) == 2


def test_big_entries_and_empty():
    p = ff.SECOND_PRIME
    A = np.array([[p - 1, p - 1], [p - 1, p - 1]], dtype=np.int64)
    assert ff.matmul_mod_p(A, A, p).tolist() == [[2, 2], [2, 2]]  # (−1)(−1)·2
    assert ff.rank_mod_p(np.zeros((0, 3), dtype=int)) == 0


def test_bad_input():
    for p in (2**40, 1, 33554392, 2**64 + 13, "x"):
        with pytest.raises(GeomflowError, match="prime below 2\\^62"):
            ff.rank_mod_p(np.eye(2, dtype=int), p)
    with pytest.raises(GeomflowError, match="integer matrix"):
        ff.rank_mod_p(np.array([[0.5]]))
    with pytest.raises(GeomflowError, match="square"):
        ff.inv_mod_p(np.ones((2, 3), dtype=int))
