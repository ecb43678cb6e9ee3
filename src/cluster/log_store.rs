//! Durable, file-based Raft log store for the GPS-ping ingest cluster.
//!
//! [`FileLogStore`] implements openraft 0.9's storage-v2 traits ([`RaftLogReader`] and
//! [`RaftLogStorage`]), generic over the Raft type config. It owns everything openraft asks a
//! log store to keep: the entries, the vote, the committed log id and the last purged log id.
//!
//! # On-disk format
//!
//! The store directory holds the log, `raft-log.dat`, and its synced mark, `raft-log.synced`
//! (how many bytes of the log a completed sync covered; see recovery). The log:
//!
//! ```text
//! "MRDRLOG1"                                  8-byte magic, identifies format version 1
//! record*                                     zero or more records, back to back
//!
//! record  = [u32 LE len][u32 LE crc32(payload)][payload: `len` bytes]
//! payload = serde_json of one of
//!           {"Entry": <C::Entry>}             a log entry (its index is inside the entry)
//!           {"Truncate": {"since": u64}}      entries with index >= since are gone
//!           {"Purge": {"upto": LogId}}        entries with index <= upto.index are gone;
//!                                             upto becomes last_purged_log_id
//!           {"Vote": Vote}                    latest vote (last record wins)
//!           {"Committed": LogId|null}         latest committed log id (last record wins)
//! ```
//!
//! The state is what you get by replaying the records in order. Keeping vote, committed and
//! purge state in the same append-only file (rather than in side files) means every write goes
//! through one FIFO and one `fdatasync`, so openraft's rule that all log and vote IO is applied in
//! submission order holds trivially, and group commit covers votes too.
//!
//! Dead bytes (purged, truncated or superseded records) are reclaimed by compaction: the live
//! state is written to `raft-log.compact`, which is fsynced and then renamed over
//! `raft-log.dat`, after which the directory is fsynced. A crash at any point leaves either the
//! old or the new file, and both describe the same state. A leftover `raft-log.compact` is
//! deleted on open.
//!
//! # Durability and group commit
//!
//! A dedicated writer thread owns the file. Mutating calls update the in-memory index and queue
//! their encoded records on a channel, in one critical section so file order equals call order.
//! The writer drains everything queued, writes it, calls `File::sync_data` once, and only then
//! completes the callbacks (`LogFlushed::log_io_completed`, or the waiter of `save_vote`,
//! `truncate`, `purge`, `flush`). Appends that arrive while a sync is in flight therefore share
//! the next sync. `save_committed` is the exception: openraft does not need it durable, so its
//! record is written without a sync of its own and becomes durable with the next one (or at
//! shutdown). The writer also syncs whenever more than 8 MiB is pending, which bounds how much
//! of the file can be unsynced at a crash (see recovery). After any write or sync error the
//! writer fails every later operation: after a failed fsync the page cache can no longer be
//! trusted, so the process should restart and recover from the file.
//!
//! # Recovery
//!
//! [`FileLogStore::open`] replays the file, verifying every record's length and CRC. The first
//! record that is incomplete, has an impossible length or fails its checksum marks a torn tail:
//! the file is truncated there (and synced), the cut is reported by [`FileLogStore::recovery`]
//! and on stderr, and the store opens normally. Only bytes written since the last successful
//! sync can be torn by a crash, so the bad record must be the start of a torn *end*: `open`
//! refuses with [`LogStoreError::Corrupt`] instead of silently dropping entries when
//! - the valid prefix (up to a bad record, or to a clean end of file) is shorter than the synced
//!   mark: bytes a completed sync covered are damaged or cut off;
//! - a record with a valid checksum follows the bad one anywhere in the file (the damage is in
//!   the middle, in data a later sync made durable: a flipped bit, a bad sector), or
//! - the cut would exceed what can be unsynced ([`MAX_RECORD_LEN`] plus the 8 MiB sync chunk).
//!
//! The mark is written after each sync without a sync of its own (it costs one small `pwrite`),
//! so after a power loss it may lag behind the last sync, never lead; the last two rules cover
//! the bytes in between.
//!
//! The first rule has one false alarm: after a power loss (not a process crash) the disk may
//! have kept later pages of the last unsynced write but not an earlier one. That node then
//! refuses to start although it lost nothing acked; it is rejoined from its peers like a
//! corrupt one, which is always safe. A record
//! whose checksum is valid but whose payload does not decode is likewise refused: those are the
//! bytes we wrote, so it is a format or type mismatch, not a crash artefact.
//!
//! # Memory
//!
//! All live entries are kept decoded in memory (a `BTreeMap<u64, _>`), so reads never touch the
//! disk and appended entries are readable as soon as `append` returns, before they are durable,
//! as openraft requires. Memory therefore grows with the unpurged log: it is bounded only by how
//! often openraft snapshots and purges (`Config::snapshot_policy`,
//! `max_in_snapshot_log_to_keep`). The writer additionally keeps each live entry's file offset
//! (about 40 bytes per entry) for compaction.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    AnyError, DefensiveError, ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend, RaftLogId,
    RaftLogReader, RaftTypeConfig, StorageError, StorageIOError, Violation, Vote,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

const LOG_FILE: &str = "raft-log.dat";
/// How many bytes of the log are known synced (see [`SyncedMark`]).
const SYNCED_FILE: &str = "raft-log.synced";
const COMPACT_FILE: &str = "raft-log.compact";
const MAGIC: &[u8; 8] = b"MRDRLOG1";
const HEADER_LEN: usize = 8;

/// Largest payload a single record may have. Larger entries are rejected by `append`; on
/// recovery a header claiming more than this is treated as garbage.
pub const MAX_RECORD_LEN: usize = 16 << 20;

/// The writer syncs before its unsynced bytes would exceed this.
const SYNC_CHUNK: usize = 8 << 20;

/// The most a crash can leave unsynced, hence the longest tail recovery may cut.
const MAX_TORN_TAIL: u64 = (SYNC_CHUNK + HEADER_LEN + MAX_RECORD_LEN) as u64;

/// Byte budget of one `limited_get_log_entries` answer (replication batch).
const READ_BATCH_BYTES: u64 = 4 << 20;

/// Errors from opening or flushing the store. Inside the openraft traits errors are reported as
/// [`StorageError`] instead.
#[derive(Debug, thiserror::Error)]
pub enum LogStoreError {
    /// An I/O call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The log file is damaged in a way that recovery must not paper over.
    #[error("raft log {} is corrupt at byte {offset}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// Another `FileLogStore` in this process already has the directory open.
    #[error("raft log directory {} is already open in this process", .0.display())]
    AlreadyOpen(PathBuf),
    /// The background task running recovery died.
    #[error("log store recovery task failed: {0}")]
    Task(String),
}

/// Tuning knobs; [`LogStoreOptions::default`] suits production.
#[derive(Debug, Clone)]
pub struct LogStoreOptions {
    /// Compact once at least this many bytes of the file are dead *and* dead bytes are at least
    /// as many as live ones (so a compaction always at least halves the file). Default 64 MiB.
    pub compact_min_dead_bytes: u64,
}

impl Default for LogStoreOptions {
    fn default() -> Self {
        Self {
            compact_min_dead_bytes: 64 << 20,
        }
    }
}

/// What [`FileLogStore::open`] found in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Valid records replayed.
    pub records_replayed: u64,
    /// Length of the valid prefix that was kept.
    pub valid_bytes: u64,
    /// Bytes cut off the end of the file (a torn or corrupt tail); 0 after a clean shutdown.
    pub truncated_bytes: u64,
    /// Why the tail was cut, when it was.
    pub truncate_reason: Option<String>,
}

/// Writer counters, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStoreStats {
    /// `sync_data` calls on the log file.
    pub syncs: u64,
    /// Batches the writer drained from its queue.
    pub batches: u64,
    /// Operations (appends, votes, ...) written.
    pub ops: u64,
    /// Completed compactions.
    pub compactions: u64,
    /// Current length of the log file in bytes.
    pub file_len: u64,
}

#[derive(Default)]
struct Stats {
    syncs: AtomicU64,
    batches: AtomicU64,
    ops: AtomicU64,
    compactions: AtomicU64,
    file_len: AtomicU64,
}

/// Directories with a live store in this process. Two writers appending to one file would
/// interleave records and corrupt it, so a second `open` of the same directory is refused.
static OPEN_DIRS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Membership of a directory in [`OPEN_DIRS`]; released on drop.
struct DirClaim(PathBuf);

impl DirClaim {
    fn acquire(dir: &Path) -> Result<Self, LogStoreError> {
        let canonical = dir.canonicalize().map_err(|source| LogStoreError::Io {
            op: "resolve",
            path: dir.to_path_buf(),
            source,
        })?;
        let mut open = OPEN_DIRS.lock().unwrap_or_else(|e| e.into_inner());
        if !open.insert(canonical.clone()) {
            return Err(LogStoreError::AlreadyOpen(canonical));
        }
        Ok(Self(canonical))
    }
}

