"""The scheduler: pools of slots, blocks of lanes, rounds, compaction, refill and devices.

Each stage of a run (one integrator; two for `"auto"`: Tsit5 then Rodas5P) has a pool of slots.
Every round advances each live slot by at most `round_steps` steps; then finished members leave
(to the next stage's queue, or out), running members are moved to the front, and free slots are
refilled from the queue. A member's state (weights, time, next step size, solver and controller
state, dwell clock) is carried between rounds unchanged, so its trajectory does not depend on
the pool, the rounds, the chunking, or the devices.

How a stage's members share arrays is its integrator's [`layout`][geomflow.integrators._base]:
batch-last blocks of `lanes` samples (each block its own loop, so a round costs a block its
slowest member's steps and an idle block nothing), a vmapped loop, or members one after another.

## Backends

The block width and the pool size are properties of the backend ([`Backend`][]):

- **CPU**: the lanes are SIMD lanes; blocks of 128 (Tsit5) and 32 (Rosenbrock) lanes fit a
  core's cache (measured on a 2-core AVX-512 Xeon, widths (3,2,2,3): Tsit5 0.87/0.66/0.44 µs per
  sample-step at 32/64/128 lanes, Rodas4 3.5/3.4/3.2 µs); pools of 256 slots.
- **GPU/TPU**: one working block per pool (a sequential `lax.map` over 128-lane blocks would
  launch thousands of tiny kernels per round): blocks of 16384 lanes, pools of 16384 slots (plus
  the spare block below), until a measurement (`benchmarks/gpu.sh`) says otherwise.

Override either with `block_width=` / `pool_size=` (Python: [`run_batch`][], `SweepConfig`;
CLI: `--block-width`, `--pool-size`). Results are bit-identical on a given backend across pool
sizes, chunking and device counts *for a fixed block width* (every block runs the same compiled
code; a pool has at least two blocks per device, because XLA compiles a block loop of one trip
differently, the second block spare where there is nothing to fill it); a different block width
may round differently.

Several devices: each device runs the same single-device executable on its slice of the pool.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._config import FlowConfig
from ._errors import GeomflowError
from ._sampling import ProblemSpec, sample_problem
from .integrators._stopping import BUDGET_EXHAUSTED, RUNNING, SWITCH, FlowTolerances, MemberState

LATER_STAGE_ROUND_DIV = 4  # later (implicit, costly) stages run rounds this much shorter


@dataclasses.dataclass(frozen=True)
class Backend:
    """Block width per stage and default pool size of a JAX backend (see the module docstring).

    Examples:
        >>> Backend.for_platform("cpu").lanes, Backend.for_platform("cpu").pool_size
        ((128, 32), 256)
        >>> Backend.for_platform("gpu", block_width=4096).lanes
        (4096, 4096)
    """

    platform: str
    lanes: tuple
    pool_size: int

    @classmethod
    def for_platform(cls, platform: str | None = None, *, block_width: int | None = None,
                     pool_size: int | None = None) -> Backend:
        platform = platform or jax.default_backend()
        if platform == "cpu":
            lanes, pool = (128, 32), 256
        else:
            lanes, pool = (16384, 16384), 16384
        if block_width is not None:
            if isinstance(block_width, bool) or not isinstance(block_width, int) or block_width < 1:
                raise GeomflowError(f"block_width must be a positive integer, got {block_width!r}")
            lanes = (block_width,) * len(lanes)
        return cls(platform, lanes, pool if pool_size is None else pool_size)

    def stage_lanes(self, stage: int) -> int:
        return self.lanes[min(stage, len(self.lanes) - 1)]


class BatchStats(NamedTuple):
    """Work accounting of [`run_batch`][].

    - `needed`: member steps the runs needed (the sum of their step counts);
    - `executed`: member steps the devices executed (lockstep: per block and round, the slowest
      member's steps times the block's slots, dead slots included);
    - `rounds`; `pool_sizes`: the pool sizes each stage used.
    """

    needed: int
    executed: int
    rounds: int
    pool_sizes: tuple

    @property
    def useful_work_fraction(self) -> float:
        return self.needed / self.executed if self.executed else 1.0


RAW_FIELDS = ("y", "y0", "status", "t", "dt", "steps", "accepted", "grad_norm", "max_drift",
              "t_below")


class StageKernels(NamedTuple):
    """The jitted functions of one stage's pool."""

    start: object  # (loss, w0, carry, valid, tol) -> (state, loss)
    advance: object  # (state, loss, tol, n) -> state
    unit: int  # slots are a multiple of this (devices)
    layout: object


