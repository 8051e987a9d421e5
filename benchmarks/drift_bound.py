"""Per-sample δ-drift bound at paper size (issue 11, must-show 7).

Runs (3,2,2,3), Gaussian data and init, 10^5 samples, and prints the drift summary: every
converged sample must meet `drift_tol` (1e-8) or be counted in `over_drift_bound`.
Run: `python benchmarks/drift_bound.py` (270 s on the idle 2-core box, 2026-12-01).
"""

import json
import time

import geomflow as gf

t=time.perf_counter()
cfg = gf.SweepConfig(gf.ProblemSpec((3,2,2,3)), samples=100_000, seed=0, chunk_size=10_000, ed_globality=False)
r = gf.run_flow_sweep(cfg)
s = r.summary()
rec = r.records
conv = rec["status"] == 0
print(json.dumps({k: s[k] for k in s if "drift" in k or k in ("tally",)}, default=gf.json_default))
print("converged", int(conv.sum()), "max drift converged", float(rec["delta_drift"][conv].max()),
      "over 1e-8", int((rec["delta_drift"][conv] > 1e-8).sum()), "retried", int(rec["drift_retried"].sum()),
      f"wall {time.perf_counter()-t:.0f}s")
