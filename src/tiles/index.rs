//! `index.json`: which cells a tiles directory holds, at which precisions, for which graph.

use serde::{Deserialize, Serialize};
use std::path::Path;

pub const INDEX_FILE: &str = "index.json";
pub const INDEX_FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TileIndex {
    pub format_version: u32,
    /// The graph's name and version the images were drawn from.
    pub graph: String,
    pub graph_version: String,
    /// min_lon, min_lat, max_lon, max_lat of the graph, as in its manifest.
    pub bbox: [f64; 4],
    pub levels: Vec<TileLevel>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TileLevel {
    pub precision: usize,
    pub width_px: u32,
    /// Every cell with an image at this precision, sorted.
    pub cells: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a tile index: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

impl TileIndex {
    pub fn read(dir: &Path) -> Result<TileIndex, IndexError> {
        let path = dir.join(INDEX_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| IndexError::Io {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| IndexError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string(self).map_err(std::io::Error::other)?;
        let tmp = dir.join(format!("{INDEX_FILE}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, dir.join(INDEX_FILE))
    }

    pub fn level(&self, precision: usize) -> Option<&TileLevel> {
        self.levels.iter().find(|l| l.precision == precision)
    }
}
