"""The one JSON hook geomflow uses to write numpy values (CLI output, sweep manifests, figures)."""

import numpy as np


def json_default(o):
    """`json.dumps(..., default=json_default)`: numpy scalars → Python scalars, arrays → lists."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
