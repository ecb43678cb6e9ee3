//! The observation log: every matched speed the state machine applies, kept as hourly Parquet
//! files (`<dir>/<yyyymmddhh>-<log index>.parquet`, hour of the PING time in UTC) for analytics
//! and for building historical profiles ([`super::history`]). Columns: `edge`, `osm_way_id`,
//! `ts_ms`, `speed_kmh` and `log_index`, the Raft log index of the entry the row came from.
//!
//! The apply path only pushes one small `Vec` per Raft entry into a channel; a writer thread
//! resolves OSM way ids, buffers rows by hour and writes Parquet when a later hour starts, when
//! the buffer holds `flush_rows` rows, when asked to (before every Raft snapshot), and on drop.
//!
//! Rows are written in apply order, so replicas that apply the same log write the same rows.
//! Each file is named after the last log index whose rows it completes (the "watermark"): on
//! restart the log re-applies entries after the last snapshot, and rows of entries at or below the
//! highest watermark on disk are dropped instead of written twice. The state machine flushes
//! before persisting a snapshot, so every entry a snapshot covers is on disk: nothing is lost
//! when the log behind it is purged.
//!
//! A follower that catches up by installing a snapshot skips the entries in it; its files then
//! lack those rows, other nodes' have them. Nodes cut their files at different places, so files
//! cannot be matched up across nodes, but rows can: applying is deterministic, so an entry's
//! rows (same `log_index`) are identical on every node that recorded it.
//! [`super::history::build_profiles`] merges several nodes' directories by `log_index`, each
//! entry's rows counted once, and reports which entries no node has. Files written before the
//! `log_index` column existed can only be read on their own (one source), without that merge.

use graph::{GlobalId, GraphStore};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

/// One applied observation as the state machine sees it: `(packed edge id, ping ms, km/h)`.
pub type AppliedObservation = (u64, i64, f32);

