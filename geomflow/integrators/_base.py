"""The integrator protocol, and how an integrator's runs are laid out in arrays.

An integrator advances runs of `ẇ = f(w) = −∇L(w)` for a model and a loss:

- `start(model, loss, weights0, tol, dtype)`: the state at `t = 0`;
- `resume(model, loss, carry, tol, dtype)`: continue a run handed over by the stage before;
- `advance(model, state, loss, tol, n_steps, dtype, hands_over)`: at most `n_steps` more steps,
  the stopping rule ([`test_and_status`][geomflow.integrators._stopping.test_and_status]) after
  each;
- `layout(lanes)`: how its runs share arrays, one of the layouts below; the scheduler asks for
  it and never asks which integrator it has.

A layout wraps the one-block functions into pool functions and counts the steps executed:

- [`Blocks`][]: batch-last blocks of `lanes` samples, one block after another (`lax.map`), each
  block with its own loop (a block with no running sample costs nothing). Every sample is
  computed by the same compiled code whatever the pool size, the device count or its
  neighbours (a block of another width vectorises differently, measured).
- [`Vmapped`][]: one `vmap`ped loop over the pool (a round costs its slowest member's steps).
- [`Sequential`][]: members one after another (`lax.map`, no lockstep): for diffrax's implicit
  solvers, whose batched LU rounds differently with the batch's composition (1e-14, measured).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from .. import _batchlast as B


@dataclasses.dataclass(frozen=True)
class Blocks:
    """Batch-last blocks of `lanes` samples (pools are whole numbers of blocks)."""

    lanes: int
    batch_last = True
    sequential = False

    def wrap(self, fn):
        lanes = self.lanes

        def blocked(*args):
            n = jax.tree.leaves(args)[0].shape[0]
            rs = jax.tree.map(lambda a: a.reshape((n // lanes, lanes) + a.shape[1:]), args)
            out = jax.lax.map(lambda blk: B.from_soa(fn(*B.to_soa(blk))), rs)
            return jax.tree.map(lambda a: a.reshape((n,) + a.shape[2:]), out)

        return blocked

    def executed(self, delta_steps: np.ndarray, unit: int) -> int:
        return int(delta_steps.reshape(-1, self.lanes).max(axis=1).sum()) * self.lanes


@dataclasses.dataclass(frozen=True)
class Vmapped:
    """One vmapped loop per device."""

    batch_last = False
    sequential = False
    lanes = None

    def wrap(self, fn):
        return jax.vmap(fn)

    def executed(self, delta_steps: np.ndarray, unit: int) -> int:
        per_dev = delta_steps.reshape(unit, -1)
        return int(per_dev.max(axis=1).sum()) * (delta_steps.size // unit)


@dataclasses.dataclass(frozen=True)
class Sequential:
    """Members one after another in a pool of `pool` slots (no lockstep)."""

    pool: int = 32
    batch_last = False
    sequential = True
    lanes = None

    def wrap(self, fn):
        return lambda *args: jax.lax.map(lambda a: fn(*a), args)

    def executed(self, delta_steps: np.ndarray, unit: int) -> int:
        return int(delta_steps.sum())
