"""Any diffrax solver as a member integrator, driven by geomflow's own loop with diffrax's
`PIDController`, so the complete state (including the next step size) can be saved, compacted
and continued exactly."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from ._base import Sequential, Vmapped
from ._members import MemberIntegrator

# diffrax solver class names, for the solvers a user may pick by name.
DIFFRAX_SOLVERS = {"tsit5": "Tsit5", "dopri5": "Dopri5", "dopri8": "Dopri8", "bosh3": "Bosh3",
                   "kvaerno5": "Kvaerno5", "kvaerno3": "Kvaerno3"}


@dataclasses.dataclass(frozen=True)
class DiffraxSolver(MemberIntegrator):
    """A diffrax solver `diffrax.<cls_name>` (implicit ones with a `VeryChord` root finder at
    `newton_tol`). Implicit solvers run their members one after another (`Sequential`: a
    vmapped LU rounds differently with the batch's composition); explicit ones are vmapped
    (bitwise batch-independent, measured)."""

    cls_name: str
    implicit: bool = False

    @property
    def name(self):
        return self.cls_name.lower()

    needs_hessian = False

    def layout(self, lanes: int):
        return Sequential(32) if self.implicit else Vmapped()

    def _solver(self, tol):
        import diffrax
        import optimistix as optx

        cls = getattr(diffrax, self.cls_name)
        if self.implicit:
            # The chord iteration has its own tolerance: in float32 a chord solve to the step
            # controller's rtol does not converge (steps of 1e-5, half of them rejected).
            root = diffrax.VeryChord(rtol=tol.newton_tol, atol=tol.newton_tol * tol.atol / tol.rtol,
                                     norm=optx.rms_norm)
            return cls(root_finder=root)
        return cls()

    def _term(self, model):
        import diffrax

        return diffrax.ODETerm(lambda t, y, loss: -model.grad(y, model.prepare(loss)))

    def _init(self, model, loss, v, t0, tol, dtype):
        import diffrax

        solver = self._solver(tol)
        term = self._term(model)
        controller = diffrax.PIDController(rtol=tol.rtol, atol=tol.atol)
        t1, cstate = controller.init(term, t0, tol.t_max, v, None, loss, solver.func,
                                     solver.error_order(term))
        dt = jnp.maximum(jnp.minimum(t1, tol.t_max) - t0, jnp.finfo(dtype).tiny).astype(dtype)
        sstate = solver.init(term, t0, t0 + dt, v, loss)
        return dt, sstate, jax.tree.map(jnp.asarray, cstate)

    def _step(self, model, loss, s, tol, dtype):
        import diffrax

        solver = self._solver(tol)
        term = self._term(model)
        controller = diffrax.PIDController(rtol=tol.rtol, atol=tol.atol)
        order = solver.error_order(term)
        t0 = s.t
        t1 = jnp.minimum(t0 + s.dt, tol.t_max)
        y1, yerr, _, sstate, _ = solver.step(term, t0, t1, s.y, loss, s.solver_state, s.made_jump)
        yerr = jax.tree.map(lambda e: jnp.where(jnp.isnan(e), jnp.inf, e), yerr)
        keep, tprev, tnext, jump, cstate, _ = controller.adapt_step_size(
            t0, t1, s.y, y1, loss, yerr, order, s.controller_state)
        tnext = jnp.where(tnext > tol.t_max * (1 - 1e-12), tol.t_max, tnext)
        y = jnp.where(keep, y1, s.y)
        sstate = jax.tree.map(lambda a, b: jnp.where(keep, a, b), sstate, s.solver_state)
        jump = jnp.where(keep, jump, s.made_jump)
        t = jnp.where(keep, tprev, t0)
        dt = jnp.maximum(tnext - t, jnp.finfo(dtype).tiny)
        return s._replace(y=y, t=t.astype(dtype), dt=dt.astype(dtype), solver_state=sstate,
                          controller_state=cstate, made_jump=jump,
                          accepted=s.accepted + keep.astype(jnp.int32)), keep


def diffrax_solver(name: str) -> DiffraxSolver:
    """The [`DiffraxSolver`][] for a lower-case diffrax solver name (`"kvaerno5"`, `"dopri5"`, …)."""
    return DiffraxSolver(DIFFRAX_SOLVERS[name], implicit=name.startswith("kvaerno"))
