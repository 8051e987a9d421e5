"""Where geomflow keeps caches: `$GEOMFLOW_CACHE` (default `~/.cache/geomflow`), one
sub-folder per kind (`jax`: XLA's persistent compilation cache; `ed`: ED start fibres).
`$GEOMFLOW_JAX_CACHE`, where set, is the compilation cache's folder whatever `$GEOMFLOW_CACHE`
says (the test suite shares one between its processes while keeping the ED caches apart)."""

from __future__ import annotations

import os


def cache_dir(kind: str) -> str:
    """`$GEOMFLOW_CACHE/<kind>` (default `~/.cache/geomflow/<kind>`), not created.

    Examples:
        >>> import os
        >>> os.path.basename(cache_dir("jax"))
        'jax'
    """
    base = os.environ.get("GEOMFLOW_CACHE", os.path.expanduser("~/.cache/geomflow"))
    return os.path.join(base, kind)


def enable_compile_cache(min_compile_time_s: float = 1.0) -> str | None:
    """Turn on JAX's persistent compilation cache in `cache_dir("jax")`; returns the folder, or
    `None` where it cannot be created (a read-only home must not stop a run)."""
    import jax

    path = os.environ.get("GEOMFLOW_JAX_CACHE") or cache_dir("jax")
    try:
        os.makedirs(path, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_time_s)
    except Exception:
        return None
    return path
