//! The state machine: applies committed ping batches to the live traffic table, each
//! (device, seq) once (exact de-duplication, see [`super::dedup`]), using ping timestamps only
//! (never the wall clock), so every replica that applies the same log holds the same table. A
//! ping it refuses is listed in the batch's receipt, so it is not acked. Snapshots serialise the
//! table and the de-duplication state with rkyv, behind a version header. Optionally every applied observation also goes to the
//! [`ObservationLog`] (hourly Parquet files for historical profiles), off the apply path.

// openraft's traits fix `StorageError` as the error type; helpers return it unboxed too.
#![allow(clippy::result_large_err)]

use super::dedup::{Dedup, DeviceParts, Outcome};
use super::{BatchReceipt, NodeId, RefusedPing, TypeConfig};
use graph::GlobalId;
use openraft::storage::RaftStateMachine;
use openraft::{
    EntryPayload, LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership,
};
use sha2::{Digest, Sha256};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use traffic::live::EdgeObservation;
use traffic::observations::ObservationLog;
use traffic::LiveTraffic;

#[derive(Default)]
struct Applied {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, openraft::BasicNode>,
    devices: Dedup,
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
        self.lock().devices.contains(device, seq)
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
        h.update(applied.devices.clock_ms().to_le_bytes());
        for (d, s) in applied.devices.sorted() {
            h.update(d.to_le_bytes());
            h.update(s.newest_ts().to_le_bytes());
            h.update((s.ranges().len() as u64).to_le_bytes());
            for (a, b) in s.ranges() {
                h.update(a.to_le_bytes());
                h.update(b.to_le_bytes());
            }
        }
        h.update(applied.pings_applied.to_le_bytes());
        graph::store::hex(&h.finalize())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Applied> {
        self.applied.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// rkyv form of a snapshot's traffic state, version 2: `SNAPSHOT_V2_MAGIC` then these bytes.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct SnapshotPayload {
    /// `(edge, speed, samples, updated_ms)`
    edges: Vec<(u64, f32, u32, i64)>,
    /// `(device, newest ping ts, applied seq ranges)`, by device id.
    devices: Vec<DeviceParts>,
    /// The log clock of [`Dedup`].
    clock_ms: i64,
    pings_applied: u64,
}

/// The first snapshot form (no header), still read so nodes keep their snapshots on upgrade.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct SnapshotPayloadV1 {
    edges: Vec<(u64, f32, u32, i64)>,
    /// `(device, floor, out-of-order seqs)`
    devices: Vec<(u64, u64, Vec<u64>)>,
    pings_applied: u64,
}

