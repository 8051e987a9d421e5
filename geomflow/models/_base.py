"""The model protocol: what is being trained, `w ↦ μ(w)`, on batch-last arrays.

A model is a hashable (static) object that says

- `param_shapes`: the shapes of its weight leaves (one sample), e.g. `((d_1, d_0), …)`;
- `out_shape`: the shape of the end-to-end object `μ(w)`, a matrix `(m, n)` that the losses of
  `geomflow._losses` act on;
- `end_to_end(leaves)`: `μ` on leaves whose samples are trailing axes (`(*shape, *b)`), written
  with batch-last operations (`geomflow.batchlast`: products, sums, elementwise functions);
- `conserved(v)`: quantities that gradient flow keeps constant (for every loss `ℓ ∘ μ`), from
  the flat weights `v (d_w, *b)`; their relative drift is recorded for every run;
- `image_dim`: the generic rank of `dμ` (the dimension of the image of `μ`), for the Morse–Bott
  test of the classifier;
- optionally faster closed forms (`grad`), fibre labels (`fibre`), closed-form `L*`, a theory
  claim (`no_bad_minima`), and a `classify` of its own.

By default the gradient `∇L = dμᵀ ∇ℓ(μ)` comes from `jax.vjp` of `end_to_end` and the Hessian
from a forward-mode derivative of the gradient, both on the batch-last layout (autodiff keeps
it: every operation is elementwise across samples), so a new model runs on the fast path with no
hand-written derivative. The classifier of a model without its own is
[`spectral_classification`][].
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import _batchlast as B
from .._critical import (
    GLOBAL_MIN,
    LOCAL_MIN,
    NON_GLOBAL_LOCAL_MIN,
    NON_STRICT_SADDLE,
    NOT_CRITICAL,
    STRICT_SADDLE,
    UNDECIDED,
    ZERO_HESSIAN,
    CriticalReport,
)
from .._errors import GeomflowError
from .._invariants import relative_drift


def _size(shape) -> int:
    n = 1
    for x in shape:
        n *= x
    return n


class Model:
    """Base class of the models (see the module docstring); subclasses are frozen dataclasses."""

    param_shapes: tuple = ()
    out_shape: tuple = ()
    name = "model"

    # -- layout ----------------------------------------------------------------------------
    @property
    def num_params(self) -> int:
        return sum(_size(s) for s in self.param_shapes)

    def flatten(self, leaves):
        """Leaves `(*shape_i, *b)` → flat `(d_w, *b)` (row-major per leaf)."""
        return jnp.concatenate([jnp.reshape(W, (-1,) + W.shape[len(s):])
                                for W, s in zip(leaves, self.param_shapes)], axis=0)

    def unflatten(self, v):
        """Flat `(d_w, *b)` → the leaves, batch trailing."""
        return B.unflatten(self.param_shapes, v)

    # -- the loss and its derivatives -------------------------------------------------------
    def end_to_end(self, leaves):  # pragma: no cover - abstract
        raise NotImplementedError

    def prepare(self, loss):
        """Per-sample data of `∇ℓ` (batch-last), computed once per round."""
        return loss.batch_last()

    def loss_value(self, v, loss):
        """`L(w) = ℓ(μ(w))` of one sample (flat `v (d_w,)`, no batch axis)."""
        return loss(self.end_to_end(self.unflatten(v)))

    def grad(self, v, data):
        """`∇L(w) = dμ(w)ᵀ ∇ℓ(μ(w))`, batch-last (`jax.vjp`; lanes are independent)."""
        P, pull = jax.vjp(lambda z: self.end_to_end(self.unflatten(z)), v)
        return pull(data.grad(P))[0]

    def hessian(self, v, data):
        """`∇²L(w)`, `(d_w, d_w, *b)`: one forward-mode derivative of the gradient per weight."""
        d = v.shape[0]
        E = jnp.reshape(jnp.eye(d, dtype=v.dtype), (d, d) + (1,) * (v.ndim - 1)) * jnp.ones_like(v)[None]
        cols = jax.vmap(lambda e: jax.jvp(lambda z: self.grad(z, data), (v,), (e,))[1])(E)
        return B.tr(cols)  # cols[j] = H e_j

    # -- conserved quantities ---------------------------------------------------------------
    def conserved(self, v) -> list:
        """The conserved quantities at `v (d_w, *b)` (none by default)."""
        return []

    def symmetry_generators(self, v) -> list:
        """Tangent vectors `(d_w,)` at `v` (one sample) of a group acting on the weights with
        `μ(g·w) = μ(w)` (e.g. the layers' rescalings): its orbit through a critical point is a
        manifold of critical points of equal loss, for the classifier's Morse–Bott test. None by
        default."""
        return []

    def drift(self, c0, v0sq, v):
        """Relative drift `max_k ‖c_k(w) − c_k(w₀)‖ / max(1, ‖w₀‖², ‖w‖²)` of the conserved
        quantities (`c0 = conserved(v0)`, `v0sq = ‖w₀‖²`), batch-last."""
        if not c0:
            return jnp.zeros(v.shape[1:], v.dtype)
        return relative_drift(c0, self.conserved(v), v0sq, B.lsum(v * v), v.ndim - 1)

    # -- facts and finalisation -------------------------------------------------------------
    @property
    def image_dim(self) -> int:
        """The generic rank of `dμ` (default: the dimension of the end-to-end space)."""
        return _size(self.out_shape)

    fibre_len = 0

    def fibre(self, v):
        """A fibre-component label (length `fibre_len`; none by default)."""
        return jnp.zeros((self.fibre_len,), jnp.int8)

    def loss_star(self, loss):
        """`L* = min L` where a closed form is known, else `None`."""
        return None

    def no_bad_minima(self, loss) -> bool:
        """Whether theory excludes non-global local minima (no claim by default)."""
        return False

    def index_set(self, loss, v, tol):
        """The critical index set of the quadratic loss, where the model has one."""
        return jnp.asarray(-1, jnp.int32), jnp.asarray(False)

    def global_by_value(self, loss, v, *, loss_star, tolerances):
        """Whether `v` certainly attains `L*` (a global minimum with no spectral decision), or
        `None` where the model has no such test (then every converged run is classified)."""
        return None

    def classify(self, loss, v, *, loss_star, no_bad_minima, tolerances):
        """Classify the critical point `v` (one sample, float64)."""
        return spectral_classification(self, loss, v, loss_star=loss_star,
                                       no_bad_minima=no_bad_minima, tolerances=tolerances)

    def sample_init(self, init: str, key, scale: float, dtype):
        """Initial leaves of one sample (i.i.d. Gaussian of standard deviation `scale`)."""
        if init != "gaussian":
            raise GeomflowError(f"model {self.name} supports init 'gaussian' only, got {init!r}")
        keys = jax.random.split(key, len(self.param_shapes))
        return tuple(scale * jax.random.normal(k, s, dtype=dtype)
                     for k, s in zip(keys, self.param_shapes))

    def check_weights(self, leaves) -> None:
        """Raise a one-line `GeomflowError` unless the leaves (one sample or a batch with a
        leading sample axis) have this model's shapes."""
        leaves = tuple(leaves)
        if len(leaves) != len(self.param_shapes):
            raise GeomflowError(f"{self.name}: weights must have {len(self.param_shapes)} leaves "
                                f"of shapes {self.param_shapes}, got {len(leaves)}")
        for i, (W, s) in enumerate(zip(leaves, self.param_shapes), start=1):
            shp = tuple(jnp.shape(W))
            if shp != tuple(s) and shp[1:] != tuple(s):
                raise GeomflowError(f"{self.name}: weight leaf {i} must have shape {tuple(s)} "
                                    f"(or (n, *{tuple(s)}) for n samples), got {shp}")

    def to_dict(self) -> dict:
        return {"model": self.name}


def jacobian_rank(model, v, tol):
    """`rank dμ(v)`: singular values above `tol · max(1, σ_max)` (one sample)."""
    J = jax.jacfwd(lambda z: jnp.ravel(model.end_to_end(model.unflatten(z))))(v)
    s = jnp.linalg.svd(J, compute_uv=False)
    return jnp.sum(s > tol * jnp.maximum(1.0, s[0])).astype(jnp.int32)


def spectral_classification(model, loss, v, *, loss_star, no_bad_minima, tolerances):
    """Classify a point `v` of `L = ℓ ∘ μ` from its gradient and Hessian spectrum (any model).

    1. `‖∇L‖ > grad` → `not_critical`; 2. every eigenvalue zero → `zero_hessian`; 3. a negative
    one → `strict_saddle`; 4. PSD with `L ≤ L* + loss·max(1, |L*|)` → `global_min`; 5. PSD above
    `L*` when theory excludes bad minima → `non_strict_saddle`; 6. the Morse–Bott test: `rank dμ`
    at its generic value `image_dim` (so the fibre is a manifold of dimension `d_w − rank dμ`
    on which `L` is constant) and exactly that many zero eigenvalues, or (for a model with
    `symmetry_generators`) exactly as many zero eigenvalues as the dimension of the symmetry
    orbit through `v` (a manifold of critical points of equal loss, so the Hessian is positive
    definite across it: this holds also where `rank dμ` drops, e.g. on the boundary of a
    stride-1 LCN's function space) → a local minimum (`non_global_local_min` given `L*`,
    `global_min` if no bad minima, else `local_min`);
    7. otherwise `undecided` (no higher-order search here; never a guess).

    **Returns:** a `CriticalReport` (`higher_order` is 0).
    """
    tol = tolerances
    f = lambda z: model.loss_value(z, loss)  # noqa: E731
    L = f(v)
    gnorm = jnp.linalg.norm(jax.grad(f)(v))
    H = jax.hessian(f)(v)
    lam = jnp.linalg.eigvalsh(0.5 * (H + H.T))
    scale = jnp.maximum(1.0, jnp.max(jnp.abs(lam)))
    n_zero = jnp.sum(jnp.abs(lam) <= tol.eig * scale).astype(jnp.int32)
    n_neg = jnp.sum(lam < -tol.eig * scale).astype(jnp.int32)
    rank = jacobian_rank(model, v, getattr(tol, "rank", 1e-9))
    d_w = v.shape[0]
    morse_bott = (rank == model.image_dim) & (n_zero == d_w - rank)
    gens = model.symmetry_generators(v)
    if gens:
        sg = jnp.linalg.svd(jnp.stack(gens, axis=1), compute_uv=False)
        orbit = jnp.sum(sg > getattr(tol, "rank", 1e-9) * jnp.maximum(1.0, sg[0])).astype(jnp.int32)
        morse_bott = morse_bott | (n_zero == orbit)
    if loss_star is None:
        is_global = jnp.asarray(False)
        local = GLOBAL_MIN if no_bad_minima else LOCAL_MIN
    else:
        is_global = L - loss_star <= tol.loss * jnp.maximum(1.0, jnp.abs(loss_star))
        local = NON_GLOBAL_LOCAL_MIN
    above = NON_STRICT_SADDLE if (no_bad_minima and loss_star is not None) else jnp.where(
        morse_bott, local, UNDECIDED)
    psd = jnp.where(is_global, GLOBAL_MIN, above)
    label = jnp.where(gnorm > tol.grad, NOT_CRITICAL,
                      jnp.where(n_zero == d_w, ZERO_HESSIAN,
                                jnp.where(n_neg > 0, STRICT_SADDLE, psd))).astype(jnp.int32)
    return CriticalReport(label=label, loss=L, grad_norm=gnorm, eig_min=lam[0], eig_max=lam[-1],
                          n_negative=n_neg, n_zero=n_zero, higher_order=jnp.zeros((), L.dtype),
                          rank_dmu=rank, eig_bound=tol.eig * scale,
                          grad_bound=jnp.asarray(tol.grad, L.dtype),
                          balance_cond=jnp.ones((), L.dtype), descent=jnp.asarray(False))
