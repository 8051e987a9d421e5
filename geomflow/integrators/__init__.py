"""Integrators of `ẇ = −∇L(w)`, one module per family behind one protocol (`_base.py`), and the
stopping rule written once (`_stopping.py`).

- `_tsit5.py`, `_rosenbrock.py`: the batch-last methods (Tsit5; Rodas5P, Rodas4) sharing the
  loop of `_batchlast_loop.py`;
- `_diffrax.py`: any diffrax solver; `_optax.py`: optax methods; both one run per call
  (`_members.py`), vmapped by the scheduler.
"""

from ._base import Blocks as Blocks, Sequential as Sequential, Vmapped as Vmapped
from ._batchlast_loop import BatchLastIntegrator as BatchLastIntegrator
from ._diffrax import DiffraxSolver as DiffraxSolver, diffrax_solver as diffrax_solver
from ._optax import OptaxMethod as OptaxMethod
from ._rosenbrock import (
    RODAS4 as RODAS4,
    RODAS5P as RODAS5P,
    Rosenbrock as Rosenbrock,
    ldl_factor as ldl_factor,
    ldl_solve as ldl_solve,
    rosenbrock_step as rosenbrock_step,
)
from ._stopping import (
    BUDGET_EXHAUSTED as BUDGET_EXHAUSTED,
    CONVERGED as CONVERGED,
    DIVERGED as DIVERGED,
    NON_FINITE as NON_FINITE,
    RUNNING as RUNNING,
    STATUS_NAMES as STATUS_NAMES,
    SWITCH as SWITCH,
    FlowTolerances as FlowTolerances,
    MemberState as MemberState,
)
from ._tsit5 import TSIT5_STABILITY as TSIT5_STABILITY, Tsit5 as Tsit5, tsit5_step as tsit5_step
