//! `GET /search` and `GET /reverse`, in Nominatim's URL grammar and JSON shapes (`jsonv2`, `json`,
//! `geojson`), so Nominatim clients (geopy's `Nominatim(domain=…, scheme="http")`) work
//! unchanged. The places index (`places.rkyv` in the graph directory) is loaded at start; a
//! graph imported without one answers both services with a `NotImplemented` error naming the fix.
//! Searches run on the compute pool.
//!
//! Errors are HTTP 400 with OSRM's `code` and `message` beside Nominatim's
//! `{"error": {"code": 400, "message": …}}`, so either kind of client reads them.

use super::route_api::ApiError;
use super::{run_blocking, ComputePool};
use crate::ErrorCode;
use places::{Detail, Kind, PlacesIndex, Query};
use serde_json::{json, Map, Value};
use std::path::Path;
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Reply};

const LICENCE: &str = "Data © OpenStreetMap contributors, ODbL 1.0. https://osm.org/copyright";

/// Default and largest `limit` of `/search` (Nominatim: 10 and 40).
pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 40;

/// Longest query text: an address is a few dozen characters, and each word costs a scan of
/// the vocabulary.
pub const MAX_QUERY_CHARS: usize = 512;

/// The index a server answers from, or why it has none.
pub enum Geocoder {
    Ready(PlacesIndex),
    Missing(String),
}

impl Geocoder {
    /// Loads the index of a graph directory; a missing or unusable one is remembered as the
    /// message the services answer with (the server still starts and routes).
    pub fn load(dir: &Path) -> Geocoder {
        match PlacesIndex::open_in(dir) {
            Ok(Some(index)) => Geocoder::Ready(index),
            Ok(None) => Geocoder::Missing(format!(
                "this graph has no places index ({}/{}): import the map again with this meridian to enable /search and /reverse",
                dir.display(),
                places::FILE_NAME
            )),
            Err(e) => {
                eprintln!("warning: geocoding disabled: {e}");
                Geocoder::Missing(format!("geocoding is disabled: {e}"))
            }
        }
    }

    fn index(&self) -> Result<&PlacesIndex, ApiError> {
        match self {
            Geocoder::Ready(index) => Ok(index),
            Geocoder::Missing(why) => Err(ApiError::bad(ErrorCode::NotImplemented, why.clone())),
        }
    }

    /// The rank-1 place for an address typed as `/search` takes it (`focus`: `(lat, lon)` the
    /// user is near), `None` when nothing matches, or when rank 1 matches less than
    /// [`places::search::MIN_MATCHED`] of the words (by rarity weight). CPU work (a vocabulary scan per word): call it
    /// on the compute pool. An empty or over-long text is `InvalidQuery`; no index is
    /// `NotImplemented`.
    pub fn locate(
        &self,
        text: &str,
        focus: Option<(f64, f64)>,
    ) -> Result<Option<Located>, ApiError> {
        if text.trim().is_empty() {
            return Err(invalid("the address is empty"));
        }
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(invalid(format!(
                "the address is longer than {MAX_QUERY_CHARS} characters"
            )));
        }
        let index = self.index()?;
        let hits = index.search(&Query {
            text,
            focus,
            limit: 1,
        });
        // Rank 1 only if it stands for what was typed, not for one common word of it.
        let first = hits
            .into_iter()
            .next()
            .filter(|h| h.matched >= places::search::MIN_MATCHED);
        Ok(first.map(|h| {
            let e = index.entry(h.entry);
            let (lat, lon) = e.point();
            Located {
                point: spatial::LatLon::new(lat, lon),
                display_name: e.display_name(),
            }
        }))
    }
}

/// Where an address was found: the rank-1 hit's point and its display name.
#[derive(Clone, Debug, PartialEq)]
pub struct Located {
    pub point: spatial::LatLon,
    pub display_name: String,
}

/// `GET /search` and `GET /reverse`.
pub fn routes(geocoder: Arc<Geocoder>, compute: Arc<ComputePool>) -> BoxedFilter<(Response,)> {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let service = |name: &'static str, handle: fn(&Geocoder, &str) -> Response| {
        let (geocoder, compute) = (geocoder.clone(), compute.clone());
        warp::path(name)
            .and(warp::path::end())
            .and(warp::get())
            .and(query)
            .and_then(move |query: String| {
                let geocoder = geocoder.clone();
                run_blocking(compute.clone(), move || handle(&geocoder, &query))
            })
            .boxed()
    };
    service("search", handle_search)
        .or(service("reverse", handle_reverse))
        .unify()
        .boxed()
}

