//! Snapping: finds the nearest point on a routable edge to a coordinate, through the snap grids
//! of the geohash cells around it. The search box grows until the best hit found is closer than
//! the box's half-width, which makes the answer the true nearest edge, not just a near one.
//! [`nearest`] does the same for the `n` nearest roads (OSRM's `/nearest`). Either may be
//! limited to roads driven within a [`Bearing`] (OSRM's `bearings`): a road counts only if one
//! of its directions at the nearest point heads that way, and the snap keeps only those
//! directions, so a route starts or ends driving that way.

use graph::nearby::{along_edge_m, visit_segments_near, SegmentHit};
use graph::{EdgeId, Exclude, GraphStore, StoreError};
use spatial::LatLon;

/// First search radius; most points lie on or within metres of a road.
const FIRST_RADIUS_M: f64 = 50.0;
/// A snap this close to an end of its edge is at that junction: the route may leave or reach
/// it by any road there, not only the one the snap happened to find.
const AT_JUNCTION_M: f64 = 0.5;

/// A coordinate placed on the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Snap {
    /// The point on the road.
    pub location: LatLon,
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
    /// When the point is at a junction: the other directed edges there, leaving it (offset 0)
    /// or arriving at it (offset = their length). Empty elsewhere, or when bearings or
    /// approaches limit the directions.
    pub junction: Vec<(EdgeId, f64)>,
}

impl Snap {
    /// The directed edges a route may use at this point, with the offset along each.
    pub fn candidates(&self) -> Vec<(EdgeId, f64)> {
        let mut v = vec![(self.edge, self.along_m)];
        if let Some(t) = self.twin {
            v.push((t, (self.edge_length_m - self.along_m).max(0.0)));
        }
        v.extend_from_slice(&self.junction);
        v
    }
}

/// The directed edges at the junction `along_m` metres along `edge` lies on (none unless it is
/// within [`AT_JUNCTION_M`] of one of its ends), other than `edge` and its twin: every routable
/// edge leaving the junction, at offset 0, and every one arriving there (one-way ones too),
/// at its length. Found through the snap grid at the junction's point, which indexes every
/// edge's segments (the tiles keep no list of the edges arriving at a node).
pub fn junction_edges(
    store: &GraphStore,
    edge: EdgeId,
    along_m: f64,
    exclude: Exclude,
) -> Result<Vec<(EdgeId, f64)>, StoreError> {
    let tile = store.tile(edge.tile)?;
    let e = tile.edge(edge.local);
    let length = e.length_m() as f64;
    let node = if along_m <= AT_JUNCTION_M {
        EdgeId::new(edge.tile, tile.edge_source(edge.local))
    } else if along_m >= length - AT_JUNCTION_M {
        e.target()
    } else {
        return Ok(Vec::new());
    };
    if !store.has_tile(node.tile) {
        return Ok(Vec::new());
    }
    let point = store.tile(node.tile)?.node_location(node.local);
    let own = [Some(edge), e.twin()];
    let mut hits = Vec::new();
    visit_segments_near(store, point, AT_JUNCTION_M, |hit| {
        if hit.projection.distance_m <= AT_JUNCTION_M && !own.contains(&Some(hit.edge)) {
            hits.push(hit);
        }
    })?;
    let mut out: Vec<(EdgeId, f64)> = Vec::new();
    let mut add = |id: EdgeId, at_start: bool| -> Result<(), StoreError> {
        let x = store.tile(id.tile)?.edge(id.local);
        let usable = x.flags & graph::tile::flags::SNAPPABLE != 0
            && store.has_tile(x.target().tile)
            && !exclude.excludes(x);
        if usable && !own.contains(&Some(id)) && !out.iter().any(|(e, _)| *e == id) {
            out.push((id, if at_start { 0.0 } else { x.length_m() as f64 }));
        }
        Ok(())
    };
    for hit in hits {
        let t = store.tile(hit.edge.tile)?;
        let x = t.edge(hit.edge.local);
        let len = x.length_m() as f64;
        let along = along_edge_m(store, &hit)?;
        // Only edges that start or end at the junction (not one passing within 0.5 m of it);
        // the grid indexes one direction of a two-way road, so its twin comes with it.
        let starts = along <= AT_JUNCTION_M
            && hit.edge.tile == node.tile
            && t.edge_source(hit.edge.local) == node.local;
        let ends = along >= len - AT_JUNCTION_M && x.target() == node;
        if starts || ends {
            add(hit.edge, starts)?;
            if let Some(twin) = x.twin() {
                add(twin, !starts)?;
            }
        }
    }
    // The order the grid visits segments in must not matter.
    out.sort_by_key(|(e, _)| e.pack());
    Ok(out)
}

/// A direction of travel a snap must allow: degrees clockwise from north, plus or minus
/// `range_deg`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bearing {
    pub bearing_deg: f64,
    pub range_deg: f64,
}

