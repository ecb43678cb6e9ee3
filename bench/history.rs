//! Historical profiles benchmark on Porto: import the extract into a temp dir, push synthetic
//! observations through the observation log (hourly Parquet files), build time-of-week profiles
//! with polars, load them, and compare route latency with and without profiles on the first 200
//! anchor queries. Prints a Markdown report (`bench/RESULTS.md` keeps the latest one).
//!
//! Run: `cargo bench --bench history` (env: `MERIDIAN_SHARED` = the shared folder, default
//! `../shared`; `HISTORY_ROWS` = observations to generate, default 5,000,000; `PASSES` = timed
//! route passes, default 3).

use meridian::graph::build::{import, BuildOptions};
use meridian::graph::{GlobalId, GraphStore};
use meridian::route::Router;
use meridian::spatial::LatLon;
use meridian::traffic::history::{
    build_profiles, time_of_week_bin, BuildOptions as Opts, ObservationSource,
};
use meridian::traffic::observations::{self, ObservationLog, ObservationOptions};
use meridian::traffic::HistoricalProfiles;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Monday 2026-11-02 00:00 UTC: four weeks of observations start here.
const START_MS: i64 = 1_794_009_600_000;
const HOUR_MS: i64 = 3_600_000;
const WEEKS: i64 = 4;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Weekday rush hours at half speed, otherwise 90% of free flow; ±20% noise.
fn factor(ts_ms: i64, rng: &mut StdRng) -> f32 {
    let day = (ts_ms - START_MS).div_euclid(24 * HOUR_MS) % 7;
    let hour = (ts_ms.rem_euclid(24 * HOUR_MS)) / HOUR_MS;
    let rush = day < 5 && matches!(hour, 7 | 8 | 17 | 18);
    (if rush { 0.5 } else { 0.9 }) * rng.random_range(0.8..1.2)
}

