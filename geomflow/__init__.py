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


from . import (
    _batchlast as batchlast,  # noqa: F401  (public as geomflow.batchlast)
    _xla_flags,  # noqa: F401  (sets XLA_FLAGS before JAX's CPU backend starts)
    ed as ed,
    integrators as integrators,
    models as models,
)
from ._balancing import Balanced as Balanced, balance_weights as balance_weights
from ._cache import cache_dir as cache_dir, enable_compile_cache as enable_compile_cache
from ._conjecture2 import (
    DimsReport as DimsReport,
    conjecture2_cell as conjecture2_cell,
    delta_H_dims as delta_H_dims,
    dims_sweep as dims_sweep,
)
from ._conservation_laws import (
    ConservationReport as ConservationReport,
    conservation_law_count as conservation_law_count,
    conserved_gradient_residual as conserved_gradient_residual,
    lie_bracket as lie_bracket,
)
from ._critical import (
    CLASS_NAMES as CLASS_NAMES,
    GLOBAL_MIN as GLOBAL_MIN,
    LOCAL_MIN as LOCAL_MIN,
    NON_GLOBAL_LOCAL_MIN as NON_GLOBAL_LOCAL_MIN,
    NON_STRICT_SADDLE as NON_STRICT_SADDLE,
    NOT_CRITICAL as NOT_CRITICAL,
    STRICT_SADDLE as STRICT_SADDLE,
    UNDECIDED as UNDECIDED,
    ZERO_HESSIAN as ZERO_HESSIAN,
    CriticalReport as CriticalReport,
    Tolerances as Tolerances,
    ValueReport as ValueReport,
    classify_critical_point as classify_critical_point,
    global_by_value as global_by_value,
    hessian_quadratic_form as hessian_quadratic_form,
    is_pure as is_pure,
    network_gradient as network_gradient,
    network_hessian as network_hessian,
    product_jacobian_rank as product_jacobian_rank,
)
from ._dimensions import (
    RankReport as RankReport,
    delta_image_dim as delta_image_dim,
    delta_image_dim_exact as delta_image_dim_exact,
    delta_jacobian as delta_jacobian,
    numerical_rank as numerical_rank,
    rank_mod_p as rank_mod_p,
)
from ._errors import GeomflowError as GeomflowError
from ._fibre_paths import (
    FibreMonteCarlo as FibreMonteCarlo,
    FibrePath as FibrePath,
    fibre_monte_carlo as fibre_monte_carlo,
    fibre_path as fibre_path,
)
from ._fibres import (
    fibre_label as fibre_label,
    label_index as label_index,
    random_target as random_target,
    reference_frame as reference_frame,
    sample_fibre_point as sample_fibre_point,
    sign_guarantees as sign_guarantees,
)
from ._finite_field import (
    inv_mod_p as inv_mod_p,
    matmul_mod_p as matmul_mod_p,
    nullspace_mod_p as nullspace_mod_p,
)
from ._flow import (
    BUDGET_EXHAUSTED as BUDGET_EXHAUSTED,
    CONVERGED as CONVERGED,
    DIVERGED as DIVERGED,
    NON_FINITE as NON_FINITE,
    STATUS_NAMES as STATUS_NAMES,
    Backend as Backend,
    BatchStats as BatchStats,
    FlowBatch as FlowBatch,
    FlowConfig as FlowConfig,
    FlowRecord as FlowRecord,
    FlowTolerances as FlowTolerances,
    advance_member as advance_member,
    finalise_batch as finalise_batch,
    finalise_member as finalise_member,
    flow_batch as flow_batch,
    given_problems as given_problems,
    init_member as init_member,
    polish as polish,
    resume_member as resume_member,
    run_batch as run_batch,
    run_problems as run_problems,
    sampled_problems as sampled_problems,
    solve_one as solve_one,
)
from ._function_space import (
    FunctionSpaceReport as FunctionSpaceReport,
    Parametrisation as Parametrisation,
    function_space_dim as function_space_dim,
    lcn_model as lcn_model,
    linear_network_model as linear_network_model,
    polynomial_network_model as polynomial_network_model,
)
from ._globality import (
    perturbed_global_minimum as perturbed_global_minimum,
    resolve_local_minima as resolve_local_minima,
    row_to_column_weight as row_to_column_weight,
)
from ._invariants import (
    balance_invariants as balance_invariants,
    gd_invariant_drift as gd_invariant_drift,
    invariant_drift as invariant_drift,
    relative_invariant_drift as relative_invariant_drift,
)
from ._json import json_default as json_default
from ._lcn import (
    LCNArchitecture as LCNArchitecture,
    conv_layer as conv_layer,
    lcn_architecture as lcn_architecture,
    lcn_conserved_quantities as lcn_conserved_quantities,
    lcn_end_to_end_filter as lcn_end_to_end_filter,
    lcn_forward as lcn_forward,
)
from ._losses import (
    CustomLoss as CustomLoss,
    HadamardDistance as HadamardDistance,
    PerturbedDistance as PerturbedDistance,
    QuadraticLoss as QuadraticLoss,
    hadamard_distance as hadamard_distance,
    network_loss as network_loss,
    perturbed_distance as perturbed_distance,
    quadratic_loss as quadratic_loss,
    validate_data as validate_data,
)
from ._networks import (
    Architecture as Architecture,
    architecture as architecture,
    flatten_weights as flatten_weights,
    init_balanced as init_balanced,
    init_gaussian as init_gaussian,
    init_orthogonal as init_orthogonal,
    initialise as initialise,
    partial_product as partial_product,
    product as product,
    unflatten_weights as unflatten_weights,
    validate_weights as validate_weights,
)
from ._oracles import (
    critical_index_set as critical_index_set,
    critical_product as critical_product,
    critical_values as critical_values,
    effective_rank as effective_rank,
    expected_zero_eigenvalues as expected_zero_eigenvalues,
    global_min_value as global_min_value,
    is_top_index_set as is_top_index_set,
    target_matrix as target_matrix,
    whitening as whitening,
)
from ._polynomial_networks import (
    PolynomialNetwork as PolynomialNetwork,
    monomials as monomials,
    polynomial_network as polynomial_network,
    polynomial_network_coefficients as polynomial_network_coefficients,
    polynomial_network_conserved_quantities as polynomial_network_conserved_quantities,
    polynomial_network_forward as polynomial_network_forward,
)
from ._records import (
    atomic_write_bytes as atomic_write_bytes,
    atomic_write_json as atomic_write_json,
    atomic_write_text as atomic_write_text,
)
from ._sampling import (
    ProblemSpec as ProblemSpec,
    sample_data as sample_data,
    sample_init as sample_init,
    sample_keys as sample_keys,
    sample_problem as sample_problem,
)
from ._sweep import (
    SweepConfig as SweepConfig,
    SweepResult as SweepResult,
    compare_precisions as compare_precisions,
    load_sweep as load_sweep,
    merge_sweeps as merge_sweeps,
    rerun_samples as rerun_samples,
    run_flow_sweep as run_flow_sweep,
    shard_range as shard_range,
    tally as tally,
    wilson_interval as wilson_interval,
)
from ._tally import purity as purity
from ._zero_hessian_pieces import (
    Piece as Piece,
    piece_delta_dims as piece_delta_dims,
    sample_piece_point as sample_piece_point,
    zero_hessian_check as zero_hessian_check,
    zero_hessian_pieces as zero_hessian_pieces,
)
from .integrators import (
    ldl_factor as ldl_factor,
    ldl_solve as ldl_solve,
    rosenbrock_step as rosenbrock_step,
    tsit5_step as tsit5_step,
)
from .models import (
    LinearConvNetwork as LinearConvNetwork,
    LinearNetwork as LinearNetwork,
    Model as Model,
    PolynomialActivationNetwork as PolynomialActivationNetwork,
    UserModel as UserModel,
    model_from_string as model_from_string,
)
