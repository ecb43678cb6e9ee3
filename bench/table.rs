//! `/table` benchmark on Porto: N × N tables of the anchor queries' ends with the overlay's
//! bucket many-to-many search (what `/table` answers with), next to the flat search (one forward
//! Dijkstra per source, [`meridian::route::table`]) and whether the two agree cell by cell.
//! Prints a Markdown report; `bench/table_osrm.py` times OSRM's table on the same points.
//!
//! Run: `cargo bench --no-default-features --bench table` (env: `MERIDIAN_SHARED` = the shared
//! folder, default `../shared`; `TABLE_SIZES` = comma-separated N, default `100,1000`;
//! `PASSES` = timed passes per size, default 3 for N ≤ 100 and 1 above; `FLAT_UP_TO` = the
//! largest N also run with the flat search, default 100).

use meridian::graph::build::{import, BuildOptions};
use meridian::graph::GraphStore;
use meridian::route::overlay::OverlayConfig;
use meridian::route::table::Cell;
use meridian::route::{Router, SnapRules};
use meridian::spatial::LatLon;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let shared = PathBuf::from(
        std::env::var("MERIDIAN_SHARED")
            .unwrap_or_else(|_| format!("{}/../shared", env!("CARGO_MANIFEST_DIR"))),
    );
    let sizes: Vec<usize> = std::env::var("TABLE_SIZES")
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let pbf = shared.join("data/osm/medium/porto-2015-06.osm.pbf");
    let csv = std::fs::read_to_string(shared.join("anchors/queries-porto-2015-06.csv"))
        .expect("anchor queries");
    // Both ends of every anchor query: 2,000 points spread over the city.
    let mut points: Vec<LatLon> = Vec::new();
    for line in csv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        points.push(LatLon::new(f[1], f[0]));
        points.push(LatLon::new(f[3], f[2]));
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let graph = tmp.path().join("porto");
    import(&BuildOptions::new(&pbf, &graph)).expect("import porto");
    let router = Router::new(Arc::new(GraphStore::open(&graph).unwrap()))
        .with_overlay(OverlayConfig::default())
        .expect("overlay");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "Porto, `/table` in-process, {threads} threads, {}\n",
        std::env::var("HOSTNAME").unwrap_or_default()
    );
    println!("| search | N × N | cells | snap ms | table ms (median) | µs per cell | durations equal to the flat search |");
    println!("|---|---|---|---|---|---|---|");
    for &n in &sizes {
        assert!(n <= points.len(), "at most {} points", points.len());
        let t = Instant::now();
        let snaps = router
            .snap_within(&points[..n], &SnapRules::default())
            .expect("snap");
        let snap_ms = t.elapsed().as_secs_f64() * 1e3;
        let passes: usize = std::env::var("PASSES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if n <= 100 { 3 } else { 1 });
        let timed = |f: &dyn Fn() -> Vec<Vec<Option<Cell>>>| {
            let mut times = Vec::new();
            let mut cells = Vec::new();
            for _ in 0..passes {
                let t = Instant::now();
                cells = f();
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            (times[times.len() / 2], cells)
        };
        let (overlay_ms, overlay) =
            timed(&|| router.table_at(&snaps, &snaps, None).expect("table"));
        // The flat search takes a minute at 1000 × 1000: only where asked.
        let flat_up_to: usize = std::env::var("FLAT_UP_TO")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100);
        let count = (n * n) as f64;
        let flat =
            (n <= flat_up_to).then(|| timed(&|| router.table_flat(&snaps, &snaps).expect("table")));
        let equal = flat.as_ref().map_or("not run".to_string(), |(_, cells)| {
            let same = overlay
                .iter()
                .flatten()
                .zip(cells.iter().flatten())
                .filter(|(a, b)| match (a, b) {
                    (None, None) => true,
                    (Some(a), Some(b)) => {
                        (a.duration_s - b.duration_s).abs() <= 1e-6 * b.duration_s.max(1.0)
                    }
                    _ => false,
                })
                .count();
            format!("{same} of {}", n * n)
        });
        println!(
            "| overlay buckets | {n} × {n} | {} | {snap_ms:.1} | {overlay_ms:.1} | {:.2} | {equal} |",
            n * n,
            overlay_ms * 1e3 / count
        );
        if let Some((flat_ms, _)) = flat {
            println!(
                "| flat Dijkstra per source | {n} × {n} | {} | {snap_ms:.1} | {flat_ms:.1} | {:.2} | — |",
                n * n,
                flat_ms * 1e3 / count
            );
        }
    }
}
