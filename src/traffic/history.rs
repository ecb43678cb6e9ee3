//! Historical traffic: per-edge time-of-week speed profiles.
//!
//! [`build_profiles`] (feature `analytics`) reads the observation log's Parquet files with a
//! polars lazy query: time-of-week bin per row, median speed and count per `(edge, bin)`, bins with
//! fewer than `min_samples` observations dropped. The result is written as a small binary file
//! ([`HistoricalProfiles::write`]) that route servers load at start ([`HistoricalProfiles::load`])
//! into per-tile dense arrays, looked up with two indexed loads and no locks.
//!
//! The build takes several [`ObservationSource`]s, e.g. every cluster node's observation
//! directory: a follower that caught up by installing a snapshot lacks the entries the snapshot
//! covered, so one node's files may have holes another's fill. The sources are concatenated with
//! a `source` column; per `log_index` one source is chosen, the one with the most rows of that
//! entry (a node whose writer failed between the files of one flush holds part of an entry), the
//! first given among equals; an inner join on `(log_index, source)` keeps only the chosen
//! source's rows of each entry, all in the lazy query. Every entry is thus counted once, however
//! many replicas have it. The [`BuildReport`] gives, per source, its rows, distinct entries and
//! the entries taken from it, and the log index ranges no source has rows for (lost data, unless
//! those entries had no observations: a leader's blank entry, a membership change, a batch
//! without matched speeds).
//!
//! Files written before observations carried `log_index` read as rows without an index: with a
//! single source they are used as before (nothing to merge), with several sources the build
//! refuses them ([`HistoryError::Unindexed`]), since their entries cannot be matched across
//! sources and would be counted once per replica.
//!
//! Bins are 15 minutes of the week, bin 0 starting Monday 00:00 **UTC**: the graph has no
//! timezone, and UTC on both sides (building from ping times, looking up by departure time) is
//! consistent. For a region with daylight saving, a local-time pattern shifts by one bin-hour
//! between seasons; a per-graph UTC offset would fix that once the manifest knows one.
//!
//! File format (little endian): magic `MRDNPROF`, u32 format version, u32 bins per week, u32 +
//! bytes graph version, u32 count of tiles with data; per such tile u32 tile index, u32 edge count
//! `n`, `n` × u32 local edge ids, `n` × bins u8 speeds in km/h (0 = no profile for that bin);
//! then a CRC-32 of everything before it.

use graph::{EdgeId, GlobalId, GraphStore};
use std::path::{Path, PathBuf};

/// Length of one time-of-week bin.
pub const BIN_MS: i64 = 15 * 60 * 1000;
pub const BINS_PER_WEEK: usize = 7 * 24 * 4;
const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;
/// 1970-01-01 was a Thursday: shifted by three days, week offsets start on Monday 00:00.
const MONDAY_SHIFT_MS: i64 = 3 * DAY_MS;
const MAGIC: &[u8; 8] = b"MRDNPROF";
const FORMAT_VERSION: u32 = 1;
const NO_SLOT: u32 = u32::MAX;

