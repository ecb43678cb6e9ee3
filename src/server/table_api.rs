//! `GET /table/v1/{profile}/{coordinates}` as OSRM speaks it: `sources`, `destinations`
//! (indexes or `all`), `annotations=duration|distance|duration,distance`, `fallback_speed`
//! with `fallback_coordinate=input|snapped`, `scale_factor`, the base options, and Meridian's
//! `depart=` as in `/route`. The answer holds `durations` / `distances` (rows = sources, `null`
//! where unreachable), `sources` and `destinations` waypoints, and `fallback_speed_cells` when
//! a fallback speed is given. Limits and codes as osrm-routed: more than
//! `max_table_size²` cells is `TooBig`. The searches ([`route::table`]) run on the
//! compute pool.

use super::osrm_params::{
    coordinates_part, parse_coordinates, parse_plain_number, split_query, BaseOptions, QueryOption,
};
use super::route_api::{error_for, parse_depart, ApiError};
use super::{pooled_service, ComputePool, Limits};
use crate::ErrorCode;
use route::osrm::waypoint_json;
use route::{Router, SnapRules};
use serde_json::{json, Value};
use spatial::LatLon;
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Reply;

/// `GET /table/...`, answered on the compute pool.
pub fn routes(
    routers: super::profiles::Routers,
    limits: Limits,
    compute: Arc<ComputePool>,
) -> BoxedFilter<(Response,)> {
    pooled_service("table", routers, limits, compute, handle)
}

/// A parsed table request.
#[derive(Clone, Debug, PartialEq)]
pub struct TableQuery {
    /// In request order.
    pub points: Vec<LatLon>,
    /// Indexes into `points`; all of them when the request names none.
    pub sources: Vec<usize>,
    pub destinations: Vec<usize>,
    pub durations: bool,
    pub distances: bool,
    /// m/s, for cells without a path.
    pub fallback_speed: Option<f64>,
    /// Fallback distances between the snapped points rather than the input ones.
    pub fallback_snapped: bool,
    pub scale_factor: f64,
    pub base: BaseOptions,
    pub depart_ms: Option<i64>,
}

pub fn handle(router: &Router, limits: &Limits, path: &str, query: &str) -> Response {
    match parse(path, query, limits, router.profile()).and_then(|q| answer(router, &q)) {
        Ok(body) => warp::reply::json(&body).into_response(),
        Err(e) => e.into_response(),
    }
}

