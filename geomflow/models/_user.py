"""A user's own model: a JAX function of a tuple of weight leaves written with batch-last
operations, trained on the fast path with gradients and Hessians from autodiff."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .._errors import GeomflowError
from ._base import Model


@dataclasses.dataclass(frozen=True)
class UserModel(Model):
    """`μ = fn(leaves)` for weight leaves of the given shapes, written with batch-last
    operations (`geomflow.batchlast`: `mm`, `mv`, `lsum`, `tr`, and elementwise `jnp` functions),
    so that `fn` maps leaves `(*shape_i, *b)` to an end-to-end matrix `(*out_shape, *b)`.

    **Arguments:**

    - `fn`: the parametrisation; `param_shapes`: the leaves' shapes (one sample);
      `out_shape`: `(m, n)` of `μ(w)`.
    - `conserved_fn`: optional, flat `v (d_w, *b)` → list of conserved quantities (their drift
      is recorded per run).
    - `image_dim`: the generic rank of `dμ` (for the Morse–Bott test; default `m·n`).
    - `name`: a label for records.

    The gradient `dμᵀ∇ℓ` is `jax.vjp` of `fn`, the Hessian a forward-mode derivative of it.

    Examples:
        >>> import jax.numpy as jnp
        >>> from geomflow import batchlast as bl
        >>> deep = UserModel(lambda w: bl.mm(w[1], w[0]), ((2, 3), (3, 2)), (3, 3), image_dim=8)
        >>> deep.num_params
        12
    """

    fn: Callable
    param_shapes: tuple
    out_shape: tuple
    conserved_fn: Callable | None = None
    image_dim_: int | None = None
    name: str = "user"

    def __init__(self, fn, param_shapes, out_shape, conserved_fn=None, image_dim=None, name="user"):
        shapes = tuple(tuple(int(x) for x in s) for s in param_shapes)
        if not shapes:
            raise GeomflowError("a model needs at least one weight leaf")
        if len(tuple(out_shape)) != 2:
            raise GeomflowError(f"out_shape must be (m, n), got {tuple(out_shape)!r}")
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "param_shapes", shapes)
        object.__setattr__(self, "out_shape", tuple(int(x) for x in out_shape))
        object.__setattr__(self, "conserved_fn", conserved_fn)
        object.__setattr__(self, "image_dim_", image_dim)
        object.__setattr__(self, "name", name)

    def end_to_end(self, leaves):
        return self.fn(tuple(leaves))

    def conserved(self, v):
        return [] if self.conserved_fn is None else list(self.conserved_fn(v))

    @property
    def image_dim(self) -> int:
        return super().image_dim if self.image_dim_ is None else int(self.image_dim_)

    def spec_string(self) -> str:
        return f"user:{self.name}"

    def to_dict(self) -> dict:
        return {"model": "user", "name": self.name, "param_shapes": [list(s) for s in self.param_shapes]}
