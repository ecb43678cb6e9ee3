//! Navigation sessions: a device asks for a route to a destination, then each position it
//! reports moves it along the route. The session answers with progress (distance and time left
//! under the current traffic), a new route when the device left the route, and a faster route
//! when traffic has made the current one slow enough that switching saves real time.

use super::search::PathEdge;
use super::{cut_shape, RouteAnswer, RouteError, Router};
use spatial::geometry::project_onto_segment;
use spatial::LatLon;

/// Farther than this from the route (plus the fix's accuracy) counts as off the route.
const OFF_ROUTE_M: f64 = 40.0;
/// Consecutive off-route fixes before rerouting (one stray fix is GPS noise).
const OFF_ROUTE_FIXES: u32 = 2;
/// Within this of the destination the trip is over.
const ARRIVED_M: f64 = 25.0;
/// How often (ping time) the session looks for a faster route.
pub const FASTER_CHECK_MS: i64 = 15_000;
/// A faster route is offered only if it saves at least this much, and 10% of the time left.
const MIN_SAVING_S: f64 = 30.0;

/// Why a route was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteReason {
    Start,
    OffRoute,
    FasterRoute,
}

impl RouteReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteReason::Start => "start",
            RouteReason::OffRoute => "reroute",
            RouteReason::FasterRoute => "faster_route",
        }
    }
}

/// What a position update produced.
#[derive(Clone, Debug)]
pub enum NavEvent {
    Route {
        reason: RouteReason,
        answer: Box<RouteAnswer>,
        /// For a faster route: seconds saved against staying on the old one.
        saving_s: Option<f64>,
    },
    Progress {
        distance_remaining_m: f64,
        duration_remaining_s: f64,
        /// Ping time plus the time left, ms since the epoch.
        eta_ms: i64,
    },
    Arrived,
}

/// One edge of the followed route with its drawn geometry.
struct Followed {
    edge: PathEdge,
    shape: Vec<LatLon>,
    /// Metres along the edge where `shape` starts (the route may start mid-edge).
    offset_m: f64,
}

pub struct NavigationSession {
    pub destination: LatLon,
    route: Vec<Followed>,
    /// Index into `route` of the edge the device is on, and metres along that edge.
    at: usize,
    along_m: f64,
    off_route: u32,
    last_faster_check_ms: i64,
    pub finished: bool,
}

impl NavigationSession {
    /// Starts navigating from `origin` to `destination`.
    pub fn start(
        router: &Router,
        origin: LatLon,
        destination: LatLon,
        now_ms: i64,
    ) -> Result<(NavigationSession, NavEvent), RouteError> {
        let mut session = NavigationSession {
            destination,
            route: Vec::new(),
            at: 0,
            along_m: 0.0,
            off_route: 0,
            last_faster_check_ms: now_ms,
            finished: false,
        };
        let answer = session.follow_new_route(router, origin)?;
        Ok((
            session,
            NavEvent::Route {
                reason: RouteReason::Start,
                answer: Box::new(answer),
                saving_s: None,
            },
        ))
    }

    fn follow_new_route(
        &mut self,
        router: &Router,
        from: LatLon,
    ) -> Result<RouteAnswer, RouteError> {
        let (answer, paths) = router.route_with_paths(&[from, self.destination], true)?;
        self.route.clear();
        for path in paths {
            for pe in path.edges {
                let tile = router.store.tile(pe.edge.tile)?;
                let edge = tile.edge(pe.edge.local);
                let full: Vec<LatLon> = tile.shape(edge).collect();
                self.route.push(Followed {
                    shape: cut_shape(&full, pe.from_m, pe.to_m),
                    offset_m: pe.from_m,
                    edge: pe,
                });
            }
        }
        self.at = 0;
        self.along_m = self.route.first().map(|f| f.edge.from_m).unwrap_or(0.0);
        self.off_route = 0;
        Ok(answer)
    }

    /// Seconds left from the current position under the router's current traffic.
    pub fn duration_remaining_s(&self, router: &Router) -> Result<f64, RouteError> {
        let model = router.cost_model();
        let mut total = 0.0;
        for (i, f) in self.route.iter().enumerate().skip(self.at) {
            let tile = router.store.tile(f.edge.edge.tile)?;
            let edge = tile.edge(f.edge.edge.local);
            let len = edge.length_m() as f64;
            let from = if i == self.at {
                self.along_m
            } else {
                f.edge.from_m
            };
            let share = if len > 0.0 {
                ((f.edge.to_m - from) / len).clamp(0.0, 1.0)
            } else {
                0.0
            };
            total += model.edge_cost_s(f.edge.edge, edge) * share;
            if i > self.at {
                total += f.edge.turn_s;
            }
        }
        Ok(total)
    }

