"""Per-sample random problems for Monte Carlo sweeps: data, losses and initialisations.

Every sample is a pure function of `(seed, index)`: its key is `fold_in(key(seed), index)`, split
into **separate streams** for the data and for the initialisation
(`fold_in(k, 0)` and `fold_in(k, 1)`). A sample therefore never depends on the batch it is
computed in, on the chunking of a sweep, or on the number of devices; and two sweeps that differ
only in the initialisation see exactly the same data.

Data models (`ProblemSpec.data`), for the quadratic loss `ℓ_{X,Y}(M) = ‖MX − Y‖_F²`:

- `gaussian`: `X ∈ R^{d_0×s}`, `Y ∈ R^{d_h×s}` with i.i.d. N(0, 1) entries (for a model with
  `data_features`, e.g. a polynomial network, `X = ν(x_1..x_s)` of Gaussian inputs `x_i`);
- `whitened`: as `gaussian` but `X` has orthonormal rows (`XXᵀ = I`), so
  `ℓ(M) = ‖M − YXᵀ‖² + const`;
- `teacher`: `Y = M_teacher X + noise·E`, `M_teacher = G_h ⋯ G_1` a product of Gaussian matrices
  of the same widths with entries `N(0, 1/d_{i−1})` (so of rank `≤ r`), `E` standard Gaussian.

Hard cases (the atlas's "where it is hard" panel; linear networks):

- `correlated`: `X = C Z` with `Z` Gaussian and `C Cᵀ = (1 − ρ) I + ρ 11ᵀ` (`ρ = correlation`,
  default 0.9: `Σ_XX` far from a multiple of `I`), `Y` Gaussian;
- `close_spectrum`: `X` with orthonormal rows and `Y = Q X`, `Q = U diag(σ) Vᵀ` with Haar frames
  and `σ_i = 1 − (i − 1)·gap` (`gap`, default `1e-3`): all singular values of `Q` nearly equal,
  so the Eckart–Young truncation `σ_r > σ_{r+1}` is by a relative `gap` only;
- `low_rank`: `Y = M X` with `M = G_1 G_2` a product of Gaussian `d_h×k` and `k×d_0` matrices,
  `k = target_rank` (default `r − 1`): `rank Y Xᵀ = k < r`, the global minima lie over a singular
  point of the function space.

For the perturbed distance `ℓ_{A,Q}(M) = ‖A·vec(M − Q)‖²` (`ProblemSpec.loss = "perturbed"`),
`A ∈ R^{N×N}` (`N = d_h d_0`) and `Q ∈ R^{d_h×d_0}` have i.i.d. N(0, 1) entries (the model that
reproduces the talk's ED table, MATH.md §3).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from ._errors import GeomflowError
from ._losses import PerturbedDistance, QuadraticLoss
from ._networks import INITIALISATIONS, Architecture, architecture

DATA_MODELS = ("gaussian", "whitened", "teacher", "correlated", "close_spectrum", "low_rank")
LINEAR_ONLY_DATA = ("teacher", "low_rank")
LOSS_KINDS = ("quadratic", "perturbed")

_DATA_STREAM, _INIT_STREAM = 0, 1


@dataclasses.dataclass(frozen=True)
class ProblemSpec:
    """What one random sample of a sweep is: widths, loss, data model and initialisation.

    Hashable (it is a static argument of the jitted kernels); validated on construction.

    **Arguments:**

    - `widths`: `(d_0, …, d_h)`.
    - `loss`: `"quadratic"` (`‖MX − Y‖²`) or `"perturbed"` (`‖A·vec(M − Q)‖²`).
    - `data`: `"gaussian"`, `"whitened"` or `"teacher"` (quadratic loss only).
    - `n_data`: the number `s` of data points; default `max(10, 2·d_0)`.
    - `noise`: the noise level of the teacher–student model.
    - `correlation`, `gap`, `target_rank`: the parameters of the `correlated`, `close_spectrum`
      and `low_rank` data models (module docstring); defaults 0.9, 1e-3 and `r − 1`.
    - `init`: `"gaussian"`, `"balanced"` or `"orthogonal"` (see `geomflow._networks`).
    - `init_scale`: the scale of the initialisation (e.g. `1e-3` for a small one).

    **Raises:** `GeomflowError` for unknown names or a non-positive scale.

    Examples:
        >>> spec = ProblemSpec((3, 2, 2, 3), data="whitened", init_scale=0.1)
        >>> spec.num_data
        10
    """

    widths: tuple[int, ...]
    loss: str = "quadratic"
    data: str = "gaussian"
    n_data: int | None = None
    noise: float = 0.1
    init: str = "gaussian"
    init_scale: float = 1.0
    model: Any = None
    correlation: float = 0.9
    gap: float = 1e-3
    target_rank: int | None = None

    def __post_init__(self):
        if self.model is not None:
            from .models import LinearNetwork, Model, model_from_string

            m = model_from_string(self.model) if isinstance(self.model, str) else self.model
            if not isinstance(m, Model):
                raise GeomflowError(f"model must be a geomflow model or a name like 'lcn:3,2,2', got {m!r}")
            if isinstance(m, LinearNetwork):  # the linear network is described by its widths
                object.__setattr__(self, "widths", m.widths)
                m = None
            object.__setattr__(self, "model", m)
        if self.model is None:
            object.__setattr__(self, "widths", architecture(self.widths).widths)
        else:
            object.__setattr__(self, "widths", tuple(self.model.out_shape[::-1]))
            if self.data in LINEAR_ONLY_DATA:
                raise GeomflowError(f"the {self.data} data model needs a linear network (--model linear)")
        if self.loss not in LOSS_KINDS:
            raise GeomflowError(f"unknown loss {self.loss!r}; accepted: {', '.join(LOSS_KINDS)}")
        if self.data not in DATA_MODELS:
            raise GeomflowError(f"unknown data model {self.data!r}; accepted: {', '.join(DATA_MODELS)}")
        if self.init not in INITIALISATIONS:
            raise GeomflowError(
                f"unknown initialisation {self.init!r}; accepted: {', '.join(sorted(INITIALISATIONS))}"
            )
        if not (float(self.init_scale) >= 0.0) or self.init_scale != self.init_scale:
            raise GeomflowError(f"init_scale must be a non-negative number, got {self.init_scale!r}")
        object.__setattr__(self, "init_scale", float(self.init_scale))
        object.__setattr__(self, "noise", float(self.noise))
        if self.n_data is not None:
            n = self.n_data
            if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
                raise GeomflowError(f"n_data must be a positive integer, got {n!r}")
        if self.data in ("whitened", "close_spectrum") and self.num_data < self.widths[0]:
            raise GeomflowError(
                f"{self.data} data needs n_data ≥ d_0 = {self.widths[0]} (XXᵀ = I), got {self.num_data}"
            )
        c, g = float(self.correlation), float(self.gap)
        if not 0.0 <= c < 1.0:
            raise GeomflowError(f"correlation must be in [0, 1), got {self.correlation!r}")
        m = min(self.widths[0], self.widths[-1])
        if not (0.0 < g and (m - 1) * g < 1.0):
            raise GeomflowError(f"gap must be in (0, 1/(min(d_0, d_h) − 1)) = (0, {1 / max(m - 1, 1):g}) "
                                f"so that every singular value 1 − (i−1)·gap is positive, got {self.gap!r}")
        object.__setattr__(self, "correlation", c)
        object.__setattr__(self, "gap", g)
        if self.target_rank is not None:
            k = self.target_rank
            if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= m:
                raise GeomflowError(f"target_rank must be an integer in [0, min(d_0, d_h)] = [0, {m}], got {k!r}")

    @property
    def low_rank_k(self) -> int:
        """The rank `k` of the `low_rank` data model's target (default `r − 1`)."""
        return self.target_rank if self.target_rank is not None else max(self.arch.rank - 1, 0)

    @property
    def arch(self) -> Architecture:
        """The linear network's architecture (for another model: the widths `(d_0, d_h)` of its
        end-to-end map)."""
        return architecture(self.widths)

    @property
    def network(self):
        """The model being trained: the given `model`, or the linear network of `widths`."""
        if self.model is not None:
            return self.model
        from .models import LinearNetwork

        return _linear(LinearNetwork, self.widths)

    @property
    def num_data(self) -> int:
        return self.n_data if self.n_data is not None else max(10, 2 * self.widths[0])

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "model"}
        d["widths"] = list(self.widths)
        d["n_data"] = self.num_data
        # A data model's own parameter is listed only with it (so the specs, and the sweep
        # fingerprints, of the other data models do not change with these fields).
        for name, data in (("correlation", "correlated"), ("gap", "close_spectrum"),
                           ("target_rank", "low_rank")):
            if self.data != data:
                d.pop(name)
        if self.data == "low_rank":
            d["target_rank"] = self.low_rank_k
        if self.model is not None:
            d["model"] = self.model.spec_string()
        return d


