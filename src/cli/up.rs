//! `meridian up`: import a map if its graph (and its foot graph, `<graph>-foot`) is missing or
//! older than the map, draw its map images if they are missing or of another graph version,
//! then run a local cluster on it ([`super::local_cluster`]). Without a map, the real extract
//! shipped in graphdata/maps/.

use super::import::{self, ImportArgs};
use super::render::{self, RenderArgs};
use super::{foot_graph_dir, local_cluster, open_graph};
use anyhow::{Context, Result};
use meridian::graph::build::DEFAULT_PRECISION;
use meridian::graph::Profile;
use meridian::tiles::index::TileIndex;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct UpArgs {
    /// Input .osm.pbf file (default: the Liechtenstein extract shipped in graphdata/maps/).
    pub map: Option<PathBuf>,
    /// Graph directory (default: graphdata/<map name>).
    #[arg(long)]
    pub graph: Option<PathBuf>,
    /// Number of cluster nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Node i listens on 127.0.0.1:(base_port + i - 1).
    #[arg(long, default_value_t = 5001)]
    pub base_port: u16,
    /// Where the nodes keep their Raft logs (default: graphdata/<map name>-cluster).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Neither import nor serve the foot graph (walking routes are then refused).
    #[arg(long)]
    pub no_foot: bool,
    /// Shards of the map: one Raft group per shard, each node hosting a replica of every
    /// group; pings are committed in the group of the shard they lie in. Fixed when the
    /// cluster is first started (its map is kept in <data-dir>/shards.json).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub shards: u32,
    /// Voters of each Raft group (at most --nodes); the other nodes follow the group as
    /// learners (they apply its pings for their routes, and do not vote).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub replicas: u64,
}

pub fn run(args: UpArgs) -> Result<()> {
    let UpArgs {
        map,
        graph,
        nodes,
        base_port,
        data_dir,
        no_foot,
        shards,
        replicas,
    } = args;
    let map = match map {
        Some(map) => map,
        None => default_map()?,
    };
    let graph = graph.unwrap_or_else(|| PathBuf::from("graphdata").join(map_name(&map)));
    let tiles = PathBuf::from("tiles").join(map_name(&map));
    let data_dir = data_dir
        .unwrap_or_else(|| PathBuf::from("graphdata").join(format!("{}-cluster", map_name(&map))));
    if graph_is_stale(&map, &graph)? {
        import::run(ImportArgs {
            input: map.clone(),
            out: graph.clone(),
            precision: DEFAULT_PRECISION,
            profile: Profile::Car,
        })?;
    } else {
        eprintln!(
            "meridian: {} is up to date with {}",
            graph.display(),
            map.display()
        );
    }
    let foot = foot_graph_dir(&graph);
    if no_foot {
        eprintln!("meridian: no foot graph (--no-foot)");
    } else if foot_graph_is_stale(&map, &foot)? {
        import::run(ImportArgs {
            input: map.clone(),
            out: foot.clone(),
            precision: DEFAULT_PRECISION,
            profile: Profile::Foot,
        })?;
    } else {
        eprintln!(
            "meridian: {} is up to date with {}",
            foot.display(),
            map.display()
        );
    }
    render_if_stale(&graph, &tiles)?;
    // Every node serves the images, so each one's map page works.
    local_cluster::run_local_cluster(&local_cluster::LocalCluster {
        graph: &graph,
        nodes,
        base_port,
        data_dir: &data_dir,
        tiles: Some(&tiles),
        no_foot,
        shards: shards as usize,
        replicas,
    })
}

