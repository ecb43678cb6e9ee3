//! Spoken and banner guidance on Porto: text instructions on every step, Mapbox's
//! `voiceInstructions` / `bannerInstructions` over HTTP (checked against the steps they belong
//! to and parsed by Ferrostar's OSRM response model, the published crate), and a phone driving
//! a route over the websocket that hears every announcement once, in order, before its
//! maneuver, then the new route's after a reroute.

use crate::cluster::{start_cluster_with, NodeOptions};
use crate::common::{get, graph_dir_deep, junctions, router};
use crate::ingest::{authed, next, now_ms, send, start_navigation, Ws};
use ferrostar::routing_adapters::osrm::OsrmResponseParser;
use ferrostar::routing_adapters::RouteResponseParser;
use meridian::route::instructions::announce::{spoken_distance_m, EARLY_S};
use meridian::route::{cut_shape, polyline};
use meridian::server::rate_limit::RateLimit;
use meridian::server::{serve_on, Limits};
use meridian::spatial::LatLon;
use serde_json::{json, Value};
use std::net::SocketAddr;

const PORTO: &str = "medium/porto-2015-06";
const GUIDED: &str =
    "steps=true&voice_instructions=true&banner_instructions=true&geometries=polyline6&overview=full";

async fn serve_porto() -> (SocketAddr, Vec<LatLon>) {
    graph_dir_deep(PORTO);
    let router = router(PORTO);
    let nodes = junctions(&router);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on(router, listener, Limits::default(), None));
    (addr, nodes)
}

/// Fixed pseudo-random junction pairs (a linear congruential sequence: every run asks the same).
fn pairs(nodes: &[LatLon], seed: u64, n: usize) -> Vec<(LatLon, LatLon)> {
    let mut state = seed;
    let mut pick = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        nodes[(state >> 33) as usize % nodes.len()]
    };
    (0..n).map(|_| (pick(), pick())).collect()
}