impl Bearing {
    fn allows(&self, heading_deg: f64) -> bool {
        let d = (heading_deg - self.bearing_deg).rem_euclid(360.0);
        d.min(360.0 - d) <= self.range_deg
    }
}

/// Which directions of the hit's road may be used: (along the edge, along its twin).
fn directions(
    store: &GraphStore,
    hit: &SegmentHit,
    bearing: Option<Bearing>,
) -> Result<(bool, bool), StoreError> {
    let tile = store.tile(hit.edge.tile)?;
    let edge = tile.edge(hit.edge.local);
    let has_twin = edge.twin().is_some();
    let Some(b) = bearing else {
        return Ok((true, has_twin));
    };
    let (from, to) = tile.segment(edge, hit.segment);
    let heading = from.bearing_deg(to);
    Ok((
        b.allows(heading),
        has_twin && b.allows((heading + 180.0) % 360.0),
    ))
}

/// Which side of the road a route must stop at (OSRM's `approaches`): `Curb` = the side the
/// coordinate lies on is the driving side (right), so the car arrives and leaves with the
/// point on its right; `Opposite` = the other side. Only two-way roads are affected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approach {
    Curb,
    Opposite,
}

/// The directions `approach` allows at the hit: (along the edge, along its twin).
fn approach_directions(
    store: &GraphStore,
    point: LatLon,
    hit: &SegmentHit,
    approach: Approach,
) -> Result<(bool, bool), StoreError> {
    let tile = store.tile(hit.edge.tile)?;
    let edge = tile.edge(hit.edge.local);
    if edge.twin().is_none() {
        return Ok((true, false));
    }
    let (a, b) = tile.segment(edge, hit.segment);
    // Sign of the cross product in a local frame (x east, y north): negative = on the right.
    let k = a.lat.to_radians().cos();
    let cross =
        (b.lon - a.lon) * k * (point.lat - a.lat) - (b.lat - a.lat) * (point.lon - a.lon) * k;
    if cross == 0.0 {
        return Ok((true, true));
    }
    let right = cross < 0.0;
    Ok(match approach {
        Approach::Curb => (right, !right),
        Approach::Opposite => (!right, right),
    })
}

/// The directions a snap keeps: those of the bearing, narrowed by the approach unless that
/// leaves none.
fn allowed(
    store: &GraphStore,
    point: LatLon,
    hit: &SegmentHit,
    bearing: Option<Bearing>,
    approach: Option<Approach>,
) -> Result<(bool, bool), StoreError> {
    let (f, r) = directions(store, hit, bearing)?;
    let Some(a) = approach else {
        return Ok((f, r));
    };
    let (af, ar) = approach_directions(store, point, hit, a)?;
    Ok(if (f && af) || (r && ar) {
        (f && af, r && ar)
    } else {
        (f, r)
    })
}

/// `snap` limited to the allowed directions.
fn restrict(s: Snap, forward: bool, reverse: bool) -> Snap {
    match (forward, reverse, s.twin) {
        (true, false, _) => Snap {
            twin: None,
            junction: Vec::new(),
            ..s
        },
        (false, true, Some(twin)) => Snap {
            edge: twin,
            along_m: (s.edge_length_m - s.along_m).max(0.0),
            twin: None,
            junction: Vec::new(),
            ..s
        },
        _ => s,
    }
}

/// Nearest routable edge within `max_radius_m` of `point`, or `None`.
pub fn snap(
    store: &GraphStore,
    point: LatLon,
    max_radius_m: f64,
) -> Result<Option<Snap>, StoreError> {
    snap_heading(store, point, max_radius_m, None, None, Exclude::NONE)
}

