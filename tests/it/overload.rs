//! Heavy route requests must not stop the Raft group. Three `meridian serve` processes; phones
//! stream pings to the leader while a flood of the heaviest legal route requests (100
//! coordinates, steps, full geometry) hits the same leader, more at once than its compute pool
//! admits. The searches run on the pool, off the runtime that carries the heartbeats and acks:
//! the leader keeps its term and leadership, every ping is acked and applied once everywhere,
//! and requests past the pool's capacity get `503` with `Retry-After` rather than a queue that
//! grows without bound. Ack latency under the flood is printed (a figure, not a timed assertion).

use crate::common::{junctions, router, scratch_dir};
use crate::processes::{drive, open, start_cluster, status, wait_until, GRAPH};
use futures_util::{SinkExt, StreamExt};
use meridian::spatial::LatLon;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const DEVICES: u64 = 4;
const PINGS_PER_DEVICE: u64 = 100;
const SEND_EVERY: Duration = Duration::from_millis(60);
/// More concurrent heavy requests than the leader's pool admits (`--compute-queue`).
const FLOODERS: usize = 6;
const COMPUTE_QUEUE: usize = 3;

/// A route through 100 junctions spread over the whole map, with steps and full geometry: the
/// most work one legal request can ask for under the default `--max-coordinates` (on the plain
/// A*, the slower search, since the overlay is now the default).
fn heavy_route_path() -> String {
    let points = junctions(&router(GRAPH));
    let stride = (points.len() / 100).max(1);
    let coords: Vec<String> = (0..100)
        .map(|i| {
            let LatLon { lat, lon } = points[(i * stride * 37) % points.len()];
            format!("{lon:.6},{lat:.6}")
        })
        .collect();
    format!(
        "/route/v1/driving/{}?steps=true&overview=full&geometries=geojson&algorithm=astar",
        coords.join(";")
    )
}

/// Streams a phone's pings to one node and returns each ping's send-to-ack latency.
async fn phone(device: u64, node: std::net::SocketAddr) -> Vec<Duration> {
    let pings = drive(device, PINGS_PER_DEVICE);
    let mut ws = open(node, device).await.expect("phone connects");
    let mut sent_at = vec![None; PINGS_PER_DEVICE as usize + 1];
    let mut latencies = Vec::new();
    let mut next = 1u64;
    let mut tick = tokio::time::interval(SEND_EVERY);
    let deadline = Instant::now() + Duration::from_secs(120);
    while (latencies.len() as u64) < PINGS_PER_DEVICE {
        assert!(Instant::now() < deadline, "device {device}: acks missing");
        tokio::select! {
            _ = tick.tick(), if next <= PINGS_PER_DEVICE => {
                let mut frame = pings[next as usize - 1].clone();
                frame["type"] = json!("ping");
                ws.send(Message::Text(frame.to_string().into())).await.expect("send");
                sent_at[next as usize] = Some(Instant::now());
                next += 1;
            }
            m = tokio::time::timeout(Duration::from_secs(30), ws.next()) => {
                let Ok(Some(Ok(Message::Text(text)))) = m else {
                    panic!("device {device}: connection lost or silent: {m:?}");
                };
                let m: Value = serde_json::from_str(text.as_str()).unwrap();
                assert_eq!(m["type"], "ack", "device {device}: {m}");
                let seq = m["acked"].as_u64().unwrap() as usize;
                latencies.push(sent_at[seq].expect("acked a sent ping").elapsed());
            }
        }
    }
    let _ = ws.close(None).await;
    latencies
}

#[derive(Default, Debug)]
struct FloodLog {
    ok: usize,
    busy: usize,
}

/// Sends heavy route requests back to back until told to stop; only 200 and 503 (with
/// `Retry-After` and OSRM's error shape) are acceptable answers.
async fn flooder(url: String, stop: Arc<AtomicBool>) -> FloodLog {
    let client = reqwest::Client::new();
    let mut log = FloodLog::default();
    while !stop.load(Ordering::SeqCst) {
        let resp = client
            .get(&url)
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .expect("heavy route answered");
        match resp.status().as_u16() {
            200 => {
                let body: Value = resp.json().await.unwrap();
                assert_eq!(body["code"], "Ok");
                log.ok += 1;
            }
            503 => {
                assert_eq!(
                    resp.headers().get("retry-after").map(|v| v.as_bytes()),
                    Some(&b"1"[..])
                );
                let body: Value = resp.json().await.unwrap();
                assert_eq!(body["code"], "Busy", "{body}");
                log.busy += 1;
                // A well-behaved client backs off; a short pause keeps the test's own CPU low.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            s => panic!("heavy route answered {s}: {}", resp.text().await.unwrap()),
        }
    }
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_heavy_routes_does_not_cost_the_leader_its_term() {
    let root = scratch_dir("overload");
    let (nodes, leader) = start_cluster(&root, |_| {
        vec!["--compute-queue".into(), COMPUTE_QUEUE.to_string()]
    })
    .await;
    let client = reqwest::Client::new();
    let leader_http = nodes[leader].http;
    let before = status(&client, leader_http).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("http://{leader_http}{}", heavy_route_path());
    let flood: Vec<_> = (0..FLOODERS)
        .map(|_| tokio::spawn(flooder(url.clone(), stop.clone())))
        .collect();
    // Let the flood fill the pool before the phones start.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let phones: Vec<_> = (1..=DEVICES)
        .map(|d| tokio::spawn(phone(d, nodes[leader].ingest)))
        .collect();
    let mut latencies = Vec::new();
    for p in phones {
        latencies.extend(p.await.expect("phone task"));
    }
    stop.store(true, Ordering::SeqCst);
    let mut ok = 0;
    let mut busy = 0;
    for f in flood {
        let log = f.await.expect("flooder");
        ok += log.ok;
        busy += log.busy;
    }

    latencies.sort();
    let pct = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    eprintln!(
        "overload: {ok} heavy routes answered, {busy} refused busy; ack p50 {:?}, p99 {:?}, max {:?} over {} pings",
        pct(0.5),
        pct(0.99),
        latencies.last().unwrap(),
        latencies.len()
    );
    assert!(ok > 0, "some heavy routes must be answered");
    assert!(
        busy > 0,
        "{FLOODERS} concurrent requests against a queue of {COMPUTE_QUEUE} must meet refusals"
    );

    let after = status(&client, leader_http).await.unwrap();
    assert_eq!(
        (after["term"].clone(), after["leader"].clone()),
        (before["term"].clone(), before["leader"].clone()),
        "the flood cost the leader its term: before {before}, after {after}"
    );
    let total = DEVICES * PINGS_PER_DEVICE;
    for n in &nodes {
        let addr = n.http;
        wait_until(
            "every node to apply every ping",
            Duration::from_secs(30),
            || {
                let client = client.clone();
                async move {
                    status(&client, addr)
                        .await
                        .is_some_and(|s| s["pings_applied"].as_u64() == Some(total))
                }
            },
        )
        .await;
    }
}
