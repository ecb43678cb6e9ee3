#!/usr/bin/env bash
# Route latency over HTTP, Meridian (overlay, the default) next to osrm-routed (CH) on the same
# 1000 Porto anchor pairs, interleaved query by query in one run (the anchors' ratio_http.py), so
# both servers see the same noise. Meridian and OSRM each get one keep-alive connection.
#
#   PEERS_PYTHON=/path/to/peers/venv/bin/python OSRM_CH=/path/to/porto-2015-06.osrm \
#   GRAPH=graphdata/porto-2015-06 bench/http_vs_osrm.sh
#
# GRAPH is a `meridian import` of ../shared/data/osm/medium/porto-2015-06.osm.pbf. Other env:
# MERIDIAN_BIN (default: a release build without the analytics feature), PASSES (3),
# MERIDIAN_ARGS (extra `serve` flags, e.g. --no-overlay), MERIDIAN_SHARED (../shared).
# With traffic on: `SLOWED_PROFILES=/tmp/slowed.prof cargo bench --bench overlay` imports
# bench/out/porto-overlay and writes 10% of its edges slowed as profiles; then run this with
# GRAPH=bench/out/porto-overlay MERIDIAN_ARGS="--profiles /tmp/slowed.prof".
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${MERIDIAN_SHARED:-../shared}"
: "${PEERS_PYTHON:?set PEERS_PYTHON to the anchors venv python (with osrm-bindings)}"
: "${OSRM_CH:?set OSRM_CH to a contracted porto-2015-06.osrm}"
: "${GRAPH:?set GRAPH to a meridian import of porto-2015-06}"
if [ -z "${MERIDIAN_BIN:-}" ]; then
  cargo build --release --no-default-features --bin meridian >/dev/null 2>&1
  MERIDIAN_BIN="${CARGO_TARGET_DIR:-target}/release/meridian"
fi
routed="$("$PEERS_PYTHON" -c 'import osrm, pathlib; print(pathlib.Path(osrm.__file__).parent / "bin" / "osrm-routed")')"
mport=5931
oport=5932
# shellcheck disable=SC2086
"$MERIDIAN_BIN" serve --graph "$GRAPH" --listen "127.0.0.1:$mport" ${MERIDIAN_ARGS:-} 2>/dev/null &
mpid=$!
"$routed" -a CH -i 127.0.0.1 -p "$oport" -t 1 -l WARNING "$OSRM_CH" >/dev/null 2>&1 &
opid=$!
trap 'kill $mpid $opid 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$mport/health" >/dev/null &&
    curl -s "http://127.0.0.1:$oport/route/v1/driving/-8.61,41.15;-8.60,41.16" | grep -q '"code"'; then
    break
  fi
  sleep 0.5
done
"$PEERS_PYTHON" "$shared/anchors/ratio_http.py" "http://127.0.0.1:$mport" "http://127.0.0.1:$oport" \
  "$shared/anchors/queries-porto-2015-06.csv" --passes "${PASSES:-3}" --max-ratio-p50 100 --max-ratio-p99 100
