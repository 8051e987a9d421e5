"""ED degrees of the rank-`r` matrices: closed forms, critical equations, batched homotopy
continuation in JAX and the table of real critical points vs local minima (MATH.md §3);
completeness by the trace test and certification in ball arithmetic (MATH.md §7); ED degrees of
the Segre cone of rank-one tensors, the function space of LCNs with tensor-product end-to-end
filters (MATH.md §6)."""

from ._certify import CertifiedPoints as CertifiedPoints, certify_points as certify_points
from ._classify import (
    MORSE_TOL as MORSE_TOL,
    morse_indices as morse_indices,
    riemannian_hessian_eigenvalues as riemannian_hessian_eigenvalues,
)
from ._degree import ed_degree as ed_degree
from ._equations import RankSystem as RankSystem, weight_matrix as weight_matrix
from ._formulas import (
    eckart_young_critical_points as eckart_young_critical_points,
    eckart_young_discriminant as eckart_young_discriminant,
    ed_degree_eckart_young as ed_degree_eckart_young,
    friedland_ottaviani_count as friedland_ottaviani_count,
    generic_ed_degree_rank_one as generic_ed_degree_rank_one,
    generic_ed_degree_segre as generic_ed_degree_segre,
    segre_closed_form as segre_closed_form,
)
from ._homotopy import TrackStats as TrackStats, track as track
from ._segre import (
    SegreEDDegree as SegreEDDegree,
    SegreSystem as SegreSystem,
    certify_segre_points as certify_segre_points,
    segre_ed_degree as segre_ed_degree,
    segre_start_fibre as segre_start_fibre,
)
from ._segre_total_degree import (
    SegreTotalDegree as SegreTotalDegree,
    SegreTotalDegreeSystem as SegreTotalDegreeSystem,
    segre_total_degree as segre_total_degree,
)
from ._solve import (
    REAL_TOL as REAL_TOL,
    CriticalPoints as CriticalPoints,
    StartFibre as StartFibre,
    solve_instances as solve_instances,
    split_real as split_real,
    start_fibre as start_fibre,
)
from ._table import (
    EDTable as EDTable,
    classify_instance_points as classify_instance_points,
    critical_point_table as critical_point_table,
    sample_instance as sample_instance,
)
from ._total_degree import (
    total_degree_count as total_degree_count,
    total_degree_solve as total_degree_solve,
)
from ._trace import (
    TRACE_TOL as TRACE_TOL,
    TraceTest as TraceTest,
    trace_residual as trace_residual,
    trace_test as trace_test,
)
