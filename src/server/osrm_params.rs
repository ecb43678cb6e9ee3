//! Request parsing the OSRM v1 services share: the `/{service}/v1/{profile}/{coordinates}`
//! path (`lon,lat;...` lists and `polyline(...)` / `polyline6(...)`), the query string split
//! into options, the options every service takes (`bearings`, `radiuses`, `approaches`,
//! `hints`, `exclude`, `generate_hints`, `skip_waypoints`, `snapping`), and OSRM's checks of
//! them against the coordinate count, with OSRM's codes: a value the grammar does not accept
//! is `InvalidQuery` ("Query string malformed close to position N"), a count or range OSRM's
//! parameter validation refuses is `InvalidOptions`, an exclude class the profile does not
//! know is `InvalidValue`.

use super::profiles::check_profile;
use super::route_api::{percent_decode, ApiError};
use crate::ErrorCode;
use graph::{Exclude, Profile};
use route::polyline;
use route::snap::{self, Bearing};
use route::{Router, Waypoint};
use spatial::LatLon;

/// The decoded coordinate part of `/{service}/v1/{profile}/{coordinates}[.json]`, whose
/// profile must be the one of the graph `served`.
pub fn coordinates_part(path: &str, service: &str, served: Profile) -> Result<String, ApiError> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let [found, version, profile, coords] = parts.as_slice() else {
        return Err(ApiError::bad(
            ErrorCode::InvalidUrl,
            format!("URL string malformed: expected /{service}/v1/driving/{{lon}},{{lat}}[;...]"),
        ));
    };
    // The HTTP routes only hand a service its own paths, but `handle` is public: another
    // service's path is an answer, not an assertion (that panicked in debug builds).
    if *found != service {
        return Err(ApiError::bad(
            ErrorCode::InvalidService,
            format!("Service {found:?} is not {service:?}"),
        ));
    }
    if *version != "v1" {
        return Err(ApiError::bad(
            ErrorCode::InvalidVersion,
            format!("Unsupported API version {version:?}, use v1"),
        ));
    }
    check_profile(profile, served)?;
    let coords = coords.strip_suffix(".json").unwrap_or(coords);
    percent_decode(coords)
        .ok_or_else(|| ApiError::bad(ErrorCode::InvalidUrl, "URL has a malformed percent escape"))
}

/// Parses `lon,lat;lon,lat;...`, `polyline(<precision 5>)` or `polyline6(<precision 6>)` into
/// points, checking ranges; no count rules (each service has its own).
pub fn parse_coordinates(s: &str) -> Result<Vec<LatLon>, ApiError> {
    if s.is_empty() {
        return Err(ApiError::bad(
            ErrorCode::InvalidQuery,
            "No coordinates given",
        ));
    }
    let encoded = s
        .strip_prefix("polyline6(")
        .map(|r| (r, 6))
        .or_else(|| s.strip_prefix("polyline(").map(|r| (r, 5)));
    let points = match encoded {
        Some((rest, precision)) => {
            let line = rest.strip_suffix(')').filter(|l| !l.is_empty()).ok_or_else(|| {
                ApiError::bad(
                    ErrorCode::InvalidQuery,
                    "Query string malformed close to position 0: polyline(...) needs an encoded line and a closing parenthesis",
                )
            })?;
            polyline::decode(line, precision).map_err(|e| {
                ApiError::bad(
                    ErrorCode::InvalidQuery,
                    format!(
                        "Query string malformed: invalid polyline{} ({e})",
                        if precision == 6 { "6" } else { "" }
                    ),
                )
            })?
        }
        None => {
            let mut points = Vec::new();
            for (i, pair) in s.split(';').enumerate() {
                let mut it = pair.split(',');
                let (Some(lon), Some(lat), None) = (it.next(), it.next(), it.next()) else {
                    return Err(ApiError::bad(
                        ErrorCode::InvalidQuery,
                        format!("Coordinate {i} is not \"lon,lat\": {pair:?}"),
                    ));
                };
                let (Ok(lon), Ok(lat)) = (lon.trim().parse::<f64>(), lat.trim().parse::<f64>())
                else {
                    return Err(ApiError::bad(
                        ErrorCode::InvalidQuery,
                        format!("Coordinate {i} is not a pair of numbers: {pair:?}"),
                    ));
                };
                points.push(LatLon::new(lat, lon));
            }
            points
        }
    };
    for (i, &LatLon { lat, lon }) in points.iter().enumerate() {
        if !lon.is_finite()
            || !lat.is_finite()
            || !(-180.0..=180.0).contains(&lon)
            || !(-90.0..=90.0).contains(&lat)
        {
            return Err(ApiError::bad(
                ErrorCode::InvalidValue,
                format!("Invalid coordinate value {i}: longitude must be in [-180, 180] and latitude in [-90, 90]"),
            ));
        }
    }
    if points.is_empty() {
        return Err(ApiError::bad(
            ErrorCode::InvalidQuery,
            "No coordinates given",
        ));
    }
    Ok(points)
}

