//! `GET /route/v1/{profile}/{lon},{lat};{lon},{lat}[;...]` as OSRM speaks it: request parsing
//! with OSRM's error codes, and the answer from [`route::osrm`]. One Meridian extension:
//! `depart=<unix seconds>` picks the time of week the historical profiles are read at (default
//! now); OSRM clients never send it, so requests stay OSRM compatible.

use super::osrm_params;
use super::profiles::check_profile;
pub use super::route_params::{parse_route_options, RouteOptionsParsed};
use super::{ErrorCode, Limits};
use graph::Profile;
use route::osrm::{routes_response, Extras, ResponseOptions};
use route::{Algorithm, RouteError, RouteOptions, Router};
use serde_json::json;
use spatial::{BBox, LatLon};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply;

/// An API error in OSRM's shape: HTTP status, `code` and `message`.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    /// An error with the code's own HTTP status (400 for the client's mistakes).
    pub fn bad(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status: code.status(),
            code,
            message: message.into(),
        }
    }

    pub fn into_response(self) -> Response {
        warp::reply::with_status(
            warp::reply::json(&json!({"code": self.code.as_str(), "message": self.message})),
            self.status,
        )
        .into_response()
    }
}

pub fn invalid_url(message: &str) -> Response {
    ApiError::bad(ErrorCode::InvalidUrl, message).into_response()
}

/// A parsed route request.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteQuery {
    /// In request order.
    pub points: Vec<LatLon>,
    pub options: ResponseOptions,
    /// Departure time, ms since the epoch (`depart=` in seconds); `None` = now.
    pub depart_ms: Option<i64>,
    /// `algorithm=astar|overlay`; `None` = the router's default.
    pub algorithm: Option<Algorithm>,
    /// The options beyond the JSON shape: validated per OSRM, some applied.
    pub route: RouteOptionsParsed,
}

pub fn handle(router: &Router, limits: &Limits, path: &str, query: &str) -> Response {
    let parsed = parse_path(path, limits, router.profile()).and_then(|points| {
        let route = parse_route_options(query)?;
        route.check_with(points.len(), limits.max_alternatives)?;
        check_budget(&points, limits, router.store.manifest().bbox)?;
        Ok(RouteQuery {
            points,
            options: route.response,
            depart_ms: parse_depart(query)?,
            algorithm: parse_algorithm(query)?,
            route,
        })
    });
    let request = match parsed {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let exclude = match request.route.base.exclude_for(router) {
        Ok(e) => e,
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
        algorithm: request.algorithm,
        exclude,
    };
    let extras = Extras {
        annotations: request.route.annotations,
        skip_waypoints: request.route.base.skip_waypoints,
        voice_instructions: request.route.voice_instructions,
        banner_instructions: request.route.banner_instructions,
    };
    let count = request.route.alternatives as usize;
    // Without alternatives the route is found exactly as before they existed.
    let routed = if count == 0 {
        router
            .route_with(&request.points, &route_options)
            .map(|a| (a, Vec::new()))
    } else {
        router.route_alternatives(&request.points, &route_options, count)
    };
    match routed {
        Ok((mut answer, alternatives)) => {
            if !request.route.base.generate_hints {
                answer.waypoints.iter_mut().for_each(|w| w.hint = None);
            }
            warp::reply::json(&routes_response(&answer, &alternatives, &opts, &extras))
                .into_response()
        }
        Err(e) => error_for(&e).into_response(),
    }
}

/// Refuses a request whose legs, crow-fly, add up to more than the server's budget: the search
/// work grows with that length, and no search should start that the server will not finish.
/// A point off the map (outside the graph's box by more than the snapping radius) is left to
/// the router, which answers `NoSegment` as OSRM would.
pub fn check_budget(points: &[LatLon], limits: &Limits, bbox: BBox) -> Result<(), ApiError> {
    // 0.05 degrees is at least the 5 km snapping radius in latitude; generous in longitude.
    let margin = 0.05
        / bbox
            .min_lat
            .abs()
            .max(bbox.max_lat.abs())
            .to_radians()
            .cos()
            .max(0.1);
    let on_map = bbox.grown(0.05, margin);
    if !points.iter().all(|&p| on_map.contains(p)) {
        return Ok(());
    }
    let km: f64 = points
        .windows(2)
        .map(|w| w[0].haversine_m(w[1]) / 1000.0)
        .sum();
    if km > limits.max_route_km {
        return Err(ApiError::bad(
            ErrorCode::TooBig,
            format!(
                "The legs of this route add up to {km:.0} km crow-fly, over this server's budget of {:.0} km",
                limits.max_route_km
            ),
        ));
    }
    Ok(())
}

/// The OSRM error for a routing failure.
pub fn error_for(e: &RouteError) -> ApiError {
    let message = match e {
        RouteError::NoSegment(i) => format!("Could not find a matching segment for coordinate {i}"),
        RouteError::NoRoute => "Impossible route between points".into(),
        RouteError::NoOverlay => "algorithm=overlay needs the overlay, which this server was started without (--no-overlay)".into(),
        RouteError::Store(e) => e.to_string(),
    };
    ApiError::bad(ErrorCode::from(e), message)
}

/// Parses `/route/v1/{profile}/{coordinates}[.json]` into points; the profile must be the one
/// of the graph `served`.
pub fn parse_path(path: &str, limits: &Limits, served: Profile) -> Result<Vec<LatLon>, ApiError> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["route", version, profile, coords] => {
            if *version != "v1" {
                return Err(ApiError::bad(
                    ErrorCode::InvalidVersion,
                    format!("Unsupported API version {version:?}, use v1"),
                ));
            }
            check_profile(profile, served)?;
            let coords = coords.strip_suffix(".json").unwrap_or(coords);
            let decoded = percent_decode(coords)
                .ok_or_else(|| ApiError::bad(ErrorCode::InvalidUrl, "URL has a malformed percent escape"))?;
            parse_coordinates(&decoded, limits)
        }
        [service, ..] if !matches!(*service, "route") && !service.is_empty() => Err(ApiError::bad(
            ErrorCode::InvalidService,
            format!("Service {service:?} not found; this server offers \"route\", \"nearest\", \"table\", \"trip\" and \"match\""),
        )),
        _ => Err(ApiError::bad(
            ErrorCode::InvalidUrl,
            "URL string malformed: expected /route/v1/driving/{lon},{lat};{lon},{lat}",
        )),
    }
}

