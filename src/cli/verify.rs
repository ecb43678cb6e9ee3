//! `meridian verify`: every tile of a graph against its manifest's checksums, then validated.

use super::open_graph;
use anyhow::{bail, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct VerifyArgs {
    #[arg(long)]
    pub graph: PathBuf,
}

pub fn run(args: VerifyArgs) -> Result<()> {
    let graph = args.graph;
    let store = open_graph(&graph)?;
    let bad = store.verify_checksums()?;
    for t in 0..store.tile_count() {
        store.tile(t)?;
    }
    if !bad.is_empty() {
        bail!(
            "{} tile(s) do not match the manifest: {}",
            bad.len(),
            bad.join(", ")
        );
    }
    println!("{}: {} tiles verified", graph.display(), store.tile_count());
    Ok(())
}