fn route_path(a: LatLon, b: LatLon, query: &str) -> String {
    format!(
        "/route/v1/driving/{},{};{},{}?{query}",
        a.lon, a.lat, b.lon, b.lat
    )
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Checks one leg's steps: text on every step, voice and banners announcing the next maneuver
/// within the step, scaled to its speed; returns how many early ("In …") announcements it saw.
fn check_leg(steps: &[Value]) -> usize {
    let mut early = 0;
    for (k, s) in steps.iter().enumerate() {
        let instruction = s["maneuver"]["instruction"].as_str().unwrap();
        assert!(!instruction.is_empty() && !instruction.contains('{'), "{s}");
        let voice = s["voiceInstructions"].as_array().unwrap();
        let banner = s["bannerInstructions"].as_array().unwrap();
        let Some(next) = steps.get(k + 1) else {
            assert_eq!(s["maneuver"]["type"], "arrive");
            assert!(
                voice.is_empty() && banner.is_empty(),
                "arrive says nothing: {s}"
            );
            continue;
        };
        let length = f(&s["distance"]);
        let speed = if f(&s["duration"]) > 0.0 {
            length / f(&s["duration"])
        } else {
            10.0
        };
        let mut last = f64::INFINITY;
        for v in voice {
            let d = f(&v["distanceAlongGeometry"]);
            let text = v["announcement"].as_str().unwrap();
            assert!(
                d <= length + 0.1 && d >= 0.0,
                "{d} m on a {length} m step: {v}"
            );
            assert!(d < last, "farthest first: {voice:?}");
            last = d;
            assert_eq!(
                v["ssmlAnnouncement"].as_str().unwrap(),
                format!(
                    "<speak>{}</speak>",
                    text.replace('&', "&amp;")
                        .replace('\'', "&apos;")
                        .replace('"', "&quot;")
                )
            );
            if text.starts_with("In ") {
                early += 1;
                // Said at the rounded distance of EARLY_S seconds at the step's speed (the
                // JSON's rounded distance and duration move the speed a little).
                let expected = spoken_distance_m(length.min(speed * EARLY_S));
                assert!(
                    (d - expected).abs() <= 0.1 * expected + 50.0,
                    "early at {d} m, {speed:.1} m/s on {length} m: {text}"
                );
            }
        }
        // The last one is the maneuver itself: the next step's own instruction.
        if let Some(v) = voice.last() {
            let next_text = next["maneuver"]["instruction"].as_str().unwrap();
            assert!(
                v["announcement"]
                    .as_str()
                    .unwrap()
                    .contains(&lower_first(next_text))
                    || v["announcement"].as_str().unwrap().starts_with(next_text),
                "final {v} vs next step {next_text}"
            );
        }
        assert_eq!(banner.len(), 1, "{s}");
        let b = &banner[0];
        assert_eq!(f(&b["distanceAlongGeometry"]), length);
        assert_eq!(b["primary"]["type"], next["maneuver"]["type"]);
        assert_eq!(b["primary"]["modifier"], next["maneuver"]["modifier"]);
        let text = b["primary"]["text"].as_str().unwrap();
        assert_eq!(b["primary"]["components"][0]["text"], text);
        let name = next["name"].as_str().unwrap();
        if !name.is_empty() {
            assert!(
                text.starts_with(name),
                "banner {text} for a step onto {name}"
            );
        }
    }
    early
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn porto_steps_carry_text_voice_and_banner_instructions() {
    let (addr, nodes) = serve_porto().await;
    let (mut routes, mut steps_seen, mut early) = (0, 0, 0);
    for (a, b) in pairs(&nodes, 7, 25) {
        let (status, body) = get(addr, &route_path(a, b, GUIDED)).await;
        if status != 200 {
            continue;
        }
        routes += 1;
        let route = &body["routes"][0];
        assert_eq!(route["voiceLocale"], "en");
        let steps = route["legs"][0]["steps"].as_array().unwrap();
        steps_seen += steps.len();
        early += check_leg(steps);
        // Without the options the steps are as before, plus the text instruction.
        if routes == 1 {
            let (_, plain) = get(addr, &route_path(a, b, "steps=true")).await;
            let plain_route = &plain["routes"][0];
            assert!(plain_route.get("voiceLocale").is_none());
            for s in plain_route["legs"][0]["steps"].as_array().unwrap() {
                assert!(
                    s.get("voiceInstructions").is_none() && s.get("bannerInstructions").is_none()
                );
                assert!(s["maneuver"]["instruction"].is_string());
            }
        }
    }
    assert!(routes >= 15, "{routes} routes");
    assert!(
        early >= routes,
        "{early} early announcements over {routes} routes"
    );
    assert!(steps_seen > 10 * routes / 2, "{steps_seen} steps");

    // Strict values, as for every boolean option.
    let (a, b) = (nodes[100], nodes[nodes.len() - 100]);
    for bad in ["voice_instructions=yes", "banner_instructions=1"] {
        let (status, body) = get(addr, &route_path(a, b, bad)).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["code"], "InvalidQuery", "{bad}");
    }
    // /trip builds its steps the same way.
    let (c, d, e) = (nodes[5000], nodes[20_000], nodes[40_000]);
    let trip = format!(
        "/trip/v1/driving/{},{};{},{};{},{}?{GUIDED}",
        c.lon, c.lat, d.lon, d.lat, e.lon, e.lat
    );
    let (status, body) = get(addr, &trip).await;
    assert_eq!(status, 200, "{body}");
    let legs = body["trips"][0]["legs"].as_array().unwrap();
    for (i, leg) in legs.iter().enumerate() {
        let steps = leg["steps"].as_array().unwrap();
        check_leg(steps);
        let last_voice = steps[steps.len() - 2]["voiceInstructions"]
            .as_array()
            .unwrap();
        let said = last_voice.last().unwrap()["announcement"].as_str().unwrap();
        if i + 1 < legs.len() {
            assert!(
                said.contains(&format!("arrived at your {}", ["1st", "2nd", "3rd"][i])),
                "{said}"
            );
        } else {
            assert!(said.contains("arrived at your destination"), "{said}");
        }
    }
}

/// Ferrostar's OSRM adapter reads our answers: every step, its instruction, its spoken and
/// visual instructions, with our distances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferrostar_parses_the_routes_with_their_spoken_and_visual_instructions() {
    let (addr, nodes) = serve_porto().await;
    let parser = OsrmResponseParser::new(6);
    let mut parsed_routes = 0;
    for (a, b) in pairs(&nodes, 99, 12) {
        let path = route_path(a, b, &format!("{GUIDED}&alternatives=1"));
        let resp = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
        if resp.status() != 200 {
            continue;
        }
        let bytes = resp.bytes().await.unwrap().to_vec();
        let ours: Value = serde_json::from_slice(&bytes).unwrap();
        let theirs = parser
            .parse_response(bytes)
            .unwrap_or_else(|e| panic!("Ferrostar refused {path}: {e:?}"));
        let our_routes = ours["routes"].as_array().unwrap();
        assert_eq!(theirs.len(), our_routes.len());
        for (route, our) in theirs.iter().zip(our_routes) {
            parsed_routes += 1;
            assert!((route.distance - f(&our["distance"])).abs() < 0.01);
            let line = polyline::decode(our["geometry"].as_str().unwrap(), 6).unwrap();
            assert_eq!(route.geometry.len(), line.len());
            let our_steps = our["legs"][0]["steps"].as_array().unwrap();
            assert_eq!(route.steps.len(), our_steps.len());
            let (mut spoken, mut banners) = (0, 0);
            for (step, s) in route.steps.iter().zip(our_steps) {
                assert!((step.distance - f(&s["distance"])).abs() < 0.01);
                assert_eq!(
                    step.instruction,
                    s["maneuver"]["instruction"].as_str().unwrap()
                );
                let name = s["name"].as_str().unwrap();
                assert_eq!(step.road_name.as_deref().unwrap_or(""), name);
                let voice = s["voiceInstructions"].as_array().unwrap();
                assert_eq!(step.spoken_instructions.len(), voice.len());
                for (si, v) in step.spoken_instructions.iter().zip(voice) {
                    assert_eq!(si.text, v["announcement"].as_str().unwrap());
                    assert_eq!(si.ssml.as_deref(), v["ssmlAnnouncement"].as_str());
                    assert_eq!(
                        si.trigger_distance_before_maneuver,
                        f(&v["distanceAlongGeometry"])
                    );
                    assert!(si.trigger_distance_before_maneuver <= step.distance + 0.1);
                    spoken += 1;
                }
                let banner = s["bannerInstructions"].as_array().unwrap();
                assert_eq!(step.visual_instructions.len(), banner.len());
                for (vi, b) in step.visual_instructions.iter().zip(banner) {
                    assert_eq!(
                        vi.primary_content.text,
                        b["primary"]["text"].as_str().unwrap()
                    );
                    assert_eq!(
                        serde_json::to_value(vi.primary_content.maneuver_type).unwrap(),
                        b["primary"]["type"]
                    );
                    assert_eq!(
                        serde_json::to_value(vi.primary_content.maneuver_modifier).unwrap(),
                        b["primary"]["modifier"]
                    );
                    assert_eq!(
                        vi.primary_content.roundabout_exit_degrees.map(u64::from),
                        b["primary"]["degrees"].as_u64()
                    );
                    assert_eq!(
                        vi.trigger_distance_before_maneuver,
                        f(&b["distanceAlongGeometry"])
                    );
                    banners += 1;
                }
            }
            assert!(
                spoken >= route.steps.len() - 1,
                "{spoken} spoken instructions"
            );
            assert_eq!(banners, route.steps.len() - 1);
        }
    }
    assert!(parsed_routes >= 8, "{parsed_routes} routes parsed");
}