impl Drop for DirClaim {
    fn drop(&mut self) {
        OPEN_DIRS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

/// One record of the log file. Serialised with `E = &Entry`, deserialised with `E = Entry`;
/// both give the same JSON.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "E: Serialize", deserialize = "E: DeserializeOwned"))]
enum Record<E, NID: openraft::NodeId> {
    Entry(E),
    Truncate { since: u64 },
    Purge { upto: LogId<NID> },
    Vote(Vote<NID>),
    Committed(Option<LogId<NID>>),
}

/// A decoded entry and the size of its record, for byte-bounded reads.
struct Cached<E> {
    entry: E,
    bytes: u32,
}

/// The in-memory view, shared by the store and every reader handed out.
struct MemState<C: RaftTypeConfig> {
    log: BTreeMap<u64, Cached<C::Entry>>,
    last_purged: Option<LogId<C::NodeId>>,
    vote: Option<Vote<C::NodeId>>,
    committed: Option<LogId<C::NodeId>>,
    /// Queue to the writer; taken on drop so the writer sees the channel close.
    tx: Option<mpsc::Sender<Op<C>>>,
}

impl<C: RaftTypeConfig> MemState<C> {
    fn last_log_id(&self) -> Option<LogId<C::NodeId>> {
        match self.log.last_key_value() {
            Some((_, c)) => Some(c.entry.get_log_id().clone()),
            None => self.last_purged.clone(),
        }
    }

    fn submit(&self, op: Op<C>) -> io::Result<()> {
        let tx = self.tx.as_ref().ok_or_else(writer_gone)?;
        tx.send(op).map_err(|_| writer_gone())
    }
}

struct Shared<C: RaftTypeConfig> {
    /// Shared with readers, which outlive the writer harmlessly.
    state: Arc<Mutex<MemState<C>>>,
    writer: Option<JoinHandle<()>>,
    stats: Arc<Stats>,
    recovery: RecoveryReport,
    dir: PathBuf,
    /// Released only after `drop` below has joined the writer (fields drop after it).
    _claim: DirClaim,
}

impl<C: RaftTypeConfig> Drop for Shared<C> {
    fn drop(&mut self) {
        // Closing the queue makes the writer finish what is queued and exit; joining means
        // that once the last handle is gone everything is on disk and the file is closed, so
        // the directory can be reopened straight away.
        let tx = lock(&self.state).tx.take();
        drop(tx);
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }
}

/// Durable file-backed Raft log store. Cheap to clone: clones are full handles on the same log
/// (the file closes when the last one drops). Replication gets a [`FileLogReader`] instead.
pub struct FileLogStore<C: RaftTypeConfig> {
    shared: Arc<Shared<C>>,
}

impl<C: RaftTypeConfig> Clone for FileLogStore<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C> FileLogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned + Clone,
{
    /// Opens the store in `dir` (created if missing) with default options, recovering from the
    /// log file as described in the module docs.
    pub async fn open(dir: impl AsRef<Path>) -> Result<Self, LogStoreError> {
        Self::open_with(dir, LogStoreOptions::default()).await
    }

    /// Like [`Self::open`] with explicit options.
    pub async fn open_with(
        dir: impl AsRef<Path>,
        options: LogStoreOptions,
    ) -> Result<Self, LogStoreError> {
        let dir = dir.as_ref().to_path_buf();
        let recover_dir = dir.clone();
        // Replay reads the whole file: keep it off the async workers.
        let (claim, recovered, writer) = tokio::task::spawn_blocking(move || {
            create_dir(&recover_dir)?;
            // Claim before recovery: recovery may truncate the file under another writer.
            let claim = DirClaim::acquire(&recover_dir)?;
            let (recovered, writer) = recover::<C>(&recover_dir, &options)?;
            Ok::<_, LogStoreError>((claim, recovered, writer))
        })
        .await
        .map_err(|e| LogStoreError::Task(e.to_string()))??;

        let report = recovered.report;
        if report.truncated_bytes > 0 {
            eprintln!(
                "raft log {}: cut {} bytes of torn tail at offset {} ({}); {} records kept",
                dir.join(LOG_FILE).display(),
                report.truncated_bytes,
                report.valid_bytes,
                report.truncate_reason.as_deref().unwrap_or("unknown"),
                report.records_replayed,
            );
        }

        let stats = Arc::clone(&writer.stats);
        let (tx, rx) = mpsc::channel::<Op<C>>();
        let handle = std::thread::Builder::new()
            .name("raft-log-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|source| LogStoreError::Io {
                op: "spawn writer thread for",
                path: dir.clone(),
                source,
            })?;

        let state = MemState {
            log: recovered.log,
            last_purged: recovered.last_purged,
            vote: recovered.vote,
            committed: recovered.committed,
            tx: Some(tx),
        };
        Ok(Self {
            shared: Arc::new(Shared {
                state: Arc::new(Mutex::new(state)),
                writer: Some(handle),
                stats,
                recovery: report,
                dir,
                _claim: claim,
            }),
        })
    }

    /// What recovery found when this store was opened.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.shared.recovery
    }

    /// Writer counters.
    pub fn stats(&self) -> LogStoreStats {
        let s = &self.shared.stats;
        LogStoreStats {
            syncs: s.syncs.load(Ordering::Relaxed),
            batches: s.batches.load(Ordering::Relaxed),
            ops: s.ops.load(Ordering::Relaxed),
            compactions: s.compactions.load(Ordering::Relaxed),
            file_len: s.file_len.load(Ordering::Relaxed),
        }
    }

    /// Path of the log file.
    pub fn log_path(&self) -> PathBuf {
        self.shared.dir.join(LOG_FILE)
    }

    /// Waits until everything submitted so far (including `save_committed`, which does not
    /// wait by itself) is durable, and any compaction triggered by operations that completed
    /// before this call has finished.
    pub async fn flush(&self) -> Result<(), LogStoreError> {
        let (tx, rx) = oneshot::channel();
        let op = Op {
            bytes: Vec::new(),
            effect: Effect::Barrier,
            done: Done::Notify(tx),
        };
        // Bind first: a guard in the match scrutinee would live across the await.
        let submitted = self.state().submit(op);
        let res = match submitted {
            Ok(()) => wait(rx).await,
            Err(e) => Err(e),
        };
        res.map_err(|source| LogStoreError::Io {
            op: "flush",
            path: self.log_path(),
            source,
        })
    }

    fn state(&self) -> MutexGuard<'_, MemState<C>> {
        lock(&self.shared.state)
    }

    /// Encodes `entries`, makes them readable, and queues them for the writer with `done` as
    /// the completion.
    #[allow(clippy::result_large_err)] // StorageError's size is openraft's choice
    fn enqueue_append(
        &self,
        entries: Vec<C::Entry>,
        done: Done<C>,
    ) -> Result<(), StorageError<C::NodeId>> {
        let mut bytes = Vec::with_capacity(entries.len() * 512);
        let mut spans = Vec::with_capacity(entries.len());
        for entry in &entries {
            let log_id = entry.get_log_id();
            let len = encode_frame(&mut bytes, &Record::<&C::Entry, C::NodeId>::Entry(entry))
                .map_err(|e| StorageIOError::write_log_entry(log_id.clone(), AnyError::new(&e)))?;
            spans.push((log_id.index, len));
        }

        let mut st = self.state();
        // Raft only checks the last log id, so a hole would go unnoticed: refuse it here.
        // Re-appending at an existing index is allowed and replaces that entry (openraft
        // truncates first in practice, but its storage test suite also overwrites directly).
        let mut prev = match (st.log.last_key_value(), &st.last_purged) {
            (Some((_, c)), Some(p)) if p.index > c.entry.get_log_id().index => Some(p.clone()),
            (Some((_, c)), _) => Some(c.entry.get_log_id().clone()),
            (None, p) => p.clone(),
        };
        for entry in &entries {
            let next = entry.get_log_id().clone();
            if let Some(p) = &prev {
                if next.index > p.index.saturating_add(1) {
                    return Err(DefensiveError::new(
                        ErrorSubject::Logs,
                        Violation::LogsNonConsecutive {
                            prev: prev.clone(),
                            next,
                        },
                    )
                    .into());
                }
            }
            prev = Some(next);
        }
        for (entry, (index, len)) in entries.into_iter().zip(&spans) {
            st.log.insert(*index, Cached { entry, bytes: *len });
        }
        st.submit(Op {
            bytes,
            effect: Effect::Entries(spans),
            done,
        })
        .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)).into())
    }

    /// Test hook: an append whose durability is observed through a plain channel, because
    /// `LogFlushed` cannot be built outside openraft.
    #[cfg(test)]
    #[allow(clippy::result_large_err)]
    fn append_detached(
        &self,
        entries: Vec<C::Entry>,
    ) -> Result<oneshot::Receiver<io::Result<()>>, StorageError<C::NodeId>> {
        let (tx, rx) = oneshot::channel();
        self.enqueue_append(entries, Done::Notify(tx))?;
        Ok(rx)
    }
}

/// Read-only view handed to openraft's replication tasks by
/// [`RaftLogStorage::get_log_reader`]. It shares the store's in-memory index but does not keep
/// the writer alive: openraft 0.9 joins replication tasks in the background, and one stuck in a
/// hung RPC can outlive `Raft::shutdown`; it must not stop the store from closing (and the
/// directory from being reopened).
pub struct FileLogReader<C: RaftTypeConfig> {
    state: Arc<Mutex<MemState<C>>>,
}

impl<C: RaftTypeConfig> Clone for FileLogReader<C> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
        }
    }
}

fn lock<C: RaftTypeConfig>(state: &Mutex<MemState<C>>) -> MutexGuard<'_, MemState<C>> {
    // A panic elsewhere while holding the lock leaves the maps consistent (every update is a
    // single map operation), so keep going rather than propagate the poison.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn read_range<C>(state: &Mutex<MemState<C>>, range: &impl RangeBounds<u64>) -> Vec<C::Entry>
where
    C: RaftTypeConfig,
    C::Entry: Clone,
{
    let Some((start, end)) = normalize(range) else {
        return Vec::new();
    };
    lock(state)
        .log
        .range((Bound::Included(start), end))
        .map(|(_, c)| c.entry.clone())
        .collect()
}

fn read_limited<C>(state: &Mutex<MemState<C>>, start: u64, end: u64) -> Vec<C::Entry>
where
    C: RaftTypeConfig,
    C::Entry: Clone,
{
    if start >= end {
        return Vec::new();
    }
    // Cap the batch by encoded size so a lagging follower is not sent one huge message; always
    // return at least one entry so replication makes progress.
    let st = lock(state);
    let mut out = Vec::new();
    let mut budget = READ_BATCH_BYTES;
    for (_, c) in st.log.range(start..end) {
        if !out.is_empty() && u64::from(c.bytes) > budget {
            break;
        }
        budget = budget.saturating_sub(u64::from(c.bytes));
        out.push(c.entry.clone());
    }
    out
}

impl<C> RaftLogReader<C> for FileLogReader<C>
where
    C: RaftTypeConfig,
    C::Entry: Clone,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        Ok(read_range(&self.state, &range))
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        Ok(read_limited(&self.state, start, end))
    }
}

impl<C> RaftLogReader<C> for FileLogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned + Clone,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        Ok(read_range(&self.shared.state, &range))
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        Ok(read_limited(&self.shared.state, start, end))
    }
}

