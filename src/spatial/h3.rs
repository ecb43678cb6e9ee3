//! H3 cells (Uber's hexagonal grid, via `h3o`) for analytics: exports name the hexagon each road
//! edge lies in, so analysts can aggregate traffic by hexagon, join with other H3-indexed data,
//! and draw it with the usual H3 tools. Routing and storage stay on geohash tiles; hexagons have
//! equal neighbours and near-equal areas, which is what aggregation wants, while geohash cells
//! nest exactly and name files, which is what tiles want.

use crate::coord::LatLon;
use h3o::{CellIndex, LatLng, Resolution};

/// Resolution of the traffic export's cells: edge ~200 m, area ~0.1 km², about a city block.
pub const TRAFFIC_RESOLUTION: Resolution = Resolution::Nine;

/// The H3 cell at `resolution` holding `point`, or `None` for coordinates that are not finite.
pub fn cell_of(point: LatLon, resolution: Resolution) -> Option<CellIndex> {
    LatLng::new(point.lat, point.lon)
        .ok()
        .map(|ll| ll.to_cell(resolution))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_match_the_h3_reference_and_nest() {
        // The example of the H3 documentation (San Francisco, resolution 9).
        let cell = cell_of(
            LatLon::new(37.775_270_215_195_9, -122.418_307_270_836),
            Resolution::Nine,
        )
        .unwrap();
        assert_eq!(cell.to_string(), "8928308280fffff");
        // A point in Porto, and its parent at resolution 5 contains it.
        let porto = cell_of(LatLon::new(41.1496, -8.6109), TRAFFIC_RESOLUTION).unwrap();
        assert_eq!(porto.resolution(), Resolution::Nine);
        assert_eq!(
            porto.parent(Resolution::Five),
            cell_of(LatLon::new(41.1496, -8.6109), Resolution::Five)
        );
        assert!(cell_of(LatLon::new(f64::NAN, 0.0), TRAFFIC_RESOLUTION).is_none());
    }
}