fn error_reply(e: ApiError) -> Response {
    let status = e.code.status();
    let body = json!({
        "code": e.code.as_str(),
        "message": e.message,
        "error": {"code": status.as_u16(), "message": e.message},
    });
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad(ErrorCode::InvalidQuery, message)
}

/// Decodes a query string the way HTML forms encode it (`+` is a space, `%XX` a byte, UTF-8).
pub fn decode_query(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    fn decode(s: &str) -> Result<String, ApiError> {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    // Both must be hex digits: `from_str_radix` alone would take "+1".
                    let hex = bytes
                        .get(i + 1..i + 3)
                        .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or_else(|| invalid(format!("bad percent escape in '{s}'")))?;
                    out.push(hex);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).map_err(|_| invalid(format!("'{s}' is not UTF-8 once decoded")))
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k)?, decode(v)?);
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(invalid(format!("parameter '{k}' is given twice")));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// Nominatim parameters accepted and not applied (language, polygons, extra details, contact
/// address): ignoring them changes no coordinate.
const IGNORED: &[&str] = &[
    "accept-language",
    "email",
    "dedupe",
    "extratags",
    "namedetails",
    "polygon_geojson",
    "polygon_kml",
    "polygon_svg",
    "polygon_text",
    "polygon_threshold",
    "countrycodes",
    "layer",
    "featureType",
    "featuretype",
    "debug",
    "user_agent",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    JsonV2,
    GeoJson,
}

fn parse_format(v: &str) -> Result<Format, ApiError> {
    match v {
        "json" => Ok(Format::Json),
        "jsonv2" => Ok(Format::JsonV2),
        "geojson" => Ok(Format::GeoJson),
        "xml" | "geocodejson" => Err(invalid(format!(
            "format={v} is not supported; use jsonv2, json or geojson"
        ))),
        _ => Err(invalid(format!(
            "unknown format '{v}'; use jsonv2, json or geojson"
        ))),
    }
}

fn parse_flag(key: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(invalid(format!("{key} must be 0 or 1, got '{v}'"))),
    }
}

fn parse_degrees(key: &str, v: &str, max: f64) -> Result<f64, ApiError> {
    let x: f64 = v
        .trim()
        .parse()
        .map_err(|_| invalid(format!("{key} must be a number, got '{v}'")))?;
    if !x.is_finite() || x.abs() > max {
        return Err(invalid(format!(
            "{key} must be between -{max} and {max}, got '{v}'"
        )));
    }
    Ok(x)
}

/// `lat` and `lon`: both or neither.
fn take_point(lat: Option<&str>, lon: Option<&str>) -> Result<Option<(f64, f64)>, ApiError> {
    match (lat, lon) {
        (None, None) => Ok(None),
        (Some(lat), Some(lon)) => Ok(Some((
            parse_degrees("lat", lat, 90.0)?,
            parse_degrees("lon", lon, 180.0)?,
        ))),
        (Some(_), None) => Err(invalid("parameter 'lon' missing (lat and lon go together)")),
        (None, Some(_)) => Err(invalid("parameter 'lat' missing (lat and lon go together)")),
    }
}

/// `viewbox=<x1>,<y1>,<x2>,<y2>` (lon, lat of two corners, any order) as
/// `min_lat, max_lat, min_lon, max_lon`.
fn parse_viewbox(v: &str) -> Result<[f64; 4], ApiError> {
    let parts: Vec<&str> = v.split(',').collect();
    if parts.len() != 4 {
        return Err(invalid(format!(
            "viewbox must be x1,y1,x2,y2 (lon,lat,lon,lat), got '{v}'"
        )));
    }
    let (x1, y1) = (
        parse_degrees("viewbox", parts[0], 180.0)?,
        parse_degrees("viewbox", parts[1], 90.0)?,
    );
    let (x2, y2) = (
        parse_degrees("viewbox", parts[2], 180.0)?,
        parse_degrees("viewbox", parts[3], 90.0)?,
    );
    Ok([y1.min(y2), y1.max(y2), x1.min(x2), x1.max(x2)])
}

pub fn handle_search(geocoder: &Geocoder, query: &str) -> Response {
    match search(geocoder, query) {
        Ok(body) => warp::reply::json(&body).into_response(),
        Err(e) => error_reply(e),
    }
}

pub fn handle_reverse(geocoder: &Geocoder, query: &str) -> Response {
    match reverse(geocoder, query) {
        Ok(body) => warp::reply::json(&body).into_response(),
        Err(e) => error_reply(e),
    }
}

