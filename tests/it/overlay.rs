//! The multi-level overlay must return exactly the cost of the plain A* (itself checked against
//! petgraph's Dijkstra in `exactness`), and of that Dijkstra directly on a share of the pairs:
//! at free flow, under random live traffic, and after a chain of incremental customizations,
//! which must also give bit-for-bit the cliques of a full customization. A corrupted clique
//! entry must make the comparison fail.

use crate::common::{get, graph_dir, junctions};
use crate::exactness::LineGraph;
use meridian::graph::{GlobalId, GraphStore};
use meridian::route::overlay::{Customized, OverlayConfig};
use meridian::route::search::SearchSpace;
use meridian::route::Router;
use meridian::spatial::LatLon;
use meridian::traffic::LiveTraffic;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

fn overlay_router(name: &str, config: OverlayConfig) -> Router {
    let store = GraphStore::open(graph_dir(name)).expect("open graph");
    Router::new(Arc::new(store))
        .with_overlay(config)
        .expect("build overlay")
}

/// Pairs routed and pairs where the overlay's cost differs from the reference's.
struct Outcome {
    routed: usize,
    mismatches: Vec<String>,
}

/// Overlay (under `weights`, or the current ones) against the A* under the router's current
/// cost model on `pairs` random pairs, and against Dijkstra on every `dijkstra_every`-th pair.
fn compare(
    router: &Router,
    weights: Option<&Customized>,
    pairs: usize,
    seed: u64,
    dijkstra_every: usize,
) -> Outcome {
    let model = router.cost_model();
    let mut reference = (dijkstra_every > 0).then(|| LineGraph::build(router, &model));
    let live = router.overlay.as_ref().expect("overlay");
    let current = live.current();
    let weights = weights.unwrap_or(&current);
    let nodes = junctions(router);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut space = SearchSpace::new();
    let mut out = Outcome {
        routed: 0,
        mismatches: Vec::new(),
    };
    for i in 0..pairs {
        let mut pick = || {
            let LatLon { lat, lon } = nodes[rng.random_range(0..nodes.len())];
            LatLon::new(
                lat + rng.random_range(-5e-4..5e-4),
                lon + rng.random_range(-5e-4..5e-4),
            )
        };
        let (a, b) = (pick(), pick());
        let sa = router.snap(a).unwrap().expect("snap a");
        let sb = router.snap(b).unwrap().expect("snap b");
        let ours = router.leg_overlay_with(live, weights, &sa, &sb).ok();
        let astar = router
            .leg_with(&model, &mut space, &sa, &sb)
            .ok()
            .map(|p| p.cost_s);
        let dijkstra = match reference.as_mut() {
            Some(r) if i % dijkstra_every == 0 => Some(r.query(router, &sa, &sb)),
            _ => None,
        };
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * y.max(1.0);
        match (ours.as_ref().map(|p| p.cost_s), astar) {
            (Some(x), Some(y)) => {
                let path = ours.as_ref().unwrap();
                // The unpacked edges must add up to the cost and join end to end.
                let sum: f64 = path.edges.iter().map(|e| e.drive_s + e.turn_s).sum();
                let joined = path.edges.windows(2).all(|w| {
                    let t = router.store.tile(w[0].edge.tile).unwrap();
                    let e = t.edge(w[0].edge.local);
                    let next = router.store.tile(w[1].edge.tile).unwrap();
                    GlobalId::new(e.target().tile, e.target().local)
                        == GlobalId::new(w[1].edge.tile, next.edge_source(w[1].edge.local))
                });
                if !close(x, y) || !close(sum, x) || !joined {
                    out.mismatches.push(format!(
                        "pair {i} {a:?}->{b:?}: overlay {x} (edges sum {sum}, joined {joined}) a* {y}"
                    ));
                }
                if let Some(d) = dijkstra {
                    if d.is_none_or(|d| !close(x, d)) {
                        out.mismatches
                            .push(format!("pair {i}: overlay {x} dijkstra {d:?}"));
                    }
                }
                out.routed += 1;
            }
            (None, None) => {}
            other => out.mismatches.push(format!(
                "pair {i} {a:?}->{b:?}: reachability differs (overlay, a*) {other:?}"
            )),
        }
    }
    out
}

