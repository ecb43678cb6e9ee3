//! Live traffic end to end on real data: pings of vehicles crawling along real edges are map
//! matched and aggregated, the published snapshot makes the route avoid the slowed road and its
//! ETA rise, and once the data ages out the original route comes back.

use crate::common::{junctions, router};
use meridian::graph::EdgeId;
use meridian::route::cut_shape;
use meridian::route::search::SearchSpace;
use meridian::spatial::LatLon;
use meridian::traffic::live::DEFAULT_FRESH_MS;
use meridian::traffic::{LiveTraffic, Matcher, Ping};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;

const NOW_MS: i64 = 1_800_000_000_000;

/// Pings every `interval_s` of a vehicle driving `edge` end to end at `kmh`, ending at `end_ms`,
/// with up to ~3 m of GPS noise. Half the devices report their speed, half leave it to matching.
fn crawl(
    router: &meridian::route::Router,
    device: u64,
    edge: EdgeId,
    kmh: f64,
    interval_s: f64,
    end_ms: i64,
    rng: &mut StdRng,
) -> Vec<Ping> {
    let tile = router.store.tile(edge.tile).unwrap();
    let e = tile.edge(edge.local);
    let shape: Vec<LatLon> = tile.shape(e).collect();
    let len = e.length_m() as f64;
    let step_m = kmh / 3.6 * interval_s;
    let n = (len / step_m).floor() as usize;
    let start_ms = end_ms - (n as f64 * interval_s * 1000.0) as i64;
    (0..=n)
        .map(|i| {
            let along = (i as f64 * step_m).min(len);
            let here = cut_shape(&shape, 0.0, along);
            let p = *here.last().unwrap();
            let ahead = *cut_shape(&shape, 0.0, (along + 5.0).min(len))
                .last()
                .unwrap();
            let heading = if ahead != p {
                Some(p.bearing_deg(ahead) as f32)
            } else {
                None
            };
            Ping {
                device,
                seq: i as u64,
                ts_ms: start_ms + (i as f64 * interval_s * 1000.0) as i64,
                lat: p.lat + rng.random_range(-2.5e-5..2.5e-5),
                lon: p.lon + rng.random_range(-2.5e-5..2.5e-5),
                speed_ms: (device % 2 == 0).then_some((kmh / 3.6) as f32),
                heading_deg: heading,
                accuracy_m: Some(5.0),
            }
        })
        .collect()
}

#[test]
fn slow_drives_divert_the_route_and_age_out() {
    let router = router("small/liechtenstein-2015-07");
    let nodes = junctions(&router);
    let mut rng = StdRng::seed_from_u64(5);
    let mut space = SearchSpace::new();
    // A fixed, seeded pair more than 6 km apart.
    let (a, b, before) = loop {
        let a = nodes[rng.random_range(0..nodes.len())];
        let b = nodes[rng.random_range(0..nodes.len())];
        let r = router.route(&[a, b], false).unwrap();
        if r.route.distance_m > 6_000.0 {
            break (a, b, r);
        }
    };
    let sa = router.snap(a).unwrap().unwrap();
    let sb = router.snap(b).unwrap().unwrap();
    let path_before = router.leg(&mut space, &sa, &sb).unwrap();
    // Slow the middle third of the route (whole edges only) to a crawl.
    let n = path_before.edges.len();
    let slowed: Vec<EdgeId> = path_before.edges[n / 3..2 * n / 3]
        .iter()
        .map(|p| p.edge)
        .collect();
    assert!(slowed.len() >= 3, "route too short: {n} edges");

    let matcher = Matcher::new();
    let live = LiveTraffic::new();
    let (mut pings, mut on_intended) = (0, 0);
    for (i, &edge) in slowed.iter().enumerate() {
        for ping in crawl(&router, i as u64, edge, 5.0, 5.0, NOW_MS - 10_000, &mut rng) {
            pings += 1;
            let Some(m) = matcher.match_ping(&router.store, &ping).unwrap() else {
                continue;
            };
            on_intended += usize::from(m.edge == edge);
            if let Some(speed) = m.speed_kmh {
                live.observe(m.edge, speed, m.ts_ms);
            }
        }
    }
    assert!(pings >= 100, "{pings} pings");
    assert!(
        on_intended * 10 >= pings * 8,
        "only {on_intended}/{pings} pings matched their road"
    );
    for &edge in &slowed {
        let o = live
            .entries()
            .into_iter()
            .find(|(id, _)| *id == edge)
            .map(|(_, o)| o);
        let speed = o.expect("every slowed edge has live data").speed_kmh;
        assert!(
            (2.0..=10.0).contains(&speed),
            "crawl measured as {speed} km/h"
        );
    }

    router
        .traffic
        .publish(live.snapshot(&router.store, NOW_MS, DEFAULT_FRESH_MS));
    let during = router.route(&[a, b], false).unwrap();
    let path_during = router.leg(&mut space, &sa, &sb).unwrap();
    assert!(
        during.route.duration_s > before.route.duration_s + 1.0,
        "ETA must rise: {} -> {}",
        before.route.duration_s,
        during.route.duration_s
    );
    let slowed_set: HashSet<EdgeId> = slowed.iter().copied().collect();
    let still_used = path_during
        .edges
        .iter()
        .filter(|p| slowed_set.contains(&p.edge))
        .count();
    assert!(
        still_used < slowed.len(),
        "the route should switch away from the slowed road: all {still_used} slowed edges still used"
    );
    // Staying on the old path would now cost more than the route chosen.
    let model = router.cost_model();
    let stay: f64 = path_before
        .edges
        .iter()
        .map(|p| {
            let e = router.store.tile(p.edge.tile).unwrap().edge(p.edge.local);
            let share = (p.to_m - p.from_m) / e.length_m() as f64;
            model.edge_cost_s(p.edge, e) * share + p.turn_s
        })
        .sum();
    assert!(
        during.route.duration_s + 1.0 < stay,
        "the detour ({} s) must beat crawling through ({stay} s)",
        during.route.duration_s
    );

    // Ten minutes later nothing new arrived: free flow again, the original route is back.
    router.traffic.publish(live.snapshot(
        &router.store,
        NOW_MS + DEFAULT_FRESH_MS + 60_000,
        DEFAULT_FRESH_MS,
    ));
    let after = router.route(&[a, b], false).unwrap();
    let path_after = router.leg(&mut space, &sa, &sb).unwrap();
    assert!((after.route.duration_s - before.route.duration_s).abs() < 1e-6);
    assert_eq!(path_after.edges.len(), path_before.edges.len());
    assert!(path_after
        .edges
        .iter()
        .zip(&path_before.edges)
        .all(|(x, y)| x.edge == y.edge));
}

