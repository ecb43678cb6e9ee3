//! "Never ack what can be lost", over the real websocket ingest of a real 3-node cluster: a ping
//! sent late after thousands of newer ones is applied (the old bounded window acked it without
//! applying it), a device with too many gaps gets an error frame and no ack, the state machine's
//! refusals reach the batcher's callers, and a node whose Raft core stopped says so on
//! `/health` (503) and refuses pings at once instead of timing out on each.

use crate::cluster::{start_cluster, start_cluster_with, wait_for, NodeOptions, TestNode};
use crate::ingest::{authed, next, now_ms, send, Ws};
use meridian::cluster::batcher::{Batcher, SubmitError};
use meridian::cluster::dedup::{Refusal, MAX_RANGES, RETAIN_MS};
use meridian::cluster::LoggedPing;
use meridian::server::rate_limit::RateLimit;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

const LAT: f64 = 47.14;
const LON: f64 = 9.52;

/// A ping frame's JSON for `seq`, stamped `t0 + seq * 100 ms`.
fn ping(seq: u64, t0: i64) -> Value {
    json!({"seq": seq, "ts": t0 + seq as i64 * 100, "lat": LAT, "lon": LON})
}

/// Sends `seqs` for `device` over fresh connections of at most 200 pings each, and waits for
/// every answer: the acked seqs, and the error frames by seq.
async fn send_all(
    addr: SocketAddr,
    device: u64,
    seqs: &[u64],
    t0: i64,
) -> (BTreeSet<u64>, Vec<(u64, String)>) {
    let (mut acked, mut errors) = (BTreeSet::new(), Vec::new());
    for chunk in seqs.chunks(200) {
        let mut ws: Ws = authed(addr, device).await;
        let pings: Vec<Value> = chunk.iter().map(|&s| ping(s, t0)).collect();
        send(&mut ws, json!({"type": "pings", "pings": pings})).await;
        for _ in chunk {
            let m = next(&mut ws).await.expect("an answer for every ping");
            match m["type"].as_str() {
                Some("ack") => {
                    acked.insert(m["acked"].as_u64().unwrap());
                }
                _ => errors.push((
                    m["seq"].as_u64().unwrap_or(0),
                    m["code"].as_str().unwrap_or("?").to_string(),
                )),
            }
        }
    }
    (acked, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_ping_is_applied_and_a_device_with_too_many_gaps_is_refused_not_acked() {
    // Thousands of pings of one device in seconds: above the default per-device limit.
    let options = NodeOptions {
        ingest_rate: Some(RateLimit {
            per_s: 1e6,
            burst: 1e6,
        }),
        ..Default::default()
    };
    let nodes = start_cluster_with("reliability-late", options).await;
    let addr = nodes[1].ingest;
    let t0 = now_ms() - 3_600_000;

    // Seq 2..=4098 first: 4,097 newer pings than the missing seq 1, past the old 4,096 window.
    let stream: Vec<u64> = (2..=4098).collect();
    let (acked, errors) = send_all(addr, 7, &stream, t0).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(acked.len(), stream.len());
    agree(&nodes).await;
    let before = nodes[0].node().state.pings_applied();
    assert!(nodes.iter().all(|n| !n.node().state.has_applied(7, 1)));

    // The late seq 1: acked only because it is applied now (by the leader that committed it).
    let (acked, errors) = send_all(addr, 7, &[1], t0).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(acked, BTreeSet::from([1]));
    assert!(
        nodes.iter().any(|n| n.node().state.has_applied(7, 1)),
        "acked but not applied"
    );
    // Sent again, it is a duplicate: acked, not applied twice.
    let (acked, _) = send_all(addr, 7, &[1], t0).await;
    assert_eq!(acked, BTreeSet::from([1]));
    agree(&nodes).await;
    for n in &nodes {
        assert_eq!(n.node().state.pings_applied(), before + 1);
        assert!(n.node().state.has_applied(7, 1));
    }

    // Device 8 sends only odd seqs: MAX_RANGES gaps. The next gap is refused with an error
    // frame and no ack; the seqs that fill or extend its ranges are taken.
    let odd: Vec<u64> = (0..MAX_RANGES as u64).map(|k| 2 * k + 1).collect();
    let (acked, errors) = send_all(addr, 8, &odd, t0).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(acked.len(), MAX_RANGES);
    let top = *odd.last().unwrap();
    agree(&nodes).await;
    let applied = nodes[0].node().state.pings_applied();
    let (acked, errors) = send_all(addr, 8, &[top + 2], t0).await;
    assert!(acked.is_empty(), "a refused ping was acked");
    assert_eq!(errors, vec![(top + 2, "TooManyGaps".to_string())]);
    let (acked, errors) = send_all(addr, 8, &[2, top + 1, top + 2], t0).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(acked, BTreeSet::from([2, top + 1, top + 2]));
    // Every replica holds the same state, de-duplication included.
    agree(&nodes).await;
    for n in &nodes {
        assert_eq!(n.node().state.pings_applied(), applied + 3);
    }
}

/// Waits until every node has applied the same log (equal state hashes).
async fn agree(nodes: &[TestNode]) {
    wait_for("replicas to agree", Duration::from_secs(20), || {
        let hashes: BTreeSet<String> = nodes.iter().map(|n| n.node().status().state_hash).collect();
        hashes.len() == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_too_old_for_the_log_clock_is_refused_to_its_submitter() {
    let nodes = start_cluster("reliability-too-old").await;
    let batcher = Batcher::start(nodes[2].node().clone(), Default::default());
    let t = 1_800_000_000_000;
    let logged = |device: u64, seq: u64, ts_ms: i64| LoggedPing {
        device,
        seq,
        ts_ms,
        lat: LAT,
        lon: LON,
        edge: None,
        speed_kmh: None,
    };
    batcher.submit(logged(1, 1, t)).await.unwrap();
    // A device unseen for longer than the retention, e.g. stamped by a node with a wrong clock:
    // committed to the log, but not applied, and its submitter hears why (no ack).
    let old = batcher.submit(logged(2, 1, t - RETAIN_MS - 1)).await;
    assert_eq!(old, Err(SubmitError::Refused(Refusal::TooOld)));
    for n in &nodes {
        let state = n.node().state.clone();
        wait_for(
            "the refusal to reach every replica",
            Duration::from_secs(10),
            || state.pings_applied() == 1,
        )
        .await;
        assert!(!state.has_applied(2, 1));
    }
    // A known device's resend is still recognised as applied, however old.
    batcher.submit(logged(1, 1, t)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_raft_core_stopped_is_unhealthy_and_refuses_pings_at_once() {
    let nodes = start_cluster("reliability-fatal").await;
    let client = reqwest::Client::new();
    let health = |addr: SocketAddr| {
        let client = client.clone();
        async move {
            let r = client
                .get(format!("http://{addr}/health"))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (code, h) = health(nodes[0].addr).await;
    assert_eq!((code, h["status"].as_str()), (200, Some("ok")), "{h}");

    let t0 = now_ms() - 60_000;
    let mut ws = authed(nodes[0].ingest, 3).await;
    send(
        &mut ws,
        json!({"type": "ping", "seq": 1, "ts": t0, "lat": LAT, "lon": LON}),
    )
    .await;
    assert_eq!(next(&mut ws).await.unwrap()["type"], "ack");

    // openraft's own stop: the core returns and reports itself stopped in its metrics.
    nodes[0].node().raft.shutdown().await.unwrap();
    assert!(nodes[0].node().fatal().is_some());
    let (code, h) = health(nodes[0].addr).await;
    assert_eq!(code, 503, "{h}");
    assert_eq!(h["status"], "fatal");
    assert!(h["error"].as_str().is_some_and(|e| !e.is_empty()), "{h}");
    // The other nodes stay healthy.
    assert_eq!(health(nodes[1].addr).await.0, 200);

    // The open connection gets an error frame for its next ping and is closed; a new one too.
    send(
        &mut ws,
        json!({"type": "ping", "seq": 2, "ts": t0 + 1000, "lat": LAT, "lon": LON}),
    )
    .await;
    let e = next(&mut ws).await.unwrap();
    assert_eq!(e["code"], "NodeFailed", "{e}");
    assert!(next(&mut ws).await.is_none(), "closed after NodeFailed");
    let mut ws = authed(nodes[0].ingest, 3).await;
    send(
        &mut ws,
        json!({"type": "ping", "seq": 2, "ts": t0 + 1000, "lat": LAT, "lon": LON}),
    )
    .await;
    assert_eq!(next(&mut ws).await.unwrap()["code"], "NodeFailed");
    // The phone resends to another node: acked there.
    let mut ws = authed(nodes[1].ingest, 3).await;
    send(
        &mut ws,
        json!({"type": "ping", "seq": 2, "ts": t0 + 1000, "lat": LAT, "lon": LON}),
    )
    .await;
    assert_eq!(next(&mut ws).await.unwrap()["type"], "ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_calls_with_a_malformed_body_get_invalid_value_not_invalid_url() {
    let nodes = start_cluster("reliability-admin").await;
    let client = reqwest::Client::new();
    let addr = nodes[0].addr;
    for (path, body) in [
        ("voters", "{"),
        ("voters", r#"{"voters": "all"}"#),
        ("learner", r#"{"id": 4}"#),
        ("init", "\u{0}\u{1}binary"),
        ("0/voters", "{"),
        ("0/write", r#"{"packed": 5}"#),
    ] {
        let r = client
            .post(format!("http://{addr}/cluster/{path}"))
            .header(
                meridian::cluster::network::SECRET_HEADER,
                crate::cluster::SECRET,
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{path} {body:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "InvalidValue", "{path} {body:?}: {v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .starts_with("malformed request body"),
            "{v}"
        );
    }
    // The cluster is undisturbed.
    assert_eq!(nodes[0].node().status().voters.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_is_per_device_not_per_connection() {
    let nodes = start_cluster("reliability-rate").await;
    let addr = nodes[0].ingest;
    let t0 = now_ms() - 60_000;
    let started = std::time::Instant::now();
    // One device on three connections, 150 pings each: 450 against one 200-ping burst.
    let mut conns = Vec::new();
    for c in 0..3u64 {
        let mut ws = authed(addr, 11).await;
        let pings: Vec<Value> = (1..=150).map(|k| ping(c * 150 + k, t0)).collect();
        send(&mut ws, json!({"type": "pings", "pings": pings})).await;
        conns.push(ws);
    }
    let (mut acked, mut limited) = (0u64, 0u64);
    for ws in &mut conns {
        for _ in 0..150 {
            let m = next(ws).await.unwrap();
            match (m["type"].as_str(), m["code"].as_str()) {
                (Some("ack"), _) => acked += 1,
                (_, Some("RateLimited")) => limited += 1,
                _ => panic!("{m}"),
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(acked + limited, 450);
    // The burst plus what refilled while the test ran, whatever the machine's speed.
    let allowed = RateLimit::default().burst + RateLimit::default().per_s * elapsed;
    assert!(
        (acked as f64) <= allowed.ceil(),
        "{acked} acked over {elapsed:.2} s, allowance {allowed:.0}"
    );
    assert!(limited > 0, "three connections multiplied the allowance");
    // Another device on the same node is not limited by device 11.
    let (acked, errors) = send_all(addr, 12, &[1, 2, 3], t0).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(acked.len(), 3);
}
