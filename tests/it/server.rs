//! The REST API over real HTTP: a server on an ephemeral port answering in OSRM's shape, and
//! every error code the issue lists.

use crate::common::{get, junctions, router};
use meridian::route::polyline;
use meridian::server::{serve_on, Limits};
use std::net::SocketAddr;

async fn start(name: &str) -> SocketAddr {
    let router = router(name);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on(
        router,
        listener,
        Limits {
            max_route_coordinates: 10,
            ..Limits::default()
        },
        None,
    ));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_routes_in_the_osrm_shape() {
    let name = "small/liechtenstein-2015-07";
    let addr = start(name).await;
    let nodes = junctions(&router(name));
    let (a, b) = (nodes[5], nodes[nodes.len() - 5]);
    let coords = format!("{},{};{},{}", a.lon, a.lat, b.lon, b.lat);

    let (status, body) = get(
        addr,
        &format!("/route/v1/driving/{coords}?overview=full&steps=true"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], "Ok");
    let route = &body["routes"][0];
    assert!(route["distance"].as_f64().unwrap() > 0.0);
    assert!(route["duration"].as_f64().unwrap() > 0.0);
    assert_eq!(route["weight"], route["duration"]);
    assert!(route["weight_name"].is_string());
    let line = polyline::decode(route["geometry"].as_str().unwrap(), 5).unwrap();
    assert!(line.len() >= 2);
    assert!(!route["tiles"].as_array().unwrap().is_empty());
    let leg = &route["legs"][0];
    assert!(leg["summary"].is_string());
    let steps = leg["steps"].as_array().unwrap();
    assert_eq!(steps[0]["maneuver"]["type"], "depart");
    assert_eq!(steps.last().unwrap()["maneuver"]["type"], "arrive");
    for s in steps {
        assert!(s["maneuver"]["location"].as_array().unwrap().len() == 2);
        assert!(s["maneuver"]["bearing_after"].is_u64());
        assert!(s["geometry"].is_string());
        assert!(s["name"].is_string());
    }
    let wps = body["waypoints"].as_array().unwrap();
    assert_eq!(wps.len(), 2);
    assert!(wps[0]["location"][0].as_f64().unwrap() < 10.0); // longitude first

    // Other encodings of the same route.
    let (_, geo) = get(
        addr,
        &format!("/route/v1/driving/{coords}?overview=full&geometries=geojson"),
    )
    .await;
    let c = geo["routes"][0]["geometry"]["coordinates"]
        .as_array()
        .unwrap();
    assert_eq!(c.len(), line.len());
    let (_, p6) = get(
        addr,
        &format!("/route/v1/driving/{coords}?overview=full&geometries=polyline6"),
    )
    .await;
    assert_eq!(
        polyline::decode(p6["routes"][0]["geometry"].as_str().unwrap(), 6)
            .unwrap()
            .len(),
        line.len()
    );
    let (_, none) = get(addr, &format!("/route/v1/driving/{coords}?overview=false")).await;
    assert!(none["routes"][0].get("geometry").is_none());
    let (_, simple) = get(addr, &format!("/route/v1/driving/{coords}")).await;
    let simplified =
        polyline::decode(simple["routes"][0]["geometry"].as_str().unwrap(), 5).unwrap();
    assert!(simplified.len() <= line.len());
    assert_eq!(simple["routes"][0]["distance"], route["distance"]);

    // Three points: two legs.
    let m = nodes[nodes.len() / 2];
    let (_, via) = get(
        addr,
        &format!(
            "/route/v1/driving/{},{};{},{};{},{}",
            a.lon, a.lat, m.lon, m.lat, b.lon, b.lat
        ),
    )
    .await;
    assert_eq!(via["routes"][0]["legs"].as_array().unwrap().len(), 2);

    let (status, health) = get(addr, "/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_osrm_error_codes() {
    let addr = start("small/liechtenstein-2015-07").await;
    let cases = [
        ("/route/v1/driving/9.52,47.14", "InvalidQuery"),
        ("/route/v1/driving/abc,def;9.52,47.14", "InvalidQuery"),
        (
            "/route/v1/driving/9.52,47.14;9.53,47.15?overview=sometimes",
            "InvalidQuery",
        ),
        (
            "/route/v1/driving/9.52,47.14;9.53,47.15?frobnicate=1",
            "InvalidQuery",
        ),
        ("/route/v1/driving/NaN,47.14;9.53,47.15", "InvalidValue"),
        ("/route/v1/driving/9.52,97.14;9.53,47.15", "InvalidValue"),
        ("/route/v1/driving/200,47.14;9.53,47.15", "InvalidValue"),
        (
            "/route/v1/driving/1,1;2,2;3,3;4,4;5,5;6,6;7,7;8,8;9,9;10,10;11,11",
            "TooBig",
        ),
        ("/route/v1/driving/0,0;9.53,47.15", "NoSegment"),
        ("/nothing/here", "InvalidService"),
        ("/route/v1", "InvalidUrl"),
        ("/route/v1/driving/9.52%ZZ,47.14;9.53,47.15", "InvalidUrl"),
    ];
    for (path, code) in cases {
        let (status, body) = get(addr, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], code, "{path}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}"
        );
    }
    // Not a GET: still a JSON error, never a crash.
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}