/// [`snap`] to the nearest road with a direction within `bearing` (any road if `None`),
/// keeping the directions `approach` allows, and not of a class in `exclude` (a route that may
/// not drive a road may not start or end on it either).
pub fn snap_heading(
    store: &GraphStore,
    point: LatLon,
    max_radius_m: f64,
    bearing: Option<Bearing>,
    approach: Option<Approach>,
    exclude: Exclude,
) -> Result<Option<Snap>, StoreError> {
    let mut radius = FIRST_RADIUS_M.min(max_radius_m);
    loop {
        let mut best: Option<SegmentHit> = None;
        let mut failed = None;
        visit_segments_near(store, point, radius, |hit| {
            let usable = match is_excluded(store, hit.edge, exclude) {
                Ok(true) => Ok(false),
                Ok(false) => heads_within(store, &hit, bearing),
                Err(e) => Err(e),
            };
            match usable {
                Ok(true) if nearer(&hit, best.as_ref()) => best = Some(hit),
                Ok(_) => {}
                Err(e) => failed = Some(e),
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        match best {
            Some(hit) if hit.projection.distance_m <= radius || radius >= max_radius_m => {
                if hit.projection.distance_m > max_radius_m {
                    return Ok(None);
                }
                let (forward, reverse) = allowed(store, point, &hit, bearing, approach)?;
                let mut s = restrict(finish(store, &hit)?, forward, reverse);
                if bearing.is_none() && approach.is_none() {
                    s.junction = junction_edges(store, s.edge, s.along_m, exclude)?;
                }
                return Ok(Some(s));
            }
            _ if radius >= max_radius_m => return Ok(None),
            _ => radius = (radius * 4.0).min(max_radius_m),
        }
    }
}

/// The `n` nearest roads within `max_radius_m` of `point` (with a direction within `bearing`,
/// if given), nearest first: one snap per road (a two-way road's directions count once), each
/// at the road's nearest point.
pub fn nearest(
    store: &GraphStore,
    point: LatLon,
    n: usize,
    max_radius_m: f64,
    bearing: Option<Bearing>,
    approach: Option<Approach>,
) -> Result<Vec<Snap>, StoreError> {
    let mut radius = FIRST_RADIUS_M.min(max_radius_m);
    loop {
        // Best hit per road, keyed by the smaller id of its two directions.
        let mut best: std::collections::HashMap<u64, SegmentHit> = Default::default();
        let mut failed = None;
        visit_segments_near(store, point, radius, |hit| {
            if failed.is_some() {
                return;
            }
            let key = match heads_within(store, &hit, bearing) {
                Ok(true) => road_key(store, hit.edge),
                Ok(false) => return,
                Err(e) => Err(e),
            };
            match key {
                Ok(key) if nearer(&hit, best.get(&key)) => {
                    best.insert(key, hit);
                }
                Ok(_) => {}
                Err(e) => failed = Some(e),
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        let mut hits: Vec<SegmentHit> = best
            .into_values()
            .filter(|h| h.projection.distance_m <= radius.min(max_radius_m))
            .collect();
        // Only hits inside the searched radius are certain to be the nearest ones.
        if hits.len() >= n || radius >= max_radius_m {
            hits.sort_by(|a, b| {
                a.projection
                    .distance_m
                    .total_cmp(&b.projection.distance_m)
                    .then_with(|| (a.edge, a.segment).cmp(&(b.edge, b.segment)))
            });
            return hits
                .iter()
                .take(n)
                .map(|h| {
                    let (forward, reverse) = allowed(store, point, h, bearing, approach)?;
                    Ok(restrict(finish(store, h)?, forward, reverse))
                })
                .collect();
        }
        radius = (radius * 4.0).min(max_radius_m);
    }
}

/// False when a bearing is asked for and neither direction of the hit's road heads within it.
fn heads_within(
    store: &GraphStore,
    hit: &SegmentHit,
    bearing: Option<Bearing>,
) -> Result<bool, StoreError> {
    if bearing.is_none() {
        return Ok(true);
    }
    Ok(directions(store, hit, bearing)? != (false, false))
}

/// Whether `edge` (and so its road: both directions share class and flags) is of a class in
/// `exclude`.
pub fn is_excluded(store: &GraphStore, edge: EdgeId, exclude: Exclude) -> Result<bool, StoreError> {
    if exclude.is_empty() {
        return Ok(false);
    }
    Ok(exclude.excludes(store.tile(edge.tile)?.edge(edge.local)))
}

/// Whether `hit` beats `best`: nearer, or as near on a smaller (edge, segment), so that the
/// answer does not depend on the order the grid visits segments in.
fn nearer(hit: &SegmentHit, best: Option<&SegmentHit>) -> bool {
    best.is_none_or(|b| {
        let (d, bd) = (hit.projection.distance_m, b.projection.distance_m);
        d < bd || (d == bd && (hit.edge, hit.segment) < (b.edge, b.segment))
    })
}

/// One key for both directions of a road.
fn road_key(store: &GraphStore, edge: EdgeId) -> Result<u64, StoreError> {
    let e = store.tile(edge.tile)?.edge(edge.local);
    let own = edge.pack();
    Ok(e.twin().map_or(own, |twin| own.min(twin.pack())))
}

/// OSM ids of the junctions a snapped edge runs between (tail, head).
pub fn end_osm_ids(store: &GraphStore, snap: &Snap) -> Result<(i64, i64), StoreError> {
    let tile = store.tile(snap.edge.tile)?;
    let edge = tile.edge(snap.edge.local);
    let tail = tile.osm_id(tile.edge_source(snap.edge.local));
    let head = edge.target();
    let head = store.tile(head.tile)?.osm_id(head.local);
    Ok((tail, head))
}

fn finish(store: &GraphStore, hit: &SegmentHit) -> Result<Snap, StoreError> {
    let tile = store.tile(hit.edge.tile)?;
    let edge = tile.edge(hit.edge.local);
    let twin = edge.twin();
    Ok(Snap {
        location: hit.projection.point,
        distance_m: hit.projection.distance_m,
        edge: hit.edge,
        along_m: along_edge_m(store, hit)?,
        edge_length_m: edge.length_m() as f64,
        twin,
        name: tile.name(edge.name_index()).to_string(),
        junction: Vec::new(),
    })
}
