//! Routing on small drawn maps (see `graph::build::ascii_map`): each test states one rule of
//! the search or the snapping on a graph small enough to check by eye, imported by the real
//! importer into a temporary directory.

use super::Router;
use graph::build::ascii_map::AsciiMap;
use graph::profile::RestrictionKind;
use graph::GraphStore;
use spatial::LatLon;
use std::sync::Arc;

const PRIMARY: &[(&str, &str)] = &[("highway", "primary")];
const RESIDENTIAL: &[(&str, &str)] = &[("highway", "residential")];
const ONEWAY_PRIMARY: &[(&str, &str)] = &[("highway", "primary"), ("oneway", "yes")];

fn router(map: &AsciiMap) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    map.import(dir.path()).expect("the drawn map imports");
    let store = GraphStore::open(dir.path()).expect("the imported graph opens");
    (Router::new(Arc::new(store)), dir)
}

/// Whether a route's geometry passes within a metre of the drawn node `c`.
fn passes(map: &AsciiMap, geometry: &[LatLon], c: char) -> bool {
    let p = map.coordinate(c).unwrap();
    geometry.iter().any(|&g| g.haversine_m(p) < 1.0)
}

#[test]
fn a_faster_detour_beats_a_slow_direct_street() {
    let drawing = "
        a...........b
        .           .
        .           .
        ......c......
    ";
    let slow = AsciiMap::parse(drawing, 20.0)
        .unwrap()
        .way("ab", RESIDENTIAL)
        .way("acb", PRIMARY);
    let (r, _dir) = router(&slow);
    let (a, b) = (slow.coordinate('a').unwrap(), slow.coordinate('b').unwrap());
    let route = r.route(&[a, b], false).unwrap().route;
    assert!(passes(&slow, &route.geometry, 'c'), "{:?}", route.geometry);
    assert!(route.distance_m > a.haversine_m(b) + 10.0);

    // The same drawing with a primary direct street: now the direct one is faster.
    let fast = AsciiMap::parse(drawing, 20.0)
        .unwrap()
        .way("ab", PRIMARY)
        .way("acb", PRIMARY);
    let (r, _dir) = router(&fast);
    let route = r.route(&[a, b], false).unwrap().route;
    assert!(!passes(&fast, &route.geometry, 'c'));
    assert!((route.distance_m - a.haversine_m(b)).abs() < 1.0);
}

#[test]
fn a_oneway_street_is_driven_only_forwards() {
    let map = AsciiMap::parse(
        "
        a-----b
         \\   /
          \\ /
           c
        ",
        25.0,
    )
    .unwrap()
    .way("ab", ONEWAY_PRIMARY)
    .way("bca", PRIMARY);
    let (r, _dir) = router(&map);
    let (a, b) = (map.coordinate('a').unwrap(), map.coordinate('b').unwrap());
    let forward = r.route(&[a, b], false).unwrap().route;
    assert!(!passes(&map, &forward.geometry, 'c'));
    let back = r.route(&[b, a], false).unwrap().route;
    assert!(passes(&map, &back.geometry, 'c'), "{:?}", back.geometry);
    assert!(back.distance_m > forward.distance_m + 20.0);
}

#[test]
fn a_forbidden_turn_is_never_taken() {
    let drawing = "
            d
            |
        a---b---c
            |   |
            e---f
    ";
    let open = AsciiMap::parse(drawing, 30.0)
        .unwrap()
        .way("ab", PRIMARY) // 0
        .way("bc", PRIMARY) // 1
        .way("bd", PRIMARY) // 2
        .way("be", PRIMARY) // 3
        .way("cfe", PRIMARY); // 4
    let restricted = AsciiMap::parse(drawing, 30.0)
        .unwrap()
        .way("ab", PRIMARY)
        .way("bc", PRIMARY)
        .way("bd", PRIMARY)
        .way("be", PRIMARY)
        .way("cfe", PRIMARY)
        .restriction(RestrictionKind::No, 0, 'b', 2);
    let (a, d) = (open.coordinate('a').unwrap(), open.coordinate('d').unwrap());
    let direct =
        a.haversine_m(open.coordinate('b').unwrap()) + open.coordinate('b').unwrap().haversine_m(d);

    let (r, _dir) = router(&open);
    let free = r.route(&[a, d], false).unwrap().route;
    assert!(
        (free.distance_m - direct).abs() < 1.0,
        "{}",
        free.distance_m
    );

    // No left from a-b into b-d: the route must come back to b along another road first.
    let (r, _dir) = router(&restricted);
    let detour = r.route(&[a, d], false).unwrap().route;
    assert!(detour.distance_m > direct + 50.0, "{}", detour.distance_m);
    assert!(detour.duration_s > free.duration_s);
}

#[test]
fn a_point_beside_a_street_snaps_onto_it() {
    let map = AsciiMap::parse("a---------b", 20.0)
        .unwrap()
        .way("ab", PRIMARY);
    let (r, _dir) = router(&map);
    let (a, b) = (map.coordinate('a').unwrap(), map.coordinate('b').unwrap());
    // 15 m north of the point 40 m east of a.
    let beside = LatLon::new(
        a.lat + 15.0 / 111_320.0,
        a.lon + (b.lon - a.lon) * 40.0 / 200.0,
    );
    let snap = r.snap(beside).unwrap().expect("snaps");
    assert!((snap.distance_m - 15.0).abs() < 0.5, "{}", snap.distance_m);
    let from_a = a.haversine_m(snap.location);
    assert!((from_a - 40.0).abs() < 0.5, "{from_a}");
    // Far from every road, nothing is found within the snapping radius.
    let far = LatLon::new(a.lat + 0.2, a.lon);
    assert!(r.snap(far).unwrap().is_none());
}
