//! The Raft ingest log with a real 3-node cluster: three nodes on real loopback sockets, each in
//! its own runtime (dropping the runtime is a crash: every task and socket of that node dies,
//! only its files stay). Acknowledged batches survive the leader's crash, a restarted node
//! catches up to the same state (from the log, or by installing a snapshot when the log behind
//! it was purged), duplicates are applied once, RPC needs the secret, and membership changes
//! (learner, promotion, removal of a follower and of the leader) keep the cluster writing.

use crate::common::{router, scratch_dir};
use meridian::cluster::host::ClusterHost;
use meridian::cluster::network::SECRET_HEADER;
use meridian::cluster::node::{ClusterNode, NodeConfig, SnapshotSchedule};
use meridian::cluster::shards::ShardMap;
use meridian::cluster::{LoggedPing, PingBatch};
use meridian::server::metrics::Metrics;
use meridian::server::rate_limit::RateLimit;
use meridian::server::{serve_on, start_ingest_with, Limits, ServerOptions};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const SECRET: &str = "test-cluster-secret";
const GRAPH: &str = "small/liechtenstein-2015-07";

pub const INGEST_SECRET: &[u8] = b"test-ingest-secret";

/// How a test node differs from a default one.
#[derive(Clone, Default)]
pub(crate) struct NodeOptions {
    /// The shard map (default: one shard, one group).
    pub(crate) shards: Option<ShardMap>,
    pub(crate) snapshots: SnapshotSchedule,
    /// Record observation files in `<dir>/observations` (needs the `analytics` feature).
    pub(crate) observations: bool,
    /// Per-device ingest rate limit, if not the default.
    pub(crate) ingest_rate: Option<RateLimit>,
    /// Also serve the extract's foot graph (routes and walking navigation).
    pub(crate) foot: bool,
    /// The extract to route on, if not Liechtenstein (imported on a large stack: Porto needs it).
    pub(crate) graph: Option<&'static str>,
}

pub struct TestNode {
    pub id: u64,
    pub addr: SocketAddr,
    /// Websocket ingest of this node.
    pub ingest: SocketAddr,
    dir: PathBuf,
    host: Option<Arc<ClusterHost>>,
    kill: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    options: NodeOptions,
}

impl TestNode {
    /// Starts node `id` on listeners already bound (a port picked and released first can be
    /// taken by another test's connection before the node binds it).
    fn start_with(
        id: u64,
        http: std::net::TcpListener,
        ingest: std::net::TcpListener,
        dir: PathBuf,
        options: NodeOptions,
    ) -> TestNode {
        let addr = http.local_addr().unwrap();
        let ingest_addr = ingest.local_addr().unwrap();
        for l in [&http, &ingest] {
            l.set_nonblocking(true).unwrap();
        }
        let (host_tx, host_rx) = std::sync::mpsc::channel();
        let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
        let routes = match options.graph {
            Some(name) => {
                crate::common::graph_dir_deep(name);
                router(name)
            }
            None => router(GRAPH),
        };
        let cfg = NodeConfig {
            id,
            advertise: addr.to_string(),
            data_dir: dir.clone(),
            secret: SECRET.into(),
            observations: options.observations.then(|| routes.store.clone()),
            snapshots: options.snapshots,
            source_ip: None,
        };
        let shards = options.shards.clone().unwrap_or_else(ShardMap::single);
        let foot = options.foot.then(|| {
            Arc::new(meridian::route::Router::new(Arc::new(
                meridian::graph::GraphStore::open(crate::common::foot_graph_dir(GRAPH))
                    .expect("open the foot graph"),
            )))
        });
        let ingest_rate = options.ingest_rate.unwrap_or_default();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let host = Arc::new(ClusterHost::start(cfg, shards).await.expect("node starts"));
                let listener = tokio::net::TcpListener::from_std(http).expect("listener");
                let ingest_listener =
                    tokio::net::TcpListener::from_std(ingest).expect("ingest listener");
                let metrics = Arc::new(Metrics::new());
                let mut server_options =
                    ServerOptions::from(Limits::default()).with_metrics(metrics.clone());
                if let Some(foot) = &foot {
                    server_options = server_options.with_foot(foot.clone());
                }
                start_ingest_with(
                    ingest_listener,
                    meridian::server::profiles::Routers {
                        car: routes.clone(),
                        foot,
                    },
                    host.clone(),
                    INGEST_SECRET,
                    metrics,
                    server_options.compute.clone(),
                    ingest_rate,
                );
                host_tx.send(host.clone()).unwrap();
                tokio::select! {
                    _ = serve_on(routes, listener, server_options, Some(host)) => {}
                    _ = kill_rx => {}
                }
            });
            // Dropping the runtime cancels every task of this node: a crash, files stay.
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        let host = host_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("node started");
        TestNode {
            id,
            addr,
            ingest: ingest_addr,
            dir,
            host: Some(host),
            kill: Some(kill_tx),
            thread: Some(thread),
            options,
        }
    }

    /// The member of the first group (the only one without a shard map).
    pub fn node(&self) -> &Arc<ClusterNode> {
        self.host().first()
    }

    /// Every group this node hosts.
    pub fn host(&self) -> &Arc<ClusterHost> {
        self.host.as_ref().expect("node is running")
    }

    /// Crashes the node (if running) and starts it again on the same address and files.
    fn restart(&mut self) {
        self.crash();
        *self = Self::start_with(
            self.id,
            rebind(self.addr),
            rebind(self.ingest),
            self.dir.clone(),
            self.options.clone(),
        );
    }

    fn crash(&mut self) {
        self.host = None;
        if let Some(k) = self.kill.take() {
            let _ = k.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.crash();
    }
}