/// One `key=value` of a query string; `at` is its byte offset (for OSRM's "close to
/// position" messages).
#[derive(Clone, Debug, PartialEq)]
pub struct QueryOption {
    pub key: String,
    pub value: String,
    pub at: usize,
}

impl QueryOption {
    /// OSRM's answer to a value its grammar does not accept.
    pub fn malformed(&self) -> ApiError {
        ApiError::bad(
            ErrorCode::InvalidQuery,
            format!(
                "Query string malformed close to position {}: invalid value {:?} for {}",
                self.at + self.key.len() + 1,
                self.value,
                self.key
            ),
        )
    }

    /// OSRM's answer to an option the service does not know.
    pub fn unknown(&self) -> ApiError {
        ApiError::bad(
            ErrorCode::InvalidQuery,
            format!(
                "Query string malformed close to position {}: unknown option {:?}",
                self.at, self.key
            ),
        )
    }

    pub fn bool(&self) -> Result<bool, ApiError> {
        parse_bool(&self.value).ok_or_else(|| self.malformed())
    }
}

/// Splits a query string into options, percent-decoding the values.
pub fn split_query(query: &str) -> Result<Vec<QueryOption>, ApiError> {
    let mut out = Vec::new();
    let mut at = 0;
    for kv in query.split('&') {
        if !kv.is_empty() {
            let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
            let value = percent_decode(value).ok_or_else(|| {
                ApiError::bad(
                    ErrorCode::InvalidQuery,
                    format!("Query string malformed close to position {at}: bad escape in {key}"),
                )
            })?;
            out.push(QueryOption {
                key: key.to_string(),
                value,
                at,
            });
        }
        at += kv.len() + 1;
    }
    Ok(out)
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A number as OSRM's grammar reads one: plain decimal, no exponent, NaN or infinity.
pub fn parse_plain_number(v: &str) -> Option<f64> {
    let plain = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.'));
    plain.then(|| v.parse::<f64>().ok()).flatten()
}

/// How a route may reach a coordinate (`approaches=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approach {
    Unrestricted,
    Curb,
    Opposite,
}

/// The options every OSRM service takes, as given (empty list = not given).
#[derive(Clone, Debug, PartialEq)]
pub struct BaseOptions {
    /// Per coordinate: snap at most this far (metres); `None` = the server's default,
    /// infinity = `unlimited`.
    pub radiuses: Vec<Option<f64>>,
    /// Per coordinate: `(bearing, range)` in degrees.
    pub bearings: Vec<Option<(i16, i16)>>,
    pub approaches: Vec<Option<Approach>>,
    /// Per coordinate: the hint a previous answer gave; a valid one replaces snapping
    /// ([`route::hint`]), others are ignored.
    pub hints: Vec<Option<String>>,
    pub exclude: Vec<String>,
    pub generate_hints: bool,
    pub skip_waypoints: bool,
    /// `snapping=any`: OSRM may then snap to small disconnected road pieces; Meridian snaps to
    /// the routable network either way.
    pub snapping_any: bool,
}

impl Default for BaseOptions {
    fn default() -> Self {
        BaseOptions {
            radiuses: Vec::new(),
            bearings: Vec::new(),
            approaches: Vec::new(),
            hints: Vec::new(),
            exclude: Vec::new(),
            generate_hints: true,
            skip_waypoints: false,
            snapping_any: false,
        }
    }
}