@functools.lru_cache(maxsize=256)
def _linear(cls, widths):
    return cls(widths)


def sample_keys(seed, index) -> tuple[jax.Array, jax.Array]:
    """The data key and the initialisation key of sample `index` under `seed`.

    `k = fold_in(key(seed), index)`; data from `fold_in(k, 0)`, initialisation from
    `fold_in(k, 1)`. Jittable and vmappable in `index` (and `seed`).

    Examples:
        >>> import jax
        >>> kd, ki = sample_keys(0, 7)
        >>> bool((jax.random.key_data(kd) != jax.random.key_data(ki)).any())
        True
    """
    k = jax.random.fold_in(jax.random.key(seed), index)
    return jax.random.fold_in(k, _DATA_STREAM), jax.random.fold_in(k, _INIT_STREAM)


def _orthonormal_rows(key, m: int, s: int, dtype) -> jax.Array:
    G = jax.random.normal(key, (s, m), dtype=dtype)
    Qm, R = jnp.linalg.qr(G)
    return (Qm * jnp.sign(jnp.diagonal(R))[None, :]).T


def sample_data(key: jax.Array, spec: ProblemSpec, dtype=None):
    """The loss of one sample (a `QuadraticLoss` or a `PerturbedDistance` pytree).

    **Arguments:**

    - `key`: the sample's data key (see [`sample_keys`][]).
    - `spec`: the [`ProblemSpec`][].
    - `dtype`: floating dtype (default: JAX's default float).

    **Returns:** the loss pytree.
    """
    dtype = dtype or jnp.result_type(float)
    d = spec.widths  # (d_0, …, d_h); for a model other than a linear network (d_0, d_h)
    d0, dh, s = d[0], d[-1], spec.num_data
    kx, ky, kt, kn = jax.random.split(key, 4)
    if spec.loss == "perturbed":
        N = d0 * dh
        A = jax.random.normal(kx, (N, N), dtype=dtype)
        Q = jax.random.normal(ky, (dh, d0), dtype=dtype)
        return PerturbedDistance(A, Q)
    # A model whose end-to-end object acts on features of the inputs (a polynomial network's
    # monomials ν(x)) samples the inputs x and maps them: ‖μ(w)ν(X) − Y‖² is the squared error.
    features = getattr(spec.model, "data_features", None)
    d_in = spec.model.data_dim if features is not None else d0
    if spec.data in ("whitened", "close_spectrum"):
        X = _orthonormal_rows(kx, d_in, s, dtype)
    else:
        X = jax.random.normal(kx, (d_in, s), dtype=dtype)
    if spec.data == "correlated":
        rho = spec.correlation
        C = jnp.linalg.cholesky((1 - rho) * jnp.eye(d_in, dtype=dtype) + rho * jnp.ones((d_in, d_in), dtype))
        X = C @ X
    if features is not None:
        X = features(X)
    if spec.data == "close_spectrum":
        m = min(d_in, dh)
        U = _orthonormal_rows(ky, m, dh, dtype).T  # dh × m, orthonormal columns
        V = _orthonormal_rows(kt, m, d_in, dtype).T
        sigma = 1.0 - spec.gap * jnp.arange(m, dtype=dtype)
        return QuadraticLoss(X, ((U * sigma[None, :]) @ V.T) @ X)
    if spec.data == "low_rank":
        k = spec.low_rank_k
        M = jax.random.normal(ky, (dh, k), dtype=dtype) @ jax.random.normal(kt, (k, d_in), dtype=dtype)
        return QuadraticLoss(X, M @ X)
    if spec.data == "teacher":
        keys = jax.random.split(kt, len(d) - 1)
        M = None
        for i, k in enumerate(keys, start=1):
            G = jax.random.normal(k, (d[i], d[i - 1]), dtype=dtype) / jnp.sqrt(d[i - 1]).astype(dtype)
            M = G if M is None else G @ M
        Y = M @ X + spec.noise * jax.random.normal(kn, (dh, s), dtype=dtype)
    else:
        Y = jax.random.normal(ky, (dh, s), dtype=dtype)
    return QuadraticLoss(X, Y)


def sample_init(key: jax.Array, spec: ProblemSpec, dtype=None) -> tuple:
    """The initial weights `(W_1, …, W_h)` of one sample, from its initialisation key."""
    return spec.network.sample_init(spec.init, key, spec.init_scale, dtype or jnp.result_type(float))


def sample_problem(spec: ProblemSpec, seed, index, dtype=None):
    """Loss and initial weights of sample `index`: `(loss, weights0)`.

    Jittable and vmappable in `seed` and `index` (`spec` is static).

    Examples:
        >>> spec = ProblemSpec((2, 2, 2), data="whitened")
        >>> loss, w0 = sample_problem(spec, 0, 3)
        >>> import jax.numpy as jnp
        >>> bool(jnp.allclose(loss.X @ loss.X.T, jnp.eye(2)))
        True
        >>> loss2, w02 = sample_problem(spec, 0, 3)
        >>> bool((w0[0] == w02[0]).all())
        True
    """
    kd, ki = sample_keys(seed, index)
    return sample_data(kd, spec, dtype), sample_init(ki, spec, dtype)
