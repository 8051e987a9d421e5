"""Function-space dimensions (geomflow._function_space) against closed forms: the stride-1 LCN
`Σ k_i − (L − 1)` (KMMT), the determinantal variety `r(d_0 + d_h − r)` of linear networks, the
polynomial-network expected dimension and its Alexander–Hirschowitz defect, and the Segre cone of
the tensor-product strides; exact (F_p, two primes) and numerical ranks must agree."""

from __future__ import annotations

import pytest

from geomflow import _function_space as fs


@pytest.mark.parametrize("ks", [(2, 2), (3, 2), (2, 2, 2), (3, 3, 2)])
def test_stride_one_lcn_is_full_dimensional(ks):
    rep = fs.function_space_dim(fs.lcn_model(ks))
    dim = sum(ks) - (len(ks) - 1)
    assert rep.ambient_dim == dim  # full-dimensional: the ambient space of degree Σk−L polynomials
    assert rep.exact_ranks == (dim, dim) and rep.numerical.rank == dim and rep.defect == 0


def test_segre_strides():
    """Strides s_l = k_l (so that layer l acts on x^{k_1⋯k_{l−1}}): the end-to-end filter is
    w_1 ⊗ w_2 ⊗ w_3, the Segre cone of dimension Σk − (L−1) in R^{Πk}. (With s_l = k_1⋯k_l, as
    MATH.md §6 words it, layer 3 would act on x^{k_1·k_1k_2}: size 18, not 12.)"""
    from geomflow._lcn import lcn_architecture

    assert lcn_architecture((2, 3, 2), (2, 6, 1)).end_to_end_shape == (18,)
    rep = fs.function_space_dim(fs.lcn_model((2, 3, 2), (2, 3, 1)))
    assert rep.ambient_dim == 12 and rep.dim == 2 + 3 + 2 - 2 == rep.numerical.rank


def test_2d_lcn():
    rep = fs.function_space_dim(fs.lcn_model(((2, 2), (2, 2))))  # bivariate, degree (2, 2): 9 coefficients
    assert rep.ambient_dim == 9 and rep.dim == 4 + 4 - 1 == rep.numerical.rank


@pytest.mark.parametrize("widths", [(3, 2, 3), (2, 1, 2), (2, 3, 2, 2)])
def test_linear_network_is_determinantal(widths):
    rep = fs.function_space_dim(fs.linear_network_model(widths))
    r = min(widths)
    assert rep.dim == r * (widths[0] + widths[-1] - r) == rep.numerical.rank


@pytest.mark.parametrize("widths,r,dim", [
    ((3, 5, 1), 4, 14),   # Alexander–Hirschowitz: quartics in 3 variables, 5 powers: 14 not 15
    ((3, 2, 1), 2, 5),    # 2 squares of linear forms in 3 variables: 2·3 − 1 = 5 < 6
    ((2, 2, 1), 3, 4),    # binary cubics: 2 cubes: 4 = ambient
    ((3, 3, 1), 2, 6),    # ternary quadrics (rank ≤ 3 symmetric matrices): 6
])
def test_polynomial_networks(widths, r, dim):
    rep = fs.function_space_dim(fs.polynomial_network_model(widths, r))
    assert rep.dim == dim and rep.exact_ranks == (dim, dim) and rep.numerical.rank == dim
    assert rep.expected_dim == fs.expected_polynomial_network_dim(widths, r)
    assert rep.defect == rep.expected_dim - dim


def test_defect_of_alexander_hirschowitz():
    rep = fs.function_space_dim(fs.polynomial_network_model((3, 5, 1), 4))
    assert (rep.dim, rep.expected_dim, rep.defect) == (14, 15, 1)
    assert rep.numerical.gap > 1e6 and rep.failure_probability_bound < 0.05