def _mesh(n_devices: int):
    devices = jax.devices()[:n_devices]
    if len(devices) < n_devices:
        raise GeomflowError(f"asked for {n_devices} devices, JAX sees {len(jax.devices())}")
    return jax.sharding.Mesh(np.asarray(devices), ("batch",))


@functools.lru_cache(maxsize=64)
def stage_kernels(model, config: FlowConfig, stage: int, n_devices: int, lanes: int) -> StageKernels:
    """Jitted start / advance of one stage for pools split over `n_devices`."""
    dtype = config.dtype
    integrator, hands_over = config.stages[stage]
    layout = integrator.layout(lanes)

    def start_one(loss, w0, carry, valid, tol):
        loss = jax.tree.map(lambda a: a.astype(dtype), loss)
        if stage == 0:
            s = integrator.start(model, loss, tuple(W.astype(dtype) for W in w0), tol, dtype)
        else:
            c = MemberState(solver_state=None, controller_state=None, made_jump=None,
                            **{k: carry[k] for k in RAW_FIELDS})
            c = jax.tree.map(lambda a: a.astype(dtype) if a.dtype.kind == "f" else a, c)
            s = integrator.resume(model, loss, c, jax.tree.map(jnp.asarray, tol), dtype)
        return s._replace(status=jnp.where(valid, s.status, BUDGET_EXHAUSTED).astype(jnp.int32)), loss

    def advance_one(state, loss, tol, n):
        return integrator.advance(model, state, loss, tol, n, dtype, hands_over)

    def start_b(loss, w0, carry, valid, tol):
        return layout.wrap(lambda *a: start_one(*a, tol))(loss, w0, carry, valid)

    def adv_b(state, loss, tol, n):
        return layout.wrap(lambda s, lo: advance_one(s, lo, tol, n))(state, loss)

    start_j, adv_j = jax.jit(start_b), jax.jit(adv_b)
    if n_devices > 1:
        start_j, adv_j = _per_device(start_j, n_devices), _per_device(adv_j, n_devices)
    return StageKernels(start_j, adv_j, n_devices, layout)


def _per_device(fn, n_devices: int):
    """Run jitted `fn` on `n_devices` equal slices of its batched arguments (leading axis), one
    slice per device, concurrently (asynchronous dispatch), and join the results on the first.

    Every device runs the *same* single-device executable, so a sample's result does not depend
    on the device count (under `shard_map` XLA compiled the Rosenbrock block differently and
    results moved by an ulp, measured). Arguments that are not batched (tolerances, step
    counts) are 0-d arrays and go to every device whole.
    """
    devices = _mesh(n_devices).devices.ravel().tolist()

    def run(*args):
        def part(k):
            def cut(a):
                a = jnp.asarray(a)
                if a.ndim == 0:
                    return jax.device_put(a, devices[k])
                m = a.shape[0] // n_devices
                return jax.device_put(a[k * m:(k + 1) * m], devices[k])
            return jax.tree.map(cut, args)

        outs = [fn(*part(k)) for k in range(n_devices)]
        return jax.tree.map(lambda *xs: jnp.concatenate([jax.device_put(x, devices[0]) for x in xs]),
                            *outs)

    return run


@jax.jit
def _permute(tree, order):
    return jax.tree.map(lambda a: a[order], tree)


@jax.jit
def _merge(mask, new, old):
    return jax.tree.map(lambda a, b: jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b),
                        new, old)


