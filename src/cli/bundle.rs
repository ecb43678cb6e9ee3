//! `meridian bundle`: an area's graph tiles (and map images, profiles) in one offline file.

use super::open_graph;
use anyhow::{Context, Result};
use meridian::tiles::bundle::{self, Area, BundleOptions};
use meridian::traffic::HistoricalProfiles;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct BundleArgs {
    /// Graph directory written by `meridian import`.
    #[arg(long)]
    pub graph: PathBuf,
    /// A geohash prefix (e.g. ez3f) or "min_lon,min_lat,max_lon,max_lat".
    #[arg(long, allow_hyphen_values = true)]
    pub area: String,
    /// Tiles directory (index.json + <precision>/<geohash>.png) to take map images from.
    #[arg(long)]
    pub tiles: Option<PathBuf>,
    /// Historical profile file of this graph (`meridian traffic history`) to include.
    #[arg(long)]
    pub profiles: Option<PathBuf>,
    /// The bundle file to write.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: BundleArgs) -> Result<()> {
    let BundleArgs {
        graph,
        area,
        tiles,
        profiles,
        out,
    } = args;
    if let Some(path) = &profiles {
        // Only profiles of this very graph version may travel with its tiles.
        let store = open_graph(&graph)?;
        HistoricalProfiles::load(path, &store)
            .with_context(|| format!("checking profiles {}", path.display()))?;
    }
    let report = bundle::write_bundle(&BundleOptions {
        graph_dir: graph,
        area: Area::parse(&area)?,
        tiles_dir: tiles,
        profiles,
        out: out.clone(),
    })?;
    let m = &report.manifest;
    println!(
        "wrote {}: {} members ({} graph tiles: {} in the area, {} around it; {} images), {:.1} MB in {:.2}s",
        out.display(),
        m.counts.members + 1,
        m.counts.graph_tiles,
        m.graph.area_tiles.len(),
        m.graph.ring_tiles.len(),
        m.counts.images,
        report.bytes as f64 / 1e6,
        report.time.as_secs_f64()
    );
    match &m.places {
        Some(p) => {
            let bytes = m
                .members
                .iter()
                .find(|x| x.name == p.index)
                .map_or(0, |x| x.size);
            println!(
                "  places index: {} of the graph's {} entries, {:.2} MB",
                p.entries,
                p.of_entries,
                bytes as f64 / 1e6
            );
        }
        None => println!("  no places index (the graph has none: import the map again to add it)"),
    }
    if m.images.is_none() {
        println!("  no map images (pass --tiles DIR to include them)");
    }
    if m.traffic.is_none() {
        println!("  no traffic profiles (pass --profiles FILE to include them)");
    }
    Ok(())
}
