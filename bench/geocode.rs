//! Geocoding benchmark on Porto: the places index build (second pass over the PBF, then
//! tokenising and writing `places.rkyv`) with its size, then forward search and reverse latency
//! in-process on one thread: 1,000 named streets of the extract typed with one typo in half of
//! them (with and without a focus point), and reverse at 1,000 random road points. Prints a
//! Markdown table; `bench/RESULTS.md` keeps the latest one.
//!
//! Run: `cargo bench --bench geocode` (env: `MERIDIAN_SHARED` = the shared folder, default
//! `../shared`; `QUERIES`, default 1000).

use meridian::places::{build_index, Detail, PlacesIndex, Query};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::time::Instant;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(label: &str, mut us: Vec<f64>, found: usize) {
    us.sort_by(f64::total_cmp);
    let mean = us.iter().sum::<f64>() / us.len() as f64;
    println!(
        "| {label} | {} | {found} | {:.0} | {:.0} | {:.0} | {:.0} |",
        us.len(),
        percentile(&us, 0.5),
        percentile(&us, 0.9),
        percentile(&us, 0.99),
        mean
    );
}

fn main() {
    let shared = PathBuf::from(
        std::env::var("MERIDIAN_SHARED")
            .unwrap_or_else(|_| format!("{}/../shared", env!("CARGO_MANIFEST_DIR"))),
    );
    let n: usize = std::env::var("QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let pbf = shared.join("data/osm/medium/porto-2015-06.osm.pbf");
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut builds = Vec::new();
    let mut report = None;
    for _ in 0..3 {
        let t = Instant::now();
        let r = build_index(&pbf, tmp.path()).expect("build the places index");
        builds.push((
            t.elapsed().as_secs_f64(),
            r.read_time.as_secs_f64(),
            r.build_time.as_secs_f64(),
        ));
        report = Some(r);
    }
    let report = report.expect("three builds");
    builds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (total, read, index) = builds[1];
    let t = Instant::now();
    let places = PlacesIndex::open(&report.path).expect("open the index");
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let c = report.counts;
    println!(
        "Porto places index: {} addresses, {} streets ({} ways), {} places/POIs, {} tokens, {:.2} MB; build {:.2} s (PBF read {:.2} s, index {:.2} s; median of 3), open + validate {:.0} ms\n",
        c.addresses, c.streets, c.street_ways, c.places, report.tokens,
        report.bytes as f64 / 1e6, total, read, index, open_ms
    );

    let file = places.file();
    let streets: Vec<(String, (f64, f64))> = file
        .entries
        .iter()
        .filter(|e| e.kind() == meridian::places::Kind::Street)
        .map(|e| (e.name.to_string(), e.point()))
        .collect();
    let mut rng = StdRng::seed_from_u64(7);
    let queries: Vec<(String, (f64, f64))> = (0..n)
        .map(|_| {
            let (name, p) = &streets[rng.random_range(0..streets.len())];
            let mut chars: Vec<char> = name.chars().collect();
            if rng.random_bool(0.5) && chars.len() > 6 {
                let i = rng.random_range(1..chars.len() - 1);
                chars.remove(i);
            }
            (chars.into_iter().collect(), *p)
        })
        .collect();
    println!("| query | n | with a hit | p50 µs | p90 µs | p99 µs | mean µs |");
    println!("|---|---|---|---|---|---|---|");
    for focus in [false, true] {
        // Warm-up pass, then the timed one.
        for (q, p) in &queries {
            let _ = places.search(&Query {
                text: q,
                focus: focus.then_some(*p),
                limit: 10,
            });
        }
        let (mut us, mut found) = (Vec::with_capacity(n), 0);
        for (q, p) in &queries {
            let t = Instant::now();
            let hits = places.search(&Query {
                text: q,
                focus: focus.then_some(*p),
                limit: 10,
            });
            us.push(t.elapsed().as_secs_f64() * 1e6);
            found += usize::from(!hits.is_empty());
        }
        let label = if focus {
            "search, street name (half with a typo), focus point"
        } else {
            "search, street name (half with a typo)"
        };
        summary(label, us, found);
    }
    let b = [
        file.points.min_lat.to_native(),
        file.points.min_lon.to_native(),
    ];
    let points: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let s = &file.shapes[(i * 7919) % file.shapes.len()];
            let p = s.point(s.points.len() / 2);
            (
                p.0 + rng.random_range(-0.0005..0.0005),
                p.1 + rng.random_range(-0.0005..0.0005),
            )
        })
        .filter(|p| p.0 > b[0] && p.1 > b[1])
        .collect();
    for detail in [Detail::Address, Detail::Street] {
        let (mut us, mut found) = (Vec::with_capacity(n), 0);
        for p in &points {
            let t = Instant::now();
            let hit = places.reverse(*p, detail);
            us.push(t.elapsed().as_secs_f64() * 1e6);
            found += usize::from(hit.is_some());
        }
        let label = match detail {
            Detail::Address => "reverse, zoom 18 (address, else street)",
            _ => "reverse, zoom 17 (street)",
        };
        summary(label, us, found);
    }
}