/// A voice instruction of the route frame, placed along the route.
#[derive(Clone, Debug, PartialEq)]
struct Expected {
    step: usize,
    text: String,
    due_m: f64,
    maneuver_m: f64,
}

fn announcements(route_frame: &Value) -> (Vec<Expected>, Vec<LatLon>, f64) {
    let osrm = &route_frame["route"]["routes"][0];
    let steps = osrm["legs"][0]["steps"].as_array().unwrap();
    let mut out = Vec::new();
    let mut start = 0.0;
    for (k, s) in steps.iter().enumerate() {
        let maneuver_m = start + f(&s["distance"]);
        for v in s["voiceInstructions"].as_array().unwrap() {
            out.push(Expected {
                step: k,
                text: v["announcement"].as_str().unwrap().to_string(),
                due_m: maneuver_m - f(&v["distanceAlongGeometry"]),
                maneuver_m,
            });
        }
        start = maneuver_m;
    }
    out.sort_by(|a, b| a.due_m.total_cmp(&b.due_m));
    let line = polyline::decode(osrm["geometry"].as_str().unwrap(), 6).unwrap();
    (out, line, f(&osrm["distance"]))
}

/// What one fix brought: the instructions (step, text) and where the session put the phone
/// (metres along the route, from the progress frame; `None` on arrival).
async fn drive_one(
    ws: &mut Ws,
    seq: u64,
    ts: i64,
    p: LatLon,
) -> (Vec<(usize, String)>, Option<f64>, bool, Option<Value>) {
    send(
        ws,
        json!({"type": "ping", "seq": seq, "ts": ts, "lat": p.lat, "lon": p.lon, "accuracy": 5.0}),
    )
    .await;
    let mut heard = Vec::new();
    loop {
        let m = next(ws).await.expect("the connection stays open");
        match m["type"].as_str().unwrap() {
            "ack" => {}
            "instruction" => {
                assert!(m["ssml"].as_str().unwrap().starts_with("<speak>"), "{m}");
                assert!(m["banner"]["primary"]["text"].is_string(), "{m}");
                heard.push((
                    m["step"].as_u64().unwrap() as usize,
                    m["announcement"].as_str().unwrap().to_string(),
                ));
            }
            "progress" => return (heard, Some(f(&m["distance_remaining"])), false, None),
            "arrived" => return (heard, None, true, None),
            "route" => return (heard, None, false, Some(m)),
            other => panic!("unexpected {other}: {m}"),
        }
    }
}

