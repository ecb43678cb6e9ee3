//! One member of one Raft group: opens its durable log and state machine, runs the openraft
//! node, writes ping batches (forwarding to the group's leader when it is not the leader), and
//! reports its status. A process hosts one member per shard ([`super::host`]); the HTTP routes
//! are in [`super::admin_api`].

use super::latency::{LatencySummary, LatencyWindow};
use super::log_store::{FileLogStore, LogStoreError};
use super::network::{HttpNetworkFactory, SECRET_HEADER};
use super::shards::ShardId;
use super::state_machine::{StateMachine, TrafficState};
use super::{BatchReceipt, NodeId, PingBatch, Raft};
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, Config};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use traffic::observations::ObservationLog;
use warp::http::StatusCode;

#[derive(Clone)]
pub struct NodeConfig {
    pub id: NodeId,
    /// `host:port` other members and clients reach this node at.
    pub advertise: String,
    pub data_dir: PathBuf,
    pub secret: String,
    /// Record applied observations as Parquet files in `<data_dir>/observations` (way ids from
    /// this graph); needs the `analytics` feature.
    pub observations: Option<Arc<graph::GraphStore>>,
    pub snapshots: SnapshotSchedule,
    /// Local address that this node's connections to other members (Raft RPCs and forwarded
    /// writes) are made from; `None` lets the OS choose. On a host with several interfaces it
    /// keeps cluster traffic on one of them.
    pub source_ip: Option<std::net::IpAddr>,
}

/// When a node snapshots its state machine and purges the log behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotSchedule {
    /// Snapshot after this many entries since the last snapshot.
    pub every_entries: u64,
    /// Entries kept in the log behind a snapshot, so a slightly lagging follower catches up from
    /// the log rather than by installing the snapshot.
    pub keep_entries: u64,
}

impl Default for SnapshotSchedule {
    fn default() -> Self {
        SnapshotSchedule {
            every_entries: 20_000,
            keep_entries: 2_000,
        }
    }
}

impl std::fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeConfig")
            .field("id", &self.id)
            .field("advertise", &self.advertise)
            .field("data_dir", &self.data_dir)
            .field("observations", &self.observations.is_some())
            .field("snapshots", &self.snapshots)
            .field("source_ip", &self.source_ip)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot open the node's storage in {path}: {message}")]
    Storage { path: String, message: String },
    /// The log holds damaged synced data: starting would serve a log that lost acked entries.
    #[error(
        "node {id} refuses to start because its raft log of group {group} is damaged \
         ({message}); rejoin it from its peers: on the group's leader remove it (POST \
         /cluster/{group}/voters without {id}), delete its data directory {data_dir}, start it \
         again with an empty data directory, then add it back as a learner (POST \
         /cluster/{group}/learner {{\"id\": {id}, ...}}) and promote it (POST \
         /cluster/{group}/voters with {id})"
    )]
    CorruptLog {
        id: NodeId,
        group: ShardId,
        data_dir: String,
        message: String,
    },
    #[error("raft: {0}")]
    Raft(String),
    /// The Raft core of this node stopped (a storage error, a panic, or shutdown): it can
    /// neither commit nor apply until the process restarts.
    #[error("this node's Raft core has stopped ({0}); it cannot commit until it is restarted")]
    Fatal(String),
    /// No quorum committed the write in time (e.g. this node is a leader cut off from its
    /// followers).
    #[error("not committed by a quorum within {0:?}")]
    WriteTimeout(Duration),
    #[error("no leader reachable after {attempts} attempts: {last}")]
    NoLeader { attempts: usize, last: String },
}

pub struct ClusterNode {
    pub id: NodeId,
    /// The Raft group (shard) this member belongs to.
    pub group: ShardId,
    pub raft: Raft,
    pub state: Arc<TrafficState>,
    client: reqwest::Client,
    secret: Arc<str>,
    /// Time of this node's own `client_write`s (as leader): append, fsync, replicate to a
    /// quorum, commit and apply.
    commit_latency: LatencyWindow,
}

/// What `GET /cluster` shows.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClusterStatus {
    pub id: NodeId,
    /// The group (shard) this status is of.
    #[serde(default)]
    pub group: ShardId,
    pub state: String,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub voters: BTreeSet<NodeId>,
    pub members: BTreeMap<NodeId, String>,
    pub last_log_index: Option<u64>,
    pub last_applied_index: Option<u64>,
    pub purged_index: Option<u64>,
    pub pings_applied: u64,
    pub live_edges: usize,
    pub state_hash: String,
    /// Raft commit latency of the writes this node made as leader.
    pub commit_latency: LatencySummary,
}

