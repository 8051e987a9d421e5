"""geomflow: the geometry of linear neural networks in JAX (public API re-exported below)."""

__version__ = "0.1.0"
