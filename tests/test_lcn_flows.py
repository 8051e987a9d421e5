"""Linear convolutional networks (any strides, 1-D and 2-D) and polynomial-activation networks
as engine models (issue 14): their end-to-end maps against computations written here, their
conservation laws along flows, the classifier on them, the CLI and its errors."""

from __future__ import annotations

import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import geomflow as gf
from geomflow.models import LinearConvNetwork, PolynomialActivationNetwork, model_from_string


# -- computations independent of the library ------------------------------------------------
def _conv1d(w, x, s):
    """`y_i = Σ_j w_j x_{s·i+j}` (valid positions) by explicit loops."""
    n = (len(x) - len(w)) // s + 1
    return np.array([sum(w[j] * x[s * i + j] for j in range(len(w))) for i in range(n)])


def _conv2d(w, x, s):
    n0, n1 = (x.shape[0] - w.shape[0]) // s[0] + 1, (x.shape[1] - w.shape[1]) // s[1] + 1
    y = np.zeros((n0, n1))
    for i, k in itertools.product(range(n0), range(n1)):
        y[i, k] = sum(w[a, b] * x[s[0] * i + a, s[1] * k + b]
                      for a in range(w.shape[0]) for b in range(w.shape[1]))
    return y


def _poly_forward(ws, x, r):
    """`W_h σ(⋯ σ(W_1 x))`, `σ(t) = t^r`, one input."""
    z = x
    for i, W in enumerate(ws):
        z = W @ z
        if i < len(ws) - 1:
            z = z**r
    return z


# -- end-to-end maps ---------------------------------------------------------------------------
@pytest.mark.parametrize("ks,ss", [((2, 2), (2, 1)), ((3, 2, 2), (2, 3, 1)), ((2, 3), (1, 1)),
                                   ((2, 2, 2), (2, 2, 1))])
def test_strided_end_to_end_filter_is_the_composed_convolution(ks, ss, rng):
    m = LinearConvNetwork(ks, strides=ss)
    ws = [rng.normal(size=k) for k in ks]
    u = np.asarray(m.end_to_end(tuple(jnp.asarray(w) for w in ws)))[0]
    S = int(np.prod(ss))
    x = rng.normal(size=len(u) + 4 * S)
    y = x
    for w, s in zip(ws, ss):
        y = _conv1d(w, y, s)
    y_e2e = _conv1d(u, x, S)
    assert len(y) >= 3
    np.testing.assert_allclose(y, y_e2e[: len(y)], rtol=1e-12, atol=1e-12)


