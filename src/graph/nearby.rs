//! Spatial queries over the tiles' snap grids: which road segments lie near a point, and where
//! a point projects onto an edge. Snapping route endpoints and matching GPS pings both build on it.

use super::tile::flags;
use super::{EdgeId, GlobalId, GraphStore, StoreError};
use spatial::geohash;
use spatial::geometry::{metres_to_degrees, projection_at, LocalFrame, Projection};
use spatial::{BBox, LatLon};

/// A road segment near a point: which edge, which segment of its shape, and where the point
/// projects onto it.
#[derive(Clone, Copy, Debug)]
pub struct SegmentHit {
    pub edge: EdgeId,
    pub segment: u32,
    pub projection: Projection,
}

/// Calls `visit` for the indexed road segments near `point`: every segment within `radius_m`
/// (and some up to about 1% + 1 m further: callers compare the exact distance themselves); a
/// segment may be visited more than once.
pub fn visit_segments_near(
    store: &GraphStore,
    point: LatLon,
    radius_m: f64,
    mut visit: impl FnMut(SegmentHit),
) -> Result<(), StoreError> {
    let precision = store.manifest().geohash_precision;
    // Most segments in the grid buckets are far: a planar distance discards them without
    // trigonometry; the margin covers the planar approximation.
    let local = LocalFrame::at(point);
    let keep_within_m = radius_m * 1.01 + 1.0;
    let (dlat, dlon) = metres_to_degrees(radius_m, point.lat);
    let query = BBox {
        min_lat: (point.lat - dlat).max(-90.0),
        max_lat: (point.lat + dlat).min(90.0),
        min_lon: (point.lon - dlon).max(-180.0),
        max_lon: (point.lon + dlon).min(180.0),
    };
    for cell in geohash::cells_covering(&query, precision) {
        let Some(t) = store.tile_of(cell).filter(|&t| store.has_tile(t)) else {
            continue;
        };
        let tile = store.tile(t)?;
        let grid = &tile.snap;
        let rows = grid.rows.to_native();
        let cols = grid.cols.to_native();
        let (min_lat, min_lon) = (grid.min_lat.to_native(), grid.min_lon.to_native());
        let (cell_lat, cell_lon) = (grid.cell_lat.to_native(), grid.cell_lon.to_native());
        let span = |lo: f64, hi: f64, min: f64, step: f64, n: u32| {
            let a = ((lo - min) / step).floor();
            let b = ((hi - min) / step).floor();
            if b < 0.0 || a >= n as f64 {
                return None;
            }
            Some((a.max(0.0) as u32, (b as u32).min(n - 1)))
        };
        let (Some((r0, r1)), Some((c0, c1))) = (
            span(query.min_lat, query.max_lat, min_lat, cell_lat, rows),
            span(query.min_lon, query.max_lon, min_lon, cell_lon, cols),
        ) else {
            continue;
        };
        for r in r0..=r1 {
            for c in c0..=c1 {
                let b = (r * cols + c) as usize;
                let first = grid.bucket_first[b].to_native() as usize;
                let last = grid.bucket_first[b + 1].to_native() as usize;
                for item in &grid.items[first..last] {
                    let id = GlobalId::new(item.edge_tile.to_native(), item.edge_local.to_native());
                    // Most segments in a tile's grid belong to its own edges.
                    let edge_tile = if id.tile == t {
                        tile
                    } else if store.has_tile(id.tile) {
                        store.tile(id.tile)?
                    } else {
                        continue;
                    };
                    let edge = edge_tile.edge(id.local);
                    // A road into a tile a partial store lacks cannot be driven: not a road here.
                    if edge.flags & flags::SNAPPABLE == 0 || !store.has_tile(edge.target().tile) {
                        continue;
                    }
                    let segment = item.segment.to_native();
                    let (a, b2) = edge_tile.segment(edge, segment);
                    let (fraction, planar_m) = local.project(a, b2);
                    if planar_m > keep_within_m {
                        continue;
                    }
                    visit(SegmentHit {
                        edge: id,
                        segment,
                        projection: projection_at(point, a, b2, fraction),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Metres from an edge's tail to a projected point on one of its segments.
pub fn along_edge_m(store: &GraphStore, hit: &SegmentHit) -> Result<f64, StoreError> {
    let tile = store.tile(hit.edge.tile)?;
    let edge = tile.edge(hit.edge.local);
    let first = edge.shape_first() as usize;
    let seg = hit.segment as usize;
    let shape = &tile.shapes[first..=first + seg + 1];
    let mut along = 0.0;
    let mut previous = shape[0].degrees();
    for (i, c) in shape.iter().enumerate().skip(1) {
        let here = c.degrees();
        let length = previous.haversine_m(here);
        along += if i <= seg {
            length
        } else {
            hit.projection.fraction * length
        };
        previous = here;
    }
    Ok(along.clamp(0.0, edge.length_m() as f64))
}