/// Parses the coordinates (`lon,lat;...` or `polyline(...)` / `polyline6(...)`) into points,
/// with the route service's count rules.
pub fn parse_coordinates(s: &str, limits: &Limits) -> Result<Vec<LatLon>, ApiError> {
    let points = osrm_params::parse_coordinates(s)?;
    if points.len() > limits.max_route_coordinates {
        return Err(ApiError::bad(
            ErrorCode::TooBig,
            format!(
                "Too many coordinates: {} given, at most {} allowed",
                points.len(),
                limits.max_route_coordinates
            ),
        ));
    }
    if points.len() < 2 {
        return Err(ApiError::bad(
            ErrorCode::InvalidQuery,
            "At least two coordinates are needed for a route",
        ));
    }
    Ok(points)
}

/// The response options of a route query string (see [`parse_route_options`]).
pub fn parse_options(query: &str) -> Result<ResponseOptions, ApiError> {
    parse_route_options(query).map(|r| r.response)
}

/// The `algorithm=astar|overlay` extension.
pub fn parse_algorithm(query: &str) -> Result<Option<Algorithm>, ApiError> {
    let mut algorithm = None;
    for kv in query.split('&') {
        if let Some(value) = kv.strip_prefix("algorithm=") {
            algorithm = Some(match value {
                "astar" => Algorithm::AStar,
                "overlay" => Algorithm::Overlay,
                _ => {
                    return Err(ApiError::bad(
                        ErrorCode::InvalidValue,
                        format!("Invalid value {value:?} for option algorithm (astar or overlay)"),
                    ))
                }
            });
        }
    }
    Ok(algorithm)
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
                        ErrorCode::InvalidValue,
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
            // `from_str_radix` alone would also take a sign: `%+1` is malformed, not 0x01.
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
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
    use route::osrm::{Geometries, Overview};

    #[test]
    fn parses_osrm_coordinates_and_options() {
        let l = Limits::default();
        let pts = parse_path(
            "/route/v1/driving/-8.61,41.15;-8.60,41.16.json",
            &l,
            Profile::Car,
        )
        .unwrap();
        assert_eq!(
            pts,
            vec![LatLon::new(41.15, -8.61), LatLon::new(41.16, -8.60)]
        );
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
        let code = |p: &str| parse_path(p, &l, Profile::Car).unwrap_err().code;
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
    fn percent_escapes_are_two_hex_digits() {
        assert_eq!(percent_decode("a%2Cb%3b").as_deref(), Some("a,b;"));
        // Found reviewing the decoder for the property tests: `%+1` decoded to byte 0x01.
        for bad in ["%+1", "%-1", "%1", "%", "%g0", "%\u{e9}"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn requests_over_the_route_budget_are_too_big() {
        let limits = Limits {
            max_route_km: 10.0,
            ..Limits::default()
        };
        // Porto to Lisbon is ~275 km crow-fly; two short hops in Porto are ~3 km.
        let p = LatLon::new;
        let far = [p(41.15, -8.61), p(38.72, -9.14)];
        let near = [p(41.15, -8.61), p(41.16, -8.60), p(41.17, -8.59)];
        let portugal = BBox::from_lon_lat_array([-9.6, 37.0, -6.2, 42.2]);
        let e = check_budget(&far, &limits, portugal).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code.as_str()), (400, "TooBig"));
        assert!(e.message.contains("budget of 10 km"), "{}", e.message);
        assert!(check_budget(&near, &limits, portugal).is_ok());
        assert!(check_budget(&far, &Limits::default(), portugal).is_ok());
        // Off a Porto-only map, Lisbon is the router's NoSegment, not a budget refusal.
        let porto = BBox::from_lon_lat_array([-8.8, 41.0, -8.35, 41.4]);
        assert!(check_budget(&far, &limits, porto).is_ok());
    }

    #[test]
    fn routing_failures_map_to_osrm_codes() {
        let e = error_for(&RouteError::NoRoute);
        assert_eq!((e.status.as_u16(), e.code.as_str()), (400, "NoRoute"));
        let e = error_for(&RouteError::NoSegment(1));
        assert_eq!((e.status.as_u16(), e.code.as_str()), (400, "NoSegment"));
        assert!(e.message.contains('1'));
    }
}
