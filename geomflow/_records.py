"""Files of a sweep: atomic writes, chunk files with checksums, and the numerics fingerprint.

Every file is written atomically (a temporary file in the same directory, flushed and fsynced,
then `os.replace`), so a run killed at any moment leaves either the old file or the new one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os

import numpy as np

from ._json import json_default


def atomic_write_text(path: str, text: str) -> None:
    """Write `text` to `path` atomically (see the module docstring)."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write `data` to `path` atomically (see the module docstring)."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: str, obj, *, indent: int = 1, sort_keys: bool = True) -> None:
    """Write `obj` as JSON (numpy scalars and arrays converted) to `path` atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=indent, sort_keys=sort_keys, default=json_default) + "\n").encode())


def _chunk_name(a: int, b: int) -> str:
    return f"chunk_{a:010d}_{b:010d}"


def _write_chunk(out: str, a: int, b: int, records: dict, meta: dict) -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in records.items()})
    data = buf.getvalue()
    name = _chunk_name(a, b)
    atomic_write_bytes(os.path.join(out, name + ".npz"), data)
    meta = dict(meta, start=a, stop=b, file=name + ".npz", sha256=hashlib.sha256(data).hexdigest())
    atomic_write_json(os.path.join(out, name + ".json"), meta)


def _read_chunk(out: str, meta: dict, *, verify: bool = True) -> dict | None:
    path = os.path.join(out, meta["file"])
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return None
    if verify and hashlib.sha256(data).hexdigest() != meta["sha256"]:
        return None
    import io

    with np.load(io.BytesIO(data)) as z:
        return {k: z[k] for k in z.files}


def _chunk_metas(out: str) -> list[dict]:
    metas = []
    for name in sorted(os.listdir(out)):
        if name.startswith("chunk_") and name.endswith(".json"):
            try:
                with open(os.path.join(out, name)) as fh:
                    metas.append(json.load(fh))
            except (OSError, json.JSONDecodeError):
                continue
    return metas


# The source files whose code determines per-sample numbers (the subpackages whole).
_NUMERICS_MODULES = ("_flow.py", "_batchlast.py", "_config.py", "_scheduler.py", "_finalise.py",
                     "_sampling.py", "_critical.py", "_losses.py", "_networks.py", "_oracles.py",
                     "_invariants.py", "_fibres.py", "models", "integrators")


@functools.lru_cache(maxsize=1)
def numerics_fingerprint() -> str:
    """Hash of geomflow's numerical source files and of the jax/jaxlib/diffrax/optax versions."""
    import importlib.metadata

    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for name in _NUMERICS_MODULES:
        path = os.path.join(here, name)
        files = ([os.path.join(path, f) for f in sorted(os.listdir(path)) if f.endswith(".py")]
                 if os.path.isdir(path) else [path])
        for file in files:
            with open(file, "rb") as fh:
                h.update(fh.read())
    for dist in ("jax", "jaxlib", "diffrax", "optax", "equinox", "lineax"):
        try:
            h.update(f"{dist}={importlib.metadata.version(dist)}".encode())
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover
            pass
    return h.hexdigest()[:16]