/// A listener on a free loopback port, kept bound.
fn fresh_listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

/// A listener on `addr` again (a restarted node keeps its address), retried while the crashed
/// node's socket is still being released.
fn rebind(addr: SocketAddr) -> std::net::TcpListener {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match std::net::TcpListener::bind(addr) {
            Ok(l) => return l,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("rebind {addr}: {e}"),
        }
    }
}

fn batch(device: u64, seqs: std::ops::Range<u64>) -> PingBatch {
    PingBatch {
        pings: seqs
            .map(|seq| LoggedPing {
                device,
                seq,
                ts_ms: 1_800_000_000_000 + seq as i64 * 1000,
                lat: 47.14,
                lon: 9.52,
                edge: Some((0, (seq % 50) as u32)),
                speed_kmh: Some(20.0 + (seq % 7) as f32),
            })
            .collect(),
    }
}

pub async fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn start_cluster(label: &str) -> Vec<TestNode> {
    start_cluster_with(label, NodeOptions::default()).await
}

pub(crate) async fn start_cluster_with(label: &str, options: NodeOptions) -> Vec<TestNode> {
    let root = scratch_dir(label);
    let nodes: Vec<TestNode> = (1..=3)
        .map(|id| {
            let dir = root.join(format!("node-{id}"));
            TestNode::start_with(id, fresh_listener(), fresh_listener(), dir, options.clone())
        })
        .collect();
    let members: BTreeMap<u64, String> = nodes.iter().map(|n| (n.id, n.addr.to_string())).collect();
    nodes[0].host().initialize(members).await.unwrap();
    wait_for("a leader in every group", Duration::from_secs(20), || {
        nodes
            .iter()
            .all(|n| n.host().groups().all(|g| g.status().leader.is_some()))
    })
    .await;
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_pings_survive_a_leader_crash_and_a_restarted_node_catches_up() {
    let mut nodes = start_cluster("raft-crash").await;
    let leader_id = nodes[0].node().status().leader.unwrap();
    let leader = nodes.iter().position(|n| n.id == leader_id).unwrap();
    let writer = (leader + 1) % 3; // a follower: its writes are forwarded to the leader

    // Stream batches from a follower; crash the leader in the middle of the stream.
    let mut acked: Vec<(u64, u64)> = Vec::new();
    let writer_node = nodes[writer].node().clone();
    for i in 0..60u64 {
        if i == 20 {
            nodes[leader].crash();
        }
        let b = batch(i % 4, (i / 4) * 10 + 1..(i / 4) * 10 + 11);
        let receipt = writer_node
            .write(&b)
            .await
            .expect("write commits on the surviving majority");
        assert_eq!(receipt.applied + receipt.duplicates, 10);
        acked.extend(b.pings.iter().map(|p| (p.device, p.seq)));
    }
    let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    // Every acknowledged ping is applied on both survivors.
    for &s in &survivors {
        let state = nodes[s].node().state.clone();
        wait_for(
            "survivors to apply everything",
            Duration::from_secs(20),
            || acked.iter().all(|&(d, q)| state.has_applied(d, q)),
        )
        .await;
    }
    let (a, b) = (
        nodes[survivors[0]].node().clone(),
        nodes[survivors[1]].node().clone(),
    );
    wait_for("survivors to agree", Duration::from_secs(10), || {
        a.status().state_hash == b.status().state_hash
    })
    .await;
    assert_eq!(a.state.pings_applied(), acked.len() as u64);

    // The crashed node comes back from its files and catches up to the same state.
    nodes[leader].restart();
    let target = a.status().state_hash;
    let back = nodes[leader].node().clone();
    wait_for(
        "the restarted node to catch up",
        Duration::from_secs(30),
        || back.status().state_hash == target,
    )
    .await;
    assert_eq!(back.state.pings_applied(), acked.len() as u64);
    assert!(!back.state.live.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_applied_once_and_rpc_needs_the_secret() {
    let nodes = start_cluster("raft-dup").await;
    let n = nodes[1].node();
    let b = batch(7, 1..21);
    let first = n.write(&b).await.unwrap();
    assert_eq!((first.applied, first.duplicates), (20, 0));
    // A client that did not see the ack resends, partly overlapping with new pings.
    let again = n.write(&batch(7, 11..31)).await.unwrap();
    assert_eq!((again.applied, again.duplicates), (10, 10));
    // The receipt comes from the leader; every replica applies the same 30 pings.
    for node in &nodes {
        let state = node.node().state.clone();
        wait_for("every replica to apply", Duration::from_secs(10), || {
            state.pings_applied() == 30
        })
        .await;
    }

    let client = reqwest::Client::new();
    let addr = nodes[0].addr;
    let vote = serde_json::json!({"vote": {"leader_id": {"term": 99, "node_id": 9}, "committed": false}, "last_log_id": null});
    for secret in [None, Some("wrong")] {
        let mut req = client
            .post(format!("http://{addr}/raft/0/vote"))
            .json(&vote);
        if let Some(s) = secret {
            req = req.header(SECRET_HEADER, s);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401, "secret {secret:?}");
    }
    let resp = client
        .post(format!("http://{addr}/cluster/0/write"))
        .json(&batch(8, 1..2))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // The refused vote did not disturb the cluster.
    let status = nodes[0].node().status();
    assert!(status.term < 99);
    let public: serde_json::Value = client
        .get(format!("http://{addr}/cluster/0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(public["voters"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_behind_the_purged_log_catches_up_by_installing_a_snapshot() {
    // Snapshot every 40 entries and keep 10 behind it: a follower away for 150 entries can only
    // come back through the leader's snapshot (Raft's install-snapshot RPC over HTTP).
    let options = NodeOptions {
        snapshots: SnapshotSchedule {
            every_entries: 40,
            keep_entries: 10,
        },
        observations: cfg!(feature = "analytics"),
        ..Default::default()
    };
    let mut nodes = start_cluster_with("raft-snapshot", options).await;
    let leader_id = nodes[0].node().status().leader.unwrap();
    let leader = nodes.iter().position(|n| n.id == leader_id).unwrap();
    let away = (leader + 1) % 3;
    let writer = nodes[leader].node().clone();
    for i in 0..5u64 {
        writer
            .write(&batch(1, i * 10 + 1..i * 10 + 11))
            .await
            .unwrap();
    }
    let away_last = {
        let state = nodes[away].node().state.clone();
        wait_for(
            "the follower to apply the first batches",
            Duration::from_secs(10),
            || state.pings_applied() == 50,
        )
        .await;
        nodes[away].node().status().last_log_index.unwrap()
    };
    nodes[away].crash();
    let mut acked = 50u64;
    for i in 0..150u64 {
        let b = batch(2 + i % 3, (i / 3) * 10 + 1..(i / 3) * 10 + 11);
        writer.write(&b).await.unwrap();
        acked += 10;
    }
    // The leader snapshots and purges the log the follower would need.
    wait_for("the leader to purge", Duration::from_secs(10), || {
        writer.status().purged_index.is_some_and(|p| p > away_last)
    })
    .await;

    nodes[away].restart();
    let back = nodes[away].node().clone();
    wait_for(
        "the follower to install the snapshot and catch up",
        Duration::from_secs(30),
        || back.status().state_hash == writer.status().state_hash,
    )
    .await;
    assert_eq!(back.state.pings_applied(), acked);
    let status = back.status();
    assert!(
        status.purged_index.is_some_and(|p| p > away_last),
        "the follower's log starts after the snapshot: {status:?}"
    );

    #[cfg(feature = "analytics")]
    {
        use meridian::traffic::history::{build_profiles, BuildOptions, ObservationSource};
        // Stop every node so its observation writer flushes, then compare the files: the
        // follower lacks the entries its snapshot covered; merged with the leader's, none lack.
        let dirs: Vec<PathBuf> = nodes.iter().map(|n| n.dir.join("observations")).collect();
        for n in &mut nodes {
            n.crash();
        }
        let store = router(GRAPH).store.clone();
        let build = |sources: &[&PathBuf]| {
            let sources: Vec<ObservationSource> = sources
                .iter()
                .map(|d| ObservationSource::from_path(d).unwrap())
                .collect();
            build_profiles(&sources, &store, &BuildOptions { min_samples: 1 })
                .unwrap()
                .1
        };
        let alone = build(&[&dirs[away]]);
        let leaders = build(&[&dirs[leader]]);
        let merged = build(&[&dirs[away], &dirs[leader]]);
        assert_eq!(leaders.rows_used, acked, "the leader recorded every ping");
        assert!(
            alone.rows_used < acked,
            "the follower skipped the snapshot's entries"
        );
        assert_eq!(merged.rows_used, acked);
        assert_eq!(merged.entries, leaders.entries);
        assert!(merged.sources[1].entries_used > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joins_as_learner_becomes_a_voter_and_voters_even_the_leader_are_removed() {
    let mut nodes = start_cluster("raft-membership").await;
    let leader_id = nodes[0].node().status().leader.unwrap();
    let leader = nodes.iter().position(|n| n.id == leader_id).unwrap();
    let writer = nodes[leader].node().clone();
    for i in 0..5u64 {
        writer
            .write(&batch(1, i * 10 + 1..i * 10 + 11))
            .await
            .unwrap();
    }
    let client = reqwest::Client::new();
    let leader_addr = nodes[leader].addr;
    let admin = |path: &str, body: serde_json::Value, secret: Option<&str>| {
        let mut req = client
            .post(format!("http://{leader_addr}/cluster/{path}"))
            .json(&body);
        if let Some(s) = secret {
            req = req.header(SECRET_HEADER, s);
        }
        req.send()
    };
    let set_voters = |voters: &[u64]| {
        admin(
            "voters",
            serde_json::json!({ "voters": voters }),
            Some(SECRET),
        )
    };

    // A fourth node starts empty and joins as a learner: it receives the whole log.
    let root = scratch_dir("raft-membership-4");
    let fourth = TestNode::start_with(
        4,
        fresh_listener(),
        fresh_listener(),
        root,
        NodeOptions::default(),
    );
    let join = serde_json::json!({"id": 4, "addr": fourth.addr.to_string()});
    let refused = admin("learner", join.clone(), None).await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    // A follower does not change membership: 409, naming the leader.
    let follower = nodes[(leader + 1) % 3].addr;
    let redirected = client
        .post(format!("http://{follower}/cluster/learner"))
        .header(SECRET_HEADER, SECRET)
        .json(&join)
        .send()
        .await
        .unwrap();
    assert_eq!(redirected.status().as_u16(), 409);
    let message = redirected.text().await.unwrap();
    assert!(
        message.contains(&format!("Some({leader_id})"))
            && message.contains(&nodes[leader].addr.to_string()),
        "{message}"
    );
    let added = admin("learner", join, Some(SECRET)).await.unwrap();
    assert_eq!(added.status().as_u16(), 200, "{:?}", added.text().await);
    let learner = fourth.node().clone();
    wait_for("the learner to catch up", Duration::from_secs(10), || {
        learner.status().state_hash == writer.status().state_hash
    })
    .await;
    assert_eq!(learner.state.pings_applied(), 50);
    let status = learner.status();
    assert_eq!(status.state, "Learner");
    assert!(!status.voters.contains(&4));
    assert_eq!(status.members.len(), 4);

    // Promoted to voter, then one of the old followers is removed and stopped for good.
    let all: Vec<u64> = vec![1, 2, 3, 4];
    let promoted = set_voters(&all).await.unwrap();
    assert_eq!(promoted.status().as_u16(), 200);
    wait_for(
        "node 4 to see itself a voter",
        Duration::from_secs(10),
        || learner.status().voters.contains(&4),
    )
    .await;
    let gone = (leader + 1) % 3;
    let gone_id = nodes[gone].id;
    let remaining: Vec<u64> = all.iter().copied().filter(|&i| i != gone_id).collect();
    let removed = set_voters(&remaining).await.unwrap();
    assert_eq!(removed.status().as_u16(), 200);
    nodes[gone].crash();
    let status = writer.status();
    assert_eq!(
        status.voters,
        remaining
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
    );
    assert!(!status.members.contains_key(&gone_id));

    // The new membership commits writes, including ones the new node forwards to the leader.
    let receipt = learner.write(&batch(2, 1..11)).await.unwrap();
    assert_eq!(receipt.applied, 10);
    let survivor = nodes[(leader + 2) % 3].node().clone();
    wait_for("the voters to agree", Duration::from_secs(10), || {
        let h = writer.status().state_hash;
        learner.status().state_hash == h && survivor.status().state_hash == h
    })
    .await;
    assert_eq!(learner.state.pings_applied(), 60);

    // Decommissioning the leader itself: it commits its own removal and steps down, and the
    // remaining two elect a leader among themselves.
    let last_two: Vec<u64> = remaining
        .iter()
        .copied()
        .filter(|&i| i != leader_id)
        .collect();
    let removed = set_voters(&last_two).await.unwrap();
    assert_eq!(removed.status().as_u16(), 200);
    nodes[leader].crash();
    wait_for(
        "a leader among the remaining two",
        Duration::from_secs(10),
        || {
            learner
                .status()
                .leader
                .is_some_and(|l| last_two.contains(&l))
        },
    )
    .await;
    let receipt = learner.write(&batch(3, 1..11)).await.unwrap();
    assert_eq!(receipt.applied, 10);
    wait_for("the two to agree", Duration::from_secs(10), || {
        learner.status().state_hash == survivor.status().state_hash
    })
    .await;
    assert_eq!(survivor.state.pings_applied(), 70);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_corrupt_log_refuses_to_start_and_rejoins_from_its_peers_as_told() {
    let mut nodes = start_cluster("raft-corrupt").await;
    let leader_id = nodes[0].node().status().leader.unwrap();
    let leader = nodes.iter().position(|n| n.id == leader_id).unwrap();
    let writer = nodes[leader].node().clone();
    let mut acked = 0u64;
    for i in 0..30u64 {
        let b = batch(1 + i % 3, (i / 3) * 10 + 1..(i / 3) * 10 + 11);
        writer.write(&b).await.unwrap();
        acked += 10;
    }
    let bad = (leader + 1) % 3;
    {
        let state = nodes[bad].node().state.clone();
        wait_for("the follower to apply", Duration::from_secs(10), || {
            state.pings_applied() == acked
        })
        .await;
    }
    nodes[bad].crash();
    // One flipped byte in the middle of its synced log: records after it are valid, so this is
    // not a torn tail.
    let log = nodes[bad].dir.join("log").join("raft-log.dat");
    let mut bytes = std::fs::read(&log).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x41;
    std::fs::write(&log, &bytes).unwrap();
    // The other two keep committing meanwhile.
    for i in 30..40u64 {
        let b = batch(1 + i % 3, (i / 3) * 10 + 1..(i / 3) * 10 + 11);
        writer.write(&b).await.unwrap();
        acked += 10;
    }

    let (id, addr, ingest, dir) = (
        nodes[bad].id,
        nodes[bad].addr,
        nodes[bad].ingest,
        nodes[bad].dir.clone(),
    );
    let cfg = NodeConfig {
        id,
        advertise: addr.to_string(),
        data_dir: dir.clone(),
        secret: SECRET.into(),
        observations: None,
        snapshots: SnapshotSchedule::default(),
        source_ip: None,
    };
    let err = match ClusterNode::start(cfg).await {
        Err(e) => e,
        Ok(_) => panic!("a node started on a log with damaged synced records"),
    };
    let message = err.to_string();
    assert!(
        matches!(
            err,
            meridian::cluster::node::ClusterError::CorruptLog { .. }
        ),
        "{message}"
    );
    for needle in [
        "rejoin it from its peers",
        "POST /cluster/0/voters",
        "POST /cluster/0/learner",
        &dir.display().to_string(),
    ] {
        assert!(
            message.contains(needle),
            "{needle:?} missing from: {message}"
        );
    }
    assert_eq!(
        std::fs::read(&log).unwrap(),
        bytes,
        "the damaged log was left as it was"
    );

    // What the message says: remove it, wipe its data directory, start it empty, add it back as
    // a learner, promote it.
    let client = reqwest::Client::new();
    let leader_addr = nodes[leader].addr;
    let admin = |path: &str, body: serde_json::Value| {
        client
            .post(format!("http://{leader_addr}/cluster/{path}"))
            .header(SECRET_HEADER, SECRET)
            .json(&body)
            .send()
    };
    let others: Vec<u64> = nodes.iter().map(|n| n.id).filter(|&i| i != id).collect();
    let r = admin("0/voters", serde_json::json!({ "voters": others }))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
    std::fs::remove_dir_all(&dir).unwrap();
    nodes[bad] = TestNode::start_with(
        id,
        rebind(addr),
        rebind(ingest),
        dir,
        NodeOptions::default(),
    );
    let r = admin(
        "0/learner",
        serde_json::json!({"id": id, "addr": addr.to_string()}),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
    let r = admin("0/voters", serde_json::json!({ "voters": [1, 2, 3] }))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);

    // Nothing acked was lost: the rejoined node holds every ping, and a write needing it works.
    let back = nodes[bad].node().clone();
    wait_for(
        "the rejoined node to catch up",
        Duration::from_secs(20),
        || back.status().state_hash == writer.status().state_hash,
    )
    .await;
    assert_eq!(back.state.pings_applied(), acked);
    // The promotion is a log entry of its own, after the pings: the rejoined node sees itself
    // as a voter once it has that entry too.
    wait_for(
        "the rejoined node to see itself a voter",
        Duration::from_secs(10),
        || back.status().voters.contains(&id),
    )
    .await;
    back.write(&batch(9, 1..11)).await.unwrap();
    for n in &nodes {
        let state = n.node().state.clone();
        wait_for(
            "every node to apply the last write",
            Duration::from_secs(10),
            || state.pings_applied() == acked + 10,
        )
        .await;
    }
}
