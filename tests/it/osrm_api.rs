//! The OSRM v1 services beyond `/route`, over real HTTP on the Liechtenstein extract: CORS on
//! every answer and preflights (raw requests, as a browser sends them), `/nearest` against a
//! brute-force scan of every road, `/table` against `/route` for every cell, and the strict
//! validation of route options.

use crate::common::{get, junctions, router};
use meridian::graph::tile::flags;
use meridian::graph::GlobalId;
use meridian::server::cors::Cors;
use meridian::server::{serve_on, Limits, ServerOptions};
use meridian::spatial::geometry::project_onto_segment;
use meridian::spatial::LatLon;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NAME: &str = "small/liechtenstein-2015-07";

async fn start(options: ServerOptions) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on(router(NAME), listener, options, None));
    addr
}

/// One raw HTTP/1.1 exchange: status, headers (lower-case names), body.
async fn raw(addr: SocketAddr, request: &str) -> (u16, HashMap<String, String>, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let mut headers = HashMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim().to_string();
            headers
                .entry(k)
                .and_modify(|old: &mut String| *old = format!("{old}, {v}"))
                .or_insert(v);
        }
    }
    (status, headers, body.to_string())
}

fn get_with_origin(path: &str, origin: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: meridian\r\nOrigin: {origin}\r\nConnection: close\r\n\r\n"
    )
}

fn preflight(path: &str, origin: &str) -> String {
    format!(
        "OPTIONS {path} HTTP/1.1\r\nHost: meridian\r\nOrigin: {origin}\r\n\
         Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: content-type\r\n\
         Connection: close\r\n\r\n"
    )
}

