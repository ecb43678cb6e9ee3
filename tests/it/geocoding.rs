//! Geocoding on real extracts, over HTTP: addresses sampled from the PBF's own `addr:*` objects
//! (read here with osmpbf, independently of the importer) are typed as a person would (typos,
//! missing accents, any case, no postcode, "street number" or "number street", abbreviations)
//! and must come back at rank 1 within 50 m on ≥ 90% and in the top 5 on ≥ 97%; reverse of
//! their points names the same street on ≥ 95%. Porto's extract holds only 65 addresses (it is
//! filtered to highways), so there all of them are queried, and 300 named streets besides;
//! München and Helsinki give the ≥ 200 address samples. Also: Nominatim's answer shapes, 400s
//! on bad parameters, a graph without an index, and geopy's Nominatim client.

use crate::common::{extract, free_port, get, graph_dir, router, scratch_dir};
use meridian::server::{serve_on, Limits};
use osmpbf::{Element, ElementReader};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The geopy version `.ci/run` installs.
const GEOPY: &str = "2.4.1";

/// An address as the file tags it, at its node or at the mean of its way's nodes.
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    pub(crate) street: String,
    pub(crate) housenumber: String,
    pub(crate) city: String,
    pub(crate) point: (f64, f64),
}

/// Every `addr:housenumber` + `addr:street` object of a PBF (nodes and ways).
pub(crate) fn addresses_in(pbf: &std::path::Path) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut ways: Vec<(Sample, Vec<i64>)> = Vec::new();
    let tags_of = |tags: Vec<(&str, &str)>| {
        let get = |k: &str| {
            tags.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        };
        Some(Sample {
            street: get("addr:street")?,
            housenumber: get("addr:housenumber")?,
            city: get("addr:city").unwrap_or_default(),
            point: (f64::NAN, f64::NAN),
        })
    };
    ElementReader::from_path(pbf)
        .unwrap()
        .for_each(|el| match el {
            Element::Node(n) => {
                if let Some(mut s) = tags_of(n.tags().collect()) {
                    s.point = (n.lat(), n.lon());
                    out.push(s);
                }
            }
            Element::DenseNode(n) => {
                if let Some(mut s) = tags_of(n.tags().collect()) {
                    s.point = (n.lat(), n.lon());
                    out.push(s);
                }
            }
            Element::Way(w) => {
                if let Some(s) = tags_of(w.tags().collect()) {
                    ways.push((s, w.refs().collect()));
                }
            }
            _ => {}
        })
        .unwrap();
    let wanted: std::collections::HashSet<i64> =
        ways.iter().flat_map(|(_, r)| r.iter().copied()).collect();
    let mut coords: HashMap<i64, (f64, f64)> = HashMap::new();
    ElementReader::from_path(pbf)
        .unwrap()
        .for_each(|el| {
            let (id, p) = match el {
                Element::Node(n) => (n.id(), (n.lat(), n.lon())),
                Element::DenseNode(n) => (n.id(), (n.lat(), n.lon())),
                _ => return,
            };
            if wanted.contains(&id) {
                coords.insert(id, p);
            }
        })
        .unwrap();
    for (mut s, refs) in ways {
        // A closed ring repeats its first node: count it once.
        let ring = if refs.len() > 1 && refs.first() == refs.last() {
            &refs[1..]
        } else {
            &refs[..]
        };
        let pts: Vec<(f64, f64)> = ring.iter().filter_map(|r| coords.get(r)).copied().collect();
        if pts.is_empty() {
            continue;
        }
        let n = pts.len() as f64;
        s.point = pts
            .iter()
            .fold((0.0, 0.0), |a, p| (a.0 + p.0 / n, a.1 + p.1 / n));
        out.push(s);
    }
    out
}

