"""Chunked, restartable Monte Carlo sweeps of gradient flows, and their tallies.

A sweep runs samples `0 … samples−1` of a [`ProblemSpec`][] (or the shard `K/N` of that range)
through [`run_batch`][geomflow._flow.run_batch] and [`finalise_batch`][geomflow._flow.finalise_batch].
With an output directory it writes, per chunk of consecutive indices, `chunk_<start>_<stop>.npz`
(the per-sample records) and `chunk_<start>_<stop>.json` (index range, sha256 of the npz, the
run's fingerprint, work counters), each written atomically (temporary file, then `os.replace`),
plus `run.json` (config, seed, versions, JAX backend, devices, shard). A re-started sweep skips
every chunk whose two files exist and verify, so a run killed at any moment ends with the same
per-sample results as an uninterrupted one; re-run with a larger `samples` in the same directory,
it keeps the chunks it has and computes only the rest (sample `i` depends only on the seed and
`i`). [`merge_sweeps`][] joins the directories of several
shards after checking that their chunks tile `[0, samples)` with nothing missing or doubled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._errors import GeomflowError
from ._precision import x64
from ._records import (
    _chunk_metas,
    _read_chunk,
    _write_chunk,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    numerics_fingerprint,
)
from ._sampling import ProblemSpec
from ._tally import (
    CATEGORIES,
    categories,
    compare_precisions,
    drift_summary,
    records_table,
    tally,
    wilson_interval,
)


def shard_range(samples: int, shard: tuple[int, int]) -> tuple[int, int]:
    """The index range `[a, b)` of shard `K/N` (0-based `K`): `a = ⌊K·n/N⌋`, `b = ⌊(K+1)·n/N⌋`.

    Examples:
        >>> [shard_range(10, (k, 3)) for k in range(3)]
        [(0, 3), (3, 6), (6, 10)]
    """
    k, n = shard
    if not (isinstance(k, int) and isinstance(n, int)) or n < 1 or not 0 <= k < n:
        raise GeomflowError(f"shard must be K/N with 0 ≤ K < N, got {k}/{n}")
    return (k * samples) // n, ((k + 1) * samples) // n


def parse_shard(text: str) -> tuple[int, int]:
    """Parse `K/N` (0-based shard `K` of `N`)."""
    try:
        k, n = (int(t) for t in str(text).split("/"))
    except ValueError:
        raise GeomflowError(f"--shard must be K/N with 0 ≤ K < N (e.g. 0/4), got {text!r}") from None
    shard_range(1, (k, n))
    return k, n


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """Everything a sweep needs. `from_dict` accepts the keys of a `--config` TOML file.

    - `spec`: the [`ProblemSpec`][]; `samples`, `seed`.
    - `method`, `solver`, `precision`: see [`FlowConfig`][geomflow._flow.FlowConfig].
    - `tolerances`: overrides of [`FlowTolerances`][geomflow._flow.FlowTolerances] (a dict).
    - `chunk_size`: samples per chunk file; `pool_size`, `round_steps`, `block_width`: the
      scheduler (`None`: the backend's defaults, see `geomflow._scheduler.Backend`).
    - `n_devices`: devices to split pools over; `shard = (K, N)`: this process's part of the range.
    - `out`: output directory (None: keep in memory); `progress`: progress with ETA on stderr.
    - `loss_star`: your `L*` (the global minimum value), `no_bad_minima`: your claim that every
      local minimum is global; with them the classifier decides global vs non-global.
    - `ed_globality`: perturbed loss on a non-filling linear network: split the `local_min`
      samples into global / non-global with the ED engine (the summary's `ed_globality`).

    **Raises:** `GeomflowError` for a count ≤ 0 or a value of the wrong type.

    Examples:
        >>> SweepConfig(ProblemSpec((3, 2, 2, 3)), samples=0)
        Traceback (most recent call last):
        ...
        geomflow._errors.GeomflowError: samples must be a positive integer, got 0
    """

    spec: ProblemSpec
    samples: int
    seed: int = 0
    method: str = "flow"
    solver: str = "auto"
    precision: str = "float64"
    tolerances: tuple = ()
    chunk_size: int = 1000
    pool_size: int | None = None
    round_steps: int = 50
    n_devices: int = 1
    shard: tuple[int, int] = (0, 1)
    out: str | None = None
    progress: bool = False
    block_width: int | None = None
    loss_star: float | None = None
    no_bad_minima: bool | None = None
    ed_globality: bool = True

    def __post_init__(self):
        from ._flow import FlowConfig, FlowTolerances

        tol = dict(self.tolerances)
        object.__setattr__(self, "tolerances", tuple(sorted(tol.items())))
        for name in ("samples", "chunk_size", "pool_size", "round_steps", "n_devices", "block_width"):
            v = getattr(self, name)
            if v is None and name in ("pool_size", "block_width"):
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise GeomflowError(f"{name} must be a positive integer, got {v!r}")
        if self.loss_star is not None:
            ls = self.loss_star
            if isinstance(ls, bool) or not isinstance(ls, int | float) or not math.isfinite(ls):
                raise GeomflowError(f"loss_star must be a finite number, got {ls!r}")
            object.__setattr__(self, "loss_star", float(ls))
        if self.no_bad_minima is not None and not isinstance(self.no_bad_minima, bool):
            raise GeomflowError(f"no_bad_minima must be true or false, got {self.no_bad_minima!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise GeomflowError(f"seed must be a non-negative integer, got {self.seed!r}")
        FlowConfig(self.method, self.solver, self.precision)
        FlowTolerances.for_precision(self.precision, **tol)
        shard_range(self.samples, tuple(self.shard))

    @classmethod
    def from_dict(cls, d: dict) -> SweepConfig:
        d = dict(d)
        spec_keys = {f.name for f in dataclasses.fields(ProblemSpec)}
        spec_args = {k: d.pop(k) for k in list(d) if k in spec_keys}
        if "widths" not in spec_args:
            raise GeomflowError("a sweep needs widths, e.g. widths = [3, 2, 2, 3]")
        spec_args["widths"] = tuple(spec_args["widths"])
        if "tolerances" in d:
            d["tolerances"] = tuple(dict(d["tolerances"]).items())
        if "shard" in d and isinstance(d["shard"], str):
            d["shard"] = parse_shard(d["shard"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise GeomflowError(
                f"unknown sweep option(s) {', '.join(unknown)}; accepted: "
                f"{', '.join(sorted((known | spec_keys) - {'spec'}))}"
            )
        return cls(spec=ProblemSpec(**spec_args), **d)

    @property
    def flow_config(self):
        from ._flow import FlowConfig

        return FlowConfig(self.method, self.solver, self.precision)

    @property
    def flow_tolerances(self):
        from ._flow import FlowTolerances

        return FlowTolerances.for_precision(self.precision, **dict(self.tolerances))

    def problem_dict(self) -> dict:
        """What determines the per-sample results (the fingerprint covers exactly this)."""
        return {
            "spec": self.spec.to_dict(),
            "samples": self.samples,
            "seed": self.seed,
            "method": self.method,
            "solver": self.solver,
            "precision": self.precision,
            "tolerances": {k: float(v) for k, v in self.flow_tolerances._asdict().items()},
            "loss_star": self.loss_star,
            "no_bad_minima": self.no_bad_minima,
        }

    def fingerprint(self) -> str:
        """Hash of everything that determines the per-sample numbers: the problem, method,
        tolerances and seed, plus the numerical code itself (see `numerics_fingerprint`), so a
        sweep is never resumed or merged across code or JAX versions that could round
        differently. The sample count is not part of it: sample `i` depends only on the seed and
        `i`, so a sweep re-run in its directory with more samples keeps the chunks it has and
        computes only the new ones (and one with fewer reads back the first ones)."""
        problem = {k: v for k, v in self.problem_dict().items() if k != "samples"}
        blob = json.dumps(problem, sort_keys=True).encode() + numerics_fingerprint().encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_dict(self) -> dict:
        d = self.problem_dict()
        d.update(chunk_size=self.chunk_size, pool_size=self.pool_size,
                 round_steps=self.round_steps, n_devices=self.n_devices, shard=list(self.shard),
                 block_width=self.block_width, ed_globality=self.ed_globality)
        return d


@dataclasses.dataclass
class SweepResult:
    """Records (dict of numpy arrays, sorted by index) and the summary of a sweep."""

    config: dict
    records: dict
    needed: int
    executed: int
    wall_s: float
    chunks_skipped: int = 0
    ed_globality: dict | None = None

    @property
    def samples(self) -> int:
        return int(np.asarray(self.records["index"]).size)

    @property
    def categories(self) -> np.ndarray:
        return categories(self.records)

    @property
    def tally(self) -> dict:
        return tally(self.records, loss=self.config["spec"]["loss"])

    @property
    def useful_work_fraction(self) -> float:
        return self.needed / self.executed if self.executed else float("nan")

    def summary(self) -> dict:
        """The JSON summary (what `geomflow flow --json` prints)."""
        t = self.tally
        n = self.samples
        k = t.get("global_min", 0)
        lo, hi = wilson_interval(k, n)
        drift = np.asarray(self.records["delta_drift"])
        conv = np.asarray(self.records["status"]) == 0
        return {
            "samples": n,
            "tally": t,
            "fraction_global_min": {"value": k / n if n else float("nan"), "wilson_95": [lo, hi]},
            "fractions": {c: {"value": v / n if n else float("nan"), "wilson_95": list(wilson_interval(v, n))}
                          for c, v in t.items()},
            "max_delta_drift": float(drift.max()) if drift.size else 0.0,
            "max_delta_drift_converged": float(drift[conv].max()) if conv.any() else 0.0,
            "useful_work_fraction": self.useful_work_fraction,
            "steps_mean": float(np.mean(self.records["steps"])) if n else 0.0,
            "wall_s": self.wall_s,
            "samples_per_s": n / self.wall_s if self.wall_s > 0 else float("nan"),
            "chunks_skipped": self.chunks_skipped,
            **drift_summary(self.records, self.config["tolerances"].get("drift_tol", 1e-8)),
            **({"ed_globality": self.ed_globality} if self.ed_globality is not None else {}),
            "config": self.config,
        }

    def table(self) -> dict:
        """A tidy per-sample table (columns → arrays), with `category` and `fibre` as strings."""
        return records_table(self.records)

    def to_pandas(self):
        """The per-sample table as a pandas DataFrame, one row per sample.

        Examples:
            >>> cfg = SweepConfig(ProblemSpec((2, 2, 2), data="whitened"), samples=4)
            >>> df = run_flow_sweep(cfg).to_pandas()
            >>> len(df), int((df["category"] == "global_min").sum())
            (4, 4)
        """
        import pandas as pd

        return pd.DataFrame(self.table())

    def export(self, path: str) -> str:
        """Write the per-sample table: Parquet if the path ends in `.parquet` (needs pyarrow), else
        CSV. Returns the path written."""
        tab = self.table()
        cols = ["index", "category"] + [k for k in tab if k not in ("index", "category")]
        if path.endswith(".parquet"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({k: list(tab[k]) if tab[k].dtype == object else tab[k] for k in cols}), path)
            return path
        import csv
        import io

        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        w.writerow(cols)
        for i in range(self.samples):
            w.writerow([_fmt(tab[k][i]) for k in cols])
        atomic_write_text(path, buf.getvalue())
        return path


def _fmt(x):
    if isinstance(x, (np.floating, float)):
        return repr(float(x))
    if isinstance(x, (np.bool_, bool)):
        return int(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def versions() -> dict:
    import jax

    from . import __version__

    out = {"geomflow": __version__, "jax": jax.__version__, "numpy": np.__version__,
           "python": platform.python_version(), "numerics_fingerprint": numerics_fingerprint()}
    for mod in ("diffrax", "equinox", "optax"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover
            pass
    return out


def _concat(parts: Sequence[dict]) -> dict:
    if not parts:
        return {}
    rec = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(rec["index"], kind="stable")
    return {k: v[order] for k, v in rec.items()}


class _Progress:
    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.done, self.t0 = total, enabled, 0, time.perf_counter()

    def update(self, n: int):
        self.done += n
        if not self.enabled or self.total == 0:
            return
        el = time.perf_counter() - self.t0
        rate = self.done / el if el > 0 else float("nan")
        eta = (self.total - self.done) / rate if rate and rate > 0 else float("nan")
        print(f"geomflow flow: {self.done}/{self.total} samples ({100 * self.done / self.total:.0f}%), "
              f"{rate:.1f} samples/s, ETA {_hms(eta)}", file=sys.stderr, flush=True)


def _hms(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


# ---------------------------------------------------------------------------------------------
# Running


@x64
def run_flow_sweep(config: SweepConfig | dict) -> SweepResult:
    """Run (or resume) a sweep and return its [`SweepResult`][].

    Computes in float64 (and classifies in float64 for `precision="float32"`) whatever the
    caller's `jax_enable_x64`. A converged sample whose relative drift of the conserved
    quantities exceeds `drift_tol` is integrated again with `rtol`, `atol` times
    `drift_retry_scale` (its record marked `drift_retried`); the summary counts the samples still
    over the bound (`over_drift_bound`). For a perturbed loss on a non-filling linear network the
    `local_min` samples are split into global / non-global by the ED engine
    (`summary()["ed_globality"]`; off with `ed_globality=False`).

    Samples of the shard's index range are run in chunks of `chunk_size` consecutive indices
    (aligned to multiples of `chunk_size`, so shards of one sweep produce disjoint chunk files).
    With `config.out` set, finished chunks found there (same fingerprint, checksum verified) are
    skipped, new ones written atomically as they complete, and `run.json`, `summary.json` and
    `samples.csv` written at the end.

    **Raises:** `GeomflowError` if `out` holds chunks of a different configuration.

    Examples:
        >>> import geomflow as gf
        >>> cfg = gf.SweepConfig(gf.ProblemSpec((2, 2, 2), data="whitened"), samples=8)
        >>> gf.run_flow_sweep(cfg).summary()["tally"]["global_min"]
        8
    """
    return _run_flow_sweep(config)


def _retry_over_drift(config, rec, idx, tol):
    """Re-integrate the converged samples over the drift bound at tighter tolerances."""
    from ._flow import finalise_batch, run_batch

    rec["drift_retried"] = np.zeros(idx.size, bool)
    bad = np.nonzero((rec["status"] == 0) & (rec["delta_drift"] > float(tol.drift_tol)))[0]
    if not bad.size:
        return rec
    k = float(tol.drift_retry_scale)
    tight = tol._replace(rtol=tol.rtol * k, atol=tol.atol * k)
    raw, _ = run_batch(config.spec, config.flow_config, config.seed, idx[bad], tight,
                       pool_size=config.pool_size, round_steps=config.round_steps,
                       n_devices=config.n_devices, block_width=config.block_width)
    again = finalise_batch(config.spec, config.flow_config, config.seed, idx[bad], raw, tight,
                           loss_star=config.loss_star, no_bad_minima=config.no_bad_minima)
    for key, v in again.items():
        rec[key][bad] = v
    rec["drift_retried"][bad] = True
    return rec


def _run_flow_sweep(config) -> SweepResult:
    import jax

    from ._flow import run_batch

    if isinstance(config, dict):
        config = SweepConfig.from_dict(config)
    t0 = time.perf_counter()
    a, b = shard_range(config.samples, tuple(config.shard))
    c = config.chunk_size
    chunks = [(max(a, s), min(b, s + c)) for s in range((a // c) * c, b, c) if max(a, s) < min(b, s + c)]
    fp = config.fingerprint()
    out = config.out
    done_parts: dict[tuple[int, int], dict] = {}
    if out:
        os.makedirs(out, exist_ok=True)
        run_path = os.path.join(out, "run.json")
        if os.path.exists(run_path):
            with open(run_path) as fh:
                old = json.load(fh)
            if old.get("fingerprint") != fp:
                raise GeomflowError(
                    f"{out} holds a sweep with a different configuration or different numerical code/JAX "
                    f"versions (fingerprint {old.get('fingerprint')} ≠ {fp}); use another --out directory"
                )
        atomic_write_json(run_path, {
            "fingerprint": fp, "config": config.to_dict(), "versions": versions(),
            "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()[: config.n_devices]],
            "shard": list(config.shard), "index_range": [a, b], "chunk_size": c,
        })
        for meta in _chunk_metas(out):
            key = (meta.get("start"), meta.get("stop"))
            if meta.get("fingerprint") == fp and key in set(chunks):
                rec = _read_chunk(out, meta)
                if rec is not None:
                    done_parts[key] = rec
    pending = [ch for ch in chunks if ch not in done_parts]
    progress = _Progress(sum(q - p for p, q in chunks), config.progress)
    progress.update(sum(q - p for p, q in done_parts))
    spec, fcfg, tol = config.spec, config.flow_config, config.flow_tolerances
    needed = executed = 0
    new_parts: dict[tuple[int, int], dict] = {}
    ctx = _precision_context(config.precision)
    # Groups of chunks go through the pool together, so the pool stays full across chunk ends.
    from ._scheduler import Backend

    pool = Backend.for_platform(block_width=config.block_width, pool_size=config.pool_size).pool_size
    group_limit = max(config.chunk_size, 16 * pool)
    groups, cur, size = [], [], 0
    for ch in pending:
        cur.append(ch)
        size += ch[1] - ch[0]
        if size >= group_limit:
            groups.append(cur)
            cur, size = [], 0
    if cur:
        groups.append(cur)
    with ctx:
        for group in groups:
            idx = np.concatenate([np.arange(p, q) for p, q in group])
            start_of = {}
            off = 0
            for ch in group:
                start_of[ch] = off
                off += ch[1] - ch[0]
            remaining = {ch: ch[1] - ch[0] for ch in group}
            owner = np.concatenate([np.full(q - p, i) for i, (p, q) in enumerate(group)])
            def on_finished(positions, raw, group=group, remaining=remaining, start_of=start_of,
                            owner=owner, idx=idx):
                for i in np.unique(owner[positions]):
                    ch = group[i]
                    remaining[ch] -= int(np.count_nonzero(owner[positions] == i))
                    if remaining[ch] == 0:
                        s0 = start_of[ch]
                        sl = slice(s0, s0 + ch[1] - ch[0])
                        part = {k: v[sl] for k, v in raw.items()}
                        rec = _finalise_records(config, idx[sl], part)
                        new_parts[ch] = rec
                        if out:
                            _write_chunk(out, ch[0], ch[1], rec, {
                                "fingerprint": fp, "needed": int(np.sum(rec["steps"])),
                            })
                        progress.update(ch[1] - ch[0])

            _, stats = run_batch(spec, fcfg, config.seed, idx, tol, pool_size=config.pool_size,
                                 round_steps=config.round_steps, n_devices=config.n_devices,
                                 block_width=config.block_width, on_finished=on_finished)
            needed += stats.needed
            executed += stats.executed
    records = _concat([*done_parts.values(), *new_parts.values()])
    res = SweepResult(config.to_dict(), records, needed, executed, time.perf_counter() - t0,
                      chunks_skipped=len(done_parts))
    if config.ed_globality and _needs_ed_globality(spec):
        from ._globality import resolve_local_minima

        res.ed_globality = resolve_local_minima(res)
        res.wall_s = time.perf_counter() - t0
    if out:
        _finish_dir(out, res)
    return res


@x64
def rerun_samples(config: SweepConfig | dict, indices) -> dict:
    """Run the samples `indices` of a sweep's configuration again, alone, through the same
    scheduler, finalisation and drift retry as [`run_flow_sweep`][]: the records are
    bit-identical to the sweep's (on the same backend and block width), so a flow a sweep
    reports (say, one that did not end at a global minimum) can be examined by itself. Like
    `run_flow_sweep`, it computes in float64 whatever the caller's `jax_enable_x64`.

    **Returns:** a dict of numpy arrays, one entry per record field, in the order of `indices`.

    Examples:
        >>> import geomflow as gf
        >>> cfg = gf.SweepConfig(gf.ProblemSpec((2, 2, 2), data="whitened"), samples=8)
        >>> rec = gf.rerun_samples(cfg, [5, 2])
        >>> rec["index"].tolist(), [gf.CLASS_NAMES[k] for k in rec["label"]]
        ([5, 2], ['global_min', 'global_min'])
    """
    from ._flow import run_batch

    if isinstance(config, dict):
        config = SweepConfig.from_dict(config)
    idx = np.asarray(indices, np.int64).reshape(-1)
    if idx.size == 0 or np.any(idx < 0) or np.any(idx >= config.samples):
        raise GeomflowError(f"indices must be a non-empty list of sample indices in [0, {config.samples}), "
                            f"got {idx.tolist()}")
    spec, fcfg, tol = config.spec, config.flow_config, config.flow_tolerances
    ctx = _precision_context(config.precision)
    with ctx:
        raw, _ = run_batch(spec, fcfg, config.seed, idx, tol, pool_size=config.pool_size,
                           round_steps=config.round_steps, n_devices=config.n_devices,
                           block_width=config.block_width)
        return _finalise_records(config, idx, raw)


def _finalise_records(config: SweepConfig, idx, raw: dict) -> dict:
    """A chunk's records from its finished runs: polish and classify (`finalise_batch`), then
    re-integrate the converged ones over the drift bound (the one path of sweeps and reruns)."""
    from ._flow import finalise_batch

    tol = config.flow_tolerances
    rec = finalise_batch(config.spec, config.flow_config, config.seed, idx, raw, tol,
                         loss_star=config.loss_star, no_bad_minima=config.no_bad_minima)
    return _retry_over_drift(config, rec, idx, tol)


def _precision_context(precision: str):
    """`jax.default_matmul_precision("highest")` for float32 sweeps, a no-op otherwise."""
    import jax

    return jax.default_matmul_precision("highest") if precision == "float32" else _null()


def _needs_ed_globality(spec: ProblemSpec) -> bool:
    """A perturbed distance on a non-filling linear network: `L*` has no closed form."""
    return spec.loss == "perturbed" and spec.model is None and not spec.arch.filling


def _null():
    import contextlib

    return contextlib.nullcontext()


def _finish_dir(out: str, res: SweepResult) -> None:
    summary = res.summary()
    atomic_write_json(os.path.join(out, "summary.json"), summary)
    try:
        import pyarrow  # noqa: F401

        res.export(os.path.join(out, "samples.parquet"))
    except ImportError:
        pass
    res.export(os.path.join(out, "samples.csv"))


def load_sweep(out: str) -> SweepResult:
    """Read a sweep directory (all verified chunks) into a [`SweepResult`][]."""
    with open(os.path.join(out, "run.json")) as fh:
        run = json.load(fh)
    a, b = run.get("index_range", [0, run["config"]["samples"]])
    parts = []
    for meta in _chunk_metas(out):
        if meta.get("fingerprint") != run["fingerprint"] or not a <= meta["start"] < meta["stop"] <= b:
            continue
        rec = _read_chunk(out, meta)
        if rec is None:
            raise GeomflowError(f"{out}/{meta['file']} is missing or fails its checksum")
        parts.append(rec)
    return SweepResult(run["config"], _concat(parts), 0, 0, 0.0)


def merge_sweeps(dirs: Sequence[str], out: str) -> SweepResult:
    """Merge the chunk files of several sweep directories (e.g. shards) into `out`.

    Checks that every directory ran the same configuration (fingerprint), that every chunk
    verifies against its checksum, and that the chunks tile `[0, samples)` exactly.

    **Raises:** `GeomflowError` naming any missing or doubled index range, or a mismatch.
    """

    if not dirs:
        raise GeomflowError("merge needs at least one sweep directory")
    runs, metas = [], []
    for d in dirs:
        path = os.path.join(d, "run.json")
        if not os.path.exists(path):
            raise GeomflowError(f"{d} is not a sweep directory (no run.json)")
        with open(path) as fh:
            run = json.load(fh)
        runs.append(run)
        a, b = run.get("index_range", [0, run["config"]["samples"]])
        for m in _chunk_metas(d):
            if m.get("fingerprint") == run["fingerprint"] and a <= m["start"] < m["stop"] <= b:
                metas.append((d, m))
    fps = {r["fingerprint"] for r in runs}
    if len(fps) != 1:
        raise GeomflowError(f"cannot merge sweeps of different configurations (fingerprints {sorted(fps)})")
    counts = sorted({r["config"]["samples"] for r in runs})
    if len(counts) != 1:
        raise GeomflowError(f"cannot merge shards of sweeps of different sizes (samples {counts})")
    samples = counts[0]
    metas.sort(key=lambda dm: (dm[1]["start"], dm[1]["stop"]))
    pos = 0
    problems = []
    for d, m in metas:
        a, b = m["start"], m["stop"]
        if a < pos:
            problems.append(f"[{a}, {b}) doubled (overlaps indices below {pos}, in {d})")
        elif a > pos:
            problems.append(f"[{pos}, {a}) missing")
        pos = max(pos, b)
    if pos < samples:
        problems.append(f"[{pos}, {samples}) missing")
    if problems:
        raise GeomflowError(f"index ranges do not tile [0, {samples}): {'; '.join(problems)}")
    os.makedirs(out, exist_ok=True)
    parts = []
    for d, m in metas:
        rec = _read_chunk(d, m)
        if rec is None:
            raise GeomflowError(f"{d}/{m['file']} is missing or fails its checksum")
        parts.append(rec)
        if os.path.abspath(d) != os.path.abspath(out):
            for ext in (".npz", ".json"):
                with open(os.path.join(d, m["file"][:-4] + ext), "rb") as fh:
                    atomic_write_bytes(os.path.join(out, m["file"][:-4] + ext), fh.read())
    merged = dict(runs[0])
    merged.update(shard=[0, 1], index_range=[0, samples], merged_from=[os.path.abspath(d) for d in dirs])
    atomic_write_json(os.path.join(out, "run.json"), merged)
    res = SweepResult(runs[0]["config"], _concat(parts), 0, 0, 0.0)
    _finish_dir(out, res)
    return res


__all__: list[Any] = [
    "SweepConfig", "SweepResult", "run_flow_sweep", "rerun_samples", "merge_sweeps", "load_sweep",
    "wilson_interval", "tally", "categories", "shard_range", "parse_shard", "compare_precisions",
    "CATEGORIES",
]