/// Structured search fields, joined into one query in this order.
const STRUCTURED: &[&str] = &[
    "amenity",
    "street",
    "city",
    "county",
    "state",
    "country",
    "postalcode",
];

fn search(geocoder: &Geocoder, raw: &str) -> Result<Value, ApiError> {
    let params = decode_query(raw)?;
    let (mut q, mut lat, mut lon) = (None, None, None);
    let mut structured: Vec<(usize, String)> = Vec::new();
    let (mut format, mut limit, mut details) = (Format::JsonV2, DEFAULT_LIMIT, false);
    let (mut viewbox, mut bounded) = (None, false);
    for (k, v) in &params {
        match k.as_str() {
            "q" => q = Some(v.as_str()),
            "lat" => lat = Some(v.as_str()),
            "lon" => lon = Some(v.as_str()),
            "format" => format = parse_format(v)?,
            "limit" => {
                limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .ok_or_else(|| {
                        invalid(format!(
                            "limit must be a whole number from 1 to {MAX_LIMIT}, got '{v}'"
                        ))
                    })?
            }
            "addressdetails" => details = parse_flag(k, v)?,
            "viewbox" => viewbox = Some(parse_viewbox(v)?),
            "bounded" => bounded = parse_flag(k, v)?,
            k if STRUCTURED.contains(&k) => {
                let order = STRUCTURED.iter().position(|s| *s == k).unwrap_or(0);
                structured.push((order, v.clone()));
            }
            k if IGNORED.contains(&k) => {}
            _ => return Err(invalid(format!("unknown parameter '{k}'"))),
        }
    }
    structured.sort();
    let text = match (q, structured.is_empty()) {
        (Some(_), false) => {
            return Err(invalid(
                "q cannot be combined with structured parameters (street, city, ...)",
            ))
        }
        (Some(q), true) => q.to_string(),
        (None, false) => structured
            .into_iter()
            .map(|(_, v)| v)
            .collect::<Vec<_>>()
            .join(", "),
        (None, true) => return Err(invalid("parameter 'q' missing: nothing to search for")),
    };
    if text.trim().is_empty() {
        return Err(invalid("parameter 'q' is empty: nothing to search for"));
    }
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(invalid(format!(
            "the query is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    if bounded && viewbox.is_none() {
        return Err(invalid("bounded=1 needs a viewbox"));
    }
    let mut focus = take_point(lat, lon)?;
    if let (None, Some(b)) = (focus, viewbox) {
        focus = Some(((b[0] + b[1]) / 2.0, (b[2] + b[3]) / 2.0));
    }
    let index = geocoder.index()?;
    // A bounded search filters after ranking, so it asks for more candidates.
    let asked = if bounded {
        places::search::MAX_LIMIT
    } else {
        limit
    };
    let hits = index.search(&Query {
        text: &text,
        focus,
        limit: asked,
    });
    let found: Vec<u32> = hits
        .iter()
        .map(|h| h.entry)
        .filter(|&e| {
            let (lat, lon) = index.entry(e).point();
            !bounded
                || viewbox.is_some_and(|b| b[0] <= lat && lat <= b[1] && b[2] <= lon && lon <= b[3])
        })
        .take(limit)
        .collect();
    Ok(render(index, &found, format, details))
}

fn reverse(geocoder: &Geocoder, raw: &str) -> Result<Value, ApiError> {
    let params = decode_query(raw)?;
    let (mut lat, mut lon) = (None, None);
    let (mut format, mut details, mut zoom) = (Format::JsonV2, true, 18u8);
    for (k, v) in &params {
        match k.as_str() {
            "lat" => lat = Some(v.as_str()),
            "lon" => lon = Some(v.as_str()),
            "format" => format = parse_format(v)?,
            "addressdetails" => details = parse_flag(k, v)?,
            "zoom" => {
                zoom = v.parse::<u8>().ok().filter(|z| *z <= 18).ok_or_else(|| {
                    invalid(format!(
                        "zoom must be a whole number from 0 to 18, got '{v}'"
                    ))
                })?
            }
            k if IGNORED.contains(&k) => {}
            _ => return Err(invalid(format!("unknown parameter '{k}'"))),
        }
    }
    let point = match (lat, lon) {
        (None, _) => return Err(invalid("parameter 'lat' missing")),
        (_, None) => return Err(invalid("parameter 'lon' missing")),
        _ => take_point(lat, lon)?.unwrap_or_default(),
    };
    let index = geocoder.index()?;
    let Some(hit) = index.reverse(point, Detail::from_zoom(zoom)) else {
        // Nominatim's answer for nowhere: 200 with an error string, which clients map to None.
        return Ok(json!({"error": "Unable to geocode"}));
    };
    let body = render(index, &[hit.entry], format, details);
    Ok(match format {
        // One object, not a list, as Nominatim's reverse answers.
        Format::Json | Format::JsonV2 => body[0].clone(),
        Format::GeoJson => body,
    })
}

/// Nominatim's `address` object: most specific part first.
fn address(e: &places::index::ArchivedEntry) -> Map<String, Value> {
    let mut a = Map::new();
    let mut put = |k: &str, v: &str| {
        if !v.is_empty() && !a.contains_key(k) {
            a.insert(k.to_string(), Value::from(v));
        }
    };
    match e.kind() {
        Kind::Place => put(&e.class, &e.name),
        Kind::Street | Kind::Address => {}
    }
    put("house_number", &e.housenumber);
    put("road", e.road());
    put("hamlet", &e.addr_place);
    put("suburb", &e.suburb);
    put("city", &e.city);
    put("postcode", &e.postcode);
    a
}

fn address_type(e: &places::index::ArchivedEntry) -> String {
    match e.kind() {
        Kind::Address if e.class.as_str() == "building" => "building".into(),
        Kind::Address => "place".into(),
        Kind::Street => "road".into(),
        Kind::Place if e.class.as_str() == "place" => e.typ.to_string(),
        Kind::Place => e.class.to_string(),
    }
}

fn render(index: &PlacesIndex, entries: &[u32], format: Format, details: bool) -> Value {
    let items = entries.iter().map(|&id| {
        let e = index.entry(id);
        let (lat, lon) = e.point();
        let b = e.bbox();
        let mut props = Map::new();
        props.insert("place_id".into(), id.into());
        if format != Format::GeoJson {
            props.insert("licence".into(), LICENCE.into());
        }
        props.insert("osm_type".into(), e.osm_type_name().into());
        props.insert("osm_id".into(), e.osm_id.to_native().into());
        if format != Format::GeoJson {
            props.insert("lat".into(), format!("{lat:.7}").into());
            props.insert("lon".into(), format!("{lon:.7}").into());
        }
        let class_key = if format == Format::Json {
            "class"
        } else {
            "category"
        };
        props.insert(class_key.into(), e.class.as_str().into());
        props.insert("type".into(), e.typ.as_str().into());
        props.insert("place_rank".into(), e.rank.into());
        props.insert(
            "importance".into(),
            ((e.importance.to_native() as f64 * 1e4).round() / 1e4).into(),
        );
        props.insert("addresstype".into(), address_type(e).into());
        props.insert("name".into(), e.name.as_str().into());
        props.insert("display_name".into(), e.display_name().into());
        if details {
            props.insert("address".into(), Value::Object(address(e)));
        }
        match format {
            Format::GeoJson => json!({
                "type": "Feature",
                "properties": Value::Object(props),
                "bbox": [b[2], b[0], b[3], b[1]],
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
            }),
            _ => {
                props.insert(
                    "boundingbox".into(),
                    json!([
                        format!("{:.7}", b[0]),
                        format!("{:.7}", b[1]),
                        format!("{:.7}", b[2]),
                        format!("{:.7}", b[3])
                    ]),
                );
                Value::Object(props)
            }
        }
    });
    match format {
        Format::GeoJson => json!({
            "type": "FeatureCollection",
            "licence": LICENCE,
            "features": items.collect::<Vec<_>>(),
        }),
        _ => Value::Array(items.collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_decodes() {
        let p = decode_query("q=Rua+de+Santa%20Catarina+312&limit=1").unwrap();
        assert_eq!(p[0], ("q".into(), "Rua de Santa Catarina 312".into()));
        assert_eq!(p[1], ("limit".into(), "1".into()));
        let p = decode_query("q=Pra%C3%A7a").unwrap();
        assert_eq!(p[0].1, "Praça");
        assert!(decode_query("q=%zz").is_err());
        assert!(decode_query("q=%+1").is_err());
        assert!(decode_query("q=%4").is_err());
        assert!(decode_query("q=%C3").is_err());
        assert!(decode_query("q=a&q=b").is_err());
    }

    #[test]
    fn viewbox_corners_in_any_order() {
        assert_eq!(
            parse_viewbox("-8.5,41.2,-8.7,41.1").unwrap(),
            [41.1, 41.2, -8.7, -8.5]
        );
        assert!(parse_viewbox("1,2,3").is_err());
        assert!(parse_viewbox("1,95,3,4").is_err());
    }
}
