//! `/match/v1` over real HTTP on real extracts: GPS traces made from real routes (the A*'s
//! path, sampled every 1–10 s by its own drive times, with seeded Gaussian noise of σ 5, 10 or
//! 15 m), matched by the server, and each matched trace point's road read back from its `hint`
//! and compared with the edge the vehicle was on. Also the answer's shape, gaps, tidy, and
//! OSRM's error codes.

use crate::common::{get, graph_dir_deep, junctions, router};
use meridian::graph::EdgeId;
use meridian::route::{cut_shape, hint, Router};
use meridian::server::{serve_on, Limits, ServerOptions};
use meridian::spatial::geometry::project_onto_segment;
use meridian::spatial::LatLon;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

const LIECHTENSTEIN: &str = "small/liechtenstein-2015-07";
const PORTO: &str = "medium/porto-2015-06";

/// One sample of a trace: the noisy fix, its time, and where the vehicle really was.
struct Sample {
    fix: LatLon,
    time_s: u64,
    edge: EdgeId,
    /// Metres from the vehicle to the nearer end of its edge.
    end_gap_m: f64,
}

struct Trace {
    samples: Vec<Sample>,
    sigma_m: f64,
    interval_s: u64,
}

fn gaussian(rng: &mut StdRng) -> f64 {
    let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// A trace along the fastest route between two random junctions 0.7–3 km apart, at most 100
/// samples; `None` if the pair gives too short a route.
fn make_trace(
    router: &Router,
    nodes: &[LatLon],
    rng: &mut StdRng,
    sigma_m: f64,
    interval_s: u64,
) -> Option<Trace> {
    let a = nodes[rng.random_range(0..nodes.len())];
    let b = nodes[rng.random_range(0..nodes.len())];
    if !(700.0..3000.0).contains(&a.haversine_m(b)) {
        return None;
    }
    let (_, paths) = router.route_with_paths(&[a, b], false).ok()?;
    let edges = &paths[0].edges;
    let mut samples = Vec::new();
    let (mut clock, mut t) = (0.0, 0u64);
    for pe in edges {
        clock += pe.turn_s;
        let (start, end) = (clock, clock + pe.drive_s);
        while (t as f64) <= end && samples.len() < 100 {
            // During the turn onto the edge the vehicle is at its start.
            let share = if pe.drive_s > 0.0 {
                (t as f64 - start) / pe.drive_s
            } else {
                0.0
            };
            let along = pe.from_m + (pe.to_m - pe.from_m) * share.clamp(0.0, 1.0);
            let tile = router.store.tile(pe.edge.tile).unwrap();
            let shape: Vec<LatLon> = tile.shape(tile.edge(pe.edge.local)).collect();
            let on_road = cut_shape(&shape, along, along)[0];
            let (east, north) = (gaussian(rng) * sigma_m, gaussian(rng) * sigma_m);
            let fix = LatLon::new(
                on_road.lat + north / 111_320.0,
                on_road.lon + east / (111_320.0 * on_road.lat.to_radians().cos()),
            );
            samples.push(Sample {
                fix,
                time_s: t,
                edge: pe.edge,
                end_gap_m: along.min(tile.edge(pe.edge.local).length_m() as f64 - along),
            });
            t += interval_s;
        }
        clock = end;
    }
    (samples.len() >= 10).then_some(Trace {
        samples,
        sigma_m,
        interval_s,
    })
}

async fn start(router: Arc<Router>, limits: Limits) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on(
        router,
        listener,
        ServerOptions::from(limits),
        None,
    ));
    addr
}

fn coords(points: impl Iterator<Item = LatLon>) -> String {
    points
        .map(|p| format!("{:.6},{:.6}", p.lon, p.lat))
        .collect::<Vec<_>>()
        .join(";")
}

fn match_path(trace: &Trace, extra: &str) -> String {
    let n = trace.samples.len();
    let times: Vec<String> = trace.samples.iter().map(|s| s.time_s.to_string()).collect();
    let radiuses = vec![format!("{}", trace.sigma_m); n].join(";");
    format!(
        "/match/v1/driving/{}?timestamps={}&radiuses={radiuses}&overview=false{extra}",
        coords(trace.samples.iter().map(|s| s.fix)),
        times.join(";")
    )
}

