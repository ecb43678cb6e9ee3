#!/usr/bin/env bash
# Route-step maneuver types, Meridian next to osrm-routed, on the same anchor pairs of one extract
# (bench/guidance_steps.py). Starts both servers, asks PAIRS routes with steps=true from each and
# prints the type shares, steps per route and how many of OSRM's maneuvers Meridian has at the
# same place (15 m) with the same type.
#
#   PEERS_PYTHON=/path/to/peers/venv/bin/python OSRM_DATA=/path/to/porto-2015-06.osrm \
#   GRAPH=graphdata/porto-2015-06 QUERIES=../shared/anchors/queries-porto-2015-06.csv \
#   bench/guidance_vs_osrm.sh
#
# OSRM_ALGORITHM (CH or MLD, default CH: the .osrm must have been prepared for it), PAIRS (1000),
# MERIDIAN_BIN (default: the dev build, `cargo build`; guidance does not depend on the profile),
# EXTRA (more guidance_steps.py flags, e.g. --confusion).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PEERS_PYTHON:?set PEERS_PYTHON to the anchors venv python (with osrm-bindings)}"
: "${OSRM_DATA:?set OSRM_DATA to a prepared .osrm of the extract}"
: "${GRAPH:?set GRAPH to a meridian import of the same extract}"
: "${QUERIES:?set QUERIES to an anchors queries csv (lon1,lat1,lon2,lat2)}"
if [ -z "${MERIDIAN_BIN:-}" ]; then
  cargo build --bin meridian >/dev/null 2>&1
  MERIDIAN_BIN="${CARGO_TARGET_DIR:-target}/debug/meridian"
fi
routed="$("$PEERS_PYTHON" -c 'import osrm, pathlib; print(pathlib.Path(osrm.__file__).parent / "bin" / "osrm-routed")')"
mport=5961
oport=5962
"$MERIDIAN_BIN" serve --graph "$GRAPH" --listen "127.0.0.1:$mport" 2>/dev/null &
mpid=$!
"$routed" -a "${OSRM_ALGORITHM:-CH}" -i 127.0.0.1 -p "$oport" -t 1 -l WARNING "$OSRM_DATA" >/dev/null 2>&1 &
opid=$!
trap 'kill $mpid $opid 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$mport/health" >/dev/null &&
    curl -s "http://127.0.0.1:$oport/nearest/v1/driving/0,0" | grep -q '"code"'; then
    break
  fi
  sleep 0.5
done
# shellcheck disable=SC2086
python3 bench/guidance_steps.py --meridian "http://127.0.0.1:$mport" --osrm "http://127.0.0.1:$oport" \
  --queries "$QUERIES" --pairs "${PAIRS:-1000}" ${EXTRA:-}
