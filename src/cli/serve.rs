//! `meridian serve`: the HTTP API on a graph, alone or as a member of a Raft cluster with the
//! websocket ingest; the overlay, profiles and map images when asked for; the foot graph beside
//! the car graph (`<graph>-foot`, or `--foot-graph`) for `/route/v1/foot/...`.

use super::{foot_graph_dir, open_graph};
use anyhow::{bail, Context, Result};
use meridian::cluster::host::ClusterHost;
use meridian::cluster::node::{NodeConfig, SnapshotSchedule};
use meridian::cluster::shards::ShardMap;
use meridian::route::overlay::PartitionSource;
use meridian::route::Router;
use meridian::server::{self, Limits, ServerOptions};
use meridian::tiles::index::TileIndex;
use meridian::traffic::HistoricalProfiles;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Graph directory written by `meridian import`.
    #[arg(long)]
    pub graph: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub listen: SocketAddr,
    /// Most coordinates accepted in one route request.
    #[arg(long, default_value_t = 100)]
    pub max_coordinates: usize,
    /// Budget of one /route request: its legs' crow-fly km summed; longer requests are
    /// refused TooBig before any search runs.
    #[arg(long, default_value_t = meridian::server::DEFAULT_MAX_ROUTE_KM)]
    pub max_route_km: f64,
    /// Threads that run route searches (default: one per core), at a lower priority than
    /// the threads carrying Raft and the websocket ingest.
    #[arg(long)]
    pub compute_threads: Option<usize>,
    /// Route requests queued or running at once; more are answered 503 with Retry-After
    /// (default: 8 per compute thread).
    #[arg(long)]
    pub compute_queue: Option<usize>,
    /// Most cells of one /table request, squared (as osrm-routed's --max-table-size:
    /// sources × destinations may be at most this squared).
    #[arg(long, default_value_t = 100)]
    pub max_table_size: usize,
    /// Most results of one /nearest request (osrm-routed's --max-nearest-size).
    #[arg(long, default_value_t = 100)]
    pub max_nearest_size: usize,
    /// Most coordinates of one /trip request (osrm-routed's --max-trip-size).
    #[arg(long, default_value_t = 100)]
    pub max_trip_size: usize,
    /// Most trace points of one /match request (osrm-routed's --max-matching-size).
    #[arg(long, default_value_t = 100)]
    pub max_matching_size: usize,
    /// Most alternatives one /route request may ask for (osrm-routed's --max-alternatives).
    #[arg(long, default_value_t = server::DEFAULT_MAX_ALTERNATIVES)]
    pub max_alternatives: usize,
    /// Browser origin allowed to call the API (CORS), e.g. https://app.example; repeat or
    /// comma-separate for several. Default "*": any origin, as osrm-routed.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Map images written by `meridian render`, served under /tiles/ for the map page at /.
    #[arg(long)]
    pub tiles: Option<PathBuf>,
    /// Historical speed profiles (`meridian traffic history`) for edges without live data.
    #[arg(long)]
    pub profiles: Option<PathBuf>,
    /// Build the multi-level overlay at start and answer routes with it: the default (per
    /// request, `algorithm=astar` still picks the plain A*; `depart=` always uses the A*).
    /// Kept so older command lines still parse.
    #[arg(long, hide = true)]
    pub overlay: bool,
    /// Answer every route with the plain tiled A* and build no overlay (less memory and a
    /// faster start on a big map; routes are slower).
    #[arg(long, conflicts_with = "overlay")]
    pub no_overlay: bool,
    /// The foot graph (`meridian import --profile foot`) that answers the `foot` and
    /// `walking` profiles (default: <graph>-foot when it exists).
    #[arg(long, conflicts_with = "no_foot")]
    pub foot_graph: Option<PathBuf>,
    /// Serve no foot graph, even when <graph>-foot exists: `foot` and `walking` are then
    /// refused as profiles this server does not route.
    #[arg(long)]
    pub no_foot: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Cluster membership of a `serve` process; without `--node-id` it serves routes alone.
