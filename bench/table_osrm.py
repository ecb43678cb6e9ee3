#!/usr/bin/env python3
"""OSRM's /table in-process (osrm-bindings) on the points bench/table.rs uses: both ends of every
Porto anchor query, the first N, as an N x N table of durations and distances.

Usage: table_osrm.py OSRM_DATA QUERIES_CSV [--sizes 100,1000] [--algorithm CH] [--passes 3]
Prints one Markdown row per size: median ms over the passes (1 pass above 100 points).
"""
import argparse
import statistics
import time

import osrm


def points(csv_path):
    out = []
    with open(csv_path) as f:
        next(f)
        for line in f:
            if line.strip():
                lon1, lat1, lon2, lat2 = map(float, line.split(",")[:4])
                out += [(lon1, lat1), (lon2, lat2)]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("queries")
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--algorithm", default="CH")
    ap.add_argument("--passes", type=int, default=3)
    a = ap.parse_args()
    pts = points(a.queries)
    engine = osrm.OSRM(algorithm=a.algorithm, storage_config=a.data, use_shared_memory=False,
                       max_locations_distance_table=len(pts))
    print(f"| engine | N x N | table ms (median) | us per cell | unreachable cells |")
    print("|---|---|---:|---:|---:|")
    for n in (int(s) for s in a.sizes.split(",")):
        params = osrm.TableParameters(coordinates=pts[:n], annotations=["duration", "distance"],
                                      generate_hints=False)
        times = []
        for _ in range(a.passes if n <= 100 else 1):
            t = time.perf_counter()
            r = engine.Table(params)
            times.append((time.perf_counter() - t) * 1e3)
        ms = statistics.median(times)
        durations = r["durations"]
        missing = sum(1 for i in range(n) for j in range(n) if durations[i][j] is None)
        print(f"| OSRM {a.algorithm} | {n} x {n} | {ms:.1f} | {ms * 1e3 / (n * n):.2f} | {missing} |")


if __name__ == "__main__":
    main()
