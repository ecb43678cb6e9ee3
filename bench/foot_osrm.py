#!/usr/bin/env python3
"""Record OSRM's foot.lua answers for random walking pairs of one extract (issue 13).

Generates N random pairs in a box (uniform points, crow-fly distance between MIN_M and MAX_M,
fixed seed), asks a running osrm-routed (built with OSRM's profiles/foot.lua, see
bench/RESULTS.md for the commands) for each walking route, and writes one CSV row per pair:

    id,from_lon,from_lat,to_lon,to_lat,osrm_distance_m,osrm_duration_s

An empty distance means OSRM found no route. The integration test `tests/it/foot.rs` reads
this CSV (it does not need OSRM) and compares Meridian's foot routes with it.

Usage: foot_osrm.py --osrm http://127.0.0.1:5920 --box=-8.68,41.12,-8.54,41.19 \
           --n 600 --seed 13 --out bench/foot-osrm-porto-2015-06.csv
Stdlib only.
"""

import argparse
import csv
import json
import math
import random
import urllib.request


def haversine_m(a, b):
    lon1, lat1 = map(math.radians, a)
    lon2, lat2 = map(math.radians, b)
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--osrm", required=True)
    ap.add_argument("--box", required=True, help="min_lon,min_lat,max_lon,max_lat")
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--min-m", type=float, default=300.0)
    ap.add_argument("--max-m", type=float, default=5000.0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    min_lon, min_lat, max_lon, max_lat = map(float, args.box.split(","))
    rng = random.Random(args.seed)
    rows = []
    while len(rows) < args.n:
        a = (rng.uniform(min_lon, max_lon), rng.uniform(min_lat, max_lat))
        b = (rng.uniform(min_lon, max_lon), rng.uniform(min_lat, max_lat))
        if not (args.min_m <= haversine_m(a, b) <= args.max_m):
            continue
        url = f"{args.osrm}/route/v1/foot/{a[0]:.6f},{a[1]:.6f};{b[0]:.6f},{b[1]:.6f}?overview=false"
        with urllib.request.urlopen(url) as r:
            answer = json.load(r)
        if answer.get("code") == "Ok":
            route = answer["routes"][0]
            dist, dur = f"{route['distance']:.1f}", f"{route['duration']:.1f}"
        else:
            dist, dur = "", ""
        rows.append([len(rows), f"{a[0]:.6f}", f"{a[1]:.6f}", f"{b[0]:.6f}", f"{b[1]:.6f}", dist, dur])
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "from_lon", "from_lat", "to_lon", "to_lat", "osrm_distance_m", "osrm_duration_s"])
        w.writerows(rows)
    print(f"wrote {len(rows)} pairs to {args.out} ({sum(1 for r in rows if r[5])} with a route)")


if __name__ == "__main__":
    main()