/// Starts a version-2 snapshot (8 bytes, so the rkyv bytes after it stay 8-aligned).
const SNAPSHOT_V2_MAGIC: &[u8; 8] = b"MRDNSNP2";

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
                .sorted()
                .into_iter()
                .map(|(d, s)| (d, s.newest_ts(), s.ranges().to_vec()))
                .collect(),
            clock_ms: applied.devices.clock_ms(),
            pings_applied: applied.pings_applied,
        };
        let body = rkyv::to_bytes::<rkyv::rancor::Error>(&payload).map_err(|e| {
            StorageIOError::write_snapshot(None, &std::io::Error::other(e.to_string()))
        })?;
        let mut bytes = Vec::with_capacity(SNAPSHOT_V2_MAGIC.len() + body.len());
        bytes.extend_from_slice(SNAPSHOT_V2_MAGIC);
        bytes.extend_from_slice(&body);
        let meta = SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.membership.clone(),
            snapshot_id: format!(
                "{}-{}",
                applied.last_applied.map(|l| l.index).unwrap_or(0),
                self.snapshot_seq
            ),
        };
        Ok((meta, bytes))
    }

    fn decode_into(
        &self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        bytes: &[u8],
    ) -> Result<(), StorageError<NodeId>> {
        let payload = decode_payload(bytes).map_err(|e| {
            StorageIOError::read_snapshot(Some(meta.signature()), &std::io::Error::other(e))
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
        applied.devices = Dedup::restore(payload.clock_ms, payload.devices);
        applied.pings_applied = payload.pings_applied;
        applied.last_applied = meta.last_log_id;
        applied.membership = meta.last_membership.clone();
        Ok(())
    }
}

/// Reads a snapshot of either version.
fn decode_payload(bytes: &[u8]) -> Result<SnapshotPayload, String> {
    let mut aligned = rkyv::util::AlignedVec::<16>::new();
    if let Some(body) = bytes.strip_prefix(SNAPSHOT_V2_MAGIC.as_slice()) {
        aligned.extend_from_slice(body);
        return rkyv::from_bytes::<SnapshotPayload, rkyv::rancor::Error>(&aligned)
            .map_err(|e| e.to_string());
    }
    aligned.extend_from_slice(bytes);
    let old = rkyv::from_bytes::<SnapshotPayloadV1, rkyv::rancor::Error>(&aligned)
        .map_err(|e| e.to_string())?;
    Ok(upgrade_v1(old))
}

/// A version-1 snapshot in today's form: `floor` becomes the range `1..=floor` (a floor the old
/// window had pushed past a gap stays as it was: that loss predates the upgrade). V1 kept no ping
/// times, so the log clock is the newest edge update (those are ping times) and every device
/// counts as seen then: it is kept for a full [`super::dedup::RETAIN_MS`] after the upgrade.
fn upgrade_v1(old: SnapshotPayloadV1) -> SnapshotPayload {
    let clock_ms = old.edges.iter().map(|e| e.3).max().unwrap_or(i64::MIN);
    let devices = old
        .devices
        .into_iter()
        .map(|(d, floor, above)| {
            let mut ranges: Vec<(u64, u64)> = above.into_iter().map(|s| (s, s)).collect();
            if floor > 0 {
                ranges.push((1, floor));
            }
            (d, clock_ms, ranges)
        })
        .collect();
    SnapshotPayload {
        edges: old.edges,
        devices,
        clock_ms,
        pings_applied: old.pings_applied,
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
                        match applied.devices.record(p.device, p.seq, p.ts_ms) {
                            Outcome::Applied => {}
                            Outcome::Duplicate => {
                                receipt.duplicates += 1;
                                continue;
                            }
                            Outcome::Refused(reason) => {
                                receipt.refused.push(RefusedPing {
                                    device: p.device,
                                    seq: p.seq,
                                    reason,
                                });
                                continue;
                            }
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
#[path = "state_machine_properties.rs"]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LoggedPing, PingBatch};
    use openraft::{CommittedLeaderId, Entry};

    const T0: i64 = 1_800_000_000_000;

    fn ping(device: u64, seq: u64, ts_ms: i64) -> LoggedPing {
        LoggedPing {
            device,
            seq,
            ts_ms,
            lat: 47.14,
            lon: 9.52,
            edge: Some((0, (seq % 5) as u32)),
            speed_kmh: Some(30.0),
        }
    }

    fn entry(index: u64, pings: Vec<LoggedPing>) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(PingBatch { pings }),
        }
    }

    fn machine(dir: &Path) -> StateMachine {
        StateMachine::open(dir, Arc::new(TrafficState::default())).unwrap()
    }

    #[tokio::test]
    async fn a_late_ping_is_applied_and_the_state_survives_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let mut sm = machine(dir.path());
        let stream: Vec<LoggedPing> = (2..=4098).map(|s| ping(9, s, T0 + s as i64)).collect();
        let r = sm.apply([entry(1, stream)]).await.unwrap();
        assert_eq!((r[0].applied, r[0].duplicates), (4097, 0));
        let r = sm.apply([entry(2, vec![ping(9, 1, T0)])]).await.unwrap();
        assert_eq!((r[0].applied, r[0].duplicates), (1, 0), "{r:?}");
        assert_eq!(sm.state.pings_applied(), 4098);
        let r = sm.apply([entry(3, vec![ping(9, 1, T0)])]).await.unwrap();
        assert_eq!((r[0].applied, r[0].duplicates), (0, 1));

        let hash = sm.state.state_hash();
        let mut builder = sm.get_snapshot_builder().await;
        builder.build_snapshot().await.unwrap();
        drop(sm);
        let mut back = machine(dir.path());
        assert_eq!(back.state.state_hash(), hash);
        assert!((1..=4098).all(|s| back.state.has_applied(9, s)));
        // The log clock came back too: a ping far behind it is refused, not applied or acked.
        let old = T0 - super::super::dedup::RETAIN_MS;
        let r = back
            .apply([entry(4, vec![ping(10, 1, old)])])
            .await
            .unwrap();
        assert_eq!(r[0].applied, 0);
        assert_eq!(
            r[0].refused,
            vec![RefusedPing {
                device: 10,
                seq: 1,
                reason: super::super::dedup::Refusal::TooOld
            }]
        );
        assert!(!back.state.has_applied(10, 1));
    }

    #[tokio::test]
    async fn a_version_1_snapshot_still_opens() {
        let v1 = SnapshotPayloadV1 {
            edges: vec![(GlobalId::new(0, 3).pack(), 31.0, 2, T0 + 50)],
            devices: vec![(4, 10, vec![12, 13, 20])],
            pings_applied: 13,
        };
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&v1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut sm = machine(dir.path());
        let meta = Meta {
            last_log_id: Some(LogId::new(CommittedLeaderId::new(1, 1), 7)),
            last_membership: StoredMembership::default(),
            snapshot_id: "7-1".into(),
        };
        sm.install_snapshot(&meta, Box::new(Cursor::new(bytes.to_vec())))
            .await
            .unwrap();
        let s = &sm.state;
        assert_eq!(s.pings_applied(), 13);
        assert_eq!(s.live.len(), 1);
        let applied: Vec<u64> = (1..=25).filter(|&q| s.has_applied(4, q)).collect();
        assert_eq!(applied, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 20]);
        // Seq 11 was never applied: it is applied now, and 12 is a duplicate.
        let r = sm
            .apply([entry(8, vec![ping(4, 11, T0), ping(4, 12, T0)])])
            .await
            .unwrap();
        assert_eq!((r[0].applied, r[0].duplicates), (1, 1));
        // Damaged bytes are an error, not a panic.
        let broken = sm
            .install_snapshot(&meta, Box::new(Cursor::new(b"MRDNSNP2junk".to_vec())))
            .await;
        assert!(broken.is_err());
    }
}
