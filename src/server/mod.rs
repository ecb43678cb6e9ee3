//! The HTTP server: the OSRM v1 services ([`route_api`] with [`route_params`], [`nearest_api`],
//! [`table_api`], [`trip_api`], [`match_api`], with the request parsing they share in
//! [`osrm_params`]) on the car graph and, when given one, a foot graph ([`profiles`]),
//! Nominatim's `/search`
//! and `/reverse` ([`geocode_api`]), `/health` and `/metrics` ([`metrics`]),
//! on warp, with CORS on every answer ([`cors`]); the map
//! page ([`map_page`]) and, given a tiles directory, its images ([`tile_files`]); on a cluster
//! member also the Raft RPC and `/cluster` routes, and the publisher that turns the replicated
//! traffic table into the snapshot routes read.

pub mod compute;
pub mod cors;
pub mod error_code;
pub mod geocode_api;
pub mod ingest;
pub mod map_page;
pub mod match_api;
pub mod metrics;
pub mod nearest_api;
pub mod osrm_params;
pub mod pings;
pub mod profiles;
pub mod rate_limit;
pub mod route_api;
pub mod route_params;
pub mod table_api;
pub mod tile_files;
pub mod trip_api;

use cluster::admin_api::cluster_routes;
use cluster::host::ClusterHost;
use cluster::network::{raft_routes, unauthorized_reply};
use route::Router;
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use traffic::live::DEFAULT_FRESH_MS;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply};

pub use compute::{ComputeError, ComputePool};
pub use error_code::ErrorCode;

/// Service limits a deployment may tune.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most coordinates in one `/route` request (OSRM answers `TooBig` beyond its limit too).
    pub max_route_coordinates: usize,
    /// `/table`: at most this many squared cells (sources × destinations), like osrm-routed's
    /// `--max-table-size`.
    pub max_table_size: usize,
    /// `/nearest`: most results (`number=`), like osrm-routed's `--max-nearest-size`.
    pub max_nearest_results: usize,
    /// `/route`: the search budget, as the crow-fly length of the legs in km summed over the
    /// request (a search's work grows with it); longer requests are refused `TooBig` before
    /// any search runs.
    pub max_route_km: f64,
    /// `/trip`: most coordinates, like osrm-routed's `--max-trip-size`.
    pub max_trip_size: usize,
    /// `/match`: most trace points, like osrm-routed's `--max-matching-size`.
    pub max_matching_size: usize,
    /// `/route`: most alternatives one request may ask for, like osrm-routed's
    /// `--max-alternatives` (0: `alternatives=true` is refused too).
    pub max_alternatives: usize,
}

/// osrm-routed's default `--max-alternatives`.
pub const DEFAULT_MAX_ALTERNATIVES: usize = 3;

/// Default `/route` budget: a trip across a continent, legs summed.
pub const DEFAULT_MAX_ROUTE_KM: f64 = 5_000.0;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_route_coordinates: 100,
            max_table_size: 100,
            max_nearest_results: 100,
            max_route_km: DEFAULT_MAX_ROUTE_KM,
            max_trip_size: trip_api::DEFAULT_MAX_TRIP_SIZE,
            max_matching_size: match_api::DEFAULT_MAX_MATCHING_SIZE,
            max_alternatives: DEFAULT_MAX_ALTERNATIVES,
        }
    }
}

/// Everything about a server besides its router and cluster membership. A bare [`Limits`]
/// converts into options without tiles, so `serve_on(router, listener, limits, None)` stays
/// valid.
#[derive(Clone)]
pub struct ServerOptions {
    pub limits: Limits,
    /// A directory written by `meridian render`, served under `/tiles/`.
    pub tiles: Option<PathBuf>,
    /// Counters shown at `/metrics`; share them with [`start_ingest`] to include the ingest's.
    pub metrics: Arc<metrics::Metrics>,
    /// Where route searches and other CPU-bound work run; share it with [`start_ingest`] so
    /// navigation reroutes count against the same budget.
    pub compute: Arc<ComputePool>,
    /// Which browser origins may read the answers (default: any, as osrm-routed).
    pub cors: cors::Cors,
    /// A foot graph's router, answering `/{service}/v1/foot/...` and `/walking/` (none: those
    /// are refused as a profile this server does not route).
    pub foot: Option<Arc<Router>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            limits: Limits::default(),
            tiles: None,
            metrics: Arc::default(),
            compute: ComputePool::for_this_machine(),
            cors: cors::Cors::default(),
            foot: None,
        }
    }
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("limits", &self.limits)
            .field("tiles", &self.tiles)
            .field("compute_threads", &self.compute.threads())
            .field("compute_capacity", &self.compute.capacity())
            .field("cors", &self.cors)
            .field(
                "foot",
                &self.foot.as_ref().map(|r| r.store.manifest().name.clone()),
            )
            .finish()
    }
}

