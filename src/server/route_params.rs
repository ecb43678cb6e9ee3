//! The options of a `/route` request, parsed strictly per OSRM's grammar and checked per its
//! parameter validation: what [`super::route_api`] turns into a route request.

use super::osrm_params::{parse_bool, split_query, BaseOptions, QueryOption};
use super::route_api::ApiError;
use crate::ErrorCode;
use route::osrm::{AnnotationKinds, Geometries, Overview, ResponseOptions};

/// Every option of a route request, parsed per OSRM's grammar.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteOptionsParsed {
    pub response: ResponseOptions,
    pub base: BaseOptions,
    /// `waypoints=`: the coordinates legs end at.
    pub waypoints: Option<Vec<usize>>,
    pub annotations: AnnotationKinds,
    /// How many alternatives were asked for: `alternatives=true` is 1 (as in OSRM),
    /// `false` 0, a number that many.
    pub alternatives: u32,
    /// Mapbox's `voice_instructions=` and `banner_instructions=` (`true|false`): spoken and
    /// banner instructions on every step (they need `steps=true` to show).
    pub voice_instructions: bool,
    pub banner_instructions: bool,
}

impl RouteOptionsParsed {
    /// OSRM's checks against the number of coordinates, in its order: parameter validation
    /// (`InvalidOptions`), then the first and last waypoint (`InvalidValue`), then the exclude
    /// classes (`InvalidValue` for one the car profile does not define).
    pub fn check(&self, n: usize) -> Result<(), ApiError> {
        self.check_with(n, usize::MAX)
    }

    /// [`RouteOptionsParsed::check`] for `/route`, which also refuses more alternatives than
    /// `max_alternatives` (`TooBig`, after parameter validation, as osrm-routed).
    pub fn check_with(&self, n: usize, max_alternatives: usize) -> Result<(), ApiError> {
        self.base.validate(n)?;
        if self.alternatives as usize > max_alternatives {
            return Err(ApiError::bad(
                ErrorCode::TooBig,
                format!("Requested number of alternatives is higher than current maximum ({max_alternatives})"),
            ));
        }
        if let Some(w) = &self.waypoints {
            if let Some(i) = w.iter().find(|&&i| i >= n) {
                return Err(ApiError::bad(
                    ErrorCode::InvalidOptions,
                    format!("Waypoint index {i} is out of range: there are {n} coordinates"),
                ));
            }
            if w.windows(2).any(|p| p[0] >= p[1]) {
                return Err(ApiError::bad(
                    ErrorCode::InvalidOptions,
                    "Waypoint indexes must be increasing",
                ));
            }
            if w.first() != Some(&0) || w.last() != Some(&(n - 1)) {
                return Err(ApiError::bad(
                    ErrorCode::InvalidValue,
                    "First and last coordinates must be specified as waypoints.",
                ));
            }
        }
        // The classes are applied (route_api checks them against the graph).
        self.base.exclude_classes().map(|_| ())
    }
}

/// Parses the query string of a route request, strictly: a value OSRM's grammar does not
/// accept or an unknown option is `InvalidQuery`. `alternatives` is `true`, `false` or a
/// number (OSRM's grammar); accepted and without effect: `continue_straight`, `snapping`.
/// Mapbox's `voice_instructions` and `banner_instructions` are `true` or `false`.
pub fn parse_route_options(query: &str) -> Result<RouteOptionsParsed, ApiError> {
    parse_route_options_with(query, |_| Ok(false))
}