/// p50 and p90 of `router.route_at` over `queries` (µs), median over `passes` passes.
fn latency(
    router: &Router,
    queries: &[[LatLon; 2]],
    depart_ms: i64,
    passes: usize,
) -> (f64, f64, f64) {
    let mut p50s = Vec::new();
    let mut p90s = Vec::new();
    let mut total_s = 0.0;
    for pass in 0..=passes {
        let mut times = Vec::with_capacity(queries.len());
        let mut dur = 0.0;
        for q in queries {
            let t = Instant::now();
            if let Ok(a) = router.route_at(q, false, Some(depart_ms)) {
                dur += a.route.duration_s;
            }
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
        if pass == 0 {
            continue; // warm-up
        }
        total_s = dur;
        times.sort_by(f64::total_cmp);
        p50s.push(percentile(&times, 0.5));
        p90s.push(percentile(&times, 0.9));
    }
    p50s.sort_by(f64::total_cmp);
    p90s.sort_by(f64::total_cmp);
    (p50s[p50s.len() / 2], p90s[p90s.len() / 2], total_s)
}

fn main() {
    let shared = PathBuf::from(
        std::env::var("MERIDIAN_SHARED")
            .unwrap_or_else(|_| format!("{}/../shared", env!("CARGO_MANIFEST_DIR"))),
    );
    let rows: usize = env_or("HISTORY_ROWS", 5_000_000);
    let passes: usize = env_or("PASSES", 3);
    let work = std::env::temp_dir().join(format!("meridian-history-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let graph = work.join("porto");
    let pbf = shared.join("data/osm/medium/porto-2015-06.osm.pbf");
    import(&BuildOptions::new(&pbf, &graph)).expect("import porto");
    let store = Arc::new(GraphStore::open(&graph).unwrap());
    println!("# Meridian historical profiles benchmark (Porto)");
    println!();
    println!(
        "{} cores; {rows} synthetic observations over {WEEKS} weeks; {passes} timed route passes after 1 warm-up",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );

    // A fifth of the directed edges carry traffic; 80% of it on 2,000 busy ones (arterials),
    // which then have observations in most bins, the rest only in a few.
    let mut rng = StdRng::seed_from_u64(1);
    let mut edges = Vec::new();
    for t in 0..store.tile_count() {
        let tile = store.tile(t).unwrap();
        for (l, e) in tile.edges.iter().enumerate() {
            if rng.random_bool(0.2) {
                edges.push((GlobalId::new(t, l as u32).pack(), e.speed_kmh()));
            }
        }
    }
    edges.shuffle(&mut rng);
    let busy = 2_000.min(edges.len());

    // Observations in time order, 100 per log entry, through the real writer thread.
    let obs_dir = work.join("observations");
    let log = ObservationLog::open(&obs_dir, store.clone(), ObservationOptions::default()).unwrap();
    let span = WEEKS * 7 * 24 * HOUR_MS;
    let t = Instant::now();
    let mut batch = Vec::with_capacity(100);
    let mut index = 0;
    for i in 0..rows {
        let ts = START_MS + (i as i64 * span) / rows as i64;
        let pick = if rng.random_bool(0.8) {
            rng.random_range(0..busy)
        } else {
            rng.random_range(0..edges.len())
        };
        let (edge, free) = edges[pick];
        batch.push((edge, ts, free * factor(ts, &mut rng)));
        if batch.len() == 100 {
            index += 1;
            log.record(index, std::mem::take(&mut batch));
        }
    }
    let queued_s = t.elapsed().as_secs_f64();
    drop(log); // writes the rest and joins the writer
    let write_s = t.elapsed().as_secs_f64();
    let files = observations::files(&obs_dir).unwrap();
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    println!();
    println!("## Observation log");
    println!();
    println!(
        "{rows} rows over {} edges (80% on {busy}) queued in {queued_s:.2} s (apply-side cost {:.0} ns/row), all written in {write_s:.2} s ({:.2} M rows/s): {} hourly files, {:.1} MB",
        edges.len(),
        queued_s * 1e9 / rows as f64,
        rows as f64 / write_s / 1e6,
        files.len(),
        bytes as f64 / 1e6
    );

    let t = Instant::now();
    let source = ObservationSource::new(obs_dir.display().to_string(), files.clone());
    let (profiles, report) = build_profiles(&[source], &store, &Opts::default()).unwrap();
    let build_s = t.elapsed().as_secs_f64();
    let path = work.join("porto.profiles");
    let size = profiles.write(&path).unwrap();
    let t = Instant::now();
    let loaded = HistoricalProfiles::load(&path, &store).unwrap();
    let load_s = t.elapsed().as_secs_f64();
    println!();
    println!("## Profile build (polars lazy: scan, bin, group_by median + count, filter >= 3)");
    println!();
    println!(
        "{} rows read in {build_s:.2} s ({:.2} M rows/s; query {:.2} s); {} edges, {} (edge, bin) pairs profiled; file {:.1} MB, loaded in {:.0} ms",
        report.rows_read,
        report.rows_read as f64 / build_s / 1e6,
        report.query_time.as_secs_f64(),
        loaded.edges,
        loaded.bins,
        size as f64 / 1e6,
        load_s * 1e3
    );

    let queries: Vec<[LatLon; 2]> =
        std::fs::read_to_string(shared.join("anchors/queries-porto-2015-06.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .take(200)
            .map(|l| {
                let f: Vec<f64> = l.split(',').map(|s| s.parse().unwrap_or(0.0)).collect();
                [LatLon::new(f[1], f[0]), LatLon::new(f[3], f[2])]
            })
            .collect();
    let plain = Router::new(store.clone());
    let with = Router::new(store.clone()).with_profiles(Arc::new(loaded));
    println!();
    println!(
        "## Route latency, {} anchor queries, 1 thread",
        queries.len()
    );
    println!();
    println!("| router | depart (UTC) | bin speedup | p50 µs | p90 µs | sum of durations s |");
    println!("|---|---|---|---|---|---|");
    for (label, depart) in [
        ("Mon 08:30 (rush)", START_MS + 8 * HOUR_MS + 30 * 60_000),
        ("Sun 03:00", START_MS + 6 * 24 * HOUR_MS + 3 * HOUR_MS),
    ] {
        let bin = time_of_week_bin(depart);
        let speedup = with.profiles.as_ref().unwrap().max_speedup(bin);
        for (name, router) in [("free flow", &plain), ("with profiles", &with)] {
            let (p50, p90, total) = latency(router, &queries, depart, passes);
            println!("| {name} | {label} | {speedup:.2} | {p50:.0} | {p90:.0} | {total:.0} |");
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}
