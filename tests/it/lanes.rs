//! Lanes and signposts over real HTTP, read back against the PBFs themselves (osmpbf, not the
//! importer): on München and Helsinki, a route driving the length of a way tagged `turn:lanes`
//! meets, at that way's last node, an intersection listing exactly its lanes, with a lane valid
//! for the turn taken; no intersection lists lanes anywhere else. On Porto, steps on signposted
//! roads carry `destinations` whose places are those of a `destination` tag.

use crate::common::{get, pbf_highways, route_intersections, router, serve_router, PbfWay};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

fn near(c: &Value, (lat, lon): (f64, f64)) -> bool {
    (c[0].as_f64().unwrap() - lon).abs() < 2e-6 && (c[1].as_f64().unwrap() - lat).abs() < 2e-6
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intersections_list_the_lanes_of_the_way_in() {
    let mut found = 0;
    for name in [
        "small/munchen-centre-2020-07",
        "small/helsinki-centre-2019-04",
    ] {
        let (nodes, ways) = tokio::task::spawn_blocking(move || pbf_highways(name))
            .await
            .unwrap();
        let addr = serve_router(router(name)).await;
        // The last node of every oneway way with lane arrows, and its arrows.
        let lane_ways: Vec<(&PbfWay, &str)> = ways
            .iter()
            .filter(|w| w.tags.get("oneway").map(String::as_str) == Some("yes"))
            .filter_map(|w| w.tags.get("turn:lanes").map(|l| (w, l.as_str())))
            .collect();
        // Lane counts of the tagged ways ending at each node, in either direction (two may end
        // at one junction).
        let mut ends: HashMap<i64, HashSet<usize>> = HashMap::new();
        for w in &ways {
            for (key, node) in [
                ("turn:lanes", w.refs.last()),
                ("turn:lanes:forward", w.refs.last()),
                ("turn:lanes:backward", w.refs.first()),
            ] {
                if let (Some(arrows), Some(&n)) = (w.tags.get(key), node) {
                    ends.entry(n).or_default().insert(arrows.split('|').count());
                }
            }
        }
        for (way, arrows) in lane_ways.iter().take(40) {
            let (first, last) = (way.refs[0], *way.refs.last().unwrap());
            // On past the way's end: the far end of a road leaving its last node.
            let Some(next) = ways
                .iter()
                .find(|w| w.refs[0] == last && w.refs.len() >= 2)
                .map(|w| *w.refs.last().unwrap())
            else {
                continue;
            };
            let (Some(&a), Some(&b), Some(&end)) =
                (nodes.get(&first), nodes.get(&next), nodes.get(&last))
            else {
                continue;
            };
            let path = format!(
                "/route/v1/driving/{},{};{},{}?steps=true&overview=false",
                a.1, a.0, b.1, b.0
            );
            let (status, body) = get(addr, &path).await;
            if status != 200 {
                continue;
            }
            let route = &body["routes"][0];
            for i in route_intersections(route) {
                if let Some(lanes) = i["lanes"].as_array() {
                    // Only where a way with lane arrows ends.
                    let counts = ends
                        .iter()
                        .find(|(n, _)| nodes.get(n).is_some_and(|&p| near(&i["location"], p)))
                        .map(|(_, c)| c)
                        .unwrap_or_else(|| {
                            panic!(
                                "{name} {path}: lanes at {} where no tagged way ends",
                                i["location"]
                            )
                        });
                    assert!(counts.contains(&lanes.len()), "{name} {path}: {i}");
                    if near(&i["location"], end) {
                        assert!(
                            counts.contains(&arrows.split('|').count()),
                            "{name} {path}: {arrows}"
                        );
                        assert!(
                            lanes.iter().any(|l| l["valid"] == true),
                            "{name} {path}: {i}"
                        );
                        found += 1;
                    }
                }
            }
        }
    }
    assert!(found >= 5, "only {found} routes met a tagged way's lanes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_on_signposted_roads_carry_their_destinations() {
    let name = "medium/porto-2015-06";
    let (nodes, ways) = tokio::task::spawn_blocking(move || pbf_highways(name))
        .await
        .unwrap();
    let places: HashSet<String> = ways
        .iter()
        .flat_map(|w| {
            w.tags
                .iter()
                .filter(|(k, _)| k.starts_with("destination") && !k.contains("ref"))
                .flat_map(|(_, v)| v.split(';').map(|p| p.trim().to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let signed: Vec<&PbfWay> = ways
        .iter()
        .filter(|w| w.tags.contains_key("destination"))
        .collect();
    let dir = tokio::task::spawn_blocking(move || crate::common::graph_dir_deep(name))
        .await
        .unwrap();
    let store = meridian::graph::GraphStore::open(dir).unwrap();
    let porto = std::sync::Arc::new(meridian::route::Router::new(std::sync::Arc::new(store)));
    let addr = serve_router(porto).await;
    let (mut steps_with, mut routes) = (0, 0);
    for way in signed.iter().take(40) {
        let (Some(&a), Some(&b)) = (nodes.get(&way.refs[0]), nodes.get(way.refs.last().unwrap()))
        else {
            continue;
        };
        let path = format!(
            "/route/v1/driving/{},{};{},{}?steps=true&overview=false",
            a.1, a.0, b.1, b.0
        );
        let (status, body) = get(addr, &path).await;
        if status != 200 {
            continue;
        }
        routes += 1;
        for step in body["routes"][0]["legs"][0]["steps"].as_array().unwrap() {
            if let Some(d) = step["destinations"].as_str() {
                let list = d.split_once(": ").map_or(d, |(_, p)| p);
                for place in list.split(", ") {
                    assert!(
                        places.contains(place),
                        "{path}: {place:?} of {d:?} is on no sign"
                    );
                }
                steps_with += 1;
            }
        }
    }
    assert!(
        routes >= 20 && steps_with >= 10,
        "{steps_with} signposted steps in {routes} routes"
    );
}
