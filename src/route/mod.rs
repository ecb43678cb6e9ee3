//! Routing: snap coordinates onto the graph ([`snap`]), find the fastest path per leg
//! ([`search`]) under the [`cost`] model, and describe it ([`guidance`] for steps, [`osrm`] for the
//! OSRM v1 JSON). [`Router`] ties them together and is what the server and the CLI call.

#[cfg(test)]
mod ascii_tests;
pub mod cost;
pub mod guidance;
pub mod navigation;
pub mod osrm;
pub mod overlay;
pub mod polyline;
pub mod search;
pub mod snap;

use cost::{CostModel, FreeFlow, TurnParams};
use graph::{GraphStore, StoreError, NONE};
use guidance::{PathSegment, Step};
use overlay::{Customized, LiveOverlay, Overlay, OverlayConfig, OverlayError, QuerySpace};
use search::{Endpoint, LegPath, SearchSpace};
use snap::Snap;
use spatial::geohash;
use spatial::geometry::haversine_m;
use std::cell::RefCell;
use std::sync::Arc;
use traffic::{HistoricalProfiles, TrafficFeed, TrafficSnapshot, TrafficSpeeds};

/// The geohash precision of the map images a route answer's `tiles` field names (the finest
/// precision `meridian render` draws); the map-image layer re-exports it.
pub const ROUTE_TILE_PRECISION: usize = 6;

/// Default snapping radius: beyond this a coordinate is not "on the map" (OSRM's `NoSegment`).
pub const DEFAULT_MAX_SNAP_M: f64 = 5_000.0;

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("Could not find a matching segment for coordinate {0}")]
    NoSegment(usize),
    #[error("Impossible route between points")]
    NoRoute,
    #[error("this router has no overlay (start it with the overlay enabled)")]
    NoOverlay,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One snapped input coordinate.
#[derive(Clone, Debug)]
pub struct Waypoint {
    pub name: String,
    /// `(lat, lon)` on the road.
    pub location: (f64, f64),
    pub distance_m: f64,
}

#[derive(Clone, Debug)]
pub struct Leg {
    pub distance_m: f64,
    pub duration_s: f64,
    pub summary: String,
    pub steps: Vec<Step>,
    /// `(lat, lon)` points of the leg.
    pub geometry: Vec<(f64, f64)>,
}

#[derive(Clone, Debug)]
pub struct Route {
    pub distance_m: f64,
    pub duration_s: f64,
    pub geometry: Vec<(f64, f64)>,
    pub legs: Vec<Leg>,
    /// Geohash cells at the street-level display precision that the route's geometry crosses,
    /// in order: the names of exactly the map images a client needs to show it.
    pub tiles: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct RouteAnswer {
    pub waypoints: Vec<Waypoint>,
    pub route: Route,
    /// Tiles whose labels the searches touched, summed over legs (for benchmarks).
    pub tiles_touched: usize,
}

thread_local! {
    static SPACE: RefCell<SearchSpace> = RefCell::new(SearchSpace::new());
    static OVERLAY_SPACE: RefCell<Option<QuerySpace>> = const { RefCell::new(None) };
}

/// Which search answers a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// The edge-based ALT A* over the tiles: the reference, and what `depart=`, navigation
    /// sessions and offline bundles use.
    AStar,
    /// The multi-level overlay (needs [`Router::with_overlay`]).
    Overlay,
}

pub struct Router {
    pub store: Arc<GraphStore>,
    /// Turn costs and free-flow speeds; each query swaps in the current traffic snapshot.
    base_model: CostModel<FreeFlow>,
    /// Live speeds, republished about once a second by the traffic publisher.
    pub traffic: Arc<TrafficFeed>,
    /// Time-of-week speeds for edges without fresh live data (optional).
    pub profiles: Option<Arc<HistoricalProfiles>>,
    pub max_snap_m: f64,
    /// The customizable overlay, if built ([`Router::with_overlay`]).
    pub overlay: Option<Arc<LiveOverlay>>,
}