def test_2d_strided_end_to_end_filter_is_the_composed_convolution(rng):
    ks, ss = ((2, 2), (2, 3)), ((2, 1), (1, 2))
    m = LinearConvNetwork(ks, strides=ss)
    assert m.spec_string() == "lcn:2x2,2x3/s=2x1,1x2"
    ws = [rng.normal(size=k) for k in ks]
    K = m.arch.end_to_end_shape
    u = np.asarray(m.end_to_end(tuple(jnp.asarray(w) for w in ws)))[0].reshape(K)
    x = rng.normal(size=(K[0] + 4, K[1] + 4))
    y = _conv2d(ws[1], _conv2d(ws[0], x, ss[0]), ss[1])
    y_e2e = _conv2d(u, x, (2, 2))
    np.testing.assert_allclose(y, y_e2e[: y.shape[0], : y.shape[1]], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("widths,r", [((2, 3, 1), 2), ((3, 2, 2), 3), ((2, 2, 2, 1), 2)])
def test_polynomial_network_output_is_the_forward_pass(widths, r, rng):
    m = PolynomialActivationNetwork(widths, r)
    ws = [rng.normal(size=s) for s in m.param_shapes]
    c = np.asarray(m.end_to_end(tuple(jnp.asarray(w) for w in ws)))
    X = rng.normal(size=(widths[0], 5))
    feats = np.asarray(m.data_features(jnp.asarray(X)))
    for i in range(5):
        np.testing.assert_allclose(c @ feats[:, i], _poly_forward(ws, X[:, i], r), rtol=1e-11, atol=1e-11)


def test_polynomial_network_samples_squared_error_data():
    """The sampled data of a polynomial network are monomials of Gaussian inputs: for
    `(2, 2, 1)`, `r = 2` the rows are `x², xy, y²`, so `(xy)² = x²·y²`."""
    spec = gf.ProblemSpec((1, 1), model=PolynomialActivationNetwork((2, 2, 1), 2))
    loss, _ = gf.sample_problem(spec, 0, 3)
    X = np.asarray(loss.X)
    assert X.shape == (3, 10)
    np.testing.assert_allclose(X[1] ** 2, X[0] * X[2], rtol=1e-12)
    assert (X[0] >= 0).all() and (X[2] >= 0).all()


# -- conservation laws ----------------------------------------------------------------------
def _laws_lcn(ks, v):
    k = 0
    sq = []
    for n in ks:
        sq.append(float(np.sum(v[k:k + n] ** 2)))
        k += n
    return np.array([sq[i + 1] - sq[i] for i in range(len(ks) - 1)])


def _laws_poly(widths, r, v):
    ws, k = [], 0
    for i in range(1, len(widths)):
        n = widths[i] * widths[i - 1]
        ws.append(v[k:k + n].reshape(widths[i], widths[i - 1]))
        k += n
    return np.concatenate([np.sum(ws[i] ** 2, axis=1) - r * np.sum(ws[i + 1] ** 2, axis=0)
                           for i in range(len(ws) - 1)])


@pytest.mark.parametrize("model,laws", [
    (LinearConvNetwork((2, 2, 2), strides=(2, 2, 1)), lambda v: _laws_lcn((2, 2, 2), v)),
    (PolynomialActivationNetwork((2, 3, 1), 2), lambda v: _laws_poly((2, 3, 1), 2, v)),
])
def test_laws_are_orthogonal_to_the_loss_gradient(model, laws, rng):
    """The sign and the factor `r`: `∇h_k ⊥ ∇L` at random points, for a loss written here."""
    A = jnp.asarray(rng.normal(size=(model.out_shape[1], model.out_shape[1])))
    q = jnp.asarray(rng.normal(size=model.out_shape[1]))
    L = lambda v: jnp.sum((A @ (model.end_to_end(model.unflatten(v))[0] - q)) ** 2)  # noqa: E731
    for _ in range(3):
        v = jnp.asarray(rng.normal(size=model.num_params))
        g = np.asarray(jax.grad(L)(v))
        H = np.asarray(jax.jacfwd(lambda z: jnp.stack(model.conserved(z)))(v))
        np.testing.assert_allclose(np.asarray(jnp.stack(model.conserved(v))), laws(np.asarray(v)), rtol=1e-12)
        assert np.max(np.abs(H @ g)) < 1e-10 * np.linalg.norm(g) * np.max(np.linalg.norm(H, axis=1))
    if isinstance(model, PolynomialActivationNetwork):  # the wrong factor (r = 1) is not conserved
        v = jnp.asarray(rng.normal(size=model.num_params))
        wrong = jax.grad(lambda z: jnp.sum(z[:2] ** 2) - jnp.sum(z[6:7] ** 2))(v)
        assert abs(float(wrong @ jax.grad(L)(v))) > 1e-6


@pytest.mark.parametrize("model,laws", [
    (LinearConvNetwork((2, 2, 2), strides=(2, 2, 1)), lambda v: _laws_lcn((2, 2, 2), v)),
    (PolynomialActivationNetwork((2, 2, 1), 2), lambda v: _laws_poly((2, 2, 1), 2, v)),
])
def test_rk4_flow_written_here_conserves_the_laws(model, laws, rng):
    """An independent flow: fixed-step RK4 on `ẇ = −∇L` (written here, 2000 steps to t = 2) of a
    distance to a random target keeps the laws to < 1e-7 (the engine's flows: the slow tests)."""
    K = model.out_shape[0] * model.out_shape[1]
    A = jnp.asarray(rng.normal(size=(K, K))) / np.sqrt(K)
    q = jnp.asarray(rng.normal(size=K))
    L = lambda v: jnp.sum((A @ (jnp.ravel(model.end_to_end(model.unflatten(v))) - q)) ** 2)  # noqa: E731
    f = lambda v: -jax.grad(L)(v)  # noqa: E731
    h = 1e-3

    def step(_, v):
        k1 = f(v)
        k2 = f(v + 0.5 * h * k1)
        k3 = f(v + 0.5 * h * k2)
        k4 = f(v + h * k3)
        return v + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    v0 = jnp.asarray(0.7 * rng.normal(size=model.num_params))
    v1 = np.asarray(jax.jit(lambda v: jax.lax.fori_loop(0, 2000, step, v))(v0))
    assert float(L(jnp.asarray(v1))) < 0.5 * float(L(v0))  # it moved
    v0 = np.asarray(v0)
    scale = max(1.0, float(v0 @ v0), float(v1 @ v1))
    assert np.max(np.abs(laws(v1) - laws(v0))) < 1e-7 * scale


@pytest.fixture(scope="module")
def flows():
    """16 engine flows each of a strided LCN, a polynomial network and the stride-1 LCN (2, 2)
    (Gaussian data, sampled); about 150 s of compilation on two cores, hence the slow mark."""
    out = {}
    for m in (LinearConvNetwork((2, 2), strides=(2, 1)), PolynomialActivationNetwork((2, 2, 1), 2),
              LinearConvNetwork((2, 2))):
        spec = gf.ProblemSpec((1, 1), model=m)
        idx = np.arange(16)
        raw, stats = gf.run_batch(spec, gf.FlowConfig(), 0, idx, pool_size=16)
        rec = gf.finalise_batch(spec, gf.FlowConfig(), 0, idx, raw)
        out[m.spec_string()] = (m, raw, rec, gf.FlowBatch(rec, stats, "quadratic").categories)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name,laws", [("lcn:2,2/s=2,1", lambda v: _laws_lcn((2, 2), v)),
                                       ("poly:2,2,1/r=2", lambda v: _laws_poly((2, 2, 1), 2, v))])