impl BaseOptions {
    /// Takes `o` if it is a base option: `Ok(true)` taken, `Ok(false)` not a base option.
    pub fn take(&mut self, o: &QueryOption) -> Result<bool, ApiError> {
        let items = || o.value.split(';');
        match o.key.as_str() {
            "radiuses" => {
                self.radiuses = items()
                    .map(|v| match v {
                        "" => Ok(None),
                        "unlimited" => Ok(Some(f64::INFINITY)),
                        _ => parse_plain_number(v).map(Some).ok_or_else(|| o.malformed()),
                    })
                    .collect::<Result<_, _>>()?
            }
            "bearings" => {
                self.bearings = items()
                    .map(|v| {
                        if v.is_empty() {
                            return Ok(None);
                        }
                        let (b, r) = v.split_once(',').ok_or_else(|| o.malformed())?;
                        match (b.parse::<i16>(), r.parse::<i16>()) {
                            (Ok(b), Ok(r)) => Ok(Some((b, r))),
                            _ => Err(o.malformed()),
                        }
                    })
                    .collect::<Result<_, _>>()?
            }
            "approaches" => {
                self.approaches = items()
                    .map(|v| match v {
                        "" => Ok(None),
                        "unrestricted" => Ok(Some(Approach::Unrestricted)),
                        "curb" => Ok(Some(Approach::Curb)),
                        "opposite" => Ok(Some(Approach::Opposite)),
                        _ => Err(o.malformed()),
                    })
                    .collect::<Result<_, _>>()?
            }
            "hints" => {
                self.hints = items()
                    .map(|v| {
                        let base64 = v
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='));
                        match v {
                            "" => Ok(None),
                            _ if base64 => Ok(Some(v.to_string())),
                            _ => Err(o.malformed()),
                        }
                    })
                    .collect::<Result<_, _>>()?
            }
            "exclude" => {
                let classes: Vec<String> = o.value.split(',').map(str::to_string).collect();
                if classes
                    .iter()
                    .any(|c| c.is_empty() || !c.bytes().all(|b| b.is_ascii_alphanumeric()))
                {
                    return Err(o.malformed());
                }
                self.exclude = classes;
            }
            "generate_hints" => self.generate_hints = o.bool()?,
            "skip_waypoints" => self.skip_waypoints = o.bool()?,
            "snapping" => {
                self.snapping_any = match o.value.as_str() {
                    "default" => false,
                    "any" => true,
                    _ => return Err(o.malformed()),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// [`BaseOptions::validate`], then [`BaseOptions::supported`].
    pub fn check(&self, n: usize) -> Result<(), ApiError> {
        self.validate(n)?;
        self.supported()
    }

    /// OSRM's parameter validation against `n` coordinates (`InvalidOptions`).
    pub fn validate(&self, n: usize) -> Result<(), ApiError> {
        for (name, len) in [
            ("hints", self.hints.len()),
            ("bearings", self.bearings.len()),
            ("radiuses", self.radiuses.len()),
            ("approaches", self.approaches.len()),
        ] {
            if len > 0 && len != n {
                return Err(ApiError::bad(
                    ErrorCode::InvalidOptions,
                    format!("Number of elements in {name} size {len} does not match coordinate size {n}"),
                ));
            }
        }
        for (i, b) in self.bearings.iter().enumerate() {
            if let Some((bearing, range)) = *b {
                if !(0..=360).contains(&bearing) || !(0..=180).contains(&range) {
                    return Err(ApiError::bad(
                        ErrorCode::InvalidOptions,
                        format!("Bearing {bearing},{range} of coordinate {i} is invalid: the bearing must be in 0..360 and the range in 0..180"),
                    ));
                }
            }
        }
        for (i, r) in self.radiuses.iter().enumerate() {
            if r.is_some_and(|r| r < 0.0) {
                return Err(ApiError::bad(
                    ErrorCode::InvalidOptions,
                    format!("Radius of coordinate {i} is negative"),
                ));
            }
        }
        Ok(())
    }

    /// The exclude classes asked for; a class the car profile does not define is
    /// `InvalidValue` with OSRM's message.
    pub fn exclude_classes(&self) -> Result<Exclude, ApiError> {
        self.exclude.iter().try_fold(Exclude::NONE, |set, c| {
            Exclude::class(c).map(|class| set.with(class)).ok_or_else(|| {
                ApiError::bad(
                    ErrorCode::InvalidValue,
                    format!("Exclude flag combination is not supported. (unknown class {c:?}; the car profile knows motorway, toll, ferry)"),
                )
            })
        })
    }

    /// The exclude classes as `router`'s graph can honour them: none exist for the foot
    /// profile (OSRM's foot profile defines none: `InvalidValue`), and `toll` / `ferry` need
    /// a graph imported with those edge flags (an older one is refused with a message to
    /// re-import it rather than answered as if it had no tolled road).
    pub fn exclude_for(&self, router: &Router) -> Result<Exclude, ApiError> {
        let set = self.exclude_classes()?;
        if set.is_empty() {
            return Ok(set);
        }
        if router.profile() != Profile::Car {
            return Err(ApiError::bad(
                ErrorCode::InvalidValue,
                "Exclude flag combination is not supported. (the foot profile has no exclude classes)",
            ));
        }
        let manifest = router.store.manifest();
        for (class, name) in [(Exclude::TOLL, "toll"), (Exclude::FERRY, "ferry")] {
            if set.contains(class) && !manifest.has_edge_flag(name) {
                return Err(ApiError::bad(
                    ErrorCode::InvalidValue,
                    format!("Exclude flag combination is not supported. (graph {:?} was imported without {name} flags; re-import it with this version of meridian to use exclude={name})", manifest.name),
                ));
            }
        }
        Ok(set)
    }

    /// Options this service cannot apply, refused rather than ignored: an unknown exclude
    /// class is `InvalidValue` (as OSRM), a known one `NotImplemented` (only `/route`
    /// applies exclusions; its tables and map matcher do not).
    pub fn supported(&self) -> Result<(), ApiError> {
        if !self.exclude_classes()?.is_empty() {
            return Err(ApiError::bad(
                ErrorCode::NotImplemented,
                "This server applies exclude flags on /route only",
            ));
        }
        Ok(())
    }

    /// The approaches, for snapping (`unrestricted` = none).
    pub fn snap_approaches(&self) -> Vec<Option<snap::Approach>> {
        self.approaches
            .iter()
            .map(|a| match a {
                Some(Approach::Curb) => Some(snap::Approach::Curb),
                Some(Approach::Opposite) => Some(snap::Approach::Opposite),
                _ => None,
            })
            .collect()
    }

    /// A snap as an answer's waypoint: with its hint unless `generate_hints=false`.
    pub fn waypoint(&self, router: &Router, snap: &snap::Snap) -> Waypoint {
        let mut w = router.waypoint(snap);
        if !self.generate_hints {
            w.hint = None;
        }
        w
    }

    /// The validated bearings, for snapping.
    pub fn snap_bearings(&self) -> Vec<Option<Bearing>> {
        self.bearings
            .iter()
            .map(|b| {
                b.map(|(bearing, range)| Bearing {
                    bearing_deg: bearing as f64,
                    range_deg: range as f64,
                })
            })
            .collect()
    }

    /// The snap radius for coordinate `i`: the request's, capped at the server's `max_m`.
    pub fn radius(&self, i: usize, max_m: f64) -> f64 {
        match self.radiuses.get(i).copied().flatten() {
            Some(r) => r.min(max_m),
            None => max_m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(query: &str) -> Result<BaseOptions, ApiError> {
        let mut b = BaseOptions::default();
        for o in split_query(query)? {
            assert!(b.take(&o)?, "{o:?}");
        }
        Ok(b)
    }

    #[test]
    fn parses_coordinate_lists_and_polylines() {
        let pts = parse_coordinates("-8.61,41.15;-8.6,41.16").unwrap();
        assert_eq!(
            pts,
            vec![LatLon::new(41.15, -8.61), LatLon::new(41.16, -8.6)]
        );
        let p5 = polyline::encode(&pts, 5);
        assert_eq!(parse_coordinates(&format!("polyline({p5})")).unwrap(), pts);
        let p6 = polyline::encode(&pts, 6);
        assert_eq!(parse_coordinates(&format!("polyline6({p6})")).unwrap(), pts);
        let code = |s: &str| parse_coordinates(s).unwrap_err().code;
        assert_eq!(code("polyline(~"), "InvalidQuery");
        assert_eq!(code("polyline()"), "InvalidQuery");
        assert_eq!(code("1,95"), "InvalidValue");
        assert_eq!(code("a,b"), "InvalidQuery");
    }

    #[test]
    fn base_options_follow_osrm_grammar_and_checks() {
        let b = base("radiuses=10;;unlimited&hints=;;&generate_hints=false&snapping=any").unwrap();
        assert_eq!(b.radiuses, vec![Some(10.0), None, Some(f64::INFINITY)]);
        assert!(!b.generate_hints && b.snapping_any);
        assert!(b.check(3).is_ok());
        assert_eq!(b.check(2).unwrap_err().code, "InvalidOptions");
        assert_eq!(b.radius(0, 5000.0), 10.0);
        assert_eq!(b.radius(1, 5000.0), 5000.0);
        assert_eq!(b.radius(2, 5000.0), 5000.0);

        let code = |q: &str| match base(q) {
            Err(e) => e.code.as_str(),
            Ok(b) => b.check(2).err().map_or("Ok", |e| e.code.as_str()),
        };
        assert_eq!(code("approaches=foo;bar"), "InvalidQuery");
        assert_eq!(code("approaches=unrestricted;"), "Ok");
        assert_eq!(code("approaches=curb;opposite"), "Ok");
        assert_eq!(code("bearings=400,20;"), "InvalidOptions");
        assert_eq!(code("bearings=90;"), "InvalidQuery");
        assert_eq!(code("bearings=;"), "Ok");
        assert_eq!(code("exclude=foo"), "InvalidValue");
        // Only /route applies exclusions; the other services refuse known classes.
        assert_eq!(code("exclude=motorway"), "NotImplemented");
        assert_eq!(code("exclude=mo-torway"), "InvalidQuery");
        assert_eq!(code("radiuses=1e3;1"), "InvalidQuery");
        assert_eq!(code("radiuses=-1;1"), "InvalidOptions");
        assert_eq!(code("radiuses=1;1;1"), "InvalidOptions");
        assert_eq!(code("skip_waypoints=yes"), "InvalidQuery");
    }
}
