//! The graph manifest (`manifest.json`): what a graph directory holds and how it was made. The
//! store reads it first and loads tiles only when a search needs them.

use crate::mode::Profile;
use serde::{Deserialize, Serialize};
use spatial::BBox;
use std::path::Path;

pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TileEntry {
    pub geohash: String,
    /// File name relative to the graph directory.
    pub file: String,
    pub nodes: u32,
    pub edges: u32,
    pub bytes: u64,
    /// Hex sha256 of the tile file, checked by `meridian verify`.
    pub sha256: String,
}

/// A file derived from the tiles and kept beside them (the overlay's stored partition): not part
/// of the graph version, checked by `meridian verify` like a tile.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SidecarEntry {
    /// What the file is, e.g. `overlay-partition`.
    pub kind: String,
    /// File name relative to the graph directory.
    pub file: String,
    pub bytes: u64,
    /// Hex sha256 of the file.
    pub sha256: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    pub osm_ways_used: u64,
    pub osm_nodes_used: u64,
    pub dangling_node_refs: u64,
    pub junctions: u64,
    pub directed_edges: u64,
    pub shape_points: u64,
    pub turn_restrictions: u64,
    pub turn_restrictions_skipped: u64,
    pub nodes_dropped_outside_largest_scc: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format_version: u32,
    pub name: String,
    /// Who the graph is for; absent (car) in car manifests, which stay as they always were.
    #[serde(default, skip_serializing_if = "Profile::is_car")]
    pub profile: Profile,
    pub source: String,
    /// Identifies this build of the graph: sha256 over all tile checksums.
    pub graph_version: String,
    pub geohash_precision: usize,
    /// The box of all nodes; written `[min_lon, min_lat, max_lon, max_lat]`.
    #[serde(with = "lon_lat_bbox")]
    pub bbox: BBox,
    /// Highest free-flow speed of any edge; the A* heuristic divides by it.
    pub max_speed_kmh: f32,
    pub counts: Counts,
    /// Sorted by geohash; a tile's index is its position here.
    pub tiles: Vec<TileEntry>,
    /// Derived files beside the tiles; absent in manifests written before they existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecars: Vec<SidecarEntry>,
    /// The edge flags beyond roundabout/snappable this import wrote (`toll`, `ferry`; see
    /// [`crate::tile::flags`]). Absent in graphs imported before they existed, whose tiles
    /// have the same layout with those bits unset: such a graph opens as before, and a request
    /// that needs a flag it lacks is refused (re-import to get it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edge_flags: Vec<String>,
}

/// A box as the manifest has always written it: `[min_lon, min_lat, max_lon, max_lat]`.
mod lon_lat_bbox {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use spatial::BBox;

    pub fn serialize<S: Serializer>(b: &BBox, s: S) -> Result<S::Ok, S::Error> {
        b.lon_lat_array().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BBox, D::Error> {
        <[f64; 4]>::deserialize(d).map(BBox::from_lon_lat_array)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid Meridian manifest: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

impl Manifest {
    pub fn read(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Io {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ManifestError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    /// Writes the manifest into `dir` atomically (a temporary file renamed over it), so a
    /// reader sees the old or the new one, never half of one (the import writes it, the
    /// overlay partition rewrites it).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, dir.join(MANIFEST_FILE))
    }

    /// Whether the import wrote edge flag `name` (`toll`, `ferry`).
    pub fn has_edge_flag(&self, name: &str) -> bool {
        self.edge_flags.iter().any(|f| f == name)
    }

    /// The sidecar of `kind`, if the manifest lists one.
    pub fn sidecar(&self, kind: &str) -> Option<&SidecarEntry> {
        self.sidecars.iter().find(|s| s.kind == kind)
    }
}
