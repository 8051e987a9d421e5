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


# The modules a sweep's per-sample numbers are computed by; `numerics_fingerprint` hashes these and
# every geomflow module they import, directly or not (found by parsing the imports, so a new
# helper module cannot be left out by hand).
_NUMERICS_ROOTS = ("_flow.py", "_finalise.py", "_sampling.py", "_scheduler.py", "_critical.py",
                   "_config.py", "models", "integrators")
# Imported by the flow code but only read records after the fact (categories, tallies, purity):
# they cannot change a record, so they do not invalidate a sweep directory.
_AFTER_THE_FACT = ("_tally.py",)


def numerics_modules() -> tuple[str, ...]:
    """The geomflow source files (paths relative to the package) that `numerics_fingerprint`
    hashes: the roots above and the transitive closure of their package-internal imports."""
    import ast

    here = os.path.dirname(os.path.abspath(__file__))

    def files_of(rel: str) -> list[str]:
        path = os.path.join(here, rel)
        if os.path.isdir(path):
            return [os.path.join(rel, f) for f in sorted(os.listdir(path)) if f.endswith(".py")]
        return [rel] if os.path.exists(path) else []

    def resolve(pkg: str, level: int, module: str | None, names) -> list[str]:
        pkg_parts = pkg.split("/") if pkg else []
        if level - 1 > len(pkg_parts):
            return []
        parts = pkg_parts[: len(pkg_parts) - (level - 1)] + (module.split(".") if module else [])
        out = []
        targets = [parts] if module else [parts + [n] for n in names]
        for t in targets:
            rel = "/".join(t)
            for cand in (rel + ".py", os.path.join(rel, "__init__.py")):
                if os.path.exists(os.path.join(here, cand)):
                    out.append(cand)
                    break
        return out

    todo = [f for r in _NUMERICS_ROOTS for f in files_of(r)]
    seen: set[str] = set()
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        if rel in _AFTER_THE_FACT:
            continue
        with open(os.path.join(here, rel), encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        pkg = os.path.dirname(rel)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                todo += resolve(pkg, node.level, node.module, [a.name for a in node.names])
    return tuple(sorted(seen - set(_AFTER_THE_FACT)))


@functools.lru_cache(maxsize=1)
def numerics_fingerprint() -> str:
    """Hash of the source of [`numerics_modules`][] and of the jax/jaxlib/diffrax/optax/equinox/
    lineax versions: a sweep directory is resumed only by the code that wrote it."""
    import importlib.metadata

    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for rel in numerics_modules():
        with open(os.path.join(here, rel), "rb") as fh:
            h.update(fh.read())
    for dist in ("jax", "jaxlib", "diffrax", "optax", "equinox", "lineax"):
        try:
            h.update(f"{dist}={importlib.metadata.version(dist)}".encode())
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover
            pass
    return h.hexdigest()[:16]
