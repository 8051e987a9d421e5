"""Gradient-flow sweeps for the experiments, through the flow engine's Python API.

One function, [`sweep_row`][]: run `samples` flows of one [`ProblemSpec`][geomflow.ProblemSpec]
with `geomflow.run_flow_sweep` and return a flat dict (the tally, shares with 95% Wilson
intervals, convergence times) ready for a JSON/CSV row. The pool size is the same for every sweep
of every experiment, so compiled kernels are shared through JAX's persistent cache.
"""

from __future__ import annotations

import numpy as np

POOL = 64


class EngineMissing(SystemExit):
    pass


def engine():
    """`(ProblemSpec, SweepConfig, run_flow_sweep, wilson_interval)`, or a clear error."""
    try:
        from geomflow import ProblemSpec, SweepConfig, run_flow_sweep, wilson_interval
    except ImportError as exc:
        raise EngineMissing(
            f"this experiment needs the gradient-flow Monte Carlo engine (geomflow.run_flow_sweep, "
            f"issue 3), which is not importable here: {exc}"
        ) from None
    return ProblemSpec, SweepConfig, run_flow_sweep, wilson_interval


def sweep_row(widths, samples: int, seed: int, **spec_kwargs) -> tuple[dict, dict]:
    """Run one sweep; return `(row, records)`: a flat summary row and the per-sample records."""
    ProblemSpec, SweepConfig, run_flow_sweep, wilson = engine()
    spec = ProblemSpec(tuple(widths), **spec_kwargs)
    res = run_flow_sweep(SweepConfig(spec, samples=samples, seed=seed, pool_size=POOL))
    rec = res.records
    tally = res.tally
    n = res.samples
    k = tally.get("global_min", 0)
    lo, hi = wilson(k, n)
    t = np.asarray(rec["t"])
    conv = np.asarray(rec["status"]) == 0
    arch = spec.arch
    row = {
        "widths": ",".join(map(str, arch.widths)), "h": arch.depth, "r": arch.rank,
        "filling": arch.filling, "loss": spec.loss, "data": spec.data, "init": spec.init,
        "init_scale": spec.init_scale, "samples": n,
        "global_min": k, "share_global_min": k / n if n else float("nan"),
        "wilson95_lo": lo, "wilson95_hi": hi,
        **{f"n_{c}": v for c, v in tally.items() if c != "global_min"},
        "median_t": float(np.median(t[conv])) if conv.any() else None,
        "q10_t": float(np.quantile(t[conv], 0.1)) if conv.any() else None,
        "q90_t": float(np.quantile(t[conv], 0.9)) if conv.any() else None,
        "max_delta_drift": float(np.max(np.asarray(rec["delta_drift"]))) if n else None,
        "useful_work_fraction": res.useful_work_fraction,
        "wall_s": res.wall_s,
    }
    return row, rec