/// Addresses whose street and number name one place: the same pair more than 50 m apart
/// elsewhere (two towns' main streets) is ambiguous without a town, and left out.
pub(crate) fn unambiguous(all: Vec<Sample>) -> Vec<Sample> {
    let key = |s: &Sample| (s.street.to_lowercase(), s.housenumber.to_lowercase());
    let mut groups: HashMap<(String, String), Vec<Sample>> = HashMap::new();
    for s in all {
        groups.entry(key(&s)).or_default().push(s);
    }
    let mut out: Vec<Sample> = groups
        .into_values()
        .filter(|g| g.iter().all(|s| haversine(s.point, g[0].point) <= 50.0))
        .map(|mut g| g.swap_remove(0))
        .collect();
    out.sort_by(|a, b| (&a.street, &a.housenumber).cmp(&(&b.street, &b.housenumber)));
    out
}

pub(crate) fn haversine(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, la2) = (a.0.to_radians(), b.0.to_radians());
    let (dla, dlo) = ((b.0 - a.0).to_radians(), (b.1 - a.1).to_radians());
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * h.sqrt().asin()
}

/// Accents dropped the way a hurried typist drops them (independent of the library's folding).
fn strip_accents(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' | 'å' => "a".to_string(),
            'Á' | 'À' | 'Â' | 'Ã' | 'Ä' | 'Å' => "A".to_string(),
            'é' | 'è' | 'ê' | 'ë' => "e".to_string(),
            'É' | 'È' | 'Ê' => "E".to_string(),
            'í' | 'ì' | 'î' | 'ï' => "i".to_string(),
            'Í' => "I".to_string(),
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => "o".to_string(),
            'Ó' | 'Ö' => "O".to_string(),
            'ú' | 'ù' | 'û' | 'ü' => "u".to_string(),
            'Ú' | 'Ü' => "U".to_string(),
            'ç' => "c".to_string(),
            'ñ' => "n".to_string(),
            'ß' => "ss".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// One typo in a random word of five or more letters: a swap, a deletion, a doubled or a
/// replaced letter.
fn typo(text: &str, rng: &mut StdRng) -> String {
    let mut words: Vec<Vec<char>> = text.split(' ').map(|w| w.chars().collect()).collect();
    let long: Vec<usize> = (0..words.len())
        .filter(|&i| words[i].len() >= 5 && words[i].iter().all(|c| c.is_alphabetic()))
        .collect();
    if long.is_empty() {
        return text.to_string();
    }
    let w = &mut words[long[rng.random_range(0..long.len())]];
    // Not the first letter: people rarely get that one wrong.
    let i = rng.random_range(1..w.len() - 1);
    match rng.random_range(0..4) {
        0 => w.swap(i, i + 1),
        1 => {
            w.remove(i);
        }
        2 => {
            let c = w[i];
            w.insert(i, c);
        }
        _ => w[i] = if w[i] == 'e' { 'a' } else { 'e' },
    }
    words
        .iter()
        .map(|w| w.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// How a person might type an address: either order, city sometimes, abbreviations, case and
/// accents as they come, a typo in most queries, never the postcode.
fn as_typed(s: &Sample, rng: &mut StdRng) -> String {
    let mut street = s.street.clone();
    if rng.random_bool(0.3) {
        for (long, short) in [
            ("straße", "str."),
            ("Straße", "Str."),
            ("Rua ", "R. "),
            ("Avenida ", "Av. "),
        ] {
            street = street.replacen(long, short, 1);
        }
    }
    let mut q = if rng.random_bool(0.5) {
        format!("{street} {}", s.housenumber)
    } else {
        format!("{} {street}", s.housenumber)
    };
    if !s.city.is_empty() && rng.random_bool(0.3) {
        q = format!("{q}, {}", s.city);
    }
    if rng.random_bool(0.5) {
        q = strip_accents(&q);
    }
    if rng.random_bool(0.4) {
        q = q.to_lowercase();
    }
    if rng.random_bool(0.6) {
        q = typo(&q, rng);
    }
    q
}

/// A server on an ephemeral port over `name`'s graph (with its places index).
async fn serve(name: &str) -> SocketAddr {
    let router = router(name);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on(router, listener, Limits::default(), None));
    addr
}

pub(crate) fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn lat_lon(v: &Value) -> (f64, f64) {
    (
        v["lat"].as_str().unwrap().parse().unwrap(),
        v["lon"].as_str().unwrap().parse().unwrap(),
    )
}

fn same_street(a: &str, b: &str) -> bool {
    strip_accents(a).to_lowercase() == strip_accents(b).to_lowercase()
}

/// Queries every sample as typed; returns (rank-1 share, top-5 share, reverse share).
async fn measure(name: &str, samples: &[Sample], seed: u64) -> (f64, f64, f64) {
    let addr = serve(name).await;
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut first, mut top5, mut reverse) = (0usize, 0usize, 0usize);
    let mut misses = Vec::new();
    for s in samples {
        let q = as_typed(s, &mut rng);
        let (status, body) = get(
            addr,
            &format!("/search?q={}&format=jsonv2&limit=5", encode(&q)),
        )
        .await;
        assert_eq!(status, 200, "{q}: {body}");
        let hits = body.as_array().unwrap();
        let near: Vec<bool> = hits
            .iter()
            .map(|h| haversine(lat_lon(h), s.point) <= 50.0)
            .collect();
        if near.first() == Some(&true) {
            first += 1;
        } else {
            misses.push(format!(
                "{q:?} -> {}",
                hits.first()
                    .map_or("nothing".into(), |h| h["display_name"].to_string())
            ));
        }
        if near.iter().any(|&n| n) {
            top5 += 1;
        }
        let (status, body) = get(
            addr,
            &format!("/reverse?lat={}&lon={}&format=jsonv2", s.point.0, s.point.1),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        if body["address"]["road"]
            .as_str()
            .is_some_and(|r| same_street(r, &s.street))
        {
            reverse += 1;
        }
    }
    let n = samples.len() as f64;
    let shares = (first as f64 / n, top5 as f64 / n, reverse as f64 / n);
    eprintln!(
        "{name}: {} addresses: rank 1 within 50 m {:.1}%, top 5 {:.1}%, reverse same street {:.1}%",
        samples.len(),
        100.0 * shares.0,
        100.0 * shares.1,
        100.0 * shares.2
    );
    for m in misses.iter().take(15) {
        eprintln!("  missed {m}");
    }
    shares
}

fn sample(name: &str, count: usize, seed: u64) -> Vec<Sample> {
    let mut all = unambiguous(addresses_in(&extract(name)));
    let mut rng = StdRng::seed_from_u64(seed);
    // A deterministic shuffle, then the first `count`.
    for i in (1..all.len()).rev() {
        all.swap(i, rng.random_range(0..=i));
    }
    all.truncate(count);
    all
}

fn check(shares: (f64, f64, f64)) {
    assert!(shares.0 >= 0.90, "rank 1 within 50 m: {:.3}", shares.0);
    assert!(shares.1 >= 0.97, "top 5 within 50 m: {:.3}", shares.1);
    assert!(shares.2 >= 0.95, "reverse same street: {:.3}", shares.2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn munchen_addresses_as_typed() {
    let name = "small/munchen-centre-2020-07";
    let samples = sample(name, 250, 13);
    assert!(samples.len() >= 200, "{} samples", samples.len());
    check(measure(name, &samples, 1301).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helsinki_addresses_as_typed() {
    let name = "small/helsinki-centre-2019-04";
    let samples = sample(name, 250, 14);
    assert!(samples.len() >= 200, "{} samples", samples.len());
    check(measure(name, &samples, 1401).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn porto_addresses_and_streets_as_typed() {
    let name = "medium/porto-2015-06";
    // The graph import's strongly-connected-component pass recurses deeply on Porto's graph in
    // a debug build: import on a thread with room for it (later calls find it cached).
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || graph_dir(name))
        .unwrap()
        .join()
        .unwrap();
    // All of Porto's addresses (the extract has 65).
    let samples = sample(name, usize::MAX, 15);
    assert!(samples.len() >= 50, "{} samples", samples.len());
    check(measure(name, &samples, 1501).await);

    // Named streets: a way's name typed with a typo, no accents half the time, and the user's
    // position (a phone's) within 1 km, since one name is a street in many parishes.
    let mut ways: Vec<(String, (f64, f64), Vec<i64>)> = Vec::new();
    let pbf = extract(name);
    ElementReader::from_path(&pbf)
        .unwrap()
        .for_each(|el| {
            if let Element::Way(w) = el {
                let tags: Vec<(&str, &str)> = w.tags().collect();
                let get = |k: &str| tags.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
                if let (Some(n), Some(h)) = (get("name"), get("highway")) {
                    if [
                        "residential",
                        "primary",
                        "secondary",
                        "tertiary",
                        "unclassified",
                    ]
                    .contains(&h)
                    {
                        ways.push((n.to_string(), (0.0, 0.0), w.refs().collect()));
                    }
                }
            }
        })
        .unwrap();
    let mut rng = StdRng::seed_from_u64(16);
    for i in (1..ways.len()).rev() {
        ways.swap(i, rng.random_range(0..=i));
    }
    ways.truncate(300);
    let wanted: std::collections::HashSet<i64> =
        ways.iter().flat_map(|w| w.2.iter().copied()).collect();
    let mut coords: HashMap<i64, (f64, f64)> = HashMap::new();
    ElementReader::from_path(&pbf)
        .unwrap()
        .for_each(|el| {
            if let Element::DenseNode(n) = el {
                if wanted.contains(&n.id()) {
                    coords.insert(n.id(), (n.lat(), n.lon()));
                }
            }
        })
        .unwrap();
    let addr = serve(name).await;
    let (mut first, mut top5, mut reverse) = (0usize, 0usize, 0usize);
    for (street, _, refs) in &ways {
        // The middle of the way's middle segment stands for it (never a junction, where the
        // cross street is as near).
        let k = (refs.len() / 2).max(1);
        let (a, b) = (coords[&refs[k - 1]], coords[&refs[k.min(refs.len() - 1)]]);
        let mid = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
        let bearing = rng.random_range(0.0..std::f64::consts::TAU);
        let dist = rng.random_range(0.0..1000.0);
        let focus = (
            mid.0 + dist * bearing.cos() / 111_195.0,
            mid.1 + dist * bearing.sin() / (111_195.0 * mid.0.to_radians().cos()),
        );
        let mut q = street.clone();
        if rng.random_bool(0.5) {
            q = strip_accents(&q);
        }
        if rng.random_bool(0.6) {
            q = typo(&q, &mut rng);
        }
        let (status, body) = get(
            addr,
            &format!(
                "/search?q={}&lat={}&lon={}&limit=5",
                encode(&q),
                focus.0,
                focus.1
            ),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        // A hit is right when it is that street and its box reaches within 50 m of the way.
        let right: Vec<bool> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let b: Vec<f64> = h["boundingbox"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().parse().unwrap())
                    .collect();
                let nearest = (mid.0.clamp(b[0], b[1]), mid.1.clamp(b[2], b[3]));
                same_street(h["name"].as_str().unwrap(), street) && haversine(nearest, mid) <= 50.0
            })
            .collect();
        first += usize::from(right.first() == Some(&true));
        top5 += usize::from(right.iter().any(|&r| r));
        let (_, body) = get(
            addr,
            &format!("/reverse?lat={}&lon={}&zoom=17", mid.0, mid.1),
        )
        .await;
        reverse += usize::from(
            body["address"]["road"]
                .as_str()
                .is_some_and(|r| same_street(r, street)),
        );
    }
    let n = ways.len() as f64;
    let shares = (first as f64 / n, top5 as f64 / n, reverse as f64 / n);
    eprintln!(
        "{name}: {} streets: rank 1 {:.1}%, top 5 {:.1}%, reverse same street {:.1}%",
        ways.len(),
        100.0 * shares.0,
        100.0 * shares.1,
        100.0 * shares.2
    );
    check(shares);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nominatim_shapes_and_bad_parameters() {
    let name = "small/munchen-centre-2020-07";
    let addr = serve(name).await;
    let s = &sample(name, 1, 21)[0];
    let q = encode(&format!("{} {}", s.street, s.housenumber));

    let (status, v2) = get(addr, &format!("/search?q={q}&addressdetails=1")).await;
    assert_eq!(status, 200);
    let hit = &v2[0];
    for key in [
        "place_id",
        "licence",
        "osm_type",
        "osm_id",
        "lat",
        "lon",
        "category",
        "type",
        "place_rank",
        "importance",
        "addresstype",
        "name",
        "display_name",
        "boundingbox",
    ] {
        assert!(hit.get(key).is_some(), "jsonv2 lacks {key}: {hit}");
    }
    assert!(haversine(lat_lon(hit), s.point) <= 50.0, "{hit}");
    assert!(same_street(
        hit["address"]["road"].as_str().unwrap(),
        &s.street
    ));
    assert_eq!(
        hit["address"]["house_number"].as_str().unwrap(),
        s.housenumber
    );
    assert_eq!(hit["boundingbox"].as_array().unwrap().len(), 4);
    assert!(hit["display_name"].as_str().unwrap().contains(&s.street));

    let (_, json) = get(addr, &format!("/search?q={q}&format=json&limit=1")).await;
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert!(json[0].get("class").is_some() && json[0].get("category").is_none());
    assert!(
        json[0].get("address").is_none(),
        "addressdetails defaults to 0"
    );

    let (_, gj) = get(addr, &format!("/search?q={q}&format=geojson&limit=2")).await;
    assert_eq!(gj["type"], "FeatureCollection");
    let f = &gj["features"][0];
    assert_eq!(f["type"], "Feature");
    assert_eq!(f["geometry"]["type"], "Point");
    let c = f["geometry"]["coordinates"].as_array().unwrap();
    let (lat, lon) = lat_lon(&v2[0]);
    assert!(
        (c[0].as_f64().unwrap() - lon).abs() < 1e-6 && (c[1].as_f64().unwrap() - lat).abs() < 1e-6
    );
    assert_eq!(f["properties"]["place_id"], v2[0]["place_id"]);

    // Reverse: one object, with the address by default.
    let (status, r) = get(
        addr,
        &format!("/reverse?lat={}&lon={}", s.point.0, s.point.1),
    )
    .await;
    assert_eq!(status, 200);
    assert!(r.is_object() && same_street(r["address"]["road"].as_str().unwrap(), &s.street));
    let (_, rg) = get(
        addr,
        &format!(
            "/reverse?lat={}&lon={}&format=geojson",
            s.point.0, s.point.1
        ),
    )
    .await;
    assert_eq!(rg["features"].as_array().unwrap().len(), 1);
    // Far from any data: Nominatim's "Unable to geocode".
    let (status, none) = get(addr, "/reverse?lat=-45&lon=100").await;
    assert_eq!(
        (status, none["error"].as_str()),
        (200, Some("Unable to geocode"))
    );

    let long_query = format!("/search?q={}", "rua+".repeat(200));
    for (url, needle) in [
        ("/search", "'q' missing"),
        ("/search?q=", "empty"),
        ("/search?q=a&limit=0", "limit"),
        ("/search?q=a&limit=x", "limit"),
        ("/search?q=a&limit=41", "limit"),
        ("/search?q=a&format=xml", "not supported"),
        ("/search?q=a&format=yaml", "unknown format"),
        ("/search?q=a&lat=41", "'lon' missing"),
        ("/search?q=a&lat=91&lon=0", "lat must be between"),
        ("/search?q=a&lat=x&lon=0", "lat must be a number"),
        ("/search?q=a&lat=NaN&lon=0", "lat must be between"),
        ("/search?q=a&frobnicate=1", "unknown parameter 'frobnicate'"),
        ("/search?q=a&q=b", "twice"),
        ("/search?q=%zz", "percent"),
        (long_query.as_str(), "longer than 512"),
        ("/search?q=a&addressdetails=2", "addressdetails"),
        ("/search?q=a&bounded=1", "viewbox"),
        ("/search?q=a&viewbox=1,2,3", "viewbox"),
        ("/search?q=a&street=b", "cannot be combined"),
        ("/reverse", "'lat' missing"),
        ("/reverse?lat=41.1", "'lon' missing"),
        ("/reverse?lat=41.1&lon=200", "lon must be between"),
        ("/reverse?lat=41.1&lon=-8.6&zoom=19", "zoom"),
        ("/reverse?lat=41.1&lon=-8.6&q=x", "unknown parameter 'q'"),
    ] {
        let (status, body) = get(addr, url).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(body["code"], "InvalidQuery", "{url}: {body}");
        assert_eq!(body["error"]["code"], 400, "{url}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(needle), "{url}: {message}");
    }
    // Accepted Nominatim parameters that change nothing here.
    let (status, _) = get(
        addr,
        &format!("/search?q={q}&accept-language=de&email=a%40b.c&polygon_geojson=1&dedupe=1"),
    )
    .await;
    assert_eq!(status, 200);
    // Structured search.
    let (status, st) = get(
        addr,
        &format!(
            "/search?street={}&limit=1",
            encode(&format!("{} {}", s.housenumber, s.street))
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert!(haversine(lat_lon(&st[0]), s.point) <= 50.0, "{st}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_without_an_index_says_so() {
    // A copy of a graph directory without its places index (a graph of an older import).
    let src = graph_dir("small/liechtenstein-2015-07");
    let dir = scratch_dir("no-places");
    copy_dir(&src, &dir);
    std::fs::remove_file(dir.join(meridian::places::FILE_NAME)).unwrap();
    let store = meridian::graph::GraphStore::open(&dir).unwrap();
    let router = std::sync::Arc::new(meridian::route::Router::new(std::sync::Arc::new(store)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on(router, listener, Limits::default(), None));
    for url in ["/search?q=Vaduz", "/reverse?lat=47.14&lon=9.52"] {
        let (status, body) = get(addr, url).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["code"], "NotImplemented");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("no places index"),
            "{body}"
        );
    }
    // Routes still work.
    let (status, _) = get(addr, "/route/v1/driving/9.5215,47.1410;9.5095,47.1660").await;
    assert_eq!(status, 200);
    // A damaged index is refused at load with the same kind of answer, not a panic.
    std::fs::write(dir.join(meridian::places::FILE_NAME), b"not an index").unwrap();
    let store = meridian::graph::GraphStore::open(&dir).unwrap();
    let router = std::sync::Arc::new(meridian::route::Router::new(std::sync::Arc::new(store)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on(router, listener, Limits::default(), None));
    let (status, body) = get(addr, "/search?q=Vaduz").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("NotImplemented"))
    );
    assert!(
        body["message"].as_str().unwrap().contains("unusable"),
        "{body}"
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The Python that has geopy: `MERIDIAN_PYTHON` (set by `.ci/run`) or `python3`.
fn python_with_geopy() -> Option<String> {
    let python = std::env::var("MERIDIAN_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import geopy"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    if std::env::var("MERIDIAN_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!("geopy is not importable by {python} and MERIDIAN_REQUIRE_TOOLS=1");
    }
    eprintln!("SKIPPED geopy test: {python} cannot import geopy (pip install geopy=={GEOPY})");
    None
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geopy_nominatim_against_meridian_serve() {
    let Some(python) = python_with_geopy() else {
        return;
    };
    let name = "small/munchen-centre-2020-07";
    let samples = sample(name, 5, 31);
    let port = free_port();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_meridian"))
            .args(["serve", "--graph"])
            .arg(graph_dir(name))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .spawn()
            .expect("start meridian serve"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/health")).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let queries: Vec<String> = samples
        .iter()
        .map(|s| format!("{} {}", s.street, s.housenumber))
        .collect();
    let points: Vec<[f64; 2]> = samples.iter().map(|s| [s.point.0, s.point.1]).collect();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/geopy_nominatim.py"
    );
    let out = tokio::task::spawn_blocking({
        let domain = format!("127.0.0.1:{port}");
        let queries = serde_json::to_string(&queries).unwrap();
        let points = serde_json::to_string(&points).unwrap();
        move || {
            Command::new(python)
                .args([script, &domain, &queries, &points])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "geopy failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(got["version"], GEOPY);
    for (i, s) in samples.iter().enumerate() {
        let loc = &got["geocode"][i];
        let p = (
            loc["latitude"].as_f64().unwrap(),
            loc["longitude"].as_f64().unwrap(),
        );
        assert!(haversine(p, s.point) <= 50.0, "{}: {loc}", queries[i]);
        // geopy's Location is the server's own first answer.
        let (_, own) = get(
            format!("127.0.0.1:{port}").parse().unwrap(),
            &format!("/search?q={}&format=json&limit=1", encode(&queries[i])),
        )
        .await;
        assert_eq!(loc["raw"]["place_id"], own[0]["place_id"]);
        assert_eq!(loc["address"], own[0]["display_name"]);
        let rev = &got["reverse"][i];
        assert!(
            same_street(rev["raw"]["address"]["road"].as_str().unwrap(), &s.street),
            "{rev}"
        );
    }
    let many = got["geocode_many"].as_array().unwrap();
    assert!(!many.is_empty() && many.len() <= 3, "{many:?}");
    eprintln!("geopy {}: {}", got["version"], got["geocode"][0]["address"]);
}

/// Two addresses of `name`'s PBF (read here, not from the index), typed "street number", that
/// routing by address can be checked on: the places index finds each at rank 1 within 50 m of
/// its tagged position, a car road passes within 30 m (so a route's end lies near the house),
/// the two are `min_m..max_m` apart and `inside` (a bundle's area, say) holds both. Seeded:
/// the same pair every run. Returns the typed texts with their tagged `(lat, lon)`.
pub(crate) fn address_pair(
    name: &str,
    seed: u64,
    min_m: f64,
    max_m: f64,
    inside: impl Fn((f64, f64)) -> bool,
) -> [(String, (f64, f64)); 2] {
    use meridian::spatial::LatLon;
    let index = meridian::places::PlacesIndex::open_in(&graph_dir(name))
        .unwrap()
        .expect("a places index");
    let r = router(name);
    let mut all = unambiguous(addresses_in(&extract(name)));
    let mut rng = StdRng::seed_from_u64(seed);
    for i in (1..all.len()).rev() {
        all.swap(i, rng.random_range(0..=i));
    }
    let usable = all.into_iter().filter(|s| inside(s.point)).filter_map(|s| {
        let text = format!("{} {}", s.street, s.housenumber);
        let hit = index
            .search(&meridian::places::Query {
                text: &text,
                focus: None,
                limit: 1,
            })
            .first()
            .map(|h| index.entry(h.entry).point())?;
        let near_road = r
            .snap(LatLon::new(s.point.0, s.point.1))
            .unwrap()
            .is_some_and(|snap| snap.distance_m < 30.0);
        (haversine(hit, s.point) < 50.0 && near_road).then_some((text, s.point))
    });
    let mut seen: Vec<(String, (f64, f64))> = Vec::new();
    for a in usable.take(400) {
        if let Some(b) = seen.iter().find(|b| {
            let d = haversine(a.1, b.1);
            (min_m..max_m).contains(&d)
        }) {
            return [b.clone(), a];
        }
        seen.push(a);
    }
    panic!("no two findable addresses {min_m}..{max_m} m apart in {name}");
}
