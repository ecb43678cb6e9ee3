//! How route and customization times grow with the map: OSM extracts of increasing size and the
//! 9th DIMACS Challenge New York graph (the largest graph in ../shared), each imported in this
//! process, its overlay built (cells cut at start, as the import's stored partition would hold)
//! and fully customized, then the same random junction pairs timed with the overlay and with
//! the plain A*, one thread, every overlay cost checked against the A*'s. One table row per
//! graph, smallest first.
//!
//! Run: `cargo bench --no-default-features --bench scale` (env: `MERIDIAN_SHARED` = the shared
//! folder, default `../shared`; `PAIRS` = random pairs per graph, default 500; `GRAPHS` = a
//! comma-separated subset of the row names, e.g. `medium/porto-2015-06,dimacs`; `OVERLAY_CONFIG`
//! = `cell_nodes,...:prefix_bits,...` instead of the default cells, as in bench/overlay.rs).

use meridian::graph::build::{dimacs, import, BuildOptions};
use meridian::graph::GraphStore;
use meridian::route::overlay::OverlayConfig;
use meridian::route::{Algorithm, Router};
use meridian::spatial::LatLon;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn junctions(store: &GraphStore) -> Vec<LatLon> {
    let mut out = Vec::new();
    for t in 0..store.tile_count() {
        let tile = store.tile(t).expect("tile");
        for n in 0..tile.node_count() {
            out.push(tile.node_location(n));
        }
    }
    out
}

/// p50 / p99 µs of `pairs` under `algorithm`, after one untimed pass; durations per pair.
fn time(router: &Router, pairs: &[[LatLon; 2]], algorithm: Algorithm) -> (f64, f64, Vec<f64>) {
    let run = || -> (Vec<f64>, Vec<f64>) {
        let (mut us, mut durations) = (Vec::new(), Vec::new());
        for q in pairs {
            let t = Instant::now();
            let answer = router.route_using(q, false, None, Some(algorithm));
            us.push(t.elapsed().as_secs_f64() * 1e6);
            durations.push(answer.map_or(f64::NAN, |a| a.route.duration_s));
        }
        (us, durations)
    };
    let _ = run();
    let (mut us, durations) = run();
    us.sort_by(f64::total_cmp);
    (percentile(&us, 0.5), percentile(&us, 0.99), durations)
}

/// `OVERLAY_CONFIG`, or the default cells.
fn config() -> OverlayConfig {
    let numbers = |list: &str| -> Vec<usize> {
        list.split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect()
    };
    match std::env::var("OVERLAY_CONFIG") {
        Ok(v) => {
            let (cells, bits) = v.split_once(':').unwrap_or((&v, ""));
            OverlayConfig {
                cell_nodes: numbers(cells),
                prefix_bits: numbers(bits).into_iter().map(|b| b as u32).collect(),
            }
        }
        Err(_) => OverlayConfig::default(),
    }
}

/// Whether `GRAPHS` (if set) names this row.
fn wanted(name: &str) -> bool {
    std::env::var("GRAPHS").map_or(true, |g| g.split(',').any(|w| name.contains(w.trim())))
}

