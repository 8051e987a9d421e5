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


# JAX's file cache writes an entry with a plain `write_bytes` and reads it without a lock unless a
# size limit is set; then both go through a `filelock` lock. Without it, two processes that share
# the folder (xdist workers, shards of one sweep on one machine) can read an entry half written by
# the other, and XLA segfaults deserialising it (seen in the test suite: a worker died in
# `compilation_cache.get_executable_and_time`). A limit turns the lock on (and evicts the least
# recently used entries above it).
COMPILE_CACHE_MAX_BYTES = 4 * 2**30


def enable_compile_cache(min_compile_time_s: float = 1.0,
                         max_size_bytes: int = COMPILE_CACHE_MAX_BYTES) -> str | None:
    """Turn on JAX's persistent compilation cache in `cache_dir("jax")` (or
    `$GEOMFLOW_JAX_CACHE`); returns the folder, or `None` where it cannot be created (a read-only
    home must not stop a run). Entries are read and written under a file lock, so processes may
    share the folder; above `max_size_bytes` the least recently used entries are evicted.
    Without the `filelock` package (a dependency) the cache is left off and `None` returned."""
    import jax

    try:
        import filelock  # noqa: F401  (a dependency; without it the cache would be unlocked)
    except ImportError:
        return None
    path = os.environ.get("GEOMFLOW_JAX_CACHE") or cache_dir("jax")
    try:
        os.makedirs(path, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_time_s)
        jax.config.update("jax_compilation_cache_max_size", int(max_size_bytes))
    except Exception:
        return None
    return path
