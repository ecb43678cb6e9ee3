//! Route steps over HTTP on the Porto extract: few `new name` steps, OSRM's maneuver taxonomy
//! (fork, end of road, ramps, merge, roundabouts) present where Porto's roads have them, and
//! complete intersections (every road's bearing, entry flags, motorway classes).

use crate::common::{get, graph_dir_deep, junctions, router};
use meridian::route::names::{compare, NameChange};
use meridian::server::{serve_on, Limits};
use std::collections::HashMap;

const PORTO: &str = "medium/porto-2015-06";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn porto_steps_use_the_maneuver_taxonomy_and_announce_few_name_changes() {
    graph_dir_deep(PORTO);
    let router = router(PORTO);
    let nodes = junctions(&router);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on(router, listener, Limits::default(), None));

    // Fixed pseudo-random junction pairs (a linear congruential sequence, so every run asks the
    // same routes).
    let mut state: u64 = 12;
    let mut pick = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        nodes[(state >> 33) as usize % nodes.len()]
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    let (mut routes, mut inner_steps, mut wide_junctions, mut on_motorway) = (0, 0, 0, 0);
    for _ in 0..60 {
        let (a, b) = (pick(), pick());
        let path = format!(
            "/route/v1/driving/{},{};{},{}?steps=true&overview=false",
            a.lon, a.lat, b.lon, b.lat
        );
        let (status, body) = get(addr, &path).await;
        if status != 200 {
            continue; // a junction cut off by one-way or restricted roads: not this test's topic
        }
        routes += 1;
        let steps = body["routes"][0]["legs"][0]["steps"].as_array().unwrap();
        let mut roundabout_exit = None;
        for (i, s) in steps.iter().enumerate() {
            let kind = s["maneuver"]["type"].as_str().unwrap();
            if i > 0 && i + 1 < steps.len() {
                *counts.entry(kind.to_string()).or_default() += 1;
                inner_steps += 1;
            }
            if kind == "new name" {
                let prev = &steps[i - 1];
                let road = |s: &serde_json::Value| {
                    (
                        s["name"].as_str().unwrap().to_string(),
                        s["ref"].as_str().unwrap_or("").to_string(),
                    )
                };
                let (p, n) = (road(prev), road(s));
                assert_ne!(
                    compare((&p.0, &p.1), (&n.0, &n.1)),
                    NameChange::Same,
                    "{path}: new name from {p:?} to the same road {n:?}"
                );
            }
            match kind {
                "roundabout" | "rotary" => roundabout_exit = Some(s["maneuver"]["exit"].clone()),
                "exit roundabout" | "exit rotary" => {
                    let exit = &s["maneuver"]["exit"];
                    assert!(exit.is_u64(), "{path}: step {i} without exit: {s}");
                    // A leg that departs on the ring has no roundabout step before.
                    if i > 1 {
                        assert_eq!(Some(exit), roundabout_exit.as_ref(), "{path}: step {i}");
                    }
                }
                _ => {}
            }
            if kind == "rotary" || kind == "exit rotary" {
                assert!(s["rotary_name"].is_string(), "{path}: {s}");
            }
            for x in s["intersections"].as_array().unwrap() {
                let bearings: Vec<u64> = x["bearings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b.as_u64().unwrap())
                    .collect();
                let entry = x["entry"].as_array().unwrap();
                assert_eq!(bearings.len(), entry.len(), "{path}: {x}");
                assert!(bearings.windows(2).all(|w| w[0] <= w[1]), "{path}: {x}");
                assert!(bearings.iter().all(|&b| b < 360), "{path}: {x}");
                if let Some(out) = x["out"].as_u64() {
                    assert_eq!(entry[out as usize], true, "{path}: {x}");
                }
                if let Some(i) = x["in"].as_u64() {
                    assert!((i as usize) < bearings.len(), "{path}: {x}");
                }
                if bearings.len() >= 3 {
                    wide_junctions += 1;
                }
                if x["classes"] == serde_json::json!(["motorway"]) {
                    on_motorway += 1;
                }
            }
        }
    }
    eprintln!("{routes} routes, {inner_steps} steps between depart and arrive: {counts:?}");
    assert!(routes >= 40, "only {routes} of 60 pairs routed");
    let new_name = counts.get("new name").copied().unwrap_or(0);
    let share = new_name as f64 / inner_steps as f64;
    // Before names were normalised and junctions classified, 45% of Porto's steps were
    // `new name` (OSRM: 11%, bench/guidance_steps.py).
    assert!(share < 0.25, "new-name share {share:.3}: {counts:?}");
    for kind in [
        "fork",
        "end of road",
        "off ramp",
        "on ramp",
        "merge",
        "roundabout",
        "turn",
    ] {
        assert!(
            counts.get(kind).copied().unwrap_or(0) > 0,
            "no `{kind}` in {counts:?}"
        );
    }
    // Intersections list every road at the junction, not only the way in and out.
    assert!(
        wide_junctions > routes,
        "{wide_junctions} junctions with 3+ roads"
    );
    // Porto's motorways (A 1, A 3, A 4, A 28, ...) carry OSRM's `motorway` class.
    assert!(
        on_motorway > 0,
        "no intersection with classes [\"motorway\"]"
    );
}
