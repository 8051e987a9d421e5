"""Models: what is being trained, `w ↦ μ(w)`, behind one protocol ([`Model`][]).

- `_base.py`: the protocol, autodiff gradients on the batch-last layout, the drift of the
  conserved quantities, and a spectral classifier for any model;
- `_linear.py`: linear networks (closed-form gradient, balance invariants, Eckart–Young `L*`);
- `_lcn.py`: 1-D linear convolutional networks with stride 1;
- `_user.py`: a user's own batch-last JAX function.
"""

from .._errors import GeomflowError
from ._base import Model as Model, spectral_classification as spectral_classification
from ._lcn import (
    LinearConvNetwork as LinearConvNetwork,
    end_to_end_filter as end_to_end_filter,
    polynomial_product as polynomial_product,
)
from ._linear import LinearNetwork as LinearNetwork
from ._user import UserModel as UserModel

# Model families a sweep or the CLI can name: `"<family>:<sizes>"`.
MODEL_FAMILIES = {"linear": LinearNetwork, "lcn": LinearConvNetwork}


def model_from_string(text: str) -> Model:
    """`"linear:3,2,2,3"` (widths) or `"lcn:3,2,2"` (filter sizes) → the model.

    Examples:
        >>> model_from_string("lcn:3,2,2").out_shape
        (1, 5)
        >>> model_from_string("mlp:3")
        Traceback (most recent call last):
        ...
        geomflow._errors.GeomflowError: model must be linear:<widths> or lcn:<filter sizes> (e.g. lcn:3,2,2), got 'mlp:3'
    """
    fam, _, sizes = str(text).partition(":")
    try:
        nums = tuple(int(x) for x in sizes.split(",") if x.strip())
    except ValueError:
        nums = ()
    if fam not in MODEL_FAMILIES or not nums:
        raise GeomflowError(f"model must be linear:<widths> or lcn:<filter sizes> (e.g. lcn:3,2,2), got {text!r}")
    return MODEL_FAMILIES[fam](nums)