fn assert_exact(name: &str, out: &Outcome, pairs: usize) {
    assert!(
        out.mismatches.is_empty(),
        "{name}: {} of {pairs} pairs differ, first: {}",
        out.mismatches.len(),
        out.mismatches[0]
    );
    assert!(
        out.routed * 10 >= pairs * 9,
        "{name}: only {}/{pairs} routed",
        out.routed
    );
}

/// Live speeds on a share of the edges, from a crawl to the graph's top speed.
pub fn random_traffic(router: &Router, share: f64, seed: u64, ts_ms: i64) -> LiveTraffic {
    let live = LiveTraffic::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let top = router.store.manifest().max_speed_kmh;
    for t in 0..router.store.tile_count() {
        let tile = router.store.tile(t).unwrap();
        for l in 0..tile.edges.len() as u32 {
            if rng.random_bool(share) {
                live.observe(GlobalId::new(t, l), rng.random_range(3.0..top), ts_ms);
            }
        }
    }
    live
}

#[test]
fn overlay_matches_astar_and_dijkstra_at_free_flow() {
    for (name, pairs, seed) in [
        ("small/liechtenstein-2015-07", 500, 1),
        ("small/andorra-2021-10", 400, 2),
        ("small/munchen-centre-2020-07", 300, 3),
        ("tiny/sydney-2020-07", 200, 4),
    ] {
        let router = overlay_router(name, OverlayConfig::default());
        let out = compare(&router, None, pairs, seed, 10);
        assert_exact(name, &out, pairs);
    }
}

#[test]
fn overlay_matches_astar_with_geohash_cells_only() {
    // No partitioner levels: the tile (p5, 25 bits) is the bottom cell, bit prefixes above.
    let name = "small/harrisburg-2015-02";
    let config = OverlayConfig {
        cell_nodes: Vec::new(),
        prefix_bits: vec![25, 22, 20],
    };
    let router = overlay_router(name, config);
    let out = compare(&router, None, 300, 5, 0);
    assert_exact(name, &out, 300);
}

#[test]
fn overlay_stays_exact_under_live_traffic_and_incremental_customization() {
    let name = "small/liechtenstein-2015-07";
    let router = overlay_router(name, OverlayConfig::default());
    let live = router.overlay.clone().unwrap();
    let mut ts = 1_000;
    // A chain of publishes, each changing a different share of the edges; each update is
    // incremental and must equal a full customization bit for bit.
    for (round, share) in [0.33, 0.02, 0.10, 0.001, 0.25].into_iter().enumerate() {
        let traffic = random_traffic(&router, share, 100 + round as u64, ts);
        let snapshot = traffic.snapshot(&router.store, ts, 60_000);
        router.traffic.publish(snapshot);
        let stats = router.update_overlay().unwrap().unwrap();
        assert!(stats.changed_edges > 0, "round {round}: nothing changed");
        let (full, _) = live
            .overlay
            .customize(&router.store, &router.cost_model())
            .unwrap();
        let incremental = live.current();
        assert_eq!(incremental.weights.cost, full.cost, "round {round}");
        for (li, (a, b)) in incremental
            .weights
            .cliques
            .iter()
            .chain(&incremental.weights.columns)
            .zip(full.cliques.iter().chain(&full.columns))
            .enumerate()
        {
            for (c, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(
                    x.iter()
                        .zip(y.iter())
                        .all(|(p, q)| p.to_bits() == q.to_bits()),
                    "round {round}: level {li} cell {c} differs from a full customization"
                );
            }
        }
        // The unpacking hops too: a stale path would draw a route its cost does not describe.
        for (li, (a, b)) in incremental
            .weights
            .paths
            .iter()
            .zip(&full.paths)
            .enumerate()
        {
            for (c, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(
                    x.first == y.first && x.hops == y.hops,
                    "round {round}: level {li} cell {c}: hops differ from a full customization"
                );
            }
        }
        let pairs = if round == 0 { 300 } else { 80 };
        let out = compare(&router, None, pairs, 200 + round as u64, 8);
        assert_exact(name, &out, pairs);
        ts += 1_000;
    }
}

