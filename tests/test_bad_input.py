"""Must-show 6 (issue 2): every kind of bad input is refused at the boundary with a clear message."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from geomflow._errors import GeomflowError
from geomflow._losses import hadamard_distance, perturbed_distance, quadratic_loss, validate_data
from geomflow._networks import architecture, initialise, validate_weights
from geomflow._oracles import whitening


@pytest.mark.parametrize(
    "widths,match",
    [
        ((3, 0, 2), r"positive integers, got \(3, 0, 2\)"),
        ((3, -1, 2), "positive integers"),
        ((3, 2.5, 2), "not an integer"),
        ((3, "2", 2), "not an integer"),
        ((3,), "at least two widths"),
        ("3,2", "sequence of positive integers"),
        ((3, True, 2), "not an integer"),
    ],
)
def test_bad_widths(widths, match):
    with pytest.raises(GeomflowError, match=match):
        architecture(widths)


def test_weights_shape_mismatch():
    arch = architecture((3, 2, 4))
    with pytest.raises(GeomflowError, match=r"W_2 must have shape \(d_2, d_1\) = \(4, 2\).*got \(2, 4\)"):
        validate_weights(arch, (np.zeros((2, 3)), np.zeros((2, 4))))
    with pytest.raises(GeomflowError, match="h = 2 matrices"):
        validate_weights(arch, (np.zeros((2, 3)),))


def test_weights_nan():
    arch = architecture((2, 2))
    with pytest.raises(GeomflowError, match="W_1 contains NaN or inf"):
        validate_weights(arch, (np.array([[1.0, np.nan], [0.0, 1.0]]),))


def test_data_shapes_and_nan():
    arch = architecture((3, 2, 2))
    with pytest.raises(GeomflowError, match=r"X must have shape \(d_0, s\) = \(3, s\)"):
        validate_data(arch, np.ones((2, 5)), np.ones((2, 5)))
    with pytest.raises(GeomflowError, match=r"Y must have shape \(d_h, s\) = \(2, s\)"):
        validate_data(arch, np.ones((3, 5)), np.ones((3, 5)))
    with pytest.raises(GeomflowError, match="same number of samples"):
        validate_data(arch, np.ones((3, 5)), np.ones((2, 4)))
    X = np.ones((3, 5))
    X[1, 2] = np.inf
    with pytest.raises(GeomflowError, match="X contains 1 NaN/inf"):
        quadratic_loss(arch, X, np.ones((2, 5)))
    Y = np.full((2, 5), np.nan)
    with pytest.raises(GeomflowError, match="Y contains 10 NaN/inf"):
        quadratic_loss(arch, np.ones((3, 5)), Y)


def test_rank_deficient_whitening():
    X = np.ones((3, 10))  # rank 1
    with pytest.raises(GeomflowError, match=r"rank-deficient \(rank 1 < d_0 = 3\)"):
        whitening(X)
    X = np.random.default_rng(0).standard_normal((3, 2))  # fewer samples than d_0
    with pytest.raises(GeomflowError, match="rank-deficient"):
        whitening(X)


def test_other_losses_validate():
    arch = architecture((3, 1, 2))
    with pytest.raises(GeomflowError, match=r"Q must have shape \(d_h, d_0\) = \(2, 3\)"):
        perturbed_distance(arch, np.eye(6), np.zeros((3, 2)))
    with pytest.raises(GeomflowError, match="A must have shape"):
        perturbed_distance(arch, np.eye(5), np.zeros((2, 3)))
    with pytest.raises(GeomflowError, match="non-negative"):
        hadamard_distance(arch, -np.ones((2, 3)), np.zeros((2, 3)))


def test_unknown_init():
    with pytest.raises(GeomflowError, match="unknown initialisation 'xavier'; accepted: balanced, gaussian, orthogonal"):
        initialise("xavier", jax.random.key(0), architecture((2, 2)))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "geomflow", *args], capture_output=True, text=True, timeout=120)


def test_cli_info_json():
    out = _cli("info", "--widths", "3,2,2,3", "--json")
    assert out.returncode == 0, out.stderr
    facts = json.loads(out.stdout)
    assert {k: facts[k] for k in ("r", "filling", "d_w", "neuromanifold_dim", "b", "fibre_components")} == {
        "r": 2, "filling": False, "d_w": 16, "neuromanifold_dim": 8, "b": 2, "fibre_components": 4,
    }


@pytest.mark.parametrize(
    "args,match",
    [
        (("info", "--widths", "3,0,2"), "widths must be positive integers"),
        (("info", "--widths", "3,x"), "comma-separated positive integers"),
        (("info", "--widths", "3,2", "--frobnicate"), "unrecognized arguments: --frobnicate"),
        (("no-such-command",), "invalid choice"),
        (("flow", "--widths", "3,2,3", "--samples", "0"), "samples must be a positive integer, got 0"),
        (("flow", "--widths", "3,2,3", "--samples", "-5"), "samples must be a positive integer, got -5"),
        (("flow", "--model", "mlp:3"), "model must be linear:<d_0>,…,<d_h>"),
    ],
)
def test_cli_errors_are_one_line_nonzero(args, match):
    out = _cli(*args)
    assert out.returncode != 0
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and match in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_python_api_checks_its_boundary_like_the_cli():
    from geomflow._networks import init_gaussian
    from geomflow._sampling import ProblemSpec
    from geomflow._sweep import SweepConfig

    for n in (0, -1):
        with pytest.raises(GeomflowError, match=f"samples must be a positive integer, got {n}"):
            SweepConfig(ProblemSpec((3, 2, 3)), samples=n)
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(GeomflowError, match="scale must be a finite non-negative number"):
            init_gaussian(jax.random.key(0), architecture((3, 2)), scale=bad)
    with pytest.raises(GeomflowError, match="loss_star must be a finite number"):
        SweepConfig(ProblemSpec((3, 2, 3)), samples=4, loss_star=float("nan"))
