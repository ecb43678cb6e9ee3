//! Map images over real HTTP: Meridian's `/tiles/` answers (headers, ETags, 304, HEAD, 404,
//! path traversal sent byte for byte over TCP), and a stock nginx serving the same directory
//! the way a CDN origin would, byte-identical to Meridian.

use crate::common::{free_port, serve_with_tiles, tiles_dir, tool_available};
use meridian::server::tile_files::{IMAGE_CACHE_CONTROL, INDEX_CACHE_CONTROL};
use meridian::tiles::image_path;
use meridian::tiles::index::TileIndex;
use reqwest::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MAP: &str = "small/liechtenstein-2015-07";

/// A few cells of every level: first, middle, last.
fn sample_cells(index: &TileIndex) -> Vec<String> {
    let mut cells = Vec::new();
    for level in &index.levels {
        let n = level.cells.len();
        assert!(n > 0, "level {} has no cells", level.precision);
        for i in [0, n / 2, n - 1] {
            cells.push(level.cells[i].clone());
        }
    }
    cells.dedup();
    cells
}

fn header(r: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    r.headers()
        .get(&name)
        .unwrap_or_else(|| panic!("{} has no {name} header", r.url()))
        .to_str()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_images_with_immutable_caching_and_etags() {
    let addr = serve_with_tiles(MAP).await;
    let dir = tiles_dir(MAP);
    let index = TileIndex::read(&dir).unwrap();
    let client = reqwest::Client::new();

    let r = client
        .get(format!("http://{addr}/tiles/index.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, CONTENT_TYPE), "application/json");
    assert_eq!(header(&r, CACHE_CONTROL), INDEX_CACHE_CONTROL);
    assert!(header(&r, ETAG).starts_with('"'));
    let body = r.bytes().await.unwrap();
    assert_eq!(body, std::fs::read(dir.join("index.json")).unwrap());

    for cell in sample_cells(&index) {
        let url = format!("http://{addr}/tiles/{}", image_path(&cell));
        let file = std::fs::read(dir.join(image_path(&cell))).unwrap();
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        assert_eq!(header(&r, CONTENT_TYPE), "image/png");
        assert_eq!(header(&r, CACHE_CONTROL), IMAGE_CACHE_CONTROL);
        let etag = header(&r, ETAG).to_string();
        assert!(
            etag.len() == 34 && etag.starts_with('"') && etag.ends_with('"'),
            "strong quoted ETag, got {etag}"
        );
        let body = r.bytes().await.unwrap();
        assert_eq!(body, file, "{url}: bytes differ from the file");

        // HEAD: same headers, no body.
        let r = client.head(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, ETAG), etag);
        assert_eq!(header(&r, CONTENT_LENGTH), file.len().to_string());
        assert!(r.bytes().await.unwrap().is_empty());

        // Revalidation: the tag itself, in a list, weak form, and `*` all match.
        for inm in [
            etag.clone(),
            format!("\"0000\", {etag}"),
            format!("W/{etag}"),
            "*".to_string(),
        ] {
            let r = client
                .get(&url)
                .header(IF_NONE_MATCH, &inm)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "If-None-Match: {inm}");
            assert_eq!(header(&r, ETAG), etag);
            assert_eq!(header(&r, CACHE_CONTROL), IMAGE_CACHE_CONTROL);
            assert!(r.bytes().await.unwrap().is_empty());
        }
        let r = client
            .get(&url)
            .header(IF_NONE_MATCH, "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap(), file);
    }

    // Unknown cells (valid names, no image) and malformed names: 404 in the API's shape.
    let known: std::collections::HashSet<&String> =
        index.levels.iter().flat_map(|l| &l.cells).collect();
    let absent = ["s0000", "zzzzzz", "7zzzz"]
        .into_iter()
        .find(|c| !known.contains(&c.to_string()))
        .unwrap();
    for path in [
        format!("/tiles/{}", image_path(absent)),
        "/tiles/5/u0mt.png".to_string(),
        "/tiles/7/u0mt2ab.png".to_string(),
        "/tiles/".to_string(),
        "/tiles".to_string(),
    ] {
        let r = client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "NotFound", "{path}: {body}");
        assert!(body["message"].is_string());
    }
}

/// Sends `target` exactly as written (no client-side normalisation) and returns status + body.
async fn raw_get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("server did not close the connection")
        .unwrap();
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{target}: no status line in {text:?}"));
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_path_traversal_sent_raw() {
    let addr = serve_with_tiles(MAP).await;
    let dir = tiles_dir(MAP);
    // A file beside the tiles directory that no request may reach.
    let secret_text = "meridian-secret-beside-the-tiles";
    let parent = dir.parent().unwrap();
    let secret = parent.join("secret.png");
    std::fs::write(&secret, secret_text).unwrap();
    std::fs::write(dir.join("5").join("secret.png"), secret_text).unwrap();

    let (status, _) = raw_get(addr, "/tiles/index.json").await;
    assert_eq!(status, 200, "a plain raw request must work");
    let dir_name = dir.file_name().unwrap().to_string_lossy();
    let absolute = secret.display().to_string();
    let targets = [
        "/tiles/../secret.png".to_string(),
        "/tiles/../../etc/passwd".to_string(),
        "/tiles/5/../../secret.png".to_string(),
        format!("/tiles/../{dir_name}/index.json"),
        "/tiles/5/..%2F..%2Fsecret.png".to_string(),
        "/tiles/5%2F..%2F..%2Fsecret.png".to_string(),
        "/tiles/%2e%2e/secret.png".to_string(),
        "/tiles/%2E%2E%2Fsecret.png".to_string(),
        "/tiles/5/secret.png".to_string(),
        "/tiles/6/..png".to_string(),
        "/tiles/5/%75%30%6d%74%32.png".to_string(),
        "/tiles//etc/passwd".to_string(),
        format!("/tiles/{absolute}"),
        format!("/tiles/5/{absolute}"),
        "/tiles/5\\..\\..\\secret.png".to_string(),
        "/tiles/./index.json".to_string(),
        "/tiles/index.json/".to_string(),
        "/tiles/5/u0mt2.png%00.json".to_string(),
        "/tiles/05/u0mt2.png".to_string(),
        "/tiles/+5/u0mt2.png".to_string(),
        "/../../../../etc/passwd".to_string(),
        "/%2e%2e/%2e%2e/etc/passwd".to_string(),
    ];
    for target in &targets {
        let (status, text) = raw_get(addr, target).await;
        assert!(
            status == 400 || status == 404,
            "{target}: answered {status}: {text}"
        );
        assert!(!text.contains(secret_text), "{target} leaked the file");
        assert!(!text.contains("root:"), "{target} leaked /etc/passwd");
    }
    std::fs::remove_file(dir.join("5").join("secret.png")).unwrap();
}

/// Kills and reaps a child process when dropped, so a failing test leaves nothing running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls until something accepts connections on `port`.
pub async fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early ({status})");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A minimal nginx configuration serving `tiles` under `/tiles/` like Meridian does. One
/// process (no master/worker split), so killing it leaves no orphaned worker behind.
fn nginx_conf(prefix: &Path, tiles: &Path, port: u16) -> String {
    let p = prefix.display();
    let t = tiles.display();
    format!(
        r#"daemon off;
master_process off;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {p}/body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    types {{ image/png png; application/json json; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        location = /tiles/index.json {{
            alias {t}/index.json;
            add_header Cache-Control "{INDEX_CACHE_CONTROL}";
        }}
        location /tiles/ {{
            alias {t}/;
            add_header Cache-Control "{IMAGE_CACHE_CONTROL}";
        }}
    }}
}}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_serves_the_same_bytes() {
    if !tool_available("nginx_serves_the_same_bytes", &["/usr/sbin/nginx"]) {
        return;
    }
    let addr = serve_with_tiles(MAP).await;
    let dir = tiles_dir(MAP);
    let index = TileIndex::read(&dir).unwrap();
    let prefix = crate::common::scratch_dir("nginx");
    let port = free_port();
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(&prefix, &dir, port)).unwrap();
    let child = Command::new("/usr/sbin/nginx")
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(&prefix)
        .arg("-e")
        .arg(prefix.join("error.log"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start nginx");
    let mut nginx = KillOnDrop(child);
    wait_for_port(port, &mut nginx.0, "nginx").await;
    let client = reqwest::Client::new();

    let mut paths = vec!["index.json".to_string()];
    paths.extend(sample_cells(&index).iter().map(|c| image_path(c)));
    for path in &paths {
        let file = std::fs::read(dir.join(path)).unwrap();
        let from_nginx = client
            .get(format!("http://127.0.0.1:{port}/tiles/{path}"))
            .send()
            .await
            .unwrap();
        let from_meridian = client
            .get(format!("http://{addr}/tiles/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(from_nginx.status(), StatusCode::OK, "nginx /tiles/{path}");
        assert_eq!(from_meridian.status(), StatusCode::OK);
        for h in [CONTENT_TYPE, CACHE_CONTROL] {
            assert_eq!(
                header(&from_nginx, h.clone()),
                header(&from_meridian, h.clone()),
                "{h} of /tiles/{path}"
            );
        }
        let etag = header(&from_nginx, ETAG).to_string();
        assert!(!etag.starts_with("W/"), "nginx gives a strong ETag");
        let a = from_nginx.bytes().await.unwrap();
        let b = from_meridian.bytes().await.unwrap();
        assert_eq!(a, file, "nginx bytes of {path}");
        assert_eq!(b, file, "meridian bytes of {path}");

        let revalidated = client
            .get(format!("http://127.0.0.1:{port}/tiles/{path}"))
            .header(IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED, "nginx 304");
        assert_eq!(header(&revalidated, ETAG), etag);
    }

    // Traversal is refused by nginx as well: the directory is safe on either server.
    for target in ["/tiles/../secret.png", "/tiles/..%2Fsecret.png"] {
        let (status, _) = raw_get(SocketAddr::from(([127, 0, 0, 1], port)), target).await;
        assert!(
            status == 400 || status == 404,
            "nginx {target}: answered {status}"
        );
    }
    drop(nginx);
}
