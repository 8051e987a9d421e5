"""ED-based globality of perturbed-distance minima, checked against an independent method:
many random-restart descents on the parametrised loss ‖A·vec(uvᵀ − Q)‖² (rank one)."""

import numpy as np
import pytest
from scipy.optimize import minimize

from geomflow._globality import perturbed_global_minimum, resolve_local_minima
from geomflow._sampling import ProblemSpec
from geomflow._sweep import SweepConfig, run_flow_sweep


def _restart_minimum(A, Q, restarts, rng):
    m, n = Q.shape

    def f(x):
        M = np.outer(x[:m], x[m:])
        v = A @ (M - Q).reshape(-1)
        return float(v @ v)

    best = np.inf
    for _ in range(restarts):
        res = minimize(f, rng.standard_normal(m + n), method="BFGS", options={"gtol": 1e-10})
        best = min(best, res.fun)
    return best


def test_ed_global_minimum_equals_best_of_many_descents():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((5, 9, 9))
    Q = rng.standard_normal((5, 3, 3))
    L_star, complete = perturbed_global_minimum(A, Q, 1)
    assert complete.all()
    for i in range(5):
        best = _restart_minimum(A[i], Q[i], 40, rng)
        assert abs(best - L_star[i]) <= 1e-6 * max(1.0, L_star[i]), (i, best, L_star[i])


@pytest.fixture(scope="module")
def perturbed_sweep():
    return run_flow_sweep(SweepConfig(ProblemSpec((3, 1, 3), loss="perturbed"), samples=12, seed=0))


def test_resolve_local_minima_splits_every_local_min(perturbed_sweep):
    res = perturbed_sweep
    n_local = int(np.sum(res.categories == "local_min"))
    out = resolve_local_minima(res)
    assert out["samples"] == n_local
    assert out["global_min"] + out["non_global_local_min"] + out["unresolved"] == n_local
    assert out["unresolved"] == 0


def test_python_api_and_cli_give_the_same_tally_with_ed_globality(perturbed_sweep, capsys,
                                                                    monkeypatch, tmp_path):
    """Must-show 4: `run_flow_sweep` resolves ED globality itself, so it and
    `geomflow flow --json` agree for `--widths 3,1,3 --loss perturbed`."""
    import json

    from geomflow.cli import main

    monkeypatch.setenv("GEOMFLOW_CACHE", str(tmp_path))
    api = perturbed_sweep.summary()
    assert "ed_globality" in api and api["ed_globality"]["samples"] == api["tally"]["local_min"]
    rc = main(["flow", "--widths", "3,1,3", "--loss", "perturbed", "--samples", "12", "--seed", "0",
               "--json"])
    assert rc == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli["tally"] == api["tally"]
    assert cli["ed_globality"] == api["ed_globality"]
