//! Unmodified OSRM clients against a real `meridian serve` process: routingpy's `OSRM` client
//! (PyPI, the version `.ci/run` installs) calls `.directions()` and `.matrix()`, and its
//! results must be the server's own `/route` and `/table` answers.

use crate::common::{free_port, graph_dir, junctions, router};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The routingpy version `.ci/run` installs.
const ROUTINGPY: &str = "1.3.0";
const NAME: &str = "small/liechtenstein-2015-07";

/// The Python that has routingpy: `MERIDIAN_PYTHON` (set by `.ci/run` to its venv) or
/// `python3`. `None` (test skipped) when missing, unless `MERIDIAN_REQUIRE_TOOLS=1`.
fn python_with_routingpy() -> Option<String> {
    let python = std::env::var("MERIDIAN_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import routingpy"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    if std::env::var("MERIDIAN_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!("routingpy is not importable by {python} and MERIDIAN_REQUIRE_TOOLS=1");
    }
    eprintln!("SKIPPED routingpy test: {python} cannot import routingpy (pip install routingpy=={ROUTINGPY})");
    None
}

/// Kills the server when the test ends, also on failure.
struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn get(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routingpy_directions_and_matrix_against_meridian_serve() {
    let Some(python) = python_with_routingpy() else {
        return;
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_meridian"))
            .args(["serve", "--graph"])
            .arg(graph_dir(NAME))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .spawn()
            .expect("start meridian serve"),
    );
    let started = Instant::now();
    while reqwest::get(format!("{base}/health")).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let nodes = junctions(&router(NAME));
    let locations: Vec<[f64; 2]> = (0..5)
        .map(|i| nodes[(i * 3571 + 29) % nodes.len()])
        .map(|p| [(p.lon * 1e6).round() / 1e6, (p.lat * 1e6).round() / 1e6])
        .collect();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/routingpy_osrm.py"
    );
    let out = tokio::task::spawn_blocking({
        let (python, base) = (python.clone(), base.clone());
        let locations = serde_json::to_string(&locations).unwrap();
        move || {
            Command::new(python)
                .args([script, &base, &locations])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "routingpy failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_str(&stdout).unwrap();
    eprintln!("routingpy {}: {}", got["version"], got["directions"]);
    assert_eq!(got["version"], ROUTINGPY);

    // directions() is the server's /route.
    let coords: Vec<String> = locations
        .iter()
        .map(|l| format!("{},{}", l[0], l[1]))
        .collect();
    let route = get(&format!(
        "{base}/route/v1/driving/{};{}?overview=full&geometries=geojson&steps=true",
        coords[0], coords[1]
    ))
    .await;
    let r = &route["routes"][0];
    let d = &got["directions"];
    // routingpy keeps whole metres and seconds (it truncates).
    assert_eq!(
        d["distance"].as_f64().unwrap(),
        r["distance"].as_f64().unwrap().trunc()
    );
    assert_eq!(
        d["duration"].as_f64().unwrap(),
        r["duration"].as_f64().unwrap().trunc()
    );
    assert_eq!(
        d["points"].as_u64().unwrap() as usize,
        r["geometry"]["coordinates"].as_array().unwrap().len()
    );
    assert!(d["steps"].as_u64().unwrap() >= 2);

    // matrix() is the server's /table with both annotations.
    let table = get(&format!(
        "{base}/table/v1/driving/{}?annotations=duration,distance",
        coords.join(";")
    ))
    .await;
    let m = &got["matrix"];
    assert_eq!(m["durations"], table["durations"]);
    assert_eq!(m["distances"], table["distances"]);
    let rows = m["durations"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r.as_array().unwrap().len() == 5));
    // Cell [0][1] is the directions route.
    let cell = m["durations"][0][1].as_f64().unwrap();
    assert!(
        (cell - r["duration"].as_f64().unwrap()).abs() <= 0.1 + 1e-9,
        "{cell} vs {}",
        r["duration"]
    );
}
