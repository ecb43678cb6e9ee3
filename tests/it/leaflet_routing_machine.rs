//! The unmodified Leaflet Routing Machine (npm, the versions `.ci/run` installs) in headless
//! Chromium, on a page served from another origin than Meridian's: a small static server on a
//! port of its own serves `tests/clients/lrm.html` and the npm packages' dist files, the page
//! routes between two junctions with `L.Routing.osrmv1` pointed at a real Meridian server, and
//! the test reads back the itinerary LRM drew, compares it with Meridian's own `/route` answer,
//! and checks the browser's cross-origin request succeeded. A second Meridian that allows only
//! some other origin makes the same page fail: the browser, not the test, enforces CORS.

use crate::common::{junctions, router, serve_with_tiles, tool_available};
use crate::map_page::{base64_decode, browser, Session, CHROMEDRIVER, CHROMIUM};
use meridian::server::cors::Cors;
use meridian::server::{serve_on, Limits, ServerOptions};
use meridian::spatial::LatLon;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;
use warp::Filter;

const MAP: &str = "small/liechtenstein-2015-07";
/// The npm packages and versions `.ci/run` installs (LRM 3.2.12 is the one issue 12 names).
const PACKAGES: [(&str, &str); 2] = [("leaflet", "1.9.4"), ("leaflet-routing-machine", "3.2.12")];

/// `node_modules` of the npm cache dir (`MERIDIAN_NPM_DIR`, set by `.ci/run`, else
/// `~/.cache/meridian-npm`) when it holds the pinned packages. `None` (test skipped) when not,
/// unless `MERIDIAN_REQUIRE_TOOLS=1`.
fn npm_modules() -> Option<PathBuf> {
    let dir = std::env::var("MERIDIAN_NPM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/meridian-npm")
        });
    let modules = dir.join("node_modules");
    let wrong: Vec<String> = PACKAGES
        .iter()
        .filter(|(name, version)| {
            let manifest = std::fs::read_to_string(modules.join(name).join("package.json"));
            let found = manifest
                .ok()
                .and_then(|m| serde_json::from_str::<Value>(&m).ok())
                .and_then(|m| m["version"].as_str().map(str::to_string));
            found.as_deref() != Some(*version)
        })
        .map(|(name, version)| format!("{name}@{version}"))
        .collect();
    if wrong.is_empty() {
        return Some(modules);
    }
    let why = format!(
        "{wrong:?} not in {} (npm install --prefix {} {})",
        modules.display(),
        dir.display(),
        PACKAGES.map(|(n, v)| format!("{n}@{v}")).join(" ")
    );
    if std::env::var("MERIDIAN_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!("Leaflet Routing Machine test: {why} and MERIDIAN_REQUIRE_TOOLS=1");
    }
    eprintln!("SKIPPED Leaflet Routing Machine test: {why}");
    None
}

