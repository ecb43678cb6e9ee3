//! `GET /route/v1/{profile}/{lon},{lat};{lon},{lat}[;...]` as OSRM speaks it: request parsing
//! with OSRM's error codes, and the answer from [`crate::route::osrm`]. One Meridian extension:
//! `depart=<unix seconds>` picks the time of week the historical profiles are read at (default
//! now); OSRM clients never send it, so requests stay OSRM compatible.

use super::osrm_params::{self, parse_bool, split_query, BaseOptions};
use super::Limits;
use crate::route::osrm::{
    route_response_with, AnnotationKinds, Extras, Geometries, Overview, ResponseOptions,
};
use crate::route::{RouteError, RouteOptions, Router};
use serde_json::json;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply;

/// An API error in OSRM's shape: HTTP status, `code` and `message`.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    pub fn into_response(self) -> Response {
        warp::reply::with_status(
            warp::reply::json(&json!({"code": self.code, "message": self.message})),
            self.status,
        )
        .into_response()
    }
}

pub fn invalid_url(message: &str) -> Response {
    ApiError::bad("InvalidUrl", message).into_response()
}

/// A parsed route request.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteQuery {
    /// `(lat, lon)` in request order.
    pub points: Vec<(f64, f64)>,
    pub options: ResponseOptions,
    /// Departure time, ms since the epoch (`depart=` in seconds); `None` = now.
    pub depart_ms: Option<i64>,
    /// The options beyond the JSON shape: validated per OSRM, some applied.
    pub route: RouteOptionsParsed,
}

pub fn handle(router: &Router, limits: &Limits, path: &str, query: &str) -> Response {
    let parsed = parse_path(path, limits).and_then(|points| {
        let route = parse_route_options(query)?;
        route.check(points.len())?;
        Ok(RouteQuery {
            points,
            options: route.response,
            depart_ms: parse_depart(query)?,
            route,
        })
    });
    let request = match parsed {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let opts = request.options;
    let route_options = RouteOptions {
        steps: opts.steps,
        radiuses: request.route.base.radiuses.clone(),
        bearings: request.route.base.snap_bearings(),
        approaches: request.route.base.snap_approaches(),
        hints: request.route.base.hints.clone(),
        waypoints: request.route.waypoints.clone().unwrap_or_default(),
        depart_ms: request.depart_ms,
    };
    let extras = Extras {
        annotations: request.route.annotations,
        skip_waypoints: request.route.base.skip_waypoints,
    };
    match router.route_with(&request.points, &route_options) {
        Ok(mut answer) => {
            if !request.route.base.generate_hints {
                answer.waypoints.iter_mut().for_each(|w| w.hint = None);
            }
            warp::reply::json(&route_response_with(&answer, &opts, &extras)).into_response()
        }
        Err(e) => error_for(&e).into_response(),
    }
}

/// The OSRM error for a routing failure.
pub fn error_for(e: &RouteError) -> ApiError {
    match e {
        RouteError::NoSegment(i) => ApiError::bad(
            "NoSegment",
            format!("Could not find a matching segment for coordinate {i}"),
        ),
        RouteError::NoRoute => ApiError::bad("NoRoute", "Impossible route between points"),
        RouteError::Store(e) => ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalError",
            message: e.to_string(),
        },
    }
}

/// Parses `/route/v1/{profile}/{coordinates}[.json]` into `(lat, lon)` points.
pub fn parse_path(path: &str, limits: &Limits) -> Result<Vec<(f64, f64)>, ApiError> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["route", version, profile, coords] => {
            if *version != "v1" {
                return Err(ApiError::bad(
                    "InvalidVersion",
                    format!("Unsupported API version {version:?}, use v1"),
                ));
            }
            if !matches!(*profile, "driving" | "car") {
                return Err(ApiError::bad(
                    "InvalidOptions",
                    format!("Unknown profile {profile:?}; this server routes \"driving\""),
                ));
            }
            let coords = coords.strip_suffix(".json").unwrap_or(coords);
            let decoded = percent_decode(coords)
                .ok_or_else(|| ApiError::bad("InvalidUrl", "URL has a malformed percent escape"))?;
            parse_coordinates(&decoded, limits)
        }
        [service, ..] if !matches!(*service, "route") && !service.is_empty() => Err(ApiError::bad(
            "InvalidService",
            format!("Service {service:?} not found; this server offers \"route\", \"nearest\" and \"table\""),
        )),
        _ => Err(ApiError::bad(
            "InvalidUrl",
            "URL string malformed: expected /route/v1/driving/{lon},{lat};{lon},{lat}",
        )),
    }
}

/// Parses the coordinates (`lon,lat;...` or `polyline(...)` / `polyline6(...)`) into
/// `(lat, lon)` points, with the route service's count rules.
pub fn parse_coordinates(s: &str, limits: &Limits) -> Result<Vec<(f64, f64)>, ApiError> {
    let points = osrm_params::parse_coordinates(s)?;
    if points.len() > limits.max_route_coordinates {
        return Err(ApiError::bad(
            "TooBig",
            format!(
                "Too many coordinates: {} given, at most {} allowed",
                points.len(),
                limits.max_route_coordinates
            ),
        ));
    }
    if points.len() < 2 {
        return Err(ApiError::bad(
            "InvalidQuery",
            "At least two coordinates are needed for a route",
        ));
    }
    Ok(points)
}