fn indexes(o: &QueryOption) -> Result<Option<Vec<usize>>, ApiError> {
    if o.value == "all" {
        return Ok(None);
    }
    o.value
        .split(';')
        .map(|v| v.parse::<usize>().map_err(|_| o.malformed()))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Parses and validates a request in OSRM's order: the grammar (`InvalidQuery`), the
/// parameter checks (`InvalidOptions`), the size limit (`TooBig`), unsupported options; the
/// path's profile must be the one of the graph `served`.
pub fn parse(
    path: &str,
    query: &str,
    limits: &Limits,
    served: graph::Profile,
) -> Result<TableQuery, ApiError> {
    let points = parse_coordinates(&coordinates_part(path, "table", served)?).map_err(|e| {
        if e.code == ErrorCode::InvalidValue {
            ApiError::bad(ErrorCode::InvalidOptions, "Coordinates are invalid")
        } else {
            e
        }
    })?;
    let mut q = TableQuery {
        sources: Vec::new(),
        destinations: Vec::new(),
        durations: true,
        distances: false,
        fallback_speed: None,
        fallback_snapped: false,
        scale_factor: 1.0,
        base: BaseOptions::default(),
        depart_ms: parse_depart(query)?,
        points,
    };
    let (mut sources, mut destinations) = (None, None);
    for o in split_query(query)? {
        if q.base.take(&o)? {
            continue;
        }
        match o.key.as_str() {
            "sources" => sources = indexes(&o)?,
            "destinations" => destinations = indexes(&o)?,
            "annotations" => {
                (q.durations, q.distances) = (false, false);
                for a in o.value.split(',') {
                    match a {
                        "duration" => q.durations = true,
                        "distance" => q.distances = true,
                        _ => return Err(o.malformed()),
                    }
                }
            }
            "fallback_speed" => {
                q.fallback_speed = Some(parse_plain_number(&o.value).ok_or_else(|| o.malformed())?)
            }
            "fallback_coordinate" => {
                q.fallback_snapped = match o.value.as_str() {
                    "input" => false,
                    "snapped" => true,
                    _ => return Err(o.malformed()),
                }
            }
            "scale_factor" => {
                q.scale_factor = parse_plain_number(&o.value).ok_or_else(|| o.malformed())?
            }
            // Meridian's departure time, parsed above.
            "depart" => {}
            _ => return Err(o.unknown()),
        }
    }
    let n = q.points.len();
    q.base.check(n)?;
    if n < 2 {
        return Err(ApiError::bad(
            ErrorCode::InvalidOptions,
            "Number of coordinates needs to be at least two.",
        ));
    }
    for (name, list) in [("sources", &sources), ("destinations", &destinations)] {
        if let Some(i) = list.iter().flatten().find(|&&i| i >= n) {
            return Err(ApiError::bad(
                ErrorCode::InvalidOptions,
                format!("{name} index {i} is out of range: there are {n} coordinates"),
            ));
        }
    }
    if q.fallback_speed.is_some_and(|s| s <= 0.0) {
        return Err(ApiError::bad(
            ErrorCode::InvalidOptions,
            "fallback_speed must be > 0",
        ));
    }
    if q.scale_factor <= 0.0 {
        return Err(ApiError::bad(
            ErrorCode::InvalidOptions,
            "scale_factor must be > 0",
        ));
    }
    q.sources = sources.unwrap_or_else(|| (0..n).collect());
    q.destinations = destinations.unwrap_or_else(|| (0..n).collect());
    let max = limits.max_table_size;
    if q.sources.len() * q.destinations.len() > max.saturating_mul(max) {
        return Err(ApiError::bad(
            ErrorCode::TooBig,
            "Too many table coordinates",
        ));
    }
    Ok(q)
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn answer(router: &Router, q: &TableQuery) -> Result<Value, ApiError> {
    let (bearings, approaches) = (q.base.snap_bearings(), q.base.snap_approaches());
    let rules = SnapRules {
        radiuses: &q.base.radiuses,
        bearings: &bearings,
        approaches: &approaches,
        hints: &q.base.hints,
        exclude: graph::Exclude::NONE,
    };
    let snaps = router
        .snap_within(&q.points, &rules)
        .map_err(|e| error_for(&e))?;
    let pick = |idx: &[usize]| idx.iter().map(|&i| snaps[i].clone()).collect::<Vec<_>>();
    let (sources, destinations) = (pick(&q.sources), pick(&q.destinations));
    let cells = router
        .table_at(&sources, &destinations, q.depart_ms)
        .map_err(|e| error_for(&e))?;

    let mut durations = Vec::with_capacity(cells.len());
    let mut distances = Vec::with_capacity(cells.len());
    let mut fallback_cells = Vec::new();
    for (r, row) in cells.iter().enumerate() {
        let mut drow = Vec::with_capacity(row.len());
        let mut mrow = Vec::with_capacity(row.len());
        for (c, cell) in row.iter().enumerate() {
            let mut value = cell.map(|c| (c.duration_s, c.distance_m));
            if let (None, Some(speed)) = (value, q.fallback_speed) {
                let (a, b) = if q.fallback_snapped {
                    (sources[r].location, destinations[c].location)
                } else {
                    (q.points[q.sources[r]], q.points[q.destinations[c]])
                };
                let metres = a.haversine_m(b);
                value = Some((metres / speed, metres));
                fallback_cells.push(json!([r, c]));
            }
            drow.push(match value {
                Some((s, _)) if s > 0.0 => json!(round1(s * q.scale_factor)),
                Some((s, _)) => json!(round1(s)),
                None => Value::Null,
            });
            mrow.push(value.map_or(Value::Null, |(_, m)| json!(round1(m))));
        }
        durations.push(Value::Array(drow));
        distances.push(Value::Array(mrow));
    }

    let mut body = json!({"code": "Ok"});
    if q.durations {
        body["durations"] = Value::Array(durations);
    }
    if q.distances {
        body["distances"] = Value::Array(distances);
    }
    if q.fallback_speed.is_some() {
        body["fallback_speed_cells"] = Value::Array(fallback_cells);
    }
    if !q.base.skip_waypoints {
        let waypoints = |snaps: &[route::snap::Snap]| {
            snaps
                .iter()
                .map(|s| waypoint_json(&q.base.waypoint(router, s)))
                .collect::<Vec<_>>()
        };
        body["sources"] = Value::Array(waypoints(&sources));
        body["destinations"] = Value::Array(waypoints(&destinations));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(path: &str, query: &str) -> &'static str {
        let limits = Limits {
            max_table_size: 2,
            ..Limits::default()
        };
        parse(path, query, &limits, graph::Profile::Car)
            .err()
            .map_or("Ok", |e| e.code.as_str())
    }

    #[test]
    fn validates_like_osrm() {
        let p = "/table/v1/driving/9.52,47.14;9.53,47.15;9.54,47.16";
        assert_eq!(code(p, "sources=0&destinations=1;2"), "Ok");
        assert_eq!(
            code(
                p,
                "sources=all&destinations=0&annotations=duration,distance"
            ),
            "Ok"
        );
        assert_eq!(code(p, ""), "TooBig");
        assert_eq!(code(p, "sources=3&destinations=0"), "InvalidOptions");
        assert_eq!(code(p, "sources=a"), "InvalidQuery");
        assert_eq!(code(p, "sources=0&annotations=speed"), "InvalidQuery");
        assert_eq!(code(p, "sources=0&fallback_speed=0"), "InvalidOptions");
        assert_eq!(code(p, "sources=0&scale_factor=-1"), "InvalidOptions");
        assert_eq!(code(p, "sources=0&radiuses=1;1"), "InvalidOptions");
        assert_eq!(code(p, "sources=0&colour=red"), "InvalidQuery");
        assert_eq!(code("/table/v1/driving/9.52,47.14", ""), "InvalidOptions");
        assert_eq!(
            code("/table/v1/driving/9.52,97;9.5,47", ""),
            "InvalidOptions"
        );
        assert_eq!(
            code("/table/v2/driving/9.52,47.14;9.5,47", ""),
            "InvalidVersion"
        );
        let q = parse(
            p,
            "sources=0;2&annotations=distance&fallback_speed=10&scale_factor=2",
            &Limits::default(),
            graph::Profile::Car,
        )
        .unwrap();
        assert_eq!(q.sources, vec![0, 2]);
        assert_eq!(q.destinations, vec![0, 1, 2]);
        assert!(!q.durations && q.distances);
        assert_eq!((q.fallback_speed, q.scale_factor), (Some(10.0), 2.0));
    }
}
