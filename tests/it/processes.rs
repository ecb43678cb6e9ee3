//! Clusters of real `meridian serve` processes for the tests that kill, flood or restart them:
//! spawning a node with its own data directory and log, forming the Raft group over HTTP,
//! reading `/cluster`, opening an authenticated websocket as a phone, and a phone's pings along
//! a real route.

use crate::common::{graph_dir, junctions, router};
use futures_util::{SinkExt, StreamExt};
use meridian::cluster::network::SECRET_HEADER;
use meridian::route::cut_shape;
use meridian::server::ingest::device_token;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

pub const GRAPH: &str = "small/liechtenstein-2015-07";
pub const CLUSTER_SECRET: &str = "crash-test-cluster-secret";
pub const INGEST_SECRET: &str = "crash-test-ingest-secret";

/// One `meridian serve` cluster node as a child process.
pub struct NodeProcess {
    pub id: u64,
    pub http: SocketAddr,
    pub ingest: SocketAddr,
    pub dir: PathBuf,
    /// Extra `serve` arguments, kept for restarts.
    pub args: Vec<String>,
    child: Option<Child>,
}

impl NodeProcess {
    pub fn spawn_with(
        id: u64,
        http: SocketAddr,
        ingest: SocketAddr,
        dir: PathBuf,
        args: Vec<String>,
    ) -> NodeProcess {
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
            .args(&args)
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
            args,
            child: Some(child),
        }
    }

    /// SIGKILL: no shutdown code runs; only what reached the files survives.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        *self = NodeProcess::spawn_with(
            self.id,
            self.http,
            self.ingest,
            self.dir.clone(),
            std::mem::take(&mut self.args),
        );
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

pub async fn status(client: &reqwest::Client, node: SocketAddr) -> Option<Value> {
    let resp = client
        .get(format!("http://{node}/cluster/0"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    resp.json().await.ok()
}

/// `GET /cluster`: the node and every group it hosts.
pub async fn host_status(client: &reqwest::Client, node: SocketAddr) -> Option<Value> {
    let resp = client
        .get(format!("http://{node}/cluster"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    resp.json().await.ok()
}

/// One group as a node reports it: `(group, pings applied, state hash)`.
pub type GroupState = (u64, u64, String);

/// Every group a node hosts, from `GET /cluster`.
pub async fn groups(client: &reqwest::Client, node: SocketAddr) -> Option<Vec<GroupState>> {
    let host = host_status(client, node).await?;
    host["groups"]
        .as_array()?
        .iter()
        .map(|g| {
            Some((
                g["group"].as_u64()?,
                g["pings_applied"].as_u64()?,
                g["state_hash"].as_str()?.to_string(),
            ))
        })
        .collect()
}

pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut ok: F)
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
pub fn drive(device: u64, pings: u64) -> Vec<Value> {
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
    let t0 = now_ms() - pings as i64 * 1000;
    (1..=pings)
        .map(|seq| {
            let p = *cut_shape(&geometry, 0.0, seq as f64 * 10.0).last().unwrap();
            json!({"seq": seq, "ts": t0 + seq as i64 * 1000, "lat": p.lat, "lon": p.lon, "accuracy": 5.0})
        })
        .collect()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn open(addr: SocketAddr, device: u64) -> Option<Ws> {
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

/// Three node processes under `root`, the group initialised through node 1 and a leader known
/// to all; `args(id)` adds `serve` arguments per node. Returns the nodes and the leader's index.
pub async fn start_cluster(
    root: &Path,
    args: impl Fn(u64) -> Vec<String>,
) -> (Vec<NodeProcess>, usize) {
    let nodes = spawn_nodes(root, args).await;
    let members: BTreeMap<u64, String> = nodes.iter().map(|n| (n.id, n.http.to_string())).collect();
    let leader = form_group(&nodes, &members).await;
    (nodes, leader)
}

/// Three node processes under `root` (ids 1-3), each answering `/cluster`, not yet a group.
pub async fn spawn_nodes(root: &Path, args: impl Fn(u64) -> Vec<String>) -> Vec<NodeProcess> {
    spawn_n_nodes(root, 3, args).await
}

/// `n` node processes under `root` (ids 1..=n), each answering `/cluster`, not yet a group.
pub async fn spawn_n_nodes(
    root: &Path,
    n: u64,
    args: impl Fn(u64) -> Vec<String>,
) -> Vec<NodeProcess> {
    let ports = distinct_ports(2 * n as usize);
    let nodes: Vec<NodeProcess> = (1..=n)
        .map(|id| {
            let i = (id as usize - 1) * 2;
            let http = SocketAddr::from(([127, 0, 0, 1], ports[i]));
            let ingest = SocketAddr::from(([127, 0, 0, 1], ports[i + 1]));
            NodeProcess::spawn_with(id, http, ingest, root.join(format!("node-{id}")), args(id))
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
    nodes
}

/// `n` free ports, all different: each is held until all are picked (picking one at a time, a
/// port released before its node binds it can be handed out again, and a node then fails with
/// "Address already in use").
fn distinct_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Initialises the group through `nodes[0]` with `members` (id → the address the others reach
/// it at) and waits for a leader known to all; returns the leader's index in `nodes`.
pub async fn form_group(nodes: &[NodeProcess], members: &BTreeMap<u64, String>) -> usize {
    let client = reqwest::Client::new();
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
    nodes.iter().position(|n| n.id == leader_id).unwrap()
}