/// Returns one line of the per-level customization table.
fn row(name: &str, dir: &Path, import_s: f64, pairs_wanted: usize) -> String {
    let store = Arc::new(GraphStore::open(dir).expect("open graph"));
    let counts = store.manifest().counts.clone();
    let t = Instant::now();
    let router = Router::new(store.clone())
        .with_overlay(config())
        .expect("overlay");
    let build_ms = t.elapsed().as_secs_f64() * 1e3;
    let live = router.overlay.clone().expect("overlay");
    let (full_ms, per_level) = {
        let mut runs = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let (_, stats) = live
                .overlay
                .customize(&router.store, &router.cost_model())
                .expect("customize");
            runs.push((t.elapsed().as_secs_f64() * 1e3, stats));
        }
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (ms, stats) = runs.swap_remove(1);
        let levels: Vec<String> = live
            .overlay
            .level_stats()
            .iter()
            .zip(&stats.level_millis)
            .map(|(l, ms)| {
                format!(
                    "{} ({} cells, {} entries): {ms:.1}",
                    l.name, l.cells, l.clique_entries
                )
            })
            .collect();
        (ms, levels.join("; "))
    };
    let nodes = junctions(&store);
    let mut rng = StdRng::seed_from_u64(9);
    let pairs: Vec<[LatLon; 2]> = (0..pairs_wanted)
        .map(|_| {
            [
                nodes[rng.random_range(0..nodes.len())],
                nodes[rng.random_range(0..nodes.len())],
            ]
        })
        .collect();
    let (o50, o99, od) = time(&router, &pairs, Algorithm::Overlay);
    let (a50, a99, ad) = time(&router, &pairs, Algorithm::AStar);
    let differ = od
        .iter()
        .zip(&ad)
        .filter(|(o, a)| !(o.is_nan() && a.is_nan()) && (*o - *a).abs() > 1e-6 * a.abs().max(1.0))
        .count();
    println!(
        "| {name} | {} | {} | {import_s:.1} | {build_ms:.0} | {full_ms:.1} | {o50:.0} | {o99:.0} | {a50:.0} | {a99:.0} | {:.1}× | {differ} |",
        counts.junctions,
        counts.directed_edges,
        a50 / o50,
    );
    format!("| {name} | {full_ms:.1} | {per_level} |")
}

fn main() {
    let shared = PathBuf::from(
        std::env::var("MERIDIAN_SHARED")
            .unwrap_or_else(|_| format!("{}/../shared", env!("CARGO_MANIFEST_DIR"))),
    );
    let pairs: usize = std::env::var("PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/out/scale");
    println!(
        "# Meridian at growing map sizes ({pairs} random junction pairs each, 1 thread; cells {:?})",
        config()
    );
    println!();
    println!("| graph | junctions | directed edges | import s | overlay build ms | full customization ms | overlay p50 µs | overlay p99 µs | A* p50 µs | A* p99 µs | A*/overlay p50 | cost differs |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut levels = Vec::new();
    // Every extract in ../shared/data/osm (tiny to Porto); rows print in this order.
    for name in [
        "tiny/boston-2020-08",
        "tiny/stockholm-2020-07",
        "tiny/sydney-2020-07",
        "small/munchen-centre-2020-07",
        "small/helsinki-centre-2019-04",
        "small/liechtenstein-2015-07",
        "small/andorra-2021-10",
        "small/harrisburg-2015-02",
        "small/baltimore-2015-02",
        "medium/porto-2015-06",
    ] {
        if !wanted(name) {
            continue;
        }
        let dir = out.join(name.replace('/', "_"));
        let pbf = shared.join(format!("data/osm/{name}.osm.pbf"));
        let t = Instant::now();
        import(&BuildOptions {
            places: false,
            ..BuildOptions::new(&pbf, &dir)
        })
        .expect("import");
        levels.push(row(name, &dir, t.elapsed().as_secs_f64(), pairs));
    }
    if wanted("dimacs") {
        levels.push(new_york(&shared, &out, pairs));
    }
    println!();
    println!("Full customization per level (ms, median run; level name, cells, clique entries):");
    println!();
    println!("| graph | full ms | per level |");
    println!("|---|---:|---|");
    for line in levels {
        println!("{line}");
    }
}

fn new_york(shared: &Path, out: &Path, pairs: usize) -> String {
    let ny = shared.join("data/dimacs9");
    let dir = out.join("dimacs-ny");
    let t = Instant::now();
    dimacs::import(
        &ny.join("USA-road-t.NY.gr.gz"),
        &ny.join("USA-road-d.NY.co.gz"),
        &BuildOptions::new(ny.join("USA-road-t.NY.gr.gz"), &dir),
    )
    .expect("import DIMACS New York");
    row("DIMACS New York", &dir, t.elapsed().as_secs_f64(), pairs)
}
