"""ED degrees of the rank-`r` matrices: closed forms, critical equations, batched homotopy
continuation in JAX and the table of real critical points vs local minima (MATH.md §3)."""

from ._classify import MORSE_TOL as MORSE_TOL
from ._classify import morse_indices as morse_indices
from ._classify import riemannian_hessian_eigenvalues as riemannian_hessian_eigenvalues
from ._degree import ed_degree as ed_degree
from ._equations import RankSystem as RankSystem
from ._equations import weight_matrix as weight_matrix
from ._formulas import eckart_young_critical_points as eckart_young_critical_points
from ._formulas import eckart_young_discriminant as eckart_young_discriminant
from ._formulas import ed_degree_eckart_young as ed_degree_eckart_young
from ._formulas import generic_ed_degree_rank_one as generic_ed_degree_rank_one
from ._homotopy import TrackStats as TrackStats
from ._homotopy import track as track
from ._solve import REAL_TOL as REAL_TOL
from ._solve import CriticalPoints as CriticalPoints
from ._solve import StartFibre as StartFibre
from ._solve import solve_instances as solve_instances
from ._solve import split_real as split_real
from ._solve import start_fibre as start_fibre
from ._table import EDTable as EDTable
from ._table import classify_instance_points as classify_instance_points
from ._table import critical_point_table as critical_point_table
from ._table import sample_instance as sample_instance