class _Pool:
    """The slots of one stage: refilled from its queue, advanced in rounds, compacted."""

    def __init__(self, kernels: StageKernels, problems, raw, tol, size: int):
        self.k = kernels
        self.sequential = kernels.layout.sequential
        self.problems, self.raw, self.tol = problems, raw, tol
        self.size = size
        self.state = self.loss = None
        self.pos = np.zeros(0, np.int64)
        self.used_sizes = []

    def live(self):
        return np.nonzero(self.pos >= 0)[0]

    def _start(self, positions):
        p = np.maximum(positions, 0)
        carry = {k: jnp.asarray(self.raw[k][p]) for k in RAW_FIELDS}
        loss, w0 = self.problems(p)
        return self.k.start(loss, w0, carry, jnp.asarray(positions >= 0), self.tol)

    def ensure(self):
        if self.state is None:
            self.used_sizes.append(self.size)
            self.pos = np.full(self.size, -1, np.int64)
            self.state, self.loss = self._start(self.pos)

    def compact(self):
        """Move the running members to the front (fewest blocks busy)."""
        order = np.argsort(self.pos < 0, kind="stable")
        if self.state is None or np.array_equal(order, np.arange(order.size)):
            return
        self.state, self.loss = _permute((self.state, self.loss), jnp.asarray(order))
        self.pos = self.pos[order]

    def fill(self, queue):
        if self.k.layout.batch_last:
            self.compact()
        free = np.nonzero(self.pos < 0)[0]
        k = min(free.size, len(queue))
        if k == 0:
            return
        new = np.full(self.pos.size, -1, np.int64)
        new[free[:k]] = [queue.popleft() for _ in range(k)]
        ns, nl = self._start(new)
        self.state, self.loss = _merge(jnp.asarray(new >= 0), (ns, nl), (self.state, self.loss))
        self.pos = np.where(new >= 0, new, self.pos)

    def round(self, n_steps):
        """One round; returns `(finished positions, needed, executed)` and writes `raw`."""
        before = np.asarray(self.state.steps)
        self.state = self.k.advance(self.state, self.loss, self.tol, n_steps)
        status = np.asarray(self.state.status)
        steps = np.asarray(self.state.steps)
        executed = self.k.layout.executed(steps - before, self.k.unit)
        done = np.nonzero((status != RUNNING) & (self.pos >= 0))[0]
        needed = 0
        if not done.size:
            return np.zeros(0, np.int64), needed, executed
        p = self.pos[done]
        for k in RAW_FIELDS:
            self.raw[k][p] = np.asarray(getattr(self.state, k))[done]
        needed = int((steps[done] - self.raw["stage_start"][p]).sum())
        self.raw["stage_start"][p] = steps[done]
        self.pos[done] = -1
        return p, needed, executed


def kernel_spec(spec: ProblemSpec) -> ProblemSpec:
    """The part of a spec the compiled kernels depend on (model, loss kind, number of data
    points): data models and initialisations share one compilation."""
    return dataclasses.replace(spec, data="gaussian", noise=0.1, init="gaussian", init_scale=1.0,
                               n_data=spec.num_data)


@functools.lru_cache(maxsize=64)
def _sampler(spec: ProblemSpec):
    return jax.jit(jax.vmap(lambda seed, i: sample_problem(spec, seed, i, jnp.float64),
                            in_axes=(None, 0)))


def sampled_problems(spec: ProblemSpec, seed: int, indices):
    """A problem source for [`run_batch`][]: positions → `(losses, weights0)` of the samples
    `indices[positions]` under `seed` (float64, batched)."""
    indices = np.asarray(indices, np.int64)
    fn = _sampler(spec)
    seed = jnp.asarray(seed)
    return lambda positions: fn(seed, jnp.asarray(indices[positions]))


def given_problems(losses, weights0):
    """A problem source for [`run_batch`][] from stacked losses and initial weights (leading
    axis = sample), e.g. constructed instances."""
    losses = jax.tree.map(jnp.asarray, losses)
    weights0 = tuple(jnp.asarray(W) for W in weights0)
    return lambda positions: jax.tree.map(lambda a: a[jnp.asarray(positions)], (losses, weights0))


