//! Historical traffic: per-edge time-of-week speed profiles.
//!
//! [`build_profiles`] (feature `analytics`) reads the observation log's Parquet files with a
//! polars lazy query: time-of-week bin per row, median speed and count per `(edge, bin)`, bins with
//! fewer than `min_samples` observations dropped. The result is written as a small binary file
//! ([`HistoricalProfiles::write`]) that route servers load at start ([`HistoricalProfiles::load`])
//! into per-tile dense arrays, looked up with two indexed loads and no locks.
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

use crate::graph::{EdgeId, GlobalId, GraphStore};
use std::path::Path;

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
    #[error(transparent)]
    Store(#[from] crate::graph::StoreError),
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
                let free = tile.edges[local].speed_kmh.to_native().max(0.1) as f64;
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

/// What a build read and produced.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    pub files: usize,
    pub rows_read: u64,
    /// `(edge, bin)` groups with enough samples.
    pub bins_kept: usize,
    /// Groups whose OSM way differs from the graph's edge (observations of another graph version).
    pub bins_wrong_way: usize,
    pub query_time: std::time::Duration,
    pub total_time: std::time::Duration,
}

/// Builds profiles from observation Parquet files (columns `edge`, `osm_way_id`, `ts_ms`,
/// `speed_kmh`, as [`super::observations`] writes them) with one polars lazy query.
#[cfg(feature = "analytics")]
pub fn build_profiles(
    files: &[std::path::PathBuf],
    store: &GraphStore,
    options: &BuildOptions,
) -> Result<(HistoricalProfiles, BuildReport), HistoryError> {
    use polars::prelude::*;
    let started = std::time::Instant::now();
    if files.is_empty() {
        return Err(HistoryError::NoInput);
    }
    let scan = || {
        let paths: Vec<PlRefPath> = files
            .iter()
            .map(|p| PlRefPath::from(p.to_string_lossy().as_ref()))
            .collect();
        LazyFrame::scan_parquet_files(paths.into_iter().collect(), ScanArgsParquet::default())
    };
    // Row count from Parquet metadata (no data pages read).
    let rows_read = scan()?
        .select([len().cast(DataType::UInt64).alias("rows")])
        .collect()?
        .column("rows")?
        .u64()?
        .get(0)
        .unwrap_or(0);
    // Integer arithmetic for the bin keeps polars' temporal features out of the build; `/` is
    // Rust's truncating division, which floors here because negative times are filtered out.
    let bin = (((col("ts_ms") + lit(MONDAY_SHIFT_MS)) % lit(WEEK_MS)) / lit(BIN_MS))
        .cast(DataType::UInt32)
        .alias("bin");
    let df = scan()?
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
            Some(ge) if w.is_none_or(|w| w == ge.way_id.to_native()) => {
                triples.push((id, b as u16, s as f32));
            }
            _ => wrong_way += 1,
        }
    }
    let report = BuildReport {
        files: files.len(),
        rows_read,
        bins_kept: triples.len(),
        bins_wrong_way: wrong_way,
        query_time,
        total_time: std::time::Duration::ZERO,
    };
    let profiles = HistoricalProfiles::from_bins(store, triples)?;
    Ok((
        profiles,
        BuildReport {
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
}
