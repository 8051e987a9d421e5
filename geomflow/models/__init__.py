"""Models: what is being trained, `w ↦ μ(w)`, behind one protocol ([`Model`][]).

- `_base.py`: the protocol, autodiff gradients on the batch-last layout, the drift of the
  conserved quantities, and a spectral classifier for any model;
- `_linear.py`: linear networks (closed-form gradient, balance invariants, Eckart–Young `L*`);
- `_lcn.py`: linear convolutional networks, 1-D and 2-D, any filter sizes and strides;
- `_polynomial.py`: networks with the activation `x ↦ x^r`;
- `_user.py`: a user's own batch-last JAX function.
"""

from .._errors import GeomflowError
from ._base import Model as Model, spectral_classification as spectral_classification
from ._lcn import LCN_SYNTAX, LinearConvNetwork as LinearConvNetwork
from ._linear import LinearNetwork as LinearNetwork
from ._polynomial import POLY_SYNTAX, PolynomialActivationNetwork as PolynomialActivationNetwork
from ._user import UserModel as UserModel

# Model families a sweep or the CLI can name: `"<family>:<spec>"`.
MODEL_FAMILIES = {"linear": LinearNetwork, "lcn": LinearConvNetwork, "poly": PolynomialActivationNetwork}
MODEL_SYNTAX = (f"linear:<d_0>,…,<d_h> (e.g. linear:3,2,2,3), {LCN_SYNTAX}, or {POLY_SYNTAX}")


def model_from_string(text: str) -> Model:
    """A model from its name: `"linear:3,2,2,3"` (widths), `"lcn:2,2"` / `"lcn:2,2/s=2,1"` /
    `"lcn:2x2,2x2/s=2x2,1x1"` (filter sizes, optional strides; 1-D or 2-D), `"poly:3,2,1/r=2"`
    (widths and activation power). The inverse of each model's `spec_string()`.

    **Raises:** `GeomflowError`, one line listing the accepted forms.

    Examples:
        >>> model_from_string("lcn:3,2,2").out_shape
        (1, 5)
        >>> model_from_string("lcn:2,2/s=2,1").spec_string()
        'lcn:2,2/s=2,1'
        >>> model_from_string("poly:3,2,1/r=2").out_shape   # one quadratic form in 3 variables
        (1, 6)
        >>> model_from_string("mlp:3")
        Traceback (most recent call last):
        ...
        geomflow._errors.GeomflowError: model must be linear:<d_0>,…,<d_h> (e.g. linear:3,2,2,3), lcn:<k_1>,…,<k_L>[/s=<s_1>,…,<s_L>] (1-D, e.g. lcn:2,2 or lcn:2,2/s=2,1; strides default 1) or lcn:<k>x<k'>,…[/s=<s>x<s'>,…] (2-D, e.g. lcn:2x2,2x2/s=2x2,1x1), or poly:<d_0>,…,<d_h>/r=<power> (e.g. poly:3,2,1/r=2), got 'mlp:3'
    """
    fam, _, body = str(text).partition(":")
    if fam == "lcn":
        return LinearConvNetwork.from_string(body)
    if fam == "poly":
        return PolynomialActivationNetwork.from_string(body)
    try:
        nums = tuple(int(x) for x in body.split(",") if x.strip())
    except ValueError:
        nums = ()
    if fam != "linear" or not nums:
        raise GeomflowError(f"model must be {MODEL_SYNTAX}, got {text!r}")
    return LinearNetwork(nums)
