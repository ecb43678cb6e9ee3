//! Map-matching throughput: GPS pings with noise along real Porto routes, matched one by one as
//! the ingest path does (nearest edge, heading, continuity with the device's last fix). Prints
//! pings matched per second on one thread and the share of pings matched to some edge.
//!
//! Run: `cargo bench --bench matching` (env: `PINGS`, default 200000; `MERIDIAN_SHARED`).

use meridian::graph::build::{import, BuildOptions};
use meridian::graph::GraphStore;
use meridian::route::Router;
use meridian::spatial::LatLon;
use meridian::traffic::{Matcher, Ping};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let pings: usize = std::env::var("PINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let shared = PathBuf::from(
        std::env::var("MERIDIAN_SHARED")
            .unwrap_or_else(|_| format!("{}/../shared", env!("CARGO_MANIFEST_DIR"))),
    );
    let graph = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/out/porto-matching");
    // Imported every run (about a second), so the graph always matches this build's importer.
    import(&BuildOptions::new(
        shared.join("data/osm/medium/porto-2015-06.osm.pbf"),
        &graph,
    ))
    .expect("import porto");
    let router = Router::new(Arc::new(GraphStore::open(&graph).unwrap()));
    let store = &router.store;

    // Vehicles driving real routes: a fix every ~10 m of route geometry, 4 m of noise.
    let mut rng = StdRng::seed_from_u64(7);
    let m = store.manifest().bbox;
    let mut trips: Vec<Vec<LatLon>> = Vec::new();
    while trips.len() < 100 {
        let p = |rng: &mut StdRng| {
            LatLon::new(
                rng.random_range(m.min_lat..m.max_lat),
                rng.random_range(m.min_lon..m.max_lon),
            )
        };
        if let Ok(r) = router.route(&[p(&mut rng), p(&mut rng)], false) {
            if r.route.distance_m > 2000.0 {
                trips.push(r.route.geometry);
            }
        }
    }
    let mut input = Vec::with_capacity(pings);
    let mut cursor = vec![0usize; trips.len()];
    let t0 = 1_800_000_000_000i64;
    for i in 0..pings {
        let v = i % trips.len();
        let trip = &trips[v];
        cursor[v] = (cursor[v] + 1) % trip.len();
        let LatLon { lat, lon } = trip[cursor[v]];
        input.push(Ping {
            device: v as u64,
            seq: i as u64 + 1,
            ts_ms: t0 + (i / trips.len()) as i64 * 1000,
            lat: lat + rng.random_range(-4e-5..4e-5),
            lon: lon + rng.random_range(-4e-5..4e-5),
            speed_ms: None,
            heading_deg: None,
            accuracy_m: Some(5.0),
        });
    }

    let matcher = Matcher::new();
    let started = Instant::now();
    let mut matched = 0usize;
    for p in &input {
        if matcher.match_ping(store, p).unwrap().is_some() {
            matched += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("# Map matching (Porto, one thread)");
    println!();
    println!(
        "{pings} pings: {:.0} pings/s, {:.2} µs/ping, {:.1}% matched to an edge",
        pings as f64 / secs,
        secs * 1e6 / pings as f64,
        100.0 * matched as f64 / pings as f64
    );
}
