//! `exclude=` on `/route` over real HTTP on Porto, served by the overlay (which knows no
//! exclusions, so the A* must answer): on pairs whose fastest route drives a motorway, the
//! route with `exclude=motorway` drives none (judged from its full geometry against the graph,
//! not from the answer's own labels, and from its steps' intersection classes), is no faster,
//! and its alternatives avoid motorways too; `exclude=toll` avoids every tolled edge; bad
//! values get OSRM's codes; a graph imported before toll flags existed refuses `exclude=toll`.

use crate::common::{
    get, graph_dir, graph_dir_deep, junctions, route_intersections, scratch_dir, serve_router,
};
use meridian::graph::exclude::is_motorway_class;
use meridian::graph::tile::flags;
use meridian::graph::GraphStore;
use meridian::route::overlay::OverlayConfig;
use meridian::route::{snap, Router};
use meridian::spatial::LatLon;
use serde_json::Value;
use std::sync::Arc;

const PORTO: &str = "medium/porto-2015-06";

fn overlay_router(dir: &std::path::Path) -> Arc<Router> {
    let store = GraphStore::open(dir).expect("open graph");
    Arc::new(
        Router::new(Arc::new(store))
            .with_overlay(OverlayConfig::default())
            .expect("build overlay"),
    )
}

/// How many segments of a route's full geometry lie on an edge with `flag_of(edge)`: each
/// segment's midpoint is snapped to the graph, and counts when the road there (within 0.3 m)
/// has the flag.
fn segments_on(router: &Router, route: &Value, on: impl Fn(u8, u8) -> bool) -> usize {
    let coords = route["geometry"]["coordinates"].as_array().unwrap();
    let points: Vec<LatLon> = coords
        .iter()
        .map(|c| LatLon::new(c[1].as_f64().unwrap(), c[0].as_f64().unwrap()))
        .collect();
    points
        .windows(2)
        .filter(|w| {
            let mid = LatLon::new((w[0].lat + w[1].lat) / 2.0, (w[0].lon + w[1].lon) / 2.0);
            let Some(s) = snap::snap(&router.store, mid, 2.0).unwrap() else {
                return false;
            };
            let tile = router.store.tile(s.edge.tile).unwrap();
            let edge = tile.edge(s.edge.local);
            s.distance_m < 0.3 && on(edge.class, edge.flags)
        })
        .count()
}

/// Intersections of a route's steps listing class `class`.
fn intersections_of_class(route: &Value, class: &str) -> usize {
    route_intersections(route)
        .filter(|i| {
            i["classes"]
                .as_array()
                .is_some_and(|c| c.iter().any(|v| v == class))
        })
        .count()
}

fn motorway(class: u8, _flags: u8) -> bool {
    is_motorway_class(class)
}