impl<C> RaftLogStorage<C> for FileLogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned + Clone,
{
    type LogReader = FileLogReader<C>;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<C::NodeId>> {
        let st = self.state();
        Ok(LogState {
            last_purged_log_id: st.last_purged.clone(),
            last_log_id: st.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        FileLogReader {
            state: Arc::clone(&self.shared.state),
        }
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let mut bytes = Vec::new();
        encode_frame(
            &mut bytes,
            &Record::<&C::Entry, C::NodeId>::Vote(vote.clone()),
        )
        .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        let (tx, rx) = oneshot::channel();
        self.state()
            .submit(Op {
                bytes,
                effect: Effect::Vote,
                done: Done::Notify(tx),
            })
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        // The contract: the vote is on disk before we return.
        wait(rx)
            .await
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        self.state().vote = Some(vote.clone());
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.state().vote.clone())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<C::NodeId>>,
    ) -> Result<(), StorageError<C::NodeId>> {
        let mut bytes = Vec::new();
        encode_frame(
            &mut bytes,
            &Record::<&C::Entry, C::NodeId>::Committed(committed.clone()),
        )
        .map_err(|e| StorageIOError::write(AnyError::new(&e)))?;
        // Not waited for: openraft calls this inline on every commit advance, and losing the
        // latest value in a crash only means re-applying from an older (still committed)
        // point. It becomes durable with the next group commit, in order with the log.
        let mut st = self.state();
        st.committed = committed;
        st.submit(Op {
            bytes,
            effect: Effect::Committed,
            done: Done::Nothing,
        })
        .map_err(|e| StorageIOError::write(AnyError::new(&e)).into())
    }

    async fn read_committed(
        &mut self,
    ) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.state().committed.clone())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.enqueue_append(entries.into_iter().collect(), Done::Flushed(callback))
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let since = log_id.index;
        let io_err = |e: io::Error| {
            StorageIOError::new(ErrorSubject::Logs, ErrorVerb::Delete, AnyError::new(&e))
        };
        let mut bytes = Vec::new();
        encode_frame(
            &mut bytes,
            &Record::<&C::Entry, C::NodeId>::Truncate { since },
        )
        .map_err(io_err)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.state();
            // Readers must stop seeing the entries as soon as we return.
            st.log.split_off(&since);
            st.submit(Op {
                bytes,
                effect: Effect::Truncate(since),
                done: Done::Notify(tx),
            })
            .map_err(io_err)?;
        }
        wait(rx).await.map_err(io_err)?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let io_err = |e: io::Error| {
            StorageIOError::new(ErrorSubject::Logs, ErrorVerb::Delete, AnyError::new(&e))
        };
        let mut bytes = Vec::new();
        encode_frame(
            &mut bytes,
            &Record::<&C::Entry, C::NodeId>::Purge {
                upto: log_id.clone(),
            },
        )
        .map_err(io_err)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.state();
            remove_through(&mut st.log, log_id.index);
            if st.last_purged.as_ref() < Some(&log_id) {
                st.last_purged = Some(log_id.clone());
            }
            st.submit(Op {
                bytes,
                effect: Effect::Purge(log_id.index),
                done: Done::Notify(tx),
            })
            .map_err(io_err)?;
        }
        wait(rx).await.map_err(io_err)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Writer thread
// ---------------------------------------------------------------------------------------------

/// How a queued operation is reported done.
enum Done<C: RaftTypeConfig> {
    Flushed(LogFlushed<C>),
    Notify(oneshot::Sender<io::Result<()>>),
    Nothing,
}

impl<C: RaftTypeConfig> Done<C> {
    /// Whether someone waits for durability (everything but `save_committed`).
    fn is_waited(&self) -> bool {
        !matches!(self, Done::Nothing)
    }

    fn complete(self, res: io::Result<()>) {
        match self {
            Done::Flushed(cb) => cb.log_io_completed(res),
            Done::Notify(tx) => {
                // The waiter may have given up (its future dropped); nothing to do then.
                let _ = tx.send(res);
            }
            Done::Nothing => {}
        }
    }
}

/// What an operation does to the file's live set, for the writer's bookkeeping.
enum Effect {
    /// `(index, record length)` of each entry record in `Op::bytes`, in order.
    Entries(Vec<(u64, u32)>),
    Truncate(u64),
    Purge(u64),
    Vote,
    Committed,
    /// No record: completes once everything queued before it is durable.
    Barrier,
}

struct Op<C: RaftTypeConfig> {
    /// Encoded record(s), ready to write.
    bytes: Vec<u8>,
    effect: Effect,
    done: Done<C>,
}

/// Where a live entry's record sits in the file.
#[derive(Clone, Copy)]
struct Span {
    offset: u64,
    len: u32,
}

struct Writer {
    dir: PathBuf,
    file: File,
    /// Bytes written to the file (everything before `buf`).
    file_len: u64,
    /// Bytes written but not yet covered by a `sync_data`.
    unsynced: usize,
    positions: BTreeMap<u64, Span>,
    live_entry_bytes: u64,
    /// Latest vote/committed records and the highest purge record (last_purged only grows),
    /// rewritten verbatim by compaction.
    purge_frame: Option<Vec<u8>>,
    purge_upto: Option<u64>,
    vote_frame: Option<Vec<u8>>,
    committed_frame: Option<Vec<u8>>,
    buf: Vec<u8>,
    failed: Option<(io::ErrorKind, String)>,
    compact_min_dead: u64,
    /// After a failed compaction, do not retry until the file reaches this length.
    compact_retry_at: u64,
    synced_mark: SyncedMark,
    stats: Arc<Stats>,
}

impl Writer {
    fn run<C: RaftTypeConfig>(mut self, rx: mpsc::Receiver<Op<C>>) {
        // Ends when every store handle is dropped; all queued ops are processed first.
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            batch.extend(rx.try_iter());
            self.stats.batches.fetch_add(1, Ordering::Relaxed);
            self.stats
                .ops
                .fetch_add(batch.len() as u64, Ordering::Relaxed);

            let res = self.write_batch(&batch);
            if let Err(e) = &res {
                if self.failed.is_none() {
                    self.failed = Some((e.kind(), e.to_string()));
                }
                self.buf.clear();
            }
            for op in batch {
                let r = match &res {
                    Ok(()) => Ok(()),
                    Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
                };
                op.done.complete(r);
            }
            if res.is_ok() {
                self.maybe_compact();
            }
        }
        // Lazily written `save_committed` records are made durable on a clean shutdown.
        if self.failed.is_none() {
            if let Err(e) = self.sync() {
                eprintln!("raft log {}: final sync failed: {e}", self.dir.display());
            }
        }
    }

    fn write_batch<C: RaftTypeConfig>(&mut self, batch: &[Op<C>]) -> io::Result<()> {
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(
                *kind,
                format!("raft log writer failed earlier: {msg}"),
            ));
        }
        for op in batch {
            self.stage(op)?;
        }
        self.write_buf()?;
        // A batch of nothing but `save_committed` records need not be durable yet: it rides
        // on the next sync instead of costing one of its own per commit advance.
        if batch.iter().any(|op| op.done.is_waited()) {
            self.sync()?;
        }
        Ok(())
    }

    /// Adds an op's records to the pending buffer and updates the live-set bookkeeping.
    fn stage<C: RaftTypeConfig>(&mut self, op: &Op<C>) -> io::Result<()> {
        match &op.effect {
            Effect::Entries(spans) => {
                let mut at = 0usize;
                for &(index, len) in spans {
                    let end = at + len as usize;
                    let offset = self.push_frame(&op.bytes[at..end])?;
                    at = end;
                    if let Some(old) = self.positions.insert(index, Span { offset, len }) {
                        self.live_entry_bytes -= u64::from(old.len);
                    }
                    self.live_entry_bytes += u64::from(len);
                }
            }
            Effect::Truncate(since) => {
                self.push_frame(&op.bytes)?;
                let removed = self.positions.split_off(since);
                self.live_entry_bytes -= removed.values().map(|s| u64::from(s.len)).sum::<u64>();
            }
            Effect::Purge(upto) => {
                self.push_frame(&op.bytes)?;
                let removed = remove_through(&mut self.positions, *upto);
                self.live_entry_bytes -= removed.values().map(|s| u64::from(s.len)).sum::<u64>();
                if self.purge_upto <= Some(*upto) {
                    self.purge_upto = Some(*upto);
                    self.purge_frame = Some(op.bytes.clone());
                }
            }
            Effect::Vote => {
                self.push_frame(&op.bytes)?;
                self.vote_frame = Some(op.bytes.clone());
            }
            Effect::Committed => {
                self.push_frame(&op.bytes)?;
                self.committed_frame = Some(op.bytes.clone());
            }
            Effect::Barrier => {}
        }
        Ok(())
    }

    /// Buffers one record and returns the file offset it will land at.
    fn push_frame(&mut self, frame: &[u8]) -> io::Result<u64> {
        // Keeps the unsynced region small, which is what lets recovery tell a torn tail from
        // corrupted acknowledged data.
        let pending = self.unsynced + self.buf.len();
        if pending > 0 && pending + frame.len() > SYNC_CHUNK {
            self.write_buf()?;
            self.sync()?;
        }
        let offset = self.file_len + self.buf.len() as u64;
        self.buf.extend_from_slice(frame);
        Ok(offset)
    }

    fn write_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.buf)?;
        self.file_len += self.buf.len() as u64;
        self.unsynced += self.buf.len();
        self.buf.clear();
        self.stats.file_len.store(self.file_len, Ordering::Relaxed);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.unsynced == 0 {
            return Ok(());
        }
        self.file.sync_data()?;
        self.unsynced = 0;
        self.stats.syncs.fetch_add(1, Ordering::Relaxed);
        // After the sync, never before: the mark must not claim bytes that are not durable.
        self.synced_mark.record(self.file_len);
        Ok(())
    }

    fn live_bytes(&self) -> u64 {
        let meta: usize = [&self.purge_frame, &self.vote_frame, &self.committed_frame]
            .into_iter()
            .flatten()
            .map(Vec::len)
            .sum();
        (MAGIC.len() + meta) as u64 + self.live_entry_bytes
    }

    fn maybe_compact(&mut self) {
        let live = self.live_bytes();
        let dead = self.file_len.saturating_sub(live);
        if dead == 0
            || dead < self.compact_min_dead
            || dead < live
            || self.file_len < self.compact_retry_at
        {
            return;
        }
        let tmp = self.dir.join(COMPACT_FILE);
        match self.write_compacted(&tmp) {
            Ok((file, len, positions)) => {
                // The new file is shorter: the mark of the old one must be gone for good before
                // the rename, or a crash would leave a mark beyond the new file's end.
                if let Err(e) = self.synced_mark.reset() {
                    let _ = fs::remove_file(&tmp);
                    self.compaction_failed(&e);
                    return;
                }
                if let Err(e) = fs::rename(&tmp, self.dir.join(LOG_FILE)) {
                    // The old file is untouched, so carry on with it.
                    let _ = fs::remove_file(&tmp);
                    self.compaction_failed(&e);
                    return;
                }
                // Until the rename is durable a crash could bring the old file back, and writes
                // acknowledged against the new one would vanish: fail hard if we cannot tell.
                if let Err(e) = sync_dir(&self.dir) {
                    self.failed = Some((e.kind(), format!("fsync dir after compaction: {e}")));
                    return;
                }
                self.file = file;
                self.file_len = len;
                self.unsynced = 0; // the new file was synced whole
                self.synced_mark.record(len);
                self.positions = positions;
                self.stats.compactions.fetch_add(1, Ordering::Relaxed);
                self.stats.file_len.store(len, Ordering::Relaxed);
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                self.compaction_failed(&e);
            }
        }
    }

    fn compaction_failed(&mut self, e: &io::Error) {
        // Compaction only reclaims space; the log stays correct without it. Back off so a
        // persistent problem (e.g. a full disk) does not make every batch retry it.
        eprintln!(
            "raft log {}: compaction failed, will retry later: {e}",
            self.dir.display()
        );
        self.compact_retry_at = self.file_len + self.compact_min_dead.max(1 << 20);
    }

    /// Writes the live state to `tmp` and syncs it. Returns the new file (positioned at its
    /// end), its length and the new entry positions.
    fn write_compacted(&self, tmp: &Path) -> io::Result<(File, u64, BTreeMap<u64, Span>)> {
        let mut src = BufReader::with_capacity(1 << 20, File::open(self.dir.join(LOG_FILE))?);
        let out = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp)?;
        let mut out = BufWriter::with_capacity(1 << 20, out);
        out.write_all(MAGIC)?;
        let mut len = MAGIC.len() as u64;
        // Purge first: on replay it only sets last_purged, and every later entry is above it.
        for frame in [&self.purge_frame, &self.vote_frame, &self.committed_frame]
            .into_iter()
            .flatten()
        {
            out.write_all(frame)?;
            len += frame.len() as u64;
        }

        let mut positions = BTreeMap::new();
        let mut frame = Vec::new();
        let mut cursor = 0u64;
        // Entries are stored in index order, which is also file order, so reads only move forward.
        for (&index, span) in &self.positions {
            let skip = i64::try_from(span.offset.wrapping_sub(cursor))
                .map_err(|_| io::Error::other("compaction: entry offsets out of order"))?;
            src.seek_relative(skip)?;
            frame.resize(span.len as usize, 0);
            src.read_exact(&mut frame)?;
            cursor = span.offset + u64::from(span.len);
            // Copy verbatim but re-check: never carry silent disk corruption into the new file.
            if parse_header(&frame).is_none_or(|(plen, crc)| {
                plen as usize + HEADER_LEN != frame.len()
                    || crc32fast::hash(&frame[HEADER_LEN..]) != crc
            }) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("entry {index} at offset {} fails its checksum", span.offset),
                ));
            }
            out.write_all(&frame)?;
            positions.insert(
                index,
                Span {
                    offset: len,
                    len: span.len,
                },
            );
            len += u64::from(span.len);
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok((file, len, positions))
    }
}

