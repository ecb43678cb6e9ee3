//! Property tests of the parsers that take outside bytes, through their real entry points on
//! real data (random inputs and mutations of valid ones: byte flips, cuts, splices):
//!
//! - **route URLs**: [`route_api::handle`] on the imported `tiny/sydney-2020-07` graph never
//!   panics and answers either `200` with `"code":"Ok"` or a `400` with one of OSRM's error
//!   codes and a message; a valid URL (real junctions, valid options) is answered `Ok` (or
//!   `NoRoute` between components). The same for `/table` and `/nearest` through their
//!   handlers.
//! - **polylines**: `decode` never panics on any string; `encode` then `decode` gives back the
//!   rounded points exactly (precision 5 and 6).
//! - **binary ping frames**: `decode_binary_pings` never panics and accepts exactly the
//!   non-empty whole numbers of 44-byte records; `decode(encode(p)) == p`, and encoding what was
//!   decoded gives the same bytes (up to NaN payloads, which mean "absent").
//! - **OSM PBF import**: a damaged real extract is refused with an error naming the file, or
//!   imported into a graph whose tiles all open and validate (zlib checksums make nearly every
//!   damage a refusal).
//! - **offline bundles**: a real bundle with flipped bytes, a cut, or spliced bytes is refused
//!   by [`Bundle::open`] with an error, never a panic; when a mutation leaves the bundle
//!   openable (bytes no reader looks at, such as tar padding, or the free-text `created_by`),
//!   every member and every other manifest field are exactly the original ones.
//!
//! CI runs each property with its own count of cases (see [`config`]);
//! `MERIDIAN_FUZZ_SCALE=<k>` multiplies every count by `k` and `PROPTEST_CASES=<n>` sets them
//! all to `n`: the long fuzz runs (see README, Tests).

use crate::common::{graph_dir, junctions, router, scratch_dir};
use meridian::graph::GraphStore;
use meridian::route::polyline;
use meridian::server::ingest::{
    decode_binary_pings, encode_binary_pings, PingMessage, BINARY_PING_BYTES,
};
use meridian::server::{nearest_api, route_api, table_api, Limits};
use meridian::spatial::LatLon;
use meridian::tiles::bundle::{write_bundle, Area, Bundle, BundleOptions};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

/// `ci` cases, times `MERIDIAN_FUZZ_SCALE` when set; `PROPTEST_CASES` overrides both (the
/// long fuzz runs).
pub fn config(ci: u32) -> Config {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u32>().ok());
    let scale = env("MERIDIAN_FUZZ_SCALE").unwrap_or(1);
    let cases = env("PROPTEST_CASES").unwrap_or(ci.saturating_mul(scale));
    Config {
        cases,
        // Failures become named regression tests, not files in the source tree.
        failure_persistence: None,
        ..Config::default()
    }
}

/// One change to a byte string.
#[derive(Clone, Debug)]
enum Mutation {
    /// XOR the byte at (position mod length) with a non-zero mask.
    Flip(usize, u8),
    /// Keep only the first (position mod length + 1) bytes.
    Cut(usize),
    /// Insert bytes at (position mod length + 1).
    Splice(usize, Vec<u8>),
    /// Remove up to `n` bytes from (position mod length).
    Delete(usize, usize),
    /// Copy a run of the input itself to another place (duplicated structure).
    Duplicate(usize, usize, usize),
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len();
    if n == 0 {
        if let Mutation::Splice(_, s) = m {
            bytes.extend_from_slice(s);
        }
        return;
    }
    match m {
        Mutation::Flip(at, mask) => bytes[at % n] ^= mask,
        Mutation::Cut(at) => bytes.truncate(at % n + 1),
        Mutation::Splice(at, s) => {
            let at = at % (n + 1);
            bytes.splice(at..at, s.iter().copied());
        }
        Mutation::Delete(at, len) => {
            let at = at % n;
            bytes.drain(at..(at + len).min(n));
        }
        Mutation::Duplicate(from, len, to) => {
            let from = from % n;
            let run = bytes[from..(from + len).min(n)].to_vec();
            let to = to % (n + 1);
            bytes.splice(to..to, run);
        }
    }
}