#[test]
fn a_corrupted_clique_entry_is_caught() {
    let name = "small/liechtenstein-2015-07";
    let router = overlay_router(name, OverlayConfig::default());
    let live = router.overlay.clone().unwrap();
    let good = live.current();
    // In the second level's cell with most entries, the entry-exit pair farthest apart becomes
    // free: a teleport across the cell that many routes would take.
    let li = 1;
    let level = &live.overlay.partition.levels[li];
    let g = &live.overlay.graph;
    let cell = (0..level.cells)
        .max_by_key(|&c| level.entries.of(c).len())
        .unwrap();
    let clique = &good.weights.cliques[li][cell as usize];
    let (entries, exits) = (level.entries.of(cell), level.exits.of(cell));
    let apart = |k: usize| {
        let a = g.position[g.head[entries[k / exits.len()] as usize] as usize];
        let b = g.position[g.tail[exits[k % exits.len()] as usize] as usize];
        (a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)
    };
    let (k, _) = clique
        .iter()
        .enumerate()
        .filter(|(_, c)| c.is_finite())
        .max_by(|a, b| apart(a.0).total_cmp(&apart(b.0)))
        .unwrap();
    let mut weights = meridian::route::overlay::Weights {
        cost: good.weights.cost.clone(),
        cliques: good.weights.cliques.clone(),
        columns: good.weights.columns.clone(),
        paths: good.weights.paths.clone(),
    };
    weights.set_entry(&live.overlay.partition, li, cell, k, 0.0);
    let bad = Customized {
        weights,
        traffic_published_ms: 0,
        stats: Default::default(),
    };
    let clean = compare(&router, Some(&good), 300, 9, 0);
    assert_exact(name, &clean, 300);
    let corrupted = compare(&router, Some(&bad), 300, 9, 0);
    assert!(
        !corrupted.mismatches.is_empty(),
        "a zeroed clique entry went unnoticed on 300 pairs"
    );
}