fn lonlat(p: LatLon) -> String {
    format!("{:.6},{:.6}", p.lon, p.lat)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_cors_headers_and_preflights_get_204() {
    let addr = start(ServerOptions::from(Limits::default())).await;
    let nodes = junctions(&router(NAME));
    let route = format!(
        "/route/v1/driving/{};{}",
        lonlat(nodes[5]),
        lonlat(nodes[nodes.len() / 2])
    );
    let origin = "http://other-origin.example:8080";
    for (path, status) in [
        (route.as_str(), 200),
        ("/route/v1/driving/1,2", 400),
        ("/tiles/6/u0qj.png", 404),
        ("/health", 200),
    ] {
        let (got, headers, body) = raw(addr, &get_with_origin(path, origin)).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(
            headers
                .get("access-control-allow-origin")
                .map(String::as_str),
            Some("*"),
            "{path}: {headers:?}"
        );
    }
    let (status, headers, body) = raw(addr, &preflight(&route, origin)).await;
    assert_eq!(status, 204, "{headers:?} {body}");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(headers["access-control-allow-methods"].contains("GET"));
    assert!(headers["access-control-allow-headers"]
        .to_ascii_lowercase()
        .contains("content-type"));
    // A preflight to a path that does not exist is still a preflight.
    let (status, _, _) = raw(addr, &preflight("/nothing/here", origin)).await;
    assert_eq!(status, 204);

    // Only the configured origins.
    let allowed = "https://app.example";
    let cors = Cors::from_args(&[allowed.to_string()]).unwrap();
    let addr = start(ServerOptions::from(Limits::default()).with_cors(cors)).await;
    let (_, headers, _) = raw(addr, &get_with_origin(&route, allowed)).await;
    assert_eq!(headers["access-control-allow-origin"], allowed);
    assert!(headers["vary"].contains("Origin"), "{headers:?}");
    let (status, headers, _) = raw(addr, &get_with_origin(&route, "https://evil.example")).await;
    assert_eq!(status, 200);
    assert!(!headers.contains_key("access-control-allow-origin"));
    let (status, headers, _) = raw(addr, &preflight(&route, "https://evil.example")).await;
    assert_eq!(status, 204);
    assert!(!headers.contains_key("access-control-allow-origin"));
    let (_, headers, _) = raw(addr, &preflight(&route, allowed)).await;
    assert_eq!(headers["access-control-allow-origin"], allowed);
}

/// The `n` nearest roads by scanning every segment of every snappable edge: `(metres, key)`
/// with one entry per road (both directions share the smaller id).
fn brute_force_nearest(point: LatLon, n: usize) -> Vec<f64> {
    let r = router(NAME);
    let store = &r.store;
    let mut best: HashMap<u64, f64> = HashMap::new();
    for t in 0..store.tile_count() {
        let tile = store.tile(t).unwrap();
        for local in 0..tile.edges.len() as u32 {
            let e = tile.edge(local);
            if e.flags & flags::SNAPPABLE == 0 {
                continue;
            }
            let own = GlobalId::new(t, local).pack();
            let key = e.twin().map_or(own, |twin| own.min(twin.pack()));
            let shape: Vec<LatLon> = tile.shape(e).collect();
            for w in shape.windows(2) {
                let d = project_onto_segment(point, w[0], w[1]).distance_m;
                let slot = best.entry(key).or_insert(f64::INFINITY);
                *slot = slot.min(d);
            }
        }
    }
    let mut v: Vec<f64> = best.into_values().collect();
    v.sort_by(f64::total_cmp);
    v.truncate(n);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nearest_lists_the_n_nearest_roads_in_osrm_shape() {
    let addr = start(ServerOptions::from(Limits::default())).await;
    let nodes = junctions(&router(NAME));
    for k in [3usize, 1000, 5000] {
        let j = nodes[k % nodes.len()];
        // A little off the junction, so several roads are at different distances.
        let p = LatLon::new(j.lat + 0.0004, j.lon - 0.0003);
        let (status, body) =
            get(addr, &format!("/nearest/v1/driving/{}?number=5", lonlat(p))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["code"], "Ok");
        let wps = body["waypoints"].as_array().unwrap();
        let expected = brute_force_nearest(p, 5);
        assert_eq!(wps.len(), expected.len(), "{body}");
        for (w, want) in wps.iter().zip(&expected) {
            let d = w["distance"].as_f64().unwrap();
            assert!((d - want).abs() <= 0.1, "{d} vs brute force {want}: {body}");
            assert!(w["name"].is_string());
            assert_eq!(w["location"].as_array().unwrap().len(), 2);
            let ids = w["nodes"].as_array().unwrap();
            assert_eq!(ids.len(), 2);
            assert!(ids.iter().all(|i| i.as_i64().is_some_and(|i| i > 0)), "{w}");
        }
        // number=1 is the route's snap.
        let (_, one) = get(addr, &format!("/nearest/v1/driving/{}", lonlat(p))).await;
        let other = nodes[(k + 77) % nodes.len()];
        let (_, route) = get(
            addr,
            &format!("/route/v1/driving/{};{}", lonlat(p), lonlat(other)),
        )
        .await;
        assert_eq!(one["waypoints"].as_array().unwrap().len(), 1);
        assert_eq!(
            one["waypoints"][0]["location"],
            route["waypoints"][0]["location"]
        );
        assert_eq!(
            one["waypoints"][0]["distance"],
            route["waypoints"][0]["distance"]
        );
    }
    let here = lonlat(nodes[10]);
    let cases = [
        (
            format!("/nearest/v1/driving/{here}?number=0"),
            "InvalidOptions",
        ),
        (format!("/nearest/v1/driving/{here}?number=101"), "TooBig"),
        (
            format!("/nearest/v1/driving/{here}?number=two"),
            "InvalidQuery",
        ),
        (
            format!("/nearest/v1/driving/{here};{here}"),
            "InvalidOptions",
        ),
        (
            format!("/nearest/v1/driving/{here}?radiuses=1;1"),
            "InvalidOptions",
        ),
        ("/nearest/v1/driving/0,0".to_string(), "NoSegment"),
        ("/nearest/v1/driving/9.5,97".to_string(), "InvalidOptions"),
        ("/nearest/v2/driving/9.5,47.1".to_string(), "InvalidVersion"),
    ];
    for (path, code) in cases {
        let (status, body) = get(addr, &path).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some(code)),
            "{path}: {body}"
        );
    }
    // A radius smaller than the distance to the nearest road: no segment.
    let p = LatLon::new(nodes[10].lat + 0.001, nodes[10].lon);
    let d = brute_force_nearest(p, 1)[0];
    let (status, body) = get(
        addr,
        &format!("/nearest/v1/driving/{}?radiuses={:.1}", lonlat(p), d * 0.5),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("NoSegment")),
        "{body}"
    );
    let (status, _) = get(
        addr,
        &format!("/nearest/v1/driving/{}?radiuses={:.1}", lonlat(p), d + 1.0),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_cells_equal_the_routes_for_every_pair() {
    let addr = start(ServerOptions::from(Limits::default())).await;
    let nodes = junctions(&router(NAME));
    // Ten points spread over the extract, each a little off its junction.
    let points: Vec<LatLon> = (0..10)
        .map(|i| nodes[(i * 7919 + 13) % nodes.len()])
        .map(|p| LatLon::new(p.lat + 0.0002, p.lon + 0.0001))
        .collect();
    let coords: Vec<String> = points.iter().map(|&p| lonlat(p)).collect();
    let all = coords.join(";");
    let (status, table) = get(
        addr,
        &format!("/table/v1/driving/{all}?annotations=duration,distance"),
    )
    .await;
    assert_eq!(status, 200, "{table}");
    assert_eq!(table["code"], "Ok");
    let durations = table["durations"].as_array().unwrap();
    let distances = table["distances"].as_array().unwrap();
    assert_eq!(durations.len(), 10);
    assert_eq!(table["sources"].as_array().unwrap().len(), 10);
    assert_eq!(table["destinations"].as_array().unwrap().len(), 10);
    let (mut routed, mut exact) = (0, 0);
    for i in 0..10 {
        assert_eq!(durations[i].as_array().unwrap().len(), 10);
        for j in 0..10 {
            let (dur, dist) = (&durations[i][j], &distances[i][j]);
            if i == j {
                assert_eq!((dur.as_f64(), dist.as_f64()), (Some(0.0), Some(0.0)));
                continue;
            }
            let (status, route) = get(
                addr,
                &format!(
                    "/route/v1/driving/{};{}?overview=false",
                    coords[i], coords[j]
                ),
            )
            .await;
            if status != 200 {
                assert_eq!(route["code"], "NoRoute", "{route}");
                assert!(dur.is_null() && dist.is_null(), "{i}->{j}: {dur}");
                continue;
            }
            routed += 1;
            let r = &route["routes"][0];
            let (rd, rm) = (
                r["duration"].as_f64().unwrap(),
                r["distance"].as_f64().unwrap(),
            );
            let (td, tm) = (dur.as_f64().unwrap(), dist.as_f64().unwrap());
            // Both are rounded to 0.1 from the same sums; a sum on a rounding boundary may
            // land on either side.
            assert!(
                (td - rd).abs() <= 0.1 + 1e-9,
                "{i}->{j}: table {td} s, route {rd} s"
            );
            exact += usize::from(td == rd);
            assert!(
                (tm - rm).abs() <= 1.0_f64.max(rm * 1e-3),
                "{i}->{j}: table {tm} m, route {rm} m"
            );
            // Source and destination waypoints are the route's snaps.
            assert_eq!(
                table["sources"][i]["location"],
                route["waypoints"][0]["location"]
            );
            assert_eq!(
                table["destinations"][j]["location"],
                route["waypoints"][1]["location"]
            );
        }
    }
    eprintln!("table vs route: {routed} routed pairs, {exact} identical durations");
    assert!(routed >= 80, "only {routed} of 90 pairs routable");

    // A sub-table is the same cells; scale_factor scales durations only.
    let (_, sub) = get(
        addr,
        &format!("/table/v1/driving/{all}?sources=2;7&destinations=5&annotations=distance"),
    )
    .await;
    assert!(sub.get("durations").is_none());
    assert_eq!(sub["distances"][0][0], distances[2][5]);
    assert_eq!(sub["distances"][1][0], distances[7][5]);
    assert_eq!(sub["sources"].as_array().unwrap().len(), 2);
    assert_eq!(sub["destinations"].as_array().unwrap().len(), 1);
    let (_, scaled) = get(
        addr,
        &format!("/table/v1/driving/{all}?scale_factor=2&sources=1"),
    )
    .await;
    for j in 0..10 {
        let (a, b) = (&scaled["durations"][0][j], &durations[1][j]);
        if let (Some(a), Some(b)) = (a.as_f64(), b.as_f64()) {
            assert!((a - 2.0 * b).abs() <= 0.2 + 1e-9, "{a} vs 2 × {b}");
        }
    }
    // A fallback speed fills exactly the cells without a path and leaves the others.
    let (_, fallback) = get(addr, &format!("/table/v1/driving/{all}?fallback_speed=10")).await;
    let mut unroutable = Vec::new();
    for i in 0..10 {
        for j in 0..10 {
            if durations[i][j].is_null() {
                unroutable.push(serde_json::json!([i, j]));
                assert!(fallback["durations"][i][j]
                    .as_f64()
                    .is_some_and(|d| d > 0.0));
            } else {
                assert_eq!(fallback["durations"][i][j], durations[i][j]);
            }
        }
    }
    assert_eq!(fallback["fallback_speed_cells"], Value::Array(unroutable));

    let cases = [
        (
            format!("/table/v1/driving/{all}?sources=10"),
            "InvalidOptions",
        ),
        (
            format!("/table/v1/driving/{all}?annotations=speed"),
            "InvalidQuery",
        ),
        (
            format!("/table/v1/driving/{all}?fallback_speed=-3"),
            "InvalidOptions",
        ),
        (
            format!("/table/v1/driving/{all}?radiuses=5"),
            "InvalidOptions",
        ),
        (format!("/table/v1/driving/{}", coords[0]), "InvalidOptions"),
        (format!("/table/v1/driving/{};0,0", coords[0]), "NoSegment"),
    ];
    for (path, code) in cases {
        let (status, body) = get(addr, &path).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some(code)),
            "{path}: {body}"
        );
    }
    let small = start(ServerOptions::from(Limits {
        max_table_size: 3,
        ..Limits::default()
    }))
    .await;
    let (status, body) = get(small, &format!("/table/v1/driving/{all}")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("TooBig")),
        "{body}"
    );
    let (status, _) = get(
        small,
        &format!("/table/v1/driving/{all}?sources=0;1;2&destinations=3;4;5"),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_options_are_validated_and_applied() {
    let addr = start(ServerOptions::from(Limits::default())).await;
    let nodes = junctions(&router(NAME));
    let pts = [nodes[100], nodes[nodes.len() / 3], nodes[nodes.len() - 200]];
    let plain = pts.map(lonlat).join(";");
    let (status, three) = get(addr, &format!("/route/v1/driving/{plain}?overview=full")).await;
    assert_eq!(status, 200, "{three}");

    // The same points as polylines.
    let ab = [pts[0], pts[2]];
    let (_, direct) = get(
        addr,
        &format!("/route/v1/driving/{};{}", lonlat(ab[0]), lonlat(ab[1])),
    )
    .await;
    for (form, precision) in [("polyline", 5), ("polyline6", 6)] {
        let line = meridian::route::polyline::encode(&ab, precision);
        let escaped: String = line
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<Vec<_>>()
            .concat();
        let (status, body) = get(addr, &format!("/route/v1/driving/{form}({escaped})")).await;
        assert_eq!(status, 200, "{form}: {body}");
        let (d, want) = (
            &body["routes"][0]["distance"],
            &direct["routes"][0]["distance"],
        );
        assert!(
            (d.as_f64().unwrap() - want.as_f64().unwrap()).abs() <= 1.0,
            "{form}: {d} vs {want}"
        );
    }

    // waypoints=0;2: one leg through the middle point, as long as the two legs together.
    let (status, silent) = get(
        addr,
        &format!("/route/v1/driving/{plain}?waypoints=0;2&overview=full&steps=true"),
    )
    .await;
    assert_eq!(status, 200, "{silent}");
    let legs = silent["routes"][0]["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 1);
    let sum = |k: &str| {
        three["routes"][0]["legs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l[k].as_f64().unwrap())
            .sum::<f64>()
    };
    assert!((legs[0]["duration"].as_f64().unwrap() - sum("duration")).abs() <= 0.2);
    assert!((legs[0]["distance"].as_f64().unwrap() - sum("distance")).abs() <= 0.2);
    assert_eq!(
        silent["routes"][0]["geometry"],
        three["routes"][0]["geometry"]
    );
    let steps = legs[0]["steps"].as_array().unwrap();
    let arrivals = steps
        .iter()
        .filter(|s| s["maneuver"]["type"] == "arrive")
        .count();
    assert_eq!(arrivals, 1, "one arrival, at the end");

    // Annotations: one value per segment of the leg's full geometry, summing to the leg.
    let (status, ann) = get(
        addr,
        &format!(
            "/route/v1/driving/{};{}?overview=full&geometries=geojson&annotations=duration,distance,speed",
            lonlat(ab[0]),
            lonlat(ab[1])
        ),
    )
    .await;
    assert_eq!(status, 200, "{ann}");
    let route = &ann["routes"][0];
    let a = &route["legs"][0]["annotation"];
    let segments = route["geometry"]["coordinates"].as_array().unwrap().len() - 1;
    let values = |k: &str| -> Vec<f64> {
        a[k].as_array()
            .unwrap_or_else(|| panic!("no {k}: {a}"))
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (dist, dur, speed) = (values("distance"), values("duration"), values("speed"));
    assert_eq!(
        (dist.len(), dur.len(), speed.len()),
        (segments, segments, segments)
    );
    assert!(a.get("weight").is_none() && a.get("nodes").is_none());
    let leg_m = route["legs"][0]["distance"].as_f64().unwrap();
    let leg_s = route["legs"][0]["duration"].as_f64().unwrap();
    let (sum_m, sum_s): (f64, f64) = (dist.iter().sum(), dur.iter().sum());
    assert!(
        (sum_m - leg_m).abs() <= 1.0f64.max(leg_m * 0.01),
        "{sum_m} vs {leg_m}"
    );
    assert!(
        (sum_s - leg_s).abs() <= 1.0f64.max(leg_s * 0.01),
        "{sum_s} vs {leg_s}"
    );
    assert!(speed.iter().all(|&v| (0.0..70.0).contains(&v)), "{speed:?}");

    // radiuses: a point farther from every road than its radius is NoSegment.
    let off = LatLon::new(pts[0].lat + 0.001, pts[0].lon);
    let d = brute_force_nearest(off, 1)[0];
    let far = format!("{};{}", lonlat(off), lonlat(pts[2]));
    let (status, body) = get(
        addr,
        &format!("/route/v1/driving/{far}?radiuses={:.1};unlimited", d * 0.5),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("NoSegment")),
        "{body}"
    );
    let (status, body) = get(
        addr,
        &format!(
            "/route/v1/driving/{far}?radiuses={:.1};&skip_waypoints=true",
            d + 1.0
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("waypoints").is_none());

    // bearings: from the middle of a long segment of a two-way road, the route leaves driving
    // the requested way, in both directions.
    let angle = |a: f64, b: f64| {
        let d = (a - b).rem_euclid(360.0);
        d.min(360.0 - d)
    };
    let r = router(NAME);
    let mut starts = Vec::new();
    'tiles: for t in 0..r.store.tile_count() {
        let tile = r.store.tile(t).unwrap();
        for local in 0..tile.edges.len() as u32 {
            let e = tile.edge(local);
            let shape: Vec<LatLon> = tile.shape(e).collect();
            if e.twin().is_none()
                || e.flags & flags::SNAPPABLE == 0
                || shape[0].haversine_m(shape[1]) < 80.0
            {
                continue;
            }
            let mid = LatLon::new(
                (shape[0].lat + shape[1].lat) / 2.0,
                (shape[0].lon + shape[1].lon) / 2.0,
            );
            let heading = shape[0].bearing_deg(shape[1]);
            starts.push((mid, heading));
            if starts.len() == 4 {
                break 'tiles;
            }
        }
    }
    assert_eq!(starts.len(), 4);
    let depart = |body: &Value| {
        body["routes"][0]["legs"][0]["steps"][0]["maneuver"]["bearing_after"]
            .as_f64()
            .unwrap()
    };
    for (mid, heading) in starts {
        for want in [heading, (heading + 180.0) % 360.0] {
            let path = format!(
                "/route/v1/driving/{};{}?steps=true&bearings={:.0},20;",
                lonlat(mid),
                lonlat(pts[2]),
                want
            );
            let (status, body) = get(addr, &path).await;
            assert_eq!(status, 200, "{path}: {body}");
            let got = depart(&body);
            assert!(
                angle(got, want) <= 3.0,
                "{path}: asked {want}, left at {got}"
            );
        }
        // approaches: 5 m to the right of the road (driving `heading`), `curb` leaves that
        // way with the point on the right, `opposite` the other way.
        let side = (heading + 90.0).to_radians();
        let p = LatLon::new(
            mid.lat + 5.0 * side.cos() / 111_320.0,
            mid.lon + 5.0 * side.sin() / (111_320.0 * mid.lat.to_radians().cos()),
        );
        for (approach, want) in [("curb", heading), ("opposite", (heading + 180.0) % 360.0)] {
            let path = format!(
                "/route/v1/driving/{};{}?steps=true&approaches={approach};",
                lonlat(p),
                lonlat(pts[2]),
            );
            let (status, body) = get(addr, &path).await;
            assert_eq!(status, 200, "{path}: {body}");
            let got = depart(&body);
            assert!(
                angle(got, want) <= 3.0,
                "{path}: wanted {want}, left at {got}"
            );
        }
    }

    // hints: an answer's hints, sent back, replace snapping (even for a moved coordinate);
    // a hint that does not decode is ignored.
    let (_, first) = get(addr, &format!("/route/v1/driving/{far}")).await;
    let hints: Vec<&str> = first["waypoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["hint"].as_str().expect("waypoint hint"))
        .collect();
    let (_, again) = get(
        addr,
        &format!("/route/v1/driving/{far}?hints={}", hints.join(";")),
    )
    .await;
    assert_eq!(
        again["routes"][0]["duration"],
        first["routes"][0]["duration"]
    );
    assert_eq!(
        again["waypoints"][0]["location"],
        first["waypoints"][0]["location"]
    );
    let moved = format!(
        "{};{}",
        lonlat(LatLon::new(off.lat + 0.0003, off.lon)),
        lonlat(pts[2])
    );
    let (_, hinted) = get(
        addr,
        &format!("/route/v1/driving/{moved}?hints={};", hints[0]),
    )
    .await;
    assert_eq!(
        hinted["waypoints"][0]["location"],
        first["waypoints"][0]["location"]
    );
    let (_, plain_moved) = get(addr, &format!("/route/v1/driving/{moved}?hints=AAAA;")).await;
    let (_, unhinted) = get(addr, &format!("/route/v1/driving/{moved}")).await;
    assert_eq!(plain_moved["waypoints"][0], unhinted["waypoints"][0]);
    // (the moved coordinate alone snaps elsewhere, so the hint made the difference)
    assert_ne!(
        unhinted["waypoints"][0]["location"],
        first["waypoints"][0]["location"]
    );
    let (_, no_hints) = get(
        addr,
        &format!("/route/v1/driving/{far}?generate_hints=false"),
    )
    .await;
    assert!(no_hints["waypoints"][0].get("hint").is_none());

    let cases = [
        ("bearings=400,20;", "InvalidOptions"),
        ("exclude=foo", "InvalidValue"),
        ("approaches=foo;bar", "InvalidQuery"),
        ("radiuses=1;1;1", "InvalidOptions"),
        ("waypoints=1", "InvalidValue"),
        ("alternatives=maybe", "InvalidQuery"),
    ];
    for (query, code) in cases {
        let path = format!("/route/v1/driving/{far}?{query}");
        let (status, body) = get(addr, &path).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some(code)),
            "{path}: {body}"
        );
    }
}
