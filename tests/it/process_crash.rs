//! The whole ingest path under a real crash: three `meridian serve` processes form the Raft
//! group, phones stream pings over websockets to all three, and the leader's (or a follower's)
//! process is killed with SIGKILL mid-stream. Phones on the dead node reconnect to another node and resend what was
//! not acked; phones on the survivors just keep streaming. Every acked ping must be applied on
//! both survivors exactly once, the survivors must agree on the state hash, and the killed node,
//! restarted from its files, must catch up to the same state.

use crate::common::{free_port, graph_dir, junctions, router, scratch_dir};
use futures_util::{SinkExt, StreamExt};
use meridian::cluster::network::SECRET_HEADER;
use meridian::route::cut_shape;
use meridian::server::ingest::device_token;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const GRAPH: &str = "small/liechtenstein-2015-07";
const CLUSTER_SECRET: &str = "crash-test-cluster-secret";
const INGEST_SECRET: &str = "crash-test-ingest-secret";
const DEVICES: u64 = 6;
const PINGS_PER_DEVICE: u64 = 120;
/// Wall-clock pace of each phone (pings carry 1 s apart ping times: a replay after a tunnel).
const SEND_EVERY: Duration = Duration::from_millis(50);

/// One `meridian serve` cluster node as a child process.
struct NodeProcess {
    id: u64,
    http: SocketAddr,
    ingest: SocketAddr,
    dir: PathBuf,
    child: Option<Child>,
}

impl NodeProcess {
    fn spawn(id: u64, http: SocketAddr, ingest: SocketAddr, dir: PathBuf) -> NodeProcess {
        std::fs::create_dir_all(&dir).unwrap();
        let log = std::fs::File::create(dir.join("serve.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_meridian"))
            .arg("serve")
            .arg("--graph")
            .arg(graph_dir(GRAPH))
            .args(["--listen", &http.to_string()])
            .args(["--node-id", &id.to_string()])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--ingest-listen", &ingest.to_string()])
            .env("MERIDIAN_CLUSTER_SECRET", CLUSTER_SECRET)
            .env("MERIDIAN_INGEST_SECRET", INGEST_SECRET)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("meridian serve starts");
        NodeProcess {
            id,
            http,
            ingest,
            dir,
            child: Some(child),
        }
    }

