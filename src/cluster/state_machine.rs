//! The state machine: applies committed ping batches to the live traffic table, each
//! (device, seq) once, using ping timestamps only (never the wall clock), so every replica that
//! applies the same log holds the same table. Snapshots serialise the table and the
//! de-duplication state with rkyv. Optionally every applied observation also goes to the
//! [`ObservationLog`] (hourly Parquet files for historical profiles), off the apply path.

// openraft's traits fix `StorageError` as the error type; helpers return it unboxed too.
#![allow(clippy::result_large_err)]

use super::{BatchReceipt, NodeId, TypeConfig};
use graph::GlobalId;
use openraft::storage::RaftStateMachine;
use openraft::{
    EntryPayload, LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership,
};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use traffic::live::EdgeObservation;
use traffic::observations::ObservationLog;
use traffic::LiveTraffic;

/// Which sequence numbers of one device were applied: all up to `floor`, plus `above`.
/// Clients number pings from 1, so a retried ping is recognised even after newer ones.
#[derive(Clone, Debug, Default, PartialEq)]
struct DeviceSeqs {
    floor: u64,
    above: BTreeSet<u64>,
}

/// Above this many out-of-order sequence numbers per device, the oldest gap is given up on
/// (a retry that late is treated as a duplicate), so memory stays bounded.
const MAX_OUT_OF_ORDER: usize = 4096;

impl DeviceSeqs {
    /// Records `seq`; false if it was applied before.
    fn insert(&mut self, seq: u64) -> bool {
        if seq <= self.floor || !self.above.insert(seq) {
            return false;
        }
        while self.above.remove(&(self.floor + 1)) {
            self.floor += 1;
        }
        while self.above.len() > MAX_OUT_OF_ORDER {
            if let Some(first) = self.above.pop_first() {
                self.floor = first;
            }
            while self.above.remove(&(self.floor + 1)) {
                self.floor += 1;
            }
        }
        true
    }
}

#[derive(Default)]
struct Applied {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, openraft::BasicNode>,
    devices: HashMap<u64, DeviceSeqs>,
    pings_applied: u64,
}

/// The traffic state every replica holds; shared with the route server and the publisher.
#[derive(Default)]
pub struct TrafficState {
    pub live: LiveTraffic,
    applied: Mutex<Applied>,
}

impl TrafficState {
    pub fn last_applied(&self) -> Option<LogId<NodeId>> {
        self.lock().last_applied
    }

    pub fn pings_applied(&self) -> u64 {
        self.lock().pings_applied
    }

    /// True if `(device, seq)` has been applied.
    pub fn has_applied(&self, device: u64, seq: u64) -> bool {
        self.lock()
            .devices
            .get(&device)
            .is_some_and(|d| seq <= d.floor || d.above.contains(&seq))
    }

