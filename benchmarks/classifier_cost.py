"""Compile and run time of the critical-point classifier and of the finalisation's value test.

`jit(vmap(classify_critical_point))` with `loss_star` and `no_bad_minima=True` on 64 random
points (and `global_by_value` on 16), per architecture; compile with the persistent cache off.
Run it at another commit (e.g. `git worktree add /tmp/old 23cb428` and
`PYTHONPATH=/tmp/old python benchmarks/classifier_cost.py --no-value`) for the classifier before
issue 15. Numbers quoted in BENCHMARKS.md ("Classification at the balanced representative").

Run: `python benchmarks/classifier_cost.py [--no-value]`.
"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import geomflow  # noqa: F401  (sets XLA_FLAGS before JAX starts)

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_enable_compilation_cache", False)
from geomflow._critical import classify_critical_point  # noqa: E402
from geomflow._losses import QuadraticLoss  # noqa: E402


def batch(widths, n):
    rng = np.random.default_rng(0)
    h = len(widths) - 1
    X = jnp.asarray(rng.standard_normal((n, widths[0], 10)))
    Y = jnp.asarray(rng.standard_normal((n, widths[-1], 10)))
    W = tuple(jnp.asarray(rng.standard_normal((n, widths[i + 1], widths[i]))) for i in range(h))
    return X, Y, W


def timed(fn, *args):
    f = jax.jit(jax.vmap(fn))
    t = time.perf_counter()
    c = f.lower(*args).compile()
    tc = time.perf_counter() - t
    t = time.perf_counter()
    jax.block_until_ready(c(*args))
    return tc, time.perf_counter() - t


def main(argv):
    for widths in [(3, 2, 2, 3), (4, 3, 2, 3, 4)]:
        X, Y, W = batch(widths, 64)
        ls = jnp.zeros(64)
        tc, tr = timed(lambda X, Y, W, s: classify_critical_point(
            QuadraticLoss(X, Y), W, loss_star=s, no_bad_minima=True).label, X, Y, W, ls)
        print(f"{widths}: classify_critical_point compile {tc:.1f} s, run(64) {tr:.3f} s", flush=True)
        if "--no-value" not in argv:
            from geomflow._critical import global_by_value

            X, Y, W = batch(widths, 16)
            tc, tr = timed(lambda X, Y, W: global_by_value(QuadraticLoss(X, Y), W, loss_star=0.0).is_global,
                           X, Y, W)
            print(f"{widths}: global_by_value compile {tc:.1f} s, run(16) {tr:.3f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
