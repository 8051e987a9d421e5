"""The #minima × #real table (MATH.md §3): structure, classification cross-checks, random restarts.

Independent checks: the Morse index from the Riemannian Hessian is compared with the inertia of
the Hessian of the parametrised loss (u, v) ↦ ‖A·vec(uvᵀ − Q)‖² (a different parametrisation,
differentiated by finite differences of an analytic gradient), and random-restart descents on that
loss must never end at a local minimum the table did not list.
"""

import numpy as np
import pytest
from scipy import optimize, stats

from geomflow.ed import (
    classify_instance_points,
    critical_point_table,
    sample_instance,
    solve_instances,
)
from geomflow.ed._equations import unvec, vec

# MATH.md §3: the talk's table, 2000 samples, M_1 ⊂ R^{3×3}, generic perturbed distance.
TALK_REAL = {1: 0, 3: 476, 5: 925, 7: 419, 9: 142, 11: 33, 13: 5}
TALK_MIN = {1: 597, 2: 1005, 3: 365, 4: 33}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOMFLOW_CACHE", str(tmp_path))


def structural_checks(tab, *, min_complete=0.995):
    ok = tab.complete
    assert ok.mean() >= min_complete, f"only {ok.mean():.4f} complete"
    assert np.all(tab.n_found[ok] == tab.degree)
    assert np.all(tab.n_found <= tab.degree)
    assert np.all(tab.n_real[ok] % 2 == tab.degree % 2)  # non-real points come in pairs
    assert np.all(tab.n_min[ok] >= 1)  # the loss is coercive (W ≻ 0): a global minimum exists
    assert np.all(tab.n_real[ok] >= 2 * tab.n_min[ok] + 1)
    assert np.all(tab.min_rank_ok[ok])  # every local minimum has rank exactly r
    assert not tab.degenerate[ok].any()


def chi2_marginal(observed, reference):
    """χ² homogeneity test of two count vectors (cells pooled until expected ≥ 5)."""
    keys = sorted(set(observed) | set(reference))
    a = np.array([observed.get(k, 0) for k in keys], float)
    b = np.array([reference.get(k, 0) for k in keys], float)
    rows_a, rows_b, acc_a, acc_b = [], [], 0.0, 0.0
    for x, y in zip(a, b):
        acc_a, acc_b = acc_a + x, acc_b + y
        if min(acc_a + acc_b, acc_a, acc_b) >= 5 or (acc_a + acc_b) >= 20:
            rows_a.append(acc_a)
            rows_b.append(acc_b)
            acc_a = acc_b = 0.0
    if acc_a + acc_b:
        rows_a[-1] += acc_a
        rows_b[-1] += acc_b
    return stats.chi2_contingency(np.array([rows_a, rows_b]))[1]


def marginals(tab):
    ok = tab.complete
    real = {int(k): int(v) for k, v in zip(*np.unique(tab.n_real[ok], return_counts=True))}
    mins = {int(k): int(v) for k, v in zip(*np.unique(tab.n_min[ok], return_counts=True))}
    return real, mins


def test_table_small_structure():
    tab = critical_point_table(3, 3, 1, "generic", samples=120, seed=7, batch=512)
    print(tab.format_text())
    assert tab.degree == 39
    structural_checks(tab, min_complete=0.99)
    real, mins = marginals(tab)
    p_real, p_min = chi2_marginal(real, TALK_REAL), chi2_marginal(mins, TALK_MIN)
    print(f"chi-square p-values vs the talk: #real {p_real:.3g}, #minima {p_min:.3g}")
    assert min(p_real, p_min) > 1e-4  # a gross departure from the talk's table would fail
    total = sum(sum(v.values()) for v in tab.table.values())
    assert total == tab.complete.sum()


def _param_loss_grad(z, W, Q, m, n):
    u, v = z[:m], z[m:]
    d = vec(np.outer(u, v) - Q)
    g = unvec(2 * W @ d, m, n)  # ∂ℓ/∂M
    return d @ W @ d, np.concatenate([g @ v, g.T @ u])


def _param_hessian(z, W, Q, m, n, eps=1e-6):
    H = np.zeros((len(z), len(z)))
    for i in range(len(z)):
        e = np.zeros(len(z))
        e[i] = eps
        H[:, i] = (_param_loss_grad(z + e, W, Q, m, n)[1] - _param_loss_grad(z - e, W, Q, m, n)[1]) / (2 * eps)
    return 0.5 * (H + H.T)


