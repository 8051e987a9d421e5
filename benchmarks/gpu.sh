#!/usr/bin/env bash
# One prepared GPU check for geomflow (issue 7), sized to finish in < 8 minutes on one H100/H200.
#
#   bash benchmarks/gpu.sh            # logs and JSON under ${OUT:-runs/gpu}
#
# The device machine reaches no package index: this script uses the jax already installed there
# (a CUDA build) if it imports, else installs from wheels carried in ./.whl/ (see the device
# tool's README for downloading them here first). It prints the device, flow samples/s and the
# useful-work fraction (1e5 samples in float32 with float64 re-classification, then 2e4 in
# float64), and the ED table throughput (1e4 instances).
#
# Sizes can be overridden for a smoke run on a CPU, e.g.
#   FLOW32_SAMPLES=64 FLOW64_SAMPLES=32 ED_SAMPLES=20 bash benchmarks/gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu}
FLOW32_SAMPLES=${FLOW32_SAMPLES:-100000}
FLOW64_SAMPLES=${FLOW64_SAMPLES:-20000}
ED_SAMPLES=${ED_SAMPLES:-10000}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
if [ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
if ! $PY -c "import jax, diffrax, optax" 2>/dev/null && [ -d .whl ]; then
  $PY -m pip install -q --no-index --find-links .whl jax jaxlib diffrax optax numpy
fi
$PY -c "import geomflow" 2>/dev/null || $PY -m pip install -q --no-deps --no-build-isolation -e .
$PY -c "import jax; print('jax', jax.__version__, 'devices:', jax.devices())" | tee "$OUT/device.txt"
export GEOMFLOW_CACHE="$OUT/jaxcache"

summarise() {  # print the headline numbers of one JSON summary
  $PY - "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
keys = ("samples", "wall_s", "samples_per_s", "useful_work_fraction", "max_delta_drift",
        "fraction_global_min", "tally", "complete", "incomplete", "instances_per_s", "paths_per_s")
print(json.dumps({k: s[k] for k in keys if k in s}))
PY
}
step() {  # step NAME TIMEOUT COMMAND...: run, time, keep JSON in $OUT/NAME.json
  local name=$1 limit=$2; shift 2
  echo "+ $*" >&2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.json" 2> "$OUT/$name.err"
  local rc=$?
  echo "$name: exit $rc after $((SECONDS - t0)) s"
  [ $rc -eq 0 ] && summarise "$OUT/$name.json" || tail -3 "$OUT/$name.err"
}
step flow32 240 $PY -m geomflow flow --widths 3,2,2,3 --samples "$FLOW32_SAMPLES" --seed 0 \
    --precision float32 --chunk-size 25000 --out "$OUT/flow32" --json
step flow64 120 $PY -m geomflow flow --widths 3,2,2,3 --samples "$FLOW64_SAMPLES" --seed 0 \
    --precision float64 --chunk-size 20000 --out "$OUT/flow64" --json
step ed 150 $PY -m geomflow ed table --shape 3x3 --rank 1 --distance generic \
    --samples "$ED_SAMPLES" --seed 0 --out "$OUT/ed" --json
