"""The experiments (`experiments/`), the figure helper and `geomflow figures` / `geomflow demo`.

Smoke tests run every experiment at its `--tiny` size and check the files it writes; the math
tests check the geometry behind the figures independently of the plotting (the ellipse has 4 real
ED critical points inside its evolute and 2 outside; the circle has 2 for every q ≠ 0; …).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"


def load(stem: str):
    """Import `experiments/<stem>.py` as a module (the folder is not a package)."""
    path = EXPERIMENTS / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(f"_exp_{stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check_outputs(out: Path, name: str, *, csv: bool = False):
    for ext in ("png", "pdf", "json"):
        f = out / f"{name}.{ext}"
        assert f.exists() and f.stat().st_size > 0, f"{f} missing"
        assert f.stat().st_size < 600_000, f"{f} too large ({f.stat().st_size} bytes)"
    assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    if csv:
        assert (out / f"{name}.csv").exists()
    return json.loads((out / f"{name}.json").read_text())


# ---------------------------------------------------------------------------------------------
# The style helper


def test_style_writes_png_and_pdf(tmp_path):
    style = load("_style")
    fig, ax = style.new_figure()
    ax.plot([0, 1], [0, 1], label="line")
    ax.set_xlabel("x (units)")
    ax.set_ylabel("y (units)")
    paths = style.save_figure(fig, str(tmp_path), "probe")
    assert [Path(p).suffix for p in paths] == [".png", ".pdf"]
    assert all(Path(p).stat().st_size > 0 for p in paths)
    style.write_json(str(tmp_path), "probe", {"a": np.float64(1.5), "b": np.arange(3)})
    assert json.loads((tmp_path / "probe.json").read_text()) == {"a": 1.5, "b": [0, 1, 2]}
    style.write_csv(str(tmp_path), "probe", [{"n": 1, "x": 0.5}, {"n": 2, "x": 0.25}])
    assert (tmp_path / "probe.csv").read_text().splitlines() == ["n,x", "1,0.5", "2,0.25"]


@pytest.mark.parametrize("k,n", [(0, 10), (5, 10), (10, 10), (3, 1000), (999, 1000)])
def test_wilson_interval_contains_share_and_is_in_unit_interval(k, n):
    style = load("_style")
    lo, hi = style.wilson_interval(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    assert hi - lo < 1.0


def test_wilson_interval_known_value():
    style = load("_style")
    lo, hi = style.wilson_interval(50, 100)
    assert abs(lo - 0.4038) < 1e-3 and abs(hi - 0.5962) < 1e-3


# ---------------------------------------------------------------------------------------------
# The math behind the circle/ellipse figure


def test_circle_has_two_real_critical_points_for_every_q_nonzero():
    m = load("fig_ed_ellipse")
    rng = np.random.default_rng(0)
    for q in rng.standard_normal((50, 2)) * 2:
        pts, t, is_min, n_complex = m.critical_points(q, 1.0, 1.0)
        assert n_complex == 2 and len(pts) == 2 and is_min.sum() == 1
        # the nearest point is q/|q|, the farthest −q/|q|
        near = pts[is_min][0]
        np.testing.assert_allclose(near, q / np.linalg.norm(q), atol=1e-9)


def test_ellipse_four_real_inside_evolute_two_outside():
    m = load("fig_ed_ellipse")
    a, b = 2.0, 1.0
    rng = np.random.default_rng(1)
    qs = rng.uniform(-3.5, 3.5, size=(400, 2))
    ev = m.evolute(a, b, 2000)
    counted = 0
    for q in qs:
        d = np.min(np.linalg.norm(ev - q, axis=1))
        if d < 0.02:
            continue  # too close to the discriminant to decide numerically
        pts, t, is_min, n_complex = m.critical_points(q, a, b)
        assert n_complex == 4  # δ(ellipse) = 4 = δ^gen(circle)
        inside = bool(m.inside_evolute(np.array(q[0]), np.array(q[1]), a, b))
        assert len(pts) == (4 if inside else 2), (q, inside, len(pts))
        assert is_min.sum() == len(pts) // 2  # minima and maxima alternate along the curve
        counted += 1
    assert counted > 300


def test_ellipse_critical_points_are_critical_and_on_the_curve():
    m = load("fig_ed_ellipse")
    a, b = 2.0, 1.0
    q = np.array([0.45, 0.35])
    pts, t, is_min, _ = m.critical_points(q, a, b)
    np.testing.assert_allclose((pts[:, 0] / a) ** 2 + (pts[:, 1] / b) ** 2, 1.0, atol=1e-12)
    tangent = np.stack([-a * np.sin(t), b * np.cos(t)], -1)
    np.testing.assert_allclose(np.sum((q - pts) * tangent, axis=1), 0.0, atol=1e-9)
    # the nearest point found by brute force is one of the minima
    tt = np.linspace(0, 2 * np.pi, 200001)
    curve = np.stack([a * np.cos(tt), b * np.sin(tt)], -1)
    nearest = curve[np.argmin(np.linalg.norm(curve - q, axis=1))]
    assert np.min(np.linalg.norm(pts[is_min] - nearest, axis=1)) < 1e-4


def test_grid_counts_agree_with_pointwise_counts():
    m = load("fig_ed_ellipse")
    U, V = np.meshgrid(np.linspace(-3, 3, 12), np.linspace(-3, 3, 12))
    n_real, n_complex, n_min = m.real_counts(U, V, 2.0, 1.0)
    for i in range(12):
        for j in range(12):
            pts, _, is_min, _ = m.critical_points((U[i, j], V[i, j]), 2.0, 1.0)
            assert n_real[i, j] == len(pts) and n_min[i, j] == is_min.sum()
    assert set(np.unique(n_complex)) == {4}


# ---------------------------------------------------------------------------------------------
# Every experiment at its tiny size


def test_fig_ed_ellipse_tiny(tmp_path):
    res = load("fig_ed_ellipse").main(["--tiny", "--out", str(tmp_path)])
    _check_outputs(tmp_path, "ed_ellipse")
    assert res["circle"]["n_complex_values"] == [2]
    assert res["ellipse"]["n_complex_values"] == [4]
    assert res["ellipse"]["n_real_inside"] == [4] and res["ellipse"]["n_real_outside"] == [2]
    assert res["ellipse"]["agreement"] == 1.0


def test_fig_landscape_tiny(tmp_path):
    res = load("fig_landscape").main(["--tiny", "--out", str(tmp_path)])
    _check_outputs(tmp_path, "landscape")
    assert res["points"]["global_min"]["label"] == "global_min"
    assert res["points"]["saddle"]["label"] == "strict_saddle"
    assert res["points"]["saddle"]["n_negative"] == 1
    # no slice goes below the global minimum value
    assert res["min_over_global_min_slice"] >= res["L_star"] - 1e-10
    assert res["min_over_saddle_slice"] >= res["L_star"] - 1e-10
    assert res["saddle_slice_descends"] and res["saddle_slice_ascends"]


def test_claim1_neuromanifold_tiny(tmp_path):
    res = load("claim1_neuromanifold").main(["--tiny", "--out", str(tmp_path)])
    _check_outputs(tmp_path, "neuromanifold", csv=True)
    assert res["all_checks_pass"]
    for row in res["rows"]:
        assert row["rank_dmu_generic_values"] == [row["dim_theory"]]


def test_claim2_fibres_tiny(tmp_path):
    res = load("claim2_fibres").main(["--tiny", "--out", str(tmp_path)])
    _check_outputs(tmp_path, "fibres", csv=True)
    assert res["all_checks_pass"]
    for row in res["rows"]:
        assert row["labels_at_rank_r"] == 2 ** row["b"]


def test_claim8_dimensions_tiny(tmp_path):
    res = load("claim8_dimensions").main(["--tiny", "--out", str(tmp_path)])
    _check_outputs(tmp_path, "dimensions", csv=True)
    assert res["holds_for_all_h_le_5"]
    cell = {(r["n"], r["h"]): r for r in res["table"]}
    assert cell[(1, 3)]["dim_im_delta"] == 2 and cell[(2, 3)]["dim_im_delta"] == 6


def test_claim9_balance_drift_tiny(tmp_path):
    res = load("claim9_balance_drift").main(["--tiny", "--out", str(tmp_path)])
    _check_outputs(tmp_path, "balance_drift")
    flow = res["results"]["flow"]
    assert flow["rtol=1e-10"]["max_rel_drift"] < 1e-8
    for v in res["results"]["gd"].values():
        assert v["max_per_step_identity_error_over_w0_sq"] < 1e-12
        assert v["max_rel_error_of_summed_identity"] < 1e-8
    gd = res["results"]["gd"]
    # smaller step, smaller drift
    assert gd["eta=0.01"]["median_final_rel_drift"] < gd["eta=0.03"]["median_final_rel_drift"]


# The engine-backed experiments compile flow / homotopy kernels (30–90 s each on 2 cores): slow.


@pytest.mark.slow
def test_claim3_no_bad_minima_tiny(tmp_path):
    res = load("claim3_no_bad_minima").main(["--tiny", "--out", str(tmp_path)])
    _check_outputs(tmp_path, "no_bad_minima", csv=True)
    assert res["non_global_local_minima_found"] == 0


@pytest.mark.slow
def test_claim4_bad_minima_tiny(tmp_path):
    res = load("claim4_bad_minima").main(["--tiny", "--out", str(tmp_path)])
    _check_outputs(tmp_path, "bad_minima")
    part = res["parts"][0]
    assert part["ed_complete"] == part["samples"]
    assert part["flow_outcomes"]["unmatched"] == 0


def test_claim4_weight_conversion():
    """claim4 converts geomflow's row-major weighting with the library's `row_to_column_weight`:
    the quadratic form it gives on column-major vec(D) is ‖A·vec_row(D)‖²."""
    import geomflow as gf

    rng = np.random.default_rng(3)
    A = rng.standard_normal((6, 6))
    W = gf.row_to_column_weight(A, 2, 3)
    for _ in range(5):
        D = rng.standard_normal((2, 3))
        v = D.T.reshape(-1)  # column-major vec
        np.testing.assert_allclose(v @ W @ v, np.sum((A @ D.reshape(-1)) ** 2), rtol=1e-12)


@pytest.mark.slow
def test_claim5_eckart_young_tiny(tmp_path):
    res = load("claim5_eckart_young").main(["--tiny", "--out", str(tmp_path)])
    _check_outputs(tmp_path, "eckart_young", csv=True)
    assert res["all_checks_pass"]


@pytest.mark.slow
def test_claim6_ed_table_tiny(tmp_path):
    res = load("claim6_ed_table").main(["--tiny", "--out", str(tmp_path)])
    _check_outputs(tmp_path, "ed_table", csv=True)
    assert res["ed_degree_generic"]["counted"] == 39 and res["ed_degree_frobenius"]["counted"] == 3
    assert res["all_checks_pass"]


def test_claim6_homogeneity_test_detects_difference():
    m6 = load("claim6_ed_table")
    talk = m6._grid(m6.TALK)
    same = m6.homogeneity(talk / 10.0, talk)
    assert same["p_value"] > 0.99
    shifted = np.roll(talk, 1, axis=1) / 10.0
    assert m6.homogeneity(shifted, talk)["p_value"] < 1e-6


@pytest.mark.slow
def test_claim7_conjecture1_tiny(tmp_path):
    res = load("claim7_conjecture1").main(["--tiny", "--out", str(tmp_path)])
    _check_outputs(tmp_path, "conjecture1", csv=True)
    for row in res["depth_sweep"] + res["small_init"]:
        assert row.get("n_non_global_local_min", 0) == 0


# ---------------------------------------------------------------------------------------------
# The CLI


def test_figures_discovery_and_schedule():
    from geomflow.cli import _figures as figs
    files = figs.discover(EXPERIMENTS)
    stems = [f.stem for f in files]
    claims = [s for s in stems if s.startswith("claim")]
    assert claims == sorted(claims, key=lambda s: int("".join(c for c in s[5:] if c.isdigit())))
    assert stems.index(claims[-1]) < stems.index("fig_ed_ellipse")
    assert [f.stem for f in figs.select(files, "claim1,ed_ellipse")] == ["claim1_neuromanifold", "fig_ed_ellipse"]
    assert all(figs.expected_seconds(f) > 0 for f in files)


def _cli(*argv, timeout=120):
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")
    return subprocess.run([sys.executable, "-m", "geomflow", *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def test_figures_list_and_unknown_name():
    p = _cli("figures", "--list")
    assert p.returncode == 0, p.stderr
    assert "claim1_neuromanifold" in p.stdout and "fig_ed_ellipse" in p.stdout
    p = _cli("figures", "--jobs", "0", "--only", "claim1")
    assert p.returncode == 2 and "--jobs" in p.stderr
    p = _cli("figures", "--only", "no_such_claim")
    assert p.returncode == 2
    assert "unknown experiment" in p.stderr and "claim1_neuromanifold" in p.stderr
    assert "Traceback" not in p.stderr


def test_figures_runs_one_experiment(tmp_path):
    p = _cli("figures", "--only", "ed_ellipse", "--tiny", "--out", str(tmp_path), "--json")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["failed"] == [] and summary["experiments"][0]["experiment"] == "fig_ed_ellipse"
    assert (tmp_path / "ed_ellipse.png").exists()


def test_demo_rejects_bad_input():
    p = _cli("demo", "--samples", "0")
    assert p.returncode == 2 and "--samples" in p.stderr and "Traceback" not in p.stderr
    p = _cli("demo", "--widths", "3,x,3")
    assert p.returncode == 2 and "Traceback" not in p.stderr


@pytest.mark.slow
def test_demo_runs(tmp_path):
    p = _cli("demo", "--samples", "16", "--out", str(tmp_path), timeout=600)
    assert p.returncode == 0, p.stderr
    summary = json.loads((tmp_path / "demo_summary.json").read_text())
    assert summary["samples"] == 16
    assert sum(v["count"] for v in summary["tally"].values()) == 16
    assert (tmp_path / "demo.png").exists()


def test_atlas_architectures_cover_what_issue_16_asks():
    """≥ 12 architectures: depths 2–6, filling and non-filling, one and several bottlenecks, a
    bottleneck at the input, in the middle and at the output, widths ≤ 5 (checked from the widths,
    not from the script's descriptions)."""
    import geomflow as gf

    archs = [w for w, _ in load("fig_atlas").ARCHITECTURES]
    assert len(set(archs)) >= 12 and max(max(w) for w in archs) <= 5
    assert {len(w) - 1 for w in archs} == {2, 3, 4, 5, 6}
    filling = {gf.architecture(w).filling for w in archs}
    assert filling == {True, False}

    def bottlenecks(w):  # positions where the width is the rank r
        r = min(w)
        return [i for i, d in enumerate(w) if d == r]

    pos = set()
    for w in archs:
        b = bottlenecks(w)
        pos |= {"input" if i == 0 else "output" if i == len(w) - 1 else "middle" for i in b}
    assert pos == {"input", "middle", "output"}
    assert any(len([i for i in bottlenecks(w) if 0 < i < len(w) - 1]) >= 2 for w in archs)


@pytest.mark.slow
def test_atlas_tiny(tmp_path):
    res = load("fig_atlas").main(["--tiny", "--out", str(tmp_path), "--runs", str(tmp_path / "runs")])
    assert res["total_flows"] == 8
    assert (tmp_path / "atlas_nonglobal.csv").exists() and (tmp_path / "atlas.png").exists()
    again = load("fig_atlas").main(["--tiny", "--out", str(tmp_path), "--runs", str(tmp_path / "runs")])
    assert all(r["chunks_skipped"] >= 1 for r in again["rows"])  # resumed, not recomputed
    assert [r["global_min"] for r in again["rows"]] == [r["global_min"] for r in res["rows"]]
    tables = load("fig_atlas").main(["--tiny", "--from-runs", "--out", str(tmp_path / "t"),
                                     "--runs", str(tmp_path / "runs")])
    assert [(r["samples"], r["global_min"]) for r in tables["rows"]] == \
        [(r["samples"], r["global_min"]) for r in res["rows"]]


@pytest.mark.slow
def test_hard_data_tiny(tmp_path):
    """The hard-data panel end to end: every flow counted once by status/class and once by
    purity, the non-global ones listed with (data, widths, seed, index), and the cells' data
    really are the hard models (σ(Q) checked with numpy, independently of the script)."""
    import csv

    import geomflow as gf

    res = load("fig_hard").main(["--tiny", "--out", str(tmp_path), "--runs", str(tmp_path / "runs")])
    for r in res["rows"]:
        shown = load("fig_hard").SHOWN
        assert sum(r[c] for c in shown) == r["samples"] == 4
        assert r["pure"] + r["spurious"] + r["not_critical_limit"] == 4
        assert r["t_max"] == (1e6 if r["data"] == "close_spectrum" else 1e4)
    with open(tmp_path / "hard_nonglobal.csv") as f:
        listed = [row for row in csv.DictReader(f) if row["index"]]
    assert len(listed) == sum(r["samples"] - r["global_min"] for r in res["rows"])
    loss, _ = gf.sample_problem(gf.ProblemSpec((3, 2, 3), data="close_spectrum", gap=1e-3), 0, 0)
    X, Y = np.asarray(loss.X), np.asarray(loss.Y)
    np.testing.assert_allclose(np.linalg.svd(Y @ X.T, compute_uv=False), [1, 0.999, 0.998], atol=1e-12)


# ---------------------------------------------------------------------------------------------
# The escape-time exponent (experiments/fig_escape.py, issue 16)


@pytest.mark.parametrize("a,b,p", [(15.0, 3.0, 1 / 3), (10.0, 4.0, 0.6), (0.0, 2.0, 0.8)])
def test_escape_fit_recovers_a_known_exponent(a, b, p):
    """Synthetic flows t = a + b·σ^(−p)·e^{0.3 z} (z standard normal, drawn with numpy: the
    population median is exactly a + b·σ^(−p)); the fit finds p and the bootstrap interval
    covers it."""
    esc = load("fig_escape")
    rng = np.random.default_rng(7)
    scales = np.array([1.0, 1e-1, 1e-2, 1e-3, 1e-4])
    groups = [a + b * s ** (-p) * np.exp(0.3 * rng.standard_normal(600)) for s in scales]
    f = esc.bootstrap_fit(scales, groups, n_boot=500, seed=3)
    lo, hi = f["p_ci"]
    assert lo <= p <= hi and hi - lo < 0.05
    assert f["p"] == pytest.approx(p, abs=0.02)
    assert f["a"] >= 0 and f["b"] > 0 and not f["at_grid_edge"] and not f["p_ci_at_grid_edge"]
    assert f["n_boot"] == 500 and f["boot_failed"] == 0
    # the claim-7 two-point slope approximates −p once the excess is escape-dominated
    assert f["excess_slope"] == pytest.approx(-p, abs=0.05)
    # exact medians: the point fit is exact
    g = esc.fit_escape(scales, a + b * scales ** (-p))
    assert g["p"] == pytest.approx(p, abs=1e-5) and g["a"] == pytest.approx(a, abs=1e-3)
    assert g["rel_rms"] < 1e-6


def test_escape_fit_is_reproducible_and_flags_no_sigma_dependence():
    esc = load("fig_escape")
    rng = np.random.default_rng(0)
    scales = [1.0, 1e-2, 1e-4]
    groups = [12 + 2 * s ** -0.5 * np.exp(0.2 * rng.standard_normal(100)) for s in scales]
    assert esc.bootstrap_fit(scales, groups, n_boot=50) == esc.bootstrap_fit(scales, groups, n_boot=50)
    flat = esc.fit_escape(scales, [5.0, 5.0, 5.0])  # no growth at all: b = 0, p meaningless
    assert flat["b_zero"] and flat["a"] == pytest.approx(5.0)


def test_escape_median_of_a_mixture_bends_the_exponent_and_the_paired_mean_does_not():
    """Synthetic flows with their own settling time and escape coefficient, t_i(σ) = A_i +
    B_i·σ^(−p), B_i heavy-tailed (∝ |z|^(−p), as for a random initial overlap z): the mean over
    flows is exactly mean(A) + mean(B)·σ^(−p), so the paired mean fit recovers p; the median is
    not of that form at these scales and its fit comes out low (what fig_escape.py sees at h = 4, 5)."""
    esc = load("fig_escape")
    rng = np.random.default_rng(5)
    scales = np.array([1.0, 1e-1, 1e-2, 1e-3, 1e-4])
    p = 0.5
    A = 10 * np.exp(0.6 * rng.standard_normal(2000))
    B = 0.3 * np.abs(rng.standard_normal(2000)) ** (-p)
    T = A[None, :] + B[None, :] * scales[:, None] ** (-p)
    mean = esc.bootstrap_fit(scales, list(T), n_boot=200, statistic="mean", paired=True)
    assert mean["p"] == pytest.approx(p, abs=1e-4) and mean["p_ci"][0] <= p <= mean["p_ci"][1]
    median = esc.bootstrap_fit(scales, list(T), n_boot=200)
    assert median["p"] < p - 0.02
    with pytest.raises(esc.FitError, match="statistic"):
        esc.bootstrap_fit(scales, list(T), statistic="mode")
    with pytest.raises(esc.FitError, match="paired"):
        esc.bootstrap_fit(scales[:3], [T[0], T[1], T[2][:5]], paired=True)


@pytest.mark.parametrize("scales,medians,match", [
    ([1.0, 1e-2], [10.0, 20.0], "at least 3 scales"),
    ([1.0, 1.0, 1e-2], [10.0, 11.0, 20.0], "distinct"),
    ([1.0, 0.0, 1e-2], [10.0, 11.0, 20.0], "positive"),
    ([1.0, 1e-1, 1e-2], [10.0, -1.0, 20.0], "median times"),
    ([1.0, 1e-1, 1e-2], [10.0, np.nan, 20.0], "median times"),
    ([1.0, 1e-1, 1e-2], [10.0, 20.0], "same length"),
])
def test_escape_fit_rejects_bad_input(scales, medians, match):
    esc = load("fig_escape")
    with pytest.raises(esc.FitError, match=match):
        esc.fit_escape(scales, medians)


def test_escape_bootstrap_and_cli_reject_bad_input():
    esc = load("fig_escape")
    with pytest.raises(esc.FitError, match="at least one converged"):
        esc.bootstrap_fit([1.0, 1e-1, 1e-2], [[1.0], [], [3.0]])
    with pytest.raises(esc.FitError, match="one array of times per scale"):
        esc.bootstrap_fit([1.0, 1e-1, 1e-2], [[1.0], [3.0]])
    with pytest.raises(esc.FitError, match="n_boot"):
        esc.bootstrap_fit([1.0, 1e-1, 1e-2], [[1.0], [2.0], [3.0]], n_boot=0)
    for argv in (["--samples", "0"], ["--depths", "2,3"], ["--scales", "1,-1"], ["--boot", "0"],
                 ["--tiny", "--full"]):
        with pytest.raises(SystemExit) as exc:
            esc.parse_args(argv)
        assert exc.value.code == 2
    args = esc.parse_args(["--depths", "3,5", "--scales", "1,1e-3", "--samples", "7"])
    assert args.depths == (3, 5) and args.scales == (1.0, 1e-3) and args.samples == 7
    assert esc.SIZES["full"]["samples"] >= 2000 and esc.SIZES["full"]["depths"] == (3, 4, 5)
    assert esc.SIZES["full"]["scales"] == (1.0, 1e-1, 1e-2, 1e-3, 1e-4)
    assert [esc.theory_p(h) for h in (3, 4, 5)] == pytest.approx([1 / 3, 1 / 2, 3 / 5])


@pytest.mark.slow
def test_escape_tiny_end_to_end(tmp_path):
    """The `--tiny` run: 4 flows × 2 scales at h = 3 through the engine; every status counted
    (they add up to the samples), the tables and figure written, the too-small fit reported as
    not done, and a second run resumed from the chunks. Slow: 25–60 s on a busy 2-core machine
    with a warm compile cache (two flow kernels), a few minutes cold."""
    esc = load("fig_escape")
    argv = ["--tiny", "--out", str(tmp_path), "--runs", str(tmp_path / "runs")]
    res = esc.main(argv)
    data = _check_outputs(tmp_path, "escape", csv=True)
    assert data["complete"] and data["total_flows"] == 8 and len(data["rows"]) == 2
    assert "fig_escape.py --tiny" in data["meta"]["command"]
    for row in data["rows"]:
        statuses = row["converged"] + row["not_converged"] + row["diverged"] + row["non_finite"]
        assert statuses == row["samples"] == 4
        classes = sum(v for k, v in row.items() if k.startswith("class_") and not k.endswith(("_lo", "_hi")))
        assert classes == row["samples"]
        assert row["excluded_from_fit"] == row["samples"] - row["converged"]
        assert 0 <= row["class_global_min_wilson95_lo"] <= row["class_global_min_wilson95_hi"] <= 1
        if row["converged"]:
            assert row["q10_t"] <= row["median_t"] <= row["q90_t"]
    assert len(data["not_converged_global"]) == sum(r["samples"] - r["class_global_min"] for r in data["rows"])
    (fit,) = data["fits"]
    assert fit["p"] is None and "at least 3 scales" in fit["error"]
    import csv as _csv

    with open(tmp_path / "escape.csv") as fh:
        assert len(list(_csv.DictReader(fh))) == 2
    again = esc.main(argv)
    assert all(r["chunks_skipped"] >= 1 for r in again["rows"])
    assert [r["median_t"] for r in again["rows"]] == [r["median_t"] for r in res["rows"]]
