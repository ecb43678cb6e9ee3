//! Group commit for pings: pings from every connection of a node are gathered into one Raft
//! entry (up to a size, or a few milliseconds), several entries may be in flight at once, and
//! each ping's submitter hears back only when its entry is committed by a quorum and applied:
//! `Ok` only if the state machine applied the ping (now or before), never for a ping it refused.
//! A ping not committed within [`WRITE_TIMEOUT`] of its submission (queued behind writes that
//! cannot commit, e.g. on a leader cut off from its followers) is answered `NotCommitted`.
//!
//! A sharded process has one batcher per group; [`ShardedBatcher`] sends each ping to the group
//! of the shard its position lies in, so one shard without quorum holds up only its own pings.

use super::dedup::Refusal;
use super::host::ClusterHost;
use super::node::{ClusterError, ClusterNode, WRITE_TIMEOUT};
use super::shards::{ShardId, ShardMap};
use super::{LoggedPing, PingBatch};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

/// How batches are cut.
#[derive(Clone, Copy, Debug)]
pub struct BatchPolicy {
    pub max_pings: usize,
    pub max_wait: Duration,
    /// Entries written concurrently (openraft pipelines them).
    pub max_in_flight: usize,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            max_pings: 2_000,
            max_wait: Duration::from_millis(5),
            max_in_flight: 8,
        }
    }
}

/// Why a submitted ping is not acked.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SubmitError {
    /// The write did not commit (no leader, a partition, shutdown): the client resends later.
    #[error("not committed, resend later: {0}")]
    NotCommitted(String),
    /// This node's Raft core has stopped: the client should resend to another node.
    #[error("this node has failed, reconnect to another node and resend: {0}")]
    NodeFailed(String),
    /// Committed, but the state machine refused the ping: resending it as is will not help.
    #[error("{}", .0.message())]
    Refused(Refusal),
}

type Waiter = oneshot::Sender<Result<(), SubmitError>>;

/// Handle to a node's batcher; cheap to clone.
#[derive(Clone)]
pub struct Batcher {
    /// Each ping with its submitter and when it was submitted.
    tx: mpsc::Sender<(LoggedPing, Waiter, Instant)>,
    node: Arc<ClusterNode>,
}

impl Batcher {
    pub fn start(node: Arc<ClusterNode>, policy: BatchPolicy) -> Batcher {
        let (tx, rx) = mpsc::channel(policy.max_pings * 4);
        tokio::spawn(run(node.clone(), policy, rx));
        Batcher { tx, node }
    }

    /// Why the node behind this batcher can no longer commit, if it cannot.
    pub fn node_failure(&self) -> Option<String> {
        self.node.fatal()
    }

    /// Resolves once the ping is durable on a quorum (`Ok`), or the write failed for good.
    pub async fn submit(&self, ping: LoggedPing) -> Result<(), SubmitError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((ping, done, Instant::now()))
            .await
            .map_err(|_| SubmitError::NotCommitted("the batcher has stopped".into()))?;
        wait.await
            .map_err(|_| SubmitError::NotCommitted("the batcher dropped the ping".into()))?
    }
}

/// The batchers of every group a process hosts, and the map that picks a ping's group.
#[derive(Clone)]
pub struct ShardedBatcher {
    shards: Arc<ShardMap>,
    batchers: BTreeMap<ShardId, Batcher>,
}

impl ShardedBatcher {
    /// A batcher per group of `host`.
    pub fn start(host: &ClusterHost, policy: BatchPolicy) -> ShardedBatcher {
        ShardedBatcher {
            shards: host.shards.clone(),
            batchers: host
                .groups()
                .map(|n| (n.group, Batcher::start(n.clone(), policy)))
                .collect(),
        }
    }

    /// The shard whose group a ping is committed in: the one owning its position. The
    /// position, not the matched edge, decides: a resend of the same ping to any node then goes
    /// to the same group, whose de-duplication applies it once (a re-match could pick another
    /// edge, and another group would apply it again).
    pub fn shard_of(&self, ping: &LoggedPing) -> ShardId {
        self.shards
            .shard_of(spatial::LatLon::new(ping.lat, ping.lon))
    }

    /// Resolves once the ping is durable on a quorum of its shard's group (`Ok`), or failed.
    pub async fn submit(&self, ping: LoggedPing) -> Result<(), SubmitError> {
        let shard = self.shard_of(&ping);
        let Some(batcher) = self.batchers.get(&shard) else {
            return Err(SubmitError::NotCommitted(format!(
                "this node hosts no replica of shard {shard}; send the ping to a node that does"
            )));
        };
        batcher.submit(ping).await.map_err(|e| match e {
            SubmitError::NotCommitted(why) if self.batchers.len() > 1 => {
                SubmitError::NotCommitted(format!("shard {shard}: {why}"))
            }
            e => e,
        })
    }

    /// Why a hosted group can no longer commit, if one cannot.
    pub fn node_failure(&self) -> Option<String> {
        self.batchers
            .iter()
            .find_map(|(g, b)| b.node_failure().map(|why| format!("group {g}: {why}")))
    }
}

impl From<Batcher> for ShardedBatcher {
    /// One group owning the world.
    fn from(batcher: Batcher) -> Self {
        let host = ClusterHost::single(batcher.node.clone());
        ShardedBatcher {
            shards: host.shards.clone(),
            batchers: BTreeMap::from([(batcher.node.group, batcher)]),
        }
    }
}

async fn run(
    node: Arc<ClusterNode>,
    policy: BatchPolicy,
    mut rx: mpsc::Receiver<(LoggedPing, Waiter, Instant)>,
) {
    let in_flight = Arc::new(Semaphore::new(policy.max_in_flight));
    while let Some(first) = rx.recv().await {
        let mut pings = vec![first.0];
        let mut waiters = vec![first.1];
        // The oldest ping in the batch sets when the write gives up.
        let write_deadline = first.2 + WRITE_TIMEOUT;
        let deadline = tokio::time::Instant::now() + policy.max_wait;
        while pings.len() < policy.max_pings {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((p, w, _))) => {
                    pings.push(p);
                    waiters.push(w);
                }
                _ => break,
            }
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let node = node.clone();
        tokio::spawn(async move {
            let keys: Vec<(u64, u64)> = pings.iter().map(|p| (p.device, p.seq)).collect();
            let written = if Instant::now() >= write_deadline {
                Err(ClusterError::WriteTimeout(WRITE_TIMEOUT))
            } else {
                node.write_by(&PingBatch { pings }, write_deadline).await
            };
            match written {
                Ok(receipt) => {
                    // The same (device, seq) twice in a batch meets the same state both times,
                    // so a refusal applies to every copy.
                    let refused: HashMap<(u64, u64), Refusal> = receipt
                        .refused
                        .iter()
                        .map(|r| ((r.device, r.seq), r.reason))
                        .collect();
                    for (key, w) in keys.into_iter().zip(waiters) {
                        let result = match refused.get(&key) {
                            Some(&reason) => Err(SubmitError::Refused(reason)),
                            None => Ok(()),
                        };
                        let _ = w.send(result);
                    }
                }
                Err(e) => {
                    let e = match e {
                        ClusterError::Fatal(why) => SubmitError::NodeFailed(why),
                        e => SubmitError::NotCommitted(e.to_string()),
                    };
                    for w in waiters {
                        let _ = w.send(Err(e.clone()));
                    }
                }
            }
            drop(permit);
        });
    }
}