// ---------------------------------------------------------------------------------------------
// Recovery
// ---------------------------------------------------------------------------------------------

struct Recovered<C: RaftTypeConfig> {
    log: BTreeMap<u64, Cached<C::Entry>>,
    last_purged: Option<LogId<C::NodeId>>,
    vote: Option<Vote<C::NodeId>>,
    committed: Option<LogId<C::NodeId>>,
    report: RecoveryReport,
}

fn recover<C>(
    dir: &Path,
    options: &LogStoreOptions,
) -> Result<(Recovered<C>, Writer), LogStoreError>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    let path = dir.join(LOG_FILE);
    let io_err = |op: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| LogStoreError::Io {
            op,
            path: p,
            source,
        }
    };

    let tmp = dir.join(COMPACT_FILE);
    if tmp.exists() {
        // An unfinished compaction; the real log is still intact.
        fs::remove_file(&tmp).map_err(io_err("remove", &tmp))?;
    }
    if !path.exists() {
        // Create through a renamed temp file so the log never exists without its magic.
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(MAGIC).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("fsync", &tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io_err("rename", &tmp))?;
        sync_dir(dir).map_err(io_err("fsync directory", dir))?;
    }

    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io_err("open", &path))?;
    let file_len = file.metadata().map_err(io_err("stat", &path))?.len();
    let corrupt = |offset: u64, reason: String| LogStoreError::Corrupt {
        path: path.clone(),
        offset,
        reason,
    };

    let mut rd = BufReader::with_capacity(1 << 20, &file);
    let mut magic = [0u8; 8];
    if read_up_to(&mut rd, &mut magic).map_err(io_err("read", &path))? < magic.len()
        || &magic != MAGIC
    {
        return Err(corrupt(0, "missing or unknown file magic".into()));
    }

    let mut rec = Recovered::<C> {
        log: BTreeMap::new(),
        last_purged: None,
        vote: None,
        committed: None,
        report: RecoveryReport::default(),
    };
    let mut positions: BTreeMap<u64, Span> = BTreeMap::new();
    let mut live_entry_bytes = 0u64;
    let (mut purge_frame, mut vote_frame, mut committed_frame) = (None, None, None);
    let mut offset = MAGIC.len() as u64;
    let mut torn: Option<String> = None;
    let mut frame = Vec::new();

    loop {
        match read_frame(&mut rd, offset, file_len, &mut frame).map_err(io_err("read", &path))? {
            FrameRead::End => break,
            FrameRead::Torn(reason) => {
                torn = Some(reason);
                break;
            }
            FrameRead::Frame => {}
        }
        let len = frame.len() as u32;
        let record: Record<C::Entry, C::NodeId> = serde_json::from_slice(&frame[HEADER_LEN..])
            .map_err(|e| {
                corrupt(
                    offset,
                    format!("record has a valid checksum but does not decode: {e}"),
                )
            })?;
        match record {
            Record::Entry(entry) => {
                let index = entry.get_log_id().index;
                // The writer appends each entry right after the last one (a lower index only
                // after a truncation record, the next after a purge): anything else means a
                // record between them is gone, and replaying on would build a log that was
                // never written (entries of a truncated term behind a newer one, or a gap).
                let expected = match (rec.log.last_key_value(), &rec.last_purged) {
                    (Some((&last, _)), _) => Some(last + 1),
                    (None, Some(p)) => Some(p.index + 1),
                    (None, None) => None,
                };
                if expected.is_some_and(|e| e != index) {
                    return Err(corrupt(
                        offset,
                        format!(
                            "entry {index} follows entry {}: a record between them is missing",
                            expected.unwrap_or(0).saturating_sub(1)
                        ),
                    ));
                }
                rec.log.insert(index, Cached { entry, bytes: len });
                if let Some(old) = positions.insert(index, Span { offset, len }) {
                    live_entry_bytes -= u64::from(old.len);
                }
                live_entry_bytes += u64::from(len);
            }
            Record::Truncate { since } => {
                rec.log.split_off(&since);
                let removed = positions.split_off(&since);
                live_entry_bytes -= removed.values().map(|s| u64::from(s.len)).sum::<u64>();
            }
            Record::Purge { upto } => {
                remove_through(&mut rec.log, upto.index);
                let removed = remove_through(&mut positions, upto.index);
                live_entry_bytes -= removed.values().map(|s| u64::from(s.len)).sum::<u64>();
                if rec.last_purged.as_ref() < Some(&upto) {
                    rec.last_purged = Some(upto);
                    purge_frame = Some(frame.clone());
                }
            }
            Record::Vote(v) => {
                rec.vote = Some(v);
                vote_frame = Some(frame.clone());
            }
            Record::Committed(c) => {
                rec.committed = c;
                committed_frame = Some(frame.clone());
            }
        }
        rec.report.records_replayed += 1;
        offset += u64::from(len);
    }
    drop(rd);

    rec.report.valid_bytes = offset;
    // Bytes the writer synced before the crash cannot be torn: a valid prefix shorter than
    // that is a cut into acknowledged data, however clean the end looks.
    let (synced_mark, synced) =
        SyncedMark::open(dir).map_err(io_err("open", &dir.join(SYNCED_FILE)))?;
    if offset < synced {
        let what = match &torn {
            Some(reason) => format!("{reason} at byte {offset}"),
            None => format!("the file ends at byte {offset}"),
        };
        return Err(corrupt(
            offset,
            format!(
                "{what}, but {synced} bytes were synced before: acknowledged data is damaged or \
                 cut; refusing to truncate"
            ),
        ));
    }
    if let Some(reason) = torn {
        let cut = file_len - offset;
        if cut > MAX_TORN_TAIL {
            return Err(corrupt(
                offset,
                format!(
                    "{reason}, with {cut} bytes after it: more than a crash can leave unsynced, \
                     so acknowledged data is damaged; refusing to truncate"
                ),
            ));
        }
        // A crash tears only the end: if a valid record follows the bad one, the damage is in
        // the middle of data that was synced (and acked), and cutting there would drop it.
        if let Some(at) =
            valid_record_after(&file, offset, file_len).map_err(io_err("read", &path))?
        {
            return Err(corrupt(
                offset,
                format!(
                    "{reason}, but a valid record follows at byte {at}: synced data is damaged, \
                     not a torn tail; refusing to truncate"
                ),
            ));
        }
        file.set_len(offset).map_err(io_err("truncate", &path))?;
        file.sync_all().map_err(io_err("fsync", &path))?;
        rec.report.truncated_bytes = cut;
        rec.report.truncate_reason = Some(reason);
    }
    file.seek(SeekFrom::Start(offset))
        .map_err(io_err("seek", &path))?;

    let stats = Arc::new(Stats::default());
    stats.file_len.store(offset, Ordering::Relaxed);
    let writer = Writer {
        dir: dir.to_path_buf(),
        file,
        file_len: offset,
        unsynced: 0,
        positions,
        live_entry_bytes,
        purge_upto: rec.last_purged.as_ref().map(|l| l.index),
        purge_frame,
        vote_frame,
        committed_frame,
        buf: Vec::new(),
        failed: None,
        compact_min_dead: options.compact_min_dead_bytes,
        compact_retry_at: 0,
        synced_mark,
        stats,
    };
    Ok((rec, writer))
}

/// Creates the store directory if needed, durably.
fn create_dir(dir: &Path) -> Result<(), LogStoreError> {
    if dir.exists() {
        return Ok(());
    }
    let io_err = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| LogStoreError::Io { op, path, source }
    };
    fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent).map_err(io_err("fsync directory", parent))?;
    }
    Ok(())
}

enum FrameRead {
    /// A complete record with a good checksum is in the buffer (header included).
    Frame,
    /// Clean end of file.
    End,
    /// The bytes from here on are not a valid record.
    Torn(String),
}

