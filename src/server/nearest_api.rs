//! `GET /nearest/v1/{profile}/{lon},{lat}?number=N` as OSRM speaks it: the `N` nearest roads
//! to a coordinate, nearest first, as waypoints with `nodes` (the OSM ids of the junctions the
//! snapped road piece runs between; OSRM names the ends of the snapped OSM segment, which for
//! a road without side streets between two junctions are the same nodes). Limits and error
//! codes as osrm-routed: `number` over `--max-nearest-size` is `TooBig`.

use super::osrm_params::{coordinates_part, parse_coordinates, split_query, BaseOptions};
use super::route_api::{error_for, ApiError};
use super::{pooled_service, ComputePool, Limits};
use crate::ErrorCode;
use route::osrm::waypoint_json;
use route::snap::{end_osm_ids, nearest};
use route::{RouteError, Router};
use serde_json::{json, Value};
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Reply;

/// `GET /nearest/...`, answered on the compute pool.
pub fn routes(
    routers: super::profiles::Routers,
    limits: Limits,
    compute: Arc<ComputePool>,
) -> BoxedFilter<(Response,)> {
    pooled_service("nearest", routers, limits, compute, handle)
}

pub fn handle(router: &Router, limits: &Limits, path: &str, query: &str) -> Response {
    match answer(router, limits, path, query) {
        Ok(body) => warp::reply::json(&body).into_response(),
        Err(e) => e.into_response(),
    }
}

fn answer(router: &Router, limits: &Limits, path: &str, query: &str) -> Result<Value, ApiError> {
    let points =
        parse_coordinates(&coordinates_part(path, "nearest", router.profile())?).map_err(|e| {
            if e.code == ErrorCode::InvalidValue {
                ApiError::bad(ErrorCode::InvalidOptions, "Coordinates are invalid")
            } else {
                e
            }
        })?;
    let mut base = BaseOptions::default();
    let mut number = 1usize;
    for o in split_query(query)? {
        if base.take(&o)? {
            continue;
        }
        match o.key.as_str() {
            "number" => number = o.value.parse::<u32>().map_err(|_| o.malformed())? as usize,
            _ => return Err(o.unknown()),
        }
    }
    base.check(points.len())?;
    if number < 1 {
        return Err(ApiError::bad(
            ErrorCode::InvalidOptions,
            "number must be at least 1",
        ));
    }
    if number > limits.max_nearest_results {
        return Err(ApiError::bad(
            ErrorCode::TooBig,
            format!(
                "Number of results {number} is higher than current maximum ({})",
                limits.max_nearest_results
            ),
        ));
    }
    if points.len() != 1 {
        return Err(ApiError::bad(
            ErrorCode::InvalidOptions,
            "Only one input coordinate is supported",
        ));
    }
    let store = &router.store;
    let radius = base.radius(0, router.max_snap_m);
    let snaps = nearest(
        store,
        points[0],
        number,
        radius,
        base.snap_bearings().first().copied().flatten(),
        base.snap_approaches().first().copied().flatten(),
    )
    .map_err(|e| error_for(&RouteError::Store(e)))?;
    if snaps.is_empty() {
        return Err(ApiError::bad(
            ErrorCode::NoSegment,
            "Could not find a matching segments for coordinate",
        ));
    }
    let mut body = json!({"code": "Ok"});
    if !base.skip_waypoints {
        let mut waypoints = Vec::with_capacity(snaps.len());
        for s in &snaps {
            let (tail, head) =
                end_osm_ids(store, s).map_err(|e| error_for(&RouteError::Store(e)))?;
            let mut w = waypoint_json(&base.waypoint(router, s));
            w["nodes"] = json!([tail, head]);
            waypoints.push(w);
        }
        body["waypoints"] = Value::Array(waypoints);
    }
    Ok(body)
}