async fn serve(router: Arc<Router>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(meridian::server::serve_on(
        router,
        listener,
        meridian::server::Limits {
            max_route_coordinates: 10,
            ..Default::default()
        },
        None,
    ));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_routes_choose_the_algorithm_and_agree() {
    let name = "small/liechtenstein-2015-07";
    let router = Arc::new(overlay_router(name, OverlayConfig::default()));
    let nodes = junctions(&router);
    let addr = serve(router.clone()).await;
    let (a, b) = (nodes[7], nodes[nodes.len() - 9]);
    let coords = format!("{},{};{},{}", a.lon, a.lat, b.lon, b.lat);
    let mut durations = Vec::new();
    for query in [
        "steps=true",
        "steps=true&algorithm=overlay",
        "steps=true&algorithm=astar",
    ] {
        let (status, body) = get(addr, &format!("/route/v1/driving/{coords}?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        let route = &body["routes"][0];
        assert!(!route["tiles"].as_array().unwrap().is_empty(), "{query}");
        let steps = route["legs"][0]["steps"].as_array().unwrap();
        assert_eq!(steps[0]["maneuver"]["type"], "depart", "{query}");
        assert_eq!(
            steps.last().unwrap()["maneuver"]["type"],
            "arrive",
            "{query}"
        );
        durations.push(route["duration"].as_f64().unwrap());
    }
    assert!(durations[0] > 60.0, "{durations:?}");
    assert!(
        durations.windows(2).all(|w| (w[0] - w[1]).abs() < 0.05),
        "{durations:?}"
    );
    let (status, body) = get(addr, &format!("/route/v1/driving/{coords}?algorithm=ch")).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "InvalidValue");

    // A server without the overlay refuses algorithm=overlay with a clear error.
    let plain = Arc::new(Router::new(router.store.clone()));
    let addr = serve(plain).await;
    let (status, body) = get(
        addr,
        &format!("/route/v1/driving/{coords}?algorithm=overlay"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "InvalidValue");
    assert!(body["message"].as_str().unwrap().contains("--no-overlay"));
}

#[test]
fn the_updater_thread_swaps_in_weights_for_a_new_publish() {
    let name = "tiny/sydney-2020-07";
    let router = Arc::new(overlay_router(name, OverlayConfig::default()));
    router.spawn_overlay_updater();
    let live = router.overlay.clone().unwrap();
    let before = live.current();
    let traffic = random_traffic(&router, 0.5, 3, 5_000);
    router
        .traffic
        .publish(traffic.snapshot(&router.store, 5_000, 60_000));
    live.request_update();
    // Bounded wait for the customizer thread (not a timing assertion).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while live.current().traffic_published_ms != 5_000 {
        assert!(std::time::Instant::now() < deadline, "no update swapped in");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let after = live.current();
    assert!(after.stats.changed_edges > 0);
    assert_ne!(before.weights.cost, after.weights.cost);
    let out = compare(&router, None, 100, 8, 5);
    assert_exact(name, &out, 100);
}

/// The partition `meridian import` stores (a real CLI import) is read back at start and gives
/// exactly the cells, boundaries and cut levels the partitioner cuts, so the same routes; a
/// damaged file is caught by `meridian verify` (exit code and sentence) and a server then cuts
/// the cells again instead of using it.
#[test]
fn the_stored_partition_is_the_cut_one_and_damage_is_caught() {
    use meridian::route::overlay::PartitionSource;
    for name in ["small/liechtenstein-2015-07", "small/andorra-2021-10"] {
        let dir =
            crate::common::scratch_dir(&format!("stored-partition-{}", name.replace('/', "_")));
        let graph = dir.join("graph");
        let import = std::process::Command::new(env!("CARGO_BIN_EXE_meridian"))
            .arg("import")
            .arg(crate::common::extract(name))
            .arg("--out")
            .arg(&graph)
            .output()
            .expect("run meridian import");
        assert!(import.status.success(), "{import:?}");
        let stdout = String::from_utf8_lossy(&import.stdout);
        assert!(
            stdout.contains("overlay partition: overlay-partition.bin"),
            "{stdout}"
        );
        let verify = |graph: &std::path::Path| {
            std::process::Command::new(env!("CARGO_BIN_EXE_meridian"))
                .args(["verify", "--graph"])
                .arg(graph)
                .output()
                .expect("run meridian verify")
        };
        let ok = verify(&graph);
        assert!(ok.status.success(), "{ok:?}");
        assert!(String::from_utf8_lossy(&ok.stdout).contains("and overlay-partition.bin"));

        let open = || Router::new(Arc::new(GraphStore::open(&graph).expect("open")));
        let stored = open().with_overlay(OverlayConfig::default()).unwrap();
        let stored = stored.overlay.as_ref().unwrap();
        assert_eq!(stored.overlay.source, PartitionSource::Stored, "{name}");
        let cut = overlay_router(name, OverlayConfig::default());
        let cut = cut.overlay.as_ref().unwrap();
        assert!(matches!(cut.overlay.source, PartitionSource::Built { .. }));
        let (a, b) = (&stored.overlay.partition, &cut.overlay.partition);
        assert_eq!(a.cut, b.cut, "{name}: cut levels");
        assert_eq!(a.levels.len(), b.levels.len());
        for (x, y) in a.levels.iter().zip(&b.levels) {
            assert_eq!(
                (&x.name, x.cells, &x.cell_of, &x.parent),
                (&y.name, y.cells, &y.cell_of, &y.parent),
                "{name}"
            );
            assert_eq!(
                (&x.entries.edges, &x.exits.edges),
                (&y.entries.edges, &y.exits.edges)
            );
        }
        let router = open().with_overlay(OverlayConfig::default()).unwrap();
        assert_exact(name, &compare(&router, None, 100, 7, 10), 100);

        // One byte of the stored cells flipped: verify fails naming the file, and the overlay
        // is cut again (the same cells) rather than built from damaged ones.
        let file = graph.join("overlay-partition.bin");
        let mut bytes = std::fs::read(&file).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x01;
        std::fs::write(&file, &bytes).unwrap();
        let bad = verify(&graph);
        assert!(!bad.status.success());
        let said = String::from_utf8_lossy(&bad.stderr);
        assert!(
            said.contains("overlay-partition.bin") && said.contains("damaged"),
            "{said}"
        );
        let rebuilt = open().with_overlay(OverlayConfig::default()).unwrap();
        let rebuilt = rebuilt.overlay.as_ref().unwrap();
        match &rebuilt.overlay.source {
            PartitionSource::Built {
                unusable_file: Some(why),
            } => assert!(why.contains("checksum"), "{why}"),
            other => panic!("{name}: a damaged partition was used: {other:?}"),
        }
        assert_eq!(rebuilt.overlay.partition.cut, b.cut);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