#[derive(clap::Args, Clone, Debug)]
pub struct ClusterArgs {
    /// This node's id in the Raft group (enables cluster mode).
    #[arg(long)]
    node_id: Option<u64>,
    /// Directory of this node's durable Raft log and snapshots.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address other nodes reach this one at (default: the listen address).
    #[arg(long)]
    advertise: Option<String>,
    /// Local IP address to make connections to other nodes from (Raft RPCs, forwarded writes);
    /// default: the OS chooses. Keeps cluster traffic on one interface of a multi-homed host.
    #[arg(long)]
    cluster_source_ip: Option<std::net::IpAddr>,
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
    /// The shard map (JSON: geohash prefixes → shard ids; `meridian up --shards N` writes one):
    /// this process hosts a member of every shard's Raft group, and each ping is committed in
    /// the group of the shard its position lies in. Every process must be given the same map.
    /// Default: one shard, one group.
    #[arg(long, value_name = "FILE")]
    shards: Option<PathBuf>,
    /// Snapshot the traffic state and purge the Raft log every this many entries.
    #[arg(long, default_value_t = SnapshotSchedule::default().every_entries, value_parser = clap::value_parser!(u64).range(100..))]
    snapshot_every: u64,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let ServeArgs {
        graph,
        listen,
        max_coordinates,
        max_route_km,
        compute_threads,
        compute_queue,
        max_table_size,
        max_nearest_size,
        max_trip_size,
        max_matching_size,
        max_alternatives,
        cors_origins,
        tiles,
        profiles,
        overlay: _,
        no_overlay,
        foot_graph,
        no_foot,
        cluster,
    } = args;
    let cors = server::cors::Cors::from_args(&cors_origins)?;
    let store = Arc::new(open_graph(&graph)?);
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
    router = with_overlay(router, no_overlay, "")?;
    let router = Arc::new(router);
    // A foot graph given as --graph serves the foot profile alone.
    let main_is_foot = router.profile() == meridian::graph::Profile::Foot;
    let foot = foot_router(&graph, foot_graph, no_foot || main_is_foot, no_overlay)?.map(Arc::new);
    let record = cfg!(feature = "analytics") && !cluster.no_observations;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let threads = compute_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let compute = server::ComputePool::new(threads, compute_queue.unwrap_or(threads * 8));
    let mut options = ServerOptions::from(Limits {
        max_route_coordinates: max_coordinates,
        max_table_size,
        max_nearest_results: max_nearest_size,
        max_route_km,
        max_trip_size,
        max_matching_size,
        max_alternatives,
    })
    .with_compute(compute)
    .with_cors(cors);
    if let Some(foot) = foot {
        options = options.with_foot(foot);
    }
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
                    source_ip: cluster.cluster_source_ip,
                };
                let shards = match &cluster.shards {
                    Some(path) => ShardMap::read(path)?,
                    None => ShardMap::single(),
                };
                let groups = shards.shards().len();
                let host = ClusterHost::start(config.clone(), shards)
                    .await
                    .with_context(|| format!("starting cluster node {id}"))?;
                eprintln!(
                    "meridian: node {id} data in {} ({groups} Raft group{}, shard map version {})",
                    config.data_dir.display(),
                    if groups == 1 { "" } else { "s" },
                    host.shards.version
                );
                Some(Arc::new(host))
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
                server::profiles::Routers {
                    car: router.clone(),
                    foot: options.foot.clone(),
                },
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

/// Builds the overlay unless told not to (or the graph is partial); `what` names the graph in
/// the messages ("" for the car graph).
fn with_overlay(router: Router, no_overlay: bool, what: &str) -> Result<Router> {
    if no_overlay {
        return Ok(router);
    }
    if router.store.is_partial() {
        eprintln!("meridian: this {what}graph holds only some tiles; routes use the plain A*");
        return Ok(router);
    }
    let t = std::time::Instant::now();
    let router = router
        .with_overlay(Default::default())
        .with_context(|| format!("building the {what}overlay"))?;
    let cells = match router.overlay.as_ref().map(|o| &o.overlay.source) {
        Some(PartitionSource::Stored) => "cells read from the graph directory".to_string(),
        Some(PartitionSource::Built {
            unusable_file: Some(why),
        }) => format!("cells cut at start; the stored partition was not used: {why}"),
        _ => "cells cut at start (no stored partition; `meridian import` writes one)".into(),
    };
    eprintln!(
        "meridian: {what}overlay built and customized in {:.0} ms; {cells}",
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(router)
}

/// The foot graph's router: `--foot-graph`, else `<graph>-foot` when it holds a graph, none
/// with `--no-foot`. A directory that is not a foot graph is an error, not a silent car graph.
fn foot_router(
    car: &std::path::Path,
    explicit: Option<PathBuf>,
    no_foot: bool,
    no_overlay: bool,
) -> Result<Option<Router>> {
    if no_foot {
        return Ok(None);
    }
    let dir = match explicit {
        Some(dir) => dir,
        None => {
            let dir = foot_graph_dir(car);
            if !dir.join(meridian::graph::manifest::MANIFEST_FILE).is_file() {
                eprintln!(
                    "meridian: no foot graph in {} (import one with `meridian import <map> --profile foot --out {}`); foot routes are refused",
                    dir.display(),
                    dir.display()
                );
                return Ok(None);
            }
            dir
        }
    };
    let store = open_graph(&dir)?;
    let profile = store.manifest().profile;
    if profile != meridian::graph::Profile::Foot {
        bail!(
            "{} is a {profile} graph, not a foot graph (import it with --profile foot)",
            dir.display()
        );
    }
    let router = with_overlay(Router::new(Arc::new(store)), no_overlay, "foot ")?;
    eprintln!(
        "meridian: foot graph {} serves /route/v1/foot and /walking",
        dir.display()
    );
    Ok(Some(router))
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
