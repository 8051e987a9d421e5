"""The static part of a run (changing it recompiles): method, solver, precision, polish, and the
stages of integrators it stands for."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from ._errors import GeomflowError
from .integrators import RODAS4, RODAS5P, OptaxMethod, Tsit5, diffrax_solver
from .integrators._diffrax import DIFFRAX_SOLVERS
from .integrators._stopping import PRECISIONS

# The stages of each solver name: `(integrator, hands_over)`; a user-facing table, consulted
# once when a config is made (the integrators and the scheduler never see a name).
SOLVER_STAGES = {
    "auto": ((Tsit5(), True), (RODAS5P, False)),
    "tsit5+rodas4": ((Tsit5(), True), (RODAS4, False)),
    "tsit5+kvaerno5": ((diffrax_solver("tsit5"), True), (diffrax_solver("kvaerno5"), False)),
    **{name: ((diffrax_solver(name), False),) for name in ("kvaerno5", "kvaerno3", "tsit5",
                                                           "dopri5", "dopri8", "bosh3")},
}
SOLVERS = tuple(SOLVER_STAGES)
METHODS = ("flow", "gd", "momentum", "adam")
assert set(DIFFRAX_SOLVERS) <= set(SOLVERS)


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    """The static part of a run (changing it recompiles): method, solver, precision, polish.

    - `method`: `"flow"` (an ODE solver) or an optax optimiser `"gd"`, `"momentum"` (0.9),
      `"adam"`.
    - `solver`: the ODE solver of the flow. Default `"auto"`: geomflow's batch-last Tsit5 for the
      transient, then Rodas5P (Rosenbrock, exact Hessian) from the hand-over (`switch_grad`,
      `switch_steps`, `stiff_steps`) to the end. Measured on (3,2,2,3), 2048 samples: ~470
      Tsit5 steps and ~140 Rodas5P steps per sample, 0.57 and 4.2 µs per sample-step on a
      2-core Xeon. `"tsit5+rodas4"`: the same with Rodas4. `"tsit5+kvaerno5"` is the same
      scheme with diffrax's solvers (hand-over on `switch_grad` and `switch_steps` only); any
      single diffrax solver (`"kvaerno5"`, `"tsit5"`, …) can be chosen.
    - `precision`: `"float64"` or `"float32"` for the integration (classification is float64).
    - `polish_iters`: Levenberg–Marquardt iterations of the polish.

    Examples:
        >>> [type(i).__name__ for i, _ in FlowConfig().stages]
        ['Tsit5', 'Rosenbrock']
        >>> FlowConfig(solver="rk4")
        Traceback (most recent call last):
        ...
        geomflow._errors.GeomflowError: unknown solver 'rk4'; accepted: auto, tsit5+rodas4, tsit5+kvaerno5, kvaerno5, kvaerno3, tsit5, dopri5, dopri8, bosh3
    """

    method: str = "flow"
    solver: str = "auto"
    precision: str = "float64"
    polish_iters: int = 8

    def __post_init__(self):
        if self.method not in METHODS:
            raise GeomflowError(f"unknown method {self.method!r}; accepted: {', '.join(METHODS)}")
        if self.solver not in SOLVERS:
            raise GeomflowError(f"unknown solver {self.solver!r}; accepted: {', '.join(SOLVERS)}")
        if self.precision not in PRECISIONS:
            raise GeomflowError(
                f"unknown precision {self.precision!r}; accepted: {', '.join(PRECISIONS)}"
            )

    @property
    def dtype(self):
        return jnp.float32 if self.precision == "float32" else jnp.float64

    @property
    def stages(self) -> tuple:
        """`(integrator, hands_over)` per stage."""
        if self.method != "flow":
            return ((OptaxMethod(self.method), False),)
        return SOLVER_STAGES[self.solver]