/// A row of the observation files.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ObservationRow {
    /// [`GlobalId::pack`] of the directed edge.
    pub edge: u64,
    /// OSM way of the edge (-1 if this graph does not know the edge), so rows can be re-matched
    /// to a later graph version.
    pub osm_way_id: i64,
    pub ts_ms: i64,
    pub speed_kmh: f32,
    /// Raft log index of the entry the row came from. Applying is deterministic, so an entry's
    /// rows are the same on every replica: this identifies them across nodes' files.
    pub log_index: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ObservationError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[cfg(feature = "analytics")]
    #[error("parquet: {0}")]
    Parquet(#[from] polars::prelude::PolarsError),
    #[cfg(feature = "analytics")]
    #[error(transparent)]
    Write(#[from] crate::parquet::WriteError),
    #[error("this build has no Parquet support (feature `analytics`)")]
    NoAnalytics,
    #[error("the observation writer stopped: {0}")]
    WriterGone(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ObservationError + '_ {
    move |source| ObservationError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ObservationOptions {
    /// Write the buffers once they hold this many rows (bounds memory and file count).
    pub flush_rows: usize,
}

impl Default for ObservationOptions {
    fn default() -> Self {
        ObservationOptions {
            flush_rows: 1_000_000,
        }
    }
}

enum Msg {
    Rows(u64, Vec<AppliedObservation>),
    Flush(tokio::sync::oneshot::Sender<Result<(), String>>),
}

/// Handle of the writer thread; dropping it writes what is buffered and stops the thread.
pub struct ObservationLog {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
    /// Highest watermark on disk when opened: entries up to it were recorded before.
    recorded_up_to: Option<u64>,
    dir: PathBuf,
}

impl ObservationLog {
    /// Opens (creating) `dir` and starts the writer; way ids come from `store`.
    pub fn open(
        dir: impl Into<PathBuf>,
        store: Arc<GraphStore>,
        options: ObservationOptions,
    ) -> Result<ObservationLog, ObservationError> {
        if !cfg!(feature = "analytics") {
            return Err(ObservationError::NoAnalytics);
        }
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let recorded_up_to = files(&dir)?.iter().filter_map(|p| watermark_of(p)).max();
        let (tx, rx) = mpsc::channel();
        let mut writer = Writer {
            dir: dir.clone(),
            store,
            options,
            hours: BTreeMap::new(),
            buffered: 0,
            last_index: recorded_up_to,
        };
        let thread = std::thread::Builder::new()
            .name("observations".into())
            .spawn(move || writer.run(rx))
            .map_err(io_error(&dir))?;
        Ok(ObservationLog {
            tx: Some(tx),
            thread: Some(thread),
            recorded_up_to,
            dir,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Highest log index already on disk when the log was opened.
    pub fn recorded_up_to(&self) -> Option<u64> {
        self.recorded_up_to
    }

    /// Queues the observations of log entry `log_index` (never blocks). Entries recorded
    /// before a restart are ignored.
    pub fn record(&self, log_index: u64, rows: Vec<AppliedObservation>) {
        if rows.is_empty() || self.recorded_up_to.is_some_and(|w| log_index <= w) {
            return;
        }
        if let Some(tx) = &self.tx {
            // A dead writer already reported its error on stderr; applying must go on.
            let _ = tx.send(Msg::Rows(log_index, rows));
        }
    }

    /// Writes everything queued so far and waits for it (async: the snapshot builder).
    pub async fn flush_async(&self) -> Result<(), ObservationError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.send(Msg::Flush(done))?;
        wait.await
            .map_err(|e| ObservationError::WriterGone(e.to_string()))?
            .map_err(ObservationError::WriterGone)
    }

    /// Writes everything queued so far and waits for it (blocking; not on an async runtime).
    pub fn flush(&self) -> Result<(), ObservationError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.send(Msg::Flush(done))?;
        wait.blocking_recv()
            .map_err(|e| ObservationError::WriterGone(e.to_string()))?
            .map_err(ObservationError::WriterGone)
    }

    fn send(&self, msg: Msg) -> Result<(), ObservationError> {
        self.tx
            .as_ref()
            .ok_or_else(|| ObservationError::WriterGone("closed".into()))?
            .send(msg)
            .map_err(|_| ObservationError::WriterGone("thread ended".into()))
    }
}

impl Drop for ObservationLog {
    fn drop(&mut self) {
        // Closing the channel makes the writer flush and return.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The `.parquet` files of an observation directory, sorted by name (= by hour, then index).
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, ObservationError> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_error(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    out.sort();
    Ok(out)
}

/// The log index in a file name `<yyyymmddhh>-<index>.parquet`.
fn watermark_of(path: &Path) -> Option<u64> {
    let stem = path.file_stem()?.to_str()?;
    stem.split_once('-')?.1.parse().ok()
}

const HOUR_MS: i64 = 3_600_000;

/// `yyyymmddhh` (UTC) of the hour starting at `hour * HOUR_MS`.
pub fn hour_name(hour: i64) -> String {
    let days = hour.div_euclid(24);
    let h = hour.rem_euclid(24);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}{h:02}")
}

struct Writer {
    dir: PathBuf,
    store: Arc<GraphStore>,
    options: ObservationOptions,
    /// Buffered rows by hour since the epoch.
    hours: BTreeMap<i64, Vec<ObservationRow>>,
    buffered: usize,
    /// Newest log index received (or on disk at start).
    last_index: Option<u64>,
}

impl Writer {
    fn run(&mut self, rx: mpsc::Receiver<Msg>) {
        let report = |r: Result<(), ObservationError>| {
            if let Err(e) = &r {
                eprintln!("meridian: observation log: {e}");
            }
            r.map_err(|e| e.to_string())
        };
        while let Ok(msg) = rx.recv() {
            match msg {
                Msg::Rows(index, rows) => {
                    let r = self.push(index, rows);
                    let _ = report(r);
                }
                Msg::Flush(done) => {
                    let _ = done.send(report(self.write_buffers()));
                }
            }
        }
        let _ = report(self.write_buffers());
    }

    fn push(&mut self, index: u64, rows: Vec<AppliedObservation>) -> Result<(), ObservationError> {
        // An entry wholly in a later hour than everything buffered closes the buffered hours,
        // so every file's watermark is an entry boundary. (An entry straddling two hours joins
        // both buffers: one file per hour for in-order pings, not an extra sliver.)
        let oldest = rows.iter().map(|r| r.1.div_euclid(HOUR_MS)).min();
        let newest_buffered = self.hours.last_key_value().map(|(h, _)| *h);
        if let (Some(oldest), Some(buffered)) = (oldest, newest_buffered) {
            if oldest > buffered {
                self.write_buffers()?;
            }
        }
        for (edge, ts_ms, speed_kmh) in rows {
            let id = GlobalId::unpack(edge);
            let osm_way_id = self
                .store
                .tile(id.tile)
                .ok()
                .and_then(|t| t.edges.get(id.local as usize).map(|e| e.way_id()))
                .unwrap_or(-1);
            let hour = ts_ms.div_euclid(HOUR_MS);
            self.hours.entry(hour).or_default().push(ObservationRow {
                edge,
                osm_way_id,
                ts_ms,
                speed_kmh,
                log_index: index,
            });
            self.buffered += 1;
        }
        self.last_index = Some(index);
        if self.buffered >= self.options.flush_rows {
            self.write_buffers()?;
        }
        Ok(())
    }

    /// Writes every buffered hour, each file named with the newest index received.
    fn write_buffers(&mut self) -> Result<(), ObservationError> {
        let Some(index) = self.last_index else {
            return Ok(());
        };
        for (hour, rows) in std::mem::take(&mut self.hours) {
            let path = self
                .dir
                .join(format!("{}-{index:020}.parquet", hour_name(hour)));
            write_rows(&rows, &path)?;
        }
        self.buffered = 0;
        Ok(())
    }
}

/// Writes observation rows as one Parquet file, atomically (temp file + rename).
#[cfg(feature = "analytics")]
pub fn write_rows(rows: &[ObservationRow], path: &Path) -> Result<(), ObservationError> {
    use polars::prelude::*;
    let columns = vec![
        Column::new(
            "edge".into(),
            rows.iter().map(|r| r.edge).collect::<Vec<_>>(),
        ),
        Column::new(
            "osm_way_id".into(),
            rows.iter().map(|r| r.osm_way_id).collect::<Vec<_>>(),
        ),
        Column::new(
            "ts_ms".into(),
            rows.iter().map(|r| r.ts_ms).collect::<Vec<_>>(),
        ),
        Column::new(
            "speed_kmh".into(),
            rows.iter().map(|r| r.speed_kmh).collect::<Vec<_>>(),
        ),
        Column::new(
            "log_index".into(),
            rows.iter().map(|r| r.log_index).collect::<Vec<_>>(),
        ),
    ];
    let mut df = DataFrame::new(rows.len(), columns)?;
    crate::parquet::write_atomically(&mut df, path)?;
    Ok(())
}

#[cfg(not(feature = "analytics"))]
pub fn write_rows(_rows: &[ObservationRow], _path: &Path) -> Result<(), ObservationError> {
    Err(ObservationError::NoAnalytics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_names_are_utc_civil_dates() {
        assert_eq!(hour_name(0), "1970010100");
        // 2026-11-23 08:00 UTC = 1_795_420_800 s.
        assert_eq!(hour_name(1_795_420_800 / 3600), "2026112308");
        // 2024-02-29 23:00 UTC (leap day) = 1_709_247_600 s.
        assert_eq!(hour_name(1_709_247_600 / 3600), "2024022923");
    }

    #[test]
    fn watermarks_come_from_file_names() {
        assert_eq!(
            watermark_of(Path::new("/x/2026112308-00000000000000000042.parquet")),
            Some(42)
        );
        assert_eq!(watermark_of(Path::new("/x/notes.parquet")), None);
    }
}