/// Time-of-week bin (UTC, Monday 00:00 = bin 0) of a time in ms since the epoch.
#[inline]
pub fn time_of_week_bin(ts_ms: i64) -> u16 {
    ((ts_ms + MONDAY_SHIFT_MS).rem_euclid(WEEK_MS) / BIN_MS) as u16
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a profile file: {reason}")]
    Format { path: String, reason: String },
    #[error("{path} was built for graph version {found}, this graph is {expected}")]
    GraphVersion {
        path: String,
        found: String,
        expected: String,
    },
    #[error("no observation files given")]
    NoInput,
    #[error("no .parquet files in {0}")]
    NoFiles(String),
    #[error(
        "{name}: {rows} observation rows have no log index (files written before observations \
         recorded one); they cannot be merged with other sources without counting entries \
         twice: build from that source alone"
    )]
    Unindexed { name: String, rows: u64 },
    #[error(transparent)]
    Observations(#[from] super::observations::ObservationError),
    #[error(transparent)]
    Store(#[from] graph::StoreError),
    #[cfg(feature = "analytics")]
    #[error("polars: {0}")]
    Polars(#[from] polars::prelude::PolarsError),
}

/// One tile's profiled edges: `slot[local]` indexes `speeds` rows of [`BINS_PER_WEEK`] bytes.
#[derive(Clone, Debug)]
struct TileProfiles {
    slot: Box<[u32]>,
    speeds: Box<[u8]>,
}

/// Per-edge time-of-week speeds, immutable once built or loaded.
#[derive(Clone, Debug)]
pub struct HistoricalProfiles {
    graph_version: String,
    tiles: Vec<Option<TileProfiles>>,
    /// Per bin, the largest profile speed / free-flow speed (≥ 1): bounds the A* heuristic.
    speedup: Box<[f64]>,
    /// Edges with at least one profiled bin.
    pub edges: usize,
    /// Profiled `(edge, bin)` pairs.
    pub bins: usize,
}

impl HistoricalProfiles {
    /// Profiles from `(edge, bin, km/h)` triples. Speeds are capped at the graph's top speed,
    /// as live speeds are, so the A* heuristic stays a lower bound; edges this graph does not
    /// have are skipped.
    pub fn from_bins(
        store: &GraphStore,
        bins: impl IntoIterator<Item = (EdgeId, u16, f32)>,
    ) -> Result<Self, HistoryError> {
        let top = store.manifest().max_speed_kmh.clamp(1.0, 255.0);
        let mut tiles: Vec<Option<(Vec<u32>, Vec<u8>)>> = vec![None; store.tile_count() as usize];
        for (id, bin, speed) in bins {
            if bin as usize >= BINS_PER_WEEK || !speed.is_finite() {
                continue;
            }
            let Some(slot_tile) = tiles.get_mut(id.tile as usize) else {
                continue;
            };
            let tile = store.tile(id.tile)?;
            if id.local as usize >= tile.edges.len() {
                continue;
            }
            let (slots, speeds) =
                slot_tile.get_or_insert_with(|| (vec![NO_SLOT; tile.edges.len()], Vec::new()));
            let slot = &mut slots[id.local as usize];
            if *slot == NO_SLOT {
                *slot = (speeds.len() / BINS_PER_WEEK) as u32;
                speeds.resize(speeds.len() + BINS_PER_WEEK, 0);
            }
            speeds[*slot as usize * BINS_PER_WEEK + bin as usize] =
                speed.round().clamp(1.0, top) as u8;
        }
        let tiles = tiles
            .into_iter()
            .map(|t| {
                t.map(|(slot, speeds)| TileProfiles {
                    slot: slot.into_boxed_slice(),
                    speeds: speeds.into_boxed_slice(),
                })
            })
            .collect();
        Self::finish(store, store.manifest().graph_version.clone(), tiles)
    }

    /// Counts and per-bin speedups, computed from the graph (never trusted from a file).
    fn finish(
        store: &GraphStore,
        graph_version: String,
        tiles: Vec<Option<TileProfiles>>,
    ) -> Result<Self, HistoryError> {
        let mut speedup = vec![1.0f64; BINS_PER_WEEK].into_boxed_slice();
        let (mut edges, mut bins) = (0, 0);
        for (t, tp) in tiles.iter().enumerate() {
            let Some(tp) = tp else { continue };
            let tile = store.tile(t as u32)?;
            for (local, &slot) in tp.slot.iter().enumerate() {
                if slot == NO_SLOT {
                    continue;
                }
                edges += 1;
                let free = tile.edges[local].speed_kmh().max(0.1) as f64;
                let row = &tp.speeds[slot as usize * BINS_PER_WEEK..][..BINS_PER_WEEK];
                for (b, &s) in row.iter().enumerate() {
                    if s > 0 {
                        bins += 1;
                        speedup[b] = speedup[b].max(s as f64 / free);
                    }
                }
            }
        }
        Ok(HistoricalProfiles {
            graph_version,
            tiles,
            speedup,
            edges,
            bins,
        })
    }

    /// The profile speed of an edge in a bin, if there is one.
    #[inline]
    pub fn speed_kmh(&self, id: EdgeId, bin: u16) -> Option<f32> {
        let tile = self.tiles.get(id.tile as usize)?.as_ref()?;
        let slot = *tile.slot.get(id.local as usize)?;
        if slot == NO_SLOT {
            return None;
        }
        let s = *tile
            .speeds
            .get(slot as usize * BINS_PER_WEEK + bin as usize)?;
        (s > 0).then_some(s as f32)
    }

    /// Largest ratio of a profile speed to its edge's free flow in `bin` (at least 1).
    #[inline]
    pub fn max_speedup(&self, bin: u16) -> f64 {
        self.speedup.get(bin as usize).copied().unwrap_or(1.0)
    }

    pub fn graph_version(&self) -> &str {
        &self.graph_version
    }

    /// Writes the profile file (temp file + rename); returns its size in bytes.
    pub fn write(&self, path: &Path) -> Result<u64, HistoryError> {
        let put = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        put(&mut out, FORMAT_VERSION);
        put(&mut out, BINS_PER_WEEK as u32);
        put(&mut out, self.graph_version.len() as u32);
        out.extend_from_slice(self.graph_version.as_bytes());
        put(&mut out, self.tiles.iter().flatten().count() as u32);
        for (t, tp) in self.tiles.iter().enumerate() {
            let Some(tp) = tp else { continue };
            let mut by_slot: Vec<(u32, u32)> = tp
                .slot
                .iter()
                .enumerate()
                .filter(|(_, s)| **s != NO_SLOT)
                .map(|(l, s)| (*s, l as u32))
                .collect();
            by_slot.sort_unstable();
            put(&mut out, t as u32);
            put(&mut out, by_slot.len() as u32);
            for (_, local) in &by_slot {
                put(&mut out, *local);
            }
            for (slot, _) in &by_slot {
                out.extend_from_slice(
                    &tp.speeds[*slot as usize * BINS_PER_WEEK..][..BINS_PER_WEEK],
                );
            }
        }
        let crc = crc32fast::hash(&out);
        put(&mut out, crc);
        let io = |source| HistoryError::Io {
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &out).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(out.len() as u64)
    }

    /// Loads a profile file built for `store`'s graph version.
    pub fn load(path: &Path, store: &GraphStore) -> Result<Self, HistoryError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| HistoryError::Io {
            path: name.clone(),
            source,
        })?;
        Self::from_file_bytes(&bytes, &name, store)
    }

    /// Profiles from the bytes of a profile file (`name` is for messages), e.g. a bundle member.
    /// Tiles the store does not have (outside a bundle) are skipped.
    pub fn from_file_bytes(
        bytes: &[u8],
        name: &str,
        store: &GraphStore,
    ) -> Result<Self, HistoryError> {
        let name = name.to_string();
        let bad = |reason: &str| HistoryError::Format {
            path: name.clone(),
            reason: reason.to_string(),
        };
        if bytes.len() < MAGIC.len() + 4 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(bad("wrong magic"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().unwrap_or_default()) {
            return Err(bad("checksum mismatch"));
        }
        let mut r = Reader {
            bytes: body,
            at: MAGIC.len(),
        };
        let truncated = || bad("truncated");
        if r.u32().ok_or_else(truncated)? != FORMAT_VERSION {
            return Err(bad("unknown format version"));
        }
        if r.u32().ok_or_else(truncated)? as usize != BINS_PER_WEEK {
            return Err(bad("unexpected bin count"));
        }
        let len = r.u32().ok_or_else(truncated)? as usize;
        let version = String::from_utf8_lossy(r.take(len).ok_or_else(truncated)?).to_string();
        let expected = &store.manifest().graph_version;
        if &version != expected {
            return Err(HistoryError::GraphVersion {
                path: name.clone(),
                found: version,
                expected: expected.clone(),
            });
        }
        let top = store.manifest().max_speed_kmh.clamp(1.0, 255.0) as u8;
        let mut tiles: Vec<Option<TileProfiles>> = vec![None; store.tile_count() as usize];
        for _ in 0..r.u32().ok_or_else(truncated)? {
            let t = r.u32().ok_or_else(truncated)? as usize;
            let n = r.u32().ok_or_else(truncated)? as usize;
            if t >= tiles.len() {
                return Err(bad("tile index out of range"));
            }
            if !store.has_tile(t as u32) {
                r.take(n * 4 + n * BINS_PER_WEEK).ok_or_else(truncated)?;
                continue;
            }
            let edge_count = store.tile(t as u32)?.edges.len();
            let mut slot = vec![NO_SLOT; edge_count].into_boxed_slice();
            for s in 0..n {
                let local = r.u32().ok_or_else(truncated)? as usize;
                *slot
                    .get_mut(local)
                    .ok_or_else(|| bad("edge index out of range"))? = s as u32;
            }
            let mut speeds: Box<[u8]> = r
                .take(n * BINS_PER_WEEK)
                .ok_or_else(truncated)?
                .to_vec()
                .into_boxed_slice();
            // Same cap as when building, in case the file was made some other way.
            for s in speeds.iter_mut() {
                *s = (*s).min(top);
            }
            tiles[t] = Some(TileProfiles { slot, speeds });
        }
        Self::finish(store, version, tiles)
    }

    /// Every profiled `(edge, bin, km/h)`, in edge then bin order (tests, inspection).
    pub fn entries(&self) -> Vec<(EdgeId, u16, f32)> {
        let mut out = Vec::new();
        for (t, tp) in self.tiles.iter().enumerate() {
            let Some(tp) = tp else { continue };
            for (local, &slot) in tp.slot.iter().enumerate() {
                if slot == NO_SLOT {
                    continue;
                }
                let row = &tp.speeds[slot as usize * BINS_PER_WEEK..][..BINS_PER_WEEK];
                for (b, &s) in row.iter().enumerate() {
                    if s > 0 {
                        out.push((GlobalId::new(t as u32, local as u32), b as u16, s as f32));
                    }
                }
            }
        }
        out
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// How profiles are built from observations.
#[derive(Clone, Copy, Debug)]
pub struct BuildOptions {
    /// Bins with fewer observations than this are left to free flow.
    pub min_samples: u32,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions { min_samples: 3 }
    }
}

/// One copy of observation files, e.g. one cluster node's `<data-dir>/observations`.
#[derive(Clone, Debug)]
pub struct ObservationSource {
    /// How reports name it (the directory or file it came from).
    pub name: String,
    pub files: Vec<PathBuf>,
}

impl ObservationSource {
    pub fn new(name: impl Into<String>, files: Vec<PathBuf>) -> Self {
        ObservationSource {
            name: name.into(),
            files,
        }
    }

    /// The `.parquet` files of a directory, or one file.
    pub fn from_path(path: &Path) -> Result<Self, HistoryError> {
        let meta = std::fs::metadata(path).map_err(|source| HistoryError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let files = if meta.is_dir() {
            super::observations::files(path)?
        } else {
            vec![path.to_path_buf()]
        };
        if files.is_empty() {
            return Err(HistoryError::NoFiles(path.display().to_string()));
        }
        Ok(Self::new(path.display().to_string(), files))
    }
}

/// What a build read from one source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceReport {
    pub name: String,
    pub files: usize,
    /// Rows in its files.
    pub rows: u64,
    /// Distinct log entries (log indexes) it has rows of.
    pub entries: u64,
    /// Entries whose rows the build took from this source (each entry from the source with the
    /// most rows of it, the first given among equals).
    pub entries_used: u64,
    pub rows_used: u64,
    /// Rows of files written before observations carried a log index (only accepted when
    /// building from a single source: they cannot be matched across sources).
    pub rows_without_index: u64,
}

/// What a build read and produced.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    /// Files of all sources.
    pub files: usize,
    /// Rows of all sources, before merging.
    pub rows_read: u64,
    /// Rows after merging (each log entry's rows once), the input of the profiles.
    pub rows_used: u64,
    /// Distinct log entries over all sources.
    pub entries: u64,
    /// Per source, in the order given.
    pub sources: Vec<SourceReport>,
    /// Inclusive ranges of log indexes, between the lowest and highest seen, with rows in no
    /// source. Entries without observations (a new leader's blank entry, membership changes,
    /// batches without matched speeds) leave such holes too, so a range is lost data only if
    /// those entries carried pings.
    pub missing: Vec<(u64, u64)>,
    /// `(edge, bin)` groups with enough samples.
    pub bins_kept: usize,
    /// Groups whose OSM way differs from the graph's edge (observations of another graph version).
    pub bins_wrong_way: usize,
    pub query_time: std::time::Duration,
    pub total_time: std::time::Duration,
}

/// The rows of all `sources` with each log entry's rows from one source only (the one with the
/// most rows of it, the first given among equals), as a lazy frame; and the report's counts.
///
/// Files without a `log_index` column (written before it existed) read as rows with a null
/// index: kept as they are when there is one source, refused when there are several.
#[cfg(feature = "analytics")]
fn merged_rows(
    sources: &[ObservationSource],
) -> Result<(polars::prelude::LazyFrame, BuildReport), HistoryError> {
    use polars::prelude::*;
    if sources.is_empty() || sources.iter().any(|s| s.files.is_empty()) {
        return Err(HistoryError::NoInput);
    }
    // The schema observations are written with; older files lack `log_index` (read as null).
    let schema: SchemaRef = std::sync::Arc::new(Schema::from_iter([
        Field::new("edge".into(), DataType::UInt64),
        Field::new("osm_way_id".into(), DataType::Int64),
        Field::new("ts_ms".into(), DataType::Int64),
        Field::new("speed_kmh".into(), DataType::Float32),
        Field::new("log_index".into(), DataType::UInt64),
    ]));
    let frames = sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let paths: Vec<PlRefPath> = s
                .files
                .iter()
                .map(|p| PlRefPath::from(p.to_string_lossy().as_ref()))
                .collect();
            let args = ScanArgsParquet {
                schema: Some(schema.clone()),
                allow_missing_columns: true,
                ..ScanArgsParquet::default()
            };
            Ok(
                LazyFrame::scan_parquet_files(paths.into_iter().collect(), args)?
                    .with_column(lit(i as u32).cast(DataType::UInt32).alias("source")),
            )
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    let all = concat(frames, UnionArgs::default())?;

    // Rows per (source, entry): small (entries × sources), the basis of merging and report.
    let per_entry = all
        .clone()
        .group_by([col("source"), col("log_index")])
        .agg([len().cast(DataType::UInt64).alias("rows")])
        .collect()?;
    // Per log index, the source with the most rows of it (a node that failed between the files
    // of one flush holds part of an entry), the first one given among equals.
    let keep = per_entry
        .clone()
        .lazy()
        .filter(col("log_index").is_not_null())
        .group_by([col("log_index")])
        .agg([col("source")
            .sort_by(
                [col("rows"), col("source")],
                SortMultipleOptions::default().with_order_descending_multi([true, false]),
            )
            .first()])
        .collect()?;
    let on = || [col("log_index"), col("source")];
    let by_source = |lf: LazyFrame, names: [&str; 2]| -> PolarsResult<Vec<(u32, u64, u64)>> {
        let df = lf
            .group_by([col("source")])
            .agg([
                len().cast(DataType::UInt64).alias(names[0]),
                col("rows").sum().cast(DataType::UInt64).alias(names[1]),
            ])
            .collect()?;
        let (s, a, b) = (
            df.column("source")?.u32()?,
            df.column(names[0])?.u64()?,
            df.column(names[1])?.u64()?,
        );
        Ok(s.iter()
            .zip(a.iter())
            .zip(b.iter())
            .filter_map(|((s, a), b)| Some((s?, a.unwrap_or(0), b.unwrap_or(0))))
            .collect())
    };
    let indexed = by_source(
        per_entry
            .clone()
            .lazy()
            .filter(col("log_index").is_not_null()),
        ["entries", "rows"],
    )?;
    let unindexed = by_source(
        per_entry.clone().lazy().filter(col("log_index").is_null()),
        ["groups", "rows"],
    )?;
    let used = by_source(
        per_entry.lazy().join(
            keep.clone().lazy(),
            on(),
            on(),
            JoinArgs::new(JoinType::Inner),
        ),
        ["entries", "rows"],
    )?;
    let mut report = BuildReport {
        files: sources.iter().map(|s| s.files.len()).sum(),
        entries: keep.height() as u64,
        sources: sources
            .iter()
            .map(|s| SourceReport {
                name: s.name.clone(),
                files: s.files.len(),
                ..SourceReport::default()
            })
            .collect(),
        ..BuildReport::default()
    };
    for (s, entries, rows) in indexed {
        let r = &mut report.sources[s as usize];
        r.entries = entries;
        r.rows += rows;
    }
    for (s, _, rows) in unindexed {
        let r = &mut report.sources[s as usize];
        r.rows_without_index = rows;
        r.rows += rows;
    }
    for (s, entries, rows) in used {
        let r = &mut report.sources[s as usize];
        r.entries_used = entries;
        r.rows_used = rows;
    }
    report.rows_read = report.sources.iter().map(|r| r.rows).sum();

    // Holes: consecutive distinct indexes more than one apart.
    let holes = keep
        .clone()
        .lazy()
        .select([col("log_index")])
        .sort(["log_index"], SortMultipleOptions::default())
        .with_column(col("log_index").shift(lit(1)).alias("previous"))
        .filter(col("log_index").gt(col("previous") + lit(1u64)))
        .collect()?;
    let (next, previous) = (
        holes.column("log_index")?.u64()?,
        holes.column("previous")?.u64()?,
    );
    report.missing = previous
        .iter()
        .zip(next.iter())
        .filter_map(|(p, n)| Some((p? + 1, n? - 1)))
        .collect();

    if sources.len() == 1 {
        // Nothing to merge; rows without an index are read as they are.
        let r = &mut report.sources[0];
        r.rows_used = r.rows;
        report.rows_used = r.rows;
        return Ok((all, report));
    }
    if let Some(r) = report.sources.iter().find(|r| r.rows_without_index > 0) {
        return Err(HistoryError::Unindexed {
            name: r.name.clone(),
            rows: r.rows_without_index,
        });
    }
    report.rows_used = report.sources.iter().map(|r| r.rows_used).sum();
    let merged = all.join(keep.lazy(), on(), on(), JoinArgs::new(JoinType::Inner));
    Ok((merged, report))
}

/// Builds profiles from observation Parquet files (columns `edge`, `osm_way_id`, `ts_ms`,
/// `speed_kmh`, `log_index`, as [`super::observations`] writes them) with polars lazy queries.
///
/// Several sources (e.g. every cluster node's observation directory) are merged by log index:
/// each entry's rows are taken from one source only, so an entry one node lacks (a follower
/// that installed a snapshot skipped it) comes from another, and no entry counts twice.
#[cfg(feature = "analytics")]
pub fn build_profiles(
    sources: &[ObservationSource],
    store: &GraphStore,
    options: &BuildOptions,
) -> Result<(HistoricalProfiles, BuildReport), HistoryError> {
    use polars::prelude::*;
    let started = std::time::Instant::now();
    let (rows, report) = merged_rows(sources)?;
    // Integer arithmetic for the bin keeps polars' temporal features out of the build; `/` is
    // Rust's truncating division, which floors here because negative times are filtered out.
    let bin = (((col("ts_ms") + lit(MONDAY_SHIFT_MS)) % lit(WEEK_MS)) / lit(BIN_MS))
        .cast(DataType::UInt32)
        .alias("bin");
    let df = rows
        .filter(
            col("ts_ms")
                .gt_eq(lit(0i64))
                .and(col("speed_kmh").gt(lit(0.0f32))),
        )
        .with_column(bin)
        .group_by([col("edge"), col("bin")])
        .agg([
            col("speed_kmh")
                .median()
                .cast(DataType::Float64)
                .alias("speed_kmh"),
            len().cast(DataType::UInt32).alias("samples"),
            col("osm_way_id").first().alias("osm_way_id"),
        ])
        .filter(col("samples").gt_eq(lit(options.min_samples)))
        .collect()?;
    let query_time = started.elapsed();
    let edge = df.column("edge")?.u64()?;
    let bins = df.column("bin")?.u32()?;
    let speed = df.column("speed_kmh")?.f64()?;
    let way = df.column("osm_way_id")?.i64()?;
    let mut wrong_way = 0;
    let mut triples = Vec::with_capacity(df.height());
    for (((e, b), s), w) in edge
        .iter()
        .zip(bins.iter())
        .zip(speed.iter())
        .zip(way.iter())
    {
        let (Some(e), Some(b), Some(s)) = (e, b, s) else {
            continue;
        };
        let id = GlobalId::unpack(e);
        let Ok(tile) = store.tile(id.tile) else {
            wrong_way += 1;
            continue;
        };
        match tile.edges.get(id.local as usize) {
            Some(ge) if w.is_none_or(|w| w == ge.way_id()) => {
                triples.push((id, b as u16, s as f32));
            }
            _ => wrong_way += 1,
        }
    }
    let bins_kept = triples.len();
    let profiles = HistoricalProfiles::from_bins(store, triples)?;
    Ok((
        profiles,
        BuildReport {
            bins_kept,
            bins_wrong_way: wrong_way,
            query_time,
            total_time: started.elapsed(),
            ..report
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_start_monday_midnight_utc() {
        // 2026-11-23 is a Monday; 08:30 UTC is bin 34.
        let monday = 1_795_392_000_000i64;
        assert_eq!(time_of_week_bin(monday), 0);
        assert_eq!(time_of_week_bin(monday + 8 * 3_600_000 + 30 * 60_000), 34);
        assert_eq!(time_of_week_bin(monday - 1), (BINS_PER_WEEK - 1) as u16);
        assert_eq!(time_of_week_bin(monday + WEEK_MS + BIN_MS), 1);
    }

    #[cfg(feature = "analytics")]
    mod merging {
        use super::super::*;
        use crate::observations::{write_rows, ObservationRow};
        use polars::prelude::*;

        /// `n` rows of entry `index`, distinguishable by edge and speed.
        fn entry(index: u64, n: u64) -> Vec<ObservationRow> {
            (0..n)
                .map(|k| ObservationRow {
                    edge: k,
                    osm_way_id: 7,
                    ts_ms: 1_000 * index as i64 + k as i64,
                    speed_kmh: index as f32,
                    log_index: index,
                })
                .collect()
        }

        fn write(dir: &Path, name: &str, entries: &[(u64, u64)]) -> PathBuf {
            let rows: Vec<ObservationRow> =
                entries.iter().flat_map(|&(i, n)| entry(i, n)).collect();
            write_file(dir, name, &rows)
        }

        fn write_file(dir: &Path, name: &str, rows: &[ObservationRow]) -> PathBuf {
            let path = dir.join(name);
            write_rows(rows, &path).unwrap();
            path
        }

        /// Sorted `(log_index, ts_ms)` of the merged rows.
        fn merged(sources: &[ObservationSource]) -> (Vec<(Option<u64>, i64)>, BuildReport) {
            let (lf, report) = merged_rows(sources).unwrap();
            let df = lf.collect().unwrap();
            let index = df.column("log_index").unwrap().u64().unwrap();
            let ts = df.column("ts_ms").unwrap().i64().unwrap();
            let mut rows: Vec<_> = index
                .iter()
                .zip(ts.iter())
                .map(|(i, t)| (i, t.unwrap()))
                .collect();
            rows.sort();
            (rows, report)
        }

        #[test]
        fn each_entry_is_taken_from_one_source() {
            let dir = tempfile::tempdir().unwrap();
            // Entry 3 has rows in both `a` files (as when it straddles two hours); `b` lacks
            // entry 2 and has entry 6, and splits its files elsewhere.
            let three = entry(3, 3);
            let mut a1 = [entry(1, 2), entry(2, 3)].concat();
            a1.push(three[0]);
            let a2 = [&three[1..], &entry(5, 1)].concat();
            let a = vec![
                write_file(dir.path(), "a1", &a1),
                write_file(dir.path(), "a2", &a2),
            ];
            let b = vec![
                write(dir.path(), "b1", &[(1, 2)]),
                write(dir.path(), "b2", &[(3, 3), (5, 1), (6, 4)]),
            ];
            let sources = [
                ObservationSource::new("a", a.clone()),
                ObservationSource::new("b", b.clone()),
            ];
            let (rows, report) = merged(&sources);
            let expected: Vec<_> = [(1, 2), (2, 3), (3, 3), (5, 1), (6, 4)]
                .iter()
                .flat_map(|&(i, n)| entry(i, n))
                .map(|r| (Some(r.log_index), r.ts_ms))
                .collect();
            assert_eq!(rows, expected);
            assert_eq!(report.rows_read, 9 + 10);
            assert_eq!(report.rows_used, 13);
            assert_eq!(report.entries, 5);
            assert_eq!(report.missing, vec![(4, 4)]);
            let counts: Vec<_> = report
                .sources
                .iter()
                .map(|s| (s.files, s.rows, s.entries, s.entries_used, s.rows_used))
                .collect();
            assert_eq!(counts, vec![(2, 9, 4, 4, 9), (2, 10, 4, 1, 4)]);

            // A copy with more rows of an entry wins over an earlier partial one.
            let partial =
                ObservationSource::new("partial", vec![write(dir.path(), "p", &[(6, 1)])]);
            let (with_partial, report) = merged(&[partial, sources[0].clone(), sources[1].clone()]);
            assert_eq!(with_partial, rows);
            assert_eq!(report.sources[0].entries_used, 0);

            // The other order takes everything `b` has from `b`.
            let (rows_ba, report) = merged(&[sources[1].clone(), sources[0].clone()]);
            assert_eq!(rows_ba, rows);
            assert_eq!(report.sources[0].entries_used, 4);
            assert_eq!(report.sources[1].entries_used, 1);
        }

        #[test]
        fn files_without_log_index_are_read_alone_and_refused_in_a_merge() {
            let dir = tempfile::tempdir().unwrap();
            let legacy = dir.path().join("legacy.parquet");
            let mut df = df!(
                "edge" => [1u64, 2],
                "osm_way_id" => [7i64, 7],
                "ts_ms" => [10i64, 20],
                "speed_kmh" => [30.0f32, 40.0],
            )
            .unwrap();
            ParquetWriter::new(std::fs::File::create(&legacy).unwrap())
                .finish(&mut df)
                .unwrap();
            let new = write(dir.path(), "new", &[(4, 2)]);
            let one = ObservationSource::new("old", vec![legacy.clone(), new.clone()]);
            let (rows, report) = merged(std::slice::from_ref(&one));
            assert_eq!(
                rows,
                vec![(None, 10), (None, 20), (Some(4), 4_000), (Some(4), 4_001)]
            );
            assert_eq!(report.sources[0].rows_without_index, 2);
            assert_eq!(
                (report.rows_read, report.rows_used, report.entries),
                (4, 4, 1)
            );

            let other = ObservationSource::new("new", vec![new]);
            let Err(err) = merged_rows(&[other, one]) else {
                panic!("a source without log indexes was merged");
            };
            assert!(
                matches!(&err, HistoryError::Unindexed { name, rows: 2 } if name == "old"),
                "{err}"
            );
        }
    }
}
