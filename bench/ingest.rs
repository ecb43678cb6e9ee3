//! Ingest load benchmark: a 3-node cluster (three `meridian serve` processes on loopback) and a
//! load generator of websocket vehicles driving real Porto routes with GPS noise. Prints acked
//! pings/s, ack latency, the nodes' CPU use, and the time from a ping's ack to a changed route.
//!
//! Run: `cargo bench --bench ingest` (env: `VEHICLES` connections, default 1000; `RATE` pings/s
//! per vehicle, default 20, i.e. simulated time runs faster than real time; `SECONDS`, default
//! 20; `FRAMES` = `binary` (default) or `json`; `SHARDS`, default 1: the map cut into that
//! many shards, one Raft group each, every process hosting a replica of each and each group
//! initialised from another node; `MERIDIAN_SHARED`, default `../shared`).

use futures_util::{SinkExt, StreamExt};
use meridian::graph::build::{import, BuildOptions};
use meridian::graph::GraphStore;
use meridian::route::Router;
use meridian::server::ingest::{device_token, encode_binary_pings, PingMessage};
use meridian::spatial::LatLon;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const INGEST_SECRET: &str = "bench-ingest-secret";
const CLUSTER_SECRET: &str = "bench-cluster-secret";

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

struct Nodes(Vec<Child>);
impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// user+system CPU seconds of a process.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let vehicles: usize = env_or("VEHICLES", 1000);
    let rate: usize = env_or("RATE", 20);
    let seconds: u64 = env_or("SECONDS", 20);
    // FRAMES=json sends JSON `pings` frames instead of binary ones.
    let binary = std::env::var("FRAMES").map_or(true, |f| f != "json");
    let shards: usize = env_or("SHARDS", 1);
    let shared = PathBuf::from(
        std::env::var("MERIDIAN_SHARED")
            .unwrap_or_else(|_| format!("{}/../shared", env!("CARGO_MANIFEST_DIR"))),
    );
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/out");
    let graph = out.join("porto-ingest");
    import(&BuildOptions::new(
        shared.join("data/osm/medium/porto-2015-06.osm.pbf"),
        &graph,
    ))
    .expect("import porto");
    let router = Router::new(Arc::new(GraphStore::open(&graph).unwrap()));

    // Real routes for the vehicles to drive.
    let mut rng = StdRng::seed_from_u64(1);
    let mut routes: Vec<Vec<LatLon>> = Vec::new();
    let m = router.store.manifest().bbox;
    while routes.len() < 50 {
        let p = |rng: &mut StdRng| {
            LatLon::new(
                rng.random_range(m.min_lat..m.max_lat),
                rng.random_range(m.min_lon..m.max_lon),
            )
        };
        let (a, b) = (p(&mut rng), p(&mut rng));
        if let Ok(r) = router.route(&[a, b], false) {
            if r.route.distance_m > 3000.0 {
                routes.push(r.route.geometry);
            }
        }
    }

    let road = quiet_road(&router, &routes);

    // Three node processes.
    let exe = env!("CARGO_BIN_EXE_meridian");
    let data = out.join(format!("ingest-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    let shard_args: Vec<String> = if shards > 1 {
        let tiles: Vec<(meridian::spatial::geohash::Cell, u64)> = router
            .store
            .manifest()
            .tiles
            .iter()
            .map(|t| (t.geohash.parse().unwrap(), u64::from(t.edges)))
            .collect();
        let map = meridian::cluster::shards::ShardMap::split(&tiles, shards).unwrap();
        let file = data.join("shards.json");
        map.write(&file).unwrap();
        vec!["--shards".into(), file.display().to_string()]
    } else {
        Vec::new()
    };
    let http: Vec<String> = (0..3).map(|i| format!("127.0.0.1:{}", 6301 + i)).collect();
    let ws: Vec<String> = (0..3).map(|i| format!("127.0.0.1:{}", 6401 + i)).collect();
    let mut nodes = Nodes(Vec::new());
    for i in 0..3 {
        nodes.0.push(
            Command::new(exe)
                .args(["serve", "--graph"])
                .arg(&graph)
                .args([
                    "--listen",
                    &http[i],
                    "--node-id",
                    &(i + 1).to_string(),
                    "--ingest-listen",
                    &ws[i],
                ])
                .arg("--data-dir")
                .arg(data.join(format!("node-{}", i + 1)))
                .args(&shard_args)
                .env("MERIDIAN_CLUSTER_SECRET", CLUSTER_SECRET)
                .env("MERIDIAN_INGEST_SECRET", INGEST_SECRET)
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start node"),
        );
    }
    let client = reqwest::Client::new();
    for h in &http {
        while client
            .get(format!("http://{h}/health"))
            .send()
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let members: serde_json::Map<String, Value> = http
        .iter()
        .enumerate()
        .map(|(i, h)| ((i + 1).to_string(), json!(h)))
        .collect();
    // Each group from another node, which usually becomes its leader: the leaders spread.
    for g in 0..shards {
        client
            .post(format!("http://{}/cluster/{g}/init", http[g % 3]))
            .header("x-meridian-cluster-secret", CLUSTER_SECRET)
            .json(&json!({"members": members}))
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The load: each vehicle on its own connection, to the nodes in turn.
    let acked = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let stop_at = Instant::now() + Duration::from_secs(seconds);
    let cpu_before: Vec<f64> = nodes.0.iter().map(|c| cpu_seconds(c.id())).collect();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for v in 0..vehicles {
        let addr = ws[v % 3].clone();
        let route = routes[v % routes.len()].clone();
        let (acked, latencies) = (acked.clone(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            // Small buffers, as a phone would have: tungstenite's default 128 KiB read buffer is
            // zeroed as it grows, which made memset the load generator's top cost.
            let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                .read_buffer_size(4096)
                .write_buffer_size(0);
            let Ok((mut sock, _)) = tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/"), Some(config), false).await else { return };
            let device = v as u64 + 1;
            let auth = json!({"type": "auth", "device": device, "token": device_token(INGEST_SECRET.as_bytes(), device)});
            sock.send(Message::Text(auth.to_string().into())).await.unwrap();
            let _ready = sock.next().await;
            let (mut tx, mut rx) = sock.split();
            let sent: Arc<Mutex<std::collections::HashMap<u64, Instant>>> = Default::default();
            let reader = {
                let sent = sent.clone();
                tokio::spawn(async move {
                    while let Some(Ok(Message::Text(t))) = rx.next().await {
                        let m: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                        if let Some(seq) = m["acked"].as_u64() {
                            if let Some(t0) = sent.lock().unwrap().remove(&seq) {
                                acked.fetch_add(1, Ordering::Relaxed);
                                latencies.lock().unwrap().push(t0.elapsed().as_secs_f64() * 1e3);
                            }
                        }
                    }
                })
            };
            let mut rng = StdRng::seed_from_u64(device);
            let mut seq = 0u64;
            let mut i = rng.random_range(0..route.len());
            // Frames of pings every 100 ms; simulated driving: one route point per ping.
            let per_frame = (rate / 10).max(1);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while Instant::now() < stop_at {
                tick.tick().await;
                let mut pings = Vec::with_capacity(per_frame);
                let ts = now_ms();
                for _ in 0..per_frame {
                    seq += 1;
                    i = (i + 1) % route.len();
                    let LatLon { lat, lon } = route[i];
                    pings.push(PingMessage { seq, ts, lat: lat + rng.random_range(-4e-5..4e-5),
                        lon: lon + rng.random_range(-4e-5..4e-5), speed: None, heading: None, accuracy: Some(5.0) });
                    sent.lock().unwrap().insert(seq, Instant::now());
                }
                let frame = if binary {
                    Message::Binary(encode_binary_pings(&pings).into())
                } else {
                    let list: Vec<Value> = pings.iter().map(|p| json!({"seq": p.seq, "ts": p.ts, "lat": p.lat, "lon": p.lon, "accuracy": p.accuracy})).collect();
                    Message::Text(json!({"type": "pings", "pings": list}).to_string().into())
                };
                if tx.send(frame).await.is_err() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_secs(3)).await; // late acks
            reader.abort();
        }));
    }
    // Ping to route, measured while the load runs: a phone crawls along a road no vehicle drives.
    let probe_result = tokio::spawn(probe(
        road,
        ws[0].clone(),
        http[1].clone(),
        Duration::from_secs(seconds / 2),
    ));
    for t in tasks {
        let _ = t.await;
    }
    let wall = started.elapsed().as_secs_f64() - 3.0;
    let cpu: Vec<f64> = nodes
        .0
        .iter()
        .zip(&cpu_before)
        .map(|(c, b)| cpu_seconds(c.id()) - b)
        .collect();
    let total = acked.load(Ordering::Relaxed);
    let mut lat = latencies.lock().unwrap().clone();
    println!(
        "# Meridian ingest benchmark (Porto, 3 node processes on one 2-core box, {shards} shard{})",
        if shards == 1 { "" } else { "s" }
    );
    println!();
    println!(
        "{vehicles} websocket vehicles, {rate} pings/s each offered ({} pings/s), {seconds} s, {} frames",
        vehicles * rate,
        if binary { "binary" } else { "JSON" }
    );
    println!();
    println!("| acked pings/s | ack latency p50 ms | p90 ms | p99 ms | node CPU s (1, 2, 3) over the run |");
    println!("|---|---|---|---|---|");
    println!(
        "| {:.0} | {:.1} | {:.1} | {:.1} | {:.1}, {:.1}, {:.1} |",
        total as f64 / wall,
        percentile(&mut lat, 0.5),
        percentile(&mut lat, 0.9),
        percentile(&mut lat, 0.99),
        cpu[0],
        cpu[1],
        cpu[2]
    );
    // Raft commit latency as the leader measured it (client_write: append, fsync, replicate,
    // commit, apply), apart from the batching and websocket time in the ack latency.
    for h in &http {
        let Ok(response) = client.get(format!("http://{h}/cluster")).send().await else {
            continue;
        };
        let Ok(status) = response.json::<Value>().await else {
            continue;
        };
        let c = &status["commit_latency"];
        if status["state"] == "Leader" {
            println!();
            println!(
                "Raft commit latency on the leader ({} entries, last 4,096): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms",
                c["samples"], c["p50_ms"].as_f64().unwrap_or(f64::NAN),
                c["p90_ms"].as_f64().unwrap_or(f64::NAN), c["p99_ms"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }

    println!();
    match probe_result.await.expect("probe task") {
        Some(p) => println!(
            "ping-to-route (under load, {:.0} s in, a route {:.0} m from any vehicle's): the route's ETA rose {:.1} s -> {:.1} s, {:.0} ms after the last crawl ping's ack (publisher period 1 s); the acks took {:.0} ms",
            p.started_s, p.clearance_m, p.before_s, p.after_s, p.changed_ms, p.ack_ms
        ),
        None => println!("ping-to-route: the route's ETA did not rise within 5 s of the ack"),
    }
    drop(nodes);
    let _ = std::fs::remove_dir_all(&data);
}

struct Probe {
    started_s: f64,
    clearance_m: f64,
    before_s: f64,
    after_s: f64,
    ack_ms: f64,
    changed_ms: f64,
}

/// A road for the probe: the middle of a route that passes no closer than 150 m to any
/// vehicle's route, so the probe's pings alone change its ETA. Returns the route's ends, the
/// crawl points, and the clearance.
type QuietRoad = ((LatLon, LatLon), Vec<LatLon>, f64);

fn quiet_road(router: &Router, fleet: &[Vec<LatLon>]) -> QuietRoad {
    let m = router.store.manifest().bbox;
    let mut rng = StdRng::seed_from_u64(99);
    loop {
        let p = |rng: &mut StdRng| {
            LatLon::new(
                rng.random_range(m.min_lat..m.max_lat),
                rng.random_range(m.min_lon..m.max_lon),
            )
        };
        let (a, b) = (p(&mut rng), p(&mut rng));
        let Ok(r) = router.route(&[a, b], false) else {
            continue;
        };
        let g = &r.route.geometry;
        if r.route.distance_m < 1000.0 || g.len() < 40 {
            continue;
        }
        let mid = g.len() / 2;
        let crawl: Vec<LatLon> = g[mid - 15..mid + 15].to_vec();
        // The whole route stays clear of the fleet, so only the crawl moves its ETA.
        let clearance = g
            .iter()
            .flat_map(|c| fleet.iter().flatten().map(move |f| c.haversine_m(*f)))
            .fold(f64::INFINITY, f64::min);
        if clearance > 150.0 {
            return ((a, b), crawl, clearance);
        }
    }
}

/// After `delay`, a phone crawls (5 km/h) along the quiet road. Returns the time from the last
/// crawl ping's ack until another node's ETA for the route rises by more than 5 s.
async fn probe(road: QuietRoad, ws: String, http: String, delay: Duration) -> Option<Probe> {
    let (route, crawl, clearance_m) = road;
    tokio::time::sleep(delay).await;
    let client = reqwest::Client::new();
    let url = format!(
        "http://{http}/route/v1/driving/{},{};{},{}?overview=false",
        route.0.lon, route.0.lat, route.1.lon, route.1.lat
    );
    let duration = |v: Value| v["routes"][0]["duration"].as_f64();
    let before_s = duration(client.get(&url).send().await.ok()?.json().await.ok()?)?;
    let (mut sock, _) = tokio_tungstenite::connect_async(format!("ws://{ws}/"))
        .await
        .ok()?;
    let device = 999_999u64;
    let auth = json!({"type": "auth", "device": device, "token": device_token(INGEST_SECRET.as_bytes(), device)});
    sock.send(Message::Text(auth.to_string().into()))
        .await
        .ok()?;
    let _ready = sock.next().await;
    // The crawl as a phone uploads it after a jam: a fix every 10 s, the last one just now.
    let t0 = now_ms() - crawl.len() as i64 * 10_000;
    let pings: Vec<Value> = crawl
        .iter()
        .enumerate()
        .map(|(k, p)| json!({"seq": k + 1, "ts": t0 + (k as i64 + 1) * 10_000, "lat": p.lat, "lon": p.lon, "speed": 1.4}))
        .collect();
    let sent_at = Instant::now();
    sock.send(Message::Text(
        json!({"type": "pings", "pings": pings}).to_string().into(),
    ))
    .await
    .ok()?;
    let mut acks = 0;
    while acks < crawl.len() {
        if let Message::Text(t) = sock.next().await?.ok()? {
            if t.as_str().contains("\"ack\"") {
                acks += 1;
            }
        }
    }
    let acked_at = Instant::now();
    while acked_at.elapsed() < Duration::from_secs(5) {
        let after_s = duration(client.get(&url).send().await.ok()?.json().await.ok()?)?;
        // The crawl adds tens of seconds; smaller moves are the fleet's traffic elsewhere on
        // the route.
        if after_s > before_s + 5.0 {
            return Some(Probe {
                started_s: delay.as_secs_f64(),
                clearance_m,
                before_s,
                after_s,
                ack_ms: (acked_at - sent_at).as_secs_f64() * 1e3,
                changed_ms: acked_at.elapsed().as_secs_f64() * 1e3,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last_s = duration(client.get(&url).send().await.ok()?.json().await.ok()?)?;
    eprintln!(
        "ping-to-route: ETA {before_s:.1} s before the crawl, {last_s:.1} s 5 s after its ack"
    );
    None
}
