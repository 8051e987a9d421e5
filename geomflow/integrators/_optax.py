"""optax methods (gradient descent, momentum, Adam) as member integrators: `t = steps · lr`."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from ._base import Vmapped
from ._members import MemberIntegrator


@dataclasses.dataclass(frozen=True)
class OptaxMethod(MemberIntegrator):
    """`"gd"` (`optax.sgd`), `"momentum"` (`optax.sgd(lr, momentum=0.9)`) or `"adam"`."""

    name: str
    needs_hessian = False

    def layout(self, lanes: int):
        return Vmapped()

    def _optimiser(self, lr):
        import optax

        if self.name == "gd":
            return optax.sgd(lr)
        if self.name == "momentum":
            return optax.sgd(lr, momentum=0.9)
        return optax.adam(lr)

    def _init(self, model, loss, v, t0, tol, dtype):
        return jnp.asarray(tol.learning_rate, dtype), self._optimiser(tol.learning_rate).init(v), ()

    def _step(self, model, loss, s, tol, dtype):
        import optax

        g = model.grad(s.y, model.prepare(loss))
        # optax mixes Python floats with its int32 step count (`decay**count`): standard promotion
        # here, so the method also runs under a caller's `jax_numpy_dtype_promotion="strict"`.
        with jax.numpy_dtype_promotion("standard"):
            updates, ostate = self._optimiser(tol.learning_rate).update(g, s.solver_state, s.y)
        y = optax.apply_updates(s.y, updates)
        return s._replace(y=y, t=s.t + tol.learning_rate, solver_state=ostate,
                          accepted=s.accepted + 1), jnp.asarray(True)
