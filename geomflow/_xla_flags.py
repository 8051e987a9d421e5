"""XLA settings geomflow needs before JAX's CPU backend starts.

XLA's CPU runtime can wedge its multi-threaded Eigen (intra-op) thread pool while materialising
the result of a large vmapped graph: the process sleeps in a futex forever after compilation
finished. geomflow's finalisation (a vmapped polish + classification with `eigh` inside loops)
hit it here (a 64-sample sweep on widths (4,3,2,3,4) hung for 19 minutes at 2 % CPU, on jax
0.10.2, 2 cores); the same wedge and the same cure are documented in PyAutoFit issues #1528 and
#1530. The cure is `--xla_cpu_multi_thread_eigen=false`. geomflow's kernels are batch-last and
elementwise across samples, so they parallelise over samples, not inside Eigen calls; the
flag costs them nothing measurable (BENCHMARKS.md).

The flag is added to `XLA_FLAGS` at `import geomflow` unless the variable already mentions
`xla_cpu_multi_thread_eigen` (set it yourself to override) or `GEOMFLOW_KEEP_XLA_FLAGS=1`. It
takes effect only if JAX's CPU backend has not started yet in the process (import geomflow
before running any JAX computation).
"""

from __future__ import annotations

import os

FLAG = "--xla_cpu_multi_thread_eigen=false"


def single_threaded_eigen() -> bool:
    """Add `FLAG` to `XLA_FLAGS` (see the module docstring); whether it was added.

    Examples:
        >>> "xla_cpu_multi_thread_eigen" in os.environ.get("XLA_FLAGS", "")
        True
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" in flags or os.environ.get("GEOMFLOW_KEEP_XLA_FLAGS") == "1":
        return False
    os.environ["XLA_FLAGS"] = (flags + " " + FLAG).strip()
    return True


single_threaded_eigen()