fn read_frame(
    rd: &mut impl Read,
    offset: u64,
    file_len: u64,
    frame: &mut Vec<u8>,
) -> io::Result<FrameRead> {
    let mut header = [0u8; HEADER_LEN];
    match read_up_to(rd, &mut header)? {
        0 => return Ok(FrameRead::End),
        n if n < HEADER_LEN => {
            return Ok(FrameRead::Torn(format!(
                "partial record header ({n} bytes)"
            )))
        }
        _ => {}
    }
    let (len, crc) = parse_header(&header).unwrap_or((0, 0));
    if len == 0 || len as usize > MAX_RECORD_LEN {
        return Ok(FrameRead::Torn(format!("impossible record length {len}")));
    }
    let end = offset + (HEADER_LEN as u64) + u64::from(len);
    if end > file_len {
        return Ok(FrameRead::Torn(format!(
            "record of {len} bytes runs {} bytes past end of file",
            end - file_len
        )));
    }
    frame.clear();
    frame.extend_from_slice(&header);
    frame.resize(HEADER_LEN + len as usize, 0);
    rd.read_exact(&mut frame[HEADER_LEN..])?;
    if crc32fast::hash(&frame[HEADER_LEN..]) != crc {
        return Ok(FrameRead::Torn("checksum mismatch".into()));
    }
    Ok(FrameRead::Frame)
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `raft-log.synced`: the length of the log file that a completed `sync_data` covered, written
/// after each sync (`"MRDSYNC1"`, u64 LE length, u32 LE crc32 of the length). It is written
/// without a sync of its own, so after a power loss it may lag, never lead: it only ever names
/// bytes that were durable before it was written. Compaction resets it to 0, durably, before
/// renaming the shorter file into place. A missing or unreadable mark counts as 0 (no check).
struct SyncedMark {
    file: File,
    last: u64,
}

const SYNCED_MAGIC: &[u8; 8] = b"MRDSYNC1";

impl SyncedMark {
    /// Opens (or creates) the mark in `dir` and returns it with the length it names.
    fn open(dir: &Path) -> io::Result<(SyncedMark, u64)> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(SYNCED_FILE))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let synced = match bytes.get(..20) {
            Some(b) if &b[..8] == SYNCED_MAGIC => {
                let len = u64::from_le_bytes(b[8..16].try_into().unwrap_or([0; 8]));
                let crc = u32::from_le_bytes(b[16..20].try_into().unwrap_or([0; 4]));
                if crc32fast::hash(&b[8..16]) == crc {
                    len
                } else {
                    0
                }
            }
            _ => 0,
        };
        Ok((SyncedMark { file, last: synced }, synced))
    }

    fn write(&mut self, len: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(SYNCED_MAGIC);
        b[8..16].copy_from_slice(&len.to_le_bytes());
        b[16..20].copy_from_slice(&crc32fast::hash(&len.to_le_bytes()).to_le_bytes());
        self.file.write_all_at(&b, 0)?;
        self.last = len;
        Ok(())
    }

    /// Records that `len` bytes are synced. A failed write only weakens the check, so it is
    /// not an error of the log.
    fn record(&mut self, len: u64) {
        if len != self.last {
            let _ = self.write(len);
        }
    }

    /// Durably forgets the mark (before the log file is replaced by a shorter one).
    fn reset(&mut self) -> io::Result<()> {
        self.write(0)?;
        self.file.sync_data()
    }
}

/// The offset of the first complete record with a valid checksum that starts after `bad` (the
/// first bad record), if any. The caller has bounded `file_len - bad` by [`MAX_TORN_TAIL`], so
/// the tail fits in memory. Every byte position is tried (a damaged length field hides where
/// the next record starts); a candidate must have a possible length and a JSON object payload
/// before its CRC is computed, which keeps garbage tails cheap to scan.
fn valid_record_after(file: &File, bad: u64, file_len: u64) -> io::Result<Option<u64>> {
    let start = bad + 1;
    if start + HEADER_LEN as u64 >= file_len {
        return Ok(None);
    }
    let mut tail = vec![0u8; (file_len - start) as usize];
    let mut rd = file;
    rd.seek(SeekFrom::Start(start))?;
    rd.read_exact(&mut tail)?;
    for p in 0..tail.len().saturating_sub(HEADER_LEN) {
        let Some((len, crc)) = parse_header(&tail[p..]) else {
            break;
        };
        let len = len as usize;
        let body = p + HEADER_LEN;
        if !(2..=MAX_RECORD_LEN).contains(&len) || body + len > tail.len() {
            continue;
        }
        let payload = &tail[body..body + len];
        if payload[0] == b'{' && payload[len - 1] == b'}' && crc32fast::hash(payload) == crc {
            return Ok(Some(start + p as u64));
        }
    }
    Ok(None)
}

/// Appends `[len][crc][json]` for `record` to `out`; returns the record's total length.
fn encode_frame<T: Serialize>(out: &mut Vec<u8>, record: &T) -> io::Result<u32> {
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER_LEN]);
    if let Err(e) = serde_json::to_writer(&mut *out, record) {
        out.truncate(start);
        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
    }
    let len = out.len() - start - HEADER_LEN;
    if len > MAX_RECORD_LEN {
        out.truncate(start);
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("record of {len} bytes exceeds the {MAX_RECORD_LEN}-byte limit"),
        ));
    }
    let crc = crc32fast::hash(&out[start + HEADER_LEN..]);
    out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok((len + HEADER_LEN) as u32)
}

fn parse_header(bytes: &[u8]) -> Option<(u32, u32)> {
    let len = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?);
    let crc = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    Some((len, crc))
}

/// Removes keys `<= upto` and returns them.
fn remove_through<V>(map: &mut BTreeMap<u64, V>, upto: u64) -> BTreeMap<u64, V> {
    let kept = match upto.checked_add(1) {
        Some(first_kept) => map.split_off(&first_kept),
        None => BTreeMap::new(),
    };
    std::mem::replace(map, kept)
}

/// Turns any `RangeBounds<u64>` into `[start, end)` form, or `None` when it is empty. Avoids
/// `BTreeMap::range`, which panics on inverted ranges.
fn normalize(range: &impl RangeBounds<u64>) -> Option<(u64, Bound<u64>)> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => match e.checked_add(1) {
            Some(x) => Bound::Excluded(x),
            None => Bound::Unbounded,
        },
        Bound::Excluded(&e) => Bound::Excluded(e),
        Bound::Unbounded => Bound::Unbounded,
    };
    match end {
        Bound::Excluded(e) if e <= start => None,
        _ => Some((start, end)),
    }
}

/// Reads until `buf` is full or EOF; returns how many bytes were read.
fn read_up_to(rd: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match rd.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

async fn wait(rx: oneshot::Receiver<io::Result<()>>) -> io::Result<()> {
    rx.await.map_err(|_| writer_gone())?
}

fn writer_gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "raft log writer thread has stopped",
    )
}

