//! The OSRM v1 JSON shape of a route answer: waypoints, routes with legs and steps, geometry in
//! the requested encoding, plus Meridian's `tiles` field (geohash cells the route crosses), which
//! OSRM clients ignore.

use super::guidance::Step;
use super::instructions::announce::{leg_guidance, StepGuidance};
use super::instructions::{Language, Stop};
use super::{polyline, Annotation, Route, RouteAnswer, Waypoint};
use geo::{LineString, Simplify};
use serde_json::{json, Value};
use spatial::LatLon;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overview {
    Full,
    Simplified,
    False,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Geometries {
    Polyline,
    Polyline6,
    GeoJson,
}

/// Douglas-Peucker tolerance of `overview=simplified`, in degrees (about 10 m): small enough that
/// the line stays on its roads at city zoom, large enough to drop most shape points.
const SIMPLIFY_EPSILON_DEG: f64 = 1e-4;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResponseOptions {
    pub overview: Overview,
    pub geometries: Geometries,
    pub steps: bool,
}

/// Encodes points as the client asked.
pub fn encode_geometry(points: &[LatLon], geometries: Geometries) -> Value {
    match geometries {
        Geometries::Polyline => Value::String(polyline::encode(points, 5)),
        Geometries::Polyline6 => Value::String(polyline::encode(points, 6)),
        Geometries::GeoJson => json!({
            "type": "LineString",
            "coordinates": points.iter().map(|p| [round6(p.lon), round6(p.lat)]).collect::<Vec<_>>(),
        }),
    }
}

fn simplify(points: &[LatLon]) -> Vec<LatLon> {
    // geo's plane is x = lon, y = lat.
    let line: LineString<f64> = points.iter().map(|p| (p.lon, p.lat)).collect();
    line.simplify(SIMPLIFY_EPSILON_DEG)
        .coords()
        .map(|c| LatLon::new(c.y, c.x))
        .collect()
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// One step's JSON: the guidance's fields, the geometry as asked, `maneuver.instruction` (the
/// text instruction OSRM clients show), and the spoken and banner instructions when asked.
fn step_json(
    step: &Step,
    instruction: String,
    guidance: Option<&StepGuidance>,
    opts: &ResponseOptions,
    extras: &Extras,
) -> Value {
    let mut v = serde_json::to_value(step).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert(
            "geometry".into(),
            encode_geometry(&step.geometry, opts.geometries),
        );
        map.insert("distance".into(), json!(round1(step.distance)));
        map.insert("duration".into(), json!(round1(step.duration)));
        map.insert("weight".into(), json!(round1(step.weight)));
        if let Some(Value::Object(maneuver)) = map.get_mut("maneuver") {
            maneuver.insert("instruction".into(), Value::String(instruction));
        }
        if let Some(g) = guidance {
            if extras.voice_instructions {
                map.insert("voiceInstructions".into(), json!(g.voice));
            }
            if extras.banner_instructions {
                map.insert("bannerInstructions".into(), json!(g.banner));
            }
        }
    }
    v
}

/// A leg's steps as JSON, with their text (and spoken and banner) instructions.
fn steps_json(steps: &[Step], stop: Stop, opts: &ResponseOptions, extras: &Extras) -> Vec<Value> {
    let lang = Language::english();
    let guidance = (extras.voice_instructions || extras.banner_instructions)
        .then(|| leg_guidance(lang, steps, stop));
    steps
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let g = guidance.as_ref().map(|g| &g[k]);
            step_json(s, lang.instruction(s, stop), g, opts, extras)
        })
        .collect()
}

/// Which leg annotations a request asked for (OSRM's `annotations=`); all false = none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnnotationKinds {
    pub duration: bool,
    pub distance: bool,
    pub speed: bool,
    pub weight: bool,
    /// OSM node ids, one per geometry point.
    pub nodes: bool,
    /// Where each segment's speed came from, with `metadata.datasource_names`.
    pub datasources: bool,
}

impl AnnotationKinds {
    pub fn any(&self) -> bool {
        self.duration
            || self.distance
            || self.speed
            || self.weight
            || self.nodes
            || self.datasources
    }
}

/// Request options of `/route` that only shape the JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    pub annotations: AnnotationKinds,
    /// Leave out the `waypoints` array.
    pub skip_waypoints: bool,
    /// Mapbox's `voice_instructions=true`: `voiceInstructions` on every step and the route's
    /// `voiceLocale`.
    pub voice_instructions: bool,
    /// Mapbox's `banner_instructions=true`: `bannerInstructions` on every step.
    pub banner_instructions: bool,
}

