//! Offline bundle benchmark on Porto: import the extract into a temporary directory, bundle the
//! geohash-4 and geohash-5 cells around the city centre, and print for each: bundle size, export
//! time, open + verify time (every member's sha256), and route latency on the bundle for 200
//! random pairs of junctions inside the area, next to the full graph's for the same pairs.
//! Prints a Markdown table; `bench/RESULTS.md` keeps the latest one.
//!
//! Run: `cargo bench --no-default-features --bench bundle` (env: `MERIDIAN_SHARED` = the shared
//! folder, default `../shared`; `PAIRS`, default 200).

use meridian::graph::build::{import, BuildOptions};
use meridian::graph::GraphStore;
use meridian::route::Router;
use meridian::spatial::geohash;
use meridian::spatial::LatLon;
use meridian::tiles::bundle::{write_bundle, Area, Bundle, BundleOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Porto's Avenida dos Aliados.
const CENTRE: LatLon = LatLon::new(41.1496, -8.6109);

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Per-query microseconds of routing `pairs` on `router` (one warm-up pass first, so the
/// timings are not the first touch of each tile); returns sorted timings and failures.
fn time_routes(router: &Router, pairs: &[[LatLon; 2]]) -> (Vec<f64>, usize) {
    for p in pairs {
        let _ = router.route(p, false);
    }
    let mut us = Vec::with_capacity(pairs.len());
    let mut failed = 0;
    for p in pairs {
        let t = Instant::now();
        if router.route(p, false).is_err() {
            failed += 1;
        }
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    us.sort_by(f64::total_cmp);
    (us, failed)
}

fn main() {
    let shared = PathBuf::from(
        std::env::var("MERIDIAN_SHARED")
            .unwrap_or_else(|_| format!("{}/../shared", env!("CARGO_MANIFEST_DIR"))),
    );
    let pairs_n: usize = std::env::var("PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let pbf = shared.join("data/osm/medium/porto-2015-06.osm.pbf");
    let tmp = tempfile::tempdir().expect("temp dir");
    let graph = tmp.path().join("porto");
    let t = Instant::now();
    import(&BuildOptions::new(&pbf, &graph)).expect("import porto");
    eprintln!("imported porto in {:.2}s", t.elapsed().as_secs_f64());
    let full_store = Arc::new(GraphStore::open(&graph).unwrap());
    let graph_bytes: u64 = full_store.manifest().tiles.iter().map(|t| t.bytes).sum();
    let full = Router::new(full_store.clone());
    let mut all_junctions = Vec::new();
    for t in 0..full_store.tile_count() {
        let tile = full_store.tile(t).unwrap();
        all_junctions.extend((0..tile.node_count()).map(|n| tile.node_location(n)));
    }

    println!(
        "Porto graph: {} tiles, {:.1} MB\n",
        full_store.tile_count(),
        graph_bytes as f64 / 1e6
    );
    println!("| area | graph tiles (area + ring) | bundle size | export | open + verify | offline route p50 / p90 µs | full graph p50 / p90 µs | failed |");
    println!("|---|---|---|---|---|---|---|---|");
    for precision in [4, 5] {
        let cell = geohash::encode(CENTRE, precision).unwrap();
        let area = Area::Geohash(cell.clone());
        let out = tmp.path().join(format!("porto-{cell}.bundle"));
        let report = write_bundle(&BundleOptions {
            graph_dir: graph.clone(),
            area: area.clone(),
            tiles_dir: None,
            profiles: None,
            out: out.clone(),
        })
        .expect("bundle");
        // Median of 5 opens (each maps the file and hashes every member).
        let mut opens: Vec<f64> = (0..5)
            .map(|_| {
                let t = Instant::now();
                let b = Bundle::open(&out).expect("open bundle");
                let s = t.elapsed().as_secs_f64();
                drop(b);
                s
            })
            .collect();
        opens.sort_by(f64::total_cmp);
        let bundle = Bundle::open(&out).unwrap();
        let offline = Router::new(bundle.store());

        let inside: Vec<LatLon> = all_junctions
            .iter()
            .copied()
            .filter(|p| area.contains(*p))
            .collect();
        let mut rng = StdRng::seed_from_u64(42);
        let pairs: Vec<[LatLon; 2]> = (0..pairs_n)
            .map(|_| {
                [
                    inside[rng.random_range(0..inside.len())],
                    inside[rng.random_range(0..inside.len())],
                ]
            })
            .collect();
        let (off_us, off_failed) = time_routes(&offline, &pairs);
        let (full_us, full_failed) = time_routes(&full, &pairs);
        let m = &report.manifest;
        println!(
            "| geohash {cell} ({} junctions) | {} ({} + {}) of {} | {:.1} MB | {:.0} ms | {:.0} ms | {:.0} / {:.0} | {:.0} / {:.0} | {off_failed} / {full_failed} |",
            inside.len(),
            m.counts.graph_tiles,
            m.graph.area_tiles.len(),
            m.graph.ring_tiles.len(),
            full_store.tile_count(),
            report.bytes as f64 / 1e6,
            report.time.as_secs_f64() * 1e3,
            opens[opens.len() / 2] * 1e3,
            percentile(&off_us, 0.5),
            percentile(&off_us, 0.9),
            percentile(&full_us, 0.5),
            percentile(&full_us, 0.9),
        );
    }
}
