"""Every public entry point computes in the precision it documents whatever the caller's
`jax_enable_x64` (JAX's default is off): checked in a fresh process."""

import json
import os
import subprocess
import sys

_SCRIPT = r"""
import json, jax
assert not jax.config.jax_enable_x64  # JAX's default configuration
import jax.numpy as jnp
import geomflow as gf
gf.enable_compile_cache()  # the suite's shared cache ($GEOMFLOW_JAX_CACHE): no cold compile here
spec = gf.ProblemSpec((3, 2, 2, 3))
cfg = gf.SweepConfig(spec, samples=16, seed=0)
res = gf.run_flow_sweep(cfg)
rerun = gf.rerun_samples(cfg, [3, 11])  # session 6: it had run in float32 (t 263.3 for 22.4)
assert not jax.config.jax_enable_x64  # the caller's setting is left as it was
dtype = str(res.records["loss"].dtype)
same = all(bool((rerun[k] == res.records[k][[3, 11]]).all()) for k in ("t", "loss", "steps"))
print(json.dumps({"tally": res.tally, "dtype": dtype, "rerun_dtype": str(rerun["t"].dtype),
                  "rerun_same_bits": same}))
"""


def _in_fresh_process(script: str, **env_extra) -> dict:
    """Run `script` in a new interpreter with JAX's defaults (x64 off) and JAX's UserWarnings
    (among them the float64→float32 truncation warning) as errors; its last line, as JSON."""
    env = dict(os.environ)
    env.pop("JAX_ENABLE_X64", None)
    env["JAX_PLATFORMS"] = "cpu"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", script], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_run_flow_sweep_with_x64_off_matches_x64_on():
    off = _in_fresh_process(_SCRIPT)
    assert off["dtype"] == "float64" and off["rerun_dtype"] == "float64"
    assert off["rerun_same_bits"]  # a sweep's samples rerun alone, bit for bit, with x64 off
    import geomflow as gf

    on = gf.run_flow_sweep(gf.SweepConfig(gf.ProblemSpec((3, 2, 2, 3)), samples=16, seed=0))
    assert off["tally"] == on.tally
    assert on.tally["global_min"] == 16  # regression value (issue 11: 16 of 16 with x64 on)


_ED_SCRIPT = r"""
import json, jax
assert not jax.config.jax_enable_x64  # JAX's default configuration
import geomflow as gf
gf.enable_compile_cache()
d = gf.ed.ed_degree(2, 2, 1, "generic")  # start fibre by monodromy + trace test, from scratch
seg = gf.ed.segre_total_degree((2, 2, 2), seed=0)
assert not jax.config.jax_enable_x64  # the caller's setting is left as it was
print(json.dumps({"counted": d["counted"], "certified": d["certified_complete"],
                  "trace_residual": d["trace_residual"], "segre": seg.ed_points,
                  "segre_complete": seg.complete}))
"""


def test_ed_entry_points_track_in_complex128_with_x64_off(tmp_path):
    """Session 5 found the ED entry points tracking in complex64 when the caller had not turned
    x64 on: from an empty start-fibre cache `ed_degree(3, 3, 1)` counted 1 of 39. JAX's
    truncation warning is an error here, so any complex64 step in the ED path fails the test."""
    # No cached start fibre (an empty $GEOMFLOW_CACHE): the homotopy runs in the fresh process.
    res = _in_fresh_process(_ED_SCRIPT, GEOMFLOW_CACHE=str(tmp_path))
    assert res["counted"] == 6 and res["certified"]  # MATH.md §3: generic ED degree of 2x2 rank 1
    assert res["trace_residual"] < 1e-12  # complex64 round-off would leave ~1e-8
    assert res["segre"] == 6 and res["segre_complete"]  # MATH.md §6: Euclidean, 2x2x2 Segre


_CACHE_SCRIPT = r"""
import json, os, sys
import jax, jax.numpy as jnp
import geomflow as gf
path = gf.enable_compile_cache(min_compile_time_s=0.0)
jax.jit(lambda x: jnp.sin(x) * 2.0)(jnp.ones(3)).block_until_ready()
print(json.dumps({"path": path, "files": sorted(os.listdir(path))}))
"""


def test_compile_cache_entries_are_written_under_a_file_lock(tmp_path):
    """JAX's file cache reads and writes entries without a lock unless a size limit is set; a
    test worker once segfaulted deserialising an entry another process was still writing.
    `enable_compile_cache` sets the limit, so an entry is written under `.lockfile`."""
    res = _in_fresh_process(_CACHE_SCRIPT, GEOMFLOW_JAX_CACHE=str(tmp_path / "jax"))
    assert res["path"] == str(tmp_path / "jax")
    assert ".lockfile" in res["files"]
    assert any(f.endswith("-cache") for f in res["files"]), res["files"]
