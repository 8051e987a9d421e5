"""Issue 16: an atlas of where gradient flow ends (Conjecture 1 at paper size).

Claim (MATH.md §4, Conjecture 1): for almost all data and initialisations, gradient flow on the
quadratic loss `L(w) = ‖W_h⋯W_1 X − Y‖²` of a linear network converges to a global minimum.
Bah–Rauhut–Terstiege–Westdickenberg prove that it converges to a global minimum *or* to a critical
point with no negative Hessian eigenvalue; a flow ending at a `non_strict_saddle` would be a
counterexample to the conjecture.

What is run: twelve architectures (depths 2–6; filling and non-filling; one and several
bottlenecks; a bottleneck at the input, in the middle and at the output; widths up to 5), Gaussian
data (`s = max(10, 2·d_0)` points) and Gaussian initialisation of scale 1, `N` flows each through
`geomflow.run_flow_sweep` (the default engine; classification at the balanced representative,
issue 15). Every status and class is counted with a 95% Wilson interval; a run that did not
converge is counted as such, never in a critical set. Every flow that did not end at a global
minimum is written to `atlas_nonglobal.csv` with its `(seed, index)`, so it can be rerun alone,
bit for bit: `geomflow.rerun_samples(SweepConfig(ProblemSpec(widths), samples=N, seed=seed),
[index])`. On the non-filling rows the share of **pure** limits (`gf.purity`: `μ(w)` is an
Eckart–Young critical point `P_S` of `ℓ` on `M_r`) is counted beside the classes (columns `pure`,
`spurious`, `not_critical_limit`).

Sizes: `--tiny` 4 flows × 2 architectures (tests), quick default 128 flows per architecture,
`--from-runs` writes the tables and figure from whatever chunks are finished (no flow is run),
`--full` (also `geomflow figures --full --only atlas`) 10⁵ per architecture (1.2·10⁶ in all;
resumable: each architecture's sweep writes its chunks under `--runs` (default `runs/atlas`) and a
restarted run skips the finished ones). On a 2-core box the rows run at about 700 (h = 2) down to
about 30 (the widest h = 4 rows) classified flows/s: about 6–7 hours in all, which is why the
committed run was spread over three sessions. `--samples N` sets any other size.

Measured outcome (`--full`, seed 0, committed as `figures/atlas.*`; command, machine and per-row
wall times in BENCHMARKS.md): 1,200,000 flows, 1,199,948 at a global minimum; the other 52 ran
out of `t_max = 1e4` (`|gap| ≤ 7.9e-5`) and are counted as not converged; none ended at a saddle,
a zero-Hessian point or a non-global minimum, and every non-filling limit is pure. The 95% Wilson
lower bound of the share at a global minimum is ≥ 0.99975 on every row.

Run: `python experiments/fig_atlas.py [--full | --samples N] [--out figures/] [--runs runs/atlas]`.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _style  # noqa: E402

NAME = "atlas"
# (widths, what it exercises)
ARCHITECTURES = (
    ((3, 2, 3), "h=2, non-filling, bottleneck in the middle"),
    ((2, 3, 3), "h=2, filling, bottleneck at the input"),
    ((3, 3, 2), "h=2, filling, bottleneck at the output"),
    ((3, 2, 2, 3), "h=3, non-filling"),
    ((2, 4, 4, 3), "h=3, filling, bottleneck at the input"),
    ((4, 4, 4, 2), "h=3, filling, bottleneck at the output"),
    ((4, 3, 2, 3, 4), "h=4, non-filling, bottleneck in the middle"),
    ((3, 2, 4, 2, 3), "h=4, non-filling, two bottlenecks"),
    ((5, 3, 4, 2, 5), "h=4, non-filling, two bottlenecks, width 5"),
    ((3, 3, 3, 3, 3, 3), "h=5, filling, constant width"),
    ((4, 2, 3, 3, 2, 4), "h=5, non-filling, two bottlenecks"),
    ((3, 2, 2, 2, 2, 2, 3), "h=6, non-filling"),
)
SAMPLES = {"tiny": 4, "quick": 128, "full": 100_000}
QUICK_SECONDS = 600  # 12 architectures × 128 flows, mostly compiling (2 cores, cold cache)
CHUNK = 5000


def parse_args(argv=None) -> argparse.Namespace:
    p = _style.sweep_parser(__doc__, NAME, full_help="10^5 flows per architecture (resumable)",
                            tiny_help="4 flows × 2 architectures (tests)", per="architecture")
    p.add_argument("--replot", action="store_true",
                   help="only redraw the figure from OUT/atlas.json (e.g. of a stopped run)")
    p.add_argument("--from-runs", action="store_true", dest="from_runs",
                   help="write the tables and figure from the chunks finished under --runs, "
                   "without running a flow (e.g. while or after a long run)")
    return _style.parse_sweep(p, argv)


def run(args) -> dict:
    _style.setup_jax()
    import geomflow as gf

    n = args.samples if args.samples is not None else SAMPLES[args.size]
    archs = ARCHITECTURES[:2] if args.size == "tiny" else ARCHITECTURES
    rows, nonglobal = [], []
    walls = _style.previous_walls(args.out, NAME, ("widths",)) if args.from_runs else {}
    with _style.Timer() as tm:
        for widths, what in archs:
            spec = gf.ProblemSpec(widths)
            # One directory per (seed, architecture), whatever the size: a larger run keeps the
            # chunks of a smaller one (sample i depends only on the seed and i).
            out = os.path.join(args.runs, f"seed{args.seed}_" + "-".join(map(str, widths)))
            if args.from_runs:
                res = _style.finished_sweep(out, n)
                if res is None:
                    print(f"  {widths}: no finished chunks in {out}", flush=True)
                    continue
            else:
                cfg = gf.SweepConfig(spec, samples=n, seed=args.seed, chunk_size=min(CHUNK, n), out=out)
                res = gf.run_flow_sweep(cfg)
            cats = res.categories
            row_key = ",".join(map(str, widths))
            row = {"widths": row_key, "what": what, "h": len(widths) - 1,
                   "filling": spec.arch.filling, "rank": spec.arch.rank, "samples": res.samples,
                   "wall_s": walls.get((row_key, res.samples)) if args.from_runs else res.wall_s,
                   "chunks_skipped": res.chunks_skipped,
                   "max_delta_drift_converged": res.summary()["max_delta_drift_converged"]}
            _style.add_shares(row, res.tally, res.samples)
            if not spec.arch.filling:
                from geomflow._tally import PURITY

                pure = gf.purity(res.records, spec.arch.rank)
                _style.add_shares(row, {c: np.count_nonzero(pure == c) for c in PURITY}, res.samples)
            rows.append(row)
            idx = np.flatnonzero(cats != "global_min")
            for i in idx:
                nonglobal.append({"widths": row["widths"], "seed": args.seed,
                                  "index": int(res.records["index"][i]), "category": str(cats[i]),
                                  "loss": float(res.records["loss"][i]),
                                  "gap": float(res.records["gap"][i]),
                                  "grad_norm": float(res.records["grad_norm"][i]),
                                  "t": float(res.records["t"][i]),
                                  "steps": int(res.records["steps"][i])})
            _write_tables(args, n, rows, nonglobal, complete=False)  # after every architecture
            print(f"  {row['widths']:>14}: {row['global_min']}/{res.samples} global "
                  f"[{row['global_min_wilson95_lo']:.5f}, 1], others "
                  f"{ {c: k for c, k in res.tally.items() if k and c != 'global_min'} } "
                  f"({res.wall_s or 0:.0f} s)", flush=True)
    complete = len(rows) == len(archs) and all(r["samples"] == n for r in rows)
    result = _write_tables(args, n, rows, nonglobal, complete=complete,
                           seconds=None if args.from_runs else tm.seconds)
    _figure(args.out, rows, n)
    total = result["total_flows"]
    lines = [f"{r['widths']}: {r['global_min']}/{r['samples']} at a global minimum, 95% lower bound "
             f"{r['global_min_wilson95_lo']:.5f}" for r in rows]
    lines += [f"{len(nonglobal)} of {total} flows did not end at a global minimum "
              f"({', '.join(sorted({d['category'] for d in nonglobal})) or 'none'}); {tm.seconds:.0f} s"]
    _style.report(NAME, lines)
    return result


def _write_tables(args, n, rows, nonglobal, *, complete: bool, seconds=None) -> dict:
    """`atlas.json`, `atlas.csv`, `atlas_nonglobal.csv` (rewritten after every architecture, so
    a long run that is stopped leaves the finished rows, marked `complete: false`)."""
    total = sum(r["samples"] for r in rows)
    result = {
        "claim": "Conjecture 1: gradient flow on the quadratic loss of a linear network ends at a "
                 "global minimum (12 architectures, depths 2-6)",
        "samples_per_architecture": n, "total_flows": total, "rows": rows,
        "non_global": nonglobal, "all_global": not nonglobal, "complete": complete,
        "seconds": seconds if seconds is not None else sum(r["wall_s"] or 0.0 for r in rows),
        "meta": _style.metadata(None, size=args.size, samples=n,
                                command="python experiments/fig_atlas.py " + " ".join(sys.argv[1:])),
    }
    _style.write_json(args.out, NAME, result)
    _style.write_csv(args.out, NAME, rows)
    _write_nonglobal(args.out, nonglobal)
    return result


NONGLOBAL_FIELDS = ("widths", "seed", "index", "category", "loss", "gap", "grad_norm", "t", "steps")


def _write_nonglobal(out, rows):
    """`atlas_nonglobal.csv`: one row per flow not at a global minimum (a header when none)."""
    import csv

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, NAME + "_nonglobal.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=NONGLOBAL_FIELDS)
        w.writeheader()
        w.writerows(rows)


def _figure(out, rows, n):
    pyplot = _style.plt()
    fig, ax = _style.new_figure(1, 1, width=6.8, height=3.0)
    x = np.arange(len(rows))
    share = np.array([r["global_min"] / r["samples"] for r in rows])
    lo = np.array([r["global_min_wilson95_lo"] for r in rows])
    ax.bar(x, 1 - lo, bottom=lo, color=_style.COLORS["primary"], alpha=0.35,
           label="95% Wilson interval of the share at a global minimum")
    ax.plot(x, share, "o", color=_style.COLORS["primary"], label="share at a global minimum")
    # What the flows not at a global minimum were, and the pure count, in two fixed text rows
    # near the bottom of the axes (not at the interval's end, where neighbours' notes collide).
    for xi, r in zip(x, rows):
        other = {c: r[c] for c in r if c in _style_categories() and c != "global_min" and r[c]}
        if other:
            note = "\n".join(c.replace("_", "\n") + f"\n{k:,}" for c, k in other.items())
            ax.text(xi, 0.34, note, ha="center", va="top", fontsize=5, color=_style.COLORS["bad_min"],
                    transform=ax.get_xaxis_transform())
        if "pure" in r:
            ax.text(xi, 0.08, f"pure\n{r['pure']:,}", ha="center", va="top", fontsize=5,
                    color=_style.COLORS["other"], transform=ax.get_xaxis_transform())
    ax.set_xticks(x, [f"{r['widths'].replace(',', '·')}  (n={r['samples']:,})" for r in rows],
                  rotation=35, ha="right", fontsize=6)
    ax.set_ylabel("share of flows")
    span = 1.0 - float(lo.min())
    ax.set_ylim(1.0 - 3.6 * span, 1.0 + 0.15 * span)
    from matplotlib.ticker import MaxNLocator

    ticks = MaxNLocator(nbins=3).tick_values(1.0 - 1.2 * span, 1.0)
    ax.set_yticks([y for y in ticks if 1.0 - 1.3 * span <= y <= 1.0 + 1e-12])  # none by the notes
    ax.ticklabel_format(axis="y", useOffset=False)
    sizes = sorted({r["samples"] for r in rows})
    per = f"{n:,} flows per architecture" if sizes == [n] else f"{sizes[0]:,}–{sizes[-1]:,} flows per architecture (of {n:,})"
    ax.set_title(f"Conjecture 1 atlas: {sum(r['samples'] for r in rows):,} flows, {len(rows)} "
                 f"architectures, {per} (Gaussian data and init)", fontsize=7.5)
    ax.legend(fontsize=6.5, loc="center right")
    fig.tight_layout()
    _style.save_figure(fig, out, NAME)
    pyplot.close("all")


def _style_categories():
    from geomflow._tally import CATEGORIES

    return CATEGORIES


def replot(args) -> dict:
    """Redraw `atlas.png/pdf` from `OUT/atlas.json` (the rows finished so far)."""
    import json

    with open(os.path.join(args.out, NAME + ".json")) as f:
        result = json.load(f)
    _figure(args.out, result["rows"], result["samples_per_architecture"])
    return result


def main(argv=None) -> dict:
    args = parse_args(argv)
    return replot(args) if args.replot else run(args)


if __name__ == "__main__":
    main()
