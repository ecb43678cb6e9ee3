#!/usr/bin/env python3
"""Maneuver-type distribution of route steps, Meridian next to OSRM, on the same pairs.

Asks each server for `/route/v1/driving/A;B?steps=true` on the first N pairs of an anchors
query file (lon1,lat1,lon2,lat2) and prints, per server, the steps per route, the share of
each maneuver type among the steps between depart and arrive, and the share of `new name`.
Pairs either server cannot route are left out of both columns, so both count the same routes.

    bench/guidance_steps.py --meridian http://127.0.0.1:5931 [--osrm http://127.0.0.1:5932] \
        --queries ../shared/anchors/queries-porto-2015-06.csv [--pairs 300] [--json out.json]

Standard library only. `--max-new-name` makes it exit 1 when Meridian's new-name share is above
that fraction (a check, for CI-style use).
"""

import argparse
import collections
import csv
import json
import math
import sys
import urllib.error
import urllib.request


def route_steps(base, pair):
    lon1, lat1, lon2, lat2 = pair
    url = f"{base}/route/v1/driving/{lon1},{lat1};{lon2},{lat2}?steps=true&overview=false"
    try:
        with urllib.request.urlopen(url, timeout=120) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as err:
        body = json.load(err)
    if body.get("code") != "Ok":
        return None
    return [step for leg in body["routes"][0]["legs"] for step in leg["steps"]]


def kind(step):
    m = step["maneuver"]
    return m["type"]


def metres(a, b):
    """Flat distance in metres between two [lon, lat] points (fine over a few metres)."""
    dx = (a[0] - b[0]) * 111_320.0 * math.cos(math.radians(a[1]))
    dy = (a[1] - b[1]) * 110_540.0
    return math.hypot(dx, dy)


def confusion(mine, theirs, radius_m=15.0):
    """Meridian's maneuver types against OSRM's at the same place (within radius_m), over the
    same routes; "-" where the other server has no maneuver there."""
    table = collections.Counter()
    for a_steps, b_steps in zip(mine, theirs):
        a = [(s["maneuver"]["location"], kind(s)) for s in a_steps[1:-1]]
        b = [(s["maneuver"]["location"], kind(s)) for s in b_steps[1:-1]]
        used = set()
        for loc, k in a:
            j = next(
                (j for j, (l2, _) in enumerate(b) if j not in used and metres(loc, l2) <= radius_m),
                None,
            )
            if j is None:
                table[(k, "-")] += 1
            else:
                used.add(j)
                table[(k, b[j][1])] += 1
        for j, (_, k) in enumerate(b):
            if j not in used:
                table[("-", k)] += 1
    return table


def summarise(steps_per_route):
    counts = collections.Counter()
    total = 0
    for steps in steps_per_route:
        for s in steps[1:-1]:  # depart and arrive are in every route: left out of the shares
            counts[kind(s)] += 1
            total += 1
    return counts, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meridian", required=True)
    ap.add_argument("--osrm")
    ap.add_argument("--queries", required=True)
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--json")
    ap.add_argument("--max-new-name", type=float)
    ap.add_argument("--confusion", action="store_true", help="print type pairs at shared places")
    args = ap.parse_args()

    with open(args.queries) as f:
        rows = list(csv.DictReader(f))[: args.pairs]
    pairs = [(r["lon1"], r["lat1"], r["lon2"], r["lat2"]) for r in rows]
    servers = {"meridian": args.meridian}
    if args.osrm:
        servers["osrm"] = args.osrm
    answers = {name: [] for name in servers}
    for pair in pairs:
        got = {name: route_steps(base, pair) for name, base in servers.items()}
        if any(v is None for v in got.values()):
            continue
        for name, steps in got.items():
            answers[name].append(steps)

    routes = len(answers["meridian"])
    print(f"{routes} routes of {len(pairs)} pairs ({args.queries})")
    summaries = {name: summarise(a) for name, a in answers.items()}
    kinds = sorted({k for c, _ in summaries.values() for k in c})
    header = "| maneuver (between depart and arrive) | " + " | ".join(servers) + " |"
    print(header)
    print("|---|" + "---:|" * len(servers))
    for k in kinds:
        cells = []
        for name in servers:
            c, t = summaries[name]
            cells.append(f"{c[k]} ({100.0 * c[k] / max(t, 1):.1f}%)")
        print(f"| {k} | " + " | ".join(cells) + " |")
    cells = [f"{summaries[n][1] / max(routes, 1) + 2:.2f}" for n in servers]
    print("| steps per route (with depart, arrive) | " + " | ".join(cells) + " |")
    if "osrm" in answers:
        table = confusion(answers["meridian"], answers["osrm"])
        theirs = sum(n for (a, b), n in table.items() if b != "-")
        same = sum(n for (a, b), n in table.items() if a == b)
        print(
            f"\nOSRM maneuvers with a Meridian maneuver of the same type within 15 m: "
            f"{same} of {theirs} ({100.0 * same / max(theirs, 1):.1f}%)"
        )
        if args.confusion:
            print("\n| meridian | osrm | count |\n|---|---|---:|")
            for (a, b), n in table.most_common(40):
                print(f"| {a} | {b} | {n} |")
    shares = {n: summaries[n][0]["new name"] / max(summaries[n][1], 1) for n in servers}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "routes": routes,
                    "counts": {n: dict(summaries[n][0]) for n in servers},
                    "new_name_share": shares,
                },
                f,
                indent=1,
            )
    if args.max_new_name is not None and shares["meridian"] > args.max_new_name:
        print(f"new-name share {shares['meridian']:.3f} > {args.max_new_name}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
