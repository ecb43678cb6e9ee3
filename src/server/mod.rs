//! The HTTP server: the OSRM v1 route service ([`route_api`]) and `/health`, on warp.

pub mod route_api;

use crate::route::Router;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::Filter;

/// Service limits a deployment may tune.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most coordinates in one `/route` request (OSRM answers `TooBig` beyond its limit too).
    pub max_route_coordinates: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_route_coordinates: 100,
        }
    }
}

/// All routes of the service.
pub fn routes(
    router: Arc<Router>,
    limits: Limits,
) -> impl Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible> + Clone {
    let health_router = router.clone();
    let health = warp::path("health")
        .and(warp::path::end())
        .and(warp::get())
        .map(move || {
            let store = &health_router.store;
            let m = store.manifest();
            warp::reply::with_status(
                warp::reply::json(&json!({
                    "status": "ok",
                    "graph": m.name,
                    "graph_version": m.graph_version,
                    "tiles": m.tiles.len(),
                    "tiles_loaded": store.loaded_tiles(),
                })),
                StatusCode::OK,
            )
        });
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let api = warp::get().and(warp::path::full()).and(query).map(
        move |path: warp::path::FullPath, query: String| {
            route_api::handle(&router, &limits, path.as_str(), &query)
        },
    );
    health
        .map(warp::Reply::into_response)
        .or(api)
        .unify()
        .recover(|_| async {
            Ok::<_, std::convert::Infallible>(route_api::invalid_url("Unsupported method or URL"))
        })
        .unify()
}

/// Serves until the process is stopped. Binds first so a taken port is a clean error.
pub async fn serve(router: Arc<Router>, addr: SocketAddr, limits: Limits) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(router, listener, limits).await;
    Ok(())
}

/// Serves on an already bound listener (tests bind port 0).
pub async fn serve_on(router: Arc<Router>, listener: tokio::net::TcpListener, limits: Limits) {
    warp::serve(routes(router, limits))
        .incoming(listener)
        .run()
        .await;
}
