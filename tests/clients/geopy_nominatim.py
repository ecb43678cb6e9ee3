"""Drives a Meridian server with geopy's stock Nominatim client (no patches, only its documented
`domain` and `scheme` arguments).

Usage: geopy_nominatim.py HOST:PORT QUERIES_JSON POINTS_JSON
QUERIES_JSON is a list of address strings, POINTS_JSON a list of [lat, lon]. Prints one JSON
object: the geopy version, per query the first location (or null) and its raw answer, per point
the reverse location (or null) and its raw answer.
"""

import json
import sys
from importlib.metadata import version

from geopy.geocoders import Nominatim


def located(loc):
    if loc is None:
        return None
    return {
        "address": loc.address,
        "latitude": loc.latitude,
        "longitude": loc.longitude,
        "raw": loc.raw,
    }


def main() -> None:
    domain, queries, points = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    client = Nominatim(domain=domain, scheme="http", user_agent="meridian-tests", timeout=30)
    forward = [located(client.geocode(q)) for q in queries]
    many = client.geocode(queries[0], exactly_one=False, limit=3)
    backward = [located(client.reverse((lat, lon))) for lat, lon in points]
    print(
        json.dumps(
            {
                "version": version("geopy"),
                "geocode": forward,
                "geocode_many": [located(l) for l in (many or [])],
                "reverse": backward,
            }
        )
    )


if __name__ == "__main__":
    main()
