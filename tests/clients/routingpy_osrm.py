"""Drives a Meridian server with routingpy's stock OSRM client (no patches, no custom URLs).

Usage: routingpy_osrm.py BASE_URL LOCATIONS_JSON
LOCATIONS_JSON is a list of [lon, lat]. Prints one JSON object: the routingpy version, the
directions result between the first two locations and the matrix over all of them.
"""

import json
import sys
from importlib.metadata import version

from routingpy import OSRM


def main() -> None:
    base_url, locations = sys.argv[1], json.loads(sys.argv[2])
    client = OSRM(base_url=base_url, timeout=60)
    route = client.directions(
        locations=locations[:2], profile="driving", steps=True, geometries="geojson", overview="full"
    )
    matrix = client.matrix(locations=locations, profile="driving")
    print(
        json.dumps(
            {
                "version": version("routingpy"),
                "directions": {
                    "distance": route.distance,
                    "duration": route.duration,
                    "points": len(route.geometry),
                    "steps": len(route.raw["routes"][0]["legs"][0]["steps"]),
                },
                "matrix": {"durations": matrix.durations, "distances": matrix.distances},
            }
        )
    )


if __name__ == "__main__":
    main()
