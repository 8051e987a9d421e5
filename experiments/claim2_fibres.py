"""Claim 2: the fibres `μ^{-1}(M)` have `2^b` path-connected components at rank r, and are connected below.

Claim (MATH.md §1, *[paper]*): for `rank M = r = min d_i` the fibre has `2^b` components,
`b = #{0 < i < h : d_i = r}` (the inner bottleneck layers); for `rank M < r` it is connected.

What is measured, with the fibres module (`geomflow.fibre_monte_carlo`, issue 5): for each
architecture, `N` random points of one random fibre of rank `r`, labelled by the determinant signs
of the `r × r` blocks that must stay invertible on the fibre (`W_{i_1:1}V_r`, `G_1, …, G_{b−1}`;
each label is constant on a component, and the margin check `σ_min ≥` an explicit positive bound
confirms that no sampled point is near a sign change); the number of distinct labels must be
`2^b`. Then `N` points of a fibre of rank `r − 1`: the labels are still computed, and an explicit
path inside the fibre is built between two points with different labels and checked on a grid
(residual `‖μ(w(t)) − M‖/‖M‖`, continuity by bisection): the components merge.

Measured outcome (quick default, 400 points per fibre, seed 0; numbers in `figures/fibres.json`,
about 4 s):

| widths | b | labels at rank r (expected 2^b) | labels at rank r−1 | path between two labels at r−1 |
|---|---|---|---|---|
| (3,2,3) | 1 | 2 (2) | 2 | ok, residual 7.6e-16 |
| (3,2,2,3) | 2 | 4 (4) | 6 | ok, residual 3.3e-15 |
| (3,3,3,3) | 2 | 4 (4) | 6 | ok, residual 3.4e-15 |
| (4,2,3,2,4) | 2 | 4 (4) | 6 | ok, residual 2.1e-15 |
| (3,2,2,2,3) | 3 | 8 (8) | 16 | ok, residual 8.5e-16 |
| (2,3,2) | 0 | 1 (1) | 1 | (one label) |
| (3,2,2,2,2,3) | 4 | 16 (16) | 40 | ok, residual 8.8e-16 |

Every rank-r fibre shows exactly `2^b` labels (with every sampled point's margin certificate
holding), and at rank `r − 1` points with different labels (the sign blocks may now also be
singular, hence more than `2^b` sign patterns, zeros included) are joined by a checked path inside
the fibre: the components merge. `all_checks_pass: true`.

Run: `python experiments/claim2_fibres.py [--full] [--out figures/]`.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _style  # noqa: E402

QUICK_SECONDS = 8  # rough wall time of the quick default on 2 CPU cores (for scheduling)
NAME = "fibres"
ARCHS = ((3, 2, 3), (3, 2, 2, 3), (3, 3, 3, 3), (4, 2, 3, 2, 4), (3, 2, 2, 2, 3), (2, 3, 2),
         (3, 2, 2, 2, 2, 3))
SIZES = {"tiny": {"samples": 40, "archs": ARCHS[:2]},
         "quick": {"samples": 400, "archs": ARCHS},
         "full": {"samples": 10000, "archs": ARCHS}}


def run(args) -> dict:
    try:
        from geomflow import fibre_monte_carlo
    except ImportError as exc:
        raise SystemExit(f"claim 2 needs the fibres module geomflow.fibre_monte_carlo (issue 5): {exc}") from None
    import geomflow as gf

    cfg = SIZES[args.size]
    rows = []
    with _style.Timer() as tm:
        for i, widths in enumerate(cfg["archs"]):
            arch = gf.architecture(widths)
            top = fibre_monte_carlo(widths, samples=cfg["samples"], seed=args.seed + i).to_dict()
            row = {
                "widths": ",".join(map(str, widths)), "r": arch.rank, "b": arch.b,
                "expected_at_rank_r": 2**arch.b, "labels_at_rank_r": top["observed_labels"],
                "label_counts_at_rank_r": top["labels"], "max_residual_rank_r": top["max_residual"],
                "min_margin_ratio": top["min_margin_ratio"], "samples": cfg["samples"],
            }
            if arch.rank >= 1 and arch.depth >= 2:
                low = fibre_monte_carlo(widths, samples=cfg["samples"], rank=arch.rank - 1,
                                        seed=args.seed + 100 + i).to_dict()
                path = low["path"] or {}
                row.update({
                    "labels_at_rank_r_minus_1": low["observed_labels"],
                    "path_ok": path.get("ok"),
                    "path_joins_different_labels": path.get("label_start") != path.get("label_end"),
                    "path_max_residual": path.get("max_residual"),
                    "path_points": path.get("num_points"),
                })
            rows.append(row)
    ok = all(r["labels_at_rank_r"] == r["expected_at_rank_r"] for r in rows) and all(
        r.get("path_ok") in (True, None) for r in rows)
    result = {
        "claim": "fibres of μ: 2^b components at rank r (b = number of inner layers of width r), "
                 "connected at lower rank",
        "all_checks_pass": ok, "rows": rows, "seconds": tm.seconds, "meta": _style.metadata(args),
    }
    _style.write_json(args.out, NAME, result)
    _style.write_csv(args.out, NAME, [{k: v for k, v in r.items() if not isinstance(v, dict)} for r in rows])
    _figure(args.out, rows)
    _style.report(NAME, [
        f"({r['widths']}) b={r['b']}: {r['labels_at_rank_r']} labels at rank r (expected "
        f"{r['expected_at_rank_r']}); rank r−1: {r.get('labels_at_rank_r_minus_1')} labels, path "
        f"between different labels ok={r.get('path_ok')} (residual {r.get('path_max_residual') or 0:.1e})"
        for r in rows
    ] + [f"all checks pass: {ok}; {tm.seconds:.1f} s"])
    return result


def _figure(out, rows):
    pyplot = _style.plt()
    fig, ax = _style.new_figure(1, 1, width=5.6, height=2.9)
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["expected_at_rank_r"] for r in rows], 0.4, color=_style.COLORS["other"],
           label="$2^b$ (theory)")
    ax.bar(x + 0.2, [r["labels_at_rank_r"] for r in rows], 0.4, color=_style.COLORS["primary"],
           label="sign labels observed, rank M = r")
    for xi, r in zip(x, rows):
        if r.get("path_ok") is not None and r["b"] > 0:
            txt = "connected\nat r−1 ✓" if r["path_ok"] and r["path_joins_different_labels"] else "path\nfailed"
            ax.text(xi, r["expected_at_rank_r"] + 0.4, txt, ha="center", fontsize=6)
    ax.set_xticks(x)
    ax.set_xticklabels([f"({r['widths']})\nb = {r['b']}" for r in rows], fontsize=6.5)
    ax.set_ylabel("number of fibre components")
    ax.set_xlabel("widths; b = inner layers of width r")
    ax.set_ylim(0, max(r["expected_at_rank_r"] for r in rows) * 1.35 + 1)
    ax.set_title(f"fibres of μ: $2^b$ components at rank r ({rows[0]['samples']} points per fibre)")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    _style.save_figure(fig, out, NAME)
    pyplot.close("all")


def main(argv=None) -> dict:
    return run(_style.parse_args(__doc__, argv))


if __name__ == "__main__":
    main()