/// Every option of a route request, parsed per OSRM's grammar.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteOptionsParsed {
    pub response: ResponseOptions,
    pub base: BaseOptions,
    /// `waypoints=`: the coordinates legs end at.
    pub waypoints: Option<Vec<usize>>,
    pub annotations: AnnotationKinds,
}

impl RouteOptionsParsed {
    /// OSRM's checks against the number of coordinates, in its order: parameter validation
    /// (`InvalidOptions`), then the first and last waypoint (`InvalidValue`), then options this
    /// server does not support.
    pub fn check(&self, n: usize) -> Result<(), ApiError> {
        self.base.validate(n)?;
        if let Some(w) = &self.waypoints {
            if let Some(i) = w.iter().find(|&&i| i >= n) {
                return Err(ApiError::bad(
                    "InvalidOptions",
                    format!("Waypoint index {i} is out of range: there are {n} coordinates"),
                ));
            }
            if w.windows(2).any(|p| p[0] >= p[1]) {
                return Err(ApiError::bad(
                    "InvalidOptions",
                    "Waypoint indexes must be increasing",
                ));
            }
            if w.first() != Some(&0) || w.last() != Some(&(n - 1)) {
                return Err(ApiError::bad(
                    "InvalidValue",
                    "First and last coordinates must be specified as waypoints.",
                ));
            }
        }
        self.base.supported()
    }
}

/// Parses the query string of a route request, strictly: a value OSRM's grammar does not
/// accept or an unknown option is `InvalidQuery`. Accepted and without effect, as in
/// OSRM 26 for this server's single fastest route: `alternatives` (OSRM returns up to that
/// many; this server one), `continue_straight`, `hints`, `generate_hints`, `snapping`.
pub fn parse_route_options(query: &str) -> Result<RouteOptionsParsed, ApiError> {
    let mut r = RouteOptionsParsed {
        response: ResponseOptions {
            overview: Overview::Simplified,
            geometries: Geometries::Polyline,
            steps: false,
        },
        base: BaseOptions::default(),
        waypoints: None,
        annotations: AnnotationKinds::default(),
    };
    for o in split_query(query)? {
        if r.base.take(&o)? {
            continue;
        }
        let opts = &mut r.response;
        match o.key.as_str() {
            "overview" => {
                opts.overview = match o.value.as_str() {
                    "full" => Overview::Full,
                    "simplified" => Overview::Simplified,
                    "false" => Overview::False,
                    _ => return Err(o.malformed()),
                }
            }
            "geometries" => {
                opts.geometries = match o.value.as_str() {
                    "polyline" => Geometries::Polyline,
                    "polyline6" => Geometries::Polyline6,
                    "geojson" => Geometries::GeoJson,
                    _ => return Err(o.malformed()),
                }
            }
            "steps" => opts.steps = o.bool()?,
            "alternatives" => {
                if parse_bool(&o.value).is_none() && o.value.parse::<u32>().is_err() {
                    return Err(o.malformed());
                }
            }
            "continue_straight" => {
                if o.value != "default" {
                    o.bool()?;
                }
            }
            "annotations" => {
                let mut kinds = AnnotationKinds::default();
                match o.value.as_str() {
                    "true" => {
                        kinds = AnnotationKinds {
                            duration: true,
                            distance: true,
                            speed: true,
                            weight: true,
                        }
                    }
                    "false" => {}
                    list => {
                        for kind in list.split(',') {
                            match kind {
                                "duration" => kinds.duration = true,
                                "distance" => kinds.distance = true,
                                "speed" => kinds.speed = true,
                                "weight" => kinds.weight = true,
                                "nodes" | "datasources" => {
                                    return Err(ApiError::bad(
                                        "NotImplemented",
                                        format!("annotations={kind} is not supported: the tiles keep OSM ids of junctions only, not of every shape point (duration, distance, speed and weight are)"),
                                    ))
                                }
                                _ => return Err(o.malformed()),
                            }
                        }
                    }
                }
                r.annotations = kinds;
            }
            "waypoints" => {
                r.waypoints = Some(
                    o.value
                        .split(';')
                        .map(|v| v.parse::<usize>().map_err(|_| o.malformed()))
                        .collect::<Result<_, _>>()?,
                )
            }
            // Meridian's departure time, parsed by `parse_depart`.
            "depart" => {}
            _ => return Err(o.unknown()),
        }
    }
    Ok(r)
}

/// The response options of a route query string (see [`parse_route_options`]).
pub fn parse_options(query: &str) -> Result<ResponseOptions, ApiError> {
    parse_route_options(query).map(|r| r.response)
}