/// Mutations whose spliced bytes come from `dictionary` (fragments that matter to the parser)
/// or are random.
fn mutations(
    dictionary: &'static [&'static str],
    max: usize,
) -> impl Strategy<Value = Vec<Mutation>> {
    let splice = prop_oneof![
        prop::sample::select(dictionary).prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 1..8),
    ];
    let one = prop_oneof![
        3 => (any::<usize>(), 1..=255u8).prop_map(|(a, m)| Mutation::Flip(a, m)),
        1 => any::<usize>().prop_map(Mutation::Cut),
        3 => (any::<usize>(), splice).prop_map(|(a, s)| Mutation::Splice(a, s)),
        1 => (any::<usize>(), 1..16usize).prop_map(|(a, l)| Mutation::Delete(a, l)),
        1 => (any::<usize>(), 1..24usize, any::<usize>())
            .prop_map(|(f, l, t)| Mutation::Duplicate(f, l, t)),
    ];
    prop::collection::vec(one, 1..=max)
}

// --- route URLs -------------------------------------------------------------------------------

const MAP: &str = "tiny/sydney-2020-07";

/// Every error code this server's route service may answer with (OSRM's, plus `TooBig`).
const ROUTE_CODES: &[&str] = &[
    "InvalidUrl",
    "InvalidService",
    "InvalidVersion",
    "InvalidOptions",
    "InvalidQuery",
    "InvalidValue",
    "NoSegment",
    "NoRoute",
    "TooBig",
    "NotImplemented",
];

/// Pieces of route URLs, spliced in by the mutations.
const URL_PIECES: &[&str] = &[
    ";",
    ",",
    "?",
    "&",
    "=",
    "%",
    "%2",
    "%2C",
    "%3B",
    "%ff",
    "%00",
    ".json",
    "/",
    "polyline(",
    "polyline6(",
    ")",
    "_p~iF~ps|U",
    "NaN",
    "inf",
    "-",
    "1e308",
    "1e-400",
    "180",
    "-90.0",
    "steps=true",
    "overview=full",
    "geometries=geojson",
    "geometries=polyline6",
    "annotations=true",
    "annotations=duration,speed",
    "waypoints=0;1",
    "radiuses=1;unlimited",
    "bearings=0,90;",
    "approaches=curb;",
    "hints=;",
    "exclude=motorway",
    "snapping=any",
    "alternatives=3",
    "continue_straight=default",
    "skip_waypoints=true",
    "generate_hints=false",
    "depart=1795422600",
    "depart=-1",
    "algorithm=overlay",
    "algorithm=astar",
    "\u{e9}",
    "\u{0}",
    " ",
    "+",
    "0x10",
    "999999999999999999999",
];

/// Valid options, one or more joined into a query.
const ROUTE_OPTIONS: &[&str] = &[
    "steps=true",
    "overview=full",
    "overview=false",
    "geometries=geojson",
    "geometries=polyline6",
    "annotations=true",
    "alternatives=false",
    "continue_straight=default",
    "generate_hints=false",
    "skip_waypoints=true",
    "depart=1795422600",
    "algorithm=astar",
];

struct RouteFixture {
    router: std::sync::Arc<meridian::route::Router>,
    points: Vec<LatLon>,
}

fn route_fixture() -> &'static RouteFixture {
    static F: OnceLock<RouteFixture> = OnceLock::new();
    F.get_or_init(|| {
        let router = router(MAP);
        let points = junctions(&router);
        assert!(points.len() > 10, "{MAP} has junctions");
        RouteFixture { router, points }
    })
}

/// A valid route URL over real junctions: `(path, query)`.
fn valid_route_url() -> impl Strategy<Value = (String, String)> {
    let n = route_fixture().points.len();
    (
        prop::collection::vec(0..n, 2..=3),
        any::<bool>(),
        prop::sample::subsequence(ROUTE_OPTIONS, 0..=3),
        any::<bool>(),
    )
        .prop_map(|(idx, encoded, opts, json)| {
            let pts: Vec<LatLon> = idx.iter().map(|&i| route_fixture().points[i]).collect();
            let coords = if encoded {
                format!("polyline6({})", polyline::encode(&pts, 6))
            } else {
                pts.iter()
                    .map(|LatLon { lat, lon }| format!("{lon:.6},{lat:.6}"))
                    .collect::<Vec<_>>()
                    .join(";")
            };
            let suffix = if json { ".json" } else { "" };
            (
                format!("/route/v1/driving/{coords}{suffix}"),
                opts.join("&"),
            )
        })
}

