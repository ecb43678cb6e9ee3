//! `GET /trip/v1/{profile}/{coordinates}` as OSRM speaks it: the order to visit the points in
//! (a travelling-salesman tour over their duration table, [`route::trip`]) and the route through
//! them in that order. Options: `roundtrip` (default `true`), `source=any|first`,
//! `destination=any|last`, and the route service's `steps`, `geometries`, `overview`,
//! `annotations` and base options, plus Meridian's `depart=` and `algorithm=` as in `/route`.
//!
//! The answer holds `trips` (one route object whose legs run in visiting order, back to the
//! first point when round) and `waypoints` in input order, each with `trips_index` and
//! `waypoint_index` (its place in the trip). Codes and checks in OSRM's order: the grammar
//! (`InvalidQuery`), the counts (`InvalidOptions`), an open trip with neither end fixed
//! (`NotImplemented`), more than `max_trip_size` points (`TooBig`), a point off the roads
//! (`NoSegment`), a point that cannot reach another (`NoTrips`). The table, the tour and the
//! legs are computed on the compute pool.

use super::osrm_params::{coordinates_part, parse_coordinates};
use super::route_api::{error_for, parse_algorithm, parse_depart, ApiError};
use super::route_params::{parse_route_options_with, RouteOptionsParsed};
use super::{pooled_service, ComputePool, Limits};
use crate::ErrorCode;
use route::osrm::{route_response_with, waypoint_json, Extras};
use route::trip::{trip_order, TripEnds, TripError};
use route::{Algorithm, RouteOptions, Router, SnapRules};
use serde_json::{json, Value};
use spatial::LatLon;
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Reply;

/// OSRM's default `--max-trip-size`.
pub const DEFAULT_MAX_TRIP_SIZE: usize = 100;

/// `GET /trip/...`, answered on the compute pool.
pub fn routes(
    routers: super::profiles::Routers,
    limits: Limits,
    compute: Arc<ComputePool>,
) -> BoxedFilter<(Response,)> {
    pooled_service("trip", routers, limits, compute, handle)
}

/// A parsed trip request.
#[derive(Clone, Debug, PartialEq)]
pub struct TripQuery {
    pub points: Vec<LatLon>,
    pub ends: TripEnds,
    pub route: RouteOptionsParsed,
    pub depart_ms: Option<i64>,
    pub algorithm: Option<Algorithm>,
}

