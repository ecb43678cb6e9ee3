//! `meridian import`: an OSM PBF into a tiled graph directory (car, or foot with `--profile
//! foot`), with counts and step times.

use anyhow::{Context, Result};
use meridian::graph::build::{self, BuildOptions, DEFAULT_PRECISION};
use meridian::graph::Profile;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// Input .osm.pbf file.
    pub input: PathBuf,
    /// Output graph directory, e.g. graphdata/porto.
    #[arg(long)]
    pub out: PathBuf,
    /// Geohash precision of the graph tiles (2-8).
    #[arg(long, default_value_t = DEFAULT_PRECISION)]
    pub precision: usize,
    /// Who the graph is for: `car` (the default, with the geocoding index) or `foot` (a
    /// walking graph, conventionally in <car graph>-foot, which `serve` then loads beside it).
    #[arg(long, default_value_t = Profile::Car)]
    pub profile: Profile,
}

pub fn run(args: ImportArgs) -> Result<()> {
    let ImportArgs {
        input,
        out,
        precision,
        profile,
    } = args;
    let report = build::import(&BuildOptions {
        precision,
        profile,
        progress: std::io::stderr().is_terminal(),
        ..BuildOptions::new(&input, &out)
    })
    .with_context(|| format!("importing {}", input.display()))?;
    let m = &report.manifest;
    let c = &m.counts;
    println!(
        "imported {} into {} ({profile} profile)",
        input.display(),
        out.display()
    );
    println!(
        "  ways {}  osm nodes {}  dangling refs {}  junctions {}  directed edges {}  shape points {}",
        c.osm_ways_used, c.osm_nodes_used, c.dangling_node_refs, c.junctions, c.directed_edges, c.shape_points
    );
    println!(
        "  forbidden turns {}  restrictions skipped {}  junctions outside largest SCC dropped {}",
        c.turn_restrictions, c.turn_restrictions_skipped, c.nodes_dropped_outside_largest_scc
    );
    println!(
        "  tiles {} at geohash precision {}  bytes {}  graph version {}",
        m.tiles.len(),
        m.geohash_precision,
        m.tiles.iter().map(|t| t.bytes).sum::<u64>(),
        m.graph_version
    );
    if let Some(p) = &report.places {
        let c = &p.counts;
        println!(
            "  places: addresses {}  streets {} ({} ways)  places/POIs {}  tokens {}  bytes {}  read {:.2}s  index {:.2}s",
            c.addresses, c.streets, c.street_ways, c.places, p.tokens, p.bytes,
            p.read_time.as_secs_f64(), p.build_time.as_secs_f64()
        );
    }
    // The overlay's cells, cut once here so every server start reads them.
    let t = std::time::Instant::now();
    let store = meridian::graph::GraphStore::open(&out)
        .with_context(|| format!("opening the imported graph {}", out.display()))?;
    let entry = meridian::route::Router::new(std::sync::Arc::new(store))
        .store_overlay_partition(&Default::default())
        .context("storing the overlay partition")?;
    println!(
        "  overlay partition: {} ({} bytes) in {:.2}s",
        entry.file,
        entry.bytes,
        t.elapsed().as_secs_f64()
    );
    println!(
        "  time: read {:.2}s  topology {:.2}s  tiles {:.2}s  total {:.2}s",
        report.read_time.as_secs_f64(),
        report.topology_time.as_secs_f64(),
        report.tiling_time.as_secs_f64(),
        report.total_time.as_secs_f64()
    );
    Ok(())
}
