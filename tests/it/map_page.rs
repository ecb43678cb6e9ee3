//! The map page at `/`: served self-contained, and driven in a real headless Chromium over the
//! W3C WebDriver protocol (chromedriver, spoken with plain reqwest): images load, two real
//! mouse clicks route between two junctions, two addresses typed into the search boxes route
//! between those houses, and the page shows what the API answers.

use crate::common::{free_port, junctions, router, serve_with_tiles, tool_available};
use crate::tiles_http::{wait_for_port, KillOnDrop};
use meridian::spatial::LatLon;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MAP: &str = "small/liechtenstein-2015-07";
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_is_self_contained() {
    let addr = serve_with_tiles(MAP).await;
    let client = reqwest::Client::new();
    let r = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
    let etag = h["etag"].to_str().unwrap().to_string();
    let html = r.text().await.unwrap();
    for needle in [
        "id=\"map\"",
        "id=\"route-line\"",
        "id=\"summary\"",
        "id=\"steps\"",
        "id=\"from-input\"",
        "id=\"to-input\"",
        "/search?",
        "© OpenStreetMap contributors",
        "/tiles/index.json",
    ] {
        assert!(html.contains(needle), "page lacks {needle}");
    }
    // Nothing is fetched from elsewhere: no absolute URLs at all.
    assert!(!html.contains("http:") && !html.contains("https:") && !html.contains("//cdn"));
    let again = client
        .get(format!("http://{addr}/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

/// One WebDriver session; deleted (closing Chromium) when dropped, even on a failed assert.
/// Also driven by `leaflet_routing_machine.rs`.
pub struct Session {
    client: reqwest::Client,
    base: String,
    id: String,
}

impl Session {
    async fn start(base: &str, profile: &std::path::Path) -> Session {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", profile.display()),
                    "--window-size=1000,800",
                ],
            },
        }}});
        let r: Value = client
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .unwrap();
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_string();
        Session {
            client,
            base: base.to_string(),
            id,
        }
    }

    pub async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}/{path}", self.base, self.id);
        let mut req = self.client.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{path} failed ({status}): {v}");
        v["value"].clone()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn js(&self, script: &str, args: Value) -> Value {
        self.post("execute/sync", json!({"script": script, "args": args}))
            .await
    }

    /// Polls `script` until it returns something truthy (returned), or fails after 30 s.
    pub async fn wait_for(&self, what: &str, script: &str, args: Value) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.js(script, args.clone()).await;
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return v;
            }
            if Instant::now() > deadline {
                let page_error = self
                    .js(
                        "return document.getElementById('error').textContent",
                        json!([]),
                    )
                    .await;
                panic!("timed out waiting for {what} (page error: {page_error})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The WebDriver id of the element `css` selects.
    async fn element(&self, css: &str) -> String {
        let v = self
            .post("element", json!({"using": "css selector", "value": css}))
            .await;
        v["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// Real key presses into an element (`\u{E007}` is Enter).
    async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.post(&format!("element/{id}/value"), json!({ "text": text }))
            .await;
    }

    /// A real left click at viewport pixel (x, y) through the Actions API.
    async fn click(&self, x: i64, y: i64) {
        self.post(
            "actions",
            json!({"actions": [{
                "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": [
                    {"type": "pointerMove", "duration": 0, "x": x, "y": y, "origin": "viewport"},
                    {"type": "pointerDown", "button": 0},
                    {"type": "pause", "duration": 50},
                    {"type": "pointerUp", "button": 0},
                    {"type": "pause", "duration": 300},
                ],
            }]}),
        )
        .await;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Drop cannot await: a short-lived runtime on its own thread sends DELETE.
        let url = format!("{}/session/{}", self.base, self.id);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let client = reqwest::Client::new();
                let _ =
                    tokio::time::timeout(Duration::from_secs(10), client.delete(&url).send()).await;
            });
        })
        .join();
    }
}

/// Two junctions a few km apart near the middle of the map, with a route between them.
async fn pick_endpoints(addr: SocketAddr) -> [LatLon; 2] {
    let r = router(MAP);
    let nodes = junctions(&r);
    let [min_lon, min_lat, max_lon, max_lat] = r.store.manifest().bbox.lon_lat_array();
    let nearest = |fx: f64, fy: f64| {
        let (lat, lon) = (
            min_lat + fy * (max_lat - min_lat),
            min_lon + fx * (max_lon - min_lon),
        );
        *nodes
            .iter()
            .min_by(|a, b| {
                a.haversine_m(LatLon::new(lat, lon))
                    .total_cmp(&b.haversine_m(LatLon::new(lat, lon)))
            })
            .unwrap()
    };
    let (a, b) = (nearest(0.45, 0.3), nearest(0.55, 0.6));
    let (_, body) = api_route(addr, a, b).await;
    assert_eq!(body["code"], "Ok", "{body}");
    [a, b]
}