/// The other origin: the test page and the npm packages, nothing of Meridian's.
async fn static_site(modules: PathBuf) -> SocketAddr {
    let page = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/lrm.html");
    let routes = warp::path("lrm.html")
        .and(warp::path::end())
        .and(warp::fs::file(page))
        .or(warp::path("npm").and(warp::fs::dir(modules)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    addr
}

/// A Meridian server that lets only `origin` read its answers from a browser.
async fn serve_for_origin(origin: &str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options =
        ServerOptions::from(Limits::default()).with_cors(Cors::Origins(vec![origin.to_string()]));
    tokio::spawn(serve_on(router(MAP), listener, options, None));
    addr
}

/// The junctions nearest to these fractions of the map's bounding box.
fn junctions_at(fractions: &[(f64, f64)]) -> Vec<LatLon> {
    let r = router(MAP);
    let nodes = junctions(&r);
    let [min_lon, min_lat, max_lon, max_lat] = r.store.manifest().bbox.lon_lat_array();
    let nearest = |fx: f64, fy: f64| {
        let p = LatLon::new(
            min_lat + fy * (max_lat - min_lat),
            min_lon + fx * (max_lon - min_lon),
        );
        *nodes
            .iter()
            .min_by(|a, b| a.haversine_m(p).total_cmp(&b.haversine_m(p)))
            .unwrap()
    };
    fractions.iter().map(|&(fx, fy)| nearest(fx, fy)).collect()
}

/// Loads the page against the Meridian at `meridian` and waits for LRM's `routesfound` (and its
/// itinerary) or `routingerror`; returns what the page and LRM's panel show.
async fn run_page(s: &Session, site: SocketAddr, meridian: SocketAddr, points: &[LatLon]) -> Value {
    let q = |p: &LatLon| format!("{:.6},{:.6}", p.lon, p.lat);
    let (first, last) = (points.first().unwrap(), points.last().unwrap());
    let mut url = format!(
        "http://{site}/lrm.html?meridian=http://{meridian}&from={}&to={}",
        q(first),
        q(last)
    );
    if let [_, via, _] = points {
        url += &format!("&via={}", q(via));
    }
    s.post("url", json!({ "url": url })).await;
    s.wait_for(
        "Leaflet Routing Machine's answer",
        "const r = document.getElementById('result');
         // LRM fires routesfound before it draws the itinerary: wait for its rows too.
         const rows = document.querySelectorAll('.leaflet-routing-alt tbody tr').length;
         if (r.dataset.status === 'error' || (r.dataset.status === 'found' && rows > 0)) {
           return r.dataset.status;
         }
         return null;",
        json!([]),
    )
    .await;
    s.js(
        "const r = document.getElementById('result');
         const alt = document.querySelector('.leaflet-routing-alt:not(.leaflet-routing-alt-minimized)');
         const rows = alt ? [...alt.querySelectorAll('tbody tr')]
             .map((tr) => {
               // The icon LRM picked for the step (depart, via, arrive, turn-right, ...).
               const icon = tr.cells[0].querySelector('span');
               return [icon ? icon.className.replace(/.*leaflet-routing-icon-/, '') : '',
                       tr.cells[1].textContent.trim(), tr.cells[2].textContent.trim()];
             }) : [];
         const summary = alt && alt.querySelector('h3');
         const lines = [...document.querySelectorAll('.leaflet-overlay-pane path')].map((p) => {
           const b = p.getBoundingClientRect();
           return { stroke: p.getAttribute('stroke'), left: b.left, top: b.top,
                    width: b.width, height: b.height };
         });
         return {
           status: r.dataset.status,
           error: r.dataset.error ? JSON.parse(r.dataset.error) : null,
           distance: Number(r.dataset.distance),
           time: Number(r.dataset.time),
           instructions: Number(r.dataset.instructions),
           coordinates: Number(r.dataset.coordinates),
           requests: JSON.parse(r.dataset.requests || '[]'),
           origin: location.origin,
           summary: summary ? summary.textContent : null,
           rows, lines,
           pageError: document.getElementById('error').textContent.trim(),
         };",
        json!([]),
    )
    .await
}

/// The coordinates (lon, lat) in an OSRM route URL's path.
fn url_coordinates(url: &str) -> Vec<[f64; 2]> {
    let path = url.split('?').next().unwrap();
    let coords = path.rsplit('/').next().unwrap();
    coords
        .split(';')
        .map(|c| {
            let (lon, lat) = c.split_once(',').unwrap();
            [lon.parse().unwrap(), lat.parse().unwrap()]
        })
        .collect()
}

/// Metres in LRM's summary distance ("3.0 km, 4 min 30 s" or "812.3 m, ..."), and the
/// precision it is shown with (LRM's default prints totals with one decimal).
fn shown_metres(summary: &str) -> (f64, f64) {
    let distance = summary.split(", ").next().unwrap();
    let (value, unit) = distance.rsplit_once(' ').unwrap();
    let v: f64 = value.parse().unwrap_or_else(|_| panic!("{summary:?}"));
    match unit {
        "km" => (v * 1000.0, 50.0),
        "m" => (v, 0.05),
        _ => panic!("unit {unit:?} in {summary:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaflet_routing_machine_from_another_origin_in_chromium() {
    let test = "leaflet_routing_machine_from_another_origin_in_chromium";
    if !tool_available(test, &[CHROMIUM, CHROMEDRIVER]) {
        return;
    }
    let Some(modules) = npm_modules() else {
        return;
    };
    let started = Instant::now();
    let meridian = serve_with_tiles(MAP).await;
    let site = static_site(modules).await;
    // Two junctions a few km apart, and one between them as a via point.
    let points = junctions_at(&[(0.45, 0.3), (0.55, 0.6), (0.5, 0.45)]);
    let (a, b, via) = (points[0], points[1], points[2]);
    let (s, driver, _profile) = browser().await;

    let page = run_page(&s, site, meridian, &[a, b]).await;
    eprintln!("LRM page: {page}");
    assert_eq!(page["status"], "found", "LRM reported an error: {page}");
    assert_eq!(page["pageError"], "", "the page reported an error");

    // The page came from the static site, the route from Meridian: two origins.
    let origin = format!("http://{site}");
    assert_eq!(page["origin"], origin.as_str());
    assert_ne!(site.port(), meridian.port());
    // The browser's own record of the request: LRM's XHR to Meridian's origin, its response
    // readable (a CORS-blocked response shows no status).
    let requests = page["requests"].as_array().unwrap();
    let route_prefix = format!("http://{meridian}/route/v1/driving/");
    let lrm_request = requests
        .iter()
        .find(|r| r["url"].as_str().unwrap().starts_with(&route_prefix))
        .unwrap_or_else(|| panic!("no request to {route_prefix} in {requests:?}"));
    assert_eq!(lrm_request["type"], "xmlhttprequest");
    assert_eq!(lrm_request["status"], 200);
    let lrm_url = lrm_request["url"].as_str().unwrap();
    // LRM asked for exactly our two junctions.
    let asked = url_coordinates(lrm_url);
    assert_eq!(asked.len(), 2, "{lrm_url}");
    for (got, want) in asked.iter().zip([a, b]) {
        assert!(
            (got[0] - want.lon).abs() < 1e-6 && (got[1] - want.lat).abs() < 1e-6,
            "{lrm_url} does not ask for {want:?}"
        );
    }

    // The same request from outside the browser, with the page's Origin: Meridian's CORS header
    // lets that origin read it, and it is the route LRM shows.
    let replay = reqwest::Client::new()
        .get(lrm_url)
        .header("origin", &origin)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    let allowed = replay.headers()["access-control-allow-origin"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(allowed == "*" || allowed == origin, "allows {allowed}");
    let replayed: Value = replay.json().await.unwrap();
    assert_eq!(page["distance"], replayed["routes"][0]["distance"]);

    // Meridian's own answer for the two junctions.
    let own_url = format!(
        "http://{meridian}/route/v1/driving/{:.6},{:.6};{:.6},{:.6}?steps=true&overview=false",
        a.lon, a.lat, b.lon, b.lat
    );
    let own: Value = reqwest::get(&own_url).await.unwrap().json().await.unwrap();
    assert_eq!(own["code"], "Ok", "{own_url}: {own}");
    let route = &own["routes"][0];
    let distance = route["distance"].as_f64().unwrap();
    assert!(
        (2000.0..15000.0).contains(&distance),
        "the junctions are {distance} m apart by road, not a few km"
    );
    assert_eq!(page["distance"].as_f64().unwrap(), distance);
    assert_eq!(
        page["time"].as_f64().unwrap(),
        route["duration"].as_f64().unwrap()
    );
    let summary = page["summary"].as_str().unwrap();
    let (shown, precision) = shown_metres(summary);
    assert!(
        (shown - distance).abs() <= precision + 1e-6,
        "LRM shows {summary:?} for Meridian's {distance} m"
    );

    // The itinerary LRM drew: one row per step of Meridian's answer, each with a text, ending
    // at the destination; the streets Meridian names appear in it.
    let steps = route["legs"][0]["steps"].as_array().unwrap();
    let rows: Vec<Vec<String>> = serde_json::from_value(page["rows"].clone()).unwrap();
    eprintln!("LRM itinerary ({summary}):");
    for r in &rows {
        eprintln!("  {}", r.join(" | "));
    }
    assert!(rows.len() >= 3, "only {} instructions", rows.len());
    assert_eq!(rows.len(), steps.len(), "one itinerary row per step");
    assert_eq!(page["instructions"].as_u64().unwrap() as usize, rows.len());
    for r in &rows {
        assert_eq!(r.len(), 3, "row {r:?}: icon, text, distance");
        assert!(!r[1].is_empty(), "instruction without text: {r:?}");
    }
    assert_eq!(rows[0][0], "depart", "first row {:?}", rows[0]);
    assert!(rows[0][1].starts_with("Head "), "first row {:?}", rows[0]);
    let last = rows.last().unwrap();
    assert_eq!(last[0], "arrive", "last row {last:?}");
    assert!(last[1].contains("arrived"), "last row {last:?}");
    let text = rows.iter().map(|r| r[1].as_str()).collect::<Vec<_>>();
    let named: Vec<&str> = steps
        .iter()
        .filter_map(|s| s["name"].as_str())
        .filter(|n| !n.is_empty())
        .collect();
    let mentioned = named.iter().filter(|n| text.iter().any(|t| t.contains(*n)));
    assert!(
        mentioned.count() * 2 >= named.len(),
        "the itinerary names few of Meridian's streets {named:?}: {text:?}"
    );

    // The route line LRM drew (its red centre line) spans a real part of the window.
    assert!(page["coordinates"].as_u64().unwrap() >= 10);
    let lines = page["lines"].as_array().unwrap();
    let red = lines
        .iter()
        .find(|l| l["stroke"] == "red")
        .unwrap_or_else(|| panic!("no route line: {lines:?}"));
    let (w, h) = (
        red["width"].as_f64().unwrap(),
        red["height"].as_f64().unwrap(),
    );
    assert!(w.max(h) > 200.0, "route line only {w}x{h} px");
    assert!(
        red["left"].as_f64().unwrap() >= 0.0 && red["top"].as_f64().unwrap() >= 0.0,
        "route line off screen: {red}"
    );

    // Screenshot, once Meridian's map images behind the route have loaded.
    s.wait_for(
        "Meridian's map images",
        "const imgs = [...document.querySelectorAll('img.meridian-image')];
         return imgs.length > 0 && imgs.every((i) => i.complete);",
        json!([]),
    )
    .await;
    let shot = s.cmd(reqwest::Method::GET, "screenshot", None).await;
    let png = base64_decode(shot.as_str().unwrap());
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 20_000,
        "screenshot of {} bytes is blank",
        png.len()
    );
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("leaflet_routing_machine.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("Leaflet Routing Machine screenshot: {}", path.display());

    // Routing again (as LRM does when the waypoints change) sends the hints of Meridian's
    // first answer back; Meridian takes them and answers the same route.
    s.js("window.lrm.route()", json!([])).await;
    let again = s
        .wait_for(
            "LRM's second route",
            "const r = document.getElementById('result');
             if (r.dataset.status === 'error') return JSON.parse(r.dataset.error);
             if (r.dataset.found !== '2') return null;
             return { distance: Number(r.dataset.distance), requests: JSON.parse(r.dataset.requests) };",
            json!([]),
        )
        .await;
    assert_eq!(again["distance"], page["distance"], "second route: {again}");
    let second = again["requests"]
        .as_array()
        .and_then(|r| r.get(1))
        .unwrap_or_else(|| panic!("no second request: {again}"));
    let url = second["url"].as_str().unwrap();
    let hints = url
        .split("hints=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let sent: Vec<&str> = hints.split(';').collect();
    let given: Vec<&str> = replayed["waypoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["hint"].as_str().unwrap())
        .collect();
    assert!(
        given.iter().all(|h| !h.is_empty()),
        "Meridian gave no hints"
    );
    assert_eq!(
        sent, given,
        "LRM sent other hints than Meridian gave: {url}"
    );
    assert_eq!(second["status"], 200);

    // With a via point: two legs, LRM reaches the via point on the way (its own row), and the
    // whole is Meridian's three-point route.
    let with_via = run_page(&s, site, meridian, &[a, via, b]).await;
    assert_eq!(
        with_via["status"], "found",
        "LRM reported an error: {with_via}"
    );
    assert_eq!(with_via["pageError"], "");
    let own_url = format!(
        "http://{meridian}/route/v1/driving/{:.6},{:.6};{:.6},{:.6};{:.6},{:.6}?steps=true&overview=false",
        a.lon, a.lat, via.lon, via.lat, b.lon, b.lat
    );
    let own: Value = reqwest::get(&own_url).await.unwrap().json().await.unwrap();
    assert_eq!(own["code"], "Ok", "{own_url}: {own}");
    assert_eq!(with_via["distance"], own["routes"][0]["distance"]);
    let legs = own["routes"][0]["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 2);
    let steps: usize = legs
        .iter()
        .map(|l| l["steps"].as_array().unwrap().len())
        .sum();
    let rows: Vec<Vec<String>> = serde_json::from_value(with_via["rows"].clone()).unwrap();
    assert_eq!(rows.len(), steps, "one itinerary row per step of both legs");
    let reached: Vec<_> = rows.iter().filter(|r| r[0] == "via").collect();
    assert_eq!(reached.len(), 1, "via rows {reached:?} in {rows:?}");
    let asked = url_coordinates(with_via["requests"][0]["url"].as_str().unwrap());
    assert_eq!(asked.len(), 3);
    eprintln!(
        "LRM with a via point: {} rows, {} m, reached: {:?}",
        rows.len(),
        with_via["distance"],
        reached[0][1]
    );

    // Control: a Meridian that allows only another origin answers the same request, but the
    // browser keeps the answer from the page, and LRM reports the failure.
    let strict = serve_for_origin("http://app.example").await;
    let direct: Value = reqwest::get(format!(
        "http://{strict}/route/v1/driving/{:.6},{:.6};{:.6},{:.6}",
        a.lon, a.lat, b.lon, b.lat
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(direct["code"], "Ok");
    let refused = run_page(&s, site, strict, &[a, b]).await;
    eprintln!(
        "LRM page against a server for another origin: {}",
        refused["error"]
    );
    assert_eq!(refused["status"], "error", "{refused}");
    assert_eq!(refused["error"]["status"], -1, "{refused}");
    // The browser sent it and got an answer it would not show: no readable status.
    assert_eq!(refused["requests"][0]["status"], 0, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("HTTP request failed"),
        "{refused}"
    );

    // The session first (closing Chromium), then chromedriver.
    drop(s);
    drop(driver);
    eprintln!("{test}: {:.1} s", started.elapsed().as_secs_f64());
}
