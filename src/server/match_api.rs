//! `GET /match/v1/{profile}/{coordinates}` as OSRM speaks it: a GPS trace placed on the roads by
//! the hidden-Markov matcher ([`route::map_match`]). Options: `timestamps` (seconds, one per
//! point, non-decreasing), `radiuses` (per point, the standard deviation of its GPS error in
//! metres, as OSRM: roads within three of them are candidates; default 5 m), `gaps=split|ignore`
//! (split the trace at large time gaps, default `split`), `tidy` (drop points too close to the
//! previous one first), and the route service's `steps`, `geometries`, `overview`,
//! `annotations`, `generate_hints`, `skip_waypoints`.
//!
//! The answer holds `matchings` (route objects, one per unbroken piece of the trace, each with
//! `confidence`; a leg between each pair of consecutive matched points) and `tracepoints` (per
//! input point: `null` if unmatched or tidied away, else a waypoint with `matchings_index`,
//! `waypoint_index` and `alternatives_count`). Codes as OSRM: the grammar (`InvalidQuery`),
//! counts (`InvalidOptions`), more than `max_matching_size` points (`TooBig`), timestamps that
//! go back (`InvalidValue`), no road near any point (`NoSegment`), nothing matched
//! (`NoMatch`). `waypoints`, `bearings`, `approaches` and `hints` are refused
//! (`NotImplemented`): the matcher does not apply them. The matching runs on the compute pool.

use super::osrm_params::{coordinates_part, parse_coordinates};
use super::route_api::{error_for, ApiError};
use super::route_params::{parse_route_options_with, RouteOptionsParsed};
use super::{pooled_service, ComputePool, Limits};
use crate::ErrorCode;
use route::map_match::{tidy, MatchOptions, TracePoint, DEFAULT_SIGMA_M};
use route::osrm::{route_response_with, waypoint_json, Extras};
use route::{RouteAnswer, Router};
use serde_json::{json, Value};
use spatial::LatLon;
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Reply;

/// OSRM's default `--max-matching-size`.
pub const DEFAULT_MAX_MATCHING_SIZE: usize = 100;

/// `GET /match/...`, answered on the compute pool.
pub fn routes(
    routers: super::profiles::Routers,
    limits: Limits,
    compute: Arc<ComputePool>,
) -> BoxedFilter<(Response,)> {
    pooled_service("match", routers, limits, compute, handle)
}

/// A parsed match request.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchQuery {
    pub points: Vec<LatLon>,
    pub timestamps: Vec<u64>,
    pub split_gaps: bool,
    pub tidy: bool,
    pub route: RouteOptionsParsed,
}

pub fn handle(router: &Router, limits: &Limits, path: &str, query: &str) -> Response {
    match parse(path, query, limits, router.profile()).and_then(|q| answer(router, &q)) {
        Ok(body) => warp::reply::json(&body).into_response(),
        Err(e) => e.into_response(),
    }
}

fn not_applied(name: &str) -> ApiError {
    ApiError::bad(
        ErrorCode::NotImplemented,
        format!("{name} is not supported by this server's match service"),
    )
}

