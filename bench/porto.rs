//! Porto benchmark: import the Porto extract, answer the 1000 anchor queries in-process on one
//! thread and over HTTP (one keep-alive connection, sequential), and compare the answers with
//! OSRM's. Prints a Markdown report; `bench/RESULTS.md` keeps the latest one.
//!
//! Run: `cargo bench --bench porto` (env: `MERIDIAN_SHARED` = the shared folder, default
//! `../shared`; `MERIDIAN_PRECISIONS` = comma-separated geohash precisions to compare, default 5;
//! `MERIDIAN_LANDMARKS` = comma-separated landmark counts, default 16;
//! `PASSES` = timed passes, default 3).

use meridian::graph::build::landmarks::DEFAULT_LANDMARKS;
use meridian::graph::build::{import, BuildOptions};
use meridian::graph::GraphStore;
use meridian::route::{RouteError, Router};
use meridian::server::{serve_on, Limits};
use meridian::spatial::LatLon;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

struct Query {
    points: [LatLon; 2],
}

struct Reference {
    ok: bool,
    duration_s: f64,
    distance_m: f64,
}

fn read_csv(path: &PathBuf) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(|s| s.to_string()).collect())
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    mean: f64,
    qps: f64,
}

fn summarize(mut us: Vec<f64>, wall_s: f64) -> Latency {
    us.sort_by(f64::total_cmp);
    Latency {
        p50: percentile(&us, 0.5),
        p90: percentile(&us, 0.9),
        p99: percentile(&us, 0.99),
        mean: us.iter().sum::<f64>() / us.len() as f64,
        qps: us.len() as f64 / wall_s,
    }
}

