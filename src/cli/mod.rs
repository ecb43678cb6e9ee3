//! The subcommands of the `meridian` binary, one module each: the arguments clap parses for it
//! and the function that runs it. `main.rs` only parses and dispatches.

pub mod bundle;
pub mod import;
pub mod local_cluster;
pub mod render;
pub mod route;
pub mod serve;
pub mod token;
pub mod traffic;
pub mod up;
pub mod verify;

use anyhow::{Context, Result};
use meridian::graph::GraphStore;
use std::path::{Path, PathBuf};

/// Opens a graph directory, naming it in the error.
pub fn open_graph(dir: &Path) -> Result<GraphStore> {
    GraphStore::open(dir).with_context(|| format!("opening graph {}", dir.display()))
}

/// Where the foot graph of a car graph directory lives by convention: `<car graph>-foot`
/// beside it (`graphdata/porto` → `graphdata/porto-foot`).
pub fn foot_graph_dir(car: &Path) -> PathBuf {
    let name = car
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "graph".into());
    car.with_file_name(format!("{name}-foot"))
}