/// Points every `step_m` metres along a line, from `from_m`.
fn fixes(line: &[LatLon], from_m: f64, to_m: f64, step_m: f64) -> Vec<LatLon> {
    let mut out = Vec::new();
    let mut d = from_m;
    while d < to_m {
        out.push(*cut_shape(line, 0.0, d).last().unwrap());
        d += step_m;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_hears_each_announcement_once_in_order_before_its_maneuver() {
    let options = NodeOptions {
        graph: Some(PORTO),
        // A fix every 5 m at 10 m/s: two a second, sent as fast as the session answers.
        ingest_rate: Some(RateLimit {
            per_s: 10_000.0,
            burst: 10_000.0,
        }),
        ..Default::default()
    };
    let nodes = start_cluster_with("voice-nav", options).await;
    let r = router(PORTO);
    let j = junctions(&r);
    // A drive of 2-4 km with a few maneuvers.
    let (a, b) = pairs(&j, 3, 400)
        .into_iter()
        .find(|(a, b)| {
            r.route(&[*a, *b], true).is_ok_and(|x| {
                (2_000.0..4_000.0).contains(&x.route.distance_m) && x.route.legs[0].steps.len() >= 6
            })
        })
        .expect("a drive of 2-4 km");
    let mut ws = authed(nodes[0].ingest, 501).await;
    let mut ts = now_ms() - 3_600_000;
    let mut seq = 1;
    let route = start_navigation(
        &mut ws,
        json!({"type": "ping", "seq": seq, "ts": ts, "lat": a.lat, "lon": a.lon}),
        b,
    )
    .await;
    let (expected, line, total) = announcements(&route);
    assert!(expected.len() >= 6, "{expected:?}");
    let length: f64 = line.windows(2).map(|w| w[0].haversine_m(w[1])).sum();

    // Drive it: every instruction heard, where the session had the phone.
    let mut heard: Vec<(usize, String, Option<f64>)> = Vec::new();
    let mut positions = Vec::new();
    let mut arrived = false;
    let mut points = fixes(&line, 0.0, length, 5.0);
    points.push(*line.last().unwrap());
    for p in points {
        seq += 1;
        ts += 500;
        let (said, remaining, done, rerouted) = drive_one(&mut ws, seq, ts, p).await;
        assert!(
            rerouted.is_none(),
            "driving the route rerouted: {rerouted:?}"
        );
        let along = remaining.map(|m| total - m);
        positions.extend(along);
        heard.extend(said.into_iter().map(|(s, t)| (s, t, along)));
        if done {
            arrived = true;
            break;
        }
    }
    assert!(arrived, "the drive ended at the destination");

    // What could be heard: an announcement whose window (from due to its maneuver) holds a
    // fix, or the arrival's (said at the latest on arrival).
    let arrive_m = expected.iter().map(|e| e.maneuver_m).fold(0.0, f64::max);
    let hearable: Vec<&Expected> = expected
        .iter()
        .filter(|e| {
            e.maneuver_m == arrive_m
                || positions
                    .iter()
                    .any(|&s| s >= e.due_m - 0.5 && s < e.maneuver_m)
        })
        .collect();
    assert!(
        hearable.len() * 10 >= expected.len() * 9,
        "{} of {} announcements have a fix in their window",
        hearable.len(),
        expected.len()
    );
    let heard_keys: Vec<(usize, &str)> = heard.iter().map(|(s, t, _)| (*s, t.as_str())).collect();
    let hearable_keys: Vec<(usize, &str)> =
        hearable.iter().map(|e| (e.step, e.text.as_str())).collect();
    assert_eq!(heard_keys, hearable_keys, "each once, in order");
    for ((_, text, at), e) in heard.iter().zip(&hearable) {
        if let Some(at) = at {
            assert!(
                *at >= e.due_m - 0.5 && *at < e.maneuver_m + 0.5,
                "{text:?} heard at {at:.1} m, due at {:.1} m, maneuver at {:.1} m",
                e.due_m,
                e.maneuver_m
            );
        }
    }

    // A reroute: a second phone leaves its route after 300 m; what it hears next is the new
    // route's, from its departure.
    let mut ws = authed(nodes[1].ingest, 502).await;
    let mut seq = 1;
    let mut ts = now_ms() - 3_600_000;
    let first = start_navigation(
        &mut ws,
        json!({"type": "ping", "seq": seq, "ts": ts, "lat": a.lat, "lon": a.lon}),
        b,
    )
    .await;
    let (old, old_line, _) = announcements(&first);
    for p in fixes(&old_line, 0.0, 300.0, 10.0) {
        seq += 1;
        ts += 1000;
        let (said, _, _, rerouted) = drive_one(&mut ws, seq, ts, p).await;
        assert!(rerouted.is_none());
        for (step, text) in said {
            assert!(
                old.iter().any(|e| e.step == step && e.text == text),
                "{text}"
            );
        }
    }
    // Off the route: a junction 400-800 m from every point of it, twice.
    let away = *j
        .iter()
        .find(|q| {
            let d = old_line
                .iter()
                .map(|p| p.haversine_m(**q))
                .fold(f64::INFINITY, f64::min);
            (400.0..800.0).contains(&d)
        })
        .unwrap();
    let mut new_route = None;
    for _ in 0..3 {
        seq += 1;
        ts += 30_000;
        let (said, _, _, rerouted) = drive_one_off(&mut ws, seq, ts, away).await;
        assert!(said.is_empty(), "nothing said off the route: {said:?}");
        if let Some(r) = rerouted {
            new_route = Some(r);
            break;
        }
    }
    let new_route = new_route.expect("a reroute");
    assert_eq!(new_route["reason"], "reroute");
    let (new, new_line, _) = announcements(&new_route);
    let mut after = Vec::new();
    for p in fixes(&new_line, 0.0, 400.0, 5.0) {
        seq += 1;
        ts += 500;
        let (said, _, done, rerouted) = drive_one(&mut ws, seq, ts, p).await;
        assert!(rerouted.is_none());
        after.extend(said);
        if done {
            break;
        }
    }
    assert!(!after.is_empty(), "the new route speaks");
    assert_eq!(
        (after[0].0, after[0].1.as_str()),
        (0, new[0].text.as_str()),
        "from its departure"
    );
    let new_keys: Vec<(usize, &str)> = new.iter().map(|e| (e.step, e.text.as_str())).collect();
    let mut at = 0;
    for (step, text) in &after {
        let found = new_keys[at..]
            .iter()
            .position(|k| *k == (*step, text.as_str()));
        let found = found.unwrap_or_else(|| panic!("{text:?} is not the new route's, in order"));
        at += found + 1;
    }
}

/// [`drive_one`] for a fix off the route: the session answers nothing until it reroutes (the
/// ack alone comes back), so wait for the ack and a short while for a route.
async fn drive_one_off(
    ws: &mut Ws,
    seq: u64,
    ts: i64,
    p: LatLon,
) -> (Vec<(usize, String)>, Option<f64>, bool, Option<Value>) {
    send(
        ws,
        json!({"type": "ping", "seq": seq, "ts": ts, "lat": p.lat, "lon": p.lon, "accuracy": 5.0}),
    )
    .await;
    let mut said = Vec::new();
    let mut acked = false;
    loop {
        let wait = if acked { 3 } else { 20 };
        let m = match tokio::time::timeout(std::time::Duration::from_secs(wait), next(ws)).await {
            Ok(m) => m.expect("the connection stays open"),
            Err(_) => return (said, None, false, None),
        };
        match m["type"].as_str().unwrap() {
            "ack" => acked = true,
            "instruction" => said.push((
                m["step"].as_u64().unwrap() as usize,
                m["announcement"].as_str().unwrap().to_string(),
            )),
            "route" => return (said, None, false, Some(m)),
            "progress" => return (said, Some(f(&m["distance_remaining"])), false, None),
            other => panic!("unexpected {other}: {m}"),
        }
    }
}
