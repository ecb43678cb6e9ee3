//! Snapping: finds the nearest point on a routable edge to a coordinate, through the snap grids
//! of the geohash cells around it. The search box grows until the best hit found is closer than
//! the box's half-width, which makes the answer the true nearest edge, not just a near one.

use crate::graph::tile::flags;
use crate::graph::{EdgeId, GlobalId, GraphStore, StoreError, NONE};
use crate::spatial::geohash::{self, BBox};
use crate::spatial::geometry::{haversine_m, metres_to_degrees, project_onto_segment};

/// First search radius; most points lie on or within metres of a road.
const FIRST_RADIUS_M: f64 = 50.0;

/// A coordinate placed on the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Snap {
    /// The point on the road, `(lat, lon)`.
    pub location: (f64, f64),
    /// From the input coordinate to `location`.
    pub distance_m: f64,
    /// The directed edge found (for a two-way road, either direction).
    pub edge: EdgeId,
    /// Metres from `edge`'s tail to `location` along its shape.
    pub along_m: f64,
    pub edge_length_m: f64,
    /// The other direction of the same road, if drivable.
    pub twin: Option<EdgeId>,
    pub name: String,
}

impl Snap {
    /// The directed edges a route may use at this point, with the offset along each.
    pub fn candidates(&self) -> Vec<(EdgeId, f64)> {
        let mut v = vec![(self.edge, self.along_m)];
        if let Some(t) = self.twin {
            v.push((t, (self.edge_length_m - self.along_m).max(0.0)));
        }
        v
    }
}

/// Best hit so far: distance, edge, segment, fraction along the segment, projected point.
type Hit = (f64, EdgeId, u32, f64, (f64, f64));

/// Nearest routable edge within `max_radius_m` of `(lat, lon)`, or `None`.
pub fn snap(
    store: &GraphStore,
    point: (f64, f64),
    max_radius_m: f64,
) -> Result<Option<Snap>, StoreError> {
    let precision = store.manifest().geohash_precision;
    let mut radius = FIRST_RADIUS_M.min(max_radius_m);
    loop {
        let (dlat, dlon) = metres_to_degrees(radius, point.0);
        let query = BBox {
            min_lat: (point.0 - dlat).max(-90.0),
            max_lat: (point.0 + dlat).min(90.0),
            min_lon: (point.1 - dlon).max(-180.0),
            max_lon: (point.1 + dlon).min(180.0),
        };
        let mut best: Option<Hit> = None;
        for cell in geohash::cells_covering(&query, precision) {
            let Some(t) = store.tile_index(&cell) else {
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
                        let id =
                            GlobalId::new(item.edge_tile.to_native(), item.edge_local.to_native());
                        let edge_tile = store.tile(id.tile)?;
                        let edge = edge_tile.edge(id.local);
                        if edge.flags & flags::SNAPPABLE == 0 {
                            continue;
                        }
                        let s = item.segment.to_native();
                        let base = (edge.shape_first.to_native() + s) as usize;
                        let a = edge_tile.shapes[base].degrees();
                        let b2 = edge_tile.shapes[base + 1].degrees();
                        let p = project_onto_segment(point, a, b2);
                        let better = match best {
                            None => true,
                            Some((d, bid, bs, ..)) => {
                                p.distance_m < d || (p.distance_m == d && (id, s) < (bid, bs))
                            }
                        };
                        if better {
                            best = Some((p.distance_m, id, s, p.fraction, p.point));
                        }
                    }
                }
            }
        }
        match best {
            Some((d, id, segment, fraction, location)) if d <= radius || radius >= max_radius_m => {
                if d > max_radius_m {
                    return Ok(None);
                }
                return finish(store, id, segment, fraction, location, d).map(Some);
            }
            _ if radius >= max_radius_m => return Ok(None),
            _ => radius = (radius * 4.0).min(max_radius_m),
        }
    }
}

fn finish(
    store: &GraphStore,
    id: EdgeId,
    segment: u32,
    fraction: f64,
    location: (f64, f64),
    distance_m: f64,
) -> Result<Snap, StoreError> {
    let tile = store.tile(id.tile)?;
    let edge = tile.edge(id.local);
    let shape: Vec<(f64, f64)> = tile.shape(edge).collect();
    let mut along: f64 = shape[..=segment as usize]
        .windows(2)
        .map(|w| haversine_m(w[0], w[1]))
        .sum();
    along += fraction * haversine_m(shape[segment as usize], shape[segment as usize + 1]);
    let edge_length_m = edge.length_m.to_native() as f64;
    let twin = (edge.twin_tile.to_native() != NONE)
        .then(|| GlobalId::new(edge.twin_tile.to_native(), edge.twin_local.to_native()));
    Ok(Snap {
        location,
        distance_m,
        edge: id,
        along_m: along.clamp(0.0, edge_length_m),
        edge_length_m,
        twin,
        name: tile.name(edge.name.to_native()).to_string(),
    })
}