/// [`parse_route_options`] for a service that takes more options (`/trip`, `/match`): `extra`
/// is offered each option first and returns `Ok(true)` for one it took.
pub fn parse_route_options_with(
    query: &str,
    mut extra: impl FnMut(&QueryOption) -> Result<bool, ApiError>,
) -> Result<RouteOptionsParsed, ApiError> {
    let mut r = RouteOptionsParsed {
        response: ResponseOptions {
            overview: Overview::Simplified,
            geometries: Geometries::Polyline,
            steps: false,
        },
        base: BaseOptions::default(),
        waypoints: None,
        annotations: AnnotationKinds::default(),
        alternatives: 0,
        voice_instructions: false,
        banner_instructions: false,
    };
    for o in split_query(query)? {
        if r.base.take(&o)? || extra(&o)? {
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
            "voice_instructions" => r.voice_instructions = o.bool()?,
            "banner_instructions" => r.banner_instructions = o.bool()?,
            "alternatives" => {
                r.alternatives = match parse_bool(&o.value) {
                    Some(b) => u32::from(b),
                    // OSRM's grammar: an unsigned decimal number, no sign.
                    None if o.value.bytes().all(|b| b.is_ascii_digit()) => {
                        o.value.parse::<u32>().map_err(|_| o.malformed())?
                    }
                    None => return Err(o.malformed()),
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
                            nodes: true,
                            datasources: true,
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
                                "nodes" => kinds.nodes = true,
                                "datasources" => kinds.datasources = true,
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
            // Meridian's departure time and search choice, parsed in `route_api`.
            "depart" | "algorithm" => {}
            _ => return Err(o.unknown()),
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_route_options_like_osrm() {
        let check = |q: &str, n: usize| match parse_route_options(q) {
            Err(e) => e.code.as_str(),
            Ok(r) => r.check(n).err().map_or("Ok", |e| e.code.as_str()),
        };
        assert_eq!(check("annotations=duration,distance,speed", 2), "Ok");
        assert_eq!(check("annotations=true&alternatives=2", 2), "Ok");
        let alternatives = |q: &str| parse_route_options(q).map(|r| r.alternatives);
        assert_eq!(alternatives("alternatives=true"), Ok(1));
        assert_eq!(alternatives("alternatives=false"), Ok(0));
        assert_eq!(alternatives("alternatives=3"), Ok(3));
        assert_eq!(alternatives(""), Ok(0));
        for bad in [
            "alternatives=-1",
            "alternatives=+2",
            "alternatives=yes",
            "alternatives=",
        ] {
            assert_eq!(alternatives(bad).unwrap_err().code, "InvalidQuery", "{bad}");
        }
        let too_many = parse_route_options("alternatives=4").unwrap();
        assert_eq!(too_many.check_with(2, 3).unwrap_err().code, "TooBig");
        assert!(too_many.check_with(2, 4).is_ok());
        let none_allowed = parse_route_options("alternatives=true").unwrap();
        assert_eq!(none_allowed.check_with(2, 0).unwrap_err().code, "TooBig");
        assert_eq!(check("annotations=nodes", 2), "Ok");
        assert_eq!(check("annotations=datasources", 2), "Ok");
        assert_eq!(check("annotations=colour", 2), "InvalidQuery");
        assert_eq!(check("waypoints=0;2", 3), "Ok");
        assert_eq!(check("waypoints=0;1", 3), "InvalidValue");
        assert_eq!(check("waypoints=0;3", 3), "InvalidOptions");
        assert_eq!(check("waypoints=0;x", 3), "InvalidQuery");
        assert_eq!(check("bearings=400,20;", 2), "InvalidOptions");
        assert_eq!(check("bearings=10,20", 2), "InvalidOptions");
        assert_eq!(check("exclude=foo", 2), "InvalidValue");
        assert_eq!(check("exclude=motorway,foo", 2), "InvalidValue");
        assert_eq!(check("exclude=motorway", 2), "Ok");
        assert_eq!(check("exclude=motorway,toll,ferry", 2), "Ok");
        assert_eq!(check("exclude=", 2), "InvalidQuery");
        assert_eq!(check("exclude=motorway,", 2), "InvalidQuery");
        let classes = |q: &str| {
            parse_route_options(q)
                .unwrap()
                .base
                .exclude_classes()
                .unwrap()
        };
        assert_eq!(classes(""), graph::Exclude::NONE);
        assert_eq!(
            classes("exclude=toll,motorway"),
            graph::Exclude::MOTORWAY.with(graph::Exclude::TOLL)
        );
        assert_eq!(classes("exclude=ferry"), graph::Exclude::FERRY);
        assert_eq!(check("approaches=foo;bar", 2), "InvalidQuery");
        assert_eq!(check("radiuses=1;1;1", 2), "InvalidOptions");
        assert_eq!(check("radiuses=20;unlimited&skip_waypoints=true", 2), "Ok");
        assert_eq!(
            check("continue_straight=default&generate_hints=false", 2),
            "Ok"
        );
        assert_eq!(check("steps=yes", 2), "InvalidQuery");
        for bad in [
            "voice_instructions=yes",
            "banner_instructions=1",
            "voice_instructions=",
        ] {
            assert_eq!(check(bad, 2), "InvalidQuery", "{bad}");
        }
        let guided =
            parse_route_options("steps=true&voice_instructions=true&banner_instructions=false")
                .unwrap();
        assert!(guided.voice_instructions && !guided.banner_instructions);
        let plain = parse_route_options("steps=true").unwrap();
        assert!(!plain.voice_instructions && !plain.banner_instructions);
        let r = parse_route_options("annotations=speed,duration&waypoints=0;3").unwrap();
        assert!(r.annotations.speed && r.annotations.duration && !r.annotations.distance);
        assert_eq!(r.waypoints, Some(vec![0, 3]));
    }
}
