//! `/table` benchmark on Porto: the many-to-many search (one forward Dijkstra per source,
//! [`meridian::route::table`]) for N × N tables of the anchor query origins, next to answering
//! the same cells with one point-to-point route each (for the 100 × 100 table), and whether the
//! two agree cell by cell. Prints a Markdown report.
//!
//! Run: `cargo bench --no-default-features --bench table` (env: `MERIDIAN_SHARED` = the shared
//! folder, default `../shared`; `TABLE_SIZES` = comma-separated N, default `100,1000`;
//! `PASSES` = timed passes per size, default 3 for N ≤ 100 and 1 above).

use meridian::graph::build::{import, BuildOptions};
use meridian::graph::GraphStore;
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
    let router = Router::new(Arc::new(GraphStore::open(&graph).unwrap()));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "Porto, `/table` in-process, {threads} threads (rows spread over them), {}\n",
        std::env::var("HOSTNAME").unwrap_or_default()
    );
    println!("| N × N | cells | snap ms | table ms (median) | cells/s | µs per cell |");
    println!("|---|---|---|---|---|---|");
    let mut first_table = None;
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
        let mut times = Vec::new();
        let mut cells = Vec::new();
        for _ in 0..passes {
            let t = Instant::now();
            cells = router.table_at(&snaps, &snaps, None).expect("table");
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let ms = times[times.len() / 2];
        let count = (n * n) as f64;
        println!(
            "| {n} × {n} | {} | {snap_ms:.1} | {ms:.0} | {:.0} | {:.1} |",
            n * n,
            count / (ms / 1e3),
            ms * 1e3 / count
        );
        if first_table.is_none() {
            first_table = Some((n, cells));
        }
    }

    // The same cells as point-to-point routes (one thread, as the route API answers them).
    let Some((n, cells)) = first_table else {
        return;
    };
    let t = Instant::now();
    let (mut routed, mut same, mut worst) = (0usize, 0usize, 0f64);
    for i in 0..n {
        for j in 0..n {
            if i == j {
                continue;
            }
            let Ok(r) = router.route(&[points[i], points[j]], false) else {
                assert!(
                    cells[i][j].is_none(),
                    "{i}->{j}: table has a path, route none"
                );
                continue;
            };
            routed += 1;
            let c = cells[i][j].expect("route found, table cell empty");
            let diff = (c.duration_s - r.route.duration_s).abs();
            worst = worst.max(diff);
            same += usize::from(diff < 1e-6);
        }
    }
    let route_ms = t.elapsed().as_secs_f64() * 1e3;
    println!(
        "\n{n} × {n} as {routed} point-to-point routes on one thread: {route_ms:.0} ms; durations \
         identical (< 1 µs) in {same} of {routed} cells, largest difference {worst:.2e} s."
    );
}
