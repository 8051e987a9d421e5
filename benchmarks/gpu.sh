#!/usr/bin/env bash
# One prepared GPU check for geomflow (issues 7, 11), sized to finish in < 8 minutes on one H100/H200.
#
#   bash benchmarks/gpu.sh            # logs and JSON under ${OUT:-runs/gpu}
#
# The device machine reaches no package index: this script uses the jax already installed there
# (a CUDA build) if it imports, else installs from wheels carried in ./.whl/ (see the device
# tool's README for downloading them here first). It prints the device, a table of flow
# samples/s, useful-work fraction and tally over block width × pool size × precision (1e5
# samples each, float32 runs re-classified in float64), and the ED table throughput.
#
# Sizes can be overridden for a smoke run on a CPU, e.g.
#   SWEEP_SAMPLES=64 SWEEP="32:64:float64 64:64:float32" ED_SAMPLES=20 bash benchmarks/gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu}
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
# The scheduler sweep: block width × pool size × precision at $SWEEP_SAMPLES samples (default
# 1e5) of (3,2,2,3), one `geomflow flow` run each, then one table. The GPU default is one block
# per pool (Backend.for_platform("gpu")); this says whether several blocks per pool, or another
# width, do better. Each run has its own timeout so the whole sweep stays within ~7 minutes.
SWEEP_SAMPLES=${SWEEP_SAMPLES:-100000}
SWEEP="${SWEEP:-16384:16384:float32 65536:65536:float32 100352:100352:float32 4096:65536:float32 16384:16384:float64 65536:65536:float64}"
RUN_TIMEOUT=${RUN_TIMEOUT:-70}
for cfg in $SWEEP; do
  IFS=: read -r bw pool prec <<< "$cfg"
  step "sched_${bw}_${pool}_${prec}" "$RUN_TIMEOUT" $PY -m geomflow flow --widths 3,2,2,3 \
      --samples "$SWEEP_SAMPLES" --seed 0 --precision "$prec" --block-width "$bw" --pool-size "$pool" \
      --chunk-size "$SWEEP_SAMPLES" --no-ed-globality --json
done
$PY - "$OUT" $SWEEP <<'PY'
import json, os, sys
out = sys.argv[1]
print(f"{'block':>8} {'pool':>8} {'precision':>9} {'samples/s':>10} {'wall s':>8} {'useful':>7} {'global':>7} {'over drift':>10}")
for cfg in sys.argv[2:]:
    bw, pool, prec = cfg.split(":")
    path = os.path.join(out, f"sched_{bw}_{pool}_{prec}.json")
    try:
        s = json.load(open(path))
    except Exception:
        print(f"{bw:>8} {pool:>8} {prec:>9} {'failed / timed out':>30}")
        continue
    print(f"{bw:>8} {pool:>8} {prec:>9} {s['samples_per_s']:>10.0f} {s['wall_s']:>8.1f} "
          f"{s['useful_work_fraction']:>7.3f} {s['tally'].get('global_min', 0):>7d} {s.get('over_drift_bound', -1):>10d}")
PY
step ed 90 $PY -m geomflow ed table --shape 3x3 --rank 1 --distance generic \
    --samples "$ED_SAMPLES" --seed 0 --out "$OUT/ed" --json
