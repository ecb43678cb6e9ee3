//! Route answers on real data: continuous, one-way streets driven only their way, turn
//! restrictions obeyed, via points honoured, steps that add up.

use crate::common::{junctions, router};
use meridian::graph::GlobalId;
use meridian::route::cut_shape;
use meridian::route::search::SearchSpace;
use meridian::spatial::LatLon;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[test]
fn routes_are_continuous_on_the_graph_and_in_geometry() {
    let router = router("small/liechtenstein-2015-07");
    let nodes = junctions(&router);
    let mut rng = StdRng::seed_from_u64(3);
    let mut space = SearchSpace::new();
    for _ in 0..200 {
        let a = nodes[rng.random_range(0..nodes.len())];
        let b = nodes[rng.random_range(0..nodes.len())];
        let sa = router.snap(a).unwrap().unwrap();
        let sb = router.snap(b).unwrap().unwrap();
        let path = router.leg(&mut space, &sa, &sb).unwrap();
        for w in path.edges.windows(2) {
            let tile = router.store.tile(w[0].edge.tile).unwrap();
            let e = tile.edge(w[0].edge.local);
            let next_tile = router.store.tile(w[1].edge.tile).unwrap();
            assert_eq!(e.target().tile, w[1].edge.tile);
            assert_eq!(next_tile.edge_source(w[1].edge.local), e.target().local);
        }
        let answer = router.route(&[a, b], true).unwrap();
        let g = &answer.route.geometry;
        for w in g.windows(2) {
            // Consecutive points are shape points of one road: never a jump across the map.
            assert!(w[0].haversine_m(w[1]) < 5_000.0);
        }
        assert!(g[0].haversine_m(answer.waypoints[0].location) < 0.5);
        assert!((*g.last().unwrap()).haversine_m(answer.waypoints[1].location) < 0.5);
        let leg = &answer.route.legs[0];
        let step_sum: f64 = leg.steps.iter().map(|s| s.distance).sum();
        assert!(
            (step_sum - leg.distance_m).abs() < 0.5,
            "{step_sum} vs {}",
            leg.distance_m
        );
        assert_eq!(leg.steps.first().unwrap().maneuver.kind, "depart");
        assert_eq!(leg.steps.last().unwrap().maneuver.kind, "arrive");
        assert!((answer.route.duration_s - path.cost_s).abs() < 1e-6);
    }
}

#[test]
fn one_way_streets_are_driven_only_their_way() {
    let router = router("small/munchen-centre-2020-07");
    let store = &router.store;
    let mut checked = 0;
    'tiles: for t in 0..store.tile_count() {
        let tile = store.tile(t).unwrap();
        for l in 0..tile.edges.len() as u32 {
            let e = tile.edge(l);
            let len = e.length_m() as f64;
            if e.twin().is_some() || len < 60.0 {
                continue;
            }
            // A point a quarter and three quarters along a real one-way edge.
            let shape: Vec<LatLon> = tile.shape(e).collect();
            let p1 = *cut_shape(&shape, 0.0, 0.25 * len).last().unwrap();
            let p3 = *cut_shape(&shape, 0.0, 0.75 * len).last().unwrap();
            let (Some(s1), Some(s3)) = (router.snap(p1).unwrap(), router.snap(p3).unwrap()) else {
                continue;
            };
            if s1.edge != GlobalId::new(t, l) || s3.edge != GlobalId::new(t, l) {
                continue; // another road overlaps here; pick a cleaner case
            }
            let forward = router.route(&[p1, p3], false).unwrap();
            let backward = router.route(&[p3, p1], false).unwrap();
            assert!(
                (forward.route.distance_m - 0.5 * len).abs() < 1.0,
                "forward along the one-way"
            );
            assert!(
                backward.route.distance_m > 0.5 * len + 10.0,
                "against a one-way must go around: {} vs {}",
                backward.route.distance_m,
                0.5 * len
            );
            checked += 1;
            if checked == 20 {
                break 'tiles;
            }
        }
    }
    assert!(checked >= 5, "only {checked} one-way cases found");
}

