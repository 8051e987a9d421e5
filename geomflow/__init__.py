"""geomflow: the geometry of linear neural networks in JAX.

A linear network with widths `d = (d_0, …, d_h)` computes `μ(w) = W_h ⋯ W_1`; a loss of the
end-to-end matrix `ℓ` gives the network loss `L = ℓ ∘ μ`. geomflow samples data and
initialisations, integrates the gradient flow `ẇ = −∇L(w)`, tracks the balance invariants
`δ_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ`, classifies where each flow ends, and counts the critical
points of distances to determinantal varieties (ED degrees).

Everything a user may import is listed here; modules starting with `_` are private.

Examples:
    >>> import jax, geomflow as gf
    >>> arch = gf.architecture((3, 2, 2, 3))
    >>> arch.rank, arch.filling, arch.fibre_components
    (2, False, 4)
"""

__version__ = "0.1.0"

from . import ed as ed

from ._critical import (
    CLASS_NAMES as CLASS_NAMES,
)
from ._critical import (
    GLOBAL_MIN as GLOBAL_MIN,
)
from ._critical import (
    LOCAL_MIN as LOCAL_MIN,
)
from ._critical import (
    NON_GLOBAL_LOCAL_MIN as NON_GLOBAL_LOCAL_MIN,
)
from ._critical import (
    NON_STRICT_SADDLE as NON_STRICT_SADDLE,
)
from ._critical import (
    NOT_CRITICAL as NOT_CRITICAL,
)
from ._critical import (
    STRICT_SADDLE as STRICT_SADDLE,
)
from ._critical import (
    UNDECIDED as UNDECIDED,
)
from ._critical import (
    ZERO_HESSIAN as ZERO_HESSIAN,
)
from ._critical import (
    CriticalReport as CriticalReport,
)
from ._critical import (
    Tolerances as Tolerances,
)
from ._critical import (
    classify_critical_point as classify_critical_point,
)
from ._critical import (
    hessian_quadratic_form as hessian_quadratic_form,
)
from ._critical import (
    is_pure as is_pure,
)
from ._critical import (
    network_gradient as network_gradient,
)
from ._critical import (
    network_hessian as network_hessian,
)
from ._critical import (
    product_jacobian_rank as product_jacobian_rank,
)
from ._dimensions import (
    DimsReport as DimsReport,
)
from ._dimensions import (
    Piece as Piece,
)
from ._dimensions import (
    RankReport as RankReport,
)
from ._dimensions import (
    delta_H_dims as delta_H_dims,
)
from ._dimensions import (
    delta_image_dim as delta_image_dim,
)
from ._dimensions import (
    delta_image_dim_exact as delta_image_dim_exact,
)
from ._dimensions import (
    delta_jacobian as delta_jacobian,
)
from ._dimensions import (
    dims_sweep as dims_sweep,
)
from ._dimensions import (
    numerical_rank as numerical_rank,
)
from ._dimensions import (
    piece_delta_dims as piece_delta_dims,
)
from ._dimensions import (
    rank_mod_p as rank_mod_p,
)
from ._dimensions import (
    sample_piece_point as sample_piece_point,
)
from ._dimensions import (
    zero_hessian_check as zero_hessian_check,
)
from ._dimensions import (
    zero_hessian_pieces as zero_hessian_pieces,
)
from ._errors import GeomflowError as GeomflowError
from ._fibres import (
    FibreMonteCarlo as FibreMonteCarlo,
)
from ._fibres import (
    FibrePath as FibrePath,
)
from ._fibres import (
    fibre_label as fibre_label,
)
from ._fibres import (
    fibre_monte_carlo as fibre_monte_carlo,
)
from ._fibres import (
    fibre_path as fibre_path,
)
from ._fibres import (
    label_index as label_index,
)
from ._fibres import (
    random_target as random_target,
)
from ._fibres import (
    reference_frame as reference_frame,
)
from ._fibres import (
    sample_fibre_point as sample_fibre_point,
)
from ._fibres import (
    sign_guarantees as sign_guarantees,
)
from ._flow import (
    BUDGET_EXHAUSTED as BUDGET_EXHAUSTED,
)
from ._flow import (
    CONVERGED as CONVERGED,
)
from ._flow import (
    DIVERGED as DIVERGED,
)
from ._flow import (
    NON_FINITE as NON_FINITE,
)
from ._flow import (
    STATUS_NAMES as STATUS_NAMES,
)
from ._flow import (
    BatchStats as BatchStats,
)
from ._flow import (
    FlowConfig as FlowConfig,
)
from ._flow import (
    FlowRecord as FlowRecord,
)
from ._flow import (
    FlowTolerances as FlowTolerances,
)
from ._flow import (
    advance_member as advance_member,
)
from ._flow import (
    finalise_batch as finalise_batch,
)
from ._flow import (
    finalise_member as finalise_member,
)
from ._flow import (
    given_problems as given_problems,
)
from ._flow import (
    init_member as init_member,
)
from ._flow import (
    polish as polish,
)
from ._flow import (
    resume_member as resume_member,
)
from ._flow import (
    run_batch as run_batch,
)
from ._flow import (
    run_problems as run_problems,
)
from ._flow import (
    sampled_problems as sampled_problems,
)
from ._flow import (
    solve_one as solve_one,
)
from ._invariants import (
    balance_invariants as balance_invariants,
)
from ._invariants import (
    gd_invariant_drift as gd_invariant_drift,
)
from ._invariants import (
    invariant_drift as invariant_drift,
)
from ._invariants import (
    relative_invariant_drift as relative_invariant_drift,
)
from ._losses import (
    CustomLoss as CustomLoss,
)
from ._losses import (
    HadamardDistance as HadamardDistance,
)
from ._losses import (
    PerturbedDistance as PerturbedDistance,
)
from ._losses import (
    QuadraticLoss as QuadraticLoss,
)
from ._losses import (
    hadamard_distance as hadamard_distance,
)
from ._losses import (
    network_loss as network_loss,
)
from ._losses import (
    perturbed_distance as perturbed_distance,
)
from ._losses import (
    quadratic_loss as quadratic_loss,
)
from ._losses import (
    validate_data as validate_data,
)
from ._networks import (
    Architecture as Architecture,
)
from ._networks import (
    architecture as architecture,
)
from ._networks import (
    flatten_weights as flatten_weights,
)
from ._networks import (
    init_balanced as init_balanced,
)
from ._networks import (
    init_gaussian as init_gaussian,
)
from ._networks import (
    init_orthogonal as init_orthogonal,
)
from ._networks import (
    initialise as initialise,
)
from ._networks import (
    partial_product as partial_product,
)
from ._networks import (
    product as product,
)
from ._networks import (
    unflatten_weights as unflatten_weights,
)
from ._networks import (
    validate_weights as validate_weights,
)
from ._oracles import (
    critical_index_set as critical_index_set,
)
from ._oracles import (
    critical_product as critical_product,
)
from ._oracles import (
    critical_values as critical_values,
)
from ._oracles import (
    effective_rank as effective_rank,
)
from ._oracles import (
    expected_zero_eigenvalues as expected_zero_eigenvalues,
)
from ._oracles import (
    global_min_value as global_min_value,
)
from ._oracles import (
    is_top_index_set as is_top_index_set,
)
from ._oracles import (
    target_matrix as target_matrix,
)
from ._oracles import (
    whitening as whitening,
)
from ._sampling import (
    ProblemSpec as ProblemSpec,
)
from ._sampling import (
    sample_data as sample_data,
)
from ._sampling import (
    sample_init as sample_init,
)
from ._sampling import (
    sample_keys as sample_keys,
)
from ._sampling import (
    sample_problem as sample_problem,
)
from ._sweep import (
    SweepConfig as SweepConfig,
)
from ._sweep import (
    SweepResult as SweepResult,
)
from ._sweep import (
    compare_precisions as compare_precisions,
)
from ._sweep import (
    load_sweep as load_sweep,
)
from ._sweep import (
    merge_sweeps as merge_sweeps,
)
from ._sweep import (
    run_flow_sweep as run_flow_sweep,
)
from ._sweep import (
    shard_range as shard_range,
)
from ._sweep import (
    tally as tally,
)
from ._sweep import (
    wilson_interval as wilson_interval,
)