    /// A digest of the whole traffic state (table + de-duplication), equal on replicas that
    /// applied the same log.
    pub fn state_hash(&self) -> String {
        let mut h = Sha256::new();
        for (id, o) in self.live.entries() {
            h.update(id.pack().to_le_bytes());
            h.update(o.speed_kmh.to_le_bytes());
            h.update(o.samples.to_le_bytes());
            h.update(o.updated_ms.to_le_bytes());
        }
        let applied = self.lock();
        let mut devices: Vec<_> = applied.devices.iter().collect();
        devices.sort_by_key(|(d, _)| **d);
        for (d, s) in devices {
            h.update(d.to_le_bytes());
            h.update(s.floor.to_le_bytes());
            for x in &s.above {
                h.update(x.to_le_bytes());
            }
        }
        h.update(applied.pings_applied.to_le_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Applied> {
        self.applied.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// rkyv form of a snapshot's traffic state.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct SnapshotPayload {
    /// `(edge, speed, samples, updated_ms)`
    edges: Vec<(u64, f32, u32, i64)>,
    /// `(device, floor, out-of-order seqs)`
    devices: Vec<(u64, u64, Vec<u64>)>,
    pings_applied: u64,
}

type Meta = SnapshotMeta<NodeId, openraft::BasicNode>;
/// The latest snapshot: its meta and rkyv bytes.
type CurrentSnapshot = Arc<Mutex<Option<(Meta, Vec<u8>)>>>;

pub struct StateMachine {
    pub state: Arc<TrafficState>,
    /// Where the latest snapshot is kept (`snapshot.bin` + `snapshot.json`).
    dir: PathBuf,
    /// The latest snapshot, shared with the snapshot builders this machine hands out: a snapshot
    /// a builder made is the one the leader sends to a follower behind its purged log.
    current: CurrentSnapshot,
    snapshot_seq: u64,
    observations: Option<Arc<ObservationLog>>,
}

const SNAPSHOT_DATA: &str = "snapshot.bin";
const SNAPSHOT_META: &str = "snapshot.json";

impl StateMachine {
    /// Opens the state machine in `dir`, restoring the last snapshot if there is one (the log
    /// then replays what came after it).
    pub fn open(
        dir: impl Into<PathBuf>,
        state: Arc<TrafficState>,
    ) -> Result<Self, StorageError<NodeId>> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        let sm = StateMachine {
            state,
            dir,
            current: Arc::default(),
            snapshot_seq: 0,
            observations: None,
        };
        let meta_path = sm.dir.join(SNAPSHOT_META);
        if meta_path.exists() {
            let read =
                |p: &Path| std::fs::read(p).map_err(|e| StorageIOError::read_snapshot(None, &e));
            let meta: SnapshotMeta<NodeId, openraft::BasicNode> =
                serde_json::from_slice(&read(&meta_path)?)
                    .map_err(|e| StorageIOError::read_snapshot(None, &std::io::Error::other(e)))?;
            let bytes = read(&sm.dir.join(SNAPSHOT_DATA))?;
            sm.decode_into(&meta, &bytes)?;
            *sm.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((meta, bytes));
        }
        Ok(sm)
    }

    /// Also records every applied observation into `log`.
    pub fn with_observations(mut self, log: Arc<ObservationLog>) -> Self {
        self.observations = Some(log);
        self
    }

    /// Makes `meta`/`bytes` the current snapshot, on disk and in memory, unless a newer one is
    /// already current (a builder and an install may finish in either order). The lock also
    /// keeps two writers off the same files.
    fn keep(&self, meta: &Meta, bytes: &[u8]) -> Result<(), StorageError<NodeId>> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current
            .as_ref()
            .is_some_and(|(c, _)| c.last_log_id > meta.last_log_id)
        {
            return Ok(());
        }
        self.persist(meta, bytes)?;
        *current = Some((meta.clone(), bytes.to_vec()));
        Ok(())
    }

    /// Writes the snapshot crash-safely: data then meta, each via a synced temp file and rename.
    fn persist(
        &self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        bytes: &[u8],
    ) -> Result<(), StorageError<NodeId>> {
        let err = |e: std::io::Error| {
            StorageError::from(StorageIOError::write_snapshot(Some(meta.signature()), &e))
        };
        let meta_json = serde_json::to_vec(meta).map_err(|e| err(std::io::Error::other(e)))?;
        write_synced(&self.dir, SNAPSHOT_DATA, bytes).map_err(err)?;
        write_synced(&self.dir, SNAPSHOT_META, &meta_json).map_err(err)?;
        Ok(())
    }

    fn encode(&self) -> Result<(Meta, Vec<u8>), StorageError<NodeId>> {
        let applied = self.state.lock();
        let payload = SnapshotPayload {
            edges: self
                .state
                .live
                .entries()
                .into_iter()
                .map(|(id, o)| (id.pack(), o.speed_kmh, o.samples, o.updated_ms))
                .collect(),
            devices: applied
                .devices
                .iter()
                .map(|(d, s)| (*d, s.floor, s.above.iter().copied().collect()))
                .collect(),
            pings_applied: applied.pings_applied,
        };
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&payload).map_err(|e| {
            StorageIOError::write_snapshot(None, &std::io::Error::other(e.to_string()))
        })?;
        let meta = SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.membership.clone(),
            snapshot_id: format!(
                "{}-{}",
                applied.last_applied.map(|l| l.index).unwrap_or(0),
                self.snapshot_seq
            ),
        };
        Ok((meta, bytes.to_vec()))
    }

    fn decode_into(
        &self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        bytes: &[u8],
    ) -> Result<(), StorageError<NodeId>> {
        let mut aligned = rkyv::util::AlignedVec::<16>::new();
        aligned.extend_from_slice(bytes);
        let payload =
            rkyv::from_bytes::<SnapshotPayload, rkyv::rancor::Error>(&aligned).map_err(|e| {
                StorageIOError::read_snapshot(
                    Some(meta.signature()),
                    &std::io::Error::other(e.to_string()),
                )
            })?;
        let live = LiveTraffic::new();
        for (id, speed_kmh, samples, updated_ms) in payload.edges {
            live.restore(
                GlobalId::unpack(id),
                EdgeObservation {
                    speed_kmh,
                    samples,
                    updated_ms,
                },
            );
        }
        let mut applied = self.state.lock();
        self.state.live.replace_with(live);
        applied.devices = payload
            .devices
            .into_iter()
            .map(|(d, floor, above)| {
                (
                    d,
                    DeviceSeqs {
                        floor,
                        above: above.into_iter().collect(),
                    },
                )
            })
            .collect();
        applied.pings_applied = payload.pings_applied;
        applied.last_applied = meta.last_log_id;
        applied.membership = meta.last_membership.clone();
        Ok(())
    }
}

