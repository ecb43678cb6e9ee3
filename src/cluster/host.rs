//! The groups one process hosts: a member of each shard's Raft group, each with its own durable
//! log, state machine, snapshots and observations under the process's data directory, all
//! sharing the process's node id, address and RPC endpoint.
//!
//! Group 0 keeps its data in the data directory itself (where an unsharded node always kept
//! it), group `g` in `<data_dir>/group-<g>`.

use super::node::{ClusterError, ClusterNode, ClusterStatus, NodeConfig};
use super::shards::{ShardId, ShardMap};
use super::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct ClusterHost {
    pub id: NodeId,
    pub shards: Arc<ShardMap>,
    groups: BTreeMap<ShardId, Arc<ClusterNode>>,
}

/// What `GET /cluster` shows: the process and every group it hosts.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HostStatus {
    pub id: NodeId,
    pub shard_map_version: u64,
    pub groups: Vec<ClusterStatus>,
}

/// Where group `group`'s data lives under a process's data directory.
pub fn group_data_dir(data_dir: &Path, group: ShardId) -> PathBuf {
    match group {
        0 => data_dir.to_path_buf(),
        g => data_dir.join(format!("group-{g}")),
    }
}

impl ClusterHost {
    /// Starts a member of every shard's group of `shards`, one after the other (a failure of
    /// any, e.g. a damaged log, stops the start: the process must not serve half its groups).
    pub async fn start(cfg: NodeConfig, shards: ShardMap) -> Result<ClusterHost, ClusterError> {
        let mut groups = BTreeMap::new();
        for group in shards.ids() {
            let cfg = NodeConfig {
                data_dir: group_data_dir(&cfg.data_dir, group),
                ..cfg.clone()
            };
            let node = ClusterNode::start_group(cfg, group).await?;
            groups.insert(group, Arc::new(node));
        }
        Ok(ClusterHost {
            id: cfg.id,
            shards: Arc::new(shards),
            groups,
        })
    }

    /// A process hosting one group that owns the world (an unsharded cluster).
    pub fn single(node: Arc<ClusterNode>) -> Arc<ClusterHost> {
        let mut shards = ShardMap::single();
        if node.group != 0 {
            shards = ShardMap::new(
                1,
                vec![super::shards::Shard {
                    id: node.group,
                    prefixes: vec![String::new()],
                }],
            )
            .expect("one shard owning the empty prefix is a valid map");
        }
        Arc::new(ClusterHost {
            id: node.id,
            shards: Arc::new(shards),
            groups: BTreeMap::from([(node.group, node)]),
        })
    }

    pub fn group(&self, id: ShardId) -> Option<&Arc<ClusterNode>> {
        self.groups.get(&id)
    }

    /// The hosted groups, by id.
    pub fn groups(&self) -> impl Iterator<Item = &Arc<ClusterNode>> {
        self.groups.values()
    }

    /// The first hosted group (the only one of an unsharded process).
    pub fn first(&self) -> &Arc<ClusterNode> {
        self.groups
            .values()
            .next()
            .expect("a host has at least one group (a shard map lists one)")
    }

    /// Why this process cannot commit in some group, if a group's Raft core stopped.
    pub fn fatal(&self) -> Option<String> {
        self.groups
            .values()
            .find_map(|n| n.fatal().map(|why| format!("group {}: {why}", n.group)))
    }

    /// Makes every hosted group a fresh group of `members`; call on one process only, once.
    pub async fn initialize(&self, members: BTreeMap<NodeId, String>) -> Result<(), ClusterError> {
        for node in self.groups.values() {
            node.initialize(members.clone()).await?;
        }
        Ok(())
    }

    pub fn status(&self) -> HostStatus {
        HostStatus {
            id: self.id,
            shard_map_version: self.shards.version,
            groups: self.groups.values().map(|n| n.status()).collect(),
        }
    }

    /// The cluster secret (every group has the same).
    pub fn secret(&self) -> Arc<str> {
        self.first().secret()
    }
}