/// Status and JSON body of a handler's answer.
fn answer(resp: warp::reply::Response) -> (u16, Value) {
    use warp::hyper::body::Body;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut bytes = Vec::new();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        match std::pin::Pin::new(&mut body).poll_frame(&mut cx) {
            std::task::Poll::Ready(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
            std::task::Poll::Ready(None) => break,
            std::task::Poll::Ready(Some(Err(e))) => panic!("body error: {e}"),
            std::task::Poll::Pending => panic!("a JSON reply body is never pending"),
        }
    }
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "reply is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, json)
}

/// The services whose URLs are fuzzed, each through its real handler.
#[derive(Clone, Copy, Debug)]
enum Service {
    Route,
    Table,
    Nearest,
}

/// A service's promise for any request: `200` + `Ok` (and, for a route, a route), or `400` +
/// one of OSRM's codes and a message. Returns the code.
fn service_answer(service: Service, path: &str, query: &str) -> Result<String, TestCaseError> {
    let f = route_fixture();
    let limits = Limits::default();
    let resp = match service {
        Service::Route => route_api::handle(&f.router, &limits, path, query),
        Service::Table => table_api::handle(&f.router, &limits, path, query),
        Service::Nearest => nearest_api::handle(&f.router, &limits, path, query),
    };
    let (status, body) = answer(resp);
    let code = body["code"].as_str().unwrap_or("<none>").to_string();
    match status {
        200 => {
            prop_assert_eq!(&code, "Ok", "200 without Ok for {}?{}", path, query);
            if let Service::Route = service {
                prop_assert!(body["routes"].as_array().is_some_and(|r| !r.is_empty()));
            }
        }
        400 => {
            prop_assert!(
                ROUTE_CODES.contains(&code.as_str()),
                "unknown code {} for {:?}?{:?}",
                code,
                path,
                query
            );
            prop_assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        s => prop_assert!(
            false,
            "status {} ({}) for {:?}?{:?}: {}",
            s,
            code,
            path,
            query,
            body
        ),
    }
    Ok(code)
}

fn route_answer(path: &str, query: &str) -> Result<String, TestCaseError> {
    service_answer(Service::Route, path, query)
}

/// Valid `/table` and `/nearest` URLs over real junctions.
fn valid_other_url() -> impl Strategy<Value = (Service, String, String)> {
    let n = route_fixture().points.len();
    (prop::collection::vec(0..n, 2..=4), any::<bool>()).prop_map(|(idx, table)| {
        let coords = |k: usize| {
            idx[..k]
                .iter()
                .map(|&i| {
                    let LatLon { lat, lon } = route_fixture().points[i];
                    format!("{lon:.6},{lat:.6}")
                })
                .collect::<Vec<_>>()
                .join(";")
        };
        if table {
            let q = ["", "sources=0&annotations=duration,distance"][idx.len() % 2];
            (
                Service::Table,
                format!("/table/v1/driving/{}", coords(idx.len())),
                q.to_string(),
            )
        } else {
            (
                Service::Nearest,
                format!("/nearest/v1/driving/{}.json", coords(1)),
                "number=3".to_string(),
            )
        }
    })
}

#[test]
fn properties_mutated_table_and_nearest_urls_get_an_osrm_code() {
    let mut runner = TestRunner::new(config(2048));
    let oks = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(
            &(valid_other_url(), mutations(URL_PIECES, 3), any::<bool>()),
            |((service, path, query), muts, mutate)| {
                let mut bytes = format!("{path}?{query}").into_bytes();
                if mutate {
                    for m in &muts {
                        apply(&mut bytes, m);
                    }
                }
                let (path, query) = split_url(&bytes);
                let code = service_answer(service, &path, &query)?;
                prop_assert!(
                    mutate || code == "Ok",
                    "valid {:?} URL answered {}: {}?{}",
                    service,
                    code,
                    path,
                    query
                );
                if code == "Ok" {
                    oks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(())
            },
        )
        .unwrap();
    assert!(oks.into_inner() > 0);
}

/// Splits a mutated URL into what warp hands the handler: the path, and the query after `?`.
fn split_url(bytes: &[u8]) -> (String, String) {
    let url = String::from_utf8_lossy(bytes).into_owned();
    match url.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (url, String::new()),
    }
}

#[test]
fn properties_valid_route_urls_are_answered_ok() {
    let mut runner = TestRunner::new(config(256));
    let routed = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&valid_route_url(), |(path, query)| {
            let code = route_answer(&path, &query)?;
            // Junctions of one extract: a route or, between components, NoRoute.
            prop_assert!(
                code == "Ok" || code == "NoRoute",
                "{} for {}?{}",
                code,
                path,
                query
            );
            if code == "Ok" {
                routed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    let routed = routed.into_inner();
    eprintln!(
        "valid route URLs: {routed} of {} routed",
        runner.config().cases
    );
    assert!(
        routed * 2 > runner.config().cases as usize,
        "most valid URLs route"
    );
}

#[test]
fn properties_mutated_route_urls_get_an_osrm_code() {
    let mut runner = TestRunner::new(config(4096));
    let codes = std::sync::Mutex::new(std::collections::BTreeMap::<String, usize>::new());
    runner
        .run(
            &(valid_route_url(), mutations(URL_PIECES, 4)),
            |((path, query), muts)| {
                let mut bytes = format!("{path}?{query}").into_bytes();
                for m in &muts {
                    apply(&mut bytes, m);
                }
                let (path, query) = split_url(&bytes);
                let code = route_answer(&path, &query)?;
                *codes.lock().unwrap().entry(code).or_default() += 1;
                Ok(())
            },
        )
        .unwrap();
    let codes = codes.into_inner().unwrap();
    eprintln!("mutated route URLs, answers by code: {codes:?}");
    // The mutations reach past the first check: some still route, some fail deeper.
    assert!(codes.contains_key("Ok") && codes.len() >= 4, "{codes:?}");
}

#[test]
fn properties_random_route_urls_get_an_osrm_code() {
    let mut runner = TestRunner::new(config(4096));
    let prefixed = (
        prop::sample::select(
            &[
                "",
                "/route/v1/driving/",
                "/route/v1/car/",
                "/route/v2/driving/",
            ][..],
        ),
        "[-0-9.,;%a-z()_~?&=/]{0,60}",
    )
        .prop_map(|(p, rest)| format!("{p}{rest}").into_bytes());
    let strategy = prop_oneof![prefixed, prop::collection::vec(any::<u8>(), 0..80)];
    runner
        .run(&strategy, |bytes| {
            let (path, query) = split_url(&bytes);
            route_answer(&path, &query)?;
            Ok(())
        })
        .unwrap();
}

// --- polylines --------------------------------------------------------------------------------

#[test]
fn properties_polyline_round_trips_and_never_panics() {
    let mut runner = TestRunner::new(config(2048));
    let points = prop::collection::vec((-90.0..=90.0f64, -180.0..=180.0f64), 0..20);
    runner
        .run(
            &(points, prop_oneof![Just(5u32), Just(6u32)]),
            |(pts, precision)| {
                let factor = 10f64.powi(precision as i32);
                let points: Vec<LatLon> = pts
                    .iter()
                    .map(|&(lat, lon)| LatLon::new(lat, lon))
                    .collect();
                let line = polyline::encode(&points, precision);
                let back = polyline::decode(&line, precision).map_err(|e| {
                    TestCaseError::fail(format!("own encoding {line:?} does not decode: {e}"))
                })?;
                prop_assert_eq!(back.len(), pts.len());
                for (
                    &(lat, lon),
                    &LatLon {
                        lat: blat,
                        lon: blon,
                    },
                ) in pts.iter().zip(&back)
                {
                    prop_assert_eq!((lat * factor).round(), (blat * factor).round());
                    prop_assert_eq!((lon * factor).round(), (blon * factor).round());
                }
                Ok(())
            },
        )
        .unwrap();
    let mut runner = TestRunner::new(config(2048));
    let text = prop_oneof!["[?-~]{0,40}", any::<String>()];
    runner
        .run(&(text, 0u32..12), |(s, precision)| {
            if let Ok(points) = polyline::decode(&s, precision) {
                // Every byte in range, and whole (lat, lon) pairs: at least 2 bytes a point.
                prop_assert!(s.bytes().all(|b| (63..=126).contains(&b)));
                prop_assert!(points.len() * 2 <= s.len());
            }
            Ok(())
        })
        .unwrap();
}

// --- binary ping frames -----------------------------------------------------------------------

fn ping_message() -> impl Strategy<Value = PingMessage> {
    let opt = || prop::option::of(any::<f32>().prop_filter("NaN means absent", |v| !v.is_nan()));
    (
        any::<u64>(),
        any::<i64>(),
        any::<f64>(),
        any::<f64>(),
        opt(),
        opt(),
        opt(),
    )
        .prop_map(
            |(seq, ts, lat, lon, speed, heading, accuracy)| PingMessage {
                seq,
                ts,
                lat,
                lon,
                speed,
                heading,
                accuracy,
            },
        )
}

/// Pings compared bit for bit (NaN coordinates are legal bytes and must survive too).
fn ping_bits(p: &PingMessage) -> (u64, i64, u64, u64, [Option<u32>; 3]) {
    (
        p.seq,
        p.ts,
        p.lat.to_bits(),
        p.lon.to_bits(),
        [p.speed, p.heading, p.accuracy].map(|v| v.map(f32::to_bits)),
    )
}

#[test]
fn properties_binary_pings_round_trip() {
    let mut runner = TestRunner::new(config(2048));
    runner
        .run(&prop::collection::vec(ping_message(), 1..20), |pings| {
            let bytes = encode_binary_pings(&pings);
            prop_assert_eq!(bytes.len(), pings.len() * BINARY_PING_BYTES);
            let back = decode_binary_pings(&bytes).expect("own frame decodes");
            let bits = |v: &[PingMessage]| v.iter().map(ping_bits).collect::<Vec<_>>();
            prop_assert_eq!(bits(&back), bits(&pings));
            Ok(())
        })
        .unwrap();
}

#[test]
fn properties_binary_ping_frames_of_any_bytes() {
    let mut runner = TestRunner::new(config(2048));
    let frames = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        (1..5usize).prop_flat_map(|n| prop::collection::vec(any::<u8>(), n * BINARY_PING_BYTES)),
    ];
    runner
        .run(&frames, |bytes| {
            let decoded = decode_binary_pings(&bytes);
            let whole = !bytes.is_empty() && bytes.len() % BINARY_PING_BYTES == 0;
            prop_assert_eq!(decoded.is_some(), whole);
            if let Some(pings) = decoded {
                prop_assert_eq!(pings.len(), bytes.len() / BINARY_PING_BYTES);
                let again = encode_binary_pings(&pings);
                // Same bytes, except that any NaN in an optional field re-encodes as one NaN.
                prop_assert_eq!(again.len(), bytes.len());
                let redecoded = decode_binary_pings(&again).expect("re-encoded frame decodes");
                let bits = |v: &[PingMessage]| v.iter().map(ping_bits).collect::<Vec<_>>();
                prop_assert_eq!(bits(&redecoded), bits(&pings));
                for (rec, orig) in again
                    .chunks(BINARY_PING_BYTES)
                    .zip(bytes.chunks(BINARY_PING_BYTES))
                {
                    prop_assert_eq!(&rec[..32], &orig[..32]);
                }
            }
            Ok(())
        })
        .unwrap();
}

// --- offline bundles --------------------------------------------------------------------------

struct BundleFixture {
    bytes: Vec<u8>,
    dir: PathBuf,
    /// (name, bytes) of every member of the original, and its manifest.
    members: Vec<(String, Vec<u8>)>,
    manifest: meridian::tiles::bundle::BundleManifest,
}

fn bundle_fixture() -> &'static BundleFixture {
    static F: OnceLock<BundleFixture> = OnceLock::new();
    F.get_or_init(|| {
        let graph = graph_dir(MAP);
        let store = GraphStore::open(&graph).unwrap();
        // The first tile's cell: an area with tiles in it and (usually) a ring around it.
        let cell = store.manifest().tiles[0].geohash.clone();
        let dir = scratch_dir("properties-bundle");
        let out = dir.join("area.bundle");
        write_bundle(&BundleOptions {
            graph_dir: graph,
            area: Area::parse(&cell).unwrap(),
            tiles_dir: None,
            profiles: None,
            out: out.clone(),
        })
        .unwrap();
        let bundle = Bundle::open(&out).unwrap();
        let manifest = bundle.manifest().clone();
        let members = manifest
            .members
            .iter()
            .map(|m| (m.name.clone(), bundle.member(&m.name).unwrap().to_vec()))
            .collect();
        BundleFixture {
            bytes: std::fs::read(&out).unwrap(),
            dir,
            members,
            manifest,
        }
    })
}

#[test]
fn properties_mutated_bundles_are_refused_or_unchanged() {
    let f = bundle_fixture();
    let len = f.bytes.len();
    // Half the flips go to the first blocks (manifest header and JSON), where a flip can still
    // parse; the rest anywhere.
    let near_start =
        (0..4096usize.min(len), 1..=255u8).prop_map(|(a, m)| vec![Mutation::Flip(a, m)]);
    let strategy = prop_oneof![near_start, mutations(&["\0", "{", "\"", "0", "ustar"], 3)];
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = TestRunner::new(config(1024));
    runner
        .run(&strategy, |muts| {
            let mut bytes = f.bytes.clone();
            for m in &muts {
                apply(&mut bytes, m);
            }
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = f.dir.join(format!("mutated-{n}.bundle"));
            std::fs::write(&path, &bytes).unwrap();
            let opened = Bundle::open(&path);
            let _ = std::fs::remove_file(&path);
            match opened {
                Err(e) => {
                    let text = e.to_string();
                    prop_assert!(!text.is_empty());
                    prop_assert!(
                        !text.chars().any(char::is_control),
                        "raw bytes in the error: {:?}",
                        text
                    );
                }
                Ok(b) => {
                    // `created_by` is free text and the places' `of_entries` (the whole
                    // graph's count) informative; nothing is derived from either, and the
                    // bundle cannot check them. All else must match.
                    let mut seen = b.manifest().clone();
                    seen.created_by.clone_from(&f.manifest.created_by);
                    if let (Some(s), Some(e)) = (&mut seen.places, &f.manifest.places) {
                        s.of_entries = e.of_entries;
                    }
                    prop_assert!(
                        seen == f.manifest,
                        "a changed manifest was accepted: {:?}",
                        muts
                    );
                    prop_assert_eq!(b.manifest().members.len(), f.members.len());
                    for (name, data) in &f.members {
                        prop_assert!(
                            b.member(name) == Some(&data[..]),
                            "member {} changed: {:?}",
                            name,
                            muts
                        );
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}

/// The bundle bytes with `from` replaced by `to` once (same length, so offsets stay valid).
fn edited_bundle(from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let f = bundle_fixture();
    let at = f
        .bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("{from:?} is in the manifest"));
    let mut bytes = f.bytes.clone();
    bytes[at..at + to.len()].copy_from_slice(to.as_bytes());
    bytes
}

fn open_bytes(label: &str, bytes: &[u8]) -> Result<Bundle, meridian::tiles::bundle::BundleError> {
    let path = bundle_fixture().dir.join(format!("{label}.bundle"));
    std::fs::write(&path, bytes).unwrap();
    Bundle::open(&path)
}

/// Found by the bundle property: one flipped bit in the area's geohash (`p` to `q`, a valid
/// geohash letter) was accepted, so `check_point` let routes into a cell the bundle does not
/// hold and refused its own area. Now the area must select exactly the listed tiles.
#[test]
fn regression_bundle_with_a_flipped_area_letter_is_refused() {
    let cell = bundle_fixture().manifest.graph.area_tiles[0].clone();
    let last = cell.as_bytes()[cell.len() - 1] ^ 0x01;
    let flipped = format!("{}{}", &cell[..cell.len() - 1], last as char);
    assert!(
        meridian::spatial::geohash::decode_bbox(&flipped).is_ok(),
        "{flipped} parses"
    );
    let bytes = edited_bundle(
        &format!("\"geohash\": \"{cell}\""),
        &format!("\"geohash\": \"{flipped}\""),
    );
    match open_bytes("flipped-area", &bytes) {
        Err(e) => assert!(e.to_string().contains("manifest.json"), "{e}"),
        Ok(_) => panic!("a bundle whose area was changed to {flipped} was opened"),
    }
}

/// Found by the bundle property: serde reads a misspelt optional key as absent, so a flip in
/// the key `"traffic"` opened (with profiles, it would silently drop them). The manifest must
/// now be exactly what the writer makes of it.
#[test]
fn regression_bundle_with_a_misspelt_manifest_key_is_refused() {
    let bytes = edited_bundle("\"traffic\":", "\"traffiC\":");
    match open_bytes("misspelt-key", &bytes) {
        Err(e) => assert!(e.to_string().contains("manifest.json"), "{e}"),
        Ok(_) => panic!("a manifest with an unknown key was opened"),
    }
}

/// Found by the table/nearest property: a path whose first segment is not the handler's own
/// service (`/\u{fffd}earest/...`, one flipped bit in `/nearest/...`) hit a `debug_assert`
/// in `coordinates_part`, a panic in debug builds. Now it is `InvalidService`.
#[test]
fn regression_another_services_path_is_invalid_service_not_a_panic() {
    let f = route_fixture();
    let limits = Limits::default();
    let LatLon { lat, lon } = f.points[0];
    for path in [
        format!("/\u{fffd}earest/v1/driving/{lon},{lat}"),
        format!("/table/v1/driving/{lon},{lat}"),
    ] {
        let (status, body) = answer(nearest_api::handle(&f.router, &limits, &path, ""));
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("InvalidService")),
            "{path}"
        );
    }
    let path = format!("/nearest/v1/driving/{lon},{lat};{lon},{lat}");
    let (status, body) = answer(table_api::handle(&f.router, &limits, &path, ""));
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("InvalidService"))
    );
}

// --- OSM PBF import ---------------------------------------------------------------------------

/// A damaged PBF (flipped, cut, spliced, deleted or duplicated bytes of a real extract) is
/// either refused by the importer with an error that names the file, or imported into a graph
/// that opens and whose every tile validates: never a panic, never a graph that fails to load.
#[test]
fn properties_mutated_pbfs_are_refused_or_import_a_valid_graph() {
    let original = std::fs::read(crate::common::extract("tiny/boston-2020-08")).unwrap();
    let dir = scratch_dir("pbf-properties");
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = TestRunner::new(config(256));
    let strategy = mutations(&["\0", "OSMData", "OSMHeader", "DenseNodes", "zlib"], 3);
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let (refused, imported) = (AtomicUsize::new(0), AtomicUsize::new(0));
    runner
        .run(&strategy, |muts| {
            let mut bytes = original.clone();
            for m in &muts {
                apply(&mut bytes, m);
            }
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let input = dir.join(format!("mutated-{n}.osm.pbf"));
            let out = dir.join(format!("graph-{n}"));
            std::fs::write(&input, &bytes).unwrap();
            let result = meridian::graph::build::import(
                &meridian::graph::build::BuildOptions::new(&input, &out),
            );
            match result {
                Err(e) => {
                    if refused.fetch_add(1, Relaxed) == 0 {
                        eprintln!("first refusal: {e}");
                    }
                    prop_assert!(e.to_string().contains("mutated-"), "{}", e);
                }
                Ok(report) => {
                    imported.fetch_add(1, Relaxed);
                    let store = GraphStore::open(&out).map_err(|e| {
                        TestCaseError::fail(format!("imported graph does not open: {e} ({muts:?})"))
                    })?;
                    prop_assert!(store.verify_checksums().unwrap().is_empty());
                    for t in 0..store.tile_count() {
                        prop_assert!(store.tile(t).is_ok(), "tile {} invalid: {:?}", t, muts);
                    }
                    prop_assert_eq!(
                        store.manifest().counts.junctions,
                        report.manifest.counts.junctions
                    );
                }
            }
            let _ = std::fs::remove_file(&input);
            let _ = std::fs::remove_dir_all(&out);
            Ok(())
        })
        .unwrap();
    eprintln!(
        "mutated PBFs: {} refused, {} imported into valid graphs",
        refused.load(Relaxed),
        imported.load(Relaxed)
    );
}

/// Found by `properties_mutated_bundles_are_refused_or_unchanged` (2026-12-04: `Flip(2108, 2)`
/// turned a digit of the places index's `entries` into another and the bundle opened): the
/// count is now checked against the index it counts.
#[test]
fn regression_a_changed_places_count_is_refused() {
    let f = bundle_fixture();
    let Some(places) = &f.manifest.places else {
        panic!("the fixture's graph has a places index, so its bundle carries one")
    };
    let (needle, at) = [
        format!("\"entries\":{}", places.entries),
        format!("\"entries\": {}", places.entries),
    ]
    .into_iter()
    .find_map(|n| {
        let at = f.bytes.windows(n.len()).position(|w| w == n.as_bytes())?;
        Some((n, at))
    })
    .expect("the manifest JSON names the count");
    let at = at + needle.len() - 1;
    let mut bytes = f.bytes.clone();
    bytes[at] = if bytes[at] == b'1' { b'3' } else { b'1' };
    let path = f.dir.join("places-count.bundle");
    std::fs::write(&path, &bytes).unwrap();
    let err = match Bundle::open(&path) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a bundle whose places count was changed opened"),
    };
    assert!(err.contains("places"), "{err}");
}
