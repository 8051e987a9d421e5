"""Issue 16: where Conjecture 1 is hard: near-equal singular values, rank-deficient targets, correlated data.

Claim (MATH.md §4, Conjecture 1): for almost all data and initialisations gradient flow on
`L(w) = ‖W_h⋯W_1 X − Y‖²` ends at a global minimum. The atlas (`fig_atlas.py`) tests it on
Gaussian data; this experiment tests it where the landscape is least generic:

- `close_spectrum`: `σ_i(Q) = 1 − (i−1)·10⁻³`, so the global minimum (the rank-`r` truncation)
  beats the best saddle `P_{1..r−1, r+1}` by a relative `10⁻³` only, and the flow is slow near it;
- `low_rank`: `rank YXᵀ = r − 1`: the global minima lie over a singular point of the function
  space `M_r` (not Morse–Bott; convergence is not exponential along every direction);
- `correlated`: `Σ_XX = (1 − ρ)I + ρ11ᵀ` with `ρ = 0.9` (condition number 28 for `d_0 = 3`),
  against `whitened` (`Σ_XX = I`) and plain `gaussian` data.

What is run: for each data model and each architecture in `ARCHITECTURES` (non-filling, depths
2–4), `N` flows through `geomflow.run_flow_sweep` (the default engine; classification at the
balanced representative; global minima decided by the attained value `L*`). Every status and
class is counted with a 95% Wilson interval; non-converged runs are never counted as critical.
The share of **pure** limits (`gf.purity`: `μ(w)` critical for `ℓ` on `M_r`, i.e. equal to an
Eckart–Young point `P_S`) is reported beside it. Every flow that did not end at a global minimum
is written to `hard_nonglobal.csv` with `(data, widths, seed, index)`; `gf.rerun_samples` reruns
it alone, bit for bit.

Sizes: `--tiny` 4 flows × 2 data models × 1 architecture (tests); quick default 64 flows per cell;
`--full` 10⁴ per cell (resumable under `--runs`, default `runs/hard`); `--samples N` for another size.

Measured outcome: see the "Measured" lines printed and `figures/hard.json` (its `meta` holds the
command; BENCHMARKS.md the wall time and machine).

Run: `python experiments/fig_hard.py [--full | --samples N] [--out figures/] [--runs runs/hard]`.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _style  # noqa: E402

NAME = "hard"
ARCHITECTURES = ((3, 2, 3), (3, 2, 2, 3), (4, 3, 2, 3, 4))
DATA = (
    ("gaussian", {}, "Gaussian X, Y (reference)"),
    ("whitened", {}, "whitened X (Σ_XX = I)"),
    ("correlated", {"correlation": 0.9}, "correlated X (ρ = 0.9)"),
    ("close_spectrum", {"gap": 1e-3}, "σ_i(Q) = 1 − (i−1)·10⁻³"),
    ("low_rank", {}, "rank YXᵀ = r − 1"),
)
# Near the global minimum the slowest rate is the gap σ_r − σ_{r+1} (here 10⁻³): the default
# t_max = 10⁴ leaves most close_spectrum flows unconverged, so those cells get 10⁶ (and the
# step budget to match). Every other cell runs at the engine's defaults.
TOLERANCES = {"close_spectrum": {"t_max": 1e6, "max_steps": 1e6}}
SAMPLES = {"tiny": 4, "quick": 64, "full": 10_000}
QUICK_SECONDS = 420  # 15 cells × 64 flows, mostly compiling (2 cores)
CHUNK = 2000  # the committed 2000-per-cell run is one chunk per cell, which a --full run keeps
SHOWN = ("global_min", "not_converged", "strict_saddle", "non_strict_saddle", "zero_hessian",
         "non_global_local_min", "diverged", "non_finite", "undecided", "not_critical")


def parse_args(argv=None) -> argparse.Namespace:
    p = _style.sweep_parser(__doc__, NAME, full_help="10^4 flows per cell (resumable)",
                            tiny_help="4 flows × 2 data models × 1 architecture", per="cell")
    p.add_argument("--from-runs", action="store_true", dest="from_runs",
                   help="write the tables and figure from the chunks finished under --runs, "
                   "without running a flow")
    return _style.parse_sweep(p, argv)


def cells(size: str):
    """The (data model, its parameters, label, widths) cells of a size."""
    if size == "tiny":
        return [(d, kw, lab, ARCHITECTURES[0]) for d, kw, lab in (DATA[3], DATA[4])]
    return [(d, kw, lab, w) for d, kw, lab in DATA for w in ARCHITECTURES]


def run(args) -> dict:
    _style.setup_jax()
    import geomflow as gf

    n = args.samples if args.samples is not None else SAMPLES[args.size]
    rows, nonglobal = [], []
    walls = _style.previous_walls(args.out, NAME, ("data", "widths")) if args.from_runs else {}
    with _style.Timer() as tm:
        for data, kw, label, widths in cells(args.size):
            spec = gf.ProblemSpec(widths, data=data, **kw)
            tag = f"seed{args.seed}_{data}_" + "-".join(map(str, widths))
            cfg = gf.SweepConfig(spec, samples=n, seed=args.seed, chunk_size=min(CHUNK, n),
                                 tolerances=TOLERANCES.get(data, {}), out=os.path.join(args.runs, tag))
            res = _style.finished_sweep(cfg.out, n) if args.from_runs else gf.run_flow_sweep(cfg)
            if res is None:
                print(f"  {data} {widths}: no finished chunks in {cfg.out}", flush=True)
                continue
            rows.append(_row(gf, spec, label, res))
            if args.from_runs:
                rows[-1]["wall_s"] = walls.get((data, rows[-1]["widths"], res.samples))
            cats = res.categories
            for i in np.flatnonzero(cats != "global_min"):
                nonglobal.append({"data": data, "widths": rows[-1]["widths"], "seed": args.seed,
                                  "index": int(res.records["index"][i]), "category": str(cats[i]),
                                  "gap": float(res.records["gap"][i]),
                                  "grad_norm": float(res.records["grad_norm"][i]),
                                  "t": float(res.records["t"][i])})
            r = rows[-1]
            print(f"  {data:>15} {r['widths']:>10}: {r['global_min']}/{n} global "
                  f"[{r['global_min_wilson95_lo']:.4f}, {r['global_min_wilson95_hi']:.4f}], "
                  f"pure {r['pure']}/{n}, median t {r['median_t']:.3g}, others "
                  f"{ {c: r[c] for c in SHOWN if c != 'global_min' and r.get(c)} } ({res.wall_s:.0f} s)",
                  flush=True)
    result = {
        "claim": "Conjecture 1 where it is hard: near-equal singular values of Q, rank-deficient "
                 "targets, whitened vs correlated data",
        "samples_per_cell": n, "rows": rows, "non_global": nonglobal,
        "all_global": not nonglobal, "seconds": None if args.from_runs else tm.seconds,
        "meta": _style.metadata(args, command="python experiments/fig_hard.py " + " ".join(sys.argv[1:])),
    }
    _style.write_json(args.out, NAME, result)
    _style.write_csv(args.out, NAME, rows)
    _style.write_csv(args.out, NAME + "_nonglobal", nonglobal or [dict.fromkeys(
        ("data", "widths", "seed", "index", "category", "gap", "grad_norm", "t"))])
    _figure(args.out, rows, n)
    lines = [f"{r['data']} {r['widths']}: {r['global_min']}/{r['samples']} global "
             f"(95% [{r['global_min_wilson95_lo']:.4f}, {r['global_min_wilson95_hi']:.4f}]), "
             f"not converged {r['not_converged']}, pure {r['pure']}, median t {r['median_t']:.3g}"
             for r in rows]
    lines.append(f"{len(nonglobal)} flows not at a global minimum; {tm.seconds:.0f} s")
    _style.report(NAME, lines)
    return result


def _row(gf, spec, label, res) -> dict:
    rec = res.records
    n = res.samples
    cats = res.categories
    pure = gf.purity(rec, spec.arch.rank)
    conv = np.asarray(rec["status"]) == 0
    t = np.asarray(rec["t"])[conv]
    row = {"data": spec.data, "label": label, "t_max": float(res.config["tolerances"]["t_max"]), "widths": ",".join(map(str, spec.widths)),
           "h": spec.arch.depth, "rank": spec.arch.rank, "filling": spec.arch.filling,
           "samples": n, "wall_s": res.wall_s, "chunks_skipped": res.chunks_skipped,
           "median_t": float(np.median(t)) if t.size else float("nan"),
           "q90_t": float(np.quantile(t, 0.9)) if t.size else float("nan"),
           "max_delta_drift_converged": res.summary()["max_delta_drift_converged"],
           # converged limits whose μ(w) the finaliser matched to an Eckart–Young point P_S
           "index_set_matched": int(np.count_nonzero(conv & np.asarray(rec["index_set_valid"], bool)))}
    from geomflow._tally import PURITY

    _style.add_shares(row, {c: np.count_nonzero(cats == c) for c in SHOWN}, n)
    return _style.add_shares(row, {c: np.count_nonzero(pure == c) for c in PURITY}, n)


def _figure(out, rows, n):
    pyplot = _style.plt()
    fig, (ax0, ax1) = _style.new_figure(2, 1, width=3.6, height=3.0)
    datas = list(dict.fromkeys(r["data"] for r in rows))
    archs = list(dict.fromkeys(r["widths"] for r in rows))
    width = 0.8 / max(len(archs), 1)
    for j, w in enumerate(archs):
        xs, p, lo, t = [], [], [], []
        for i, d in enumerate(datas):
            r = next((r for r in rows if r["data"] == d and r["widths"] == w), None)
            if r is None:
                continue
            xs.append(i + (j - (len(archs) - 1) / 2) * width)
            p.append(r["global_min"] / r["samples"])
            lo.append(r["global_min_wilson95_lo"])
            t.append(r["median_t"])
        xs, p, lo = np.array(xs), np.array(p), np.array(lo)
        ax0.bar(xs, 1 - lo, bottom=lo, width=width * 0.9, color=_style.CYCLE[j], alpha=0.35)
        ax0.plot(xs, p, "o", color=_style.CYCLE[j], ms=3.5, label=f"({w.replace(',', '·')})")
        ax1.bar(xs, t, width=width * 0.9, color=_style.CYCLE[j], label=f"({w.replace(',', '·')})")
    for ax in (ax0, ax1):
        ax.set_xticks(range(len(datas)), datas, rotation=25, ha="right", fontsize=7)
    lo_all = min(r["global_min_wilson95_lo"] for r in rows)
    span = max(1.0 - lo_all, 1e-4)
    ax0.set_ylim(1.0 - 1.6 * span, 1.0 + 0.1 * span)
    ax0.set_ylabel("share at a global minimum\n(dot; bar: 95% Wilson interval)")
    ax0.set_title(f"Conjecture 1 on hard data, {n} flows per cell", fontsize=8)
    ax0.legend(fontsize=6.5, loc="lower left")
    ax1.set_yscale("log")
    ax1.set_ylabel("median time to converge")
    ax1.set_title("how much slower the flow is", fontsize=8)
    for r_i, d in enumerate(datas):
        nc = sum(r["not_converged"] for r in rows if r["data"] == d)
        if nc:
            ax0.annotate(f"not conv.: {nc}", (r_i, 1.0 - 1.5 * span), ha="center", fontsize=5.5,
                         color=_style.COLORS["other"])
    fig.tight_layout()
    _style.save_figure(fig, out, NAME)
    pyplot.close("all")


def main(argv=None) -> dict:
    return run(parse_args(argv))


if __name__ == "__main__":
    main()
