//! Websocket ingest against a real 3-node cluster: a phone's pings along a real road are acked
//! only once committed, every replica applies them, and the route servers see the traffic within
//! about a second; bad input gets error frames and does not disturb a well-behaved client.

use crate::cluster::{start_cluster, wait_for, INGEST_SECRET};
use crate::common::{junctions, router};
use futures_util::{SinkExt, StreamExt};
use meridian::route::cut_shape;
use meridian::server::ingest::device_token;
use meridian::spatial::LatLon;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(addr: SocketAddr) -> Ws {
    tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap()
        .0
}

pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next JSON frame, or `None` when the server closed the connection.
pub async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a frame within 20 s")?;
        match m {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Asks for navigation to `to` (after a first fix `ping`) and returns the first `route` frame,
/// checking that only acks come before it.
pub async fn start_navigation(ws: &mut Ws, ping: Value, to: meridian::spatial::LatLon) -> Value {
    send(ws, ping).await;
    send(
        ws,
        json!({"type": "navigate", "destination": {"lat": to.lat, "lon": to.lon}}),
    )
    .await;
    loop {
        let m = next(ws).await.unwrap();
        if m["type"] == "route" {
            return m;
        }
        assert_eq!(m["type"], "ack", "{m}");
    }
}

pub async fn authed(addr: SocketAddr, device: u64) -> Ws {
    let mut ws = connect(addr).await;
    send(
        &mut ws,
        json!({"type": "auth", "device": device, "token": device_token(INGEST_SECRET, device)}),
    )
    .await;
    let ready = next(&mut ws).await.unwrap();
    assert_eq!(ready["type"], "ready", "{ready}");
    ws
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_acked_after_commit_and_reach_every_replica_and_the_routes() {
    let nodes = start_cluster("ingest-ok").await;
    // A phone driving a real road at 30 km/h, one fix per second, the last one just now.
    let r = router("small/liechtenstein-2015-07");
    let start = r.snap(junctions(&r)[100]).unwrap().unwrap();
    let tile = r.store.tile(start.edge.tile).unwrap();
    let edge = tile.edge(start.edge.local);
    let shape: Vec<LatLon> = tile.shape(edge).collect();
    let len = edge.length_m() as f64;
    let n = ((len / (30.0 / 3.6)).floor() as u64).clamp(3, 60);
    let t0 = now_ms() - n as i64 * 1000;
    let pings: Vec<Value> = (1..=n)
        .map(|seq| {
            let p = *cut_shape(&shape, 0.0, ((seq - 1) as f64 * 30.0 / 3.6).min(len)).last().unwrap();
            json!({"seq": seq, "ts": t0 + seq as i64 * 1000, "lat": p.lat, "lon": p.lon, "accuracy": 4.0})
        })
        .collect();

    let mut ws = authed(nodes[1].ingest, 42).await;
    send(&mut ws, json!({"type": "pings", "pings": pings})).await;
    let mut acked = BTreeSet::new();
    while acked.len() < n as usize {
        let m = next(&mut ws).await.expect("connection stays open");
        assert_eq!(m["type"], "ack", "{m}");
        let seq = m["acked"].as_u64().unwrap();
        // Acked means committed: the ping is already in the replicated state of a majority.
        let holders = nodes
            .iter()
            .filter(|t| t.node().state.has_applied(42, seq))
            .count();
        assert!(holders >= 1, "ack for {seq} before anyone applied it");
        acked.insert(seq);
    }
    assert_eq!(acked, (1..=n).collect());
    for t in &nodes {
        let state = t.node().state.clone();
        wait_for(
            "every replica to apply the pings",
            Duration::from_secs(10),
            || (1..=n).all(|s| state.has_applied(42, s)),
        )
        .await;
    }
    let hashes: BTreeSet<String> = nodes.iter().map(|t| t.node().status().state_hash).collect();
    assert_eq!(hashes.len(), 1, "replicas disagree");
    // The matched speed of the road is about 30 km/h.
    let observed = nodes[0].node().state.live.entries();
    assert!(
        observed
            .iter()
            .any(|(_, o)| (20.0..=40.0).contains(&o.speed_kmh)),
        "{observed:?}"
    );
    // The route servers publish it within about a second.
    let client = reqwest::Client::new();
    let health = format!("http://{}/health", nodes[2].addr);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let h: Value = client
            .get(&health)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if h["live_edges"].as_u64().unwrap() >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "traffic not published: {h}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_error_frames_and_good_clients_are_not_disturbed() {
    let nodes = start_cluster("ingest-bad").await;
    let addr = nodes[0].ingest;
    let (lat, lon) = (47.14, 9.52);

    // Wrong token: refused and closed.
    let mut ws = connect(addr).await;
    send(
        &mut ws,
        json!({"type": "auth", "device": 5, "token": device_token(b"other", 5)}),
    )
    .await;
    assert_eq!(next(&mut ws).await.unwrap()["code"], "Unauthorized");
    assert!(
        next(&mut ws).await.is_none(),
        "connection closed after a bad token"
    );
    // Pings before auth: refused.
    let mut ws = connect(addr).await;
    send(
        &mut ws,
        json!({"type": "ping", "seq": 1, "ts": now_ms(), "lat": lat, "lon": lon}),
    )
    .await;
    assert_eq!(next(&mut ws).await.unwrap()["code"], "Unauthorized");

    let mut good = authed(addr, 1).await;
    let mut bad = authed(addr, 2).await;
    let now = now_ms();
    let cases = [
        (
            json!({"type": "ping", "seq": 1, "ts": now, "lat": 95.0, "lon": lon}),
            "InvalidCoordinate",
        ),
        (
            json!({"type": "ping", "seq": 2, "ts": now + 3_600_000, "lat": lat, "lon": lon}),
            "InvalidTimestamp",
        ),
        (
            json!({"type": "ping", "seq": 3, "ts": now, "lat": lat, "lon": lon, "speed": 500.0}),
            "InvalidSpeed",
        ),
        (
            json!({"type": "ping", "seq": 0, "ts": now, "lat": lat, "lon": lon}),
            "InvalidSeq",
        ),
        (json!({"type": "teleport"}), "InvalidMessage"),
    ];
    for (msg, code) in cases {
        send(&mut bad, msg).await;
        let e = next(&mut bad).await.unwrap();
        assert_eq!(e["type"], "error");
        assert_eq!(e["code"], code, "{e}");
    }
    // A valid ping, then one going back in time.
    send(
        &mut bad,
        json!({"type": "ping", "seq": 4, "ts": now, "lat": lat, "lon": lon}),
    )
    .await;
    send(
        &mut bad,
        json!({"type": "ping", "seq": 5, "ts": now - 60_000, "lat": lat, "lon": lon}),
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let m = next(&mut bad).await.unwrap();
        seen.push(
            m["code"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| m["type"].as_str().unwrap().to_string()),
        );
    }
    seen.sort();
    assert_eq!(seen, ["TimestampBackwards", "ack"]);
    // Resending an earlier ping on the same connection (as after `NotCommitted`) is not "going
    // backwards": the resent seq 4 and the earlier-stamped seq 2 are acked.
    send(
        &mut bad,
        json!({"type": "pings", "pings": [
            {"seq": 4, "ts": now, "lat": lat, "lon": lon},
            {"seq": 2, "ts": now - 30_000, "lat": lat, "lon": lon},
        ]}),
    )
    .await;
    let mut resent = Vec::new();
    for _ in 0..2 {
        let m = next(&mut bad).await.unwrap();
        assert_eq!(m["type"], "ack", "{m}");
        resent.push(m["acked"].as_u64().unwrap());
    }
    resent.sort();
    assert_eq!(resent, [2, 4]);
    // A flood: beyond the burst allowance pings are refused, not queued.
    let flood: Vec<Value> = (10..400)
        .map(|s| json!({"seq": s, "ts": now + s as i64, "lat": lat, "lon": lon}))
        .collect();
    send(
        &mut bad,
        json!({"type": "pings", "pings": flood[..250].to_vec()}),
    )
    .await;
    let mut limited = 0;
    let mut acks = 0;
    while limited + acks < 250 {
        let m = next(&mut bad).await.unwrap();
        if m["code"] == "RateLimited" {
            limited += 1;
        } else if m["type"] == "ack" {
            acks += 1;
        }
    }
    assert!(
        limited >= 40 && acks >= 150,
        "limited {limited}, acked {acks}"
    );

    // The well-behaved client on the same node is served throughout.
    for seq in 1..=5u64 {
        send(
            &mut good,
            json!({"type": "ping", "seq": seq, "ts": now + seq as i64, "lat": lat, "lon": lon}),
        )
        .await;
    }
    let mut acked = 0;
    while acked < 5 {
        assert_eq!(next(&mut good).await.unwrap()["type"], "ack");
        acked += 1;
    }
    // An oversized frame closes only that connection.
    send(
        &mut bad,
        json!({"type": "ping", "pad": "x".repeat(100_000)}),
    )
    .await;
    let e = next(&mut bad).await;
    assert!(
        e.as_ref().is_none_or(|e| e["code"] == "FrameTooLarge"),
        "{e:?}"
    );
    send(
        &mut good,
        json!({"type": "ping", "seq": 6, "ts": now + 6, "lat": lat, "lon": lon}),
    )
    .await;
    assert_eq!(next(&mut good).await.unwrap()["acked"], 6);

    // Nothing invalid entered the log.
    let state = nodes[0].node().state.clone();
    wait_for("the valid pings to apply", Duration::from_secs(10), || {
        state.has_applied(2, 4)
    })
    .await;
    // Seq 2 was refused at first, then resent valid and acked.
    assert!(state.has_applied(2, 2));
    for seq in [1, 3, 5] {
        assert!(!state.has_applied(2, seq), "refused ping {seq} was applied");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_navigates_over_the_same_websocket() {
    let nodes = start_cluster("ingest-nav").await;
    let r = router("small/liechtenstein-2015-07");
    let j = junctions(&r);
    let (a, b) = (j[200], j[j.len() - 200]);
    let mut ws = authed(nodes[2].ingest, 77).await;
    let t0 = now_ms() - 600_000;
    // Navigation needs a position first.
    send(
        &mut ws,
        json!({"type": "navigate", "destination": {"lat": b.lat, "lon": b.lon}}),
    )
    .await;
    assert_eq!(next(&mut ws).await.unwrap()["code"], "NoPosition");
    let route = start_navigation(
        &mut ws,
        json!({"type": "ping", "seq": 1, "ts": t0, "lat": a.lat, "lon": a.lon}),
        b,
    )
    .await;
    assert_eq!(route["reason"], "start");
    let osrm = &route["route"]["routes"][0];
    assert!(!osrm["legs"][0]["steps"].as_array().unwrap().is_empty());
    let line = meridian::route::polyline::decode(osrm["geometry"].as_str().unwrap(), 6).unwrap();
    // Drive it: a fix every ~200 m, one second apart.
    let total: f64 = line.windows(2).map(|w| w[0].haversine_m(w[1])).sum();
    let mut fixes = Vec::new();
    let mut d = 0.0;
    while d < total {
        fixes.push(*cut_shape(&line, 0.0, d).last().unwrap());
        d += 200.0;
    }
    fixes.push(*line.last().unwrap());
    for (k, p) in fixes.iter().enumerate() {
        let seq = k as u64 + 2;
        send(&mut ws, json!({"type": "ping", "seq": seq, "ts": t0 + seq as i64 * 1000, "lat": p.lat, "lon": p.lon, "accuracy": 5.0})).await;
    }
    let (mut progress, mut arrived, mut acks) = (Vec::new(), false, 0);
    while acks < fixes.len() || !arrived {
        let m = next(&mut ws).await.unwrap();
        match m["type"].as_str().unwrap() {
            "ack" => acks += 1,
            "progress" => progress.push(m["distance_remaining"].as_f64().unwrap()),
            "arrived" => arrived = true,
            // Spoken guidance, checked in the voice tests.
            "instruction" => assert!(!arrived, "an instruction after arrival: {m}"),
            other => panic!("unexpected {other}: {m}"),
        }
    }
    assert!(
        progress.len() + 2 >= fixes.len(),
        "{} progress frames for {} fixes",
        progress.len(),
        fixes.len()
    );
    assert!(
        progress.windows(2).all(|w| w[1] <= w[0] + 1.0),
        "distance left must shrink: {progress:?}"
    );
}

/// `navigate` with `"profile": "foot"`: the session routes on the foot graph (a walking pace),
/// follows the walker to the destination, and the walker's pings are logged and acked but feed
/// no car edge's speed. An unknown profile is refused `InvalidOptions`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walker_navigates_on_the_foot_graph_and_feeds_no_car_traffic() {
    let options = crate::cluster::NodeOptions {
        foot: true,
        ..Default::default()
    };
    let nodes = crate::cluster::start_cluster_with("ingest-walk", options).await;
    let foot = meridian::route::Router::new(std::sync::Arc::new(
        meridian::graph::GraphStore::open(crate::common::foot_graph_dir(
            "small/liechtenstein-2015-07",
        ))
        .unwrap(),
    ));
    let j = junctions(&foot);
    // A walk of about a kilometre (crow-fly 600-900 m).
    let a = j[300];
    let b = *j
        .iter()
        .find(|p| (600.0..900.0).contains(&a.haversine_m(**p)))
        .unwrap();
    let mut ws = authed(nodes[0].ingest, 91).await;
    // Far enough back for a walk of hours to end before now.
    let t0 = now_ms() - 8 * 3_600_000;
    send(
        &mut ws,
        json!({"type": "ping", "seq": 1, "ts": t0, "lat": a.lat, "lon": a.lon}),
    )
    .await;
    send(
        &mut ws,
        json!({"type": "navigate", "destination": {"lat": b.lat, "lon": b.lon}, "profile": "bike"}),
    )
    .await;
    let refused = next_besides_acks(&mut ws).await;
    assert_eq!(refused["code"], "InvalidOptions", "{refused}");
    send(
        &mut ws,
        json!({"type": "navigate", "destination": {"lat": b.lat, "lon": b.lon}, "profile": "walking"}),
    )
    .await;
    let route = next_besides_acks(&mut ws).await;
    assert_eq!(route["type"], "route", "{route}");
    let osrm = &route["route"]["routes"][0];
    let (distance, duration) = (
        osrm["distance"].as_f64().unwrap(),
        osrm["duration"].as_f64().unwrap(),
    );
    assert!(
        distance > 300.0 && distance / duration < 2.0,
        "a walk: {distance} m in {duration} s"
    );
    // Walk it at 1.4 m/s, a fix every 40 m.
    let line = meridian::route::polyline::decode(osrm["geometry"].as_str().unwrap(), 6).unwrap();
    let total: f64 = line.windows(2).map(|w| w[0].haversine_m(w[1])).sum();
    let mut fixes = Vec::new();
    let mut d = 40.0;
    while d < total {
        fixes.push(*cut_shape(&line, 0.0, d).last().unwrap());
        d += 40.0;
    }
    fixes.push(*line.last().unwrap());
    for (k, p) in fixes.iter().enumerate() {
        let seq = k as u64 + 2;
        let ts = t0 + ((k + 1) as f64 * 40.0 / 1.4 * 1000.0) as i64;
        send(&mut ws, json!({"type": "ping", "seq": seq, "ts": ts, "lat": p.lat, "lon": p.lon, "accuracy": 5.0})).await;
    }
    let (mut acks, mut arrived, mut progress) = (0, false, 0);
    // The first fix's ack came with the navigate answers.
    while acks < fixes.len() || !arrived {
        let m = next(&mut ws).await.unwrap();
        match m["type"].as_str().unwrap() {
            "ack" => acks += 1,
            "progress" => progress += 1,
            "arrived" => arrived = true,
            "route" => assert_eq!(m["reason"], "reroute", "{m}"),
            "instruction" => assert!(!arrived, "an instruction after arrival: {m}"),
            other => panic!("unexpected {other}: {m}"),
        }
    }
    assert!(progress > 0, "no progress frames");
    let total_pings = fixes.len() as u64 + 1;
    for t in &nodes {
        let state = t.node().state.clone();
        wait_for(
            "every replica to apply the walk",
            Duration::from_secs(10),
            || state.pings_applied() == total_pings,
        )
        .await;
        // The first fix came before navigation (a car's, as far as the server knew); the
        // walked ones feed nothing.
        assert!(
            state.live.len() <= 1,
            "a walker's fixes became car speeds: {:?}",
            state.live.entries()
        );
    }
}

/// The next frame that is not an ack.
async fn next_besides_acks(ws: &mut Ws) -> Value {
    loop {
        let m = next(ws).await.expect("a frame");
        if m["type"] != "ack" {
            return m;
        }
    }
}

/// `navigate` with typed addresses (two real addresses of the PBF): the destination as text
/// from the last ping, both ends as text with no ping at all, and the refusals (text that finds
/// nothing is `AddressNotFound`; empty text and no destination are `InvalidMessage`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_navigates_to_a_typed_address() {
    let nodes = start_cluster("ingest-nav-address").await;
    let [(text_a, house_a), (text_b, house_b)] = tokio::task::spawn_blocking(|| {
        crate::geocoding::address_pair("small/liechtenstein-2015-07", 29, 2_000.0, 8_000.0, |_| {
            true
        })
    })
    .await
    .unwrap();
    let house = |p: (f64, f64)| LatLon::new(p.0, p.1);
    // What /search answers for the destination, on the same node.
    let url = format!(
        "http://{}/search?q={}&limit=1",
        nodes[1].addr,
        crate::geocoding::encode(&text_b)
    );
    let searched: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let (search_lat, search_lon): (f64, f64) = (
        searched[0]["lat"].as_str().unwrap().parse().unwrap(),
        searched[0]["lon"].as_str().unwrap().parse().unwrap(),
    );

    let ends = |route: &Value| {
        let line = meridian::route::polyline::decode(
            route["route"]["routes"][0]["geometry"].as_str().unwrap(),
            6,
        )
        .unwrap();
        (line[0], *line.last().unwrap())
    };

    // 1. From the last ping (at house A) to typed address B.
    let mut ws = authed(nodes[1].ingest, 91).await;
    let t0 = now_ms() - 600_000;
    send(
        &mut ws,
        json!({"type": "ping", "seq": 1, "ts": t0, "lat": house_a.0, "lon": house_a.1}),
    )
    .await;
    send(&mut ws, json!({"type": "navigate", "to": text_b})).await;
    let route = next_besides_acks(&mut ws).await;
    assert_eq!(route["type"], "route", "{route}");
    assert_eq!(route["reason"], "start");
    let to = &route["resolved"]["to"];
    assert_eq!(to["query"], text_b.as_str());
    assert_eq!(
        to["display_name"], searched[0]["display_name"],
        "rank 1 of /search"
    );
    let loc = LatLon::new(
        to["location"][1].as_f64().unwrap(),
        to["location"][0].as_f64().unwrap(),
    );
    assert!(loc.haversine_m(LatLon::new(search_lat, search_lon)) < 1.0);
    assert!(
        route["resolved"]["from"].is_null(),
        "from was the ping: {route}"
    );
    let (start, end) = ends(&route);
    assert!(start.haversine_m(house(house_a)) < 50.0, "starts {start:?}");
    assert!(
        end.haversine_m(house(house_b)) < 50.0,
        "ends {end:?}, house at {house_b:?}"
    );
    // Driving it still works as with coordinates: the first fix gives progress.
    send(&mut ws, json!({"type": "ping", "seq": 2, "ts": t0 + 1000, "lat": start.lat, "lon": start.lon, "accuracy": 5.0})).await;
    let progress = next_besides_acks(&mut ws).await;
    assert_eq!(progress["type"], "progress", "{progress}");

    // 2. Both ends typed, on a connection that never pinged.
    let mut fresh = authed(nodes[2].ingest, 92).await;
    send(
        &mut fresh,
        json!({"type": "navigate", "from": text_a, "destination": text_b}),
    )
    .await;
    let route = next_besides_acks(&mut fresh).await;
    assert_eq!(route["type"], "route", "{route}");
    assert!(route["resolved"]["from"]["display_name"].is_string());
    let (start, end) = ends(&route);
    assert!(start.haversine_m(house(house_a)) < 50.0);
    assert!(end.haversine_m(house(house_b)) < 50.0);

    // 3. Refusals, each with its code; the connection stays usable.
    let nonsense = "Qxzvw Jkqpz";
    let none: Value = reqwest::get(format!(
        "http://{}/search?q={}",
        nodes[1].addr,
        crate::geocoding::encode(nonsense)
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        none,
        json!([]),
        "/search finds nothing for {nonsense:?} either"
    );
    send(&mut ws, json!({"type": "navigate", "to": nonsense})).await;
    let e = next_besides_acks(&mut ws).await;
    assert_eq!(e["code"], "AddressNotFound", "{e}");
    assert!(e["message"].as_str().unwrap().contains(nonsense), "{e}");
    send(
        &mut fresh,
        json!({"type": "navigate", "from": nonsense, "to": text_b}),
    )
    .await;
    let e = next_besides_acks(&mut fresh).await;
    assert_eq!(e["code"], "AddressNotFound", "{e}");
    assert!(e["message"].as_str().unwrap().contains("(from)"), "{e}");
    send(&mut ws, json!({"type": "navigate", "to": "  "})).await;
    assert_eq!(next_besides_acks(&mut ws).await["code"], "InvalidMessage");
    send(&mut ws, json!({"type": "navigate"})).await;
    assert_eq!(next_besides_acks(&mut ws).await["code"], "InvalidMessage");
    let mut unplaced = authed(nodes[0].ingest, 93).await;
    send(&mut unplaced, json!({"type": "navigate", "to": text_b})).await;
    assert_eq!(next_besides_acks(&mut unplaced).await["code"], "NoPosition");
}

/// The CLI exports a node's live table to Parquet that reads back with the same rows.
#[cfg(feature = "analytics")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_traffic_table_exports_to_parquet() {
    use polars::prelude::{ParquetReader, SerReader};
    let nodes = start_cluster("ingest-export").await;
    let r = router("small/liechtenstein-2015-07");
    let j = junctions(&r);
    let t0 = now_ms() - 120_000;
    // Ten phones, each driving past a different junction at a reported 36 km/h.
    for d in 0..10u64 {
        let mut ws = authed(nodes[(d % 3) as usize].ingest, 500 + d).await;
        let LatLon { lat, lon } = j[(d as usize * 97) % j.len()];
        let pings: Vec<Value> = (1..=3u64)
            .map(|s| json!({"seq": s, "ts": t0 + s as i64 * 1000, "lat": lat, "lon": lon, "speed": 10.0, "heading": 0.0}))
            .collect();
        send(&mut ws, json!({"type": "pings", "pings": pings})).await;
        for _ in 0..3 {
            assert_eq!(next(&mut ws).await.unwrap()["type"], "ack");
        }
    }
    let addr = nodes[0].addr;
    let state = nodes[0].node().state.clone();
    wait_for("the pings to apply", Duration::from_secs(10), || {
        state.pings_applied() == 30
    })
    .await;
    let rows: Vec<Value> = reqwest::get(format!("http://{addr}/traffic"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!rows.is_empty() && rows.len() <= 10, "{} rows", rows.len());
    assert!(
        rows.iter()
            .all(|r| (r["speed_kmh"].as_f64().unwrap() - 36.0).abs() < 0.5),
        "{rows:?}"
    );
    // Each row's H3 cell (resolution 9: ~175 m hexagon edges) lies at the phone's junction.
    let phones: Vec<LatLon> = (0..10).map(|d| j[(d * 97) % j.len()]).collect();
    for row in &rows {
        let cell: h3o::CellIndex = row["h3_cell"].as_str().unwrap().parse().unwrap();
        assert_eq!(cell.resolution(), h3o::Resolution::Nine);
        let centre = h3o::LatLng::from(cell);
        let nearest = phones
            .iter()
            .map(|p| p.haversine_m(LatLon::new(centre.lat(), centre.lng())))
            .fold(f64::INFINITY, f64::min);
        assert!(
            nearest < 400.0,
            "{row}: cell centre {nearest:.0} m from any phone"
        );
    }

    let out = crate::common::scratch_dir("export").join("traffic.parquet");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args([
            "traffic",
            "export",
            "--node",
            &addr.to_string(),
            "--format",
            "parquet",
            "--out",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let df = ParquetReader::new(std::fs::File::open(&out).unwrap())
        .finish()
        .unwrap();
    assert_eq!(df.height(), rows.len());
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "edge",
            "tile",
            "h3_cell",
            "osm_way_id",
            "speed_kmh",
            "free_flow_kmh",
            "samples",
            "updated_ms"
        ]
    );
    let way = df
        .column("osm_way_id")
        .unwrap()
        .i64()
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(way, rows[0]["osm_way_id"].as_i64().unwrap());
    let cell = df
        .column("h3_cell")
        .unwrap()
        .str()
        .unwrap()
        .get(0)
        .map(String::from);
    assert_eq!(cell.as_deref(), rows[0]["h3_cell"].as_str());
    assert!(way > 0);
    // A node that is not there: a clear error, exit code 1.
    let failed = std::process::Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["traffic", "export", "--node", "127.0.0.1:1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("error: fetching"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_frames_are_acked_like_json_and_checked_the_same_way() {
    use meridian::server::ingest::{encode_binary_pings, PingMessage};
    let nodes = start_cluster("ingest-binary").await;
    let r = router("small/liechtenstein-2015-07");
    let LatLon { lat, lon } = junctions(&r)[100];
    let now = now_ms();
    let ping = |seq: u64, lat: f64| PingMessage {
        seq,
        ts: now + seq as i64 * 1000,
        lat,
        lon,
        speed: Some(8.0),
        heading: None,
        accuracy: Some(5.0),
    };

    // Unauthenticated binary frames close the connection.
    let mut anon = connect(nodes[1].ingest).await;
    anon.send(Message::Binary(encode_binary_pings(&[ping(1, lat)]).into()))
        .await
        .unwrap();
    assert_eq!(next(&mut anon).await.unwrap()["code"], "Unauthorized");

    let mut ws = authed(nodes[1].ingest, 55).await;
    // Seq 3 has a latitude out of range: refused alone, the others acked after commit.
    let frame = encode_binary_pings(&[ping(1, lat), ping(2, lat), ping(3, 123.0), ping(4, lat)]);
    ws.send(Message::Binary(frame.into())).await.unwrap();
    let (mut acked, mut refused) = (BTreeSet::new(), Vec::new());
    while acked.len() + refused.len() < 4 {
        let m = next(&mut ws).await.unwrap();
        match m["type"].as_str() {
            Some("ack") => {
                acked.insert(m["acked"].as_u64().unwrap());
            }
            Some("error") => refused.push((m["code"].clone(), m["seq"].as_u64())),
            _ => panic!("unexpected {m}"),
        }
    }
    assert_eq!(acked, BTreeSet::from([1, 2, 4]));
    assert_eq!(refused, vec![(json!("InvalidCoordinate"), Some(3))]);
    let state = nodes[1].node().state.clone();
    wait_for("binary pings to apply", Duration::from_secs(10), || {
        state.has_applied(55, 4)
    })
    .await;
    assert!(!state.has_applied(55, 3));

    // A frame that is not whole pings is an error frame; the connection stays usable.
    ws.send(Message::Binary(vec![0u8; 45].into()))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await.unwrap()["code"], "InvalidMessage");
    ws.send(Message::Binary(encode_binary_pings(&[ping(5, lat)]).into()))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await.unwrap()["acked"], 5);
}

/// `GET /metrics` counts what the node did: routes by status, pings acked and refused, the
/// open connections, and the Raft state, in the Prometheus text format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_routes_pings_refusals_and_connections() {
    let nodes = start_cluster("ingest-metrics").await;
    let node = &nodes[0];
    let scrape = || async {
        let resp = reqwest::get(format!("http://{}/metrics", node.addr))
            .await
            .unwrap();
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/plain; version=0.0.4"
        );
        resp.text().await.unwrap()
    };
    let value = |text: &str, series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} missing in\n{text}"))
    };
    let before = scrape().await;
    assert_eq!(value(&before, "meridian_route_duration_seconds_count"), 0.0);

    // Two answered routes and one bad request.
    let r = router("small/liechtenstein-2015-07");
    let j = junctions(&r);
    let mut ok = 0;
    for k in 0..50 {
        let (a, b) = (j[k * 31 % j.len()], j[(k * 31 + 500) % j.len()]);
        if ok < 2 && r.route(&[a, b], false).is_ok() {
            let url = format!(
                "http://{}/route/v1/driving/{},{};{},{}",
                node.addr, a.lon, a.lat, b.lon, b.lat
            );
            assert_eq!(reqwest::get(url).await.unwrap().status().as_u16(), 200);
            ok += 1;
        }
    }
    assert_eq!(ok, 2);
    let bad = format!("http://{}/route/v1/driving/9.5,47.1", node.addr);
    assert_eq!(reqwest::get(bad).await.unwrap().status().as_u16(), 400);

    // Three good pings and a bad one on one connection.
    let mut ws = authed(node.ingest, 77).await;
    let now = now_ms();
    let LatLon { lat, lon } = j[10];
    let mut pings: Vec<Value> = (1..=3u64)
        .map(|s| json!({"seq": s, "ts": now - 10_000 + s as i64 * 1000, "lat": lat, "lon": lon}))
        .collect();
    pings.push(json!({"seq": 4, "ts": now, "lat": 95.0, "lon": lon}));
    send(&mut ws, json!({"type": "pings", "pings": pings})).await;
    let mut frames = Vec::new();
    for _ in 0..4 {
        frames.push(next(&mut ws).await.unwrap());
    }
    assert_eq!(frames.iter().filter(|f| f["type"] == "ack").count(), 3);

    let state = node.node().state.clone();
    wait_for("the pings to apply", Duration::from_secs(10), || {
        state.pings_applied() == 3
    })
    .await;
    let text = scrape().await;
    for (series, expected) in [
        ("meridian_route_requests_total{status=\"2xx\"}", 2.0),
        ("meridian_route_requests_total{status=\"4xx\"}", 1.0),
        ("meridian_route_requests_total{status=\"5xx\"}", 0.0),
        ("meridian_route_duration_seconds_count", 3.0),
        ("meridian_route_duration_seconds_bucket{le=\"+Inf\"}", 3.0),
        ("meridian_ingest_connections", 1.0),
        ("meridian_ingest_connections_total", 1.0),
        ("meridian_ingest_pings_total{result=\"accepted\"}", 3.0),
        ("meridian_ingest_pings_total{result=\"acked\"}", 3.0),
        ("meridian_ingest_pings_total{result=\"not_committed\"}", 0.0),
        (
            "meridian_ingest_refused_total{code=\"InvalidCoordinate\"}",
            1.0,
        ),
        ("meridian_pings_applied_total{group=\"0\"}", 3.0),
        ("meridian_raft_voters{group=\"0\"}", 3.0),
    ] {
        assert_eq!(value(&text, series), expected, "{series}");
    }
    let leaders: f64 = {
        let mut n = 0.0;
        for t in &nodes {
            let text = reqwest::get(format!("http://{}/metrics", t.addr))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            n += value(&text, "meridian_raft_is_leader{group=\"0\"}");
        }
        n
    };
    assert_eq!(leaders, 1.0);

    // A closed connection leaves the gauge.
    ws.close(None).await.unwrap();
    drop(ws);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while value(&scrape().await, "meridian_ingest_connections") != 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "connection still counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Failed authentications are limited per source address: after a burst of ten wrong tokens
/// from one address, the next attempt from it — even with a right token — is refused
/// `RateLimited` and closed, so tokens cannot be tried as fast as connections open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_are_limited_per_address() {
    let nodes = start_cluster("ingest-auth-limit").await;
    let addr = nodes[0].ingest;
    for attempt in 0..10u64 {
        let mut ws = connect(addr).await;
        let wrong = device_token(b"guess", attempt);
        send(
            &mut ws,
            json!({"type": "auth", "device": 7, "token": wrong}),
        )
        .await;
        assert_eq!(next(&mut ws).await.unwrap()["code"], "Unauthorized");
    }
    let mut ws = connect(addr).await;
    send(
        &mut ws,
        json!({"type": "auth", "device": 7, "token": device_token(INGEST_SECRET, 7)}),
    )
    .await;
    let refused = next(&mut ws).await.unwrap();
    assert_eq!(refused["code"], "RateLimited", "{refused}");
    assert!(next(&mut ws).await.is_none(), "closed after the refusal");
    // One token a second comes back: a right token then authenticates again.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let _ready = authed(addr, 7).await;
}