    /// SIGKILL: no shutdown code runs; only what reached the files survives.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        *self = NodeProcess::spawn(self.id, self.http, self.ingest, self.dir.clone());
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn status(client: &reqwest::Client, node: SocketAddr) -> Option<Value> {
    let resp = client
        .get(format!("http://{node}/cluster"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    resp.json().await.ok()
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut ok: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !ok().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The pings of one phone driving a real route, one fix per second of ping time, ending now.
fn drive(device: u64) -> Vec<Value> {
    let r = router(GRAPH);
    let points = junctions(&r);
    let n = points.len();
    let mut k = device as usize * 7919;
    let geometry = loop {
        let (a, b) = (points[k % n], points[(k * 31 + 17) % n]);
        k += 1;
        if let Ok(answer) = r.route(&[a, b], false) {
            if answer.route.distance_m > 1_500.0 {
                break answer.route.geometry;
            }
        }
    };
    let t0 = now_ms() - PINGS_PER_DEVICE as i64 * 1000;
    (1..=PINGS_PER_DEVICE)
        .map(|seq| {
            let p = *cut_shape(&geometry, 0.0, seq as f64 * 10.0).last().unwrap();
            json!({"seq": seq, "ts": t0 + seq as i64 * 1000, "lat": p.0, "lon": p.1, "accuracy": 5.0})
        })
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(addr: SocketAddr, device: u64) -> Option<Ws> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .ok()?;
    let token = device_token(INGEST_SECRET.as_bytes(), device);
    let auth = json!({"type": "auth", "device": device, "token": token});
    ws.send(Message::Text(auth.to_string().into())).await.ok()?;
    match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) if t.contains("\"ready\"") => Some(ws),
        _ => None,
    }
}

/// What a phone saw: the seqs acked, and how often it had to reconnect.
#[derive(Default)]
struct PhoneLog {
    acked: BTreeSet<u64>,
    /// Seqs acked before the node was killed.
    acked_before_kill: BTreeSet<u64>,
    reconnects: usize,
    not_committed: usize,
}

/// A phone as a real client behaves: streams its pings, and on a lost connection reconnects to
/// the next node and resends everything sent but not acked; a `NotCommitted` error is resent on
/// the same connection. Returns once every ping is acked.
async fn phone(
    device: u64,
    pings: Vec<Value>,
    nodes: Vec<SocketAddr>,
    killed: Arc<AtomicBool>,
) -> PhoneLog {
    let mut log = PhoneLog::default();
    let mut node = device as usize % nodes.len();
    let mut next_seq = 1u64; // next never-sent ping
    let deadline = Instant::now() + Duration::from_secs(120);
    'connection: loop {
        assert!(
            Instant::now() < deadline,
            "device {device}: not all pings acked in time"
        );
        let Some(mut ws) = open(nodes[node], device).await else {
            node = (node + 1) % nodes.len();
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let unacked: Vec<Value> = (1..next_seq)
            .filter(|s| !log.acked.contains(s))
            .map(|s| pings[s as usize - 1].clone())
            .collect();
        if !unacked.is_empty() {
            let frame = json!({"type": "pings", "pings": unacked});
            if ws
                .send(Message::Text(frame.to_string().into()))
                .await
                .is_err()
            {
                continue 'connection;
            }
        }
        let mut tick = tokio::time::interval(SEND_EVERY);
        loop {
            if next_seq > PINGS_PER_DEVICE && log.acked.len() as u64 == PINGS_PER_DEVICE {
                let _ = ws.close(None).await;
                return log;
            }
            tokio::select! {
                _ = tick.tick(), if next_seq <= PINGS_PER_DEVICE => {
                    let mut frame = pings[next_seq as usize - 1].clone();
                    frame["type"] = json!("ping");
                    if ws.send(Message::Text(frame.to_string().into())).await.is_err() {
                        break;
                    }
                    next_seq += 1;
                }
                m = tokio::time::timeout(Duration::from_secs(10), ws.next()) => {
                    let text = match m {
                        Ok(Some(Ok(Message::Text(t)))) => t,
                        Ok(Some(Ok(_))) => continue,
                        // Closed, reset, or silent for 10 s: try another node.
                        _ => break,
                    };
                    let m: Value = serde_json::from_str(text.as_str()).unwrap();
                    match m["type"].as_str() {
                        Some("ack") => {
                            let seq = m["acked"].as_u64().unwrap();
                            log.acked.insert(seq);
                            if !killed.load(Ordering::SeqCst) {
                                log.acked_before_kill.insert(seq);
                            }
                        }
                        Some("error") if m["code"] == "NotCommitted" => {
                            log.not_committed += 1;
                            let seq = m["seq"].as_u64().unwrap();
                            let frame = json!({"type": "pings", "pings": [pings[seq as usize - 1]]});
                            if ws.send(Message::Text(frame.to_string().into())).await.is_err() {
                                break;
                            }
                        }
                        _ => panic!("device {device}: unexpected frame {m}"),
                    }
                }
            }
        }
        log.reconnects += 1;
        node = (node + 1) % nodes.len();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_process_under_websocket_load_loses_no_acked_ping() {
    kill_under_load(Victim::Leader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_follower_process_under_websocket_load_loses_no_acked_ping() {
    kill_under_load(Victim::Follower).await;
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Victim {
    Leader,
    Follower,
}

async fn kill_under_load(victim: Victim) {
    let root = scratch_dir("process-crash");
    let mut nodes: Vec<NodeProcess> = (1..=3)
        .map(|id| {
            let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let ingest = SocketAddr::from(([127, 0, 0, 1], free_port()));
            NodeProcess::spawn(id, http, ingest, root.join(format!("node-{id}")))
        })
        .collect();
    let client = reqwest::Client::new();
    for n in &nodes {
        let addr = n.http;
        wait_until("the node to serve", Duration::from_secs(60), || {
            let client = client.clone();
            async move { status(&client, addr).await.is_some() }
        })
        .await;
    }
    let members: BTreeMap<u64, String> = nodes.iter().map(|n| (n.id, n.http.to_string())).collect();
    let resp = client
        .post(format!("http://{}/cluster/init", nodes[0].http))
        .header(SECRET_HEADER, CLUSTER_SECRET)
        .json(&json!({ "members": members }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "init: {}", resp.status());
    let https: Vec<SocketAddr> = nodes.iter().map(|n| n.http).collect();
    wait_until("a leader known to all", Duration::from_secs(30), || {
        let (client, https) = (client.clone(), https.clone());
        async move {
            let mut seen = BTreeSet::new();
            for a in &https {
                match status(&client, *a).await.and_then(|s| s["leader"].as_u64()) {
                    Some(l) => seen.insert(l),
                    None => return false,
                };
            }
            seen.len() == 1
        }
    })
    .await;
    let leader_id = status(&client, nodes[0].http).await.unwrap()["leader"]
        .as_u64()
        .unwrap();
    let leader = nodes.iter().position(|n| n.id == leader_id).unwrap();
    let killed_node = match victim {
        Victim::Leader => leader,
        Victim::Follower => (leader + 1) % 3,
    };

    // Phones on every node, the leader's included.
    let killed = Arc::new(AtomicBool::new(false));
    let ingests: Vec<SocketAddr> = nodes.iter().map(|n| n.ingest).collect();
    let phones: Vec<_> = (1..=DEVICES)
        .map(|d| {
            let pings = drive(d);
            tokio::spawn(phone(d, pings, ingests.clone(), killed.clone()))
        })
        .collect();
    // Kill the victim once a good share of the pings is applied there.
    let victim_addr = nodes[killed_node].http;
    wait_until("pings to flow", Duration::from_secs(60), || {
        let client = client.clone();
        async move {
            status(&client, victim_addr)
                .await
                .and_then(|s| s["pings_applied"].as_u64())
                .is_some_and(|n| n >= DEVICES * PINGS_PER_DEVICE / 4)
        }
    })
    .await;
    nodes[killed_node].kill();
    killed.store(true, Ordering::SeqCst);

    let mut logs = Vec::new();
    for p in phones {
        logs.push(p.await.expect("phone task"));
    }
    let total = DEVICES * PINGS_PER_DEVICE;
    let acked_before_kill: usize = logs.iter().map(|l| l.acked_before_kill.len()).sum();
    let reconnects: usize = logs.iter().map(|l| l.reconnects).sum();
    let not_committed: usize = logs.iter().map(|l| l.not_committed).sum();
    eprintln!(
        "process crash ({victim:?}): {acked_before_kill} pings acked before the kill, \
         {reconnects} reconnects, {not_committed} NotCommitted resends, {total} pings in all"
    );
    assert!(acked_before_kill > 0 && (acked_before_kill as u64) < total);
    assert!(
        reconnects >= 1,
        "phones on the killed node must have reconnected"
    );
    for l in &logs {
        assert_eq!(l.acked.len() as u64, PINGS_PER_DEVICE);
    }

    // Every ping (so every acked one) is applied exactly once on both survivors, which agree.
    let survivors: Vec<SocketAddr> = (0..3)
        .filter(|&i| i != killed_node)
        .map(|i| nodes[i].http)
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let hash = loop {
        let mut seen = Vec::new();
        for a in &survivors {
            let s = status(&client, *a).await;
            seen.push(s.map(|s| (s["pings_applied"].as_u64(), s["state_hash"].clone())));
        }
        if seen
            .iter()
            .all(|s| s.as_ref().is_some_and(|(n, _)| *n == Some(total)))
            && seen[0].as_ref().map(|s| &s.1) == seen[1].as_ref().map(|s| &s.1)
        {
            break seen[0].as_ref().unwrap().1.as_str().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "survivors did not apply all {total} pings and agree: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The killed node restarts from its files and catches up to the same state.
    nodes[killed_node].restart();
    let back = nodes[killed_node].http;
    wait_until(
        "the restarted node to catch up",
        Duration::from_secs(60),
        || {
            let (client, hash) = (client.clone(), hash.clone());
            async move {
                status(&client, back).await.is_some_and(|s| {
                    s["pings_applied"].as_u64() == Some(total) && s["state_hash"] == hash.as_str()
                })
            }
        },
    )
    .await;
    let s = status(&client, back).await.unwrap();
    assert!(s["live_edges"].as_u64().unwrap() > 0, "{s}");
}
