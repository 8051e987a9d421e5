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
    segre_total_degree,
    trace_test,
)
from geomflow.ed._segre_total_degree import match_sets


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
    assert generic_ed_degree_segre((3, 3)) == 39  # MATH.md §3: generic ED degree of 3×3 rank one
    # P^1×P^1×P^1 (DHOST); the monodromy + trace-test count below is the second method
    assert generic_ed_degree_segre((2, 2, 2)) == 34


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
    # complete by the total-degree homotopy at the same data (the trace test does not apply)
    assert r.certified_complete
    assert r.completeness.startswith("total-degree homotopy: 64 paths, 0 failed")
    assert r.completeness.endswith("6 ED critical points = the monodromy set")


# ---- the total-degree check (Euclidean metric)

def _rank_one(x, y, z):
    return np.einsum("i,j,k->ijk", x, y, z).reshape(-1)


def test_total_degree_222_is_the_monodromy_set(euclid222):
    fib = segre_start_fibre((2, 2, 2), "euclidean", seed=0)  # cached: the fibre euclid222 used
    T0 = np.asarray(fib.params[1])
    td = segre_total_degree((2, 2, 2), T0, seed=1)  # another chart and γ than segre_ed_degree's
    assert td.paths == 2**6 == 64  # Bézout: six quadrics, three linear charts
    assert td.failed == 0 and td.duplicates == 0 and td.complete
    assert td.paths == td.nonsingular + td.singular + td.at_infinity
    assert td.nonsingular == td.ed_points == 6 == friedland_ottaviani_count((2, 2, 2))
    assert match_sets(fib.tensors, td.tensors, np.linalg.norm(T0))
    assert not match_sets(fib.tensors, td.tensors * (1 + 1e-4), np.linalg.norm(T0))
    assert not match_sets(fib.tensors[:-1], td.tensors, np.linalg.norm(T0))
    # each point is critical for ‖X − T₀‖²: X − T₀ ⊥ the tangent space at X = s·x⊗y⊗z
    for X in td.tensors:
        Xt, G = X.reshape(2, 2, 2), (X - T0).reshape(2, 2, 2)
        x, y, z = (np.linalg.svd(np.moveaxis(Xt, i, 0).reshape(2, -1))[0][:, 0] for i in range(3))
        for tangent in (_rank_one(x, y, z), *(_rank_one(*[e if j == i else v for j, v in
                                                        enumerate((x, y, z))])
                                             for i in range(3) for e in np.eye(2))):
            assert abs(G.reshape(-1) @ tangent) <= 1e-9 * np.linalg.norm(T0)


def test_total_degree_orthogonally_decomposable_222():
    # T = Σ a_i u_i⊗v_i⊗w_i with orthonormal bases: by O(2)³-invariance its singular vector
    # tuples are those of the diagonal tensor a_1 e_1⊗e_1⊗e_1 + a_2 e_2⊗e_2⊗e_2, rotated. Those
    # are (e_1, e_1, e_1), (e_2, e_2, e_2) and, with x_2/x_1 = r, y_2/y_1 = ε_1 r,
    # z_2/z_1 = ε_2 r, the four with r = ε_1ε_2 a_1/a_2 (ε_i = ±1): six, all real.
    rng = np.random.default_rng(1)
    U, V, W = (np.linalg.qr(rng.standard_normal((2, 2)))[0] for _ in range(3))
    a = np.array([3.0, 2.0])
    T = sum(a[i] * _rank_one(U[:, i], V[:, i], W[:, i]) for i in range(2))
    known = [a[i] * _rank_one(U[:, i], V[:, i], W[:, i]) for i in range(2)]
    for e1 in (1, -1):
        for e2 in (1, -1):
            r = e1 * e2 * a[0] / a[1]
            x, y, z = U @ [1, r], V @ [1, e1 * r], W @ [1, e2 * r]
            P = _rank_one(x, y, z)
            known.append((P @ T) / ((x @ x) * (y @ y) * (z @ z)) * P)
    td = segre_total_degree((2, 2, 2), T, seed=0)
    assert td.complete and td.ed_points == 6
    X = td.tensors
    assert np.abs(X.imag).max() <= 1e-10 * np.abs(X).max()  # all real
    assert match_sets(np.array(known), X, np.linalg.norm(T))


@pytest.mark.parametrize("fmt,T,needle", [
    ((2, 2, 1), None, "format must be"),
    ("2x2x2", None, "format must be"),
    ((2, 2, 2), np.ones(7), "T must have 8 entries"),
    ((2, 2, 2), np.full(8, np.nan), "T must have finite entries"),
    ((2, 2, 2, 2, 2), None, "more than MAX_TOTAL_DEGREE_PATHS"),  # 4^10 paths
])
def test_total_degree_bad_input(fmt, T, needle):
    with pytest.raises(GeomflowError, match=needle) as e:
        segre_total_degree(fmt, T)
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_total_degree_orthogonally_decomposable_333():
    # T = Σ a_i u_i⊗v_i⊗w_i, 3×3×3: the rank-one terms a_i u_i⊗v_i⊗w_i are critical; the six
    # tuples (u_{π1}, v_{π2}, w_{π3}), π a permutation of (1, 2, 3), are nonsingular singular
    # vector tuples with T(x, y, z) = 0 (the zero tensor), not ED critical points.
    rng = np.random.default_rng(1)
    U, V, W = (np.linalg.qr(rng.standard_normal((3, 3)))[0] for _ in range(3))
    a = np.array([3.0, 2.0, 1.0])
    T = sum(a[i] * _rank_one(U[:, i], V[:, i], W[:, i]) for i in range(3))
    td = segre_total_degree((3, 3, 3), T, seed=0)
    assert td.paths == 512 and td.complete
    assert td.ed_points == td.nonsingular - 6
    X = td.tensors
    for i in range(3):
        k = a[i] * _rank_one(U[:, i], V[:, i], W[:, i])
        assert np.linalg.norm(X - k, axis=1).min() <= 1e-9 * np.linalg.norm(k)
    real = np.abs(X.imag).max(axis=1) <= 1e-8 * np.linalg.norm(X, axis=1)
    assert real.sum() >= 3


def test_generic_222_count_and_trace(generic222):
    r = generic222
    assert r.complex_count == 34 == r.closed_form
    assert r.certified_complete and r.trace_residual <= TRACE_TOL
    assert r.completeness.startswith("trace test: residual") and r.completeness.endswith("pass")
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
    ((3, 3, 3), "generic", 2385),  # 3 (W, T)-loops at seed 0; about 10 min with certification
])
def test_larger_formats(fmt, metric, count):
    r = segre_ed_degree(fmt, metric, seed=0, max_loops=24)
    assert r.complex_count == count == r.closed_form
    if metric == "generic":
        assert r.certified_complete
    assert r.real_count <= r.complex_count
    if metric == "euclidean":
        assert r.real_count >= 1
        # the total-degree homotopy (128 / 512 paths) found the same set, no path failed
        assert r.certified_complete and r.completeness.endswith("= the monodromy set")


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
    assert out["certified_complete"] is True
    assert out["completeness"].startswith("total-degree homotopy: 64 paths, 0 failed")
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