/// Now, in ms since the epoch (the default departure time).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Router {
    pub fn new(store: Arc<GraphStore>) -> Self {
        let max_speed_kmh = store.manifest().max_speed_kmh;
        let traffic = Arc::new(TrafficFeed::new(TrafficSnapshot::free_flow(&store)));
        Router {
            store,
            base_model: CostModel::new(FreeFlow { max_speed_kmh }, TurnParams::default()),
            traffic,
            profiles: None,
            max_snap_m: DEFAULT_MAX_SNAP_M,
            overlay: None,
        }
    }

    /// Builds the multi-level overlay and customizes it under the current cost model; routes
    /// without a departure time then use it (see [`Router::route_using`]). Call after
    /// [`Router::with_profiles`], so the customization sees the profiles.
    pub fn with_overlay(mut self, config: OverlayConfig) -> Result<Self, OverlayError> {
        let overlay = Overlay::build(&self.store, &self.base_model, config)?;
        let snapshot = self.traffic.current();
        let (weights, stats) = overlay.customize(&self.store, &self.cost_model())?;
        self.overlay = Some(Arc::new(LiveOverlay::new(
            overlay,
            Customized {
                weights,
                traffic_published_ms: snapshot.published_ms,
                stats,
            },
        )));
        Ok(self)
    }

    /// Re-customizes the overlay for the current traffic (only cells with changed edge costs)
    /// and swaps the new weights in. Blocking and CPU-heavy: call it from a worker thread
    /// ([`Router::spawn_overlay_updater`]), never on the async runtime.
    pub fn update_overlay(&self) -> Result<Option<overlay::CustomizeStats>, RouteError> {
        let Some(live) = &self.overlay else {
            return Ok(None);
        };
        let snapshot = self.traffic.current();
        let old = live.current();
        let (weights, stats) = live
            .overlay
            .update(&old.weights, &self.store, &self.cost_model())
            .map_err(|e| match e {
                OverlayError::Store(s) => RouteError::Store(s),
                OverlayError::PartialStore => RouteError::NoRoute,
            })?;
        live.publish(Customized {
            weights,
            traffic_published_ms: snapshot.published_ms,
            stats: stats.clone(),
        });
        Ok(Some(stats))
    }

    /// Starts the thread that re-customizes the overlay whenever
    /// [`LiveOverlay::request_update`] is called (the traffic publisher does after each
    /// publish). It ends when the router is dropped.
    pub fn spawn_overlay_updater(self: &Arc<Self>) {
        if self.overlay.is_none() {
            return;
        }
        let router = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("overlay-customizer".into())
            .spawn(move || loop {
                let Some(live) = router.upgrade().and_then(|r| r.overlay.clone()) else {
                    return;
                };
                if !live.wait_for_request(std::time::Duration::from_secs(1)) {
                    continue;
                }
                drop(live);
                let Some(r) = router.upgrade() else { return };
                if let Err(e) = r.update_overlay() {
                    eprintln!("overlay customization failed: {e}");
                }
            });
        if let Err(e) = spawned {
            eprintln!("cannot start the overlay customizer: {e}");
        }
    }

    /// The algorithm routes use unless told otherwise: the overlay when built, else the A*.
    pub fn default_algorithm(&self) -> Algorithm {
        if self.overlay.is_some() {
            Algorithm::Overlay
        } else {
            Algorithm::AStar
        }
    }

    /// Uses historical profiles where live data is missing.
    pub fn with_profiles(mut self, profiles: Arc<HistoricalProfiles>) -> Self {
        self.profiles = Some(profiles);
        self
    }

    /// The cost model of this moment: turn costs, the current traffic snapshot, and the
    /// profiles at the current time of week.
    pub fn cost_model(&self) -> CostModel<TrafficSpeeds> {
        self.cost_model_at(now_ms())
    }

    /// The cost model for a departure at `depart_ms` (profiles of that time of week; live
    /// speeds are the current ones whatever the departure time, since they are fresh by now).
    pub fn cost_model_at(&self, depart_ms: i64) -> CostModel<TrafficSpeeds> {
        self.base_model.with_speeds(TrafficSpeeds::new(
            self.traffic.current(),
            self.profiles.clone(),
            depart_ms,
        ))
    }

    pub fn snap(&self, point: (f64, f64)) -> Result<Option<Snap>, StoreError> {
        snap::snap(&self.store, point, self.max_snap_m)
    }

    /// Fastest route through `points` (`(lat, lon)`, at least two) in order.
    pub fn route(
        &self,
        points: &[(f64, f64)],
        with_steps: bool,
    ) -> Result<RouteAnswer, RouteError> {
        self.route_at(points, with_steps, None)
    }

    /// Like [`Router::route`], departing at `depart_ms` (default now).
    pub fn route_at(
        &self,
        points: &[(f64, f64)],
        with_steps: bool,
        depart_ms: Option<i64>,
    ) -> Result<RouteAnswer, RouteError> {
        self.route_using(points, with_steps, depart_ms, None)
    }

    /// Like [`Router::route_at`] with an explicit algorithm (`None`: the default one). A
    /// departure time always uses the A*, since the overlay holds the weights of now.
    pub fn route_using(
        &self,
        points: &[(f64, f64)],
        with_steps: bool,
        depart_ms: Option<i64>,
        algorithm: Option<Algorithm>,
    ) -> Result<RouteAnswer, RouteError> {
        let algorithm = algorithm.unwrap_or_else(|| self.default_algorithm());
        if algorithm == Algorithm::Overlay && depart_ms.is_none() {
            return self.route_overlay(points, with_steps);
        }
        let model = self.cost_model_at(depart_ms.unwrap_or_else(now_ms));
        self.route_with_model(&model, points, with_steps)
            .map(|(answer, _)| answer)
    }

    /// Fastest route through `points` by the overlay, under its current weights.
    pub fn route_overlay(
        &self,
        points: &[(f64, f64)],
        with_steps: bool,
    ) -> Result<RouteAnswer, RouteError> {
        let live = self.overlay.as_ref().ok_or(RouteError::NoOverlay)?;
        let current = live.current();
        self.route_legs(points, with_steps, |from, to| {
            self.leg_overlay_with(live, &current, from, to)
        })
        .map(|(answer, _)| answer)
    }

    /// The fastest path between two snapped points by the overlay under its current weights.
    pub fn leg_overlay(&self, from: &Snap, to: &Snap) -> Result<LegPath, RouteError> {
        let live = self.overlay.as_ref().ok_or(RouteError::NoOverlay)?;
        self.leg_overlay_with(live, &live.current(), from, to)
    }

    /// Like [`Router::leg_overlay`] under given weights (tests compare customizations).
    pub fn leg_overlay_with(
        &self,
        live: &LiveOverlay,
        weights: &Customized,
        from: &Snap,
        to: &Snap,
    ) -> Result<LegPath, RouteError> {
        let (sources, targets) = endpoints(from, to);
        OVERLAY_SPACE.with(|cell| {
            let mut slot = cell.borrow_mut();
            if !slot.as_ref().is_some_and(|s| s.fits(&live.overlay)) {
                *slot = Some(QuerySpace::new(&live.overlay));
            }
            let space = slot.as_mut().expect("space just set");
            overlay::query::shortest_path(
                &live.overlay,
                &weights.weights,
                space,
                &sources,
                &targets,
            )
            .ok_or(RouteError::NoRoute)
        })
    }

    /// Like [`Router::route`], also returning each leg's path (edge ids, partial edges, times),
    /// which navigation sessions follow and re-cost as traffic changes.
    pub fn route_with_paths(
        &self,
        points: &[(f64, f64)],
        with_steps: bool,
    ) -> Result<(RouteAnswer, Vec<LegPath>), RouteError> {
        // One snapshot for the whole request, so all legs see the same traffic.
        self.route_with_model(&self.cost_model(), points, with_steps)
    }

    fn route_with_model<S: cost::SpeedSource>(
        &self,
        model: &CostModel<S>,
        points: &[(f64, f64)],
        with_steps: bool,
    ) -> Result<(RouteAnswer, Vec<LegPath>), RouteError> {
        self.route_legs(points, with_steps, |from, to| {
            SPACE.with(|space| self.leg_with(model, &mut space.borrow_mut(), from, to))
        })
    }

    /// Snaps `points` and builds the route from the legs `leg` finds between them.
    fn route_legs(
        &self,
        points: &[(f64, f64)],
        with_steps: bool,
        mut leg: impl FnMut(&Snap, &Snap) -> Result<LegPath, RouteError>,
    ) -> Result<(RouteAnswer, Vec<LegPath>), RouteError> {
        let snaps = points
            .iter()
            .enumerate()
            .map(|(i, &p)| self.snap(p)?.ok_or(RouteError::NoSegment(i)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut legs = Vec::with_capacity(snaps.len().saturating_sub(1));
        let mut paths = Vec::with_capacity(snaps.len().saturating_sub(1));
        let mut tiles_touched = 0;
        for pair in snaps.windows(2) {
            let path = leg(&pair[0], &pair[1])?;
            tiles_touched += path.tiles_touched;
            legs.push(self.describe_leg(&path, with_steps)?);
            paths.push(path);
        }
        let mut geometry: Vec<(f64, f64)> = Vec::new();
        for leg in &legs {
            let skip = usize::from(!geometry.is_empty());
            geometry.extend(leg.geometry.iter().skip(skip));
        }
        let route = Route {
            distance_m: legs.iter().map(|l| l.distance_m).sum(),
            duration_s: legs.iter().map(|l| l.duration_s).sum(),
            tiles: geohash::cells_along(&geometry, ROUTE_TILE_PRECISION),
            geometry,
            legs,
        };
        let waypoints = snaps
            .iter()
            .map(|s| Waypoint {
                name: s.name.clone(),
                location: s.location,
                distance_m: s.distance_m,
            })
            .collect();
        Ok((
            RouteAnswer {
                waypoints,
                route,
                tiles_touched,
            },
            paths,
        ))
    }

    /// The fastest path between two snapped points under the current traffic.
    pub fn leg(
        &self,
        space: &mut SearchSpace,
        from: &Snap,
        to: &Snap,
    ) -> Result<LegPath, RouteError> {
        self.leg_with(&self.cost_model(), space, from, to)
    }

    /// The fastest path between two snapped points under a given cost model.
    pub fn leg_with<S: cost::SpeedSource>(
        &self,
        model: &CostModel<S>,
        space: &mut SearchSpace,
        from: &Snap,
        to: &Snap,
    ) -> Result<LegPath, RouteError> {
        let (sources, targets) = endpoints(from, to);
        search::shortest_path(&self.store, model, space, &sources, &targets, to.location)?
            .ok_or(RouteError::NoRoute)
    }

    fn describe_leg(&self, path: &LegPath, with_steps: bool) -> Result<Leg, RouteError> {
        let mut segments = Vec::with_capacity(path.edges.len());
        for (i, pe) in path.edges.iter().enumerate() {
            let tile = self.store.tile(pe.edge.tile)?;
            let edge = tile.edge(pe.edge.local);
            let shape: Vec<(f64, f64)> = tile.shape(edge).collect();
            let piece = cut_shape(&shape, pe.from_m, pe.to_m);
            let branches_at_end = if i + 1 < path.edges.len() {
                let head_tile = self.store.tile(edge.target_tile.to_native())?;
                let outs = head_tile.out_edges(edge.target_local.to_native()).len() as u32;
                let back = u32::from(edge.twin_tile.to_native() != NONE);
                outs.saturating_sub(1 + back)
            } else {
                0
            };
            segments.push(PathSegment {
                name: tile.name(edge.name.to_native()).to_string(),
                reference: tile.name(edge.reference.to_native()).to_string(),
                geometry: piece.iter().map(|p| [p.1, p.0]).collect(),
                distance_m: (pe.to_m - pe.from_m).max(0.0),
                duration_s: pe.drive_s + pe.turn_s,
                roundabout: edge.flags & graph::tile::flags::ROUNDABOUT != 0,
                branches_at_end,
            });
        }
        let mut geometry: Vec<(f64, f64)> = Vec::new();
        for s in &segments {
            for p in &s.geometry {
                let q = (p[1], p[0]);
                if geometry.last() != Some(&q) {
                    geometry.push(q);
                }
            }
        }
        if geometry.len() == 1 {
            geometry.push(geometry[0]);
        }
        Ok(Leg {
            distance_m: segments.iter().map(|s| s.distance_m).sum(),
            duration_s: path.cost_s,
            summary: guidance::leg_summary(&segments),
            steps: if with_steps {
                guidance::build_steps(&segments)
            } else {
                Vec::new()
            },
            geometry,
        })
    }
}

/// Search endpoints of two snapped points.
fn endpoints(from: &Snap, to: &Snap) -> (Vec<Endpoint>, Vec<Endpoint>) {
    let ends = |s: &Snap| {
        s.candidates()
            .into_iter()
            .map(|(edge, along_m)| Endpoint { edge, along_m })
            .collect()
    };
    (ends(from), ends(to))
}

/// The part of a shape between `from_m` and `to_m` metres along it, interpolating the ends.
pub fn cut_shape(shape: &[(f64, f64)], from_m: f64, to_m: f64) -> Vec<(f64, f64)> {
    let lerp =
        |a: (f64, f64), b: (f64, f64), t: f64| (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
    let mut out = Vec::new();
    let mut walked = 0.0;
    for w in shape.windows(2) {
        let len = haversine_m(w[0], w[1]);
        let (a, b) = (walked, walked + len);
        if b >= from_m && a <= to_m {
            let t0 = if len > 0.0 {
                ((from_m - a) / len).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let t1 = if len > 0.0 {
                ((to_m - a) / len).clamp(0.0, 1.0)
            } else {
                1.0
            };
            let p0 = lerp(w[0], w[1], t0);
            if out.last() != Some(&p0) {
                out.push(p0);
            }
            let p1 = lerp(w[0], w[1], t1);
            if out.last() != Some(&p1) {
                out.push(p1);
            }
        }
        walked = b;
    }
    if out.is_empty() {
        let p = *shape.last().unwrap_or(&(0.0, 0.0));
        out.push(p);
    }
    if out.len() == 1 {
        out.push(out[0]);
    }
    out
}