fn annotation_json(a: &Annotation, kinds: &AnnotationKinds) -> Value {
    let mut v = json!({});
    if kinds.distance {
        v["distance"] = json!(a.distance_m.iter().map(|&m| round1(m)).collect::<Vec<_>>());
    }
    if kinds.duration {
        v["duration"] = json!(a.duration_s.iter().map(|&s| round1(s)).collect::<Vec<_>>());
    }
    if kinds.weight {
        v["weight"] = json!(a.duration_s.iter().map(|&s| round1(s)).collect::<Vec<_>>());
    }
    if kinds.nodes {
        v["nodes"] = json!(a.nodes);
    }
    if kinds.datasources {
        v["datasources"] = json!(a.datasources);
        v["metadata"] = json!({ "datasource_names": traffic::speeds::DATASOURCE_NAMES });
    }
    if kinds.speed {
        let speeds: Vec<f64> = a
            .distance_m
            .iter()
            .zip(&a.duration_s)
            .map(|(&m, &s)| if s > 0.0 { round1(m / s) } else { 0.0 })
            .collect();
        v["speed"] = json!(speeds);
    }
    v
}

/// The whole `200 OK` body of `/route/v1`.
pub fn route_response(answer: &RouteAnswer, opts: &ResponseOptions) -> Value {
    route_response_with(answer, opts, &Extras::default())
}

/// [`route_response`] with leg annotations and without waypoints if asked.
pub fn route_response_with(answer: &RouteAnswer, opts: &ResponseOptions, extras: &Extras) -> Value {
    routes_response(answer, &[], opts, extras)
}

/// [`route_response_with`] with alternatives after the fastest route in `routes`, in the
/// order given (OSRM's `alternatives=`).
pub fn routes_response(
    answer: &RouteAnswer,
    alternatives: &[Route],
    opts: &ResponseOptions,
    extras: &Extras,
) -> Value {
    let routes: Vec<Value> = std::iter::once(&answer.route)
        .chain(alternatives)
        .map(|r| route_json(r, opts, extras))
        .collect();
    let mut body = json!({ "code": "Ok", "routes": routes });
    if !extras.skip_waypoints {
        body["waypoints"] = answer.waypoints.iter().map(waypoint_json).collect();
    }
    body
}

/// One entry of `routes`.
fn route_json(route: &Route, opts: &ResponseOptions, extras: &Extras) -> Value {
    let count = route.legs.len();
    let legs: Vec<Value> = route
        .legs
        .iter()
        .enumerate()
        .map(|(i, leg)| {
            let stop = Stop {
                leg: i,
                legs: count,
            };
            let mut v = json!({
                "distance": round1(leg.distance_m),
                "duration": round1(leg.duration_s),
                "weight": round1(leg.duration_s),
                "summary": leg.summary,
                "steps": steps_json(&leg.steps, stop, opts, extras),
            });
            if extras.annotations.any() {
                v["annotation"] = annotation_json(&leg.annotation, &extras.annotations);
            }
            v
        })
        .collect();
    let mut route_json = json!({
        "distance": round1(route.distance_m),
        "duration": round1(route.duration_s),
        "weight": round1(route.duration_s),
        "weight_name": "duration",
        "legs": legs,
        "tiles": route.tiles,
    });
    if extras.voice_instructions {
        route_json["voiceLocale"] = json!(Language::english().locale());
    }
    match opts.overview {
        Overview::Full => {
            route_json["geometry"] = encode_geometry(&route.geometry, opts.geometries);
        }
        Overview::Simplified => {
            route_json["geometry"] = encode_geometry(&simplify(&route.geometry), opts.geometries);
        }
        Overview::False => {}
    }
    route_json
}

/// A waypoint as every OSRM service writes one: `name`, `location` `[lon, lat]`, `distance`
/// (metres from the input coordinate), and `hint` when it has one.
pub fn waypoint_json(w: &Waypoint) -> Value {
    let mut v = json!({
        "name": w.name,
        "location": [round6(w.location.lon), round6(w.location.lat)],
        "distance": round1(w.distance_m),
    });
    if let Some(h) = &w.hint {
        v["hint"] = json!(h);
    }
    v
}