/// Checks the shape of a match answer for `n` trace points; returns the matched tracepoints'
/// (index, hint).
fn check_answer(body: &Value, n: usize) -> Vec<(usize, String)> {
    assert_eq!(body["code"], "Ok", "{body}");
    let matchings = body["matchings"].as_array().unwrap();
    let tracepoints = body["tracepoints"].as_array().unwrap();
    assert_eq!(tracepoints.len(), n);
    let mut per_matching = vec![Vec::new(); matchings.len()];
    let mut out = Vec::new();
    for (i, tp) in tracepoints.iter().enumerate() {
        if tp.is_null() {
            continue;
        }
        let m = tp["matchings_index"].as_u64().unwrap() as usize;
        per_matching[m].push(tp["waypoint_index"].as_u64().unwrap() as usize);
        assert!(tp["alternatives_count"].as_u64().is_some());
        assert!(tp["location"].is_array() && tp["distance"].is_number());
        out.push((i, tp["hint"].as_str().unwrap().to_string()));
    }
    for (m, wps) in per_matching.iter().enumerate() {
        // Waypoints of a matching are numbered in trace order, one leg between neighbours.
        assert_eq!(*wps, (0..wps.len()).collect::<Vec<_>>(), "{body}");
        let legs = matchings[m]["legs"].as_array().unwrap();
        assert_eq!(legs.len() + 1, wps.len());
        let c = matchings[m]["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&c));
        let total: f64 = legs.iter().map(|l| l["distance"].as_f64().unwrap()).sum();
        assert!(
            (matchings[m]["distance"].as_f64().unwrap() - total).abs()
                < 0.1 * legs.len() as f64 + 0.1
        );
    }
    out
}

#[derive(Default, Clone, Copy)]
struct Tally {
    points: usize,
    matched: usize,
    right_edge: usize,
    right_road: usize,
    /// Wrong edges where the vehicle was within σ of a junction.
    wrong_near_junction: usize,
    /// Matched location within a metre of the vehicle's road (the measure OSRM's answers,
    /// which name no edge, can be judged by too).
    on_road: usize,
    /// The same trace through osrm-routed, when one is given (see [`osrm_url`]).
    osrm_points: usize,
    osrm_matched: usize,
    osrm_on_road: usize,
}

/// The osrm-routed serving `name`'s extract, from `OSRM_URL_<FILE STEM>` (e.g.
/// `OSRM_URL_PORTO_2015_06=http://127.0.0.1:5100`): the same traces are then also sent there
/// and OSRM's shares printed next to ours.
fn osrm_url(name: &str) -> Option<String> {
    let stem = name
        .rsplit('/')
        .next()?
        .replace('-', "_")
        .to_ascii_uppercase();
    std::env::var(format!("OSRM_URL_{stem}")).ok()
}

/// Whether `location` lies within a metre of the road of `edge` (its shape, either direction).
fn on_road(router: &Router, edge: EdgeId, location: &Value) -> bool {
    let (Some(lon), Some(lat)) = (location[0].as_f64(), location[1].as_f64()) else {
        return false;
    };
    let p = LatLon::new(lat, lon);
    let tile = router.store.tile(edge.tile).unwrap();
    let shape: Vec<LatLon> = tile.shape(tile.edge(edge.local)).collect();
    shape
        .windows(2)
        .any(|w| project_onto_segment(p, w[0], w[1]).distance_m <= 1.0)
}

impl Tally {
    fn share(&self) -> f64 {
        self.right_edge as f64 / self.points.max(1) as f64
    }
}

/// Matches `count` traces of `name` through the server; tallies per (σ, sampling class).
async fn measure(name: &str, seed: u64, count: usize) -> BTreeMap<(u32, &'static str), Tally> {
    graph_dir_deep(name);
    let router = router(name);
    let addr = start(router.clone(), Limits::default()).await;
    let nodes = junctions(&router);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tallies: BTreeMap<(u32, &'static str), Tally> = BTreeMap::new();
    let mut made = 0;
    while made < count {
        let sigma = [5.0, 10.0, 15.0][made % 3];
        let interval = rng.random_range(1..=10u64);
        let Some(trace) = make_trace(&router, &nodes, &mut rng, sigma, interval) else {
            continue;
        };
        made += 1;
        let (status, body) = get(addr, &match_path(&trace, "")).await;
        assert_eq!(status, 200, "{body}");
        let matched = check_answer(&body, trace.samples.len());
        let class = if trace.interval_s <= 3 {
            "1-3 s"
        } else {
            "4-10 s"
        };
        let tally = tallies.entry((sigma as u32, class)).or_default();
        tally.points += trace.samples.len();
        for (tp, sample) in body["tracepoints"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&trace.samples)
        {
            tally.on_road +=
                usize::from(!tp.is_null() && on_road(&router, sample.edge, &tp["location"]));
        }
        if let Some(url) = osrm_url(name) {
            let resp = reqwest::get(format!("{url}{}", match_path(&trace, "")))
                .await
                .unwrap();
            let osrm: Value = resp.json().await.unwrap();
            tally.osrm_points += trace.samples.len();
            if osrm["code"] == "Ok" {
                for (tp, sample) in osrm["tracepoints"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(&trace.samples)
                {
                    tally.osrm_matched += usize::from(!tp.is_null());
                    tally.osrm_on_road += usize::from(
                        !tp.is_null() && on_road(&router, sample.edge, &tp["location"]),
                    );
                }
            }
        }
        for (i, h) in matched {
            tally.matched += 1;
            let snap = hint::decode(&router.store, &h, trace.samples[i].fix, 1e6)
                .expect("the server's hint decodes");
            let truth = trace.samples[i].edge;
            let twin = router
                .store
                .tile(truth.tile)
                .unwrap()
                .edge(truth.local)
                .twin();
            tally.right_edge += usize::from(snap.edge == truth);
            tally.wrong_near_junction +=
                usize::from(snap.edge != truth && trace.samples[i].end_gap_m < sigma);
            tally.right_road += usize::from(snap.edge == truth || Some(snap.edge) == twin);
        }
    }
    for ((sigma, class), t) in &tallies {
        eprintln!(
            "{name} σ {sigma} m, sampling {class}: {} points, matched {:.1}%, right directed edge {:.1}%, right road {:.1}%, wrong within σ of a junction {:.1}%",
            t.points,
            100.0 * t.matched as f64 / t.points as f64,
            100.0 * t.share(),
            100.0 * t.right_road as f64 / t.points as f64,
            100.0 * t.wrong_near_junction as f64 / t.points as f64
        );
        let pct = |x: usize, of: usize| 100.0 * x as f64 / of.max(1) as f64;
        eprintln!(
            "    on the right road by location: Meridian {:.1}%{}",
            pct(t.on_road, t.points),
            if t.osrm_points > 0 {
                format!(
                    ", OSRM {:.1}% (OSRM matched {:.1}%)",
                    pct(t.osrm_on_road, t.osrm_points),
                    pct(t.osrm_matched, t.osrm_points)
                )
            } else {
                String::new()
            }
        );
    }
    tallies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noisy_traces_of_real_routes_match_their_edges() {
    let mut all = Tally::default();
    for (name, seed, count) in [(LIECHTENSTEIN, 5, 54), (PORTO, 6, 54)] {
        let tallies = measure(name, seed, count).await;
        for ((sigma, class), t) in &tallies {
            // Thresholds below the shares measured on 2026-12-04 (bench/RESULTS.md).
            let floor = match sigma {
                5 => 0.86,
                10 => 0.82,
                _ => 0.75,
            };
            assert!(
                t.share() >= floor,
                "{name} σ {sigma} m {class}: right edge {:.1}% < {:.0}%",
                100.0 * t.share(),
                100.0 * floor
            );
            all.points += t.points;
            all.right_edge += t.right_edge;
            all.wrong_near_junction += t.wrong_near_junction;
            all.on_road += t.on_road;
            all.osrm_points += t.osrm_points;
            all.osrm_on_road += t.osrm_on_road;
        }
    }
    assert!(
        all.share() >= 0.84,
        "right edge {:.1}% overall",
        100.0 * all.share()
    );
    eprintln!(
        "all: {} points, right directed edge {:.1}%, wrong within σ of a junction {:.1}%, on the right road by location {:.1}% (OSRM {:.1}% of {} points)",
        all.points,
        100.0 * all.share(),
        100.0 * all.wrong_near_junction as f64 / all.points as f64,
        100.0 * all.on_road as f64 / all.points as f64,
        100.0 * all.osrm_on_road as f64 / all.osrm_points.max(1) as f64,
        all.osrm_points
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gaps_tidy_steps_and_errors_as_osrm() {
    let router = router(LIECHTENSTEIN);
    let addr = start(
        router.clone(),
        Limits {
            max_matching_size: 60,
            ..Limits::default()
        },
    )
    .await;
    let nodes = junctions(&router);
    let mut rng = StdRng::seed_from_u64(99);
    let trace = loop {
        if let Some(t) = make_trace(&router, &nodes, &mut rng, 5.0, 2) {
            if t.samples.len() >= 20 && t.samples.len() <= 60 {
                break t;
            }
        }
    };
    let n = trace.samples.len();

    // Steps and full geometry: one matching, legs between consecutive matched points.
    let (status, body) = get(
        addr,
        &match_path(
            &trace,
            "&steps=true&geometries=geojson&annotations=distance",
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let matched = check_answer(&body, n);
    assert!(matched.len() >= n - 1, "{} of {n} matched", matched.len());
    let m = &body["matchings"][0];
    assert!(m["legs"][0]["steps"]
        .as_array()
        .is_some_and(|s| !s.is_empty()));
    assert!(m["legs"][0]["annotation"]["distance"].is_array());

    // A 10-minute hole in the timestamps halfway: split into two matchings with gaps=split,
    // one with gaps=ignore (the positions still follow the road).
    let half = n / 2;
    let shifted: Vec<String> = trace
        .samples
        .iter()
        .enumerate()
        .map(|(i, s)| (s.time_s + if i >= half { 600 } else { 0 }).to_string())
        .collect();
    let base = match_path(&trace, "");
    let (before, _) = base.split_once("?timestamps=").unwrap();
    let (_, after) = base.split_once("&radiuses=").unwrap();
    let gapped = format!("{before}?timestamps={}&radiuses={after}", shifted.join(";"));
    let (status, split) = get(addr, &gapped).await;
    assert_eq!(status, 200, "{split}");
    check_answer(&split, n);
    assert_eq!(split["matchings"].as_array().unwrap().len(), 2, "{split}");
    assert_eq!(split["tracepoints"][half]["matchings_index"], 1);
    assert_eq!(split["tracepoints"][half]["waypoint_index"], 0);
    let (_, ignored) = get(addr, &format!("{gapped}&gaps=ignore")).await;
    check_answer(&ignored, n);
    assert_eq!(ignored["matchings"].as_array().unwrap().len(), 1);

    // Tidy drops points closer than 15 m (and 5 s) to the last kept one: null tracepoints.
    let (_, tidied) = get(addr, &match_path(&trace, "&tidy=true")).await;
    check_answer(&tidied, n);
    let nulls = tidied["tracepoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t.is_null())
        .count();
    assert!(nulls > 0 && nulls < n - 2, "{nulls} of {n} tidied away");
    assert!(!tidied["tracepoints"][0].is_null() && !tidied["tracepoints"][n - 1].is_null());

    // skip_waypoints leaves out the tracepoints.
    let (_, skipped) = get(addr, &match_path(&trace, "&skip_waypoints=true")).await;
    assert!(skipped.get("tracepoints").is_none() && skipped["matchings"].is_array());

    // Errors.
    let two = coords(trace.samples[..2].iter().map(|s| s.fix));
    let far = coords([nodes[0], nodes[0]].into_iter());
    // Two points on roads kilometres apart: beyond the matcher's step bound.
    let (a, b) = nodes
        .iter()
        .flat_map(|&a| nodes.iter().step_by(97).map(move |&b| (a, b)))
        .find(|(a, b)| a.haversine_m(*b) > 8_000.0)
        .unwrap();
    let too_far = coords([a, b].into_iter());
    // Two points 1–1.8 km apart whose road distance is far longer: no transition within the
    // search bound (great-circle distance plus a slack of 3σ per point and 12 β).
    let (a, b) = nodes
        .iter()
        .step_by(13)
        .flat_map(|&a| nodes.iter().step_by(89).map(move |&b| (a, b)))
        .filter(|(a, b)| (1_000.0..1_800.0).contains(&a.haversine_m(*b)))
        .find(|(a, b)| {
            router.route(&[*a, *b], false).is_ok_and(|r| {
                r.waypoints.iter().all(|w| w.distance_m < 1.0)
                    && r.route.distance_m > a.haversine_m(*b) + 1_000.0
            })
        })
        .expect("a pair with a long way round");
    let detour = coords([a, b].into_iter());
    let many = coords(std::iter::repeat_n(trace.samples[0].fix, 61));
    for (path, status, code) in [
        (
            format!("/match/v1/driving/{two}?timestamps=5;4"),
            400,
            "InvalidValue",
        ),
        (
            format!("/match/v1/driving/{two}?timestamps=1;2;3"),
            400,
            "InvalidOptions",
        ),
        (
            format!("/match/v1/driving/{two}?gaps=sometimes"),
            400,
            "InvalidQuery",
        ),
        (
            format!("/match/v1/driving/{two}?radiuses=5"),
            400,
            "InvalidOptions",
        ),
        (
            format!("/match/v1/driving/{two}?waypoints=0;1"),
            400,
            "NotImplemented",
        ),
        (format!("/match/v1/driving/{many}"), 400, "TooBig"),
        (
            "/match/v1/driving/0.5,0.5;0.6,0.6".to_string(),
            400,
            "NoSegment",
        ),
        (
            format!("/match/v1/driving/{too_far}?timestamps=0;1"),
            400,
            "NoMatch",
        ),
        (format!("/match/v1/driving/{detour}"), 400, "NoMatch"),
        (format!("/match/v1/driving/{far}"), 200, "Ok"),
        (
            format!("/match/v1/driving/{}", coords([nodes[0]].into_iter())),
            400,
            "InvalidOptions",
        ),
    ] {
        let (got, body) = get(addr, &path).await;
        assert_eq!(
            (got, body["code"].as_str().unwrap()),
            (status, code),
            "{path}: {body}"
        );
        if status != 200 {
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
}
