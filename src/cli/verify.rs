//! `meridian verify`: every tile of a graph against its manifest's checksums, then validated;
//! then the files beside the tiles that the manifest lists (the overlay partition).

use super::open_graph;
use anyhow::{bail, Context, Result};
use meridian::graph::store::sha256_hex;
use meridian::graph::Manifest;
use meridian::route::overlay::{stored, OverlayConfig};
use std::path::{Path, PathBuf};

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
    let sidecars = verify_sidecars(&graph, store.manifest())?;
    println!(
        "{}: {} tiles verified{}",
        graph.display(),
        store.tile_count(),
        if sidecars.is_empty() {
            String::new()
        } else {
            format!(", and {}", sidecars.join(", "))
        }
    );
    Ok(())
}

/// Every file the manifest lists beside the tiles: present, of its checksum, and (the overlay
/// partition) readable by this build as the cells of this graph.
fn verify_sidecars(dir: &Path, manifest: &Manifest) -> Result<Vec<String>> {
    let mut verified = Vec::new();
    for entry in &manifest.sidecars {
        let path = dir.join(&entry.file);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if sha256_hex(&bytes) != entry.sha256 {
            bail!(
                "{} does not match the manifest's checksum: damaged; re-import the map",
                path.display()
            );
        }
        if entry.kind == stored::PARTITION_KIND {
            // Cut with the default configuration, as `meridian import` does.
            let config = OverlayConfig::default();
            let nodes = manifest.counts.junctions as usize;
            stored::decode(
                &path.display().to_string(),
                &bytes,
                &manifest.graph_version,
                &config,
                nodes,
            )?;
        }
        verified.push(entry.file.clone());
    }
    Ok(verified)
}