def test_flows_conserve_the_known_laws(flows, name, laws):
    m, raw, rec, cats = flows[name]
    conv = rec["status"] == gf.CONVERGED
    assert conv.sum() >= 12
    for i in np.nonzero(conv)[0]:
        y0, y = raw["y0"][i], raw["y"][i]
        scale = max(1.0, float(y0 @ y0), float(y @ y))
        assert np.max(np.abs(laws(y) - laws(y0))) < 1e-7 * scale
    assert rec["delta_drift"][conv].max() < 1e-7  # what the engine reports per run


@pytest.mark.slow
def test_classifier_on_lcn_boundary_and_strided_ends(flows):
    """Stride 1, k = (2, 2): flow ends where `w_1 ∥ w_2` (a repeated root, `rank dμ = 2 < 3`)
    are certified local minima by the symmetry-orbit Morse–Bott test (one zero eigenvalue, the
    rescaling orbit), never `global_min` without `L*`; strided ends have full rank."""
    m, raw, rec, cats = flows["lcn:2,2"]
    conv = rec["status"] == gf.CONVERGED
    drop = conv & (rec["rank_dmu"] == 2)
    assert drop.any() and (rec["n_zero"][drop] == 1).all()
    assert set(cats[conv]) <= {"local_min", "strict_saddle", "undecided"}
    for i in np.nonzero(drop)[0]:
        a, b = raw["y"][i][:2], raw["y"][i][2:]
        assert abs(a[0] * b[1] - a[1] * b[0]) < 1e-6 * np.linalg.norm(a) * np.linalg.norm(b)
    m2, raw2, rec2, cats2 = flows["lcn:2,2/s=2,1"]
    conv2 = rec2["status"] == gf.CONVERGED
    assert (rec2["rank_dmu"][conv2] == 3).all()
    assert m2.image_dim == 3 and PolynomialActivationNetwork((3, 5, 1), 4).image_dim == 14