fn tolled(_class: u8, flags: u8) -> bool {
    flags & flags::TOLL != 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn porto_exclude_avoids_motorways_and_tolls_and_refuses_bad_values() {
    let router = overlay_router(&graph_dir_deep(PORTO));
    let nodes = junctions(&router);
    let addr = serve_router(router.clone()).await;

    // The import keeps Porto's tolled roads (A28, A41, VCI parts are not, A41/A4 are).
    let mut toll_edges = 0;
    for t in 0..router.store.tile_count() {
        let tile = router.store.tile(t).unwrap();
        toll_edges += tile
            .edges
            .iter()
            .filter(|e| e.flags & flags::TOLL != 0)
            .count();
    }
    assert!(toll_edges > 0, "no tolled edge in Porto's graph");

    let mut state: u64 = 7;
    let mut pick = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        nodes[(state >> 33) as usize % nodes.len()]
    };
    let (mut motorway_pairs, mut toll_pairs, mut tried) = (0, 0, 0);
    while (motorway_pairs < 4 || toll_pairs < 1) && tried < 80 {
        tried += 1;
        let (a, b) = (pick(), pick());
        let coords = format!("{},{};{},{}", a.lon, a.lat, b.lon, b.lat);
        let ask = |extra: &str| {
            format!("/route/v1/driving/{coords}?overview=full&geometries=geojson&steps=true{extra}")
        };
        let (status, free) = get(addr, &ask("")).await;
        if status != 200 {
            continue;
        }
        let free = &free["routes"][0];
        let free_s = free["duration"].as_f64().unwrap();
        if segments_on(&router, free, motorway) > 0 {
            // The check can fail: the fastest route's own geometry and steps show the motorway.
            assert!(intersections_of_class(free, "motorway") > 0, "{coords}");
            let (status, body) = get(addr, &ask("&exclude=motorway&alternatives=2")).await;
            assert_eq!(status, 200, "{coords}: {body}");
            let routes = body["routes"].as_array().unwrap();
            for (i, r) in routes.iter().enumerate() {
                assert_eq!(segments_on(&router, r, motorway), 0, "{coords} route {i}");
                assert_eq!(
                    intersections_of_class(r, "motorway"),
                    0,
                    "{coords} route {i}"
                );
                assert!(r["duration"].as_f64().unwrap() >= free_s - 0.1, "{coords}");
            }
            motorway_pairs += 1;
        }
        if segments_on(&router, free, tolled) > 0 {
            let (status, body) = get(addr, &ask("&exclude=toll")).await;
            assert_eq!(status, 200, "{coords}: {body}");
            let r = &body["routes"][0];
            assert_eq!(segments_on(&router, r, tolled), 0, "{coords}");
            assert!(r["duration"].as_f64().unwrap() >= free_s - 0.1, "{coords}");
            let (status, body) = get(addr, &ask("&exclude=toll,motorway")).await;
            assert_eq!(status, 200, "{coords}: {body}");
            let r = &body["routes"][0];
            assert_eq!(segments_on(&router, r, tolled), 0, "{coords}");
            assert_eq!(segments_on(&router, r, motorway), 0, "{coords}");
            toll_pairs += 1;
        }
    }
    assert!(
        motorway_pairs >= 4,
        "{motorway_pairs} motorway pairs in {tried}"
    );
    assert!(toll_pairs >= 1, "no tolled route in {tried} pairs");

    // Ferries are never in the car graph; the class is accepted and changes nothing.
    let (a, b) = (nodes[10], nodes[nodes.len() / 2]);
    let coords = format!("{},{};{},{}", a.lon, a.lat, b.lon, b.lat);
    let (_, free) = get(addr, &format!("/route/v1/driving/{coords}")).await;
    let (status, ferry) = get(addr, &format!("/route/v1/driving/{coords}?exclude=ferry")).await;
    assert_eq!(status, 200, "{ferry}");
    assert_eq!(
        free["routes"][0]["distance"],
        ferry["routes"][0]["distance"]
    );

    for (query, code) in [
        ("exclude=foo", "InvalidValue"),
        ("exclude=motorway,foo", "InvalidValue"),
        ("exclude=", "InvalidQuery"),
        ("exclude=motorway;toll", "InvalidQuery"),
    ] {
        let (status, body) = get(addr, &format!("/route/v1/driving/{coords}?{query}")).await;
        assert_eq!(
            (status, body["code"].as_str().unwrap()),
            (400, code),
            "{query}"
        );
    }
    // The table does not apply exclusions: refused, not ignored.
    let (status, body) = get(
        addr,
        &format!("/table/v1/driving/{coords}?exclude=motorway"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "NotImplemented")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_imported_without_toll_flags_refuses_exclude_toll() {
    // A copy of a graph whose manifest predates `edge_flags`.
    let original = graph_dir("small/liechtenstein-2015-07");
    let old = scratch_dir("exclude-old-graph");
    copy_tree(&original, &old);
    let manifest_path = old.join("manifest.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    assert!(manifest["edge_flags"].is_array(), "{manifest}");
    manifest.as_object_mut().unwrap().remove("edge_flags");
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();

    let store = GraphStore::open(&old).expect("an old graph still opens");
    let router = Arc::new(Router::new(Arc::new(store)));
    let nodes = junctions(&router);
    let addr = serve_router(router).await;
    let (a, b) = (nodes[10], nodes[nodes.len() / 2]);
    let coords = format!("{},{};{},{}", a.lon, a.lat, b.lon, b.lat);
    let (status, body) = get(addr, &format!("/route/v1/driving/{coords}?exclude=toll")).await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "InvalidValue")
    );
    assert!(
        body["message"].as_str().unwrap().contains("re-import"),
        "{body}"
    );
    let (status, body) = get(
        addr,
        &format!("/route/v1/driving/{coords}?exclude=motorway"),
    )
    .await;
    assert_eq!(status, 200, "motorway needs no flags: {body}");
    std::fs::remove_dir_all(&old).ok();
}

/// Copies directory `from` (files and subdirectories, e.g. `tiles/`) into `to`.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
