//! Group commit for pings: pings from every connection of a node are gathered into one Raft
//! entry (up to a size, or a few milliseconds), several entries may be in flight at once, and
//! each ping's submitter hears back only when its entry is committed by a quorum.

use super::node::ClusterNode;
use super::{LoggedPing, PingBatch};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};

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

type Waiter = oneshot::Sender<Result<(), String>>;

/// Handle to a node's batcher; cheap to clone.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<(LoggedPing, Waiter)>,
}

impl Batcher {
    pub fn start(node: Arc<ClusterNode>, policy: BatchPolicy) -> Batcher {
        let (tx, rx) = mpsc::channel(policy.max_pings * 4);
        tokio::spawn(run(node, policy, rx));
        Batcher { tx }
    }

    /// Resolves once the ping is durable on a quorum (`Ok`), or the write failed for good.
    pub async fn submit(&self, ping: LoggedPing) -> Result<(), String> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((ping, done))
            .await
            .map_err(|_| "the batcher has stopped".to_string())?;
        wait.await
            .map_err(|_| "the batcher dropped the ping".to_string())?
    }
}

async fn run(
    node: Arc<ClusterNode>,
    policy: BatchPolicy,
    mut rx: mpsc::Receiver<(LoggedPing, Waiter)>,
) {
    let in_flight = Arc::new(Semaphore::new(policy.max_in_flight));
    while let Some(first) = rx.recv().await {
        let mut pings = vec![first.0];
        let mut waiters = vec![first.1];
        let deadline = tokio::time::Instant::now() + policy.max_wait;
        while pings.len() < policy.max_pings {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((p, w))) => {
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
            let result = node
                .write(&PingBatch { pings })
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            for w in waiters {
                let _ = w.send(result.clone());
            }
            drop(permit);
        });
    }
}