# -- model strings, CLI, errors ------------------------------------------------------------------
@pytest.mark.parametrize("text", ["lcn:2,2", "lcn:3,2/s=2,1", "lcn:2x2,2x2/s=2x2,1x1", "poly:3,2,1/r=2",
                                  "linear:3,2,3"])
def test_model_strings_round_trip(text):
    m = model_from_string(text)
    assert model_from_string(m.spec_string()) == m


@pytest.mark.parametrize("text,match", [
    ("lcn:2,0", "filter sizes must be positive integers"),
    ("lcn:2,2/s=2", "strides must give one entry per layer"),
    ("lcn:2,2/t=1", "model must be lcn:<k_1>"),
    ("lcn:2,x", "model must be lcn:<k_1>"),
    ("poly:3,2,1", "model must be poly:<d_0>,…,<d_h>/r=<power>"),
    ("poly:3,2/r=0", "the activation power r must be a positive integer"),
    ("poly:3/r=2", "widths must be at least two positive integers"),
    ("cnn:3", "model must be linear:<d_0>,…,<d_h>"),
])
def test_bad_model_strings_are_one_line_errors(text, match):
    with pytest.raises(gf.GeomflowError, match=match) as e:
        model_from_string(text)
    assert "\n" not in str(e.value)


@pytest.mark.slow
@pytest.mark.parametrize("model,laws", [("lcn:2,2/s=2,1", "‖w_{l+1}‖² − ‖w_l‖²"),
                                        ("poly:2,2,1/r=2", "‖w_in‖² − r·‖w_out‖²")])
def test_cli_flow_runs_each_family(model, laws, capsys):
    from geomflow.cli import main

    assert main(["flow", "--model", model, "--samples", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["samples"] == 4 and sum(out["tally"].values()) == 4
    assert all(len(v["wilson_95"]) == 2 for v in out["fractions"].values())
    assert laws in out["conserved_quantities"] and out["max_delta_drift"] < 1e-7


def test_cli_bad_model_is_one_line(capsys):
    from geomflow.cli import main

    assert main(["flow", "--model", "poly:3,2,1", "--samples", "2"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "poly:<d_0>,…,<d_h>/r=<power>" in err[0]


@pytest.mark.slow
def test_fig_lcn_boundary_tiny(tmp_path):
    """The experiment at its tiny size: outputs exist; stride 1 ends on the boundary, stride 2 never."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "experiments", "fig_lcn_boundary.py")
    spec = importlib.util.spec_from_file_location("fig_lcn_boundary", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(["--tiny", "--out", str(tmp_path)])
    for ext in ("json", "csv", "png", "pdf"):
        assert (tmp_path / f"lcn_boundary.{ext}").exists()
    by = {s["model"]: s for s in res["architectures"]}
    assert by["lcn:2,2"]["on_boundary"] > 0 and by["lcn:2,2/s=2,1"]["on_boundary"] == 0
    # stride 1, k = (2, 2): a flow ends on the boundary iff u* lies outside the function space
    assert by["lcn:2,2"]["u_star_outside_and_boundary"] == by["lcn:2,2"]["u_star_outside"] == by["lcn:2,2"]["on_boundary"]


@pytest.mark.slow
@pytest.mark.parametrize("text", ["lcn:2,2/s=2,1", "poly:2,2,1/r=2"])
def test_flow_ends_do_not_depend_on_the_pool_size(text):
    spec = gf.ProblemSpec((1, 1), model=model_from_string(text))
    idx = np.arange(40)
    a, _ = gf.run_batch(spec, gf.FlowConfig(), 0, idx, pool_size=16)
    b, _ = gf.run_batch(spec, gf.FlowConfig(), 0, idx, pool_size=64)
    assert np.array_equal(a["y"], b["y"]) and np.array_equal(a["steps"], b["steps"])