/// Writes a batch tries this many times across leader changes before giving up.
const WRITE_ATTEMPTS: usize = 40;

/// A write that has not committed after this long gives up (`NotCommitted` to the client, who
/// resends). Without it, a leader cut off from its followers keeps every write waiting for as
/// long as the partition lasts: openraft 0.9 has no check-quorum, so it stays leader and never
/// answers. Well above a commit under load (tens of ms) and an election (about a second).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

impl ClusterNode {
    /// The member of group 0 (an unsharded cluster), its data in `cfg.data_dir`.
    pub async fn start(cfg: NodeConfig) -> Result<ClusterNode, ClusterError> {
        ClusterNode::start_group(cfg, 0).await
    }

    /// The member of `group`, its data in `cfg.data_dir` (the caller gives each group its own).
    pub async fn start_group(cfg: NodeConfig, group: ShardId) -> Result<ClusterNode, ClusterError> {
        let storage_error = |e: String| ClusterError::Storage {
            path: cfg.data_dir.display().to_string(),
            message: e,
        };
        let config = Config {
            cluster_name: format!("meridian-group-{group}"),
            heartbeat_interval: 100,
            election_timeout_min: 400,
            election_timeout_max: 800,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(cfg.snapshots.every_entries),
            max_in_snapshot_log_to_keep: cfg.snapshots.keep_entries,
            // Purge in steps well below the snapshot interval (openraft's default is 256).
            purge_batch_size: (cfg.snapshots.every_entries / 4).clamp(1, 256),
            install_snapshot_timeout: 10_000,
            max_payload_entries: 64,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ClusterError::Raft(e.to_string()))?;
        let state = Arc::new(TrafficState::default());
        let log = FileLogStore::open(cfg.data_dir.join("log"))
            .await
            .map_err(|e| match e {
                LogStoreError::Corrupt { .. } => ClusterError::CorruptLog {
                    id: cfg.id,
                    group,
                    data_dir: cfg.data_dir.display().to_string(),
                    message: e.to_string(),
                },
                e => storage_error(e.to_string()),
            })?;
        let mut sm = StateMachine::open(cfg.data_dir.join("state"), state.clone())
            .map_err(|e| storage_error(e.to_string()))?;
        if let Some(store) = &cfg.observations {
            let log = ObservationLog::open(
                cfg.data_dir.join("observations"),
                store.clone(),
                Default::default(),
            )
            .map_err(|e| storage_error(e.to_string()))?;
            sm = sm.with_observations(Arc::new(log));
        }
        let raft = Raft::new(
            cfg.id,
            Arc::new(config),
            HttpNetworkFactory::new(&cfg.secret, cfg.source_ip, group),
            log,
            sm,
        )
        .await
        .map_err(|e| ClusterError::Raft(e.to_string()))?;
        Ok(ClusterNode {
            id: cfg.id,
            group,
            raft,
            state,
            client: reqwest::Client::builder()
                .local_address(cfg.source_ip)
                .build()
                .map_err(|e| {
                    ClusterError::Raft(format!("the HTTP client for forwarded writes: {e}"))
                })?,
            secret: cfg.secret.as_str().into(),
            commit_latency: LatencyWindow::default(),
        })
    }

