"""`geomflow demo`: a quick gradient-flow Monte Carlo sweep, its summary and one figure.

What `make demo` runs on a fresh machine: a few hundred random instances of the quadratic loss on
the non-filling linear network with widths (3, 2, 2, 3), each integrated by gradient flow to its
limit, polished, and classified (global minimum / saddle / zero Hessian / not converged). Prints a
human-readable tally with 95% Wilson intervals and writes `demo_summary.json`, `demo_records.csv`
and `demo.png` into `--out` (and the sweep's own restartable chunk files, manifest and per-sample
table into `--out/sweep/`, via `geomflow._sweep.run_flow_sweep`). Takes well under two minutes on two CPU cores, compilation included.
"""

from __future__ import annotations

import os
import time


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="a quick gradient-flow sweep (widths 3,2,2,3): tally of where the flows end, and a figure",
        description="Run a quick Monte Carlo sweep of gradient flows on the linear network with "
        "widths 3,2,2,3 and quadratic loss; print and save where they end.",
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--samples", type=int, default=256, help="number of random instances (default 256)")
    p.add_argument("--widths", default="3,2,2,3", help="widths d_0,…,d_h (default 3,2,2,3)")
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)


def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a binomial share `k/n`."""
    from .._sweep import wilson_interval

    return wilson_interval(k, n)


def run(args) -> int:
    from .._errors import GeomflowError
    from . import emit_json, parse_widths, setup_jax

    if args.samples <= 0:
        raise GeomflowError(f"--samples must be a positive integer, got {args.samples}")
    widths = parse_widths(args.widths)
    setup_jax("float64")
    import numpy as np

    try:
        from .. import _flow
        from .._sampling import ProblemSpec
        from .._sweep import SweepConfig, run_flow_sweep
    except ImportError as exc:  # the flow engine (issue 3) is not installed in this tree
        raise GeomflowError(f"the demo needs the gradient-flow engine (geomflow._flow, _sweep): {exc}") from None
    from .._critical import CLASS_NAMES

    spec = ProblemSpec(widths)
    # pool_size 64: the same compiled kernels as the experiments (JAX's persistent cache)
    config = SweepConfig(spec, samples=args.samples, seed=args.seed, pool_size=64,
                         out=os.path.join(args.out, "sweep"))
    t0 = time.perf_counter()
    res = run_flow_sweep(config)
    rec = res.records
    seconds = time.perf_counter() - t0

    status = np.asarray(rec["status"])
    label = np.asarray(rec["label"])
    n = int(args.samples)
    outcomes = {}
    for code, name in enumerate(_flow.STATUS_NAMES):
        if name in ("converged", "running"):
            continue
        outcomes[name] = int(np.sum(status == code))
    converged = status == _flow.CONVERGED
    for code, name in enumerate(CLASS_NAMES):
        outcomes[name] = int(np.sum(converged & (label == code)))
    tally = {k: {"count": v, "share": v / n, "wilson95": wilson(v, n)} for k, v in outcomes.items() if v}
    arch = spec.arch
    summary = {
        "widths": list(widths), "filling": arch.filling, "r": arch.rank, "samples": n,
        "seed": args.seed, "spec": spec.to_dict(), "config": {"method": config.method, "solver": config.solver},
        "sweep_dir": config.out,
        "tally": tally,
        "median_time_to_converge": float(np.median(np.asarray(rec["t"])[converged])) if converged.any() else None,
        "max_delta_drift": float(np.max(np.asarray(rec["delta_drift"]))),
        "useful_work_fraction": res.useful_work_fraction,
        "seconds": round(seconds, 2),
    }
    os.makedirs(args.out, exist_ok=True)
    import json

    with open(os.path.join(args.out, "demo_summary.json"), "w") as f:
        json.dump(summary, f, indent=2, default=float)
    _write_records(os.path.join(args.out, "demo_records.csv"), rec)
    fig_path = _figure(args.out, summary, np.asarray(rec["t"])[converged], np.asarray(rec["gap"])[converged])

    if args.json:
        emit_json(summary)
        return 0
    kind = "filling" if arch.filling else "non-filling"
    print(f"geomflow demo: {n} gradient flows, quadratic loss, widths {','.join(map(str, widths))} "
          f"({kind}, r = {arch.rank}), {seconds:.1f} s")
    for k, v in tally.items():
        lo, hi = v["wilson95"]
        print(f"  {k:22s} {v['count']:5d}  {100 * v['share']:6.2f}%   95% CI [{100 * lo:.2f}%, {100 * hi:.2f}%]")
    if summary["median_time_to_converge"] is not None:
        print(f"  median time to converge t = {summary['median_time_to_converge']:.3g}; "
              f"max δ drift {summary['max_delta_drift']:.1e}")
    print(f"  wrote {args.out}/demo_summary.json, demo_records.csv, {os.path.basename(fig_path)}; "
          f"the sweep's chunks, manifest and per-sample table in {config.out}/")
    return 0


def _write_records(path, rec) -> None:
    import csv

    import numpy as np

    keys = [k for k in rec if np.asarray(rec[k]).ndim == 1]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys)
        cols = [np.asarray(rec[k]).tolist() for k in keys]
        for row in zip(*cols):
            w.writerow(row)


def _figure(out, summary, t_conv, gap) -> str:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import numpy as np

    colors = {"global_min": "#009E73", "non_global_local_min": "#D55E00", "strict_saddle": "#E69F00",
              "non_strict_saddle": "#CC79A7", "zero_hessian": "#CC79A7"}
    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(7.0, 2.8))
    names = list(summary["tally"])
    shares = [summary["tally"][k]["share"] for k in names]
    lo = [summary["tally"][k]["share"] - summary["tally"][k]["wilson95"][0] for k in names]
    hi = [summary["tally"][k]["wilson95"][1] - summary["tally"][k]["share"] for k in names]
    ax0.bar(range(len(names)), shares, yerr=[lo, hi], capsize=3,
            color=[colors.get(k, "#999999") for k in names])
    ax0.set_xticks(range(len(names)))
    ax0.set_xticklabels([k.replace("_", " ") for k in names], rotation=20, ha="right", fontsize=7)
    ax0.set_ylabel("share of flows (95% Wilson CI)")
    ax0.set_ylim(0, 1.05)
    w = ",".join(map(str, summary["widths"]))
    ax0.set_title(f"where gradient flow ends, widths {w} (n = {summary['samples']})", fontsize=9)
    if len(t_conv):
        ax1.hist(np.log10(np.maximum(t_conv, 1e-3)), bins=30, color="#0072B2")
    ax1.set_xlabel("log$_{10}$ time to converge t")
    ax1.set_ylabel("number of flows")
    ax1.set_title("convergence times", fontsize=9)
    fig.tight_layout()
    path = os.path.join(out, "demo.png")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
