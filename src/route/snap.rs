//! Snapping: finds the nearest point on a routable edge to a coordinate, through the snap grids
//! of the geohash cells around it. The search box grows until the best hit found is closer than
//! the box's half-width, which makes the answer the true nearest edge, not just a near one.

use graph::nearby::{along_edge_m, visit_segments_near, SegmentHit};
use graph::{EdgeId, GlobalId, GraphStore, StoreError, NONE};

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

/// Nearest routable edge within `max_radius_m` of `(lat, lon)`, or `None`.
pub fn snap(
    store: &GraphStore,
    point: (f64, f64),
    max_radius_m: f64,
) -> Result<Option<Snap>, StoreError> {
    let mut radius = FIRST_RADIUS_M.min(max_radius_m);
    loop {
        let mut best: Option<SegmentHit> = None;
        visit_segments_near(store, point, radius, |hit| {
            let better = match &best {
                None => true,
                Some(b) => {
                    let (d, bd) = (hit.projection.distance_m, b.projection.distance_m);
                    d < bd || (d == bd && (hit.edge, hit.segment) < (b.edge, b.segment))
                }
            };
            if better {
                best = Some(hit);
            }
        })?;
        match best {
            Some(hit) if hit.projection.distance_m <= radius || radius >= max_radius_m => {
                if hit.projection.distance_m > max_radius_m {
                    return Ok(None);
                }
                return finish(store, &hit).map(Some);
            }
            _ if radius >= max_radius_m => return Ok(None),
            _ => radius = (radius * 4.0).min(max_radius_m),
        }
    }
}

fn finish(store: &GraphStore, hit: &SegmentHit) -> Result<Snap, StoreError> {
    let tile = store.tile(hit.edge.tile)?;
    let edge = tile.edge(hit.edge.local);
    let twin = (edge.twin_tile.to_native() != NONE)
        .then(|| GlobalId::new(edge.twin_tile.to_native(), edge.twin_local.to_native()));
    Ok(Snap {
        location: hit.projection.point,
        distance_m: hit.projection.distance_m,
        edge: hit.edge,
        along_m: along_edge_m(store, hit)?,
        edge_length_m: edge.length_m.to_native() as f64,
        twin,
        name: tile.name(edge.name.to_native()).to_string(),
    })
}