impl ServerOptions {
    pub fn with_tiles(mut self, dir: impl Into<PathBuf>) -> Self {
        self.tiles = Some(dir.into());
        self
    }

    pub fn with_metrics(mut self, metrics: Arc<metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn with_compute(mut self, compute: Arc<ComputePool>) -> Self {
        self.compute = compute;
        self
    }

    pub fn with_cors(mut self, cors: cors::Cors) -> Self {
        self.cors = cors;
        self
    }

    /// Also route walkers, on this foot graph's router.
    pub fn with_foot(mut self, foot: Arc<Router>) -> Self {
        self.foot = Some(foot);
        self
    }
}

impl From<Limits> for ServerOptions {
    fn from(limits: Limits) -> Self {
        ServerOptions {
            limits,
            ..ServerOptions::default()
        }
    }
}

/// How often the traffic table is folded into the snapshot routes read.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// All routes of a service; a cluster member also answers Raft RPC and `/cluster`.
pub fn routes(
    router: Arc<Router>,
    options: ServerOptions,
    cluster: Option<Arc<ClusterHost>>,
) -> impl Filter<Extract = (Response,), Error = std::convert::Infallible> + Clone {
    let limits = options.limits;
    let routers = profiles::Routers {
        car: router.clone(),
        foot: options.foot.clone(),
    };
    let traffic_router = router.clone();
    let health = health_route(router.clone(), options.foot.clone(), cluster.clone());
    let page = warp::path::end()
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and_then(|method: Method, headers: HeaderMap| async move {
            match method {
                Method::GET | Method::HEAD => {
                    Ok(map_page::respond(&headers, method == Method::HEAD))
                }
                _ => Err(warp::reject::not_found()),
            }
        });
    // Without a tiles directory `/tiles/...` still answers in the API's shape (the page then
    // routes on a blank background).
    let tiles: BoxedFilter<(Response,)> = match options.tiles {
        Some(dir) => Arc::new(tile_files::TileFiles::new(dir)).routes(),
        None => warp::path("tiles")
            .map(|| tile_files::not_found("this server has no map images (start it with --tiles)"))
            .boxed(),
    };
    let nearest = nearest_api::routes(routers.clone(), limits, options.compute.clone());
    let table = table_api::routes(routers.clone(), limits, options.compute.clone());
    let trip = trip_api::routes(routers.clone(), limits, options.compute.clone());
    let matching = match_api::routes(routers.clone(), limits, options.compute.clone());
    let geocode = geocode_api::routes(
        Arc::new(geocode_api::Geocoder::load(router.store.dir())),
        options.compute.clone(),
    );
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let route_metrics = options.metrics.clone();
    let route_compute = options.compute.clone();
    let api = warp::get().and(warp::path::full()).and(query).then(
        move |path: warp::path::FullPath, query: String| {
            let (router, metrics, compute) = (
                routers.for_path(path.as_str()).clone(),
                route_metrics.clone(),
                route_compute.clone(),
            );
            async move {
                let started = std::time::Instant::now();
                let path = path.as_str().to_string();
                let response = compute
                    .try_run(move || route_api::handle(&router, &limits, &path, &query))
                    .await
                    .unwrap_or_else(|e| compute_error_reply(&e));
                metrics.route_answered(response.status().as_u16(), started.elapsed());
                response
            }
        },
    );
    let (scraped, scraped_node) = (options.metrics.clone(), cluster.clone());
    let metrics = warp::path("metrics")
        .and(warp::path::end())
        .and(warp::get())
        .map(move || {
            let mut response = Response::new(scraped.render(scraped_node.as_deref()).into());
            response.headers_mut().insert(
                warp::http::header::CONTENT_TYPE,
                warp::http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            response
        });
    let cluster = cluster_member_routes(cluster, traffic_router, options.compute.clone());
    let all = cluster
        .or(health)
        .unify()
        .or(metrics)
        .unify()
        .or(page)
        .unify()
        .or(tiles)
        .unify()
        .or(nearest)
        .unify()
        .or(table)
        .unify()
        .or(trip)
        .unify()
        .or(matching)
        .unify()
        .or(geocode)
        .unify()
        .or(api)
        .unify()
        .recover(|r: warp::Rejection| async move {
            Ok::<_, std::convert::Infallible>(
                unauthorized_reply(&r)
                    .unwrap_or_else(|| route_api::invalid_url("Unsupported method or URL")),
            )
        })
        .unify();
    cors::wrap(Arc::new(options.cors), all)
}

/// `GET /health`: the graph (and foot graph) served, tiles loaded, live traffic, and on a
/// cluster member `503` with `"status": "fatal"` once a group's Raft core has stopped.
fn health_route(
    health_router: Arc<Router>,
    health_foot: Option<Arc<Router>>,
    health_node: Option<Arc<ClusterHost>>,
) -> BoxedFilter<(Response,)> {
    warp::path("health")
        .and(warp::path::end())
        .and(warp::get())
        .map(move || {
            let store = &health_router.store;
            let m = store.manifest();
            let traffic = health_router.traffic.current();
            // A member whose Raft core stopped serves stale traffic and takes no pings: a load
            // balancer or orchestrator must see it as down (503) and restart it.
            let fatal = health_node.as_ref().and_then(|n| n.fatal());
            let (status, code) = match &fatal {
                Some(_) => ("fatal", StatusCode::SERVICE_UNAVAILABLE),
                None => ("ok", StatusCode::OK),
            };
            let mut body = json!({
                    "status": status,
                    "graph": m.name,
                    "graph_version": m.graph_version,
                    "bbox": m.bbox.lon_lat_array(),
                    "tiles": m.tiles.len(),
                    "tiles_loaded": store.loaded_tiles(),
                    "live_edges": traffic.live_edges,
                    "traffic_published_ms": traffic.published_ms,
                    "profile_edges": health_router.profiles.as_ref().map_or(0, |p| p.edges),
            });
            if let Some(foot) = &health_foot {
                let f = foot.store.manifest();
                body["foot_graph"] = f.name.clone().into();
                body["foot_graph_version"] = f.graph_version.clone().into();
            }
            if let Some(why) = fatal {
                body["error"] = why.into();
            }
            warp::reply::with_status(warp::reply::json(&body), code).into_response()
        })
        .boxed()
}

/// A cluster member's Raft RPC, `/cluster...` and `GET /traffic` (the live table as JSON);
/// nothing on a server without a cluster.
fn cluster_member_routes(
    cluster: Option<Arc<ClusterHost>>,
    traffic_router: Arc<Router>,
    compute: Arc<ComputePool>,
) -> BoxedFilter<(Response,)> {
    match cluster {
        Some(node) => {
            let (traffic_host, traffic_router) = (node.clone(), traffic_router.clone());
            let traffic_compute = compute.clone();
            // The whole table as JSON is megabytes: built on the compute pool, not the runtime.
            let traffic = warp::path("traffic")
                .and(warp::path::end())
                .and(warp::get())
                .then(move || {
                    let (host, router, compute) = (
                        traffic_host.clone(),
                        traffic_router.clone(),
                        traffic_compute.clone(),
                    );
                    async move {
                        compute
                            .try_run(move || {
                                let rows = with_live_table(&host, |live| {
                                    traffic::export::rows(live, &router.store)
                                });
                                warp::reply::json(&rows).into_response()
                            })
                            .await
                            .unwrap_or_else(|e| compute_error_reply(&e))
                    }
                });
            let rafts = node.groups().map(|n| (n.group, n.raft.clone())).collect();
            raft_routes(rafts, node.secret())
                .or(cluster_routes(node))
                .unify()
                .or(traffic)
                .unify()
                .boxed()
        }
        None => warp::any()
            .and_then(|| async { Err::<Response, _>(warp::reject::not_found()) })
            .boxed(),
    }
}

/// Runs a request's CPU-bound work (searches, snapping) on the compute pool, off the async
/// workers that carry the other connections; a full pool answers 503 at once.
pub(crate) async fn run_blocking(
    compute: Arc<ComputePool>,
    work: impl FnOnce() -> Response + Send + 'static,
) -> Result<Response, std::convert::Infallible> {
    Ok(compute
        .try_run(work)
        .await
        .unwrap_or_else(|e| compute_error_reply(&e)))
}

/// An OSRM service under `/<name>/...` whose handler reads the path and query string and runs
/// on the compute pool (`/nearest`, `/table`), on the router of the path's profile.
pub(crate) fn pooled_service(
    name: &'static str,
    routers: profiles::Routers,
    limits: Limits,
    compute: Arc<ComputePool>,
    handle: fn(&Router, &Limits, &str, &str) -> Response,
) -> BoxedFilter<(Response,)> {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::path(name)
        .and(warp::get())
        .and(warp::path::full())
        .and(query)
        .and_then(move |path: warp::path::FullPath, query: String| {
            let (router, compute) = (routers.for_path(path.as_str()).clone(), compute.clone());
            run_blocking(compute, move || {
                handle(&router, &limits, path.as_str(), &query)
            })
        })
        .boxed()
}

/// The answer when the compute pool refused or lost a job: `503` with `Retry-After` when it is
/// full, `500` when the job panicked; OSRM's error shape either way.
pub fn compute_error_reply(e: &ComputeError) -> Response {
    let code = match e {
        ComputeError::Busy(_) => ErrorCode::Busy,
        ComputeError::Panicked(_) => ErrorCode::InternalError,
    };
    let mut response = route_api::ApiError::bad(code, e.to_string()).into_response();
    if matches!(e, ComputeError::Busy(_)) {
        response.headers_mut().insert(
            warp::http::header::RETRY_AFTER,
            warp::http::HeaderValue::from_static("1"),
        );
    }
    response
}

/// Serves until the process is stopped. Binds first so a taken port is a clean error.
pub async fn serve(
    router: Arc<Router>,
    addr: SocketAddr,
    options: impl Into<ServerOptions>,
    cluster: Option<Arc<ClusterHost>>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(router, listener, options, cluster).await;
    Ok(())
}

/// Serves on an already bound listener (tests bind port 0). With a cluster node, also publishes
/// its traffic table to the router every [`PUBLISH_INTERVAL`].
pub async fn serve_on(
    router: Arc<Router>,
    listener: tokio::net::TcpListener,
    options: impl Into<ServerOptions>,
    cluster: Option<Arc<ClusterHost>>,
) {
    if let Some(node) = &cluster {
        tokio::spawn(publish_traffic(router.clone(), node.clone()));
    }
    // Re-customizes the overlay (if any) on its own thread after each traffic publish.
    router.spawn_overlay_updater();
    warp::serve(routes(router, options.into(), cluster))
        .incoming(listener)
        .run()
        .await;
}

/// Starts the websocket ingest of a cluster process on `listener`: pings are matched here,
/// batched into the Raft log of their shard's group, and acknowledged after commit.
pub fn start_ingest(
    listener: tokio::net::TcpListener,
    router: impl Into<profiles::Routers>,
    node: Arc<ClusterHost>,
    secret: &[u8],
    metrics: Arc<metrics::Metrics>,
    compute: Arc<ComputePool>,
) {
    start_ingest_with(
        listener,
        router,
        node,
        secret,
        metrics,
        compute,
        rate_limit::RateLimit::default(),
    )
}

/// [`start_ingest`] with a per-device rate limit other than the default.
pub fn start_ingest_with(
    listener: tokio::net::TcpListener,
    router: impl Into<profiles::Routers>,
    node: Arc<ClusterHost>,
    secret: &[u8],
    metrics: Arc<metrics::Metrics>,
    compute: Arc<ComputePool>,
    rate: rate_limit::RateLimit,
) {
    let routers: profiles::Routers = router.into();
    let pipeline = pings::PingPipeline::new(
        routers.car,
        cluster::batcher::ShardedBatcher::start(&node, Default::default()),
        metrics,
        rate_limit::DeviceRates::new(rate),
    );
    // Its own copy of the places index (a few MB): `navigate` geocodes typed addresses.
    let geocoder = Arc::new(geocode_api::Geocoder::load(pipeline.router.store.dir()));
    let ctx = Arc::new(ingest::IngestContext {
        pipeline,
        geocoder,
        compute,
        foot: routers.foot,
        secret: secret.to_vec(),
        auth_failures: rate_limit::AddressRates::new(rate_limit::RateLimit::auth_failures()),
    });
    tokio::spawn(ingest::serve_ingest(listener, ctx));
}

/// Calls `f` on the live table routes read: the only group's, or every hosted group's merged.
fn with_live_table<T>(host: &ClusterHost, f: impl FnOnce(&traffic::LiveTraffic) -> T) -> T {
    let mut groups = host.groups();
    match (groups.next(), groups.next()) {
        (Some(only), None) => f(&only.state.live),
        _ => f(&traffic::LiveTraffic::merged(
            host.groups().map(|n| &n.state.live),
        )),
    }
}

/// Folds the replicated traffic tables of the hosted groups into the router's snapshot, forever.
pub async fn publish_traffic(router: Arc<Router>, node: Arc<ClusterHost>) {
    let mut tick = tokio::time::interval(PUBLISH_INTERVAL);
    loop {
        tick.tick().await;
        // Folding the whole table into per-tile arrays is CPU work: off the runtime that
        // carries Raft's heartbeats and the acks.
        let (r, n) = (router.clone(), node.clone());
        let folded = tokio::task::spawn_blocking(move || {
            let snapshot = with_live_table(&n, |live| {
                live.snapshot(&r.store, route::now_ms(), DEFAULT_FRESH_MS)
            });
            r.traffic.publish(snapshot);
        })
        .await;
        if folded.is_err() {
            eprintln!("meridian: folding the traffic table failed; the previous one stays");
            continue;
        }
        if let Some(overlay) = &router.overlay {
            overlay.request_update();
        }
    }
}
