#!/usr/bin/env bash
# One prepared GPU check for geomflow (issue 7), sized to finish in < 8 minutes on one H100/H200.
#
#   bash benchmarks/gpu.sh            # writes its logs under ${OUT:-runs/gpu}
#
# The device machine reaches no package index, so this script uses the jax already installed
# there (a CUDA build) if it imports; otherwise it installs from wheels carried in ./.whl/
# (see the device tool's README for how to download them here first). It prints the device,
# flow samples/s and the useful-work fraction (1e5 samples, float32 with float64
# re-classification, then 2e4 in float64), and the ED table throughput (1e4 instances).
set -uo pipefail
OUT=${OUT:-runs/gpu}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! $PY -c "import jax, diffrax, optax" 2>/dev/null; then
  if [ -d .whl ]; then $PY -m pip install -q --no-index --find-links .whl jax jaxlib diffrax optax numpy; fi
fi
$PY -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null || $PY -m pip install -q --no-deps -e .
$PY - <<'PY' | tee "$OUT/device.txt"
import jax; print("jax", jax.__version__, "devices:", jax.devices())
PY
run() { echo "+ $*"; /usr/bin/time -f "wall %e s" "$@"; }
export GEOMFLOW_CACHE="$OUT/jaxcache"
run timeout 240 $PY -m geomflow flow --widths 3,2,2,3 --samples 100000 --seed 0 \
    --precision float32 --chunk-size 25000 --out "$OUT/flow32" --json > "$OUT/flow32.json" ; tail -40 "$OUT/flow32.json"
run timeout 120 $PY -m geomflow flow --widths 3,2,2,3 --samples 20000 --seed 0 \
    --precision float64 --chunk-size 20000 --out "$OUT/flow64" --json > "$OUT/flow64.json" ; tail -40 "$OUT/flow64.json"
run timeout 150 $PY -m geomflow ed table --shape 3x3 --rank 1 --distance generic --samples 10000 \
    --seed 0 --out "$OUT/ed" --json > "$OUT/ed.json" ; tail -40 "$OUT/ed.json"