#[test]
fn turn_restrictions_are_obeyed() {
    let router = router("small/munchen-centre-2020-07");
    let store = &router.store;
    let mut space = SearchSpace::new();
    let mut checked = 0;
    let mut detours = 0;
    for t in 0..store.tile_count() {
        let tile = store.tile(t).unwrap();
        for v in 0..tile.node_count() {
            for ft in tile.forbidden_turns_at(v) {
                let from = ft.from();
                let to = GlobalId::new(t, ft.to_local());
                let from_tile = store.tile(from.tile).unwrap();
                let fe = from_tile.edge(from.local);
                let te = tile.edge(to.local);
                let (fl, tl) = (fe.length_m() as f64, te.length_m() as f64);
                if fl < 2.0 || tl < 2.0 {
                    continue;
                }
                // Just before the via node on `from`, just after it on `to`.
                let fs: Vec<LatLon> = from_tile.shape(fe).collect();
                let ts: Vec<LatLon> = tile.shape(te).collect();
                let a = *cut_shape(&fs, 0.0, fl - 1.0).last().unwrap();
                let b = *cut_shape(&ts, 0.0, 1.0).last().unwrap();
                let (Some(sa), Some(sb)) = (router.snap(a).unwrap(), router.snap(b).unwrap())
                else {
                    continue;
                };
                if !sa.candidates().iter().any(|c| c.0 == from)
                    || !sb.candidates().iter().any(|c| c.0 == to)
                {
                    continue;
                }
                let Ok(path) = router.leg(&mut space, &sa, &sb) else {
                    continue;
                };
                for w in path.edges.windows(2) {
                    assert!(
                        !(w[0].edge == from && w[1].edge == to),
                        "forbidden turn {from:?}->{to:?} used"
                    );
                }
                // The forbidden turn would have been about 2 m of driving; the legal route is a detour.
                if path.cost_s > 10.0 {
                    detours += 1;
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} restrictions exercised");
    assert!(
        detours >= checked / 2,
        "{detours} of {checked} restricted turns forced a detour"
    );
}

#[test]
fn via_points_make_one_leg_each() {
    let router = router("small/andorra-2021-10");
    let nodes = junctions(&router);
    let pts = [nodes[10], nodes[nodes.len() / 2], nodes[nodes.len() - 10]];
    let answer = router.route(&pts, true).unwrap();
    assert_eq!(answer.route.legs.len(), 2);
    assert_eq!(answer.waypoints.len(), 3);
    let sum: f64 = answer.route.legs.iter().map(|l| l.duration_s).sum();
    assert!((sum - answer.route.duration_s).abs() < 1e-9);
    let ab = router.route(&pts[..2], false).unwrap();
    assert!((ab.route.duration_s - answer.route.legs[0].duration_s).abs() < 1e-6);
    assert!(!answer.route.tiles.is_empty());
}

/// A coordinate on a junction may leave it by any of its roads: the route from there is never
/// slower than the route made to leave along one of them (forced with a bearing), nor the
/// route to it than one made to arrive along one of them. Before, it left or arrived only by the
/// road its snap happened to find (on a one-way road, only that way).
#[test]
fn a_junction_is_left_and_reached_by_any_of_its_roads() {
    use meridian::route::snap::Bearing;
    use meridian::route::RouteOptions;
    let mut checked = 0;
    for name in ["small/baltimore-2015-02", "small/liechtenstein-2015-07"] {
        let r = router(name);
        let points = junctions(&r);
        let mut rng = StdRng::seed_from_u64(17);
        let mut tries = 0;
        while tries < 60 {
            tries += 1;
            // A junction node of three roads or more, and the bearings its roads leave at.
            let t = rng.random_range(0..r.store.tile_count());
            let tile = r.store.tile(t).unwrap();
            if tile.node_count() == 0 {
                continue;
            }
            let node = rng.random_range(0..tile.node_count());
            let out: Vec<u16> = tile
                .out_edges(node)
                .map(|l| tile.edge(l).bearing_start())
                .collect();
            if tile.roads_at(node) < 3 || out.is_empty() {
                continue;
            }
            let j = tile.node_location(node);
            let other = points[rng.random_range(0..points.len())];
            // Whether the forced point `i` still snaps onto the junction (no road there may
            // run at that bearing: then it snaps onto another road nearby, not comparable).
            let on_junction = |forced: &RouteOptions, i: usize| {
                let pts = if i == 0 { [j, other] } else { [other, j] };
                r.snap_within(&pts, &meridian::route::SnapRules::of(forced))
                    .is_ok_and(|s| s[i].distance_m < 0.5)
            };
            let free = RouteOptions::default();
            let Ok(any) = r.route_with(&[j, other], &free) else {
                continue;
            };
            for &b in &out {
                let forced = RouteOptions {
                    bearings: vec![
                        Some(Bearing {
                            bearing_deg: f64::from(b),
                            range_deg: 1.0,
                        }),
                        None,
                    ],
                    ..RouteOptions::default()
                };
                if !on_junction(&forced, 0) {
                    continue;
                }
                if let Ok(along) = r.route_with(&[j, other], &forced) {
                    assert!(
                        any.route.duration_s <= along.route.duration_s + 1e-6,
                        "{name} {j:?} -> {other:?}: {} s, leaving at {b}° {} s",
                        any.route.duration_s,
                        along.route.duration_s
                    );
                    checked += 1;
                }
            }
            // And the other way: reaching the junction.
            if let Ok(back) = r.route_with(&[other, j], &free) {
                for &b in &out {
                    // Arriving along a road means driving against the bearing it leaves at.
                    let arrive = (f64::from(b) + 180.0) % 360.0;
                    let forced = RouteOptions {
                        bearings: vec![
                            None,
                            Some(Bearing {
                                bearing_deg: arrive,
                                range_deg: 1.0,
                            }),
                        ],
                        ..RouteOptions::default()
                    };
                    if !on_junction(&forced, 1) {
                        continue;
                    }
                    if let Ok(along) = r.route_with(&[other, j], &forced) {
                        assert!(
                            back.route.duration_s <= along.route.duration_s + 1e-6,
                            "{name} {other:?} -> {j:?}: {} s, arriving at {arrive}° {} s",
                            back.route.duration_s,
                            along.route.duration_s
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked >= 100, "only {checked} comparisons");
}
