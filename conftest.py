"""Pytest configuration for tests and doctests: float64, several host CPU devices, and one
persistent XLA compilation cache shared by the xdist workers and the subprocesses the tests start
(`$GEOMFLOW_JAX_CACHE`, default a folder in the system's temporary directory), so a kernel is
compiled once per machine rather than once per process."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import tempfile  # noqa: E402

os.environ.setdefault("GEOMFLOW_JAX_CACHE",
                      os.path.join(tempfile.gettempdir(), f"geomflow-tests-jax-cache-{os.getuid()}"))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

from geomflow._cache import enable_compile_cache  # noqa: E402

enable_compile_cache(min_compile_time_s=0.5)
