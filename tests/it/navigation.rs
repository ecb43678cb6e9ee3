//! Navigation sessions on real data: progress along the route down to arrival, a reroute after
//! leaving the route, and a faster route offered when traffic slows the current one; each on a
//! router with the overlay (what a server runs) and on one with the plain A*.

use crate::common::{graph_dir, junctions};
use meridian::graph::GraphStore;
use meridian::route::navigation::{NavEvent, NavigationSession, RouteReason, FASTER_CHECK_MS};
use meridian::route::overlay::OverlayConfig;
use meridian::route::{cut_shape, Router};
use meridian::spatial::LatLon;
use meridian::traffic::live::DEFAULT_FRESH_MS;
use meridian::traffic::LiveTraffic;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const T0: i64 = 1_800_000_000_000;

/// Fresh routers on `name` (their own traffic tables): with the overlay, and the plain A*.
fn routers(name: &str) -> [(&'static str, Router); 2] {
    let open = || {
        Router::new(std::sync::Arc::new(
            GraphStore::open(graph_dir(name)).unwrap(),
        ))
    };
    [
        (
            "overlay",
            open().with_overlay(OverlayConfig::default()).unwrap(),
        ),
        ("A*", open()),
    ]
}

/// A seeded origin/destination pair more than 6 km apart, and its route geometry.
fn trip(router: &Router, seed: u64) -> (LatLon, LatLon, Vec<LatLon>) {
    let nodes = junctions(router);
    let mut rng = StdRng::seed_from_u64(seed);
    loop {
        let a = nodes[rng.random_range(0..nodes.len())];
        let b = nodes[rng.random_range(0..nodes.len())];
        let r = router.route(&[a, b], false).unwrap();
        if r.route.distance_m > 6_000.0 {
            return (a, b, r.route.geometry);
        }
    }
}

/// Points every `step_m` metres along a line.
fn along(line: &[LatLon], step_m: f64) -> Vec<LatLon> {
    let total: f64 = line.windows(2).map(|w| w[0].haversine_m(w[1])).sum();
    let mut out = Vec::new();
    let mut d = 0.0;
    while d < total {
        out.push(*cut_shape(line, 0.0, d).last().unwrap());
        d += step_m;
    }
    out.push(*line.last().unwrap());
    out
}

#[test]
fn following_the_route_reports_progress_down_to_arrival() {
    for (_, router) in routers("small/liechtenstein-2015-07") {
        progress_down_to_arrival(&router);
    }
}

fn progress_down_to_arrival(router: &Router) {
    let (a, b, _) = trip(router, 5);
    let (mut session, first) = NavigationSession::start(router, a, b, T0).unwrap();
    let NavEvent::Route { reason, answer, .. } = first else {
        panic!("expected a route")
    };
    assert_eq!(reason, RouteReason::Start);
    assert!(!answer.route.legs[0].steps.is_empty());
    let mut last_distance = f64::INFINITY;
    let mut progress = 0;
    let mut arrived = false;
    for (k, p) in along(&answer.route.geometry, 100.0).into_iter().enumerate() {
        // Every 10 s: no faster-route check interferes (nothing changed anyway).
        for e in session
            .on_position(router, p, T0 + k as i64 * 10_000, 5.0)
            .unwrap()
        {
            match e {
                NavEvent::Progress {
                    distance_remaining_m,
                    duration_remaining_s,
                    eta_ms,
                } => {
                    assert!(
                        distance_remaining_m <= last_distance + 1.0,
                        "{distance_remaining_m} after {last_distance}"
                    );
                    assert!(duration_remaining_s >= 0.0 && eta_ms >= T0);
                    last_distance = distance_remaining_m;
                    progress += 1;
                }
                NavEvent::Arrived => arrived = true,
                // Spoken guidance: tests/it/voice.rs.
                NavEvent::Instruction { .. } => assert!(!arrived, "spoken after arrival"),
                NavEvent::Route { reason, .. } => {
                    panic!("unexpected {reason:?} while on the route")
                }
            }
        }
    }
    assert!(progress > 30, "{progress} progress events");
    assert!(arrived, "never arrived");
    assert!(session.finished);
}

#[test]
fn leaving_the_route_triggers_a_reroute_from_where_the_device_is() {
    for (_, router) in routers("small/liechtenstein-2015-07") {
        reroute_from_where_the_device_is(&router);
    }
}

fn reroute_from_where_the_device_is(router: &Router) {
    let (a, b, geometry) = trip(router, 5);
    let (mut session, _) = NavigationSession::start(router, a, b, T0).unwrap();
    // A real junction at least 500 m from every point of the route.
    let off = junctions(router)
        .into_iter()
        .find(|j| geometry.iter().all(|g| g.haversine_m(*j) > 500.0) && j.haversine_m(b) > 2_000.0)
        .expect("a junction away from the route");
    let first = session.on_position(router, off, T0 + 1_000, 5.0).unwrap();
    assert!(first.is_empty(), "one stray fix is not enough to reroute");
    let second = session.on_position(router, off, T0 + 2_000, 5.0).unwrap();
    let Some(NavEvent::Route { reason, answer, .. }) = second.first() else {
        panic!("expected a reroute, got {second:?}")
    };
    assert_eq!(*reason, RouteReason::OffRoute);
    assert!(
        answer.route.geometry[0].haversine_m(off) < 100.0,
        "the new route starts where the device is"
    );
    let end = *answer.route.geometry.last().unwrap();
    assert!(end.haversine_m(b) < 100.0);
}

#[test]
fn traffic_on_the_route_brings_a_faster_route() {
    for (_, router) in routers("small/liechtenstein-2015-07") {
        faster_route_under_traffic(&router);
    }
}

fn faster_route_under_traffic(router: &Router) {
    let (a, b, _) = trip(router, 5);
    let (mut session, _) = NavigationSession::start(router, a, b, T0).unwrap();
    let before = session.duration_remaining_s(router).unwrap();
    // A jam on the middle third of the route: every edge there crawls at 5 km/h.
    let (_, paths) = router.route_with_paths(&[a, b], false).unwrap();
    let edges = &paths[0].edges;
    let live = LiveTraffic::new();
    for pe in &edges[edges.len() / 3..2 * edges.len() / 3] {
        live.observe(pe.edge, 5.0, T0);
    }
    router
        .traffic
        .publish(live.snapshot(&router.store, T0, DEFAULT_FRESH_MS));
    // What a server's updater thread does after every publish (nothing without an overlay).
    router.update_overlay().unwrap();
    let jammed = session.duration_remaining_s(router).unwrap();
    assert!(jammed > before + 60.0, "{before} -> {jammed}");

    let events = session
        .on_position(router, a, T0 + FASTER_CHECK_MS, 5.0)
        .unwrap();
    let Some(NavEvent::Route {
        reason,
        answer,
        saving_s,
    }) = events.first()
    else {
        panic!("expected a faster route, got {events:?}")
    };
    assert_eq!(*reason, RouteReason::FasterRoute);
    let saving = saving_s.unwrap();
    assert!(saving >= 30.0, "saving {saving}");
    assert!((answer.route.duration_s + saving - jammed).abs() < 5.0);
    // The session now follows the new route: its time left is the new route's.
    let now = session.duration_remaining_s(router).unwrap();
    assert!(now < jammed - 30.0);
}