/// Replaces `dir/name` atomically and durably.
fn write_synced(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        self.snapshot_seq += 1;
        let (meta, bytes) = self.encode()?;
        if let Some(log) = &self.observations {
            // Rows of every entry this snapshot covers were queued before `encode` read the
            // state; once flushed, purging the log behind the snapshot loses none of them. A
            // failing analytics writer must not stop consensus, so it is reported, not fatal.
            if let Err(e) = log.flush_async().await {
                eprintln!("meridian: observation log flush before snapshot failed: {e}");
            }
        }
        self.keep(&meta, &bytes)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<
        (
            Option<LogId<NodeId>>,
            StoredMembership<NodeId, openraft::BasicNode>,
        ),
        StorageError<NodeId>,
    > {
        let a = self.state.lock();
        Ok((a.last_applied, a.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<BatchReceipt>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = openraft::Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut receipts = Vec::new();
        let mut applied = self.state.lock();
        for entry in entries {
            applied.last_applied = Some(entry.log_id);
            let mut receipt = BatchReceipt::default();
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Membership(m) => {
                    applied.membership = StoredMembership::new(Some(entry.log_id), m);
                }
                EntryPayload::Normal(batch) => {
                    let mut observed = Vec::new();
                    for p in batch.pings {
                        if !applied.devices.entry(p.device).or_default().insert(p.seq) {
                            receipt.duplicates += 1;
                            continue;
                        }
                        receipt.applied += 1;
                        applied.pings_applied += 1;
                        if let (Some((tile, local)), Some(speed)) = (p.edge, p.speed_kmh) {
                            let id = GlobalId::new(tile, local);
                            self.state.live.observe(id, speed, p.ts_ms);
                            if self.observations.is_some() {
                                observed.push((id.pack(), p.ts_ms, speed));
                            }
                        }
                    }
                    if let Some(log) = &self.observations {
                        log.record(entry.log_id.index, observed);
                    }
                }
            }
            receipts.push(receipt);
        }
        Ok(receipts)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        StateMachine {
            state: self.state.clone(),
            dir: self.dir.clone(),
            current: self.current.clone(),
            snapshot_seq: self.snapshot_seq + 1,
            observations: self.observations.clone(),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let bytes = snapshot.into_inner();
        self.decode_into(meta, &bytes)?;
        self.keep(meta, &bytes)?;
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let current = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Ok(current.map(|(meta, bytes)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retried_sequence_numbers_are_recognised_even_out_of_order() {
        let mut d = DeviceSeqs::default();
        assert!(d.insert(1));
        assert!(d.insert(3));
        assert!(!d.insert(1));
        assert!(!d.insert(3));
        assert!(d.insert(2));
        assert_eq!(d.floor, 3);
        assert!(d.above.is_empty());
        assert!(!d.insert(2));
    }
}
