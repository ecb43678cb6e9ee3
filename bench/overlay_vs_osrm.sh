#!/usr/bin/env bash
# The overlay benchmark with OSRM CH measured in the same run: OSRM's in-process route latency
# on the same 1000 Porto anchor pairs (the anchors' bench_inproc.py, through osrm-bindings),
# then Meridian's overlay bench (bench/overlay.rs), then OSRM again, so both engines see the
# same noise; prints both OSRM passes and Meridian's table. OSRM data: an osrm-extract (car.lua)
# + osrm-contract of porto-2015-06.osm.pbf, made as ../shared/anchors/README.md shows.
#
#   PEERS_PYTHON=/path/to/peers/venv/bin/python OSRM_CH=/path/to/porto-2015-06.osrm \
#     bench/overlay_vs_osrm.sh
#
# Other env: PASSES (3), OVERLAY_CONFIGS (see bench/overlay.rs), MERIDIAN_SHARED (../shared).
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${MERIDIAN_SHARED:-../shared}"
: "${PEERS_PYTHON:?set PEERS_PYTHON to the anchors venv python (with osrm-bindings)}"
: "${OSRM_CH:?set OSRM_CH to a contracted porto-2015-06.osrm}"
passes="${PASSES:-3}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

cargo bench --no-default-features --bench overlay --no-run >/dev/null 2>&1 ||
  cargo bench --no-default-features --bench overlay --no-run

osrm_pass() {
  ANCHORS_QUIET_WAIT=0 "$PEERS_PYTHON" "$shared/anchors/bench_inproc.py" osrm-ch "$OSRM_CH" \
    --queries "$shared/anchors/queries-porto-2015-06.csv" --results "$out/osrm.csv" \
    --meas "$out/osrm-$1.json" --passes "$passes" >/dev/null
  "$PEERS_PYTHON" - "$out/osrm-$1.json" "$1" <<'EOF'
import json, statistics, sys
m = json.load(open(sys.argv[1]))
passes = m["query_inproc"]["osrm-ch"]["passes"]
med = lambda k: statistics.median(p[k] for p in passes)
print(f"| OSRM CH ({sys.argv[2]}) | {med('p50_us'):.0f} | {med('p90_us'):.0f} | {med('p99_us'):.0f} | {med('mean_us'):.0f} |")
EOF
}

echo "| engine | p50 µs | p90 µs | p99 µs | mean µs |"
echo "|---|---:|---:|---:|---:|"
osrm_pass before
PASSES="$passes" cargo bench --no-default-features --bench overlay 2>/dev/null >"$out/meridian.md"
osrm_pass after
echo
cat "$out/meridian.md"
