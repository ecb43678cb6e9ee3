//! Routing: snap coordinates onto the graph ([`snap`]), find the fastest path per leg
//! ([`search`]) under the [`cost`] model, and describe it ([`guidance`] for steps, [`osrm`] for the
//! OSRM v1 JSON); [`table`] answers many-to-many, [`trip`] orders a trip's stops,
//! [`map_match`] places a GPS trace on the roads, [`alternatives`] finds other good routes
//! beside the fastest. [`Router`] ties them together and is what the server and the CLI call.

pub mod alternatives;
#[cfg(test)]
mod ascii_tests;
pub mod cost;
pub mod guidance;
pub mod hint;
pub mod instructions;
pub mod map_match;
pub mod names;
pub mod navigation;
pub mod osrm;
pub mod overlay;
pub mod polyline;
pub mod priority;
pub mod queue;
pub mod search;
pub mod snap;
pub mod table;
pub mod trip;

use cost::{CostModel, FreeFlow, TurnParams};
use graph::{GraphStore, StoreError};
use guidance::{PathSegment, Step};
use overlay::{Customized, LiveOverlay, Overlay, OverlayConfig, OverlayError, QuerySpace};
use search::{Endpoint, LegPath, SearchSpace};
use snap::Snap;
use spatial::geohash;
use spatial::LatLon;
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
    /// On the road.
    pub location: LatLon,
    pub distance_m: f64,
    /// The snap as a token a later request can send back in `hints=` ([`hint`]).
    pub hint: Option<String>,
}

impl From<&Snap> for Waypoint {
    fn from(s: &Snap) -> Self {
        Waypoint {
            name: s.name.clone(),
            location: s.location,
            distance_m: s.distance_m,
            hint: None,
        }
    }
}

/// Per-point snapping constraints of a request; each list is empty or has one entry per point.
#[derive(Clone, Copy, Debug, Default)]
pub struct SnapRules<'a> {
    /// Snap at most this far (capped at [`Router::max_snap_m`]; `None` = that).
    pub radiuses: &'a [Option<f64>],
    /// Only roads driven within the bearing there.
    pub bearings: &'a [Option<snap::Bearing>],
    /// Only the direction that stops on that side.
    pub approaches: &'a [Option<snap::Approach>],
    /// A previous answer's snap: used as is when valid (see [`hint`]).
    pub hints: &'a [Option<String>],
    /// Roads of these classes are not snapped to (nor a hint onto one taken).
    pub exclude: graph::Exclude,
}

