//! The `meridian` command line: import a map, serve routes, route offline (on a graph directory
//! or an offline bundle), write bundles, verify a graph.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use meridian::cluster::node::{ClusterNode, NodeConfig, SnapshotSchedule};
use meridian::graph::build::{self, BuildOptions, DEFAULT_PRECISION};
use meridian::graph::GraphStore;
use meridian::route::osrm::{route_response, Geometries, Overview, ResponseOptions};
use meridian::route::Router;
use meridian::server::{self, Limits, ServerOptions};
use meridian::tiles::bundle::{self, Area, Bundle, BundleOptions};
use meridian::tiles::index::TileIndex;
use meridian::tiles::render::{self, RenderOptions};
use meridian::traffic::HistoricalProfiles;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

mod up;

#[derive(Parser)]
#[command(
    name = "meridian",
    version,
    about = "Fastest routes over a tiled OpenStreetMap road graph"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Cluster membership of a `serve` process; without `--node-id` it serves routes alone.
#[derive(clap::Args, Clone, Debug)]
struct ClusterArgs {
    /// This node's id in the Raft group (enables cluster mode).
    #[arg(long)]
    node_id: Option<u64>,
    /// Directory of this node's durable Raft log and snapshots.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address other nodes reach this one at (default: the listen address).
    #[arg(long)]
    advertise: Option<String>,
    /// Shared cluster secret (or env MERIDIAN_CLUSTER_SECRET); RPC without it is refused.
    #[arg(long, env = "MERIDIAN_CLUSTER_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Address of this node's websocket ping ingest (cluster nodes only).
    #[arg(long)]
    ingest_listen: Option<SocketAddr>,
    /// Secret that device tokens are derived from (or env MERIDIAN_INGEST_SECRET).
    #[arg(long, env = "MERIDIAN_INGEST_SECRET", hide_env_values = true)]
    ingest_secret: Option<String>,
    /// Do not record applied observations in <data-dir>/observations (recorded by default in
    /// builds with the `analytics` feature).
    #[arg(long)]
    no_observations: bool,
    /// Snapshot the traffic state and purge the Raft log every this many entries.
    #[arg(long, default_value_t = SnapshotSchedule::default().every_entries, value_parser = clap::value_parser!(u64).range(100..))]
    snapshot_every: u64,
}

