"""The table of the talk: number of local minima × number of real critical points, over instances."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .._errors import GeomflowError
from .._precision import x64
from ._certify import certify_points
from ._classify import MORSE_TOL, morse_indices, riemannian_hessian_eigenvalues
from ._equations import DISTANCES, weight_matrix
from ._solve import solve_instances, split_real, start_fibre

SAMPLERS = {
    "generic": ("gaussian", "near-identity"),
    "hadamard": ("uniform", "exponential"),
    "frobenius": ("gaussian",),
}


def sample_instance(seed: int, index: int, m: int, n: int, distance: str = "generic",
                    sampler: str | None = None):
    """Instance number `index` of a reproducible stream: `(W, Q)` for `vec(M−Q)ᵀ W vec(M−Q)`.

    Instance `i` depends only on `(seed, i)` (numpy `SeedSequence([seed, i])`), never on how
    many instances are drawn at once. Distributions (`sampler`):

    - generic `"gaussian"` (default): `A ∈ R^{mn×mn}`, `Q ∈ R^{m×n}` i.i.d. N(0,1), `W = AᵀA`.
      This is a *reconstruction*: the talk's exact sampling distribution could not be read; this
      model reproduces its table (MATH.md §3).
    - generic `"near-identity"`: `A = I + 0.3·G`, `G` i.i.d. N(0,1).
    - hadamard `"uniform"` (default): `λ_ij ~ U(0,1)`; `"exponential"`: `λ_ij ~ Exp(1)`;
      `Q` i.i.d. N(0,1).
    - frobenius `"gaussian"`: `Q` i.i.d. N(0,1), `W = I`.

    **Returns:** `(W, Q)` as float arrays `(mn, mn)` and `(m, n)`.

    **Raises:** `GeomflowError` for an unknown distance or sampler.

    Examples:
        >>> W, Q = sample_instance(0, 5, 3, 3)
        >>> W.shape, Q.shape, bool(np.allclose(W, W.T))
        ((9, 9), (3, 3), True)
    """
    if distance not in DISTANCES:
        raise GeomflowError(f"distance must be one of {DISTANCES}, got {distance!r}")
    sampler = sampler or SAMPLERS[distance][0]
    if sampler not in SAMPLERS[distance]:
        raise GeomflowError(
            f"sampler for the {distance} distance must be one of {SAMPLERS[distance]}, got {sampler!r}"
        )
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))
    N = m * n
    if distance == "generic":
        G = rng.standard_normal((N, N))
        A = G if sampler == "gaussian" else np.eye(N) + 0.3 * G
        W = weight_matrix("generic", m, n, A=A)
    elif distance == "hadamard":
        lam = rng.uniform(0.0, 1.0, (m, n)) if sampler == "uniform" else rng.exponential(1.0, (m, n))
        W = weight_matrix("hadamard", m, n, weights=lam)
    else:
        W = np.eye(N)
    Q = rng.standard_normal((m, n))
    return W, Q


@dataclass
class EDTable:
    """Per-instance counts and the aggregated `#minima × #real` table.

    Per instance: `n_found` distinct critical points found by the tracker; `n_real`, `n_min` the
    floating-point classification of those (`REAL_TOL`, `MORSE_TOL`: diagnostics only);
    `n_certified`, `n_cert_real`, `n_cert_min` what the interval certificate proved
    (`certify_points`); `certified` whether every count of the instance is proved (all `degree`
    points certified unique, pairwise distinct, real or non-real, every real one's Morse index)
    and the start fibre passed the trace test. `table` counts certified instances only, with
    their certified counts; the others are listed in `uncertified` (never counted).
    """

    shape: tuple
    rank: int
    distance: str
    sampler: str
    seed: int
    degree: int
    n_real: np.ndarray
    n_min: np.ndarray
    n_found: np.ndarray
    complete: np.ndarray
    degenerate: np.ndarray
    ambiguous: np.ndarray
    min_rank_ok: np.ndarray
    attempts: np.ndarray
    n_certified: np.ndarray = None
    n_cert_real: np.ndarray = None
    n_cert_min: np.ndarray = None
    certified: np.ndarray = None
    fibre_certified: bool = False
    trace_residual: float = float("nan")
    certify_seconds: float = 0.0
    seconds: float = 0.0
    paths: int = 0
    stats: dict = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return len(self.n_real)

    @property
    def uncertified(self) -> list:
        """Indices (within this table, add `start` for the stream index) of the instances
        whose counts are not all proved: they are left out of `table`."""
        return [int(i) for i in np.flatnonzero(~self.certified)]

    @property
    def table(self) -> dict:
        """`{minima: {real: count}}` over certified instances, from certified counts."""
        out: dict = {}
        ok = self.certified
        for nm, nr in zip(self.n_cert_min[ok], self.n_cert_real[ok]):
            out.setdefault(int(nm), {}).setdefault(int(nr), 0)
            out[int(nm)][int(nr)] += 1
        return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}

    def summary(self) -> dict:
        return {
            "shape": f"{self.shape[0]}x{self.shape[1]}",
            "rank": self.rank,
            "distance": self.distance,
            "sampler": self.sampler,
            "seed": self.seed,
            "degree": self.degree,
            "samples": self.samples,
            "complete": int(self.complete.sum()),
            "incomplete": int((~self.complete).sum()),
            "start_fibre_certified_complete": bool(self.fibre_certified),
            "trace_residual": float(self.trace_residual),
            "certified": int(self.certified.sum()),
            "uncertified": self.uncertified,
            "uncertified_detail": [
                {"index": i, "found": int(self.n_found[i]), "certified": int(self.n_certified[i]),
                 "certified_real": int(self.n_cert_real[i]),
                 "certified_minima": int(self.n_cert_min[i])} for i in self.uncertified],
            "table": {str(k): {str(a): b for a, b in v.items()} for k, v in self.table.items()},
            "degenerate_instances": int(self.degenerate.sum()),
            "ambiguous_real_instances": int(self.ambiguous.sum()),
            "seconds": round(self.seconds, 3),
            "certify_seconds": round(self.certify_seconds, 3),
            "paths_tracked": self.paths,
            "tracker": self.stats,
        }

    def format_text(self) -> str:
        tab = self.table
        reals = sorted({r for v in tab.values() for r in v}) or [1]
        cols = list(range(min(reals), max(reals) + 1, 2)) if all(r % 2 for r in reals) else reals
        head = "#min \\ #real | " + " | ".join(f"{c:>5}" for c in cols)
        lines = [
            f"{self.shape[0]}x{self.shape[1]} rank {self.rank}, {self.distance} distance "
            f"({self.sampler}), seed {self.seed}: {self.samples} instances, degree {self.degree}, "
            f"{int(self.complete.sum())} complete, {int((~self.complete).sum())} incomplete; "
            f"start fibre certified complete: {str(self.fibre_certified).lower()} (trace residual "
            f"{self.trace_residual:.2g}); {int(self.certified.sum())} certified, "
            f"{len(self.uncertified)} uncertified (not in the table)"
            + (f": {self.uncertified[:20]}{' …' if len(self.uncertified) > 20 else ''}"
               if self.uncertified else ""),
            head,
            "-" * len(head),
        ]
        for k in sorted(tab):
            lines.append(f"{k:>12} | " + " | ".join(f"{tab[k].get(c, 0):>5}" for c in cols))
        return "\n".join(lines)

    def write(self, outdir: str) -> list[str]:
        """Write `table.json`, `instances.csv` and the heatmap `table.png`/`table.pdf`."""
        os.makedirs(outdir, exist_ok=True)
        paths = []
        p = os.path.join(outdir, "table.json")
        _atomic_write(p, json.dumps(self.summary(), indent=2))
        paths.append(p)
        p = os.path.join(outdir, "instances.csv")
        rows = ["index,n_found,n_certified,n_certified_real,n_certified_minima,certified,"
                "n_real_float,n_minima_float,complete,attempts,degenerate,ambiguous"]
        for i in range(self.samples):
            rows.append(
                f"{i},{self.n_found[i]},{self.n_certified[i]},{self.n_cert_real[i]},"
                f"{self.n_cert_min[i]},{int(self.certified[i])},{self.n_real[i]},{self.n_min[i]},"
                f"{int(self.complete[i])},{self.attempts[i]},{int(self.degenerate[i])},"
                f"{int(self.ambiguous[i])}"
            )
        _atomic_write(p, "\n".join(rows) + "\n")
        paths.append(p)
        paths += self._heatmap(outdir)
        return paths

    def _heatmap(self, outdir):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        tab = self.table
        mins = sorted(tab) or [1]
        reals = sorted({r for v in tab.values() for r in v}) or [1]
        cols = list(range(min(reals), max(reals) + 1, 2)) if all(r % 2 for r in reals) else reals
        rows = list(range(min(mins), max(mins) + 1))
        Z = np.array([[tab.get(k, {}).get(c, 0) for c in cols] for k in rows], dtype=float)
        fig, ax = plt.subplots(figsize=(1 + 0.7 * len(cols), 1 + 0.6 * len(rows)))
        im = ax.imshow(Z, cmap="viridis", origin="lower", aspect="auto")
        for i in range(len(rows)):
            for j in range(len(cols)):
                ax.text(j, i, int(Z[i, j]), ha="center", va="center",
                        color="w" if Z[i, j] < Z.max() / 2 else "k", fontsize=8)
        ax.set_xticks(range(len(cols)), cols)
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel("number of real critical points")
        ax.set_ylabel("number of local minima")
        ax.set_title(f"{self.shape[0]}x{self.shape[1]} rank {self.rank}, {self.distance}, "
                     f"{int(self.certified.sum())} certified instances", fontsize=9)
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        out = []
        for ext in ("png", "pdf"):
            p = os.path.join(outdir, f"table.{ext}")
            tmp = p + ".tmp." + ext
            fig.savefig(tmp, dpi=150)
            os.replace(tmp, p)
            out.append(p)
        plt.close(fig)
        return out


def _atomic_write(path, text):
    tmp = path + ".tmp"
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(tmp, path)


@x64
def classify_instance_points(points, W, Q, r: int, *, tol: float = MORSE_TOL):
    """Real critical points of one instance and their Morse data.

    **Returns:** a dict with `real` (the real critical matrices), `index` (Morse indices),
    `degenerate` (zero Hessian eigenvalue), `minima` (the local minima), `n_nonreal` and
    `n_ambiguous`.
    """
    real, n_nonreal, n_amb = split_real(points)
    ev, _ = riemannian_hessian_eigenvalues(real, W, Q, r)
    idx, deg = morse_indices(ev, tol=tol) if len(real) else (np.zeros(0, int), np.zeros(0, bool))
    return {
        "real": real,
        "index": idx,
        "degenerate": deg,
        "minima": real[(idx == 0) & ~deg],
        "n_nonreal": n_nonreal,
        "n_ambiguous": n_amb,
    }


@x64
def critical_point_table(m: int = 3, n: int = 3, r: int = 1, distance: str = "generic", *,
                         samples: int = 200, seed: int = 0, sampler: str | None = None,
                         start: int = 0, max_attempts: int = 4, batch: int = 2048,
                         chunk: int = 1000, fibre_seed: int = 0) -> EDTable:
    """Count real critical points and local minima of `ℓ_{W,Q}` on `M_r` over random instances.

    For each instance (see `sample_instance` for the distributions) all complex critical points
    are found by a parameter homotopy from the cached start fibre (`solve_instances`) and each
    is certified in ball arithmetic (`certify_points`: unique root, distinct, real or non-real,
    Morse index). The table counts the certified instances with their certified counts; an
    instance with any count not proved is listed in `uncertified` instead. The floating-point
    classification (`‖Im M‖ ≤ REAL_TOL‖M‖`, Riemannian Hessian eigenvalues `> MORSE_TOL·max|λ|`)
    is kept beside it as `n_real`, `n_min` for comparison.

    **Arguments:**

    - `m`, `n`, `r`: shape and rank; `distance`: `"generic"`, `"hadamard"` or `"frobenius"`.
    - `samples`, `seed`, `start`: instances `start … start+samples−1` of the stream `seed`.
    - `sampler`: the instance distribution (default: the first of `SAMPLERS[distance]`).
    - `max_attempts`: path families tracked per instance before it is flagged incomplete.
    - `chunk`: instances tracked together (memory bound).

    **Returns:** an `EDTable`.

    **Raises:** `GeomflowError` for bad shape, rank, distance, sampler or sample count.

    Example (not run as a doctest: it compiles a tracker, a few seconds):

    ```python
    t = critical_point_table(2, 2, 1, "frobenius", samples=3, seed=1)
    t.degree, t.table  # (2, {1: {2: 3}}): Eckart–Young, two real critical points, one minimum
    ```
    """
    if not (isinstance(samples, (int, np.integer)) and samples >= 1):
        raise GeomflowError(f"samples must be a positive integer, got {samples!r}")
    if not (1 <= r <= min(m, n)):
        raise GeomflowError(f"rank must satisfy 1 <= r <= min(m, n) = {min(m, n)}, got {r}")
    sampler = sampler or SAMPLERS.get(distance, ("?",))[0]
    sample_instance(seed, 0, m, n, distance, sampler)  # validates distance and sampler
    t0 = time.perf_counter()
    fib = start_fibre(m, n, r, distance, seed=fibre_seed)
    k = samples
    n_real = np.zeros(k, int)
    n_min = np.zeros(k, int)
    n_found = np.zeros(k, int)
    complete = np.zeros(k, bool)
    degenerate = np.zeros(k, bool)
    ambiguous = np.zeros(k, bool)
    min_rank_ok = np.ones(k, bool)
    attempts = np.zeros(k, int)
    n_cert = np.zeros(k, int)
    n_cert_real = np.zeros(k, int)
    n_cert_min = np.zeros(k, int)
    certified = np.zeros(k, bool)
    t_cert = 0.0
    stats = {"paths": 0, "steps_executed": 0, "steps_needed": 0, "recharts": 0}
    for s in range(0, k, chunk):
        ids = np.arange(s, min(k, s + chunk))
        Ws, Qs = zip(*(sample_instance(seed, start + i, m, n, distance, sampler) for i in ids))
        Ws, Qs = np.array(Ws), np.array(Qs)
        res = solve_instances(Ws, Qs, r, distance, fibre=fib, max_attempts=max_attempts,
                              batch=batch, rng_seed=seed * 1_000_003 + start + s + 1)
        for key in ("paths", "steps_executed", "steps_needed", "recharts"):
            stats[key] += getattr(res.stats, key)
        # Classify all real points of the chunk in a few batched calls.
        reals, owners, amb = [], [], []
        for j, pts in enumerate(res.points):
            R, _, na = split_real(pts)
            reals.append(R)
            owners.append(np.full(len(R), j))
            amb.append(na)
        R = np.concatenate(reals) if reals else np.zeros((0, m, n))
        own = np.concatenate(owners).astype(int)
        if len(R):
            ev, _ = riemannian_hessian_eigenvalues(R, Ws[own], Qs[own], r)
            idx, deg = morse_indices(ev)
            sv = np.linalg.svd(R, compute_uv=False)
        tc = time.perf_counter()
        for j, i in enumerate(ids):
            cert = certify_points(res.points[j], Ws[j], Qs[j], r)
            n_cert[i], n_cert_real[i], n_cert_min[i] = cert.n_certified, cert.n_real, cert.n_minima
            certified[i] = cert.fully_certified(fib.degree) and fib.certified_complete
        t_cert += time.perf_counter() - tc
        for j, i in enumerate(ids):
            mine = own == j
            n_real[i] = int(mine.sum())
            n_found[i] = len(res.points[j])
            complete[i] = res.complete[j]
            attempts[i] = res.attempts[j]
            ambiguous[i] = amb[j] > 0
            if mine.any():
                is_min = (idx[mine] == 0) & ~deg[mine]
                n_min[i] = int(is_min.sum())
                degenerate[i] = bool(deg[mine].any())
                svm = sv[mine][is_min]
                if len(svm):
                    min_rank_ok[i] = bool(np.all(svm[:, r - 1] > 1e-8 * svm[:, 0]))
                    if r < min(m, n):
                        min_rank_ok[i] &= bool(np.all(svm[:, r] <= 1e-8 * svm[:, 0]))
    stats["useful_fraction"] = round(stats["steps_needed"] / max(stats["steps_executed"], 1), 3)
    return EDTable((m, n), r, distance, sampler, seed, fib.degree, n_real, n_min, n_found,
                   complete, degenerate, ambiguous, min_rank_ok, attempts, n_cert, n_cert_real,
                   n_cert_min, certified, bool(fib.certified_complete),
                   float(fib.trace_residual), t_cert, seconds=time.perf_counter() - t0,
                   paths=stats["paths"], stats=stats)


