"""ED degrees of the Segre cone (rank-one tensors): closed forms against the literature, homotopy
counts against the closed forms, the trace test, certification and bad input."""

import json

import numpy as np
import pytest

from geomflow._errors import GeomflowError
from geomflow.cli import main
from geomflow.ed import (
    TRACE_TOL,
    friedland_ottaviani_count,
    generic_ed_degree_rank_one,
    generic_ed_degree_segre,
    segre_ed_degree,
    segre_start_fibre,
    trace_test,
)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOMFLOW_CACHE", str(tmp_path / "cache"))


# ---- closed forms vs literature values (not from the code under test)

@pytest.mark.parametrize("fmt,count", [
    ((2, 2, 2), 6),   # Friedland–Ottaviani 2014, Table 1 / MATH.md §6
    ((3, 3, 3), 37),  # idem
    ((2, 2, 3), 8),   # boundary format: stabilises at 8 for 2×2×n, n ≥ 3 (FO 2014)
    ((2, 2, 4), 8),
    ((2, 2, 2, 2), 24),  # FO 2014, Table 1
])
def test_friedland_ottaviani_literature(fmt, count):
    assert friedland_ottaviani_count(fmt) == count


@pytest.mark.parametrize("m,n", [(2, 2), (2, 3), (3, 3), (3, 5), (4, 2), (5, 5)])
def test_friedland_ottaviani_matrix_case_is_eckart_young(m, n):
    assert friedland_ottaviani_count((m, n)) == min(m, n)


@pytest.mark.parametrize("m,n", [(2, 2), (2, 3), (3, 3), (3, 4), (4, 4), (2, 5)])
def test_generic_segre_matrix_case_equals_rank_one_formula(m, n):
    # Segre P^{m−1} × P^{n−1} = rank-one m×n matrices: two independent closed forms.
    assert generic_ed_degree_segre((m, n)) == generic_ed_degree_rank_one(m, n)


def test_generic_segre_literature():
    assert generic_ed_degree_segre((3, 3)) == 39  # MATH.md §3 / DHOST Example 7.?
    assert generic_ed_degree_segre((2, 2, 2)) == 34  # DHOST: P^1×P^1×P^1


# ---- homotopy counts vs closed forms

@pytest.fixture(scope="module")
def euclid222():
    return segre_ed_degree((2, 2, 2), "euclidean", seed=0)


@pytest.fixture(scope="module")
def generic222():
    return segre_ed_degree((2, 2, 2), "generic", seed=0)


def test_euclidean_222_count(euclid222):
    r = euclid222
    assert r.complex_count == 6 == r.closed_form
    # every point of the real instance found and certified (real or non-real, distinct)
    assert r.real_instance_count == 6 and r.uncertified == 0
    assert r.real_count + r.nonreal_count == r.real_instance_count
    assert 1 <= r.real_count <= r.complex_count  # the best rank-one approximation is real
    assert (r.complex_count - r.real_count) % 2 == 0  # non-real points pair up


def test_generic_222_count_and_trace(generic222):
    r = generic222
    assert r.complex_count == 34 == r.closed_form
    assert r.certified_complete and r.trace_residual <= TRACE_TOL
    assert r.real_instance_count == 34 and r.uncertified == 0
    assert r.real_count <= r.complex_count
    assert (r.complex_count - r.real_count) % 2 == 0


def test_removed_solution_fails_trace_test():
    fib = segre_start_fibre((2, 2, 2), "generic", seed=0)
    assert fib.trace.passed
    # every single-point removal breaks the affine trace by orders of magnitude
    assert np.nanmin(fib.trace.removal_residuals) > 1e3 * TRACE_TOL
    short = trace_test(fib.system, fib.tensors[1:], fib.params, fib.R, seed=3, removals=False)
    assert not short.passed and short.residual > 1e3 * TRACE_TOL


@pytest.mark.slow
@pytest.mark.parametrize("fmt,metric,count", [
    ((2, 2, 3), "euclidean", 8),
    ((2, 2, 3), "generic", 100),
    ((3, 3, 3), "euclidean", 37),
    pytest.param((3, 3, 3), "generic", 2385, marks=pytest.mark.xfail(
        reason="monodromy finds 2384 of 2385 (seed 0, 24 loops, about 20 min); the trace test "
        "correctly reports the fibre incomplete (residual ~1e-5)", strict=False)),
])
def test_larger_formats(fmt, metric, count):
    r = segre_ed_degree(fmt, metric, seed=0, max_loops=24)
    assert r.complex_count == count == r.closed_form
    if metric == "generic":
        assert r.certified_complete
    assert r.real_count <= r.complex_count
    if metric == "euclidean":
        assert r.real_count >= 1


# ---- bad input

@pytest.mark.parametrize("fmt", [(2,), (1, 2), (2, 2, 2, 2, 2, 2), (2, 7), "2x2", (2.0, 2), (4, 4, 5)])
def test_bad_format(fmt):
    with pytest.raises(GeomflowError, match="format must be"):
        segre_ed_degree(fmt)


def test_bad_metric():
    with pytest.raises(GeomflowError, match="metric must be one of"):
        segre_ed_degree((2, 2, 2), "frobenius")


@pytest.mark.parametrize("argv,needle", [
    (["ed", "segre", "--format", "2x"], "--format must be"),
    (["ed", "segre", "--format", "1x2x2"], "--format must be"),
    (["ed", "segre", "--format", "2x2x2x2x2x2"], "--format must be"),
    (["ed", "segre", "--format", "4x4x4x4"], "entries"),
    (["ed", "segre", "--metric", "l1"], "--metric must be one of"),
])
def test_cli_bad_input(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "\n" not in err.strip()
    if "--format" in argv:
        assert "2 to 5 factors" in err  # the message lists what is accepted


def test_cli_json(capsys, euclid222):
    assert main(["ed", "segre", "--format", "2x2x2", "--metric", "euclidean", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["complex_count"] == 6 and out["friedland_ottaviani"] == 6
    assert out["generic_closed_form"] == 34 and out["format"] == [2, 2, 2]


def test_lcn_with_strides_k_is_on_the_segre_cone():
    # Strides s_l = k_l make the end-to-end filter w_1 ⊗ ⋯ ⊗ w_L (MATH.md §6, corrected): with
    # C-order vec it is kron(w_L, …, w_1), a point of the Segre cone of format (k_L, …, k_1).
    from geomflow import lcn_end_to_end_filter
    from geomflow.ed import SegreSystem

    rng = np.random.default_rng(0)
    ks = (2, 3, 2)
    ws = [rng.standard_normal(k) for k in ks]
    f = np.asarray(lcn_end_to_end_filter(ws, ks))
    assert np.allclose(f, np.kron(ws[2], np.kron(ws[1], ws[0])))
    system = SegreSystem(ks[::-1])
    R = np.eye(sum(ks), dtype=complex)[None]
    y, _ = system.coordinates(f[None], R)
    assert np.allclose(system.tensors(y, R)[0], f)  # reconstructed from its factors