#[test]
fn the_same_pings_in_the_same_order_give_the_same_table() {
    let router = router("small/liechtenstein-2015-07");
    let nodes = junctions(&router);
    let mut rng = StdRng::seed_from_u64(9);
    let mut pings = Vec::new();
    for d in 0..20u64 {
        let s = router
            .snap(nodes[rng.random_range(0..nodes.len())])
            .unwrap()
            .unwrap();
        pings.extend(crawl(&router, d, s.edge, 30.0, 2.0, NOW_MS, &mut rng));
    }
    let run = || {
        let matcher = Matcher::new();
        let live = LiveTraffic::new();
        for p in &pings {
            if let Some(m) = matcher.match_ping(&router.store, p).unwrap() {
                if let Some(s) = m.speed_kmh {
                    live.observe(m.edge, s, m.ts_ms);
                }
            }
        }
        live.entries()
    };
    let first = run();
    assert!(first.len() >= 10);
    assert_eq!(first, run());
}

#[test]
fn a_ping_far_from_roads_is_not_matched_and_bad_speeds_are_ignored() {
    let router = router("small/liechtenstein-2015-07");
    let matcher = Matcher::new();
    let ping = Ping {
        device: 1,
        seq: 1,
        ts_ms: NOW_MS,
        lat: 0.0,
        lon: 0.0,
        speed_ms: None,
        heading_deg: None,
        accuracy_m: None,
    };
    assert!(matcher.match_ping(&router.store, &ping).unwrap().is_none());
    let live = LiveTraffic::new();
    let e = router.snap(junctions(&router)[0]).unwrap().unwrap().edge;
    live.observe(e, f32::NAN, NOW_MS);
    live.observe(e, -3.0, NOW_MS);
    assert!(live.is_empty());
}

#[test]
fn the_matcher_forgets_devices_that_stopped_sending() {
    let r = router("small/liechtenstein-2015-07");
    let at = junctions(&r)[100];
    let matcher = Matcher::new();
    let ping = |device: u64, ts_ms: i64| Ping {
        device,
        seq: 1,
        ts_ms,
        lat: at.lat,
        lon: at.lon,
        speed_ms: Some(10.0),
        heading_deg: None,
        accuracy_m: Some(5.0),
    };
    // 3,000 phones once, then an hour later 5,000 others: the first ones' fixes are useless
    // (older than any gap a match bridges) and are swept.
    for d in 0..3_000 {
        assert!(matcher
            .match_ping(&r.store, &ping(d, NOW_MS))
            .unwrap()
            .is_some());
    }
    assert_eq!(matcher.tracked_devices(), 3_000);
    for d in 10_000..15_000 {
        matcher
            .match_ping(&r.store, &ping(d, NOW_MS + 3_600_000))
            .unwrap();
    }
    let tracked = matcher.tracked_devices();
    assert!(tracked <= 5_000, "{tracked} devices kept");
    assert!(tracked > 0);
}