/// Makes a rename or create inside `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened as files here; renames are durable on their own.
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
#[path = "log_store_properties.rs"]
mod properties;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Cursor;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
    use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
    use openraft::raft::{
        AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest,
        InstallSnapshotResponse, VoteRequest, VoteResponse,
    };
    use openraft::storage::{RaftLogStorageExt, RaftStateMachine, Snapshot};
    use openraft::testing::StoreBuilder;
    use openraft::{
        BasicNode, CommittedLeaderId, Entry, EntryPayload, RaftSnapshotBuilder, SnapshotMeta,
        StoredMembership,
    };

    use super::*;

    openraft::declare_raft_types!(
        pub TC: D = String, R = ()
    );

    type Store = FileLogStore<TC>;

    fn lid(term: u64, index: u64) -> LogId<u64> {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    fn ent(term: u64, index: u64, data: &str) -> Entry<TC> {
        Entry {
            log_id: lid(term, index),
            payload: EntryPayload::Normal(data.to_string()),
        }
    }

    fn ents(term: u64, range: std::ops::Range<u64>) -> Vec<Entry<TC>> {
        range.map(|i| ent(term, i, &format!("ping-{i}"))).collect()
    }

    fn data(e: &Entry<TC>) -> String {
        match &e.payload {
            EntryPayload::Normal(s) => s.clone(),
            EntryPayload::Blank => "<blank>".into(),
            EntryPayload::Membership(_) => "<membership>".into(),
        }
    }

    /// (term, index, payload) of each entry, for compact comparisons.
    fn summary(entries: &[Entry<TC>]) -> Vec<(u64, u64, String)> {
        entries
            .iter()
            .map(|e| (e.log_id.leader_id.term, e.log_id.index, data(e)))
            .collect()
    }

    async fn all(store: &mut Store) -> Vec<Entry<TC>> {
        store.try_get_log_entries(..).await.unwrap()
    }

    /// Offsets and total lengths of the records in a log file, parsed independently of the
    /// store so the tests can damage specific records.
    fn frames(path: &Path) -> Vec<(u64, u64)> {
        let bytes = fs::read(path).unwrap();
        assert_eq!(&bytes[..8], MAGIC);
        let mut out = Vec::new();
        let mut off = 8usize;
        while off + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
            out.push((off as u64, (len + 8) as u64));
            off += len + 8;
        }
        assert_eq!(off, bytes.len(), "test helper expects a clean file");
        out
    }

    fn file_len(path: &Path) -> u64 {
        fs::metadata(path).unwrap().len()
    }

    /// Sets the synced mark of a closed store, e.g. to where it was before the last write's
    /// sync completed (the tests that tear a tail by hand tear bytes the store did sync).
    fn set_mark(dir: &Path, len: u64) {
        SyncedMark::open(dir).unwrap().0.write(len).unwrap();
    }

    #[tokio::test]
    async fn append_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).await.unwrap();
        let st = store.get_log_state().await.unwrap();
        assert_eq!(st.last_log_id, None);
        assert_eq!(st.last_purged_log_id, None);

        store.blocking_append(ents(1, 0..10)).await.unwrap();

        assert_eq!(summary(&all(&mut store).await), summary(&ents(1, 0..10)));
        let mid = store.try_get_log_entries(3..6).await.unwrap();
        assert_eq!(summary(&mid), summary(&ents(1, 3..6)));
        assert_eq!(store.try_get_log_entries(7..=8).await.unwrap().len(), 2);
        assert_eq!(store.try_get_log_entries(8..).await.unwrap().len(), 2);
        assert!(store.try_get_log_entries(20..30).await.unwrap().is_empty());
        // Empty and inverted ranges must not panic (BTreeMap::range would).
        assert!(store.try_get_log_entries(5..5).await.unwrap().is_empty());
        let inverted = (Bound::Excluded(5u64), Bound::Excluded(5u64));
        assert!(store
            .try_get_log_entries(inverted)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .limited_get_log_entries(6, 2)
            .await
            .unwrap()
            .is_empty());

        let st = store.get_log_state().await.unwrap();
        assert_eq!(st.last_log_id, Some(lid(1, 9)));
        assert_eq!(st.last_purged_log_id, None);

        // The reader handed to replication sees later appends immediately.
        let mut reader = store.get_log_reader().await;
        store.blocking_append(ents(1, 10..12)).await.unwrap();
        assert_eq!(reader.try_get_log_entries(..).await.unwrap().len(), 12);
        assert!(store.stats().syncs >= 2);
    }

    #[tokio::test]
    async fn restart_keeps_entries_vote_committed_and_purged() {
        let dir = tempfile::tempdir().unwrap();
        let vote = Vote::new_committed(3, 2);
        {
            let mut store = Store::open(dir.path()).await.unwrap();
            store.blocking_append(ents(1, 0..6)).await.unwrap();
            store.blocking_append(ents(3, 6..10)).await.unwrap();
            store.save_vote(&Vote::new(2, 1)).await.unwrap();
            store.save_vote(&vote).await.unwrap();
            store.save_committed(Some(lid(3, 7))).await.unwrap();
            store.purge(lid(1, 3)).await.unwrap();
            assert_eq!(store.read_vote().await.unwrap(), Some(vote));
        }
        let mut store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.recovery().truncated_bytes, 0);
        assert_eq!(store.read_vote().await.unwrap(), Some(vote));
        assert_eq!(store.read_committed().await.unwrap(), Some(lid(3, 7)));
        let st = store.get_log_state().await.unwrap();
        assert_eq!(st.last_purged_log_id, Some(lid(1, 3)));
        assert_eq!(st.last_log_id, Some(lid(3, 9)));
        let mut want = ents(1, 4..6);
        want.extend(ents(3, 6..10));
        assert_eq!(summary(&all(&mut store).await), summary(&want));
    }

    #[tokio::test]
    async fn committed_is_written_without_a_sync_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).await.unwrap();
        store.blocking_append(ents(1, 0..3)).await.unwrap();
        let before = store.stats();
        store.save_committed(Some(lid(1, 2))).await.unwrap();
        // Wait for the writer to pick it up.
        let deadline = Instant::now() + Duration::from_secs(5);
        while store.stats().ops == before.ops {
            assert!(
                Instant::now() < deadline,
                "writer never processed the record"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let after = store.stats();
        assert_eq!(after.syncs, before.syncs, "committed must not cost a sync");
        assert!(after.file_len > before.file_len, "but it is written");
        // The next waited-for operation's sync covers it.
        store.flush().await.unwrap();
        assert_eq!(store.stats().syncs, before.syncs + 1);
        store.flush().await.unwrap();
        assert_eq!(
            store.stats().syncs,
            before.syncs + 1,
            "nothing left to sync"
        );
        drop(store);
        let mut store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.read_committed().await.unwrap(), Some(lid(1, 2)));
    }

    #[tokio::test]
    async fn truncate_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).await.unwrap();
            store.blocking_append(ents(1, 0..10)).await.unwrap();
            store.truncate(lid(1, 6)).await.unwrap();
            // Gone for readers as soon as truncate returns.
            assert_eq!(all(&mut store).await.len(), 6);
            store.blocking_append(ents(2, 6..8)).await.unwrap();
        }
        let mut store = Store::open(dir.path()).await.unwrap();
        let mut want = ents(1, 0..6);
        want.extend(ents(2, 6..8));
        assert_eq!(summary(&all(&mut store).await), summary(&want));
        assert_eq!(
            store.get_log_state().await.unwrap().last_log_id,
            Some(lid(2, 7))
        );

        // Truncating everything falls back to the last purged id (none here).
        store.truncate(lid(1, 0)).await.unwrap();
        drop(store);
        let mut store = Store::open(dir.path()).await.unwrap();
        assert!(all(&mut store).await.is_empty());
        assert_eq!(store.get_log_state().await.unwrap().last_log_id, None);
    }

    #[tokio::test]
    async fn purge_survives_restart_and_compaction_shrinks_file() {
        let dir = tempfile::tempdir().unwrap();
        let opts = LogStoreOptions {
            compact_min_dead_bytes: 4096,
        };
        let big = |r: std::ops::Range<u64>| -> Vec<Entry<TC>> {
            r.map(|i| ent(1, i, &format!("{i:04}{}", "x".repeat(1000))))
                .collect()
        };
        let path;
        {
            let mut store = Store::open_with(dir.path(), opts.clone()).await.unwrap();
            path = store.log_path();
            store.blocking_append(big(0..200)).await.unwrap();
            store.save_vote(&Vote::new_committed(1, 1)).await.unwrap();
            let before = file_len(&path);
            assert!(before > 200 * 1000);

            store.purge(lid(1, 149)).await.unwrap();
            store.flush().await.unwrap(); // compaction runs right after the purge's batch
            assert_eq!(store.stats().compactions, 1);
            let after = file_len(&path);
            assert!(
                after < before / 3,
                "compaction should drop ~3/4 of the file: {before} -> {after}"
            );
            assert_eq!(after, store.stats().file_len);

            // Entries that survived one compaction (and new ones appended after it) must be
            // found at their new offsets when a second compaction, this time triggered by a
            // truncate, copies them again.
            store.blocking_append(big(200..400)).await.unwrap();
            store.truncate(lid(1, 205)).await.unwrap();
            store.flush().await.unwrap();
            assert_eq!(store.stats().compactions, 2);
            store.blocking_append(ents(2, 205..210)).await.unwrap();
        }
        let mut want = big(150..205);
        want.extend(ents(2, 205..210));
        assert!(!dir.path().join(COMPACT_FILE).exists());
        let mut store = Store::open_with(dir.path(), opts).await.unwrap();
        assert_eq!(store.recovery().truncated_bytes, 0);
        let st = store.get_log_state().await.unwrap();
        assert_eq!(st.last_purged_log_id, Some(lid(1, 149)));
        assert_eq!(st.last_log_id, Some(lid(2, 209)));
        assert_eq!(summary(&all(&mut store).await), summary(&want));
        assert_eq!(
            store.read_vote().await.unwrap(),
            Some(Vote::new_committed(1, 1))
        );

        // Purging past the end empties the log; last_log_id falls back to the purged id.
        store.purge(lid(2, 500)).await.unwrap();
        drop(store);
        let mut store = Store::open(dir.path()).await.unwrap();
        let st = store.get_log_state().await.unwrap();
        assert_eq!(st.last_purged_log_id, Some(lid(2, 500)));
        assert_eq!(st.last_log_id, Some(lid(2, 500)));
        assert!(all(&mut store).await.is_empty());
        // And the next entry continues right after it.
        store.blocking_append(ents(2, 501..503)).await.unwrap();
        assert_eq!(all(&mut store).await.len(), 2);
    }

    #[tokio::test]
    async fn last_purged_never_moves_back_even_across_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let opts = LogStoreOptions {
            compact_min_dead_bytes: 1,
        };
        {
            let mut store = Store::open_with(dir.path(), opts.clone()).await.unwrap();
            store.blocking_append(ents(1, 0..10)).await.unwrap();
            store.purge(lid(1, 7)).await.unwrap();
            store.purge(lid(1, 3)).await.unwrap();
            // Make enough dead bytes for a compaction *after* the backwards purge.
            let before = store.stats().compactions;
            store.blocking_append(ents(1, 10..40)).await.unwrap();
            store.truncate(lid(1, 10)).await.unwrap();
            store.flush().await.unwrap();
            assert!(store.stats().compactions > before);
            let st = store.get_log_state().await.unwrap();
            assert_eq!(st.last_purged_log_id, Some(lid(1, 7)));
        }
        let mut store = Store::open_with(dir.path(), opts).await.unwrap();
        let st = store.get_log_state().await.unwrap();
        assert_eq!(st.last_purged_log_id, Some(lid(1, 7)));
        assert_eq!(summary(&all(&mut store).await), summary(&ents(1, 8..10)));
    }

    #[tokio::test]
    async fn leftover_compaction_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).await.unwrap();
            store.blocking_append(ents(1, 0..3)).await.unwrap();
        }
        // As if we crashed mid-compaction, before the rename.
        fs::write(dir.path().join(COMPACT_FILE), b"MRDRLOG1 half-written junk").unwrap();
        let mut store = Store::open(dir.path()).await.unwrap();
        assert_eq!(all(&mut store).await.len(), 3);
        assert!(!dir.path().join(COMPACT_FILE).exists());
    }

    #[tokio::test]
    async fn torn_tail_garbage_half_record_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        {
            let mut store = Store::open(dir.path()).await.unwrap();
            store.blocking_append(ents(1, 0..5)).await.unwrap();
        }
        let clean_len = file_len(&path);
        // A header promising 100 bytes followed by only 10 of them.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&100u32.to_le_bytes()).unwrap();
        f.write_all(&0xdead_beefu32.to_le_bytes()).unwrap();
        f.write_all(b"{\"Entry\":{").unwrap();
        drop(f);

        let mut store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.recovery().truncated_bytes, 18);
        assert_eq!(store.recovery().valid_bytes, clean_len);
        assert_eq!(store.recovery().records_replayed, 5);
        assert!(store
            .recovery()
            .truncate_reason
            .as_deref()
            .unwrap()
            .contains("past end of file"));
        assert_eq!(file_len(&path), clean_len);
        assert_eq!(summary(&all(&mut store).await), summary(&ents(1, 0..5)));

        // The store keeps working, and the next open is clean.
        store.blocking_append(ents(1, 5..7)).await.unwrap();
        drop(store);
        let mut store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.recovery().truncated_bytes, 0);
        assert_eq!(summary(&all(&mut store).await), summary(&ents(1, 0..7)));
    }

    #[tokio::test]
    async fn torn_tail_last_record_chopped_midway_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        {
            let mut store = Store::open(dir.path()).await.unwrap();
            store.blocking_append(ents(1, 0..5)).await.unwrap();
        }
        let (last_off, last_len) = *frames(&path).last().unwrap();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(last_off + last_len - 7).unwrap();
        drop(f);

        // The store synced that record, so the cut is refused ...
        let err = Store::open(dir.path())
            .await
            .err()
            .expect("a cut below the synced mark");
        assert!(err.to_string().contains("were synced before"), "{err}");
        // ... unless the crash came before its sync completed.
        set_mark(dir.path(), last_off);
        let mut store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.recovery().truncated_bytes, last_len - 7);
        assert_eq!(file_len(&path), last_off);
        assert_eq!(summary(&all(&mut store).await), summary(&ents(1, 0..4)));

        // Also a tail torn inside the 8-byte header, and a zero-filled tail (file size
        // updated, data never written).
        drop(store);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[7, 0, 0]).unwrap();
        drop(f);
        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.recovery().truncated_bytes, 3);
        drop(store);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0u8; 4096]).unwrap();
        drop(f);
        let mut store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.recovery().truncated_bytes, 4096);
        assert_eq!(all(&mut store).await.len(), 4);
    }

    #[tokio::test]
    async fn corrupt_checksum_in_last_record_is_cut_but_before_a_valid_record_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        {
            let mut store = Store::open(dir.path()).await.unwrap();
            store.blocking_append(ents(1, 0..5)).await.unwrap();
            store.save_vote(&Vote::new(1, 1)).await.unwrap();
        }
        let clean = fs::read(&path).unwrap();
        // One payload byte of the last entry record (the 5th; the vote follows): the vote after
        // it is valid, so this is damage inside synced data, not a torn tail.
        let fr = frames(&path);
        let (off, len) = fr[4];
        let mut bytes = clean.clone();
        bytes[(off + len - 3) as usize] ^= 0x20;
        fs::write(&path, &bytes).unwrap();
        // Even with the synced mark lagging behind the damage (its update lost in a crash).
        let mark = fs::read(dir.path().join(SYNCED_FILE)).unwrap();
        set_mark(dir.path(), off);
        match Store::open(dir.path()).await {
            Err(LogStoreError::Corrupt { offset, reason, .. }) => {
                assert_eq!(offset, off);
                assert!(reason.contains("valid record follows"), "{reason}");
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("cut a valid vote record as if it were a torn tail"),
        }
        assert_eq!(fs::read(&path).unwrap(), bytes, "nothing was cut");

        // The same flip in the vote, the last record: refused, since the store synced it; if
        // the crash came before that sync completed, a torn tail, cut.
        let (off, len) = fr[5];
        let mut bytes = clean;
        bytes[(off + len - 3) as usize] ^= 0x20;
        fs::write(&path, &bytes).unwrap();
        fs::write(dir.path().join(SYNCED_FILE), &mark).unwrap();
        let err = Store::open(dir.path())
            .await
            .err()
            .expect("the vote was synced");
        assert!(err.to_string().contains("were synced before"), "{err}");
        set_mark(dir.path(), off);
        let mut store = Store::open(dir.path()).await.unwrap();
        let rec = store.recovery().clone();
        assert_eq!(rec.truncate_reason.as_deref(), Some("checksum mismatch"));
        assert_eq!((rec.valid_bytes, rec.truncated_bytes), (off, len));
        assert_eq!(summary(&all(&mut store).await), summary(&ents(1, 0..5)));
        assert_eq!(store.read_vote().await.unwrap(), None);
    }

    /// A log written and synced by the store, then one byte flipped at each of many offsets
    /// (every record's length, checksum, first, middle and last payload byte, and the magic):
    /// `open` refuses every time. With the synced mark set back to before the last record (a
    /// crash before its sync completed), a flip in that record alone is cut as a torn tail. It
    /// never opens with a synced record silently missing.
    #[tokio::test]
    async fn a_flipped_byte_anywhere_in_a_synced_log_is_refused_or_only_the_unsynced_record_cut() {
        let src = tempfile::tempdir().unwrap();
        let path = src.path().join(LOG_FILE);
        {
            let mut store = Store::open(src.path()).await.unwrap();
            store.save_vote(&Vote::new(1, 1)).await.unwrap();
            for k in 0..6u64 {
                store
                    .blocking_append(ents(1, k * 5..k * 5 + 5))
                    .await
                    .unwrap();
            }
            store.save_committed(Some(lid(1, 20))).await.unwrap();
            store.blocking_append(ents(1, 30..31)).await.unwrap();
            store.flush().await.unwrap();
        }
        let clean = fs::read(&path).unwrap();
        let mark = fs::read(src.path().join(SYNCED_FILE)).unwrap();
        let fr = frames(&path);
        let (last_off, last_len) = *fr.last().unwrap();
        let mut offsets: BTreeSet<u64> = [0, 3, 7].into_iter().collect();
        for &(off, len) in &fr {
            for d in [0, 1, 3, 4, 6, 8, 9, len / 2, len - 2, len - 1] {
                offsets.insert(off + d);
            }
        }
        let (mut refused, mut cut) = (0, 0);
        for &at in &offsets {
            for last_synced in [true, false] {
                let dir = tempfile::tempdir().unwrap();
                let mut bytes = clean.clone();
                bytes[at as usize] ^= 0x41;
                fs::write(dir.path().join(LOG_FILE), &bytes).unwrap();
                fs::write(dir.path().join(SYNCED_FILE), &mark).unwrap();
                if !last_synced {
                    set_mark(dir.path(), last_off);
                }
                let may_cut = !last_synced && at >= last_off;
                match Store::open(dir.path()).await {
                    Err(LogStoreError::Corrupt { .. }) => {
                        assert!(!may_cut, "flip at {at} in the unsynced last record refused");
                        refused += 1;
                        assert_eq!(fs::read(dir.path().join(LOG_FILE)).unwrap(), bytes);
                    }
                    Err(e) => panic!("flip at {at}: unexpected error {e}"),
                    Ok(mut store) => {
                        assert!(may_cut, "flip at {at} opened: {:?}", store.recovery());
                        cut += 1;
                        let rec = store.recovery().clone();
                        assert_eq!((rec.valid_bytes, rec.truncated_bytes), (last_off, last_len));
                        assert_eq!(summary(&all(&mut store).await), summary(&ents(1, 0..30)));
                        assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(1, 1)));
                        assert_eq!(store.read_committed().await.unwrap(), Some(lid(1, 20)));
                    }
                }
            }
        }
        let in_last = offsets.iter().filter(|&&o| o >= last_off).count();
        assert_eq!(cut, in_last);
        assert_eq!(refused, 2 * offsets.len() - in_last);
        eprintln!(
            "{} offsets flipped: {refused} refused, {cut} cut",
            offsets.len()
        );
    }

    #[tokio::test]
    async fn a_clean_cut_below_the_synced_mark_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        {
            let mut store = Store::open(dir.path()).await.unwrap();
            store.blocking_append(ents(1, 0..5)).await.unwrap();
        }
        // Cut exactly at a record boundary: replay alone sees a clean end after 3 entries.
        let (off, _) = frames(&path)[3];
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(off)
            .unwrap();
        match Store::open(dir.path()).await {
            Err(LogStoreError::Corrupt { offset, reason, .. }) => {
                assert_eq!(offset, off);
                assert!(reason.contains("the file ends at byte"), "{reason}");
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("opened a log cut below what was synced"),
        }
    }

    #[tokio::test]
    async fn corruption_far_from_the_tail_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        let blob = "y".repeat(7 << 20);
        {
            let mut store = Store::open(dir.path()).await.unwrap();
            let big: Vec<_> = (0..4).map(|i| ent(1, i, &blob)).collect();
            store.blocking_append(big).await.unwrap();
        }
        let (off, _) = frames(&path)[0];
        let mut bytes = fs::read(&path).unwrap();
        bytes[(off + 20) as usize] ^= 1;
        fs::write(&path, &bytes).unwrap();

        // 28 MiB follow the bad record: more than can be unsynced, so this is damaged
        // acknowledged data and must not be silently dropped.
        match Store::open(dir.path()).await {
            Err(LogStoreError::Corrupt { offset, reason, .. }) => {
                assert_eq!(offset, off);
                assert!(reason.contains("refusing"), "{reason}");
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("opened a log with corrupted acknowledged data"),
        }
        assert_eq!(file_len(&path), bytes.len() as u64, "nothing was cut");
    }

    #[tokio::test]
    async fn undecodable_record_with_valid_checksum_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        {
            let mut store = Store::open(dir.path()).await.unwrap();
            store.blocking_append(ents(1, 0..2)).await.unwrap();
        }
        let mut frame = Vec::new();
        encode_frame(&mut frame, &serde_json::json!({"Bogus": 1})).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&frame).unwrap();
        drop(f);
        let err = Store::open(dir.path()).await.err().expect("must refuse");
        assert!(
            matches!(&err, LogStoreError::Corrupt { reason, .. } if reason.contains("does not decode")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn second_open_of_same_dir_is_refused_until_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        let mut store = Store::open(&nested).await.unwrap();
        store.blocking_append(ents(1, 0..2)).await.unwrap();
        let handle = store.clone();
        let mut reader = store.get_log_reader().await;
        drop(store);
        // Any full handle keeps the store (and its writer) alive.
        let err = Store::open(dir.path().join("a/./b"))
            .await
            .err()
            .expect("must refuse");
        assert!(matches!(err, LogStoreError::AlreadyOpen(_)), "{err}");
        drop(handle);
        // A replication reader does not: the store closes and can be reopened while the
        // reader still answers from its last view.
        let mut reopened = Store::open(&nested).await.unwrap();
        assert_eq!(all(&mut reopened).await.len(), 2);
        assert_eq!(reader.try_get_log_entries(..).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn foreign_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LOG_FILE), b"NOTALOG!whatever").unwrap();
        let err = Store::open(dir.path()).await.err().expect("must refuse");
        assert!(
            matches!(err, LogStoreError::Corrupt { offset: 0, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn holes_are_refused_and_empty_appends_complete() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).await.unwrap();
        store.blocking_append(ents(1, 0..3)).await.unwrap();
        store.blocking_append(Vec::new()).await.unwrap();
        let err = store.blocking_append(ents(1, 5..6)).await.unwrap_err();
        assert!(err.into_defensive().is_some());
        let err = store
            .blocking_append(vec![ent(1, 3, "a"), ent(1, 5, "b")])
            .await
            .unwrap_err();
        assert!(err.into_defensive().is_some());
        assert_eq!(
            all(&mut store).await.len(),
            3,
            "a refused append changes nothing"
        );
    }

    #[tokio::test]
    async fn limited_reads_are_bounded_but_never_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).await.unwrap();
        let blob = "z".repeat(1 << 20);
        let big: Vec<_> = (0..6).map(|i| ent(1, i, &blob)).collect();
        store.blocking_append(big).await.unwrap();
        let got = store.limited_get_log_entries(0, 6).await.unwrap();
        assert!((1..6).contains(&got.len()), "got {}", got.len());
        assert_eq!(got[0].log_id.index, 0);
        let one = store.limited_get_log_entries(5, 6).await.unwrap();
        assert_eq!(one.len(), 1);
    }

    /// Appends from `tasks` concurrent tasks, `per_task` each, with ~`size`-byte payloads.
    /// Indexes are handed out under a lock together with the (non-blocking) enqueue, so the log
    /// stays consecutive, while the wait for durability happens outside the lock.
    async fn concurrent_appends(store: &Store, tasks: u64, per_task: u64, size: usize) {
        let next = Arc::new(Mutex::new(0u64));
        let mut handles = Vec::new();
        for t in 0..tasks {
            let store = store.clone();
            let next = Arc::clone(&next);
            let pad = "p".repeat(size);
            handles.push(tokio::spawn(async move {
                for _ in 0..per_task {
                    let rx = {
                        let mut n = next.lock().unwrap();
                        let e = ent(1, *n, &format!("{}:{t}:{pad}", *n));
                        *n += 1;
                        store.append_detached(vec![e]).unwrap()
                    };
                    rx.await.unwrap().unwrap();
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_complete_and_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        concurrent_appends(&store, 64, 20, 100).await;
        let stats = store.stats();
        assert_eq!(stats.ops, 1280);
        assert!(
            stats.syncs < 1280,
            "appends queued during a sync must share the next one: {stats:?}"
        );
        drop(store);

        let mut store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.recovery().truncated_bytes, 0);
        let got = all(&mut store).await;
        assert_eq!(got.len(), 1280);
        for (i, e) in got.iter().enumerate() {
            assert_eq!(e.log_id.index, i as u64);
            assert!(data(e).starts_with(&format!("{i}:")));
        }
    }

    // ----- openraft's own storage test suite -------------------------------------------------

    /// Minimal in-memory state machine: the suite needs one next to the log store.
    #[derive(Clone, Default)]
    struct MemSm {
        inner: Arc<Mutex<SmState>>,
    }

    #[derive(Default)]
    struct SmState {
        applied: Option<LogId<u64>>,
        membership: StoredMembership<u64, BasicNode>,
        snapshot: Option<(SnapshotMeta<u64, BasicNode>, Vec<u8>)>,
        snapshots_built: u64,
    }

    impl RaftSnapshotBuilder<TC> for MemSm {
        async fn build_snapshot(&mut self) -> Result<Snapshot<TC>, StorageError<u64>> {
            let mut s = self.inner.lock().unwrap();
            s.snapshots_built += 1;
            let meta = SnapshotMeta {
                last_log_id: s.applied,
                last_membership: s.membership.clone(),
                snapshot_id: format!("snap-{}", s.snapshots_built),
            };
            let bytes = serde_json::to_vec(&(s.applied, &s.membership))
                .map_err(|e| StorageIOError::write_snapshot(None, AnyError::new(&e)))?;
            s.snapshot = Some((meta.clone(), bytes.clone()));
            Ok(Snapshot {
                meta,
                snapshot: Box::new(Cursor::new(bytes)),
            })
        }
    }

    impl RaftStateMachine<TC> for MemSm {
        type SnapshotBuilder = MemSm;

        async fn applied_state(
            &mut self,
        ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), StorageError<u64>>
        {
            let s = self.inner.lock().unwrap();
            Ok((s.applied, s.membership.clone()))
        }

        async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError<u64>>
        where
            I: IntoIterator<Item = Entry<TC>> + OptionalSend,
            I::IntoIter: OptionalSend,
        {
            let mut s = self.inner.lock().unwrap();
            let mut out = Vec::new();
            for e in entries {
                s.applied = Some(e.log_id);
                if let EntryPayload::Membership(m) = &e.payload {
                    s.membership = StoredMembership::new(Some(e.log_id), m.clone());
                }
                out.push(());
            }
            Ok(out)
        }

        async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
            self.clone()
        }

        async fn begin_receiving_snapshot(
            &mut self,
        ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
            Ok(Box::new(Cursor::new(Vec::new())))
        }

        async fn install_snapshot(
            &mut self,
            meta: &SnapshotMeta<u64, BasicNode>,
            snapshot: Box<Cursor<Vec<u8>>>,
        ) -> Result<(), StorageError<u64>> {
            let mut s = self.inner.lock().unwrap();
            s.applied = meta.last_log_id;
            s.membership = meta.last_membership.clone();
            s.snapshot = Some((meta.clone(), snapshot.into_inner()));
            Ok(())
        }

        async fn get_current_snapshot(
            &mut self,
        ) -> Result<Option<Snapshot<TC>>, StorageError<u64>> {
            let s = self.inner.lock().unwrap();
            Ok(s.snapshot.as_ref().map(|(meta, bytes)| Snapshot {
                meta: meta.clone(),
                snapshot: Box::new(Cursor::new(bytes.clone())),
            }))
        }
    }

    struct SuiteBuilder;

    impl StoreBuilder<TC, Store, MemSm, tempfile::TempDir> for SuiteBuilder {
        async fn build(&self) -> Result<(tempfile::TempDir, Store, MemSm), StorageError<u64>> {
            let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(AnyError::new(&e)))?;
            let store = Store::open(dir.path())
                .await
                .map_err(|e| StorageIOError::write(AnyError::new(&e)))?;
            Ok((dir, store, MemSm::default()))
        }
    }

    #[test]
    fn openraft_storage_suite() {
        openraft::testing::Suite::test_all(SuiteBuilder).unwrap();
    }

    // ----- a real single-node Raft on top of the store ---------------------------------------

    struct NoNetwork;

    fn unreachable<E: std::error::Error>() -> RPCError<u64, BasicNode, E> {
        RPCError::Unreachable(Unreachable::new(&io::Error::other("single-node test")))
    }

    impl RaftNetworkFactory<TC> for NoNetwork {
        type Network = NoNetwork;
        async fn new_client(&mut self, _target: u64, _node: &BasicNode) -> NoNetwork {
            NoNetwork
        }
    }

    impl RaftNetwork<TC> for NoNetwork {
        async fn append_entries(
            &mut self,
            _rpc: AppendEntriesRequest<TC>,
            _option: RPCOption,
        ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
            Err(unreachable())
        }

        async fn install_snapshot(
            &mut self,
            _rpc: InstallSnapshotRequest<TC>,
            _option: RPCOption,
        ) -> Result<
            InstallSnapshotResponse<u64>,
            RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
        > {
            Err(unreachable())
        }

        async fn vote(
            &mut self,
            _rpc: VoteRequest<u64>,
            _option: RPCOption,
        ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
            let _ = NetworkError::new(&io::Error::other("unused"));
            Err(unreachable())
        }
    }

    /// Starts a one-node Raft on a store in `dir`; also returns a handle on that store, for its
    /// stats (drop it before reopening the directory).
    async fn start_single_node(dir: &Path, sm: MemSm) -> (openraft::Raft<TC>, Store) {
        let config = openraft::Config {
            heartbeat_interval: 50,
            election_timeout_min: 150,
            election_timeout_max: 300,
            ..Default::default()
        }
        .validate()
        .unwrap();
        let store = Store::open(dir).await.unwrap();
        let raft = openraft::Raft::new(1, Arc::new(config), NoNetwork, store.clone(), sm)
            .await
            .unwrap();
        (raft, store)
    }

    async fn wait_leader(raft: &openraft::Raft<TC>) {
        raft.wait(Some(Duration::from_secs(10)))
            .state(openraft::ServerState::Leader, "become leader")
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn single_node_raft_writes_survive_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (raft, handle) = start_single_node(dir.path(), MemSm::default()).await;
        raft.initialize(BTreeMap::from([(1u64, BasicNode::default())]))
            .await
            .unwrap();
        wait_leader(&raft).await;

        let mut handles = Vec::new();
        for t in 0..8 {
            let raft = raft.clone();
            handles.push(tokio::spawn(async move {
                for i in 0..10 {
                    raft.client_write(format!("w-{t}-{i}")).await.unwrap();
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        let last = raft.metrics().borrow().last_log_index.unwrap();
        raft.shutdown().await.unwrap();
        drop(raft);
        drop(handle);

        let mut store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.recovery().truncated_bytes, 0);
        let entries = all(&mut store).await;
        assert_eq!(entries.last().unwrap().log_id.index, last);
        let written: Vec<_> = entries
            .iter()
            .map(data)
            .filter(|d| d.starts_with("w-"))
            .collect();
        assert_eq!(written.len(), 80);
        let vote = store.read_vote().await.unwrap().unwrap();
        assert!(vote.is_committed());
        assert_eq!(vote.leader_id().voted_for(), Some(1));
        let committed = store.read_committed().await.unwrap().unwrap();
        assert_eq!(committed.index, last);
        drop(store);

        // And openraft itself restarts from it: same node comes back as leader and accepts
        // writes after the recovered log.
        let (raft, _handle) = start_single_node(dir.path(), MemSm::default()).await;
        wait_leader(&raft).await;
        let resp = raft
            .client_write("after-restart".to_string())
            .await
            .unwrap();
        assert!(resp.log_id.index > last);
        raft.shutdown().await.unwrap();
    }

    // ----- throughput measurement (run explicitly, in release mode) --------------------------
    //
    // cargo test --release -- --ignored --nocapture bench_

    const KB: usize = 1000;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn bench_append_throughput() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).await.unwrap();

        let n = 2000u64;
        let start = Instant::now();
        let pad = "s".repeat(KB);
        for i in 0..n {
            store
                .blocking_append(vec![ent(1, i, &format!("{i}:{pad}"))])
                .await
                .unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        let s = store.stats();
        println!(
            "sequential: {n} x 1KB appends in {secs:.2}s = {:.0} appends/s, {} syncs ({:.3} ms/sync)",
            n as f64 / secs,
            s.syncs,
            secs * 1000.0 / s.syncs as f64
        );
        drop(store);

        for tasks in [8u64, 64] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).await.unwrap();
            let per = 20_000 / tasks;
            let start = Instant::now();
            concurrent_appends(&store, tasks, per, KB).await;
            let secs = start.elapsed().as_secs_f64();
            let s = store.stats();
            println!(
                "concurrent x{tasks}: {} x 1KB appends in {secs:.2}s = {:.0} appends/s, {} syncs \
                 ({:.1} appends/sync)",
                tasks * per,
                (tasks * per) as f64 / secs,
                s.syncs,
                (tasks * per) as f64 / s.syncs as f64
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn bench_single_node_raft_client_writes() {
        for tasks in [1u64, 64] {
            let dir = tempfile::tempdir().unwrap();
            let (raft, store) = start_single_node(dir.path(), MemSm::default()).await;
            raft.initialize(BTreeMap::from([(1u64, BasicNode::default())]))
                .await
                .unwrap();
            wait_leader(&raft).await;
            let per = 4000 / tasks;
            let syncs_before = store.stats().syncs;
            let start = Instant::now();
            let mut handles = Vec::new();
            for t in 0..tasks {
                let raft = raft.clone();
                handles.push(tokio::spawn(async move {
                    let pad = "r".repeat(KB);
                    for i in 0..per {
                        raft.client_write(format!("{t}:{i}:{pad}")).await.unwrap();
                    }
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "openraft single node, {tasks} concurrent writers: {} x 1KB client_write in \
                 {secs:.2}s = {:.0} writes/s, {} log syncs",
                tasks * per,
                (tasks * per) as f64 / secs,
                store.stats().syncs - syncs_before
            );
            raft.shutdown().await.unwrap();
        }
    }
}
