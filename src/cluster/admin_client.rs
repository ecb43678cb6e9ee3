//! Forming a group over HTTP, as an operator would with curl and as `meridian up` does: the
//! group is initialised on one of its voters with the voters as members, then every other
//! process is added as a learner through the group's leader. A learner receives and applies
//! the group's log (so its routes see that shard's traffic) without voting: the group's quorum
//! lives on its voters only.

use super::network::SECRET_HEADER;
use super::shards::ShardId;
use super::NodeId;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("group {group}: {message}")]
    Failed { group: ShardId, message: String },
    #[error("group {group}: {what} did not happen within {timeout:?}")]
    Timeout {
        group: ShardId,
        what: &'static str,
        timeout: Duration,
    },
}

/// What [`form_group`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Formed {
    Initialised,
    /// Initialised on an earlier start: its members recovered it from their logs.
    AlreadyInitialised,
}

/// Initialises `group` with `voters` (id and address; the first one receives the call and
/// usually becomes the first leader) and adds `learners` through its leader. A group already
/// initialised is left as it is.
pub async fn form_group(
    client: &reqwest::Client,
    secret: &str,
    group: ShardId,
    voters: &[(NodeId, String)],
    learners: &[(NodeId, String)],
    timeout: Duration,
) -> Result<Formed, AdminError> {
    let failed = |message: String| AdminError::Failed { group, message };
    let Some((_, first)) = voters.first() else {
        return Err(failed("no voters".into()));
    };
    let members: BTreeMap<NodeId, &String> = voters.iter().map(|(id, a)| (*id, a)).collect();
    let init = client
        .post(format!("http://{first}/cluster/{group}/init"))
        .header(SECRET_HEADER, secret)
        .json(&json!({ "members": members }))
        .send()
        .await
        .map_err(|e| failed(format!("init on {first}: {e}")))?;
    if init.status() == reqwest::StatusCode::CONFLICT {
        return Ok(Formed::AlreadyInitialised);
    }
    if !init.status().is_success() {
        let status = init.status();
        let body = init.text().await.unwrap_or_default();
        return Err(failed(format!("init on {first}: {status} {body}")));
    }
    let deadline = Instant::now() + timeout;
    for (id, addr) in learners {
        loop {
            let added = match leader_of(client, first, group).await {
                Some(leader) => client
                    .post(format!("http://{leader}/cluster/{group}/learner"))
                    .header(SECRET_HEADER, secret)
                    .json(&json!({ "id": id, "addr": addr }))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success()),
                None => false,
            };
            if added {
                break;
            }
            if Instant::now() > deadline {
                return Err(AdminError::Timeout {
                    group,
                    what: "adding the learners",
                    timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(Formed::Initialised)
}

/// The address of `group`'s leader as the node at `addr` knows it.
async fn leader_of(client: &reqwest::Client, addr: &str, group: ShardId) -> Option<String> {
    let status: Value = client
        .get(format!("http://{addr}/cluster/{group}"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let leader = status["leader"].as_u64()?;
    status["members"][leader.to_string()]
        .as_str()
        .map(str::to_string)
}

/// The voters of shard `group` when `nodes` processes (ids 1..=nodes) host every group and
/// each group has `replicas` voters: consecutive ids starting at `group % nodes + 1`, so the
/// groups' quorums (and first leaders) spread over the processes.
pub fn spread_voters(group: ShardId, nodes: u64, replicas: u64) -> Vec<NodeId> {
    let replicas = replicas.clamp(1, nodes.max(1));
    (0..replicas)
        .map(|k| (u64::from(group) + k) % nodes + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::spread_voters;

    #[test]
    fn voters_spread_round_robin() {
        assert_eq!(spread_voters(0, 3, 3), vec![1, 2, 3]);
        assert_eq!(spread_voters(1, 3, 3), vec![2, 3, 1]);
        assert_eq!(spread_voters(0, 4, 3), vec![1, 2, 3]);
        assert_eq!(spread_voters(1, 4, 3), vec![2, 3, 4]);
        assert_eq!(spread_voters(3, 4, 3), vec![4, 1, 2]);
        assert_eq!(spread_voters(0, 2, 3), vec![1, 2]);
    }
}
