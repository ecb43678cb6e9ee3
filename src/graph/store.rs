//! The tile store: opens a graph directory, and memory-maps and validates each tile the first
//! time a search touches it. Tiles are immutable once written, so a loaded tile is shared by all
//! searches without locks.

use super::manifest::{Manifest, ManifestError};
use super::tile::{ArchivedTile, TILE_FORMAT_VERSION};
use memmap2::Mmap;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
}

/// A validated, memory-mapped tile.
struct LoadedTile {
    map: Mmap,
}

impl LoadedTile {
    fn archived(&self) -> &ArchivedTile {
        // SAFETY: the bytes were validated with `rkyv::access` when the tile was loaded and the
        // mapping is read-only and lives as long as `self`.
        unsafe { rkyv::access_unchecked::<ArchivedTile>(&self.map[..]) }
    }
}

pub struct GraphStore {
    dir: PathBuf,
    manifest: Manifest,
    by_geohash: HashMap<String, u32>,
    tiles: Vec<OnceLock<Result<LoadedTile, String>>>,
}

impl GraphStore {
    pub fn open(dir: impl AsRef<Path>) -> Result<GraphStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let manifest = Manifest::read(&dir)?;
        if manifest.format_version != TILE_FORMAT_VERSION {
            return Err(StoreError::Version {
                path: dir.display().to_string(),
                found: manifest.format_version,
                expected: TILE_FORMAT_VERSION,
            });
        }
        let by_geohash = manifest
            .tiles
            .iter()
            .enumerate()
            .map(|(i, t)| (t.geohash.clone(), i as u32))
            .collect();
        let tiles = (0..manifest.tiles.len()).map(|_| OnceLock::new()).collect();
        Ok(GraphStore {
            dir,
            manifest,
            by_geohash,
            tiles,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn tile_count(&self) -> u32 {
        self.tiles.len() as u32
    }

    pub fn tile_index(&self, geohash: &str) -> Option<u32> {
        self.by_geohash.get(geohash).copied()
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
            Err(reason) => Err(StoreError::Corrupt {
                path: self.tile_path(index).display().to_string(),
                reason: reason.clone(),
            }),
        }
    }

    fn tile_path(&self, index: u32) -> PathBuf {
        self.dir.join(&self.manifest.tiles[index as usize].file)
    }

    fn load(&self, index: u32) -> Result<LoadedTile, String> {
        let path = self.tile_path(index);
        let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
        // SAFETY: graph files are written once by `import` and never modified in place.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| e.to_string())?;
        let tile = rkyv::access::<ArchivedTile, rkyv::rancor::Error>(&map[..])
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
        Ok(LoadedTile { map })
    }

    /// Recomputes every tile's sha256 and compares it with the manifest. Returns the tiles that
    /// differ.
    pub fn verify_checksums(&self) -> Result<Vec<String>, StoreError> {
        let mut bad = Vec::new();
        for (i, entry) in self.manifest.tiles.iter().enumerate() {
            let path = self.tile_path(i as u32);
            let bytes = std::fs::read(&path).map_err(|source| StoreError::Io {
                path: path.display().to_string(),
                source,
            })?;
            if sha256_hex(&bytes) != entry.sha256 {
                bad.push(entry.geohash.clone());
            }
        }
        Ok(bad)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
