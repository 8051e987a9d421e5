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
res = gf.run_flow_sweep(gf.SweepConfig(spec, samples=16, seed=0))
assert not jax.config.jax_enable_x64  # the caller's setting is left as it was
dtype = str(res.records["loss"].dtype)
print(json.dumps({"tally": res.tally, "dtype": dtype}))
"""


def test_run_flow_sweep_with_x64_off_matches_x64_on():
    env = dict(os.environ)
    env.pop("JAX_ENABLE_X64", None)
    env["JAX_PLATFORMS"] = "cpu"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", _SCRIPT], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    off = json.loads(out.stdout.strip().splitlines()[-1])
    assert off["dtype"] == "float64"
    import geomflow as gf

    on = gf.run_flow_sweep(gf.SweepConfig(gf.ProblemSpec((3, 2, 2, 3)), samples=16, seed=0))
    assert off["tally"] == on.tally
    assert on.tally["global_min"] == 16  # regression value (issue 11: 16 of 16 with x64 on)
