"""Closed forms of geomflow.ed: Segre formula values, Eckart–Young points and Morse indices."""

import math

import numpy as np
import pytest

from geomflow._errors import GeomflowError
from geomflow.ed import (
    eckart_young_critical_points,
    eckart_young_discriminant,
    ed_degree_eckart_young,
    generic_ed_degree_rank_one,
    riemannian_hessian_eigenvalues,
)


@pytest.mark.parametrize(
    "m,n,expected",
    # 3x3 -> 39 and 4x4 -> 284 are stated in the talk / MATH.md; 2x2 -> 6 is the sum of the polar
    # degrees (2, 2, 2) of a smooth quadric surface; 1xn -> 1 (a linear space).
    [(3, 3, 39), (4, 4, 284), (2, 2, 6), (1, 4, 1), (4, 1, 1)],
)
def test_generic_ed_degree_rank_one_known_values(m, n, expected):
    assert generic_ed_degree_rank_one(m, n) == expected


def test_generic_ed_degree_rank_one_symmetric():
    for m in range(1, 6):
        for n in range(1, 6):
            assert generic_ed_degree_rank_one(m, n) == generic_ed_degree_rank_one(n, m)


def test_generic_ed_degree_bad_shape():
    with pytest.raises(GeomflowError, match="positive integers"):
        generic_ed_degree_rank_one(0, 3)


@pytest.mark.parametrize("m,n,r", [(2, 3, 1), (3, 3, 1), (3, 3, 2), (4, 4, 2), (3, 5, 2)])
def test_eckart_young_degree(m, n, r):
    assert ed_degree_eckart_young(m, n, r) == math.comb(min(m, n), r)


def test_eckart_young_bad_rank():
    with pytest.raises(GeomflowError, match="rank"):
        ed_degree_eckart_young(3, 3, 4)


@pytest.mark.parametrize("m,n,r", [(3, 3, 1), (4, 3, 2), (3, 5, 2)])
def test_eckart_young_points_are_critical_and_indexed(m, n, r, rng):
    Q = rng.standard_normal((m, n))
    pts, idx, loss = eckart_young_critical_points((Q, r))
    assert len(pts) == math.comb(min(m, n), r)
    assert np.all(np.diff(loss) >= 0)
    assert idx[0] == 0 and np.all(idx[1:] > 0)  # one local minimum: the top-r truncation
    for M in pts:
        U, s, Vt = np.linalg.svd(M)
        assert s[r - 1] > 1e-8 and (r == min(m, n) or s[r] < 1e-10)
        G = M - Q  # gradient/2 of the Frobenius loss; critical iff G ⊥ tangent space
        assert np.allclose(G.T @ U[:, :r], 0, atol=1e-10)
        assert np.allclose(G @ Vt[:r].T, 0, atol=1e-10)
    # The closed-form Morse index agrees with the autodiff Riemannian Hessian.
    ev, g = riemannian_hessian_eigenvalues(pts, np.eye(m * n), Q, r)
    assert np.all(g < 1e-9)
    assert np.array_equal((ev < 0).sum(axis=1), idx)


def test_eckart_young_discriminant():
    Q = np.diag([3.0, 2.0, 2.0])
    d = eckart_young_discriminant(Q)
    assert d["on_discriminant"] and not d["rank_deficient"]
    assert not eckart_young_discriminant(np.diag([3.0, 2.0, 1.0]))["on_discriminant"]
    assert eckart_young_discriminant(np.diag([3.0, 2.0, 0.0]))["rank_deficient"]
    # Rotations do not change the answer.
    rng = np.random.default_rng(0)
    Uo, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    Vo, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    assert eckart_young_discriminant(Uo @ Q @ Vo.T, rtol=1e-9)["on_discriminant"]