/// The map a brand-new user runs `up` on: a real extract shipped in the repository (see
/// graphdata/maps/NOTICE.md), found next to the working directory or the source tree.
fn default_map() -> Result<PathBuf> {
    const FILE: &str = "graphdata/maps/liechtenstein-2015-07.osm.pbf";
    [
        PathBuf::from(FILE),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(FILE),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .with_context(|| {
        format!("no map given and the default map {FILE} is missing; pass an .osm.pbf file")
    })
}

/// `porto-2015-06` for `.../porto-2015-06.osm.pbf`.
fn map_name(map: &std::path::Path) -> String {
    let file = map
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_else(|| "map".into());
    file.trim_end_matches(".osm.pbf")
        .trim_end_matches(".pbf")
        .to_string()
}

/// True when the graph has no manifest or the map file is newer than it, it was imported
/// before the places index (geocoding) existed, or its tiles are of another format version.
fn graph_is_stale(map: &std::path::Path, graph: &std::path::Path) -> Result<bool> {
    if !graph.join(meridian::places::FILE_NAME).exists() || !current_format(graph) {
        return Ok(true);
    }
    older_than_map(map, graph)
}

/// Whether the graph's tiles are of this build's format (an older import is imported again
/// rather than refused at start).
fn current_format(graph: &std::path::Path) -> bool {
    meridian::graph::Manifest::read(graph)
        .is_ok_and(|m| m.format_version == meridian::graph::tile::TILE_FORMAT_VERSION)
}

/// True when the foot graph has no manifest, is not a foot graph, or is older than the map.
fn foot_graph_is_stale(map: &std::path::Path, foot: &std::path::Path) -> Result<bool> {
    match meridian::graph::Manifest::read(foot) {
        Ok(m) if m.profile == Profile::Foot && current_format(foot) => older_than_map(map, foot),
        _ => Ok(true),
    }
}

/// True when the graph directory has no manifest or the map file is newer than it.
fn older_than_map(map: &std::path::Path, graph: &std::path::Path) -> Result<bool> {
    let map_time = std::fs::metadata(map)
        .with_context(|| format!("cannot read map {}", map.display()))?
        .modified()?;
    let manifest = graph.join(meridian::graph::manifest::MANIFEST_FILE);
    Ok(
        match std::fs::metadata(&manifest).and_then(|m| m.modified()) {
            Ok(graph_time) => graph_time < map_time,
            Err(_) => true,
        },
    )
}

/// Draws the map images for `graph` into `tiles` unless they already show this graph version.
/// Images of an older version are deleted first: this is the local development directory, not
/// a published one (publish each graph version under its own path instead).
fn render_if_stale(graph: &std::path::Path, tiles: &std::path::Path) -> Result<()> {
    let store = open_graph(graph)?;
    let version = &store.manifest().graph_version;
    match TileIndex::read(tiles) {
        Ok(index) if &index.graph_version == version => {
            eprintln!("meridian: map images in {} are up to date", tiles.display());
            return Ok(());
        }
        Ok(_) => {
            eprintln!(
                "meridian: {} holds images of another graph version; drawing them again",
                tiles.display()
            );
            std::fs::remove_dir_all(tiles)
                .with_context(|| format!("removing {}", tiles.display()))?;
        }
        Err(_) => {}
    }
    render::run(RenderArgs {
        graph: graph.to_path_buf(),
        out: tiles.to_path_buf(),
        precisions: meridian::tiles::DISPLAY_PRECISIONS.to_vec(),
        threads: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_graph_of_another_tile_format_is_imported_again() {
        let map = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("graphdata/maps/liechtenstein-2015-07.osm.pbf");
        let dir = tempfile::tempdir().unwrap();
        let graph = dir.path().join("g");
        meridian::graph::build::import(&meridian::graph::build::BuildOptions::new(&map, &graph))
            .unwrap();
        assert!(
            !graph_is_stale(&map, &graph).unwrap(),
            "a fresh import is current"
        );
        let manifest = graph.join(meridian::graph::manifest::MANIFEST_FILE);
        let text = std::fs::read_to_string(&manifest).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["format_version"] = serde_json::json!(meridian::graph::tile::TILE_FORMAT_VERSION - 1);
        std::fs::write(&manifest, v.to_string()).unwrap();
        assert!(
            graph_is_stale(&map, &graph).unwrap(),
            "an older format is stale"
        );
    }
}