def run_batch(spec: ProblemSpec, config: FlowConfig, seed: int, indices, tolerances=None, *,
              pool_size: int | None = None, round_steps: int = 50, n_devices: int = 1,
              block_width: int | None = None, on_finished=None, problems=None):
    """Run many samples to their end in pools of slots that never wait for their slowest member.

    **Arguments:**

    - `spec`, `config`: the problem (its `model`) and the run configuration (static).
    - `seed`: the sweep seed; `indices`: the global sample indices to run.
    - `tolerances`: a [`FlowTolerances`][] (traced; default for the precision).
    - `pool_size`: slots per stage (default: the backend's; rounded up to whole blocks on
      every device); `round_steps`: steps per round (a quarter of that in later stages).
    - `n_devices`: split each pool over this many devices (each runs the same executable).
    - `block_width`: lanes per block of the batch-last integrators (default: the backend's).
    - `on_finished`: optional callback `f(positions, raw)` with positions into `indices` of the
      runs that just finished (their `raw` rows are final).
    - `problems`: the problem source (default [`sampled_problems`][]`(spec, seed, indices)`).

    **Returns:** `(raw, stats)`: `raw` a dict of numpy arrays (`y`, `y0`, `status`, `t`, `steps`,
    `accepted`, `grad_norm`, `max_drift`, …) in the order of `indices`, and a [`BatchStats`][].
    Finish them with `finalise_batch`.
    """
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    n = indices.size
    tol = (tolerances if tolerances is not None else FlowTolerances.for_precision(config.precision)).as_arrays()
    model = spec.network
    d_w = model.num_params
    raw = {
        "y": np.zeros((n, d_w)), "y0": np.zeros((n, d_w)), "status": np.full(n, RUNNING, np.int32),
        "t": np.zeros(n), "dt": np.zeros(n), "steps": np.zeros(n, np.int32), "accepted": np.zeros(n, np.int32),
        "grad_norm": np.zeros(n), "max_drift": np.zeros(n), "t_below": np.full(n, np.inf),
        "stage_start": np.zeros(n, np.int64),
    }
    if n == 0:
        return raw, BatchStats(0, 0, 0, ())
    backend = Backend.for_platform(block_width=block_width, pool_size=pool_size)
    if problems is None:
        problems = sampled_problems(spec, seed, indices)
    kmodel = kernel_spec(spec).network
    n_stages = len(config.stages)
    pools = []
    for k in range(n_stages):
        lanes = backend.stage_lanes(k)
        kern = stage_kernels(kmodel, config, k, n_devices, lanes)
        lay = kern.layout
        if lay.sequential:
            size = lay.pool
        else:
            # Whole blocks of the widest stage on every device (one pool size for all stages).
            unit = (max(backend.lanes) if lay.batch_last else 1) * n_devices
            # At least two blocks per device: XLA inlines a block loop of one trip into its
            # surroundings and rounds differently, so a one-block pool (a small run, a small
            # `pool_size`) would not reproduce the same samples of a larger pool bit for bit.
            # A spare block holds no live member and costs next to nothing.
            least = 2 * unit if lay.batch_last else unit
            size = max(least, -(-min(backend.pool_size, n) // unit) * unit)
        pools.append(_Pool(kern, problems, raw, tol, size))
    queues = [collections.deque(range(n))] + [collections.deque() for _ in range(n_stages - 1)]
    n_first = jnp.asarray(round_steps, jnp.int32)
    # A sequential pool has no lockstep, so its rounds can be long.
    n_seq = jnp.asarray(10 * round_steps, jnp.int32)
    # Later (implicit, costly) stages run shorter rounds, so a finished member's slot is
    # refilled sooner.
    n_later = jnp.asarray(max(1, round_steps // LATER_STAGE_ROUND_DIV), jnp.int32)
    needed = executed = rounds = 0
    while True:
        active = False
        for k, pool in enumerate(pools):
            final = all(not queues[j] and pools[j].live().size == 0 for j in range(k))
            # A later stage waits until it can fill its pool (half of it, sequentially) or
            # nothing more will come, rather than run a sparsely filled pool.
            need = pool.size // 2 if pool.sequential else pool.size
            if k and not final and pool.live().size + len(queues[k]) < need:
                active = active or bool(queues[k])
                continue
            if pool.live().size == 0 and not queues[k]:
                continue
            pool.ensure()
            pool.fill(queues[k])
            if pool.live().size == 0:
                continue
            active = True
            done, nd, ex = pool.round(n_seq if pool.sequential else n_later if k else n_first)
            rounds += 1
            needed += nd
            executed += ex
            if done.size:
                handed = raw["status"][done] == SWITCH
                if k + 1 < n_stages:
                    queues[k + 1].extend(done[handed].tolist())
                finished = done[~handed] if k + 1 < n_stages else done
                if on_finished is not None and finished.size:
                    on_finished(finished, raw)
        if not active and not any(queues):
            break
    used = tuple(tuple(p.used_sizes) for p in pools)
    return raw, BatchStats(needed, executed, rounds, used)