    /// Makes a fresh cluster of `members` (id → address); call on one node only, once.
    pub async fn initialize(&self, members: BTreeMap<NodeId, String>) -> Result<(), ClusterError> {
        let nodes: BTreeMap<NodeId, BasicNode> = members
            .into_iter()
            .map(|(id, a)| (id, BasicNode::new(a)))
            .collect();
        self.raft
            .initialize(nodes)
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))
    }

    pub async fn add_learner(&self, id: NodeId, addr: String) -> Result<(), ClusterError> {
        self.raft
            .add_learner(id, BasicNode::new(addr), true)
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::Raft(e.to_string()))
    }

    /// Sets the voters (promoting learners, demoting removed voters to nothing).
    pub async fn change_voters(&self, voters: BTreeSet<NodeId>) -> Result<(), ClusterError> {
        self.raft
            .change_membership(ChangeMembers::ReplaceAllVoters(voters), false)
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::Raft(e.to_string()))
    }

    /// Commits a batch: returns once a quorum has it durably and this cluster's leader applied
    /// it. On a follower it forwards to the leader; across leader changes it retries (the state
    /// machine drops pings it already applied, so a retry is harmless).
    pub async fn write(&self, batch: &PingBatch) -> Result<BatchReceipt, ClusterError> {
        self.write_by(batch, tokio::time::Instant::now() + WRITE_TIMEOUT)
            .await
    }

    /// [`ClusterNode::write`] that gives up at `deadline` (`WriteTimeout`).
    pub async fn write_by(
        &self,
        batch: &PingBatch,
        deadline: tokio::time::Instant,
    ) -> Result<BatchReceipt, ClusterError> {
        if let Some(why) = self.fatal() {
            return Err(ClusterError::Fatal(why));
        }
        let mut last = String::from("no attempt");
        let mut attempts = 0;
        for attempt in 0..WRITE_ATTEMPTS {
            if attempt > 0 {
                let pause = Duration::from_millis(50 * attempt.min(10) as u64);
                if tokio::time::Instant::now() + pause >= deadline {
                    break;
                }
                tokio::time::sleep(pause).await;
            }
            attempts = attempt + 1;
            let started = std::time::Instant::now();
            // The entry may still commit after the timeout (it is in this leader's log); the
            // client's resend is then applied at most once, so giving up is always safe.
            let Ok(written) =
                tokio::time::timeout_at(deadline, self.raft.client_write(batch.clone())).await
            else {
                return Err(ClusterError::WriteTimeout(WRITE_TIMEOUT));
            };
            match written {
                Ok(r) => {
                    self.commit_latency
                        .record(started.elapsed().as_secs_f32() * 1000.0);
                    return Ok(r.data);
                }
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    let Some(leader) = f.leader_node else {
                        last = "no leader known yet".into();
                        continue;
                    };
                    match tokio::time::timeout_at(deadline, self.forward(&leader.addr, batch)).await
                    {
                        Ok(Ok(r)) => return Ok(r),
                        Ok(Err(e)) => last = e,
                        Err(_) => return Err(ClusterError::WriteTimeout(WRITE_TIMEOUT)),
                    }
                }
                // Retrying cannot help: the core is gone (openraft reports it as fatal).
                Err(RaftError::Fatal(f)) => return Err(ClusterError::Fatal(f.to_string())),
                Err(e) => last = e.to_string(),
            }
        }
        Err(ClusterError::NoLeader { attempts, last })
    }

    async fn forward(&self, addr: &str, batch: &PingBatch) -> Result<BatchReceipt, String> {
        let response = self
            .client
            .post(format!("http://{addr}/cluster/{}/write", self.group))
            .header(SECRET_HEADER, &*self.secret)
            .timeout(Duration::from_secs(5))
            .json(batch)
            .send()
            .await
            .map_err(|e| format!("forward to {addr}: {e}"))?;
        if response.status() != StatusCode::OK {
            return Err(format!("forward to {addr}: {}", response.status()));
        }
        response
            .json()
            .await
            .map_err(|e| format!("forward to {addr}: {e}"))
    }

    /// Why this node's Raft core stopped, if it did. openraft sets `running_state` to the error
    /// when the core returns (a storage error, shutdown); when the core task panics it never
    /// gets there, but its metrics sender is dropped, which the watch channel reports.
    pub fn fatal(&self) -> Option<String> {
        let metrics = self.raft.metrics();
        if let Err(e) = &metrics.borrow().running_state {
            return Some(e.to_string());
        }
        metrics
            .has_changed()
            .is_err()
            .then(|| "the Raft core task ended (panicked)".to_string())
    }

    pub fn status(&self) -> ClusterStatus {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        ClusterStatus {
            id: self.id,
            group: self.group,
            state: format!("{:?}", m.state),
            leader: m.current_leader,
            term: m.current_term,
            voters: membership.voter_ids().collect(),
            members: membership
                .nodes()
                .map(|(id, n)| (*id, n.addr.clone()))
                .collect(),
            last_log_index: m.last_log_index,
            last_applied_index: m.last_applied.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            pings_applied: self.state.pings_applied(),
            live_edges: self.state.live.len(),
            state_hash: self.state.state_hash(),
            commit_latency: self.commit_latency.summary(),
        }
    }

    /// The cluster secret (for the RPC routes of this node's server).
    pub fn secret(&self) -> Arc<str> {
        self.secret.clone()
    }
}
