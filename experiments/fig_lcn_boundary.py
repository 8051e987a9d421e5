"""Where stride-1 and strided linear convolutional networks differ (issue 14): how often does
gradient flow on the squared error end on the boundary / singular locus of the function space?

Kohn–Montúfar–Shahverdi–Trager (arXiv 2304.05752) prove that for strides > 1 and generic data
the non-zero critical points of the squared error are smooth interior points of the function
space, and that this fails for stride 1. Here: for the same filter sizes with stride 1 and with
strides `(2, …, 2, 1)`, `N` flows each (Gaussian data, Gaussian initialisation), through the
engine (`geomflow.run_batch` + `geomflow.finalise_batch`, model `lcn:…`, quadratic loss
`‖uX − Y‖²` of a one-output network on `s = max(10, 2K)` Gaussian input signals of length `K`,
the end-to-end filter size). At each converged flow end `w` (end-to-end filter `u = μ(w)`):

- **repeated root** (`ROOT_TOL = 1e-6`): two roots of `u(x) = Π_l w_l(x^{s_1⋯s_{l−1}})` closer
  than `ROOT_TOL·max(1, |z_i|, |z_j|)`; the roots are computed from the layer filters (the
  `s_1⋯s_{l−1}`-th roots of each `w_l`'s roots), which is accurate where the roots of `u` itself
  are ill-conditioned. For stride 1 and `k_l = 2` this is the boundary of the function space
  (real-rooted polynomials: two real roots that meet and would leave the real line);
- **zero filter** (`ZERO_TOL = 1e-6`): a layer filter with `‖w_l‖ < ZERO_TOL·max_l ‖w_l‖` (then
  `u = 0`, the singular vertex; KMST's claim is about non-zero critical points);
- **rank drop** (`RANK_TOL = 1e-6`, a cross-check): `σ_{image_dim}(dμ) < RANK_TOL·σ_1(dμ)`: `w`
  is a critical point of the parametrisation (for stride 1, `k = (2, 2)`: exactly `w_1 ∥ w_2`).

"On the boundary / singular locus" = repeated root or zero filter, among converged flows;
non-converged flows are counted separately. Shares carry 95% Wilson intervals. The gap between
the two populations of root separations (flow ends on the boundary sit at ~1e-8, the grad-norm
tolerance; interior ends at ~1e-1) is drawn, so the tolerance is seen to be immaterial. The
unconstrained least-squares filter `u* = YXᵀ(XXᵀ)⁻¹` is recorded too: for stride 1, `k = (2, 2)`
a flow whose `u*` has complex roots (`u*_1² < 4u*_0u*_2`, outside the function space) must end
on the boundary.

Panel 3 draws the `k = (2, 2)` stride-1 function space `{u_1² ≥ 4u_0u_2}` (a cone: the picture is
the plane `u_1 = 1`, where it is `u_0u_2 ≤ 1/4`) with the flow ends and `u*`.

Run: `python experiments/fig_lcn_boundary.py [--tiny|--full] [--out figures/]`; sizes: tiny 16
flows per architecture (k = (2, 2) only), quick (default) 200 per architecture, full 2000.
Quick default, measured on the 2-core development box (shared with other jobs, load 1.3–3):
`python experiments/fig_lcn_boundary.py`: 124.5 s with a cold compile cache, 57.5 s warm
(`seconds` in `figures/lcn_boundary.json`). Result (200 flows each, all converged):
stride 1 k=(2,2) 65/200 = 0.325 [0.264, 0.393] on the boundary (each exactly a flow whose `u*`
has complex roots); k=(2,2) s=(2,1) 0/200 [0, 0.019]; k=(2,2,2) stride 1 141/200 = 0.705
[0.638, 0.764]; k=(2,2,2) s=(2,2,1) 0/200 [0, 0.019]. Root separations: ≤ 1.6e-9 on the
boundary, ≥ 1.4e-3 off it.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _style  # noqa: E402

NAME = "lcn_boundary"
ROOT_TOL = 1e-6
ZERO_TOL = 1e-6
RANK_TOL = 1e-6
SAMPLES = {"tiny": 16, "quick": 200, "full": 2000}
# (filter sizes, strides): each filter-size tuple with stride 1 and with strides (2, …, 2, 1)
ARCHS = {
    "tiny": [((2, 2), (1, 1)), ((2, 2), (2, 1))],
    "quick": [((2, 2), (1, 1)), ((2, 2), (2, 1)), ((2, 2, 2), (1, 1, 1)), ((2, 2, 2), (2, 2, 1))],
}
ARCHS["full"] = ARCHS["quick"] + [((3, 2), (1, 1)), ((3, 2), (2, 1))]


def layer_roots(filters, strides) -> np.ndarray:
    """The roots of `Π_l w_l(x^{S_l})`, `S_l = s_1⋯s_{l−1}`, from the layer filters (1-D)."""
    out, S = [], 1
    for w, s in zip(filters, strides):
        w = np.trim_zeros(np.asarray(w, float), "b")
        if w.size > 1:
            for z in np.roots(w[::-1]):  # np.roots wants the highest degree first
                r = np.abs(z) ** (1.0 / S)
                out += [r * np.exp(1j * (np.angle(z) + 2 * np.pi * k) / S) for k in range(S)]
        S *= s
    return np.asarray(out)


def min_root_separation(roots) -> float:
    """`min_{i≠j} |z_i − z_j| / max(1, |z_i|, |z_j|)` (inf for fewer than two roots)."""
    z = np.asarray(roots)
    if z.size < 2:
        return float("inf")
    d = np.abs(z[:, None] - z[None, :]) / np.maximum(1.0, np.maximum(np.abs(z)[:, None], np.abs(z)[None, :]))
    d[np.diag_indices(z.size)] = np.inf
    return float(d.min())


def _sweep(gf, ks, ss, samples, seed):
    """`samples` flows of `lcn:ks/s=ss`: per-sample records, flow ends and data."""
    import jax
    import jax.numpy as jnp

    model = gf.LinearConvNetwork(ks, strides=ss)
    spec = gf.ProblemSpec((1, 1), model=model, loss="quadratic", data="gaussian")
    config = gf.FlowConfig()
    idx = np.arange(samples)
    with _style.Timer() as t:
        raw, stats = gf.run_batch(spec, config, seed, idx, pool_size=64)
        rec = gf.finalise_batch(spec, config, seed, idx, raw)
    cats = gf.FlowBatch(rec, stats, "quadratic").categories
    loss, _ = jax.vmap(lambda i: gf.sample_problem(spec, seed, i, jnp.float64))(jnp.asarray(idx))
    X, Y = np.asarray(loss.X), np.asarray(loss.Y)
    u_star = np.stack([np.linalg.solve(X[i] @ X[i].T, X[i] @ Y[i, 0]) for i in range(samples)])
    jac = jax.jit(jax.vmap(jax.jacfwd(lambda v: model.end_to_end(model.unflatten(v))[0])))
    J = np.asarray(jac(jnp.asarray(raw["y"])))
    return model, spec, raw, rec, cats, u_star, J, t.seconds


def measure(gf, ks, ss, samples, seed) -> tuple[dict, list[dict]]:
    model, spec, raw, rec, cats, u_star, J, wall = _sweep(gf, ks, ss, samples, seed)
    conv = np.asarray(rec["status"]) == gf.CONVERGED
    rows = []
    for i in range(samples):
        v = raw["y"][i]
        ws = [np.asarray(w) for w in model.unflatten(v)]
        norms = np.array([np.linalg.norm(w) for w in ws])
        zero = bool(norms.min() < ZERO_TOL * norms.max())
        sep = min_root_separation(layer_roots(ws, model.strides))
        s = np.linalg.svd(J[i], compute_uv=False)
        rank_ratio = float(s[model.image_dim - 1] / s[0]) if s[0] > 0 else 0.0
        u = np.asarray(model.end_to_end(tuple(ws)))[0]
        us = u_star[i]
        rows.append({
            "model": model.spec_string(), "index": i, "category": str(cats[i]), "converged": bool(conv[i]),
            "loss": float(rec["loss"][i]), "grad_norm": float(rec["grad_norm"][i]),
            "drift": float(rec["delta_drift"][i]), "min_root_separation": sep, "zero_filter": zero,
            "repeated_root": bool(sep < ROOT_TOL), "rank_ratio": rank_ratio,
            "rank_drop": bool(rank_ratio < RANK_TOL),
            "on_boundary": bool(conv[i] and (sep < ROOT_TOL or zero)),
            "u": [float(x) for x in u], "u_star": [float(x) for x in us],
            # only for stride 1, k = (2, 2), whose function space is {u_1² ≥ 4u_0u_2}
            "u_star_real_rooted": (bool(us[1] ** 2 >= 4 * us[0] * us[2])
                                   if model.spec_string() == "lcn:2,2" else None),
        })
    n_conv = int(conv.sum())
    k_b = sum(r["on_boundary"] for r in rows)
    k_nz = sum(r["on_boundary"] and not r["zero_filter"] for r in rows)
    k_rank = sum(r["converged"] and r["rank_drop"] for r in rows)
    lo, hi = _style.wilson_interval(k_b, n_conv)
    summary = {
        "model": model.spec_string(), "filter_sizes": ",".join(map(str, ks)),
        "strides": ",".join(map(str, ss)), "stride": "1" if all(s == 1 for s in ss) else ">1",
        "samples": samples, "converged": n_conv, "not_converged": samples - n_conv,
        "on_boundary": k_b, "share_on_boundary": k_b / n_conv if n_conv else float("nan"),
        "wilson95_lo": lo, "wilson95_hi": hi,
        "nonzero_on_boundary": k_nz, "zero_filter": sum(r["converged"] and r["zero_filter"] for r in rows),
        "repeated_root": sum(r["converged"] and r["repeated_root"] for r in rows),
        "rank_drop": k_rank, "rank_drop_wilson95_lo": _style.wilson_interval(k_rank, n_conv)[0],
        "rank_drop_wilson95_hi": _style.wilson_interval(k_rank, n_conv)[1],
        "u_star_outside": (sum(r["u_star_real_rooted"] is False for r in rows)
                           if model.spec_string() == "lcn:2,2" else None),
        "u_star_outside_and_boundary": (sum(r["u_star_real_rooted"] is False and r["on_boundary"] for r in rows)
                                        if model.spec_string() == "lcn:2,2" else None),
        # the gap that makes ROOT_TOL immaterial: largest separation on the boundary, smallest off it
        "max_separation_on_boundary": max((r["min_root_separation"] for r in rows
                                           if r["on_boundary"] and not r["zero_filter"]), default=None),
        "min_separation_off_boundary": min((r["min_root_separation"] for r in rows
                                            if r["converged"] and not r["on_boundary"]), default=None),
        "tally": {c: int(np.count_nonzero(cats == c)) for c in sorted(set(cats))},
        "max_drift_converged": float(np.max(np.asarray(rec["delta_drift"])[conv])) if n_conv else None,
        "wall_s": round(wall, 2),
    }
    return summary, rows


def run(args) -> dict:
    _style.setup_jax()
    import geomflow as gf

    n = SAMPLES[args.size]
    summaries, rows = [], []
    with _style.Timer() as tm:
        for ks, ss in ARCHS[args.size]:
            s, r = measure(gf, ks, ss, n, args.seed)
            summaries.append(s)
            rows += r
    result = {
        "claim": "KMST: for strides > 1 and generic data the non-zero critical points of the squared "
                 "error are smooth interior points of the function space; this fails for stride 1",
        "tolerances": {"ROOT_TOL": ROOT_TOL, "ZERO_TOL": ZERO_TOL, "RANK_TOL": RANK_TOL},
        "architectures": summaries,
        "seconds": tm.seconds, "meta": _style.metadata(args, load=os.getloadavg()),
    }
    _style.write_json(args.out, NAME, result)
    _style.write_csv(args.out, NAME, [{k: v for k, v in s.items() if k != "tally"} for s in summaries])
    _style.write_csv(args.out, NAME + "_samples", [{k: (" ".join(f"{x:.6g}" for x in v) if isinstance(v, list) else v)
                                                   for k, v in r.items()} for r in rows])
    _figure(args.out, summaries, rows)
    lines = [f"{s['model']}: {s['on_boundary']}/{s['converged']} converged flows end on the boundary/"
             f"singular locus = {s['share_on_boundary']:.3f} [{s['wilson95_lo']:.3f}, {s['wilson95_hi']:.3f}]"
             f" (non-zero {s['nonzero_on_boundary']}, rank drop {s['rank_drop']}, not converged "
             f"{s['not_converged']}; u* outside {s['u_star_outside']}; root separations on/off "
             f"{s['max_separation_on_boundary']}/{s['min_separation_off_boundary']}), {s['wall_s']} s"
             for s in summaries]
    lines.append(f"total {tm.seconds:.1f} s")
    _style.report(NAME, lines)
    return result


def _figure(out, summaries, rows):
    pyplot = _style.plt()
    fig, (a1, a2, a3) = _style.new_figure(3, 1, width=3.5, height=3.1)
    # 1. shares with Wilson intervals
    x = np.arange(len(summaries))
    share = np.array([s["share_on_boundary"] for s in summaries])
    err = np.array([[s["share_on_boundary"] - s["wilson95_lo"] for s in summaries],
                    [s["wilson95_hi"] - s["share_on_boundary"] for s in summaries]])
    col = [_style.COLORS["bad_min"] if s["stride"] == "1" else _style.COLORS["primary"] for s in summaries]
    a1.bar(x, share, color=col, yerr=err, capsize=3)
    a1.set_xticks(x)
    a1.set_xticklabels([f"k=({s['filter_sizes']})\ns=({s['strides']})" for s in summaries], fontsize=7)
    for xi, s in zip(x, summaries):
        a1.text(xi, s["wilson95_hi"] + 0.01, f"{s['on_boundary']}/{s['converged']}", ha="center", fontsize=7)
    a1.set_ylabel("share of converged flow ends")
    a1.set_title("on the boundary / singular locus", fontsize=9)
    # 2. root separations (k = (2, 2))
    bins = np.linspace(-14, 1, 46)
    for s, c in zip(summaries, col):
        if s["filter_sizes"] != "2,2":
            continue
        seps = [max(r["min_root_separation"], 1e-14) for r in rows if r["model"] == s["model"] and r["converged"]]
        a2.hist(np.log10(seps), bins=bins, color=c, alpha=0.6, label=f"s=({s['strides']})")
    a2.axvline(np.log10(ROOT_TOL), color="k", ls="--", lw=1)
    a2.text(np.log10(ROOT_TOL) + 0.2, a2.get_ylim()[1] * 0.9, "ROOT_TOL", fontsize=7)
    a2.set_xlabel("log10 min relative root separation of u")
    a2.set_ylabel("flows")
    a2.set_title("k=(2,2): repeated roots", fontsize=9)
    a2.legend(fontsize=7)
    # 3. the k = (2, 2) stride-1 function space in the plane u_1 = 1: u_0 u_2 <= 1/4
    g = np.linspace(-3, 3, 301)
    G0, G2 = np.meshgrid(g, g)
    a3.contourf(G0, G2, (G0 * G2 <= 0.25).astype(float), levels=[0.5, 1.5], colors=["#e8f1f8"])
    for sgn in (1, -1):
        t = np.linspace(0.0834, 3, 200) * sgn
        a3.plot(t, 0.25 / t, color="k", lw=1)
    pts = [r for r in rows if r["model"] == "lcn:2,2" and r["converged"]]
    for r in pts:
        u, us = np.array(r["u"]), np.array(r["u_star"])
        if abs(u[1]) > 1e-12:
            p, q = u[[0, 2]] / u[1], us[[0, 2]] / us[1]
            a3.plot([q[0], p[0]], [q[1], p[1]], color="#bbbbbb", lw=0.4, zorder=1)
            a3.scatter(q[0], q[1], s=5, color="#999999", zorder=2)
            a3.scatter(p[0], p[1], s=9, zorder=3,
                       color=_style.COLORS["bad_min"] if r["on_boundary"] else _style.COLORS["global_min"])
    a3.set_xlim(-3, 3)
    a3.set_ylim(-3, 3)
    a3.set_xlabel("u0 / u1")
    a3.set_ylabel("u2 / u1")
    a3.set_title("k=(2,2), s=1: u1² ≥ 4u0u2 (plane u1=1)\nflow ends (red: boundary), u* grey", fontsize=8)
    fig.tight_layout()
    _style.save_figure(fig, out, NAME)
    pyplot.close("all")


def main(argv=None) -> dict:
    return run(_style.parse_args(__doc__, argv))


if __name__ == "__main__":
    main()
