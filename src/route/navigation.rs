//! Navigation sessions: a device asks for a route to a destination, then each position it
//! reports moves it along the route. The session answers with progress (distance and time left
//! under the current traffic), a new route when the device left the route, and a faster route
//! when traffic has made the current one slow enough that switching saves real time.
//!
//! It also speaks: the route's voice instructions ([`crate::instructions::announce`]) are
//! laid out by distance along the route, and each is sent ([`NavEvent::Instruction`]) once,
//! in order, by the first position that comes within its `distanceAlongGeometry` of its
//! maneuver. One whose maneuver the device has already passed (a jump between fixes) is
//! dropped unsaid; on arrival, what is left of the last maneuver's is said first. A new
//! route (reroute, faster route) brings its own announcements, from its departure on.

use super::instructions::announce::{leg_guidance, BannerInstruction};
use super::instructions::{Language, Stop};
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
    /// A voice instruction to speak now, with the banner of its step.
    Instruction {
        /// Index of the step (of the route's only leg) whose instructions it is; it announces
        /// the maneuver that ends that step.
        step: usize,
        announcement: String,
        ssml: String,
        /// Metres before the maneuver it was meant for.
        distance_along_geometry: f64,
        banner: Option<Box<BannerInstruction>>,
    },
}

/// A voice instruction of the followed route, placed along it.
#[derive(Clone, Debug)]
struct Announcement {
    /// Metres from the route's start where it is due.
    due_m: f64,
    /// Metres from the route's start of the maneuver it announces.
    maneuver_m: f64,
    step: usize,
    announcement: String,
    ssml: String,
    distance_along_geometry: f64,
    banner: Option<BannerInstruction>,
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
    /// The route's voice instructions by `due_m`, and how many were said or dropped.
    announcements: Vec<Announcement>,
    said: usize,
}

/// The voice instructions of a route's steps, placed along it (the same metres as the
/// session's edges: steps add up their segments' lengths).
fn announcements_of(answer: &RouteAnswer) -> Vec<Announcement> {
    let lang = Language::english();
    let legs = answer.route.legs.len();
    let mut out = Vec::new();
    let (mut start_m, mut index) = (0.0, 0);
    for (leg_index, leg) in answer.route.legs.iter().enumerate() {
        let stop = Stop {
            leg: leg_index,
            legs,
        };
        let guidance = leg_guidance(lang, &leg.steps, stop);
        for (step, g) in leg.steps.iter().zip(guidance) {
            let maneuver_m = start_m + step.distance;
            let banner = g.banner.into_iter().next();
            for v in g.voice {
                out.push(Announcement {
                    due_m: maneuver_m - v.distance_along_geometry,
                    maneuver_m,
                    step: index,
                    announcement: v.announcement,
                    ssml: v.ssml_announcement,
                    distance_along_geometry: v.distance_along_geometry,
                    banner: banner.clone(),
                });
            }
            start_m = maneuver_m;
            index += 1;
        }
    }
    // Stable: announcements due at the same place keep the route's order.
    out.sort_by(|a, b| a.due_m.total_cmp(&b.due_m));
    out
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
            announcements: Vec::new(),
            said: 0,
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
        self.announcements = announcements_of(&answer);
        self.said = 0;
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

    /// Metres driven along the current route, in the measure of its steps.
    pub fn distance_along_m(&self) -> f64 {
        let before: f64 = self.route[..self.at.min(self.route.len())]
            .iter()
            .map(|f| (f.edge.to_m - f.edge.from_m).max(0.0))
            .sum();
        let here = self
            .route
            .get(self.at)
            .map_or(0.0, |f| (self.along_m - f.edge.from_m).max(0.0));
        before + here
    }

    /// The announcements due by `reach_m` (metres along the route), in order, each once; one
    /// whose maneuver lies behind `at_m` is dropped unsaid.
    fn due_announcements(&mut self, at_m: f64, reach_m: f64, events: &mut Vec<NavEvent>) {
        while let Some(a) = self.announcements.get(self.said) {
            if a.due_m > reach_m {
                break;
            }
            self.said += 1;
            if a.maneuver_m <= at_m {
                continue;
            }
            events.push(NavEvent::Instruction {
                step: a.step,
                announcement: a.announcement.clone(),
                ssml: a.ssml.clone(),
                distance_along_geometry: a.distance_along_geometry,
                banner: a.banner.clone().map(Box::new),
            });
        }
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
        let at_m = self.distance_along_m();
        if p.haversine_m(self.destination) <= ARRIVED_M || self.distance_remaining_m() <= ARRIVED_M
        {
            // What is left of the arrival's announcements comes before the arrival.
            self.due_announcements(at_m, f64::INFINITY, &mut events);
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
        // After a faster route is taken: what is said is the route now followed.
        let at_m = self.distance_along_m();
        self.due_announcements(at_m, at_m, &mut events);
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
