//! The replicated ingest log: one openraft group (3+ nodes) per shard of the map, whose entries
//! are batches of matched pings. A batch is acknowledged to its clients only after a quorum has it durably; every
//! replica applies the same batches in the same order to its traffic table, so any node can serve
//! routes on live traffic and any single node can crash without losing an acknowledged ping.
//!
//! [`log_store`] is the durable log (fsync before openraft hears "flushed"), [`state_machine`]
//! applies batches to [`traffic::LiveTraffic`] once per (device, seq) (the rules are in
//! [`dedup`]), [`network`] carries
//! Raft RPCs over HTTP with a cluster secret, [`node`] runs one member of one group, [`host`]
//! the members one process hosts (one per shard of the [`shards`] map) and [`admin_api`] their
//! `/cluster` routes, [`admin_client`] forms a group over them (voters and learners);
//! [`batcher`] groups pings into entries, per shard.

pub mod admin_api;
pub mod admin_client;
pub mod batcher;
pub mod dedup;
pub mod host;
pub mod latency;
pub mod log_store;
pub mod network;
pub mod node;
pub mod shards;
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
///
/// On the wire and in the log (both JSON envelopes, as openraft's types are serde) a batch is
/// `{"packed": "<base64>"}`: the pings in a fixed 53-byte little-endian layout (see
/// [`pack_pings`]). Writing every ping's fields as JSON numbers cost more CPU than anything else
/// on the ingest path, since each ping is encoded and decoded in the log, the RPC to each follower
/// and the followers' logs. The older `{"pings": [...]}` form is still read, so existing logs
/// open.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PingBatch {
    pub pings: Vec<LoggedPing>,
}

/// Bytes of one packed ping.
pub const PACKED_PING_BYTES: usize = 53;
const HAS_EDGE: u8 = 1;
const HAS_SPEED: u8 = 2;

/// Packs pings as `device u64, seq u64, ts_ms i64, lat f64, lon f64, flags u8, edge tile u32,
/// edge local u32, speed f32`, little endian; absent fields are zero with their flag clear.
pub fn pack_pings(pings: &[LoggedPing]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pings.len() * PACKED_PING_BYTES);
    for p in pings {
        out.extend_from_slice(&p.device.to_le_bytes());
        out.extend_from_slice(&p.seq.to_le_bytes());
        out.extend_from_slice(&p.ts_ms.to_le_bytes());
        out.extend_from_slice(&p.lat.to_le_bytes());
        out.extend_from_slice(&p.lon.to_le_bytes());
        let flags = if p.edge.is_some() { HAS_EDGE } else { 0 }
            | if p.speed_kmh.is_some() { HAS_SPEED } else { 0 };
        out.push(flags);
        let (tile, local) = p.edge.unwrap_or((0, 0));
        out.extend_from_slice(&tile.to_le_bytes());
        out.extend_from_slice(&local.to_le_bytes());
        out.extend_from_slice(&p.speed_kmh.unwrap_or(0.0).to_le_bytes());
    }
    out
}

/// Inverse of [`pack_pings`]; `None` if the length is not a whole number of pings.
pub fn unpack_pings(bytes: &[u8]) -> Option<Vec<LoggedPing>> {
    if bytes.len() % PACKED_PING_BYTES != 0 {
        return None;
    }
    let u64_at = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or([0; 4]));
    let pings = bytes
        .chunks_exact(PACKED_PING_BYTES)
        .map(|b| {
            let flags = b[40];
            LoggedPing {
                device: u64_at(b, 0),
                seq: u64_at(b, 8),
                ts_ms: u64_at(b, 16) as i64,
                lat: f64::from_bits(u64_at(b, 24)),
                lon: f64::from_bits(u64_at(b, 32)),
                edge: (flags & HAS_EDGE != 0).then(|| (u32_at(b, 41), u32_at(b, 45))),
                speed_kmh: (flags & HAS_SPEED != 0).then(|| f32::from_bits(u32_at(b, 49))),
            }
        })
        .collect();
    Some(pings)
}

/// The serde forms of a [`PingBatch`]: packed (written) or a plain list (read, for old logs).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum PingBatchWire {
    Packed { packed: String },
    Plain { pings: Vec<LoggedPing> },
}

impl Serialize for PingBatch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        let packed = base64::engine::general_purpose::STANDARD.encode(pack_pings(&self.pings));
        PingBatchWire::Packed { packed }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PingBatch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        use serde::de::Error;
        match PingBatchWire::deserialize(deserializer)? {
            PingBatchWire::Plain { pings } => Ok(PingBatch { pings }),
            PingBatchWire::Packed { packed } => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(packed.as_bytes())
                    .map_err(D::Error::custom)?;
                let pings = unpack_pings(&bytes).ok_or_else(|| {
                    D::Error::custom(format!(
                        "packed ping batch of {} bytes is not a multiple of {PACKED_PING_BYTES}",
                        bytes.len()
                    ))
                })?;
                Ok(PingBatch { pings })
            }
        }
    }
}

/// What applying a batch did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchReceipt {
    pub applied: u32,
    /// Pings already applied earlier (a client's retry): counted, not applied again.
    pub duplicates: u32,
    /// Pings the state machine refused (neither applied nor to be acked); usually none.
    /// Defaults to empty, so a receipt from a node without this field still reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedPing>,
}

/// A ping of a batch that was not applied, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefusedPing {
    pub device: u64,
    pub seq: u64,
    pub reason: dedup::Refusal,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ping(i: u64, edge: bool, speed: bool) -> LoggedPing {
        LoggedPing {
            device: u64::MAX - i,
            seq: i,
            ts_ms: 1_700_000_000_000 + i as i64,
            lat: 41.15 + i as f64 * 1e-7,
            lon: -8.61 - i as f64 * 3e-7,
            edge: edge.then_some((i as u32, u32::MAX - i as u32)),
            speed_kmh: speed.then_some(12.5 + i as f32),
        }
    }

    #[test]
    fn packed_batches_round_trip_exactly() {
        let pings: Vec<LoggedPing> = (0..40).map(|i| ping(i, i % 2 == 0, i % 3 == 0)).collect();
        let batch = PingBatch { pings };
        let json = serde_json::to_string(&batch).unwrap();
        assert!(json.starts_with("{\"packed\":\""), "{json}");
        let back: PingBatch = serde_json::from_str(&json).unwrap();
        assert_eq!(back, batch);
        assert_eq!(pack_pings(&batch.pings).len(), 40 * PACKED_PING_BYTES);
    }

    #[test]
    fn plain_batches_of_older_logs_are_read() {
        let batch = PingBatch {
            pings: vec![ping(1, true, false), ping(2, false, true)],
        };
        let plain = serde_json::json!({ "pings": batch.pings }).to_string();
        assert_eq!(serde_json::from_str::<PingBatch>(&plain).unwrap(), batch);
    }

    #[test]
    fn damaged_packed_batches_are_errors() {
        assert!(serde_json::from_str::<PingBatch>(r#"{"packed":"not base64!"}"#).is_err());
        // 3 bytes: not a whole ping.
        assert!(serde_json::from_str::<PingBatch>(r#"{"packed":"AAAA"}"#).is_err());
    }
}