/// Parses and validates a request in OSRM's order (see the module docs).
pub fn parse(
    path: &str,
    query: &str,
    limits: &Limits,
    served: graph::Profile,
) -> Result<MatchQuery, ApiError> {
    let points = parse_coordinates(&coordinates_part(path, "match", served)?)?;
    let (mut timestamps, mut split_gaps, mut tidy) = (Vec::new(), true, false);
    let route = parse_route_options_with(query, |o| {
        match o.key.as_str() {
            "timestamps" => {
                timestamps = o
                    .value
                    .split(';')
                    .map(|v| v.parse::<u32>().map(u64::from).map_err(|_| o.malformed()))
                    .collect::<Result<_, _>>()?
            }
            "gaps" => {
                split_gaps = match o.value.as_str() {
                    "split" => true,
                    "ignore" => false,
                    _ => return Err(o.malformed()),
                }
            }
            "tidy" => tidy = o.bool()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let n = points.len();
    if n < 2 {
        return Err(ApiError::bad(
            ErrorCode::InvalidOptions,
            "Number of coordinates needs to be at least two.",
        ));
    }
    route.base.validate(n)?;
    if !timestamps.is_empty() && timestamps.len() != n {
        return Err(ApiError::bad(
            ErrorCode::InvalidOptions,
            format!(
                "Number of elements in timestamps size {} does not match coordinate size {n}",
                timestamps.len()
            ),
        ));
    }
    if n > limits.max_matching_size {
        return Err(ApiError::bad(
            ErrorCode::TooBig,
            format!(
                "Too many trace coordinates: {n} given, at most {} allowed",
                limits.max_matching_size
            ),
        ));
    }
    if timestamps.windows(2).any(|w| w[1] < w[0]) {
        return Err(ApiError::bad(
            ErrorCode::InvalidValue,
            "Timestamps need to be monotonically increasing.",
        ));
    }
    route.base.supported()?;
    let b = &route.base;
    if route.waypoints.is_some() {
        return Err(not_applied("waypoints"));
    }
    for (name, given) in [
        ("bearings", !b.bearings.is_empty()),
        ("approaches", !b.approaches.is_empty()),
        ("hints", !b.hints.is_empty()),
    ] {
        if given {
            return Err(not_applied(name));
        }
    }
    Ok(MatchQuery {
        points,
        timestamps,
        split_gaps,
        tidy,
        route,
    })
}

fn answer(router: &Router, q: &MatchQuery) -> Result<Value, ApiError> {
    let base = &q.route.base;
    let trace: Vec<TracePoint> = q
        .points
        .iter()
        .enumerate()
        .map(|(i, &location)| TracePoint {
            location,
            timestamp_s: q.timestamps.get(i).map(|&t| t as f64),
            sigma_m: base
                .radiuses
                .get(i)
                .copied()
                .flatten()
                .unwrap_or(DEFAULT_SIGMA_M),
        })
        .collect();
    let kept: Vec<usize> = if q.tidy {
        tidy(&trace)
    } else {
        (0..trace.len()).collect()
    };
    let sub: Vec<TracePoint> = kept.iter().map(|&i| trace[i]).collect();
    let options = MatchOptions {
        split_gaps: q.split_gaps,
        max_radius_m: router.max_snap_m,
    };
    let result = router
        .match_trace(&sub, &options)
        .map_err(|e| error_for(&e))?;
    if result.with_candidates == 0 {
        return Err(ApiError::bad(
            ErrorCode::NoSegment,
            "Could not find a matching segment for any coordinate.",
        ));
    }
    if result.matchings.is_empty() {
        return Err(ApiError::bad(
            ErrorCode::NoMatch,
            "Could not match the trace.",
        ));
    }
    let extras = Extras {
        annotations: q.route.annotations,
        skip_waypoints: true,
        voice_instructions: q.route.voice_instructions,
        banner_instructions: q.route.banner_instructions,
    };
    let mut matchings = Vec::with_capacity(result.matchings.len());
    let mut tracepoints = vec![Value::Null; q.points.len()];
    for (mi, m) in result.matchings.iter().enumerate() {
        let ends: Vec<usize> = (0..m.points.len()).collect();
        let route = router
            .route_from_paths(&m.paths, &ends, q.route.response.steps)
            .map_err(|e| error_for(&e))?;
        let answer = RouteAnswer {
            waypoints: Vec::new(),
            route,
            tiles_touched: 0,
        };
        let mut body = route_response_with(&answer, &q.route.response, &extras);
        let mut route_json = body["routes"][0].take();
        route_json["confidence"] = json!((m.confidence * 1e4).round() / 1e4);
        matchings.push(route_json);
        for (wi, p) in m.points.iter().enumerate() {
            let mut w = waypoint_json(&base.waypoint(router, &p.snap));
            w["matchings_index"] = json!(mi);
            w["waypoint_index"] = json!(wi);
            w["alternatives_count"] = json!(p.alternatives);
            tracepoints[kept[p.trace_index]] = w;
        }
    }
    let mut out = json!({"code": "Ok", "matchings": matchings});
    if !base.skip_waypoints {
        out["tracepoints"] = Value::Array(tracepoints);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(path: &str, query: &str) -> &'static str {
        let limits = Limits {
            max_matching_size: 3,
            ..Limits::default()
        };
        parse(path, query, &limits, graph::Profile::Car)
            .err()
            .map_or("Ok", |e| e.code.as_str())
    }

    #[test]
    fn validates_like_osrm() {
        let p = "/match/v1/driving/9.52,47.14;9.53,47.15;9.54,47.16";
        assert_eq!(code(p, ""), "Ok");
        assert_eq!(code(p, "timestamps=1;2;3&radiuses=5;10;15"), "Ok");
        assert_eq!(code(p, "timestamps=1;1;3&gaps=ignore&tidy=true"), "Ok");
        assert_eq!(code(p, "steps=true&overview=full&annotations=true"), "Ok");
        assert_eq!(code(p, "timestamps=3;2;1"), "InvalidValue");
        assert_eq!(code(p, "timestamps=1;2"), "InvalidOptions");
        assert_eq!(code(p, "timestamps=1;x;2"), "InvalidQuery");
        assert_eq!(code(p, "timestamps=-1;0;2"), "InvalidQuery");
        assert_eq!(code(p, "gaps=never"), "InvalidQuery");
        assert_eq!(code(p, "tidy=yes"), "InvalidQuery");
        assert_eq!(code(p, "radiuses=5;5"), "InvalidOptions");
        assert_eq!(code(p, "radiuses=-5;5;5"), "InvalidOptions");
        assert_eq!(code(p, "waypoints=0;2"), "NotImplemented");
        assert_eq!(code(p, "bearings=10,10;;"), "NotImplemented");
        assert_eq!(code(p, "exclude=foo"), "InvalidValue");
        assert_eq!(code(p, "colour=red"), "InvalidQuery");
        assert_eq!(code("/match/v1/driving/9.52,47.14", ""), "InvalidOptions");
        assert_eq!(
            code("/match/v1/driving/9.5,47.1;9.5,47.2;9.5,47.3;9.5,47.4", ""),
            "TooBig"
        );
        assert_eq!(
            code("/match/v2/driving/9.5,47.1;9.5,47.2", ""),
            "InvalidVersion"
        );
        let q = parse(
            p,
            "timestamps=1;2;3&gaps=ignore&tidy=true",
            &Limits::default(),
            graph::Profile::Car,
        )
        .unwrap();
        assert_eq!(q.timestamps, vec![1, 2, 3]);
        assert!(!q.split_gaps && q.tidy);
    }
}