def _instances(seed, k, m=3, n=3):
    WQ = [sample_instance(seed, i, m, n) for i in range(k)]
    return np.array([w for w, _ in WQ]), np.array([q for _, q in WQ])


def test_morse_index_matches_parametrised_hessian():
    m = n = 3
    W, Q = _instances(21, 8)
    res = solve_instances(W, Q, 1, "generic")
    assert res.complete.all()
    checked = 0
    for pts, Wi, Qi in zip(res.points, W, Q):
        c = classify_instance_points(pts, Wi, Qi, 1)
        for M, idx in zip(c["real"], c["index"]):
            U, s, Vt = np.linalg.svd(M)
            z = np.concatenate([U[:, 0] * np.sqrt(s[0]), Vt[0] * np.sqrt(s[0])])
            ev = np.linalg.eigvalsh(_param_hessian(z, Wi, Qi, m, n))
            tol = 1e-5 * np.abs(ev).max()
            # (u, v) ↦ uvᵀ has a one-dimensional fibre: one zero eigenvalue, the rest carry the
            # inertia of the Riemannian Hessian.
            assert (np.abs(ev) < tol).sum() == 1
            assert (ev < -tol).sum() == idx
            checked += 1
    assert checked >= 8


def _restart_check(W, Q, starts, seed):
    """Descents from random starts; returns (#descents ending at a listed minimum, #total)."""
    m, n = Q.shape[1:]
    res = solve_instances(W, Q, 1, "generic")
    assert res.complete.all()
    rng = np.random.default_rng(seed)
    hits = total = 0
    for pts, Wi, Qi in zip(res.points, W, Q):
        minima = classify_instance_points(pts, Wi, Qi, 1)["minima"]
        for _ in range(starts):
            z0 = rng.standard_normal(m + n) * rng.uniform(0.3, 3.0)
            out = optimize.minimize(_param_loss_grad, z0, args=(Wi, Qi, m, n), jac=True,
                                    method="BFGS", options={"gtol": 1e-10, "maxiter": 5000})
            M = np.outer(out.x[:m], out.x[m:])
            g = _param_loss_grad(out.x, Wi, Qi, m, n)[1]
            if np.linalg.norm(g) > 1e-6 * (1 + abs(out.fun)):
                continue  # did not converge: says nothing
            ev = np.linalg.eigvalsh(_param_hessian(out.x, Wi, Qi, m, n))
            if ev.min() < -1e-6 * np.abs(ev).max():
                continue  # a saddle of the parametrised loss, not a local minimum
            total += 1
            dist = np.linalg.norm(minima - M, axis=(1, 2)) / np.linalg.norm(M)
            assert dist.min() < 1e-5, "a descent ended at a local minimum the engine did not list"
            hits += 1
    return hits, total


def test_random_restarts_find_only_listed_minima():
    W, Q = _instances(31, 20)
    hits, total = _restart_check(W, Q, starts=12, seed=0)
    assert total >= 200  # nearly all descents converge to a local minimum


@pytest.mark.slow
def test_random_restarts_find_only_listed_minima_100():
    W, Q = _instances(32, 100)
    hits, total = _restart_check(W, Q, starts=30, seed=1)
    print(f"{total} converged descents on 100 instances, all at listed minima")
    assert total >= 2500


@pytest.mark.slow
def test_talk_table_2000():
    import time

    t0 = time.perf_counter()
    tab = critical_point_table(3, 3, 1, "generic", samples=2000, seed=2020)
    dt = time.perf_counter() - t0
    print()
    print(tab.format_text())
    real, mins = marginals(tab)
    p_real, p_min = chi2_marginal(real, TALK_REAL), chi2_marginal(mins, TALK_MIN)
    print(f"{dt:.1f} s; complete {tab.complete.mean():.4f}; tracker {tab.stats}")
    print(f"chi-square vs the talk: #real marginal p = {p_real:.3g}, #minima marginal p = {p_min:.3g}")
    structural_checks(tab, min_complete=0.995)
    assert min(p_real, p_min) > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("m,n,distance", [(3, 3, "hadamard"), (3, 4, "generic")])
def test_new_tables(m, n, distance):
    tab = critical_point_table(m, n, 1, distance, samples=500, seed=4)
    print()
    print(tab.format_text())
    print(f"{tab.seconds:.1f} s, tracker {tab.stats}")
    structural_checks(tab, min_complete=0.99)
