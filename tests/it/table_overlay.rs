//! `/table` over the overlay (bucket many-to-many) must give exactly the flat search's
//! durations, cell by cell, on real extracts: at free flow, under random live traffic, and
//! after an incremental customization; distances agree wherever the two searches took the same
//! path (ties between equally fast paths may differ in length, so a small share may differ).

use crate::common::{graph_dir, junctions};
use crate::overlay::random_traffic;
use meridian::graph::GraphStore;
use meridian::route::overlay::OverlayConfig;
use meridian::route::snap::Snap;
use meridian::route::Router;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

fn overlay_router(name: &str) -> Router {
    let store = GraphStore::open(graph_dir(name)).expect("open graph");
    Router::new(Arc::new(store))
        .with_overlay(OverlayConfig::default())
        .expect("build overlay")
}

fn random_snaps(router: &Router, n: usize, seed: u64) -> Vec<Snap> {
    let nodes = junctions(router);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    while out.len() < n {
        let p = nodes[rng.random_range(0..nodes.len())];
        if let Some(s) = router.snap(p).unwrap() {
            out.push(s);
        }
    }
    out
}

/// Cells compared, and cells whose distance differs by more than 0.5 m.
fn assert_same_durations(
    name: &str,
    router: &Router,
    sources: &[Snap],
    dests: &[Snap],
) -> (usize, usize) {
    let overlay = router.table_at(sources, dests, None).unwrap();
    let flat = router.table_flat(sources, dests).unwrap();
    let (mut cells, mut other_length) = (0, 0);
    for (i, (a, b)) in overlay.iter().zip(&flat).enumerate() {
        assert_eq!(a.len(), dests.len());
        for (j, (x, y)) in a.iter().zip(b).enumerate() {
            cells += 1;
            match (x, y) {
                (None, None) => {}
                (Some(x), Some(y)) => {
                    assert!(
                        (x.duration_s - y.duration_s).abs() <= 1e-6 * y.duration_s.max(1.0),
                        "{name} [{i}][{j}]: overlay {} s, flat {} s",
                        x.duration_s,
                        y.duration_s
                    );
                    if (x.distance_m - y.distance_m).abs() > 0.5 {
                        other_length += 1;
                    }
                }
                _ => panic!("{name} [{i}][{j}]: overlay {x:?}, flat {y:?}"),
            }
        }
    }
    (cells, other_length)
}

#[test]
fn overlay_tables_equal_the_flat_search_on_real_extracts() {
    let mut total = (0, 0);
    for (name, n, seed) in [
        ("small/liechtenstein-2015-07", 40, 1),
        ("small/andorra-2021-10", 30, 2),
        ("small/munchen-centre-2020-07", 30, 3),
        ("tiny/sydney-2020-07", 20, 4),
    ] {
        let router = overlay_router(name);
        let sources = random_snaps(&router, n, seed);
        let dests = random_snaps(&router, n + 7, seed + 100);
        let (cells, other) = assert_same_durations(name, &router, &sources, &dests);
        println!("{name}: {cells} cells, {other} with another length");
        total.0 += cells;
        total.1 += other;
    }
    // Ties between equally fast paths of different lengths are rare on real roads.
    assert!(
        total.1 * 100 <= total.0,
        "{} of {} cells differ in length",
        total.1,
        total.0
    );
}

#[test]
fn overlay_tables_stay_exact_under_traffic_and_incremental_customization() {
    let name = "small/liechtenstein-2015-07";
    let router = overlay_router(name);
    let sources = random_snaps(&router, 30, 11);
    let dests = random_snaps(&router, 30, 12);
    let mut ts = 1_000;
    for (round, share) in [0.25, 0.02, 0.10].into_iter().enumerate() {
        let traffic = random_traffic(&router, share, 300 + round as u64, ts);
        router
            .traffic
            .publish(traffic.snapshot(&router.store, ts, 60_000));
        let stats = router.update_overlay().unwrap().unwrap();
        assert!(stats.changed_edges > 0, "round {round}: nothing changed");
        let (cells, other) = assert_same_durations(name, &router, &sources, &dests);
        assert!(
            other * 50 <= cells,
            "round {round}: {other} of {cells} differ in length"
        );
        ts += 1_000;
    }
}
