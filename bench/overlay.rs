//! Overlay benchmark on Porto: partition figures per level, full and incremental customization
//! time, overlay memory, and the 1000 anchor queries in-process on one thread with the overlay
//! and with the plain A* (same process, same pass order), at free flow and with live traffic on
//! 10% of the edges; every overlay answer is checked against the A*'s cost.
//!
//! Run: `cargo bench --bench overlay` (env: `MERIDIAN_SHARED` = the shared folder, default
//! `../shared`; `PASSES` = timed passes, default 3; `OVERLAY_CONFIGS` = `;`-separated
//! `cell_nodes,...:prefix_bits,...` configurations, default the `OverlayConfig` default,
//! `128,1024,8192,65536,524288:15,10`; `SLOWED_PROFILES` = a file to write the 10%-slowed
//! traffic into as historical profiles of the imported graph, then exit, for the HTTP bench).

use meridian::graph::build::{import, BuildOptions};
use meridian::graph::{GlobalId, GraphStore};
use meridian::route::overlay::OverlayConfig;
use meridian::route::{Algorithm, Router};
use meridian::spatial::LatLon;
use meridian::traffic::history::{HistoricalProfiles, BINS_PER_WEEK};
use meridian::traffic::LiveTraffic;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

fn read_csv(path: &PathBuf) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(|s| s.to_string()).collect())
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// p50 / p90 / p99 / mean in µs, each the median over passes.
fn time_queries(
    router: &Router,
    queries: &[[LatLon; 2]],
    algorithm: Algorithm,
    passes: usize,
) -> [f64; 4] {
    let mut per_pass = Vec::new();
    for pass in 0..=passes {
        let mut us = Vec::with_capacity(queries.len());
        for q in queries {
            let t = Instant::now();
            let _ = router.route_using(q, false, None, Some(algorithm));
            us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        if pass > 0 {
            let mean = us.iter().sum::<f64>() / us.len() as f64;
            us.sort_by(f64::total_cmp);
            per_pass.push([
                percentile(&us, 0.5),
                percentile(&us, 0.9),
                percentile(&us, 0.99),
                mean,
            ]);
        }
    }
    std::array::from_fn(|i| median(per_pass.iter().map(|p| p[i]).collect()))
}

/// Where an overlay query's time goes: snapping both ends, the overlay search with unpacking,
/// and the whole route (search + geometry and response); p50 / p90 / p99 µs each.
fn breakdown(router: &Router, queries: &[[LatLon; 2]]) -> [[f64; 3]; 3] {
    let live = router.overlay.clone().unwrap();
    let weights = live.current();
    let (mut snap_us, mut search_us, mut total_us) = (Vec::new(), Vec::new(), Vec::new());
    for q in queries {
        let t = Instant::now();
        let (Ok(Some(a)), Ok(Some(b))) = (router.snap(q[0]), router.snap(q[1])) else {
            continue;
        };
        snap_us.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        let _ = router.leg_overlay_with(&live, &weights, &a, &b);
        search_us.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        let _ = router.route_using(q, false, None, Some(Algorithm::Overlay));
        total_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    [snap_us, search_us, total_us].map(|mut v| {
        v.sort_by(f64::total_cmp);
        [
            percentile(&v, 0.5),
            percentile(&v, 0.9),
            percentile(&v, 0.99),
        ]
    })
}

/// Overlay answers whose duration differs from the A*'s (and how many routed).
fn check(router: &Router, queries: &[[LatLon; 2]]) -> (usize, usize) {
    let (mut routed, mut differ) = (0, 0);
    for q in queries {
        let a = router.route_using(q, false, None, Some(Algorithm::AStar));
        let o = router.route_using(q, false, None, Some(Algorithm::Overlay));
        match (a, o) {
            (Ok(a), Ok(o)) => {
                routed += 1;
                let (x, y) = (a.route.duration_s, o.route.duration_s);
                if (x - y).abs() > 1e-9 * x.max(1.0) {
                    differ += 1;
                }
            }
            (Err(_), Err(_)) => {}
            _ => differ += 1,
        }
    }
    (routed, differ)
}

/// `share` of the edges, each at 20–90% of its free-flow speed (fixed seed).
fn slowed_edges(router: &Router, share: f64, seed: u64) -> Vec<(GlobalId, f32)> {
    // A small xorshift keeps the bench free of extra crates.
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = Vec::new();
    for t in 0..router.store.tile_count() {
        let tile = router.store.tile(t).unwrap();
        for l in 0..tile.edges.len() as u32 {
            if next() < share {
                let free = tile.edge(l).speed_kmh();
                out.push((GlobalId::new(t, l), free * (0.2 + 0.7 * next() as f32)));
            }
        }
    }
    out
}

fn slow_share(router: &Router, share: f64, seed: u64, ts: i64) -> LiveTraffic {
    let live = LiveTraffic::new();
    for (edge, speed) in slowed_edges(router, share, seed) {
        live.observe(edge, speed, ts);
    }
    live
}

/// Writes the edges [`slow_share`] slows (same seed) as historical profiles holding that speed
/// in every bin of the week, so that `meridian serve --profiles` routes over HTTP on the same
/// kind of traffic as the in-process figures (`bench/http_vs_osrm.sh` with `PROFILES`).
fn write_slowed_profiles(graph: &std::path::Path, out: &std::path::Path) {
    let store = Arc::new(GraphStore::open(graph).unwrap());
    let router = Router::new(store.clone());
    let slowed = slowed_edges(&router, 0.10, 7);
    let bins = slowed.iter().flat_map(|&(edge, speed)| {
        (0..BINS_PER_WEEK as u16).map(move |bin| (edge, bin, speed.round().max(1.0)))
    });
    let profiles = HistoricalProfiles::from_bins(&store, bins).unwrap();
    let bytes = profiles.write(out).unwrap();
    println!(
        "{} of {} edges slowed in every bin: {} ({:.1} MB)",
        profiles.edges,
        (0..store.tile_count())
            .map(|t| store.tile(t).unwrap().edges.len())
            .sum::<usize>(),
        out.display(),
        bytes as f64 / 1e6
    );
}

/// Traffic as phones report it: every edge within `radius_m` of a few random junctions slowed
/// (a jam and its side streets), the rest at free flow.
fn slow_clusters(
    router: &Router,
    centres: usize,
    radius_m: f64,
    seed: u64,
    ts: i64,
) -> LiveTraffic {
    // Odd and distinct for every seed (xorshift needs a non-zero state).
    let mut s = (seed << 1) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let store = &router.store;
    let tiles = store.tile_count();
    let mut picked = Vec::new();
    while picked.len() < centres {
        let t = (next() * tiles as f64) as u32;
        let tile = store.tile(t).unwrap();
        if tile.node_count() > 0 {
            let n = (next() * tile.node_count() as f64) as u32;
            picked.push(tile.node_position(n));
        }
    }
    let live = LiveTraffic::new();
    for t in 0..tiles {
        let tile = store.tile(t).unwrap();
        for n in 0..tile.node_count() {
            let (lat, lon) = tile.node_position(n);
            let near = picked.iter().any(|&(clat, clon)| {
                let dy = (lat - clat) * 111_195.0;
                let dx = (lon - clon) * 111_195.0 * clat.to_radians().cos();
                dx * dx + dy * dy < radius_m * radius_m
            });
            if near {
                for l in tile.out_edges(n) {
                    let free = tile.edge(l).speed_kmh.to_native();
                    live.observe(GlobalId::new(t, l), free * (0.2 + 0.7 * next() as f32), ts);
                }
            }
        }
    }
    live
}

fn main() {
    let shared = PathBuf::from(
        std::env::var("MERIDIAN_SHARED")
            .unwrap_or_else(|_| format!("{}/../shared", env!("CARGO_MANIFEST_DIR"))),
    );
    let passes: usize = std::env::var("PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let numbers = |list: &str| -> Vec<_> {
        list.split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect()
    };
    let configs: Vec<OverlayConfig> = match std::env::var("OVERLAY_CONFIGS") {
        Ok(v) => v
            .split(';')
            .filter_map(|c| {
                let (cells, bits) = c.split_once(':')?;
                Some(OverlayConfig {
                    cell_nodes: numbers(cells),
                    prefix_bits: numbers(bits).into_iter().map(|b: usize| b as u32).collect(),
                })
            })
            .collect(),
        Err(_) => vec![OverlayConfig::default()],
    };
    let queries: Vec<[LatLon; 2]> = read_csv(&shared.join("anchors/queries-porto-2015-06.csv"))
        .iter()
        .map(|r| {
            let f = |i: usize| r[i].parse::<f64>().unwrap();
            [LatLon::new(f(1), f(0)), LatLon::new(f(3), f(2))]
        })
        .collect();
    let graph = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/out/porto-overlay");
    let pbf = shared.join("data/osm/medium/porto-2015-06.osm.pbf");
    let t = Instant::now();
    import(&BuildOptions::new(&pbf, &graph)).expect("import porto");
    if let Ok(out) = std::env::var("SLOWED_PROFILES") {
        write_slowed_profiles(&graph, std::path::Path::new(&out));
        return;
    }
    println!("# Meridian overlay benchmark (Porto)");
    println!();
    println!(
        "{} cores; {} queries; {passes} timed passes after 1 warm-up; import {:.1} s",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        queries.len(),
        t.elapsed().as_secs_f64()
    );
    for config in configs {
        let store = Arc::new(GraphStore::open(&graph).unwrap());
        let t = Instant::now();
        let router = Router::new(store).with_overlay(config.clone()).unwrap();
        let build_ms = t.elapsed().as_secs_f64() * 1e3;
        let live = router.overlay.clone().unwrap();
        let ov = &live.overlay;
        println!();
        println!(
            "## cells of <= {:?} junctions, prefixes {:?} bits, {} customization threads",
            config.cell_nodes, config.prefix_bits, ov.threads
        );
        println!();
        println!("| level | cells | entries mean / max | exits mean / max | clique entries |");
        println!("|---|---:|---:|---:|---:|");
        for s in ov.level_stats() {
            println!(
                "| {} | {} | {:.1} / {} | {:.1} / {} | {} |",
                s.name,
                s.cells,
                s.mean_entries,
                s.max_entries,
                s.mean_exits,
                s.max_exits,
                s.clique_entries
            );
        }
        let full: Vec<f64> = (0..5)
            .map(|_| {
                let (_, stats) = ov.customize(&router.store, &router.cost_model()).unwrap();
                stats.millis
            })
            .collect();
        let current = live.current();
        println!();
        println!(
            "build + first customization {build_ms:.0} ms; full customization {:.1} ms (median of 5, min {:.1}); overlay {:.1} MB (topology {:.1} MB, weights {:.1} MB)",
            median(full.clone()),
            full.iter().copied().fold(f64::INFINITY, f64::min),
            (ov.bytes() + current.weights.bytes()) as f64 / 1e6,
            ov.bytes() as f64 / 1e6,
            current.weights.bytes() as f64 / 1e6
        );
        let (routed, differ) = check(&router, &queries);
        let parts = breakdown(&router, &queries);
        for (what, p) in [
            "snap both ends",
            "overlay search + unpacking",
            "whole route",
        ]
        .iter()
        .zip(parts)
        {
            println!(
                "free flow, {what}: p50 / p90 / p99 {:.0} / {:.0} / {:.0} µs",
                p[0], p[1], p[2]
            );
        }
        let astar = time_queries(&router, &queries, Algorithm::AStar, passes);
        let over = time_queries(&router, &queries, Algorithm::Overlay, passes);
        // Incremental: 10% of the edges slowed, from the free-flow weights each time.
        let free = live.current();
        let mut inc = Vec::new();
        let mut changed = 0;
        for round in 0..5u64 {
            let ts = 1_000 + round as i64;
            let traffic = slow_share(&router, 0.10, 7 + round, ts);
            let snap = traffic.snapshot(&router.store, ts, 60_000);
            router.traffic.publish(snap);
            let (w, stats) = ov
                .update(&free.weights, &router.store, &router.cost_model())
                .unwrap();
            changed = stats.changed_edges;
            inc.push(stats.millis);
            drop(w);
        }
        // Clustered: 5 jams of 600 m radius, as real pings would report them.
        let mut clustered = Vec::new();
        let (mut clustered_edges, mut clustered_cells) = (0, 0);
        // What a shard would publish after each update: the clique entries of its levels at and
        // above geohash p3 (the shard level) whose value changed, 8 bytes each (and what the
        // whole cells it recomputed there hold).
        let shard_levels: Vec<usize> = ov
            .partition
            .levels
            .iter()
            .enumerate()
            .filter(|(_, l)| l.name.starts_with("geohash"))
            .map(|(i, _)| i)
            .collect();
        let mut published: Vec<(usize, usize)> = Vec::new();
        for round in 0..5u64 {
            let ts = 2_000 + round as i64;
            let traffic = slow_clusters(&router, 5, 600.0, 11 + round, ts);
            router
                .traffic
                .publish(traffic.snapshot(&router.store, ts, 60_000));
            let (w, stats) = ov
                .update(&free.weights, &router.store, &router.cost_model())
                .unwrap();
            clustered_edges = stats.changed_edges;
            clustered_cells = stats.cells.iter().sum::<usize>();
            clustered.push(stats.millis);
            let (mut changed, mut recomputed) = (0, 0);
            for &li in &shard_levels {
                for (new, old) in w.cliques[li].iter().zip(&free.weights.cliques[li]) {
                    if !std::sync::Arc::ptr_eq(new, old) {
                        recomputed += new.len();
                        changed += new
                            .iter()
                            .zip(old.iter())
                            .filter(|(a, b)| a.to_bits() != b.to_bits())
                            .count();
                    }
                }
            }
            published.push((changed, recomputed));
            drop(w);
        }
        let traffic = slow_share(&router, 0.10, 7, 3_000);
        router
            .traffic
            .publish(traffic.snapshot(&router.store, 3_000, 60_000));
        let cells: usize = router.update_overlay().unwrap().unwrap().cells.iter().sum();
        let (routed_t, differ_t) = check(&router, &queries);
        let astar_t = time_queries(&router, &queries, Algorithm::AStar, passes);
        let over_t = time_queries(&router, &queries, Algorithm::Overlay, passes);
        println!(
            "incremental customization, {changed} edges ({:.0}%) changed, {cells} cells recomputed: {:.1} ms (median of 5, min {:.1})",
            100.0 * changed as f64 / ov.graph.edge_count() as f64,
            median(inc.clone()),
            inc.iter().copied().fold(f64::INFINITY, f64::min)
        );
        println!(
            "incremental customization, 5 jams of 600 m ({clustered_edges} edges changed, {clustered_cells} of {} cells recomputed): {:.1} ms (median of 5, min {:.1})",
            ov.partition.levels.iter().map(|l| l.cells as usize).sum::<usize>(),
            median(clustered.clone()),
            clustered.iter().copied().fold(f64::INFINITY, f64::min)
        );
        let shard_entries: usize = shard_levels
            .iter()
            .map(|&li| {
                free.weights.cliques[li]
                    .iter()
                    .map(|c| c.len())
                    .sum::<usize>()
            })
            .sum();
        println!(
            "publication at the shard levels (geohash p3 and up, {shard_entries} clique entries, {:.0} KB): per 5-jam update, entries changed / in recomputed cells: {}",
            shard_entries as f64 * 8.0 / 1e3,
            published
                .iter()
                .map(|(c, r)| format!("{c} / {r} ({:.0} / {:.0} KB)", *c as f64 * 8.0 / 1e3, *r as f64 * 8.0 / 1e3))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!();
        println!("| traffic | search | routed | cost differs from A* | p50 µs | p90 µs | p99 µs | mean µs |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
        for (traffic, search, r, d, x) in [
            ("free flow", "A*", routed, 0, astar),
            ("free flow", "overlay", routed, differ, over),
            ("10% slowed", "A*", routed_t, 0, astar_t),
            ("10% slowed", "overlay", routed_t, differ_t, over_t),
        ] {
            println!(
                "| {traffic} | {search} | {r} | {d} | {:.0} | {:.0} | {:.0} | {:.0} |",
                x[0], x[1], x[2], x[3]
            );
        }
        router
            .traffic
            .publish(meridian::traffic::TrafficSnapshot::free_flow(&router.store));
    }
}