impl<'a> SnapRules<'a> {
    /// The snapping rules a route request carries.
    pub fn of(options: &'a RouteOptions) -> Self {
        SnapRules {
            radiuses: &options.radiuses,
            bearings: &options.bearings,
            approaches: &options.approaches,
            hints: &options.hints,
            exclude: options.exclude,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Leg {
    pub distance_m: f64,
    pub duration_s: f64,
    pub summary: String,
    pub steps: Vec<Step>,
    /// Points of the leg.
    pub geometry: Vec<LatLon>,
    /// Per segment of `geometry` (between consecutive points): metres and seconds.
    pub annotation: Annotation,
}

/// OSRM's leg annotation: one value per geometry segment, and an OSM node id per geometry
/// point.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Annotation {
    pub distance_m: Vec<f64>,
    pub duration_s: Vec<f64>,
    pub nodes: Vec<i64>,
    /// Per segment, where its road's speed came from ([`traffic::speeds::SpeedOrigin`]).
    pub datasources: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct Route {
    pub distance_m: f64,
    pub duration_s: f64,
    pub geometry: Vec<LatLon>,
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

/// What a route request asks for besides its points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouteOptions {
    pub steps: bool,
    /// Per point: snap at most this far (capped at [`Router::max_snap_m`]; `None` = that).
    pub radiuses: Vec<Option<f64>>,
    /// Per point: the direction the route must leave or reach it in (`None` = any).
    pub bearings: Vec<Option<snap::Bearing>>,
    /// Per point: the side of the road to stop at (`None` = either).
    pub approaches: Vec<Option<snap::Approach>>,
    /// Per point: a previous answer's hint.
    pub hints: Vec<Option<String>>,
    /// Indexes of the points legs end at, first and last included (OSRM's `waypoints`); the
    /// other points are driven through without a leg break. Empty = every point.
    pub waypoints: Vec<usize>,
    /// Departure time, ms since the epoch (`None` = now).
    pub depart_ms: Option<i64>,
    /// Which search answers (`None` = the router's default).
    pub algorithm: Option<Algorithm>,
    /// Road classes the route may not use (`exclude=`). The overlay's weights know no
    /// exclusions, so a request with any is answered by the A* (alternatives by the same
    /// search over the flat road graph), with the excluded edges refused.
    pub exclude: graph::Exclude,
}

thread_local! {
    static SPACE: RefCell<SearchSpace> = RefCell::new(SearchSpace::new());
    static OVERLAY_SPACE: RefCell<Option<QuerySpace>> = const { RefCell::new(None) };
    static FLAT_SPACE: RefCell<Option<QuerySpace>> = const { RefCell::new(None) };
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
    /// The flat road graph the plain A*'s alternatives search, built on first use.
    flat: std::sync::OnceLock<Result<Arc<overlay::base::BaseGraph>, String>>,
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
        let turns = TurnParams::for_profile(store.manifest().profile);
        let traffic = Arc::new(TrafficFeed::new(TrafficSnapshot::free_flow(&store)));
        Router {
            store,
            base_model: CostModel::new(FreeFlow { max_speed_kmh }, turns),
            traffic,
            profiles: None,
            max_snap_m: DEFAULT_MAX_SNAP_M,
            overlay: None,
            flat: std::sync::OnceLock::new(),
        }
    }

    /// Who the graph is for (its manifest says): the turn rules and the steps' travel mode
    /// follow it.
    pub fn profile(&self) -> graph::Profile {
        self.store.manifest().profile
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

    /// Cuts the overlay's cells with `config` and stores them in the graph directory (what
    /// `meridian import` does), so [`Router::with_overlay`] reads them instead of cutting.
    pub fn store_overlay_partition(
        &self,
        config: &OverlayConfig,
    ) -> Result<graph::manifest::SidecarEntry, OverlayError> {
        Overlay::store_partition(&self.store, &self.base_model, config)
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
                // An update reads neither a partial store nor the stored partition.
                OverlayError::PartialStore | OverlayError::Stored(_) => RouteError::NoRoute,
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
            .spawn(move || {
                // Below Raft and the acks; its worker threads inherit the priority.
                priority::lower_this_thread();
                loop {
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

    pub fn snap(&self, point: LatLon) -> Result<Option<Snap>, StoreError> {
        snap::snap(&self.store, point, self.max_snap_m)
    }

    /// Snaps each point under `rules`: a valid hint is taken as is; otherwise the nearest road
    /// within the point's radius driven within its bearing, in the directions its approach
    /// allows. `NoSegment(i)` for the first point with no such road in reach.
    pub fn snap_within(
        &self,
        points: &[LatLon],
        rules: &SnapRules,
    ) -> Result<Vec<Snap>, RouteError> {
        let at = |list: &[Option<f64>], i: usize| list.get(i).copied().flatten();
        points
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let radius =
                    at(rules.radiuses, i).map_or(self.max_snap_m, |r| r.min(self.max_snap_m));
                let hinted = rules
                    .hints
                    .get(i)
                    .and_then(|h| h.as_deref())
                    .and_then(|h| hint::decode(&self.store, h, p, radius));
                if let Some(mut s) = hinted {
                    if !snap::is_excluded(&self.store, s.edge, rules.exclude)? {
                        let store = &self.store;
                        s.junction.retain(|&(e, _)| {
                            !snap::is_excluded(store, e, rules.exclude).unwrap_or(true)
                        });
                        return Ok(s);
                    }
                }
                let bearing = rules.bearings.get(i).copied().flatten();
                let approach = rules.approaches.get(i).copied().flatten();
                snap::snap_heading(&self.store, p, radius, bearing, approach, rules.exclude)?
                    .ok_or(RouteError::NoSegment(i))
            })
            .collect()
    }

    /// A snap as an answer's waypoint, with its hint.
    pub fn waypoint(&self, snap: &Snap) -> Waypoint {
        Waypoint {
            hint: Some(hint::encode(&self.store, snap)),
            ..Waypoint::from(snap)
        }
    }

    /// Durations and distances from each source to each destination (`None`: unreachable),
    /// departing at `depart_ms` (default now); see [`table`].
    pub fn table_at(
        &self,
        sources: &[Snap],
        destinations: &[Snap],
        depart_ms: Option<i64>,
    ) -> Result<Vec<Vec<Option<table::Cell>>>, RouteError> {
        let now = RouteOptions {
            depart_ms,
            ..RouteOptions::default()
        };
        if self.uses_overlay(&now) {
            let live = self.overlay.as_ref().ok_or(RouteError::NoOverlay)?;
            let current = live.current();
            return Ok(table::table_on_overlay(
                &live.overlay,
                &current.weights,
                sources,
                destinations,
            ));
        }
        let model = self.cost_model_at(depart_ms.unwrap_or_else(now_ms));
        Ok(table::table(&self.store, &model, sources, destinations)?)
    }

    /// [`Router::table_at`] with the flat search whatever the router's default (the reference
    /// the overlay's tables are checked against).
    pub fn table_flat(
        &self,
        sources: &[Snap],
        destinations: &[Snap],
    ) -> Result<Vec<Vec<Option<table::Cell>>>, RouteError> {
        Ok(table::table(
            &self.store,
            &self.cost_model(),
            sources,
            destinations,
        )?)
    }

    /// Matches a GPS trace onto the roads under the current costs ([`map_match`]).
    pub fn match_trace(
        &self,
        trace: &[map_match::TracePoint],
        options: &map_match::MatchOptions,
    ) -> Result<map_match::MatchResult, RouteError> {
        Ok(map_match::match_trace(
            &self.store,
            &self.cost_model(),
            trace,
            options,
        )?)
    }

    /// Fastest route through `points` (at least two) in order.
    pub fn route(&self, points: &[LatLon], with_steps: bool) -> Result<RouteAnswer, RouteError> {
        self.route_at(points, with_steps, None)
    }

    /// Like [`Router::route`], departing at `depart_ms` (default now).
    pub fn route_at(
        &self,
        points: &[LatLon],
        with_steps: bool,
        depart_ms: Option<i64>,
    ) -> Result<RouteAnswer, RouteError> {
        let options = RouteOptions {
            steps: with_steps,
            depart_ms,
            ..RouteOptions::default()
        };
        self.route_with(points, &options)
    }

    /// Like [`Router::route_at`] with an explicit algorithm (`None`: the default one). A
    /// departure time always uses the A*, since the overlay holds the weights of now.
    pub fn route_using(
        &self,
        points: &[LatLon],
        with_steps: bool,
        depart_ms: Option<i64>,
        algorithm: Option<Algorithm>,
    ) -> Result<RouteAnswer, RouteError> {
        let options = RouteOptions {
            steps: with_steps,
            depart_ms,
            algorithm,
            ..RouteOptions::default()
        };
        self.route_with(points, &options)
    }

    /// Fastest route through `points` with the request's options (snap radiuses, the points
    /// that end legs, steps, departure time, algorithm). A departure time always uses the A*,
    /// since the overlay holds the weights of now.
    pub fn route_with(
        &self,
        points: &[LatLon],
        options: &RouteOptions,
    ) -> Result<RouteAnswer, RouteError> {
        let snaps = self.snap_within(points, &SnapRules::of(options))?;
        self.route_snapped(snaps, options)
    }

    /// The fastest route between two points and up to `count` alternatives, cheapest first
    /// ([`alternatives`]), each built like the fastest (geometry, steps, annotations, tiles).
    /// As OSRM, only a request of exactly two points gets alternatives; with more, or `count`
    /// 0, this is [`Router::route_with`] and the list is empty. The search is the overlay's
    /// (multi-level) or, for the A* (`algorithm=astar`, a departure time, no overlay), the
    /// same search over the flat road graph, which is built on first use.
    pub fn route_alternatives(
        &self,
        points: &[LatLon],
        options: &RouteOptions,
        count: usize,
    ) -> Result<(RouteAnswer, Vec<Route>), RouteError> {
        if points.len() != 2 || count == 0 || self.store.is_partial() {
            return Ok((self.route_with(points, options)?, Vec::new()));
        }
        let (snaps, best, others) = self.alternative_paths(points, options, count)?;
        let ends = [0, 1];
        let at = options.depart_ms;
        let route =
            self.route_from_paths_at(std::slice::from_ref(&best), &ends, options.steps, at)?;
        let alternatives = others
            .iter()
            .map(|a| {
                self.route_from_paths_at(std::slice::from_ref(&a.path), &ends, options.steps, at)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let answer = RouteAnswer {
            waypoints: snaps.iter().map(|s| self.waypoint(s)).collect(),
            route,
            tiles_touched: best.tiles_touched,
        };
        Ok((answer, alternatives))
    }

    /// The snapped points, the fastest path and the alternatives' paths (with their vias) of
    /// [`Router::route_alternatives`] between exactly two points.
    pub fn alternative_paths(
        &self,
        points: &[LatLon],
        options: &RouteOptions,
        count: usize,
    ) -> Result<(Vec<Snap>, LegPath, Vec<alternatives::Alternative>), RouteError> {
        if points.len() != 2 {
            return Err(RouteError::NoRoute);
        }
        let snaps = self.snap_within(points, &SnapRules::of(options))?;
        let (sources, targets) = endpoints(&snaps[0], &snaps[1]);
        let crow_m = snaps[0].location.haversine_m(snaps[1].location);
        let found = if self.uses_overlay(options) {
            let live = self.overlay.as_ref().ok_or(RouteError::NoOverlay)?;
            let current = live.current();
            let o = &live.overlay;
            with_space(&OVERLAY_SPACE, &o.graph, |space| {
                alternatives::find(
                    &o.graph,
                    Some(&o.partition),
                    &current.weights,
                    space,
                    &sources,
                    &targets,
                    crow_m,
                    count,
                )
            })
        } else {
            let g = self.flat_graph()?;
            let model = self
                .cost_model_at(options.depart_ms.unwrap_or_else(now_ms))
                .excluding(options.exclude);
            let weights = overlay::Weights {
                cost: overlay::customize::edge_costs(&self.store, &model)?,
                cliques: Vec::new(),
                columns: Vec::new(),
                paths: Vec::new(),
            };
            with_space(&FLAT_SPACE, &g, |space| {
                alternatives::find(&g, None, &weights, space, &sources, &targets, crow_m, count)
            })
        };
        let (best, others) = found.ok_or(RouteError::NoRoute)?;
        Ok((snaps, best, others))
    }

    /// Whether the overlay answers a request: asked for (or the default), with no departure
    /// time and no exclusions, which its weights of now without exclusions cannot honour.
    fn uses_overlay(&self, options: &RouteOptions) -> bool {
        let algorithm = options
            .algorithm
            .unwrap_or_else(|| self.default_algorithm());
        algorithm == Algorithm::Overlay && options.depart_ms.is_none() && options.exclude.is_empty()
    }

    /// The flat road graph of the store, built once (for the A*'s alternatives).
    fn flat_graph(&self) -> Result<Arc<overlay::base::BaseGraph>, RouteError> {
        self.flat
            .get_or_init(|| {
                overlay::base::BaseGraph::build(&self.store, &self.base_model)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|reason| {
                RouteError::Store(StoreError::Corrupt {
                    path: self.store.manifest().name.clone(),
                    reason,
                })
            })
    }

    /// Fastest route through `points` by the overlay, under its current weights.
    pub fn route_overlay(
        &self,
        points: &[LatLon],
        with_steps: bool,
    ) -> Result<RouteAnswer, RouteError> {
        self.route_using(points, with_steps, None, Some(Algorithm::Overlay))
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
    /// which navigation sessions follow and re-cost as traffic changes. By the overlay when the
    /// router has one (under its latest customization, which follows each traffic publish
    /// within the second), else the A*.
    pub fn route_with_paths(
        &self,
        points: &[LatLon],
        with_steps: bool,
    ) -> Result<(RouteAnswer, Vec<LegPath>), RouteError> {
        let options = RouteOptions {
            steps: with_steps,
            ..RouteOptions::default()
        };
        if let Some(live) = &self.overlay {
            // One set of weights for the whole request, so all legs see the same traffic.
            let current = live.current();
            return self.route_legs(points, &options, |from, to| {
                self.leg_overlay_with(live, &current, from, to)
            });
        }
        // One snapshot for the whole request, so all legs see the same traffic.
        self.route_with_model(&self.cost_model(), points, &options)
    }

    /// The A*'s route under `model`, with its legs' paths.
    fn route_with_model<S: cost::SpeedSource>(
        &self,
        model: &CostModel<S>,
        points: &[LatLon],
        options: &RouteOptions,
    ) -> Result<(RouteAnswer, Vec<LegPath>), RouteError> {
        self.route_legs(points, options, |from, to| {
            SPACE.with(|space| self.leg_with(model, &mut space.borrow_mut(), from, to))
        })
    }

    /// Snaps `points` by the request's rules and builds the route from the legs `leg` finds
    /// between consecutive points. The paths returned are one per consecutive pair of points,
    /// whatever `waypoints` says.
    fn route_legs(
        &self,
        points: &[LatLon],
        options: &RouteOptions,
        leg: impl FnMut(&Snap, &Snap) -> Result<LegPath, RouteError>,
    ) -> Result<(RouteAnswer, Vec<LegPath>), RouteError> {
        let snaps = self.snap_within(points, &SnapRules::of(options))?;
        self.route_snaps(snaps, options, leg)
    }

    /// Like [`Router::route_with`] through points already snapped (the trip service routes
    /// its waypoints in the order it chose, without snapping them again).
    pub fn route_snapped(
        &self,
        snaps: Vec<Snap>,
        options: &RouteOptions,
    ) -> Result<RouteAnswer, RouteError> {
        if self.uses_overlay(options) {
            let live = self.overlay.as_ref().ok_or(RouteError::NoOverlay)?;
            let current = live.current();
            return self
                .route_snaps(snaps, options, |from, to| {
                    self.leg_overlay_with(live, &current, from, to)
                })
                .map(|(answer, _)| answer);
        }
        let model = self
            .cost_model_at(options.depart_ms.unwrap_or_else(now_ms))
            .excluding(options.exclude);
        self.route_snaps(snaps, options, |from, to| {
            SPACE.with(|space| self.leg_with(&model, &mut space.borrow_mut(), from, to))
        })
        .map(|(answer, _)| answer)
    }

    /// Builds the route through `snaps` from the legs `leg` finds between consecutive ones.
    fn route_snaps(
        &self,
        snaps: Vec<Snap>,
        options: &RouteOptions,
        mut leg: impl FnMut(&Snap, &Snap) -> Result<LegPath, RouteError>,
    ) -> Result<(RouteAnswer, Vec<LegPath>), RouteError> {
        let mut paths = Vec::with_capacity(snaps.len().saturating_sub(1));
        let mut tiles_touched = 0;
        for pair in snaps.windows(2) {
            let path = leg(&pair[0], &pair[1])?;
            tiles_touched += path.tiles_touched;
            paths.push(path);
        }
        // Legs end at the listed waypoints only; the points between are driven through.
        let ends: Vec<usize> = if options.waypoints.is_empty() {
            (0..snaps.len()).collect()
        } else {
            options.waypoints.clone()
        };
        let route = self.route_from_paths_at(&paths, &ends, options.steps, options.depart_ms)?;
        let waypoints = snaps.iter().map(|s| self.waypoint(s)).collect();
        Ok((
            RouteAnswer {
                waypoints,
                route,
                tiles_touched,
            },
            paths,
        ))
    }

    /// The route made of `paths` (one per consecutive pair of points), with legs ending at the
    /// points listed in `ends` (first and last included): the map matcher's matchings are
    /// built this way from the paths it found.
    pub fn route_from_paths(
        &self,
        paths: &[LegPath],
        ends: &[usize],
        steps: bool,
    ) -> Result<Route, RouteError> {
        self.route_from_paths_at(paths, ends, steps, None)
    }

    /// [`Router::route_from_paths`] for a departure at `depart_ms` (default now), which says
    /// which speeds the annotations' `datasources` name.
    pub fn route_from_paths_at(
        &self,
        paths: &[LegPath],
        ends: &[usize],
        steps: bool,
        depart_ms: Option<i64>,
    ) -> Result<Route, RouteError> {
        let speeds = TrafficSpeeds::new(
            self.traffic.current(),
            self.profiles.clone(),
            depart_ms.unwrap_or_else(now_ms),
        );
        let mut legs = Vec::with_capacity(ends.len().saturating_sub(1));
        for w in ends.windows(2) {
            let through = &paths[w[0]..w[1]];
            let joined = LegPath {
                edges: through
                    .iter()
                    .flat_map(|p| p.edges.iter().copied())
                    .collect(),
                cost_s: through.iter().map(|p| p.cost_s).sum(),
                tiles_touched: through.iter().map(|p| p.tiles_touched).sum(),
                settled: through.iter().map(|p| p.settled).sum(),
            };
            legs.push(self.describe_leg(&joined, steps, &speeds)?);
        }
        let mut geometry: Vec<LatLon> = Vec::new();
        for leg in &legs {
            let skip = usize::from(!geometry.is_empty());
            geometry.extend(leg.geometry.iter().skip(skip));
        }
        let route = Route {
            distance_m: legs.iter().map(|l| l.distance_m).sum(),
            duration_s: legs.iter().map(|l| l.duration_s).sum(),
            tiles: geohash::cells_along(&geometry, ROUTE_TILE_PRECISION)
                .iter()
                .map(geohash::Cell::to_string)
                .collect(),
            geometry,
            legs,
        };
        Ok(route)
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

    fn describe_leg(
        &self,
        path: &LegPath,
        with_steps: bool,
        speeds: &TrafficSpeeds,
    ) -> Result<Leg, RouteError> {
        // One pass over the edges: each edge's driven piece of shape goes straight into the leg's
        // geometry (without repeated points) with its metres and its share of the piece's seconds
        // by length (a turn's seconds go to the segment after), each distance computed once.
        // Per-segment geometry is kept only for the guidance that needs it.
        let mut segments = Vec::with_capacity(path.edges.len());
        let mut geometry: Vec<LatLon> = Vec::new();
        let mut annotation = Annotation::default();
        let mut pending_s = 0.0;
        let mut piece: Vec<LatLon> = Vec::new();
        let mut piece_ids: Vec<i64> = Vec::new();
        let mut metres: Vec<f64> = Vec::new();
        for (i, pe) in path.edges.iter().enumerate() {
            let tile = self.store.tile(pe.edge.tile)?;
            let edge = tile.edge(pe.edge.local);
            piece.clear();
            piece_ids.clear();
            if pe.from_m <= 0.0 && pe.to_m >= f64::from(edge.length_m()) {
                // The whole edge: its shape as stored, nothing to cut.
                piece.extend(tile.shape(edge));
                piece_ids.extend(tile.shape_osm_ids(edge));
                if piece.len() == 1 {
                    piece.push(piece[0]);
                    piece_ids.push(piece_ids[0]);
                }
            } else {
                let shape: Vec<LatLon> = tile.shape(edge).collect();
                let ids: Vec<i64> = tile.shape_osm_ids(edge).collect();
                (piece, piece_ids) = cut_shape_with_ids(&shape, &ids, pe.from_m, pe.to_m);
            }
            metres.clear();
            metres.extend(piece.windows(2).map(|w| w[0].haversine_m(w[1])));
            let length: f64 = metres.iter().sum();
            let duration_s = pe.drive_s + pe.turn_s;
            let origin = speeds.origin(pe.edge) as u8;
            pending_s += if length > 0.0 { 0.0 } else { duration_s };
            for (k, &q) in piece.iter().enumerate() {
                if let Some(&last) = geometry.last() {
                    if last == q {
                        continue;
                    }
                    // The point before `q` in the piece, unless it was the previous edge's end.
                    let m = if k > 0 && piece[k - 1] == last {
                        metres[k - 1]
                    } else {
                        last.haversine_m(q)
                    };
                    annotation.distance_m.push(m);
                    annotation.datasources.push(origin);
                    let share = if length > 0.0 {
                        duration_s * m / length
                    } else {
                        0.0
                    };
                    annotation.duration_s.push(share + pending_s);
                    pending_s = 0.0;
                }
                geometry.push(q);
                annotation
                    .nodes
                    .push(piece_ids.get(k).copied().unwrap_or(0));
            }
            // The other roads at the edge's head, for the guidance (not needed without steps).
            let mut others = Vec::new();
            if with_steps {
                if let Some(next) = path.edges.get(i + 1) {
                    let head = edge.target();
                    let head_tile = self.store.tile(head.tile)?;
                    let forbidden = head_tile.forbidden_turns_at(head.local);
                    for local in head_tile.out_edges(head.local) {
                        let id = graph::EdgeId::new(head.tile, local);
                        if id == next.edge || Some(id) == edge.twin() {
                            continue;
                        }
                        let road = head_tile.edge(local);
                        others.push(guidance::Road {
                            bearing: road.bearing_start(),
                            name: head_tile.name(road.name_index()),
                            reference: head_tile.name(road.reference_index()),
                            class: graph::profile::RoadClass::from_u8(road.class),
                            entry: !forbidden
                                .iter()
                                .any(|t| t.from() == pe.edge && t.to_local() == local),
                        });
                    }
                }
            }
            segments.push(PathSegment {
                name: tile.name(edge.name_index()),
                reference: tile.name(edge.reference_index()),
                geometry: if with_steps {
                    piece.clone()
                } else {
                    Vec::new()
                },
                distance_m: (pe.to_m - pe.from_m).max(0.0),
                duration_s,
                roundabout: edge.flags & graph::tile::flags::ROUNDABOUT != 0,
                class: graph::profile::RoadClass::from_u8(edge.class),
                others,
                signs: guidance::Signs {
                    destinations: tile.name(edge.destinations_index()),
                    turn_lanes: tile.name(edge.turn_lanes_index()),
                },
            });
        }
        if geometry.len() == 1 {
            geometry.push(geometry[0]);
            annotation.distance_m.push(0.0);
            annotation.duration_s.push(0.0);
            annotation.nodes.push(annotation.nodes[0]);
            annotation.datasources.push(0);
        }
        if let Some(last) = annotation.duration_s.last_mut() {
            *last += pending_s;
        }
        Ok(Leg {
            distance_m: segments.iter().map(|s| s.distance_m).sum(),
            duration_s: path.cost_s,
            summary: guidance::leg_summary(&segments),
            steps: if with_steps {
                let mut steps = guidance::build_steps(&segments);
                if self.profile() == graph::Profile::Foot {
                    // OSRM's travel mode of a step on foot.
                    steps.iter_mut().for_each(|s| s.mode = "walking");
                }
                steps
            } else {
                Vec::new()
            },
            geometry,
            annotation,
        })
    }
}

/// Runs `f` on this thread's query space in `slot`, (re)made for `g` if it was for another.
fn with_space<R>(
    slot: &'static std::thread::LocalKey<RefCell<Option<QuerySpace>>>,
    g: &overlay::base::BaseGraph,
    f: impl FnOnce(&mut QuerySpace) -> R,
) -> R {
    slot.with(|cell| {
        let mut slot = cell.borrow_mut();
        if !slot.as_ref().is_some_and(|s| s.fits_graph(g)) {
            *slot = Some(QuerySpace::for_graph(g));
        }
        f(slot.as_mut().expect("space just set"))
    })
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
pub fn cut_shape(shape: &[LatLon], from_m: f64, to_m: f64) -> Vec<LatLon> {
    cut_shape_with_ids(shape, &[], from_m, to_m).0
}

/// [`cut_shape`] and, when `ids` gives the shape points' OSM ids, the id of each point of the
/// cut: a shape point's own, an interpolated start point's segment start, an interpolated end
/// point's segment end (as OSRM's `annotations=nodes` names the nodes around its snapped ends).
pub fn cut_shape_with_ids(
    shape: &[LatLon],
    ids: &[i64],
    from_m: f64,
    to_m: f64,
) -> (Vec<LatLon>, Vec<i64>) {
    let id = |k: usize| ids.get(k).copied().unwrap_or(0);
    // Ends within a millimetre of the shape's ends are its ends: the stored edge length (f32)
    // and the shape's summed length differ by that much, and a cut a hair short of a junction
    // would leave a sub-millimetre segment before the next edge.
    let total: f64 = shape.windows(2).map(|w| w[0].haversine_m(w[1])).sum();
    let at_end = |m: f64| {
        if (m - total).abs() < 1e-3 {
            total
        } else if m.abs() < 1e-3 {
            0.0
        } else {
            m
        }
    };
    let (from_m, to_m) = (at_end(from_m), at_end(to_m));
    // A cut at a segment's end is its point exactly (interpolating at 1 may miss it by a bit).
    let lerp = |w: &[LatLon], t: f64| {
        if t <= 1e-12 {
            w[0]
        } else if t >= 1.0 - 1e-12 {
            w[1]
        } else {
            w[0].lerp(w[1], t)
        }
    };
    let mut out = Vec::new();
    let mut out_ids = Vec::new();
    let mut walked = 0.0;
    for (k, w) in shape.windows(2).enumerate() {
        let len = w[0].haversine_m(w[1]);
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
            // A point on a shape point is that node; between two, the one before (a start) or
            // after (an end).
            let p0 = lerp(w, t0);
            if out.last() != Some(&p0) {
                out.push(p0);
                out_ids.push(if p0 == w[1] { id(k + 1) } else { id(k) });
            }
            let p1 = lerp(w, t1);
            if out.last() != Some(&p1) {
                out.push(p1);
                out_ids.push(if p1 == w[0] { id(k) } else { id(k + 1) });
            }
        }
        walked = b;
    }
    if out.is_empty() {
        let p = shape.last().copied().unwrap_or_default();
        out.push(p);
        out_ids.push(id(shape.len().saturating_sub(1)));
    }
    if out.len() == 1 {
        out.push(out[0]);
        out_ids.push(out_ids[0]);
    }
    (out, out_ids)
}