async fn api_route(addr: SocketAddr, from: LatLon, to: LatLon) -> (String, Value) {
    let url = format!(
        "http://{addr}/route/v1/driving/{:.6},{:.6};{:.6},{:.6}?overview=full&geometries=geojson&steps=true",
        from.lon, from.lat, to.lon, to.lat
    );
    let body = reqwest::get(&url).await.unwrap().json().await.unwrap();
    (url, body)
}

/// Reads the route the page shows: `(distance from data-distance, summary text, line points)`.
async fn shown_route(s: &Session) -> (f64, String, u64, u64) {
    let v = s
        .wait_for(
            "the route on the page",
            "const line = document.getElementById('route-line');
             const summary = document.getElementById('summary');
             if (line.points.numberOfItems < 2 || !summary.dataset.distance) return null;
             return [Number(summary.dataset.distance), summary.textContent,
                     line.points.numberOfItems, document.querySelectorAll('#steps li').length];",
            json!([]),
        )
        .await;
    (
        v[0].as_f64().unwrap(),
        v[1].as_str().unwrap().to_string(),
        v[2].as_u64().unwrap(),
        v[3].as_u64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_clicking_in_chromium() {
    if !tool_available("routes_by_clicking_in_chromium", &[CHROMIUM, CHROMEDRIVER]) {
        return;
    }
    let started = Instant::now();
    let addr = serve_with_tiles(MAP).await;
    let [a, b] = pick_endpoints(addr).await;

    let port = free_port();
    let mut driver = KillOnDrop(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    wait_for_port(port, &mut driver.0, "chromedriver").await;
    let profile = tempfile::tempdir().unwrap();
    let s = Session::start(&format!("http://127.0.0.1:{port}"), profile.path()).await;

    s.post("url", json!({"url": format!("http://{addr}/")}))
        .await;
    let tile_loaded = "return window.meridian && window.meridian.ready &&
        [...document.querySelectorAll('#tiles img')].filter(i => i.complete && i.naturalWidth > 0).length";
    let loaded = s
        .wait_for("a loaded map image", tile_loaded, json!([]))
        .await;
    eprintln!("map page: {loaded} images loaded");

    // Frame both junctions (zooming in makes a click land within a few metres of them).
    s.js(
        "window.meridian.fit(...arguments, 100)",
        json!([
            a.lon.min(b.lon),
            a.lat.min(b.lat),
            a.lon.max(b.lon),
            a.lat.max(b.lat)
        ]),
    )
    .await;
    s.wait_for("images after zooming", tile_loaded, json!([]))
        .await;
    let screen = s
        .js(
            "const m = window.meridian;
             return [m.project(arguments[0], arguments[1]), m.project(arguments[2], arguments[3])];",
            json!([a.lon, a.lat, b.lon, b.lat]),
        )
        .await;
    let px = |i: usize| {
        (
            screen[i]["x"].as_f64().unwrap().round() as i64,
            screen[i]["y"].as_f64().unwrap().round() as i64,
        )
    };
    let (pa, pb) = (px(0), px(1));
    for (x, y) in [pa, pb] {
        assert!(
            (340..1000).contains(&x) && (0..800).contains(&y),
            "junction off the map area: {x},{y}"
        );
    }
    s.click(pa.0, pa.1).await;
    s.click(pb.0, pb.1).await;

    let (distance, summary, points, steps) = shown_route(&s).await;
    let picked = s.js("return window.meridian.state", json!([])).await;
    let coord = |p: &Value| LatLon::from_lon_lat([p[0].as_f64().unwrap(), p[1].as_f64().unwrap()]);
    let (from, to) = (coord(&picked["from"]), coord(&picked["to"]));
    let (url, api) = api_route(addr, from, to).await;
    assert_eq!(api["code"], "Ok", "{url}: {api}");
    let api_distance = api["routes"][0]["distance"].as_f64().unwrap();
    assert_eq!(distance, api_distance, "page and API disagree for {url}");
    let km = format!("{:.2} km", api_distance / 1000.0);
    let km1 = format!("{:.1} km", api_distance / 1000.0);
    assert!(
        summary.contains(&km) || summary.contains(&km1),
        "summary {summary:?} does not show {km}"
    );
    assert!(summary.contains("min"), "no ETA in {summary:?}");
    let api_steps = api["routes"][0]["legs"][0]["steps"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(steps as usize, api_steps, "one list item per step");
    // Each item reads the server's text instruction.
    let texts = s
        .js(
            "return [...document.querySelectorAll('#steps li .text')].map(t => t.textContent);",
            json!([]),
        )
        .await;
    let instructions: Vec<Value> = api["routes"][0]["legs"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["maneuver"]["instruction"].clone())
        .collect();
    assert_eq!(
        texts,
        Value::Array(instructions),
        "the list shows the instructions"
    );
    assert!(points >= 2);
    // The clicks landed on the junctions: the API snapped them within a few metres.
    for (i, j) in [(0, a), (1, b)] {
        let w = &api["waypoints"][i]["location"];
        let snapped = LatLon::new(w[1].as_f64().unwrap(), w[0].as_f64().unwrap());
        let off = snapped.haversine_m(j);
        assert!(off < 60.0, "click {i} snapped {off:.0} m from its junction");
    }

    s.wait_for(
        "every image on screen to finish loading",
        "const imgs = [...document.querySelectorAll('#tiles img')];
         return imgs.length > 0 && imgs.every(i => i.complete);",
        json!([]),
    )
    .await;
    let shot = s
        .cmd(reqwest::Method::GET, "screenshot", None)
        .await
        .as_str()
        .unwrap()
        .to_string();
    let png = base64_decode(&shot);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("map_page.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("map page screenshot: {}", path.display());
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "screenshot is not a PNG"
    );
    let (w, h) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert!(w >= 500 && h >= 400, "screenshot is {w}x{h}");
    assert!(
        png.len() > 20_000,
        "screenshot of {} bytes is blank",
        png.len()
    );

    // A link with ?from=&to= routes on load to the same answer.
    s.post(
        "url",
        json!({"url": format!(
            "http://{addr}/?from={:.6},{:.6}&to={:.6},{:.6}",
            from.lon, from.lat, to.lon, to.lat
        )}),
    )
    .await;
    let (linked, _, _, _) = shown_route(&s).await;
    assert_eq!(linked, api_distance);

    drop(s);
    drop(driver);
    eprintln!(
        "routes_by_clicking_in_chromium: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Starts chromedriver on a free port and a session on it; both end when dropped.
pub async fn browser() -> (Session, KillOnDrop, tempfile::TempDir) {
    let port = free_port();
    let mut driver = KillOnDrop(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    wait_for_port(port, &mut driver.0, "chromedriver").await;
    let profile = tempfile::tempdir().unwrap();
    let s = Session::start(&format!("http://127.0.0.1:{port}"), profile.path()).await;
    (s, driver, profile)
}

/// `/search` answer's first hit for `text`: `(lat, lon, display_name)`.
async fn first_hit(addr: SocketAddr, text: &str) -> (f64, f64, String) {
    let url = format!(
        "http://{addr}/search?q={}&limit=1",
        crate::geocoding::encode(text)
    );
    let v: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let hit = &v[0];
    let num = |k: &str| hit[k].as_str().unwrap().parse::<f64>().unwrap();
    (
        num("lat"),
        num("lon"),
        hit["display_name"].as_str().unwrap().to_string(),
    )
}

/// Two addresses of the PBF typed into the start and destination boxes (the first picked from
/// the result list with a click, the second with Enter before the list even showed) give the
/// route between those houses: its ends lie within 50 m of the addresses' tagged positions,
/// the markers stand where `/search` puts them, and the page shows `/route`'s answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_between_two_typed_addresses_in_chromium() {
    if !tool_available(
        "routes_between_two_typed_addresses_in_chromium",
        &[CHROMIUM, CHROMEDRIVER],
    ) {
        return;
    }
    let addr = serve_with_tiles(MAP).await;
    let [(text_a, house_a), (text_b, house_b)] = tokio::task::spawn_blocking(|| {
        crate::geocoding::address_pair(MAP, 13, 1_500.0, 6_000.0, |_| true)
    })
    .await
    .unwrap();
    eprintln!("typing {text_a:?} and {text_b:?}");
    let (hit_a, hit_b) = (
        first_hit(addr, &text_a).await,
        first_hit(addr, &text_b).await,
    );
    let house = |p: (f64, f64)| LatLon::new(p.0, p.1);
    for (hit, h) in [(&hit_a, house_a), (&hit_b, house_b)] {
        let off = LatLon::new(hit.0, hit.1).haversine_m(house(h));
        assert!(
            off < 50.0,
            "/search puts {} {off:.0} m from the house",
            hit.2
        );
    }

    let (s, driver, _profile) = browser().await;
    s.post("url", json!({"url": format!("http://{addr}/")}))
        .await;
    s.wait_for(
        "the page to start",
        "return window.meridian && window.meridian.ready",
        json!([]),
    )
    .await;

    // Start: typed, then the first suggestion clicked once the list shows.
    s.type_into("#from-input", &text_a).await;
    let shown = s
        .wait_for(
            "suggestions for the start",
            "const l = [...document.querySelectorAll('#from-results li[role=option]')];
             return l.length ? l.map(li => li.textContent) : null;",
            json!([]),
        )
        .await;
    assert_eq!(
        shown[0],
        hit_a.2.as_str(),
        "first suggestion is /search's first hit"
    );
    let first = s.element("#from-results li[role=option]").await;
    s.post(&format!("element/{first}/click"), json!({})).await;
    // Destination: typed and Enter at once (before the debounced search ran).
    s.type_into("#to-input", &format!("{text_b}\u{E007}")).await;

    let (distance, summary, points, steps) = shown_route(&s).await;
    let picked = s.js("return window.meridian.state", json!([])).await;
    let coord = |p: &Value| LatLon::from_lon_lat([p[0].as_f64().unwrap(), p[1].as_f64().unwrap()]);
    let (from, to) = (coord(&picked["from"]), coord(&picked["to"]));
    for (end, p, hit) in [("start", from, &hit_a), ("destination", to, &hit_b)] {
        let off = p.haversine_m(LatLon::new(hit.0, hit.1));
        assert!(
            off < 1.0,
            "the {end} marker is {off:.1} m from /search's answer"
        );
    }
    let inputs = s
        .js(
            "return [document.getElementById('from-input').value, document.getElementById('to-input').value]",
            json!([]),
        )
        .await;
    assert_eq!(
        inputs,
        json!([hit_a.2, hit_b.2]),
        "the boxes show the picked addresses"
    );
    let (url, api) = api_route(addr, from, to).await;
    assert_eq!(api["code"], "Ok", "{url}: {api}");
    let api_distance = api["routes"][0]["distance"].as_f64().unwrap();
    assert_eq!(distance, api_distance, "page and API disagree for {url}");
    assert!(summary.contains("min"), "no ETA in {summary:?}");
    let api_steps = api["routes"][0]["legs"][0]["steps"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(steps as usize, api_steps);
    assert!(points >= 2);
    // The drawn line runs from one house to the other.
    let line = s
        .js(
            "const c = window.meridian.state.route.geometry.coordinates; return [c[0], c[c.length - 1]];",
            json!([]),
        )
        .await;
    for (i, h) in [(0, house_a), (1, house_b)] {
        let off = coord(&line[i]).haversine_m(house(h));
        eprintln!("route end {i}: {off:.1} m from the typed address");
        assert!(
            off < 50.0,
            "route end {i} is {off:.0} m from the typed address"
        );
    }

    s.wait_for(
        "every image on screen to finish loading",
        "const imgs = [...document.querySelectorAll('#tiles img')];
         return imgs.length > 0 && imgs.every(i => i.complete);",
        json!([]),
    )
    .await;
    let shot = s
        .cmd(reqwest::Method::GET, "screenshot", None)
        .await
        .as_str()
        .unwrap()
        .to_string();
    let png = base64_decode(&shot);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("map_page_addresses.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("map page screenshot: {}", path.display());
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000);

    // The map shows street names: with the page's own text and drawings over the map hidden,
    // the map area holds pixels as dark as label ink (no road colour is that dark).
    let map_left = s
        .js(
            "for (const id of ['controls', 'status', 'scale', 'attribution', 'overlay'])
               document.getElementById(id).style.visibility = 'hidden';
             return document.getElementById('map').getBoundingClientRect().left;",
            json!([]),
        )
        .await
        .as_f64()
        .unwrap();
    let bare = s
        .cmd(reqwest::Method::GET, "screenshot", None)
        .await
        .as_str()
        .unwrap()
        .to_string();
    s.js(
        "for (const id of ['controls', 'status', 'scale', 'attribution', 'overlay'])
           document.getElementById(id).style.visibility = '';",
        json!([]),
    )
    .await;
    let pixmap = tiny_skia::Pixmap::decode_png(&base64_decode(&bare)).unwrap();
    let w = pixmap.width();
    let ink = pixmap
        .pixels()
        .iter()
        .enumerate()
        .filter(|(i, px)| {
            (*i as u32 % w) as f64 > map_left + 2.0
                && px.red() < 0x60
                && px.green() < 0x60
                && px.blue() < 0x60
        })
        .count();
    eprintln!("map page screenshot: {ink} label-ink pixels over the map");
    // Scaled down to fit, the labels are small: ~100 such pixels here; none without labels.
    assert!(ink > 40, "no street names on the map ({ink} dark pixels)");

    // Clicking the map still works: with both ends set, a click starts over from there.
    let at = s
        .js(
            "return window.meridian.project(...arguments)",
            json!([from.lon, from.lat]),
        )
        .await;
    s.click(
        at["x"].as_f64().unwrap().round() as i64,
        at["y"].as_f64().unwrap().round() as i64,
    )
    .await;
    let after = s
        .js(
            "return [window.meridian.state.from, window.meridian.state.to, document.getElementById('to-input').value]",
            json!([]),
        )
        .await;
    assert!(
        after[0].is_array() && after[1].is_null() && after[2] == "",
        "{after}"
    );
    drop(s);
    drop(driver);
}

/// Standard base64 (the screenshot's encoding); avoids a dependency for one call.
pub fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .expect("base64 character") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// With a foot graph the page offers Drive and Walk: a link with `mode=foot` routes on foot
/// (the page shows `/route/v1/foot`'s answer), and picking Drive routes the same ends again
/// by car (the page then shows `/route/v1/driving`'s). Without a foot graph the choice is hidden.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walks_or_drives_as_picked_in_chromium() {
    if !tool_available(
        "walks_or_drives_as_picked_in_chromium",
        &[CHROMIUM, CHROMEDRIVER],
    ) {
        return;
    }
    use meridian::server::{serve_on, Limits, ServerOptions};
    let foot = std::sync::Arc::new(meridian::route::Router::new(std::sync::Arc::new(
        meridian::graph::GraphStore::open(crate::common::foot_graph_dir(MAP)).unwrap(),
    )));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = ServerOptions::from(Limits::default())
        .with_tiles(crate::common::tiles_dir(MAP))
        .with_foot(foot);
    tokio::spawn(serve_on(router(MAP), listener, options, None));
    let [from, to] = pick_endpoints(addr).await;
    let api = |profile: &'static str| async move {
        let url = format!(
            "http://{addr}/route/v1/{profile}/{:.6},{:.6};{:.6},{:.6}?overview=full&geometries=geojson&steps=true",
            from.lon, from.lat, to.lon, to.lat
        );
        let body: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        assert_eq!(body["code"], "Ok", "{profile}: {body}");
        body["routes"][0]["distance"].as_f64().unwrap()
    };
    let (walk, drive) = (api("foot").await, api("driving").await);
    assert!(
        (walk - drive).abs() > 1.0,
        "the two graphs give the same route"
    );

    let (s, driver, _profile) = browser().await;
    s.post(
        "url",
        json!({"url": format!(
            "http://{addr}/?from={:.6},{:.6}&to={:.6},{:.6}&mode=foot",
            from.lon, from.lat, to.lon, to.lat
        )}),
    )
    .await;
    let (shown, _, _, _) = shown_route(&s).await;
    assert_eq!(shown, walk, "the page walks");
    let visible = s
        .js("return !document.getElementById('mode').hidden && document.querySelector('#mode input[value=foot]').checked;", json!([]))
        .await;
    assert_eq!(visible, json!(true));
    let drive_radio = s.element("#mode input[value=driving]").await;
    s.post(&format!("element/{drive_radio}/click"), json!({}))
        .await;
    let driven = s
        .wait_for(
            "the driving route",
            "const d = Number(document.getElementById('summary').dataset.distance);
             return window.meridian.state.request.includes('/driving/') && d !== arguments[0] ? d : null;",
            json!([walk]),
        )
        .await;
    assert_eq!(driven.as_f64().unwrap(), drive, "the page drives");
    drop(s);
    drop(driver);
}
