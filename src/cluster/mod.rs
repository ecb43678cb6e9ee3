//! The replicated ingest log: an openraft group (3+ nodes) whose entries are batches of matched
//! pings. A batch is acknowledged to its clients only after a quorum has it durably; every
//! replica applies the same batches in the same order to its traffic table, so any node can serve
//! routes on live traffic and any single node can crash without losing an acknowledged ping.
//!
//! [`log_store`] is the durable log (fsync before openraft hears "flushed"), [`state_machine`]
//! applies batches to [`crate::traffic::LiveTraffic`] once per (device, seq), [`network`] carries
//! Raft RPCs over HTTP with a cluster secret, [`node`] runs one member.

pub mod batcher;
pub mod log_store;
pub mod network;
pub mod node;
pub mod state_machine;

use serde::{Deserialize, Serialize};
use std::io::Cursor;

/// One ping as it enters the log: the raw fix plus what the ingesting node matched it to, so
/// `apply` on every replica is a cheap deterministic aggregation (matching runs once).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoggedPing {
    pub device: u64,
    pub seq: u64,
    pub ts_ms: i64,
    pub lat: f64,
    pub lon: f64,
    /// Matched directed edge `(tile, local)`, if the ping was near a road.
    pub edge: Option<(u32, u32)>,
    pub speed_kmh: Option<f32>,
}

/// The payload of one Raft entry: pings from any number of connections, batched by size and a
/// few milliseconds of time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PingBatch {
    pub pings: Vec<LoggedPing>,
}

/// What applying a batch did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchReceipt {
    pub applied: u32,
    /// Pings already applied earlier (a client's retry): counted, not applied again.
    pub duplicates: u32,
}

openraft::declare_raft_types!(
    /// Meridian's Raft types: ping batches in, receipts out, u64 node ids, HTTP addresses.
    pub TypeConfig:
        D = PingBatch,
        R = BatchReceipt,
        NodeId = u64,
        Node = openraft::BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type NodeId = u64;
pub type Raft = openraft::Raft<TypeConfig>;
