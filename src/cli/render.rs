//! `meridian render`: the map images of every cell with roads, with per-precision counts.

use super::open_graph;
use anyhow::{Context, Result};
use meridian::tiles::render::{self, RenderOptions};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RenderArgs {
    /// Graph directory written by `meridian import`.
    #[arg(long)]
    pub graph: PathBuf,
    /// Output directory, e.g. tiles/<map name>.
    #[arg(long)]
    pub out: PathBuf,
    /// Geohash precisions to draw, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = meridian::tiles::DISPLAY_PRECISIONS)]
    pub precisions: Vec<usize>,
    /// Drawing threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn run(args: RenderArgs) -> Result<()> {
    let RenderArgs {
        graph,
        out,
        precisions,
        threads,
    } = args;
    let store = open_graph(&graph)?;
    let defaults = RenderOptions::new(&out);
    let stats = render::render(
        &store,
        &RenderOptions {
            precisions,
            threads: threads.unwrap_or(defaults.threads),
            progress: std::io::stderr().is_terminal(),
            ..defaults
        },
    )
    .with_context(|| format!("rendering {}", graph.display()))?;
    println!("rendered {} into {}", graph.display(), out.display());
    for level in &stats.levels {
        println!(
            "  precision {}: {} images, {:.1} MB",
            level.precision,
            level.images,
            level.bytes as f64 / 1e6
        );
    }
    let secs = stats.elapsed.as_secs_f64();
    println!(
        "  {} roads, {} images in {:.2}s ({:.0} images/s), {:.1} MB",
        stats.roads,
        stats.images(),
        secs,
        stats.images() as f64 / secs.max(1e-9),
        stats.bytes() as f64 / 1e6
    );
    Ok(())
}