/// The `depart=<unix seconds>` extension, as ms since the epoch.
pub fn parse_depart(query: &str) -> Result<Option<i64>, ApiError> {
    let mut depart = None;
    for kv in query.split('&') {
        if let Some(v) = kv.strip_prefix("depart=") {
            let secs: i64 = v
                .parse()
                .ok()
                .filter(|s: &i64| (0..=i64::MAX / 1000).contains(s))
                .ok_or_else(|| {
                    ApiError::bad(
                        "InvalidValue",
                        format!("Invalid value {v:?} for option depart (unix seconds)"),
                    )
                })?;
            depart = Some(secs * 1000);
        }
    }
    Ok(depart)
}

/// Decodes `%XX` escapes; `None` for a malformed escape or invalid UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_osrm_coordinates_and_options() {
        let l = Limits::default();
        let pts = parse_path("/route/v1/driving/-8.61,41.15;-8.60,41.16.json", &l).unwrap();
        assert_eq!(pts, vec![(41.15, -8.61), (41.16, -8.60)]);
        let o = parse_options("overview=full&geometries=geojson&steps=true&alternatives=false")
            .unwrap();
        assert_eq!(o.overview, Overview::Full);
        assert_eq!(o.geometries, Geometries::GeoJson);
        assert!(o.steps);
        assert_eq!(parse_depart("steps=true").unwrap(), None);
        assert_eq!(
            parse_depart("depart=1795422600&steps=false").unwrap(),
            Some(1_795_422_600_000)
        );
        assert!(parse_options("depart=1795422600").is_ok());
        assert_eq!(
            parse_depart("depart=soon").unwrap_err().code,
            "InvalidValue"
        );
    }

    #[test]
    fn rejects_bad_input_with_osrm_codes() {
        let l = Limits {
            max_route_coordinates: 3,
            ..Limits::default()
        };
        let code = |p: &str| parse_path(p, &l).unwrap_err().code;
        assert_eq!(code("/route/v1/driving/1,2"), "InvalidQuery");
        assert_eq!(code("/route/v1/driving/a,b;1,2"), "InvalidQuery");
        assert_eq!(code("/route/v1/driving/NaN,1;1,2"), "InvalidValue");
        assert_eq!(code("/route/v1/driving/1,95;1,2"), "InvalidValue");
        assert_eq!(code("/route/v1/driving/1,2;1,2;1,2;1,2"), "TooBig");
        assert_eq!(code("/route/v2/driving/1,2;1,2"), "InvalidVersion");
        assert_eq!(code("/table/v1/driving/1,2;1,2"), "InvalidService");
        assert_eq!(code("/route/v1"), "InvalidUrl");
        // A value OSRM's grammar does not take is a malformed query, as in OSRM.
        assert_eq!(
            parse_options("overview=maybe").unwrap_err().code,
            "InvalidQuery"
        );
        assert_eq!(
            parse_options("colour=red").unwrap_err().code,
            "InvalidQuery"
        );
    }

    #[test]
    fn validates_route_options_like_osrm() {
        let check = |q: &str, n: usize| match parse_route_options(q) {
            Err(e) => e.code,
            Ok(r) => r.check(n).err().map_or("Ok", |e| e.code),
        };
        assert_eq!(check("annotations=duration,distance,speed", 2), "Ok");
        assert_eq!(check("annotations=true&alternatives=2", 2), "Ok");
        assert_eq!(check("annotations=nodes", 2), "NotImplemented");
        assert_eq!(check("annotations=colour", 2), "InvalidQuery");
        assert_eq!(check("waypoints=0;2", 3), "Ok");
        assert_eq!(check("waypoints=0;1", 3), "InvalidValue");
        assert_eq!(check("waypoints=0;3", 3), "InvalidOptions");
        assert_eq!(check("waypoints=0;x", 3), "InvalidQuery");
        assert_eq!(check("bearings=400,20;", 2), "InvalidOptions");
        assert_eq!(check("bearings=10,20", 2), "InvalidOptions");
        assert_eq!(check("exclude=foo", 2), "InvalidValue");
        assert_eq!(check("approaches=foo;bar", 2), "InvalidQuery");
        assert_eq!(check("radiuses=1;1;1", 2), "InvalidOptions");
        assert_eq!(check("radiuses=20;unlimited&skip_waypoints=true", 2), "Ok");
        assert_eq!(
            check("continue_straight=default&generate_hints=false", 2),
            "Ok"
        );
        assert_eq!(check("steps=yes", 2), "InvalidQuery");
        let r = parse_route_options("annotations=speed,duration&waypoints=0;3").unwrap();
        assert!(r.annotations.speed && r.annotations.duration && !r.annotations.distance);
        assert_eq!(r.waypoints, Some(vec![0, 3]));
    }

    #[test]
    fn routing_failures_map_to_osrm_codes() {
        let e = error_for(&RouteError::NoRoute);
        assert_eq!((e.status.as_u16(), e.code), (400, "NoRoute"));
        let e = error_for(&RouteError::NoSegment(1));
        assert_eq!((e.status.as_u16(), e.code), (400, "NoSegment"));
        assert!(e.message.contains('1'));
    }
}