#[derive(Subcommand)]
enum TrafficCommand {
    /// Fetch a node's live traffic table and write it as Parquet (or JSON).
    Export {
        /// A cluster node's HTTP address, e.g. 127.0.0.1:5001.
        #[arg(long)]
        node: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Parquet)]
        format: ExportFormat,
        #[arg(long)]
        out: PathBuf,
    },
    /// Build per-edge time-of-week speed profiles (15-minute bins, UTC) from observation
    /// Parquet files (a cluster node's <data-dir>/observations), for `serve --profiles`.
    History {
        /// Directory of observation Parquet files (or one file). Repeat it for several nodes'
        /// directories: each Raft log entry's rows are counted once, from one of them.
        #[arg(long, required = true)]
        observations: Vec<PathBuf>,
        /// Graph directory the observations were matched on.
        #[arg(long)]
        graph: PathBuf,
        /// Output profile file.
        #[arg(long)]
        out: PathBuf,
        /// Bins with fewer observations are left to free flow.
        #[arg(long, default_value_t = 3)]
        min_samples: u32,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ExportFormat {
    Parquet,
    Json,
}

// Parsed once per process, so the size of the `serve` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Import an OpenStreetMap PBF extract into a tiled graph directory.
    Import {
        /// Input .osm.pbf file.
        input: PathBuf,
        /// Output graph directory, e.g. graphdata/porto.
        #[arg(long)]
        out: PathBuf,
        /// Geohash precision of the graph tiles (2-8).
        #[arg(long, default_value_t = DEFAULT_PRECISION)]
        precision: usize,
    },
    /// Import a map if its graph is missing or older than the map, then run a local cluster of
    /// nodes on it (one process each, loopback ports): the one command to get a running service.
    Up {
        /// Input .osm.pbf file (default: the Liechtenstein extract shipped in graphdata/maps/).
        map: Option<PathBuf>,
        /// Graph directory (default: graphdata/<map name>).
        #[arg(long)]
        graph: Option<PathBuf>,
        /// Number of cluster nodes.
        #[arg(long, default_value_t = 3)]
        nodes: u64,
        /// Node i listens on 127.0.0.1:(base_port + i - 1).
        #[arg(long, default_value_t = 5001)]
        base_port: u16,
        /// Where the nodes keep their Raft logs (default: graphdata/<map name>-cluster).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Serve the OSRM v1 route API over HTTP.
    Serve {
        /// Graph directory written by `meridian import`.
        #[arg(long)]
        graph: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:5000")]
        listen: SocketAddr,
        /// Most coordinates accepted in one route request.
        #[arg(long, default_value_t = 100)]
        max_coordinates: usize,
        /// Threads that run route searches (default: one per core), at a lower priority than
        /// the threads carrying Raft and the websocket ingest.
        #[arg(long)]
        compute_threads: Option<usize>,
        /// Route requests queued or running at once; more are answered 503 with Retry-After
        /// (default: 8 per compute thread).
        #[arg(long)]
        compute_queue: Option<usize>,
        /// Most cells of one /table request, squared (as osrm-routed's --max-table-size:
        /// sources × destinations may be at most this squared).
        #[arg(long, default_value_t = 100)]
        max_table_size: usize,
        /// Most results of one /nearest request (osrm-routed's --max-nearest-size).
        #[arg(long, default_value_t = 100)]
        max_nearest_size: usize,
        /// Browser origin allowed to call the API (CORS), e.g. https://app.example; repeat or
        /// comma-separate for several. Default "*": any origin, as osrm-routed.
        #[arg(long = "cors-origin", value_name = "ORIGIN")]
        cors_origins: Vec<String>,
        /// Map images written by `meridian render`, served under /tiles/ for the map page at /.
        #[arg(long)]
        tiles: Option<PathBuf>,
        /// Historical speed profiles (`meridian traffic history`) for edges without live data.
        #[arg(long)]
        profiles: Option<PathBuf>,
        /// Build the multi-level overlay at start and answer routes with it (per request,
        /// `algorithm=astar` still picks the plain A*; `depart=` always uses the A*).
        #[arg(long)]
        overlay: bool,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Compute one route locally and print the OSRM JSON answer.
    Route {
        /// Graph directory written by `meridian import`.
        #[arg(long, required_unless_present = "bundle", conflicts_with = "bundle")]
        graph: Option<PathBuf>,
        /// Offline bundle written by `meridian bundle` (points must lie in its area).
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// Two or more "lon,lat" points.
        #[arg(required = true, num_args = 2..)]
        points: Vec<String>,
        #[arg(long)]
        steps: bool,
        /// Departure time (unix seconds) for a bundle's historical profiles (default: now).
        #[arg(long)]
        depart: Option<i64>,
    },
    /// Write an offline bundle: the graph tiles (and map images) of an area in one tar file that
    /// `meridian route --bundle` routes on without a server.
    Bundle {
        /// Graph directory written by `meridian import`.
        #[arg(long)]
        graph: PathBuf,
        /// A geohash prefix (e.g. ez3f) or "min_lon,min_lat,max_lon,max_lat".
        #[arg(long, allow_hyphen_values = true)]
        area: String,
        /// Tiles directory (index.json + <precision>/<geohash>.png) to take map images from.
        #[arg(long)]
        tiles: Option<PathBuf>,
        /// Historical profile file of this graph (`meridian traffic history`) to include.
        #[arg(long)]
        profiles: Option<PathBuf>,
        /// The bundle file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Work with a running cluster's traffic table.
    Traffic {
        #[command(subcommand)]
        command: TrafficCommand,
    },
    /// Print the websocket ingest token of a device (HMAC of its id under the ingest secret).
    Token {
        #[arg(long)]
        device: u64,
        /// The ingest secret (or env MERIDIAN_INGEST_SECRET).
        #[arg(long, env = "MERIDIAN_INGEST_SECRET", hide_env_values = true)]
        ingest_secret: String,
    },
    /// Draw road-map PNG images named by geohash (tiles/<precision>/<geohash>.png + index.json),
    /// ready for any static web server or CDN.
    Render {
        /// Graph directory written by `meridian import`.
        #[arg(long)]
        graph: PathBuf,
        /// Output directory, e.g. tiles/<map name>.
        #[arg(long)]
        out: PathBuf,
        /// Geohash precisions to draw, comma separated.
        #[arg(long, value_delimiter = ',', default_values_t = meridian::tiles::DISPLAY_PRECISIONS)]
        precisions: Vec<usize>,
        /// Drawing threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Check every tile of a graph against the checksums in its manifest.
    Verify {
        #[arg(long)]
        graph: PathBuf,
    },
}

/// `porto-2015-06` for `.../porto-2015-06.osm.pbf`.
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

fn map_name(map: &std::path::Path) -> String {
    let file = map
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_else(|| "map".into());
    file.trim_end_matches(".osm.pbf")
        .trim_end_matches(".pbf")
        .to_string()
}

/// True when the graph has no manifest or the map file is newer than it.
fn graph_is_stale(map: &std::path::Path, graph: &std::path::Path) -> Result<bool> {
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

/// A tiles directory must exist; images of another graph version are served with a warning
/// (the page still works, roads may just be drawn slightly differently from how routes run).
fn check_tiles(dir: &std::path::Path, router: &Router) -> Result<()> {
    if !dir.is_dir() {
        bail!(
            "tiles directory {} does not exist (write it with `meridian render`)",
            dir.display()
        );
    }
    match TileIndex::read(dir) {
        Ok(index) => {
            let m = router.store.manifest();
            if index.graph_version != m.graph_version {
                eprintln!(
                    "meridian: warning: {} was drawn from graph {} version {}, serving {} version {}",
                    dir.display(),
                    index.graph,
                    index.graph_version,
                    m.name,
                    m.graph_version
                );
            }
        }
        Err(e) => eprintln!("meridian: warning: {e}; the map page will show no images"),
    }
    Ok(())
}

/// Draws the map images for `graph` into `tiles` unless they already show this graph version.
/// Images of an older version are deleted first: this is the local development directory, not
/// a published one (publish each graph version under its own path instead).
fn render_if_stale(graph: &std::path::Path, tiles: &std::path::Path) -> Result<()> {
    let store = GraphStore::open(graph)?;
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
    run(Cli {
        command: Command::Render {
            graph: graph.to_path_buf(),
            out: tiles.to_path_buf(),
            precisions: meridian::tiles::DISPLAY_PRECISIONS.to_vec(),
            threads: None,
        },
    })
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Up {
            map,
            graph,
            nodes,
            base_port,
            data_dir,
        } => {
            let map = match map {
                Some(map) => map,
                None => default_map()?,
            };
            let graph = graph.unwrap_or_else(|| PathBuf::from("graphdata").join(map_name(&map)));
            let tiles = PathBuf::from("tiles").join(map_name(&map));
            let data_dir = data_dir.unwrap_or_else(|| {
                PathBuf::from("graphdata").join(format!("{}-cluster", map_name(&map)))
            });
            if graph_is_stale(&map, &graph)? {
                run(Cli {
                    command: Command::Import {
                        input: map,
                        out: graph.clone(),
                        precision: DEFAULT_PRECISION,
                    },
                })?;
            } else {
                eprintln!(
                    "meridian: {} is up to date with {}",
                    graph.display(),
                    map.display()
                );
            }
            render_if_stale(&graph, &tiles)?;
            // Every node serves the images, so each one's map page works.
            up::run_local_cluster(&graph, nodes, base_port, &data_dir, Some(&tiles))
        }
        Command::Import {
            input,
            out,
            precision,
        } => {
            let report = build::import(&BuildOptions {
                precision,
                progress: std::io::stderr().is_terminal(),
                ..BuildOptions::new(&input, &out)
            })
            .with_context(|| format!("importing {}", input.display()))?;
            let m = &report.manifest;
            let c = &m.counts;
            println!("imported {} into {}", input.display(), out.display());
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
            println!(
                "  time: read {:.2}s  topology {:.2}s  tiles {:.2}s  total {:.2}s",
                report.read_time.as_secs_f64(),
                report.topology_time.as_secs_f64(),
                report.tiling_time.as_secs_f64(),
                report.total_time.as_secs_f64()
            );
            Ok(())
        }
        Command::Serve {
            graph,
            listen,
            max_coordinates,
            compute_threads,
            compute_queue,
            max_table_size,
            max_nearest_size,
            cors_origins,
            tiles,
            profiles,
            overlay,
            cluster,
        } => {
            let cors = server::cors::Cors::from_args(&cors_origins)?;
            let store = Arc::new(
                GraphStore::open(&graph)
                    .with_context(|| format!("opening graph {}", graph.display()))?,
            );
            let mut router = Router::new(store.clone());
            if let Some(path) = profiles {
                let p = HistoricalProfiles::load(&path, &store)
                    .with_context(|| format!("loading profiles {}", path.display()))?;
                eprintln!(
                    "meridian: historical profiles for {} edges ({} bins) from {}",
                    p.edges,
                    p.bins,
                    path.display()
                );
                router = router.with_profiles(Arc::new(p));
            }
            if overlay {
                let t = std::time::Instant::now();
                router = router
                    .with_overlay(Default::default())
                    .context("building the overlay")?;
                eprintln!(
                    "meridian: overlay built and customized in {:.0} ms",
                    t.elapsed().as_secs_f64() * 1e3
                );
            }
            let router = Arc::new(router);
            let record = cfg!(feature = "analytics") && !cluster.no_observations;
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let threads = compute_threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
            let compute = server::ComputePool::new(threads, compute_queue.unwrap_or(threads * 8));
            let mut options = ServerOptions::from(Limits {
                max_route_coordinates: max_coordinates,
                max_table_size,
                max_nearest_results: max_nearest_size,
            })
            .with_compute(compute)
            .with_cors(cors);
            if let Some(dir) = tiles {
                check_tiles(&dir, &router)?;
                options = options.with_tiles(dir);
            }
            runtime.block_on(async move {
                let node = match cluster.node_id {
                    None => None,
                    Some(id) => {
                        let secret = cluster.secret.clone().context(
                            "a cluster node needs --secret or MERIDIAN_CLUSTER_SECRET (the same on every node)",
                        )?;
                        let config = NodeConfig {
                            id,
                            advertise: cluster.advertise.clone().unwrap_or_else(|| listen.to_string()),
                            data_dir: cluster
                                .data_dir
                                .clone()
                                .unwrap_or_else(|| PathBuf::from(format!("node-{id}"))),
                            secret,
                            observations: record.then(|| store.clone()),
                            snapshots: SnapshotSchedule {
                                every_entries: cluster.snapshot_every,
                                keep_entries: (cluster.snapshot_every / 10).min(2_000),
                            },
                        };
                        let node = ClusterNode::start(config.clone())
                            .await
                            .with_context(|| format!("starting cluster node {id}"))?;
                        eprintln!("meridian: node {id} data in {}", config.data_dir.display());
                        Some(Arc::new(node))
                    }
                };
                if let (Some(addr), Some(node)) = (cluster.ingest_listen, &node) {
                    let secret = cluster.ingest_secret.clone().context(
                        "websocket ingest needs --ingest-secret or MERIDIAN_INGEST_SECRET (device tokens derive from it)",
                    )?;
                    let listener = tokio::net::TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("binding the ingest listener {addr}"))?;
                    server::start_ingest(
                        listener,
                        router.clone(),
                        node.clone(),
                        secret.as_bytes(),
                        options.metrics.clone(),
                        options.compute.clone(),
                    );
                    eprintln!("meridian: websocket ingest on ws://{addr}");
                }
                eprintln!("meridian: serving {} on http://{listen}", graph.display());
                if options.tiles.is_some() {
                    eprintln!("meridian: map page on http://{listen}/");
                }
                server::serve(router, listen, options, node)
                    .await
                    .with_context(|| format!("serving on {listen}"))
            })?;
            Ok(())
        }
        Command::Bundle {
            graph,
            area,
            tiles,
            profiles,
            out,
        } => {
            if let Some(path) = &profiles {
                // Only profiles of this very graph version may travel with its tiles.
                let store = GraphStore::open(&graph)
                    .with_context(|| format!("opening graph {}", graph.display()))?;
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
            if m.images.is_none() {
                println!("  no map images (pass --tiles DIR to include them)");
            }
            if m.traffic.is_none() {
                println!("  no traffic profiles (pass --profiles FILE to include them)");
            }
            Ok(())
        }
        Command::Route {
            graph,
            bundle,
            points,
            steps,
            depart,
        } => {
            // A bundle is verified whole on open, so a damaged one fails here, before routing.
            let (store, bundle) = match (&graph, &bundle) {
                (_, Some(path)) => {
                    let b = Bundle::open(path)?;
                    (b.store(), Some(b))
                }
                (Some(graph), None) => (
                    Arc::new(
                        GraphStore::open(graph)
                            .with_context(|| format!("opening graph {}", graph.display()))?,
                    ),
                    None,
                ),
                (None, None) => bail!("give --graph or --bundle"),
            };
            let mut router = Router::new(store.clone());
            if let Some(bytes) = bundle.as_ref().and_then(|b| b.profiles()) {
                let profiles =
                    HistoricalProfiles::from_file_bytes(bytes, bundle::PROFILES_MEMBER, &store)
                        .context("reading the bundle's traffic profiles")?;
                router = router.with_profiles(Arc::new(profiles));
            }
            let mut coords = Vec::new();
            for p in &points {
                let Some((lon, lat)) = p.split_once(',') else {
                    bail!("point {p:?} is not \"lon,lat\"");
                };
                let (lon, lat): (f64, f64) = (
                    lon.trim()
                        .parse()
                        .with_context(|| format!("bad longitude in {p:?}"))?,
                    lat.trim()
                        .parse()
                        .with_context(|| format!("bad latitude in {p:?}"))?,
                );
                if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
                    bail!("point {p:?} is out of range");
                }
                if let Some(b) = &bundle {
                    b.check_point(lat, lon)?;
                }
                coords.push((lat, lon));
            }
            let answer = router.route_at(&coords, steps, depart.map(|s| s * 1000))?;
            let opts = ResponseOptions {
                overview: Overview::Full,
                geometries: Geometries::Polyline,
                steps,
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&route_response(&answer, &opts))?
            );
            Ok(())
        }
        Command::Traffic {
            command: TrafficCommand::Export { node, format, out },
        } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let rows: Vec<meridian::traffic::export::TrafficRow> = runtime.block_on(async {
                let url = format!("http://{node}/traffic");
                let response = reqwest::get(&url)
                    .await
                    .with_context(|| format!("fetching {url}"))?;
                if !response.status().is_success() {
                    bail!(
                        "{url} answered {} (is it a cluster node?)",
                        response.status()
                    );
                }
                response
                    .json()
                    .await
                    .with_context(|| format!("reading {url}"))
            })?;
            match format {
                ExportFormat::Json => {
                    std::fs::write(&out, serde_json::to_vec(&rows)?)
                        .with_context(|| format!("writing {}", out.display()))?;
                }
                #[cfg(feature = "analytics")]
                ExportFormat::Parquet => {
                    meridian::traffic::export::write_parquet(&rows, &out)?;
                }
                #[cfg(not(feature = "analytics"))]
                ExportFormat::Parquet => {
                    bail!("this build has no Parquet support; rebuild with the `analytics` feature")
                }
            }
            println!("wrote {} traffic rows to {}", rows.len(), out.display());
            Ok(())
        }
        Command::Traffic {
            command:
                TrafficCommand::History {
                    observations,
                    graph,
                    out,
                    min_samples,
                },
        } => history(&observations, &graph, &out, min_samples),
        Command::Token {
            device,
            ingest_secret,
        } => {
            println!(
                "{}",
                server::ingest::device_token(ingest_secret.as_bytes(), device)
            );
            Ok(())
        }
        Command::Render {
            graph,
            out,
            precisions,
            threads,
        } => {
            let store = GraphStore::open(&graph)
                .with_context(|| format!("opening graph {}", graph.display()))?;
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
        Command::Verify { graph } => {
            let store = GraphStore::open(&graph)
                .with_context(|| format!("opening graph {}", graph.display()))?;
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
    }
}

/// `meridian traffic history`: observation files (of one or several nodes) to a profile file.
#[cfg(feature = "analytics")]
fn history(
    observations: &[PathBuf],
    graph: &std::path::Path,
    out: &std::path::Path,
    min_samples: u32,
) -> Result<()> {
    use meridian::traffic::history::{build_profiles, BuildOptions, ObservationSource};
    let sources = observations
        .iter()
        .map(|p| ObservationSource::from_path(p))
        .collect::<Result<Vec<_>, _>>()?;
    let store =
        GraphStore::open(graph).with_context(|| format!("opening graph {}", graph.display()))?;
    let (profiles, report) = build_profiles(&sources, &store, &BuildOptions { min_samples })
        .context("building profiles")?;
    let bytes = profiles
        .write(out)
        .with_context(|| format!("writing {}", out.display()))?;
    let secs = report.total_time.as_secs_f64();
    println!(
        "read {} observations from {} files in {:.2}s ({:.0} rows/s; query {:.2}s)",
        report.rows_read,
        report.files,
        secs,
        report.rows_read as f64 / secs.max(1e-9),
        report.query_time.as_secs_f64()
    );
    println!(
        "{} log entries, {} rows used",
        report.entries, report.rows_used
    );
    for s in &report.sources {
        print!(
            "  {}: {} files, {} rows, {} entries ({} missing), {} entries used",
            s.name,
            s.files,
            s.rows,
            s.entries,
            report.entries - s.entries,
            s.entries_used
        );
        if s.rows_without_index > 0 {
            print!(", {} rows without a log index", s.rows_without_index);
        }
        println!();
    }
    if !report.missing.is_empty() {
        let ranges: Vec<String> = report
            .missing
            .iter()
            .map(|(a, b)| {
                if a == b {
                    format!("{a}")
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        println!(
            "log indexes with rows in no source (lost, or entries without observations): {}",
            ranges.join(", ")
        );
    }
    println!(
        "profiled {} edges, {} (edge, bin) pairs with >= {min_samples} samples; {} dropped (edge not in this graph version)",
        profiles.edges, profiles.bins, report.bins_wrong_way
    );
    println!("wrote {} ({:.1} MB)", out.display(), bytes as f64 / 1e6);
    Ok(())
}

#[cfg(not(feature = "analytics"))]
fn history(
    _observations: &[PathBuf],
    _graph: &std::path::Path,
    _out: &std::path::Path,
    _min_samples: u32,
) -> Result<()> {
    bail!("this build has no Parquet support; rebuild with the `analytics` feature")
}
