//! The tile store: opens a graph directory, and memory-maps and validates each tile the first
//! time a search touches it. Tiles are immutable once written, so a loaded tile is shared by all
//! searches without locks.
//!
//! A store can also read its tiles in place from one mapped file holding many of them (an
//! offline bundle, see the `tiles` crate's `bundle`), which may hold only some tiles of the graph:
//! [`GraphStore::has_tile`] says which, and the search and snapping treat roads into the others
//! as absent.

use super::manifest::{Manifest, ManifestError};
use super::tile::{ArchivedTile, TILE_FORMAT_VERSION};
use memmap2::Mmap;
use sha2::{Digest, Sha256};
use spatial::geohash::Cell;
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("graph format version {found} in {path}, this build reads version {expected}; re-run `meridian import`")]
    Version {
        path: String,
        found: u32,
        expected: u32,
    },
    #[error("cannot open tile {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("tile {path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("tile index {0} is not in this graph")]
    NoSuchTile(u32),
    #[error("tile {geohash} is not in {path} (outside its area)")]
    Absent { path: String, geohash: String },
    #[error("{path}: {reason}")]
    BadLayout { path: String, reason: String },
}

/// A validated tile: a byte range of a read-only mapping (its own file, or a bundle).
struct LoadedTile {
    map: Arc<Mmap>,
    bytes: Range<usize>,
    /// The archive's root inside `map`, found once at validation so a search's many tile
    /// lookups skip rkyv's root-position arithmetic and the range check.
    root: *const ArchivedTile,
}

// SAFETY: `root` points into the read-only mapping that `map` keeps alive; nothing writes it.
unsafe impl Send for LoadedTile {}
// SAFETY: as above; shared reads of immutable bytes.
unsafe impl Sync for LoadedTile {}

impl LoadedTile {
    fn new(map: Arc<Mmap>, bytes: Range<usize>) -> Self {
        LoadedTile {
            map,
            bytes,
            root: std::ptr::null(),
        }
    }

    #[inline]
    fn archived(&self) -> &ArchivedTile {
        // SAFETY: `root` was set from `rkyv::access` on validated bytes before the tile was
        // stored (see `GraphStore::load`), and the mapping lives as long as `self`.
        unsafe { &*self.root }
    }
}

/// Where tile bytes come from.
enum Backing {
    /// One file per tile in a graph directory, each mapped on first use.
    Dir,
    /// Tiles at byte ranges of one mapped file; `None` for tiles it does not hold.
    Mapped {
        map: Arc<Mmap>,
        ranges: Vec<Option<Range<usize>>>,
    },
}

pub struct GraphStore {
    /// The graph directory, or the file the tiles are mapped from.
    dir: PathBuf,
    manifest: Manifest,
    /// Tile index by cell: looked up on every snap and every ping.
    by_cell: HashMap<Cell, u32>,
    tiles: Vec<OnceLock<Result<LoadedTile, String>>>,
    backing: Backing,
}