pub fn handle(router: &Router, limits: &Limits, path: &str, query: &str) -> Response {
    match parse(path, query, limits, router.profile()).and_then(|q| answer(router, &q)) {
        Ok(body) => warp::reply::json(&body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Parses and validates a request in OSRM's order (see the module docs).
pub fn parse(
    path: &str,
    query: &str,
    limits: &Limits,
    served: graph::Profile,
) -> Result<TripQuery, ApiError> {
    let points = parse_coordinates(&coordinates_part(path, "trip", served)?)?;
    let mut ends = TripEnds {
        roundtrip: true,
        first: false,
        last: false,
    };
    let route = parse_route_options_with(query, |o| {
        match o.key.as_str() {
            "roundtrip" => ends.roundtrip = o.bool()?,
            "source" => {
                ends.first = match o.value.as_str() {
                    "any" => false,
                    "first" => true,
                    _ => return Err(o.malformed()),
                }
            }
            "destination" => {
                ends.last = match o.value.as_str() {
                    "any" => false,
                    "last" => true,
                    _ => return Err(o.malformed()),
                }
            }
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
    if !ends.roundtrip && !ends.first && !ends.last {
        return Err(ApiError::bad(
            ErrorCode::NotImplemented,
            format!(
                "{}: an open trip (roundtrip=false) needs source=first or destination=last",
                TripError::Unsupported
            ),
        ));
    }
    if n > limits.max_trip_size {
        return Err(ApiError::bad(
            ErrorCode::TooBig,
            format!(
                "Too many trip coordinates: {n} given, at most {} allowed",
                limits.max_trip_size
            ),
        ));
    }
    route.base.supported()?;
    if route.waypoints.is_some() {
        return Err(ApiError::bad(
            ErrorCode::NotImplemented,
            "waypoints is not supported by the trip service: every coordinate is a stop",
        ));
    }
    Ok(TripQuery {
        points,
        ends,
        route,
        depart_ms: parse_depart(query)?,
        algorithm: parse_algorithm(query)?,
    })
}

fn answer(router: &Router, q: &TripQuery) -> Result<Value, ApiError> {
    let base = &q.route.base;
    let (bearings, approaches) = (base.snap_bearings(), base.snap_approaches());
    let rules = SnapRules {
        radiuses: &base.radiuses,
        bearings: &bearings,
        approaches: &approaches,
        hints: &base.hints,
        exclude: graph::Exclude::NONE,
    };
    let snaps = router
        .snap_within(&q.points, &rules)
        .map_err(|e| error_for(&e))?;
    let table = router
        .table_at(&snaps, &snaps, q.depart_ms)
        .map_err(|e| error_for(&e))?;
    let durations: Vec<Vec<Option<f64>>> = table
        .iter()
        .map(|row| row.iter().map(|c| c.map(|c| c.duration_s)).collect())
        .collect();
    let order = trip_order(&durations, q.ends).map_err(|e| match e {
        TripError::NoTrips => ApiError::bad(ErrorCode::NoTrips, e.to_string()),
        TripError::Unsupported => ApiError::bad(ErrorCode::NotImplemented, e.to_string()),
    })?;
    let mut stops: Vec<_> = order.iter().map(|&i| snaps[i].clone()).collect();
    if q.ends.roundtrip {
        stops.push(snaps[order[0]].clone());
    }
    let options = RouteOptions {
        steps: q.route.response.steps,
        depart_ms: q.depart_ms,
        algorithm: q.algorithm,
        ..RouteOptions::default()
    };
    let routed = router
        .route_snapped(stops, &options)
        .map_err(|e| error_for(&e))?;
    let extras = Extras {
        annotations: q.route.annotations,
        skip_waypoints: true,
        voice_instructions: q.route.voice_instructions,
        banner_instructions: q.route.banner_instructions,
    };
    let mut body = route_response_with(&routed, &q.route.response, &extras);
    let trips = body["routes"].take();
    let mut out = json!({"code": "Ok", "trips": trips});
    if !base.skip_waypoints {
        let mut place = vec![0; snaps.len()];
        for (k, &i) in order.iter().enumerate() {
            place[i] = k;
        }
        let waypoints: Vec<Value> = snaps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut w = waypoint_json(&base.waypoint(router, s));
                w["trips_index"] = json!(0);
                w["waypoint_index"] = json!(place[i]);
                w
            })
            .collect();
        out["waypoints"] = Value::Array(waypoints);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(path: &str, query: &str) -> &'static str {
        let limits = Limits {
            max_trip_size: 3,
            ..Limits::default()
        };
        parse(path, query, &limits, graph::Profile::Car)
            .err()
            .map_or("Ok", |e| e.code.as_str())
    }

    #[test]
    fn validates_like_osrm() {
        let p = "/trip/v1/driving/9.52,47.14;9.53,47.15;9.54,47.16";
        assert_eq!(code(p, ""), "Ok");
        assert_eq!(code(p, "roundtrip=false&source=first"), "Ok");
        assert_eq!(code(p, "roundtrip=false&destination=last"), "Ok");
        assert_eq!(
            code(p, "roundtrip=false&source=first&destination=last"),
            "Ok"
        );
        assert_eq!(code(p, "source=first&destination=last&steps=true"), "Ok");
        assert_eq!(code(p, "roundtrip=false"), "NotImplemented");
        assert_eq!(
            code(p, "roundtrip=false&source=any&destination=any"),
            "NotImplemented"
        );
        assert_eq!(code(p, "roundtrip=maybe"), "InvalidQuery");
        assert_eq!(code(p, "source=last"), "InvalidQuery");
        assert_eq!(code(p, "destination=first"), "InvalidQuery");
        assert_eq!(code(p, "overview=full&geometries=geojson"), "Ok");
        assert_eq!(code(p, "annotations=duration,distance"), "Ok");
        assert_eq!(code(p, "radiuses=1;1"), "InvalidOptions");
        assert_eq!(code(p, "waypoints=0;2"), "NotImplemented");
        assert_eq!(code(p, "exclude=foo"), "InvalidValue");
        assert_eq!(code(p, "colour=red"), "InvalidQuery");
        assert_eq!(code("/trip/v1/driving/9.52,47.14", ""), "InvalidOptions");
        assert_eq!(
            code("/trip/v1/driving/9.5,47.1;9.5,47.2;9.5,47.3;9.5,47.4", ""),
            "TooBig"
        );
        assert_eq!(
            code("/trip/v2/driving/9.5,47.1;9.5,47.2", ""),
            "InvalidVersion"
        );
        assert_eq!(code("/trip/v1/driving/9.5,97;9.5,47.2", ""), "InvalidValue");
        let q = parse(
            p,
            "roundtrip=false&source=first",
            &Limits::default(),
            graph::Profile::Car,
        )
        .unwrap();
        assert_eq!(
            q.ends,
            TripEnds {
                roundtrip: false,
                first: true,
                last: false
            }
        );
    }
}
