#!/usr/bin/env python3
"""Route choice next to OSRM, judged by Meridian's own durations (issue 12).

For each pair of a query CSV (lon1,lat1,lon2,lat2 with a header, as the anchors write them), ask
osrm-routed and Meridian for the route, then cost OSRM's route in Meridian's model: its geometry
(at most 100 points, ends kept) goes to Meridian's own /match, whose matched duration is what
Meridian's weights say OSRM's path takes. A pair where Meridian's route takes >= 5% longer than
that is one where Meridian's search or snapping rules kept it from a path its own model rates
faster. Each such pair gets a cause guessed from the geometry: the two routes leave the origin
in opposite directions, reach the destination from opposite directions, OSRM's path turns back
near an end (a U-turn), or other.

Usage: route_choice.py --meridian http://127.0.0.1:5941 --osrm http://127.0.0.1:5942 \\
           --queries QUERIES.csv [--n 500] [--out pairs.csv]
Prints the shares within 1% / 5% of OSRM's distance and duration (OSRM's own durations), and
the pairs >= 5% slower by Meridian's durations with their guessed causes.
"""
import argparse
import csv
import json
import math
import sys
import urllib.error
import urllib.request


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)


def bearing(a, b):
    (lon1, lat1), (lon2, lat2) = a, b
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360


def metres(a, b):
    (lon1, lat1), (lon2, lat2) = a, b
    k = math.pi / 180
    x = (lon2 - lon1) * k * math.cos((lat1 + lat2) / 2 * k)
    y = (lat2 - lat1) * k
    return 6371000 * math.hypot(x, y)


def heading(coords, from_end=False, span=30.0):
    """Bearing of the first (or last) `span` metres of a line."""
    pts = list(reversed(coords)) if from_end else coords
    walked = 0.0
    for i in range(1, len(pts)):
        walked += metres(pts[i - 1], pts[i])
        if walked >= span:
            b = bearing(pts[0], pts[i])
            return (b + 180) % 360 if from_end else b
    return None


def turns_back(coords, near_m=200.0):
    """A reversal (> 150 degrees between consecutive pieces) within `near_m` of an end."""
    def scan(pts):
        walked = 0.0
        prev = None
        for i in range(1, len(pts)):
            d = metres(pts[i - 1], pts[i])
            if d < 1.0:
                continue
            b = bearing(pts[i - 1], pts[i])
            if prev is not None and abs((b - prev + 180) % 360 - 180) > 150:
                return True
            prev = b
            walked += d
            if walked > near_m:
                return False
        return False
    return scan(coords) or scan(list(reversed(coords)))


def differ(a, b):
    return a is not None and b is not None and abs((a - b + 180) % 360 - 180) > 90


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meridian", required=True)
    ap.add_argument("--osrm", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--out")
    a = ap.parse_args()
    with open(a.queries) as f:
        rows = [r for r in csv.reader(f)][1:][: a.n]
    opts = "?overview=full&geometries=geojson"
    n = dist1 = dist5 = dur1 = dur5 = 0
    slower, unmatched = [], 0
    out = []
    for r in rows:
        lon1, lat1, lon2, lat2 = map(float, r[-4:]) if len(r) == 4 else map(float, r[1:5])
        path = f"/route/v1/driving/{lon1},{lat1};{lon2},{lat2}{opts}"
        o, m = get(a.osrm + path), get(a.meridian + path)
        if o.get("code") != "Ok" or m.get("code") != "Ok":
            continue
        ro, rm = o["routes"][0], m["routes"][0]
        n += 1
        rel = lambda x, y: abs(x - y) / max(y, 1e-9)
        dist1 += rel(rm["distance"], ro["distance"]) <= 0.01
        dist5 += rel(rm["distance"], ro["distance"]) <= 0.05
        dur1 += rel(rm["duration"], ro["duration"]) <= 0.01
        dur5 += rel(rm["duration"], ro["duration"]) <= 0.05
        co, cm = ro["geometry"]["coordinates"], rm["geometry"]["coordinates"]
        if len(co) < 2 or ro["distance"] < 50:
            continue
        step = max(1, math.ceil((len(co) - 1) / 99))
        pts = co[::step]
        if pts[-1] != co[-1]:
            pts.append(co[-1])
        coords = ";".join(f"{x},{y}" for x, y in pts)
        radiuses = ";".join(["5"] * len(pts))
        mt = get(f"{a.meridian}/match/v1/driving/{coords}?radiuses={radiuses}&overview=false&gaps=ignore")
        if mt.get("code") != "Ok" or len(mt.get("matchings", [])) != 1:
            unmatched += 1
            continue
        osrm_in_ours = mt["matchings"][0]["duration"]
        ratio = rm["duration"] / max(osrm_in_ours, 1e-9)
        cause = "other"
        if differ(heading(cm), heading(co)):
            cause = "leaves the origin the other way"
        elif differ(heading(cm, True), heading(co, True)):
            cause = "reaches the destination from the other side"
        elif turns_back(co):
            cause = "OSRM turns back near an end"
        row = dict(lon1=lon1, lat1=lat1, lon2=lon2, lat2=lat2, ours_s=round(rm["duration"], 1),
                   osrm_in_ours_s=round(osrm_in_ours, 1), osrm_s=round(ro["duration"], 1),
                   ratio=round(ratio, 3), cause=cause)
        out.append(row)
        if ratio >= 1.05:
            slower.append(row)
    print(f"pairs routed by both: {n}; within 1% / 5% of OSRM's distance: "
          f"{100 * dist1 / n:.1f}% / {100 * dist5 / n:.1f}%; duration (OSRM's own): "
          f"{100 * dur1 / n:.1f}% / {100 * dur5 / n:.1f}%")
    judged = len(out)
    print(f"judged by Meridian's durations (OSRM's path matched back): {judged}, not matched as one: {unmatched}")
    if judged:
        ge5 = sum(r["ratio"] >= 1.05 for r in out)
        ge10 = sum(r["ratio"] >= 1.10 for r in out)
        worst = max(r["ratio"] for r in out)
        print(f"Meridian >= 5% slower than OSRM's path: {ge5} ({100 * ge5 / judged:.1f}%), >= 10%: "
              f"{ge10} ({100 * ge10 / judged:.1f}%), worst {worst:.2f}x")
        causes = {}
        for r in slower:
            causes[r["cause"]] = causes.get(r["cause"], 0) + 1
        for c, k in sorted(causes.items(), key=lambda kv: -kv[1]):
            print(f"  {k:4d}  {c}")
        for r in sorted(slower, key=lambda r: -r["ratio"])[:15]:
            print(f"  {r['ratio']:.2f}x  {r['lon1']},{r['lat1']};{r['lon2']},{r['lat2']}  "
                  f"ours {r['ours_s']} s, OSRM's path {r['osrm_in_ours_s']} s  ({r['cause']})")
    if a.out and out:
        with open(a.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(out[0]))
            w.writeheader()
            w.writerows(out)


if __name__ == "__main__":
    sys.exit(main())