impl GraphStore {
    pub fn open(dir: impl AsRef<Path>) -> Result<GraphStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let manifest = Manifest::read(&dir)?;
        Self::with_backing(dir, manifest, Backing::Dir)
    }

    /// A store reading tiles in place from `map` (the file at `path`): tile `i` is
    /// `map[ranges[i]]`, or absent when `ranges[i]` is `None`. Ranges must start 16-byte
    /// aligned, as rkyv archives need; every tile is still validated on first use.
    pub fn open_mapped(
        path: impl AsRef<Path>,
        manifest: Manifest,
        map: Arc<Mmap>,
        ranges: Vec<Option<Range<usize>>>,
    ) -> Result<GraphStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let bad = |reason: String| StoreError::BadLayout {
            path: path.display().to_string(),
            reason,
        };
        if ranges.len() != manifest.tiles.len() {
            return Err(bad(format!(
                "{} tile ranges for {} manifest tiles",
                ranges.len(),
                manifest.tiles.len()
            )));
        }
        for (r, t) in ranges.iter().zip(&manifest.tiles) {
            if let Some(r) = r {
                if r.start > r.end || r.end > map.len() || r.start % 16 != 0 {
                    return Err(bad(format!(
                        "tile {} at bytes {r:?} is out of bounds or misaligned",
                        t.geohash
                    )));
                }
            }
        }
        Self::with_backing(path, manifest, Backing::Mapped { map, ranges })
    }

    fn with_backing(
        dir: PathBuf,
        manifest: Manifest,
        backing: Backing,
    ) -> Result<GraphStore, StoreError> {
        if manifest.format_version != TILE_FORMAT_VERSION {
            return Err(StoreError::Version {
                path: dir.display().to_string(),
                found: manifest.format_version,
                expected: TILE_FORMAT_VERSION,
            });
        }
        // A manifest entry that is not a geohash names no cell, so no lookup finds it.
        let by_cell = manifest
            .tiles
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((t.geohash.parse::<Cell>().ok()?, i as u32)))
            .collect();
        let tiles = (0..manifest.tiles.len()).map(|_| OnceLock::new()).collect();
        Ok(GraphStore {
            dir,
            manifest,
            by_cell,
            tiles,
            backing,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Tiles of the graph, including any this store does not hold (see [`GraphStore::has_tile`]).
    pub fn tile_count(&self) -> u32 {
        self.tiles.len() as u32
    }

    /// False for a tile the store does not hold (left out of a bundle); roads into it must be
    /// treated as absent. Always true for a graph directory's tiles.
    #[inline]
    pub fn has_tile(&self, index: u32) -> bool {
        match &self.backing {
            Backing::Dir => index < self.tile_count(),
            Backing::Mapped { ranges, .. } => {
                matches!(ranges.get(index as usize), Some(Some(_)))
            }
        }
    }

    /// True if some tiles of the graph are absent (a bundle of an area).
    pub fn is_partial(&self) -> bool {
        match &self.backing {
            Backing::Dir => false,
            Backing::Mapped { ranges, .. } => ranges.iter().any(Option::is_none),
        }
    }

    /// The index of the tile of `cell` (of the graph's precision), if the graph has one.
    #[inline]
    pub fn tile_of(&self, cell: Cell) -> Option<u32> {
        self.by_cell.get(&cell).copied()
    }

    /// [`GraphStore::tile_of`] by the cell's name.
    pub fn tile_index(&self, geohash: &str) -> Option<u32> {
        self.tile_of(geohash.parse().ok()?)
    }

    pub fn geohash(&self, tile: u32) -> &str {
        &self.manifest.tiles[tile as usize].geohash
    }

    /// Number of tiles mapped so far (lazy loading is observable, e.g. in `/health`).
    pub fn loaded_tiles(&self) -> usize {
        self.tiles.iter().filter(|t| t.get().is_some()).count()
    }

    /// The tile, mapping and validating it on first use.
    #[inline]
    pub fn tile(&self, index: u32) -> Result<&ArchivedTile, StoreError> {
        let slot = self
            .tiles
            .get(index as usize)
            .ok_or(StoreError::NoSuchTile(index))?;
        match slot.get_or_init(|| self.load(index)) {
            Ok(t) => Ok(t.archived()),
            Err(_) if !self.has_tile(index) => Err(StoreError::Absent {
                path: self.dir.display().to_string(),
                geohash: self.geohash(index).to_string(),
            }),
            Err(reason) => Err(StoreError::Corrupt {
                path: self.tile_path(index).display().to_string(),
                reason: reason.clone(),
            }),
        }
    }

    /// The tile's file, or `<bundle>:<file>` for a tile inside a mapped file.
    fn tile_path(&self, index: u32) -> PathBuf {
        let file = &self.manifest.tiles[index as usize].file;
        match self.backing {
            Backing::Dir => self.dir.join(file),
            Backing::Mapped { .. } => PathBuf::from(format!("{}:{file}", self.dir.display())),
        }
    }

    /// The tile's mapping and byte range, not yet validated; `Ok(None)` if the store lacks it.
    fn map_tile(&self, index: u32) -> Result<Option<LoadedTile>, String> {
        match &self.backing {
            Backing::Dir => {
                let file = std::fs::File::open(self.tile_path(index)).map_err(|e| e.to_string())?;
                // SAFETY: graph files are written once by `import` and never modified in place.
                let map = unsafe { Mmap::map(&file) }.map_err(|e| e.to_string())?;
                let len = map.len();
                Ok(Some(LoadedTile::new(Arc::new(map), 0..len)))
            }
            Backing::Mapped { map, ranges } => Ok(ranges[index as usize]
                .clone()
                .map(|bytes| LoadedTile::new(map.clone(), bytes))),
        }
    }

    fn load(&self, index: u32) -> Result<LoadedTile, String> {
        let mut loaded = self
            .map_tile(index)?
            .ok_or_else(|| "not in this store".to_string())?;
        // Validation also checks alignment, which is what makes reading in place safe.
        let tile =
            rkyv::access::<ArchivedTile, rkyv::rancor::Error>(&loaded.map[loaded.bytes.clone()])
                .map_err(|e| format!("invalid archive: {e}"))?;
        if tile.format_version.to_native() != TILE_FORMAT_VERSION {
            return Err(format!(
                "format version {} (expected {TILE_FORMAT_VERSION})",
                tile.format_version.to_native()
            ));
        }
        if tile.index.to_native() != index || tile.geohash.as_str() != self.geohash(index) {
            return Err("tile does not match its manifest entry".into());
        }
        loaded.root = tile;
        Ok(loaded)
    }

    /// Recomputes the sha256 of every tile the store holds and compares it with the manifest.
    /// Returns the tiles that differ.
    pub fn verify_checksums(&self) -> Result<Vec<String>, StoreError> {
        let mut bad = Vec::new();
        for (i, entry) in self.manifest.tiles.iter().enumerate() {
            let hash = match &self.backing {
                Backing::Dir => {
                    let path = self.tile_path(i as u32);
                    let bytes = std::fs::read(&path).map_err(|source| StoreError::Io {
                        path: path.display().to_string(),
                        source,
                    })?;
                    sha256_hex(&bytes)
                }
                Backing::Mapped { map, ranges } => match &ranges[i] {
                    Some(r) => sha256_hex(&map[r.clone()]),
                    None => continue,
                },
            };
            if hash != entry.sha256 {
                bad.push(entry.geohash.clone());
            }
        }
        Ok(bad)
    }
}

/// Lower-case hex of the SHA-256 of `bytes` (the manifest's and bundles' checksums).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of `bytes`, two digits each: checksums, versions, ETags, tokens.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
