//! Writing a polars frame as a Parquet file the way every Meridian export does: zstd-compressed
//! columns, written to a temporary file beside the target and renamed over it, so a reader (or
//! a crash) never sees half a file.

use polars::prelude::{DataFrame, ParquetCompression, ParquetWriter, PolarsError};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("parquet: {0}")]
    Parquet(#[from] PolarsError),
}

/// Writes `df` to `path` atomically; returns the file's size in bytes.
pub fn write_atomically(df: &mut DataFrame, path: &Path) -> Result<u64, WriteError> {
    let io = |at: &Path| {
        let path = at.display().to_string();
        move |source| WriteError::Io { path, source }
    };
    let tmp = path.with_extension("parquet.tmp");
    let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(df)?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    std::fs::metadata(path).map(|m| m.len()).map_err(io(path))
}
