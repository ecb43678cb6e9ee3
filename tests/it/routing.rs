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
