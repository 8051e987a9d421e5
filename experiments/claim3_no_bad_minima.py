"""Claim 3: no bad minima for the quadratic loss, filling and non-filling (flow Monte Carlo tally).

Claim (MATH.md §2, *[paper]*: Baldi–Hornik, Kawaguchi; Laurent–von Brecht for filling
networks): for the quadratic loss `L(w) = ‖W_h⋯W_1 X − Y‖²` every local minimum is global, for
filling and for non-filling architectures alike. Consequently gradient flow from a random start
should end at a global minimum (saddles have measure-zero basins), and never at a non-global
local minimum.

What is run, with the flow engine (`geomflow.run_flow_sweep`, issue 3): for each
architecture, `N` random instances (Gaussian data `X, Y`, Gaussian initialisation), each
integrated by gradient flow to its limit, polished, and classified against the closed-form global
minimum value `L*`; the tally per outcome with 95% Wilson intervals. The illustration of the same
claim on one instance is `fig_landscape.py`.

Measured outcome (quick default, 64 flows per architecture, seed 0; numbers in
`figures/no_bad_minima.json`; about 30 s cold on 2 cores, compilation dominating):

| widths | filling | global minimum | 95% Wilson CI | non-global minima | other outcomes | median t |
|---|---|---|---|---|---|---|
| (3,2,3) | no | 64/64 | [0.943, 1] | 0 | 0 | 27.1 |
| (3,2,2,3) | no | 64/64 | [0.943, 1] | 0 | 0 | 39.4 |
| (2,3,3,2) | yes | 64/64 | [0.943, 1] | 0 | 0 | 6.0 |

Every flow converged (dwell rule, polish, classifier against the closed-form `L*`) to a global
minimum; no saddle, zero-Hessian point or non-global minimum was reached; the largest δ drift
along any flow was 4.7e-9. (Median t is when the dwell rule fired, so it moves by a few percent
with the solver's step sequence: 25.9/42.2/5.6 with the first session's diffrax engine.)

Run: `python experiments/claim3_no_bad_minima.py [--full] [--out figures/]`.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _flows  # noqa: E402
import _style  # noqa: E402

QUICK_SECONDS = 140  # rough wall time of the quick default on 2 CPU cores (for scheduling)
NAME = "no_bad_minima"
SIZES = {
    "tiny": {"samples": 4, "archs": ((3, 2, 3),)},
    "quick": {"samples": 64, "archs": ((3, 2, 3), (3, 2, 2, 3), (2, 3, 3, 2))},
    "full": {"samples": 2000, "archs": ((3, 2, 3), (3, 2, 2, 3), (4, 2, 3, 4), (3, 1, 2, 3),
                                        (2, 3, 2), (2, 3, 3, 2), (3, 3, 3, 3))},
}
CATS = ("global_min", "non_global_local_min", "strict_saddle", "non_strict_saddle", "zero_hessian",
        "not_converged", "diverged")


def run(args) -> dict:
    _style.setup_jax()
    _flows.engine()
    cfg = SIZES[args.size]
    rows = []
    with _style.Timer() as tm:
        for widths in cfg["archs"]:
            row, _ = _flows.sweep_row(widths, cfg["samples"], args.seed)
            rows.append(row)
    bad = sum(r.get("n_non_global_local_min", 0) for r in rows)
    result = {
        "claim": "quadratic loss: every local minimum is global (filling and non-filling); "
                 "gradient flow ends at a global minimum",
        "non_global_local_minima_found": bad,
        "all_flows_global": all(r["global_min"] == r["samples"] for r in rows),
        "rows": rows, "seconds": tm.seconds, "meta": _style.metadata(args),
    }
    _style.write_json(args.out, NAME, result)
    _style.write_csv(args.out, NAME, rows)
    _figure(args.out, rows)
    _style.report(NAME, [
        f"({r['widths']}) {'filling' if r['filling'] else 'non-filling'}: {r['global_min']}/"
        f"{r['samples']} global min, 95% CI [{r['wilson95_lo']:.3f}, {r['wilson95_hi']:.3f}], "
        f"non-global minima {r.get('n_non_global_local_min', 0)}" for r in rows
    ] + [f"non-global local minima in total: {bad}; {tm.seconds:.0f} s"])
    return result


def _figure(out, rows):
    pyplot = _style.plt()
    fig, ax = _style.new_figure(1, 1, width=5.0, height=0.45 * len(rows) + 1.4)
    colors = {"global_min": _style.COLORS["global_min"], "non_global_local_min": _style.COLORS["bad_min"],
              "strict_saddle": _style.COLORS["saddle"], "non_strict_saddle": _style.COLORS["zero_hessian"],
              "zero_hessian": _style.COLORS["zero_hessian"], "not_converged": _style.COLORS["other"],
              "diverged": _style.COLORS["accent"]}
    y = np.arange(len(rows))
    left = np.zeros(len(rows))
    for c in CATS:
        key = "global_min" if c == "global_min" else f"n_{c}"
        share = np.array([r.get(key, 0) / r["samples"] for r in rows])
        if share.any() or c in ("global_min", "non_global_local_min"):
            ax.barh(y, share, left=left, color=colors[c], label=c.replace("_", " "), height=0.6)
        left += share
    lo = np.array([r["wilson95_lo"] for r in rows])
    ax.errorbar(lo, y, xerr=[np.zeros(len(rows)), [r["share_global_min"] - r["wilson95_lo"] for r in rows]],
                fmt="none", ecolor="black", capsize=3, lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels([f"({r['widths']})\n{'filling' if r['filling'] else 'non-filling'}, n={r['samples']}"
                        for r in rows], fontsize=7)
    ax.set_xlim(0, 1.0)
    ax.set_xlabel("share of gradient flows (error bar: 95% Wilson lower bound, global min)")
    ax.set_title("quadratic loss: where gradient flow ends")
    ax.legend(fontsize=6.5, loc="lower left", ncol=2, framealpha=0.9)
    ax.invert_yaxis()
    fig.tight_layout()
    _style.save_figure(fig, out, NAME)
    pyplot.close("all")


def main(argv=None) -> dict:
    return run(_style.parse_args(__doc__, argv))


if __name__ == "__main__":
    main()
