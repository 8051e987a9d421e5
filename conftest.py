"""Pytest configuration for tests and doctests: float64, several host CPU devices, and one
persistent XLA compilation cache (`$GEOMFLOW_JAX_CACHE`, default a folder in the system's
temporary directory) for the subprocesses the tests start (CLI runs, fresh-process checks).

The xdist workers themselves do not use the persistent cache: in session 6 a worker segfaulted
twice, on this 2-core box, loading an executable from it (`compilation_cache.
get_executable_and_time`, in the `SweepResult.to_pandas` doctest, after many other tests in the
same worker); the same doctest loads that cache fine in a process of its own, and file locking
(`gf.enable_compile_cache` sets a size limit) did not prevent it. Until the cause is known the
workers compile in memory, as the suite did before session 5."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import tempfile  # noqa: E402

os.environ.setdefault("GEOMFLOW_JAX_CACHE",
                      os.path.join(tempfile.gettempdir(), f"geomflow-tests-jax-cache-{os.getuid()}"))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