    pub fn distance_remaining_m(&self) -> f64 {
        self.route
            .iter()
            .enumerate()
            .skip(self.at)
            .map(|(i, f)| {
                f.edge.to_m
                    - if i == self.at {
                        self.along_m
                    } else {
                        f.edge.from_m
                    }
            })
            .sum::<f64>()
            .max(0.0)
    }

    /// Where on the remaining route a position projects: (edge index, metres along the edge,
    /// distance from the route).
    fn locate(&self, p: LatLon) -> Option<(usize, f64, f64)> {
        let mut best: Option<(usize, f64, f64)> = None;
        for (i, f) in self.route.iter().enumerate().skip(self.at) {
            let mut walked = f.offset_m;
            for w in f.shape.windows(2) {
                let seg = w[0].haversine_m(w[1]);
                let pr = project_onto_segment(p, w[0], w[1]);
                let along = walked + pr.fraction * seg;
                // Never move backwards along the current edge (GPS jitter).
                let along = if i == self.at {
                    along.max(self.along_m)
                } else {
                    along
                };
                if best.is_none_or(|b| pr.distance_m < b.2) {
                    best = Some((i, along, pr.distance_m));
                }
                walked += seg;
            }
        }
        best
    }

    /// Feeds one position fix (position, ping time, accuracy); returns what to tell the device.
    pub fn on_position(
        &mut self,
        router: &Router,
        p: LatLon,
        ts_ms: i64,
        accuracy_m: f64,
    ) -> Result<Vec<NavEvent>, RouteError> {
        if self.finished {
            return Ok(Vec::new());
        }
        let mut events = Vec::new();
        let located = self.locate(p);
        let on_route =
            located.is_some_and(|(_, _, d)| d <= OFF_ROUTE_M + accuracy_m.clamp(0.0, 50.0));
        if !on_route {
            self.off_route += 1;
            if self.off_route >= OFF_ROUTE_FIXES {
                let answer = self.follow_new_route(router, p)?;
                self.last_faster_check_ms = ts_ms;
                events.push(NavEvent::Route {
                    reason: RouteReason::OffRoute,
                    answer: Box::new(answer),
                    saving_s: None,
                });
            }
            return Ok(events);
        }
        let (i, along, _) = located.expect("on route implies located");
        self.off_route = 0;
        self.at = i;
        self.along_m = along;
        if p.haversine_m(self.destination) <= ARRIVED_M || self.distance_remaining_m() <= ARRIVED_M
        {
            self.finished = true;
            events.push(NavEvent::Arrived);
            return Ok(events);
        }
        let mut remaining = self.duration_remaining_s(router)?;
        if ts_ms - self.last_faster_check_ms >= FASTER_CHECK_MS {
            self.last_faster_check_ms = ts_ms;
            if let Some(event) = self.faster_route(router, p, remaining)? {
                events.push(event);
                remaining = self.duration_remaining_s(router)?;
            }
        }
        events.push(NavEvent::Progress {
            distance_remaining_m: self.distance_remaining_m(),
            duration_remaining_s: remaining,
            eta_ms: ts_ms + (remaining * 1000.0) as i64,
        });
        Ok(events)
    }

    /// A fresh route from `p` if it beats staying on the current one (time left `remaining_s`)
    /// by enough to be worth a switch; the session then follows it.
    pub fn faster_route(
        &mut self,
        router: &Router,
        p: LatLon,
        remaining_s: f64,
    ) -> Result<Option<NavEvent>, RouteError> {
        let (fresh, _) = router.route_with_paths(&[p, self.destination], false)?;
        let saving = remaining_s - fresh.route.duration_s;
        if saving < MIN_SAVING_S.max(0.1 * remaining_s) {
            return Ok(None);
        }
        let answer = self.follow_new_route(router, p)?;
        Ok(Some(NavEvent::Route {
            reason: RouteReason::FasterRoute,
            answer: Box::new(answer),
            saving_s: Some(saving),
        }))
    }
}