fn median_of(passes: &[Latency], f: impl Fn(&Latency) -> f64) -> f64 {
    let mut v: Vec<f64> = passes.iter().map(f).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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
    let precisions: Vec<usize> = std::env::var("MERIDIAN_PRECISIONS")
        .unwrap_or_else(|_| "5".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let landmark_counts: Vec<usize> = std::env::var("MERIDIAN_LANDMARKS")
        .unwrap_or_else(|_| DEFAULT_LANDMARKS.to_string())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let configs: Vec<(usize, usize)> = precisions
        .iter()
        .flat_map(|&p| landmark_counts.iter().map(move |&l| (p, l)))
        .collect();
    let pbf = shared.join("data/osm/medium/porto-2015-06.osm.pbf");
    let queries: Vec<Query> = read_csv(&shared.join("anchors/queries-porto-2015-06.csv"))
        .iter()
        .map(|r| {
            let f = |i: usize| r[i].parse::<f64>().unwrap();
            Query {
                points: [LatLon::new(f(1), f(0)), LatLon::new(f(3), f(2))],
            }
        })
        .collect();
    let reference: Vec<Reference> =
        read_csv(&shared.join("anchors/results-osrm-ch-porto-2015-06.csv"))
            .iter()
            .map(|r| Reference {
                ok: r[5] == "Ok",
                duration_s: r[6].parse().unwrap_or(f64::NAN),
                distance_m: r[7].parse().unwrap_or(f64::NAN),
            })
            .collect();
    let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!("# Meridian Porto benchmark");
    println!();
    println!(
        "machine: {} cores, {cpu}; {} queries; {passes} timed passes after 1 warm-up",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        queries.len()
    );

    for (precision, landmarks) in configs {
        let graph = out_dir.join(format!("porto-p{precision}-l{landmarks}"));
        let t = Instant::now();
        let report = import(&BuildOptions {
            precision,
            landmarks,
            ..BuildOptions::new(&pbf, &graph)
        })
        .expect("import porto");
        let import_s = t.elapsed().as_secs_f64();
        let rss_after_import = peak_rss_mb();
        let m = &report.manifest;
        let bytes: u64 = m.tiles.iter().map(|t| t.bytes).sum();
        println!();
        println!("## geohash precision {precision}, {landmarks} landmarks");
        println!();
        println!(
            "import: {import_s:.2} s wall (read {:.2} s, topology {:.2} s, tiles {:.2} s); peak RSS so far {rss_after_import:.0} MB; {} tiles, {:.1} MB; {} junctions, {} directed edges, {} forbidden turns, {} junctions dropped outside the largest SCC",
            report.read_time.as_secs_f64(), report.topology_time.as_secs_f64(), report.tiling_time.as_secs_f64(),
            m.tiles.len(), bytes as f64 / 1e6, m.counts.junctions, m.counts.directed_edges, m.counts.turn_restrictions,
            m.counts.nodes_dropped_outside_largest_scc
        );

        let store = Arc::new(GraphStore::open(&graph).unwrap());
        let router = Arc::new(Router::new(store));
        let mut answers: Vec<Option<(f64, f64)>> = Vec::new();
        let mut pass_stats = Vec::new();
        let mut tiles_touched = Vec::new();
        let mut failures = Vec::new();
        for pass in 0..=passes {
            let mut us = Vec::with_capacity(queries.len());
            let wall = Instant::now();
            for (i, q) in queries.iter().enumerate() {
                let t = Instant::now();
                let r = router.route(&q.points, false);
                us.push(t.elapsed().as_secs_f64() * 1e6);
                if pass == 0 {
                    match r {
                        Ok(a) => {
                            tiles_touched.push(a.tiles_touched as f64);
                            answers.push(Some((a.route.duration_s, a.route.distance_m)));
                        }
                        Err(e) => {
                            failures.push((
                                i,
                                match e {
                                    RouteError::NoSegment(_) => "NoSegment",
                                    RouteError::NoRoute => "NoRoute",
                                    RouteError::NoOverlay => "NoOverlay",
                                    RouteError::Store(_) => "Store",
                                },
                            ));
                            answers.push(None);
                        }
                    }
                }
            }
            if pass > 0 {
                pass_stats.push(summarize(us, wall.elapsed().as_secs_f64()));
            }
        }
        let rss_after_queries = peak_rss_mb();
        tiles_touched.sort_by(f64::total_cmp);
        println!();
        println!("| in-process, 1 thread | ok/N | p50 µs | p90 µs | p99 µs | mean µs | q/s |");
        println!("|---|---|---|---|---|---|---|");
        println!(
            "| meridian (p{precision}, L{landmarks}) | {}/{} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
            answers.iter().filter(|a| a.is_some()).count(),
            queries.len(),
            median_of(&pass_stats, |l| l.p50),
            median_of(&pass_stats, |l| l.p90),
            median_of(&pass_stats, |l| l.p99),
            median_of(&pass_stats, |l| l.mean),
            median_of(&pass_stats, |l| l.qps)
        );
        println!();
        println!(
            "tiles touched per query: p50 {:.0}, p99 {:.0}; peak RSS after queries {rss_after_queries:.0} MB; failures: {:?}",
            percentile(&tiles_touched, 0.5), percentile(&tiles_touched, 0.99), &failures[..failures.len().min(10)]
        );

        // Agreement with OSRM CH.
        let mut both = 0;
        let (mut d1, mut d5, mut t1, mut t5, mut we_fail) = (0, 0, 0, 0, 0);
        let mut ratios = Vec::new();
        let mut csv = String::from("qid,status,duration_s,distance_m\n");
        for (i, (ours, theirs)) in answers.iter().zip(&reference).enumerate() {
            match ours {
                Some((dur, dist)) => csv.push_str(&format!("{i},Ok,{dur:.1},{dist:.1}\n")),
                None => csv.push_str(&format!("{i},NoRoute,,\n")),
            }
            match (ours, theirs.ok) {
                (Some((dur, dist)), true) => {
                    both += 1;
                    let dr = (dist / theirs.distance_m - 1.0).abs();
                    let tr = (dur / theirs.duration_s - 1.0).abs();
                    d1 += usize::from(dr <= 0.01);
                    d5 += usize::from(dr <= 0.05);
                    t1 += usize::from(tr <= 0.01);
                    t5 += usize::from(tr <= 0.05);
                    ratios.push(dur / theirs.duration_s);
                }
                (None, true) => we_fail += 1,
                _ => {}
            }
        }
        std::fs::write(
            out_dir.join(format!(
                "results-meridian-p{precision}-l{landmarks}-porto-2015-06.csv"
            )),
            csv,
        )
        .unwrap();
        ratios.sort_by(f64::total_cmp);
        let pct = |n: usize| 100.0 * n as f64 / both.max(1) as f64;
        println!();
        println!("| vs OSRM CH | both ok | we fail, OSRM routes | median duration ratio | duration within 1% / 5% | distance within 1% / 5% |");
        println!("|---|---|---|---|---|---|");
        println!(
            "| meridian (p{precision}, L{landmarks}) | {both} | {we_fail} | {:.3} | {:.1}% / {:.1}% | {:.1}% / {:.1}% |",
            percentile(&ratios, 0.5), pct(t1), pct(t5), pct(d1), pct(d5)
        );

        // Over HTTP: in-process server, one keep-alive connection, sequential requests.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let http_stats = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(serve_on(router.clone(), listener, Limits::default(), None));
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut stats = Vec::new();
            for pass in 0..=passes {
                let mut us = Vec::with_capacity(queries.len());
                let wall = Instant::now();
                for q in &queries {
                    let url = format!(
                        "http://{addr}/route/v1/driving/{},{};{},{}?overview=false&steps=false",
                        q.points[0].lon, q.points[0].lat, q.points[1].lon, q.points[1].lat
                    );
                    let t = Instant::now();
                    let body = client
                        .get(&url)
                        .send()
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap();
                    us.push(t.elapsed().as_secs_f64() * 1e6);
                    assert!(body.starts_with(b"{"));
                }
                if pass > 0 {
                    stats.push(summarize(us, wall.elapsed().as_secs_f64()));
                }
            }
            stats
        });
        println!();
        println!("| HTTP, sequential, keep-alive | p50 µs | p90 µs | p99 µs | mean µs | q/s |");
        println!("|---|---|---|---|---|---|");
        println!(
            "| meridian (p{precision}, L{landmarks}) | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
            median_of(&http_stats, |l| l.p50),
            median_of(&http_stats, |l| l.p90),
            median_of(&http_stats, |l| l.p99),
            median_of(&http_stats, |l| l.mean),
            median_of(&http_stats, |l| l.qps)
        );
    }
}
