//! Map image benchmark on Porto: render time (images/s, bytes per precision), then tile serving
//! throughput of `meridian serve --tiles` next to a stock nginx on the same directory, both loaded
//! by wrk with a script that walks every street-level image. Prints a Markdown report for
//! `bench/RESULTS.md`.
//!
//! Run: `cargo bench --no-default-features --bench tiles` (needs `nginx` and `wrk` from Debian;
//! env: `MERIDIAN_SHARED` = the shared folder, default `../shared`; `SECONDS` per wrk run,
//! default 10; `CONNECTIONS`, default 32).

use meridian::graph::build::{import, BuildOptions};
use meridian::graph::GraphStore;
use meridian::tiles::index::TileIndex;
use meridian::tiles::render::{render, RenderOptions};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child when the benchmark ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: a killed nginx master would leave its workers running.
        let terminated = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !terminated {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

fn wait_for_http(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on port {port}");
}

fn start_nginx(tiles: &Path, work: &Path, port: u16) -> Guard {
    std::fs::create_dir_all(work.join("logs")).unwrap();
    let conf = format!(
        "daemon off;\nworker_processes 2;\npid {w}/nginx.pid;\nerror_log {w}/logs/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  types {{ image/png png; application/json json; }}\n\
         client_body_temp_path {w}/body; proxy_temp_path {w}/proxy; fastcgi_temp_path {w}/fcgi;\n\
         uwsgi_temp_path {w}/uwsgi; scgi_temp_path {w}/scgi;\n\
         server {{\n    listen 127.0.0.1:{port};\n    root {t};\n    location /tiles/ {{\n\
         alias {t}/;\n      add_header Cache-Control \"public, max-age=31536000, immutable\";\n    }}\n  }}\n}}\n",
        w = work.display(),
        t = tiles.display(),
    );
    let conf_path = work.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&conf_path)
        .arg("-p")
        .arg(work)
        .stdout(Stdio::null())
        .spawn()
        .expect("nginx (apt-get install nginx-light)");
    wait_for_http(port);
    Guard(child)
}

fn start_meridian(graph: &Path, tiles: &Path, port: u16) -> Guard {
    let child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["serve", "--graph"])
        .arg(graph)
        .arg("--tiles")
        .arg(tiles)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .spawn()
        .expect("meridian binary");
    wait_for_http(port);
    Guard(child)
}

struct WrkResult {
    requests_per_s: f64,
    mb_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
}

/// Parses a wrk latency figure such as `812.00us`, `1.20ms` or `2.01s` into milliseconds.
fn parse_ms(text: &str) -> f64 {
    let (num, unit) = text.split_at(text.find(|c: char| c.is_alphabetic()).unwrap_or(text.len()));
    let v: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => v / 1000.0,
        "ms" => v,
        "s" => v * 1000.0,
        _ => f64::NAN,
    }
}

fn run_wrk(url: &str, script: &Path, seconds: u64, connections: u64) -> WrkResult {
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(url)
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
    };
    let mb_per_s = field("Transfer/sec:")
        .map(|t| {
            let (num, unit) = t.split_at(t.len() - 2);
            let v: f64 = num.parse().unwrap_or(f64::NAN);
            match unit {
                "GB" => v * 1024.0,
                "MB" => v,
                "KB" => v / 1024.0,
                _ => f64::NAN,
            }
        })
        .unwrap_or(f64::NAN);
    WrkResult {
        requests_per_s: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN),
        mb_per_s,
        p50_ms: field("50%").map(parse_ms).unwrap_or(f64::NAN),
        p99_ms: field("99%").map(parse_ms).unwrap_or(f64::NAN),
        non_2xx: text
            .lines()
            .find(|l| l.contains("Non-2xx or 3xx responses:"))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0),
    }
}

/// A wrk script that requests every image of `cells` in turn (each thread from its own offset).
fn write_wrk_script(path: &Path, cells: &[String], revalidate: bool) {
    let list: Vec<String> = cells
        .iter()
        .map(|c| format!("\"/tiles/{}\"", meridian::tiles::image_path(c)))
        .collect();
    let header = if revalidate {
        // Etags differ between servers, so `If-None-Match: *` asks "do I still have it" of both.
        "wrk.headers[\"If-None-Match\"] = \"*\"\n"
    } else {
        ""
    };
    let script = format!(
        "{header}paths = {{{}}}\nlocal i = 0\nsetup = function(thread) thread:set(\"offset\", i * 997) i = i + 1 end\n\
         init = function() n = tonumber(offset) or 0 end\n\
         request = function() n = n + 1 return wrk.format(nil, paths[(n % #paths) + 1]) end\n",
        list.join(",")
    );
    std::fs::write(path, script).unwrap();
}

fn main() {
    let shared = PathBuf::from(std::env::var("MERIDIAN_SHARED").unwrap_or("../shared".into()));
    let pbf = shared.join("data/osm/medium/porto-2015-06.osm.pbf");
    let work = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/out/tiles");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let graph = work.join("graph");
    import(&BuildOptions::new(&pbf, &graph)).expect("import Porto");
    let store = GraphStore::open(&graph).unwrap();

    let tiles = work.join("tiles");
    let stats = render(&store, &RenderOptions::new(&tiles)).expect("render");
    let secs = stats.elapsed.as_secs_f64();
    println!("## Map images (Porto, {} roads)\n", stats.roads);
    println!("| precision | images | MB | mean KB/image |\n|---|---|---|---|");
    for l in &stats.levels {
        println!(
            "| {} | {} | {:.1} | {:.1} |",
            l.precision,
            l.images,
            l.bytes as f64 / 1e6,
            l.bytes as f64 / 1e3 / l.images.max(1) as f64
        );
    }
    println!(
        "\nRender: {} images in {:.1} s = **{:.0} images/s** on {} threads.\n",
        stats.images(),
        secs,
        stats.images() as f64 / secs,
        RenderOptions::new(&tiles).threads
    );

    let index = TileIndex::read(&tiles).unwrap();
    let cells = &index.level(6).expect("precision 6 level").cells;
    let full = work.join("all.lua");
    let revalidate = work.join("revalidate.lua");
    write_wrk_script(&full, cells, false);
    write_wrk_script(&revalidate, cells, true);

    let (seconds, connections) = (env_or("SECONDS", 10), env_or("CONNECTIONS", 32));
    let (mport, nport) = (free_port(), free_port());
    let meridian = start_meridian(&graph, &tiles, mport);
    let nginx = start_nginx(&tiles, &work.join("nginx"), nport);
    println!(
        "## Serving the {} street-level images (wrk -t2 -c{connections} -d{seconds}s, same machine)\n",
        cells.len()
    );
    println!("| server | requests | req/s | MB/s | p50 ms | p99 ms | non-2xx/3xx |\n|---|---|---|---|---|---|---|");
    for (name, port) in [("meridian serve", mport), ("nginx 1.22", nport)] {
        for (kind, script) in [
            ("200 (full image)", &full),
            ("304 (If-None-Match)", &revalidate),
        ] {
            let r = run_wrk(
                &format!("http://127.0.0.1:{port}"),
                script,
                seconds,
                connections,
            );
            println!(
                "| {name} | {kind} | {:.0} | {:.1} | {:.2} | {:.2} | {} |",
                r.requests_per_s, r.mb_per_s, r.p50_ms, r.p99_ms, r.non_2xx
            );
        }
    }
    drop(meridian);
    drop(nginx);
}
